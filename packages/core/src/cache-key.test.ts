import { describe, expect, it } from 'vitest';
import { cacheKeyMaterial, canonicalJson } from './cache-key.js';
import type { CacheKeyParts } from './cache-key.js';
import type { JsonValue } from './model.js';

describe('canonicalJson', () => {
  it('sorts keys at every depth and writes no whitespace', () => {
    expect(canonicalJson({ b: 1, a: { d: [3, { z: null, y: true }], c: 'x' } })).toBe(
      '{"a":{"c":"x","d":[3,{"y":true,"z":null}]},"b":1}',
    );
  });

  it('writes numbers and strings as JSON does', () => {
    expect(canonicalJson([1, 1.5, -0, 1e21, 1e-7, 0.1 + 0.2])).toBe(
      '[1,1.5,0,1e+21,1e-7,0.30000000000000004]',
    );
    expect(canonicalJson('quote " backslash \\ newline \n é 😀 \u2028')).toBe(
      JSON.stringify('quote " backslash \\ newline \n é 😀 \u2028'),
    );
  });

  it('does not depend on insertion order', () => {
    const a: Record<string, JsonValue> = {};
    const b: Record<string, JsonValue> = {};
    for (const k of ['x', 'B', 'a', '10', '9', 'é']) a[k] = k;
    for (const k of ['é', '9', '10', 'a', 'B', 'x']) b[k] = k;
    expect(canonicalJson(a)).toBe(canonicalJson(b));
    // Integer-like keys would come first in insertion order; sorting is by code unit for all keys.
    expect(canonicalJson(a)).toBe('{"10":"10","9":"9","B":"B","a":"a","x":"x","é":"é"}');
  });

  it('keeps a __proto__ key as data', () => {
    expect(canonicalJson(JSON.parse('{"__proto__": 1, "a": 2}') as JsonValue)).toBe('{"__proto__":1,"a":2}');
  });

  it('refuses what JSON cannot hold', () => {
    expect(() => canonicalJson(Number.NaN)).toThrow(TypeError);
    expect(() => canonicalJson({ a: [Number.POSITIVE_INFINITY] })).toThrow(
      'canonicalJson: Infinity at .a[0] is not JSON',
    );
    expect(() => canonicalJson({ d: new Date(0) } as unknown as JsonValue)).toThrow('not a plain object');
    expect(() => canonicalJson([undefined] as unknown as JsonValue)).toThrow('undefined at [0]');
    expect(() => canonicalJson((() => 1) as unknown as JsonValue)).toThrow(TypeError);
  });

  it('leaves out undefined object values, as JSON.stringify does', () => {
    expect(canonicalJson({ a: 1, b: undefined } as unknown as JsonValue)).toBe('{"a":1}');
  });
});

describe('cacheKeyMaterial', () => {
  const base: CacheKeyParts = {
    operationCode: 'class Op:\n    def execute(self, x):\n        return x\n',
    supportCode: { 'utils/a.py': 'A = 1\n', 'serializers/s.py': 'S = 2\n' },
    attributes: { epochs: 10, lr: 0.001, layers: [64, 64], opts: { momentum: 0.9 } },
    inputs: { x: `sha256:${'1'.repeat(64)}` },
    references: { model: `sha256:${'2'.repeat(64)}` },
    runtimeVersion: '0.1.0',
    interpreter: '/usr/bin/python3 3.11.2',
  };

  it('is stable and independent of record key order', () => {
    const reordered: CacheKeyParts = {
      interpreter: base.interpreter,
      runtimeVersion: base.runtimeVersion,
      references: { ...base.references },
      inputs: { ...base.inputs },
      attributes: { opts: { momentum: 0.9 }, layers: [64, 64], lr: 0.001, epochs: 10 },
      supportCode: { 'serializers/s.py': 'S = 2\n', 'utils/a.py': 'A = 1\n' },
      operationCode: base.operationCode,
    };
    expect(cacheKeyMaterial(reordered)).toBe(cacheKeyMaterial(base));
    expect(cacheKeyMaterial(base)).toMatch(/^\{"attributes":\{"epochs":10,/);
  });

  const changes: [string, Partial<CacheKeyParts>][] = [
    ['operation code', { operationCode: `${base.operationCode} ` }],
    ['operation code line endings', { operationCode: base.operationCode.replace(/\n/g, '\r\n') }],
    ['a util', { supportCode: { ...base.supportCode, 'utils/a.py': 'A = 2\n' } }],
    ['a new util', { supportCode: { ...base.supportCode, 'utils/b.py': '' } }],
    ['a util path', { supportCode: { 'utils/b.py': 'A = 1\n', 'serializers/s.py': 'S = 2\n' } }],
    ['an attribute value', { attributes: { ...base.attributes, epochs: 11 } }],
    ['an attribute type', { attributes: { ...base.attributes, epochs: '10' } }],
    ['a nested attribute', { attributes: { ...base.attributes, opts: { momentum: 0.95 } } }],
    ['list order', { attributes: { ...base.attributes, layers: [64, 32] } }],
    ['an extra attribute', { attributes: { ...base.attributes, seed: null } }],
    ['an input hash', { inputs: { x: `sha256:${'3'.repeat(64)}` } }],
    ['an input port', { inputs: { y: `sha256:${'1'.repeat(64)}` } }],
    ['a reference', { references: { model: `sha256:${'4'.repeat(64)}` } }],
    ['no reference', { references: {} }],
    ['the runtime version', { runtimeVersion: '0.1.1' }],
    ['the interpreter', { interpreter: '/usr/bin/python3 3.12.0' }],
    ['the secrets', { secrets: 'a'.repeat(64) }],
  ];

  it.each(changes)('changes when %s changes', (_what, change) => {
    expect(cacheKeyMaterial({ ...base, ...change })).not.toBe(cacheKeyMaterial(base));
  });

  it('holds secrets only when the job gets some: the keys of jobs without secrets stay what they were', () => {
    expect(cacheKeyMaterial(base)).not.toContain('secrets');
    expect(cacheKeyMaterial({ ...base, secrets: 'a'.repeat(64) })).not.toBe(
      cacheKeyMaterial({ ...base, secrets: 'b'.repeat(64) }),
    );
  });

  it('cannot be confused by moving text between parts', () => {
    const a = cacheKeyMaterial({ ...base, runtimeVersion: '1', interpreter: '2","x":"' });
    const b = cacheKeyMaterial({ ...base, runtimeVersion: '1","interpreter":"2', interpreter: '' });
    expect(a).not.toBe(b);
    const all = new Set(changes.map(([, c]) => cacheKeyMaterial({ ...base, ...c })));
    expect(all.size).toBe(changes.length);
  });

  it('refuses non-string hashes and code', () => {
    expect(() => cacheKeyMaterial({ ...base, inputs: { x: 1 as unknown as string } })).toThrow(
      'cacheKeyMaterial: inputs.x must be a string',
    );
  });
});
