import { describe, expect, it } from 'vitest';
import {
  EXTENSION_MANIFEST_FILE,
  extensionOperationFiles,
  extensionVersionProblem,
  parseVersionRange,
  planExtensionCopy,
  readExtensionFiles,
  readExtensionManifest,
  versionInRange,
  VERSION_RANGE_MAX_LENGTH,
  type ExtensionManifest,
} from './extension-manifest.js';

function fits(version: string, range: string): boolean {
  const r = parseVersionRange(range);
  if (!r.ok) throw new Error(r.message);
  return versionInRange(version, r.range);
}

const OP = `from utils.helpers import double


class Double():
    def __init__(self, times=2):
        self.times = times

    def execute(self, x):
        y = double(x) * self.times
        return y
`;

const manifest = (over: Partial<ExtensionManifest> = {}): ExtensionManifest => ({
  name: 'tiny',
  version: '1.0.0',
  deepforge: '>=0.1.0 <1.0.0',
  provides: {
    operations: { Double: { utils: ['helpers'] } },
    utils: ['helpers'],
    examples: ['demo'],
  },
  ...over,
});

function files(m: unknown = manifest(), extra: Record<string, string | undefined> = {}): Map<string, string> {
  const all: Record<string, string | undefined> = {
    [EXTENSION_MANIFEST_FILE]: typeof m === 'string' ? m : JSON.stringify(m),
    'operations/Double.py': OP,
    'utils/helpers.py': 'def double(x):\n    return 2 * x\n',
    'examples/demo/deepforge.json': JSON.stringify({ name: 'demo', formatVersion: 1 }),
    'examples/demo/operations/Double.py': OP,
    'examples/demo/utils/helpers.py': 'def double(x):\n    return 2 * x\n',
    ...extra,
  };
  return new Map(Object.entries(all).filter((e): e is [string, string] => e[1] !== undefined));
}

const messages = (r: ReturnType<typeof readExtensionFiles>): string[] =>
  r.diagnostics.filter((d) => d.severity === 'error').map((d) => d.message);

describe('version ranges', () => {
  it('reads the npm forms an extension uses', () => {
    expect(fits('0.1.0', '>=0.1.0 <1.0.0')).toBe(true);
    expect(fits('1.0.0', '>=0.1.0 <1.0.0')).toBe(false);
    expect(fits('0.5.2', '^0.5.0')).toBe(true);
    expect(fits('0.6.0', '^0.5.0')).toBe(false);
    expect(fits('1.9.0', '^1.2.3')).toBe(true);
    expect(fits('2.0.0', '^1.2.3')).toBe(false);
    expect(fits('0.0.4', '^0.0.3')).toBe(false);
    expect(fits('1.2.9', '~1.2.3')).toBe(true);
    expect(fits('1.3.0', '~1.2.3')).toBe(false);
    expect(fits('0.1.7', '0.1.x')).toBe(true);
    expect(fits('0.2.0', '0.1')).toBe(false);
    expect(fits('3.0.0', '*')).toBe(true);
    expect(fits('2.5.0', '^1.0.0 || ^2.0.0')).toBe(true);
    expect(fits('1.5.0', '1.0.0 - 2.0.0')).toBe(true);
    expect(fits('2.0.1', '1.0.0 - 2.0.0')).toBe(false);
    expect(fits('0.1.0', '>= 0.1.0')).toBe(true);
    expect(fits('0.1.0-rc.1', '^0.1.0')).toBe(true);
  });

  it('refuses what is not a range, naming the term, within bounds', () => {
    expect(parseVersionRange('')).toMatchObject({ ok: false, message: expect.stringContaining('empty') });
    expect(parseVersionRange('>=banana')).toMatchObject({
      ok: false,
      message: expect.stringContaining('banana'),
    });
    expect(parseVersionRange('^1 ||')).toMatchObject({
      ok: false,
      message: expect.stringContaining('empty'),
    });
    expect(parseVersionRange('1'.repeat(VERSION_RANGE_MAX_LENGTH + 1))).toMatchObject({ ok: false });
    expect(parseVersionRange(Array(40).fill('>=1').join(' '))).toMatchObject({
      ok: false,
      message: expect.stringContaining('more than 32'),
    });
  });

  it('names both versions when an extension does not fit', () => {
    expect(extensionVersionProblem(manifest(), '0.1.0')).toBeNull();
    expect(extensionVersionProblem(manifest({ deepforge: '>=2.0.0' }), '0.1.0')).toBe(
      'tiny 1.0.0 is for DeepForge >=2.0.0, and this is DeepForge 0.1.0',
    );
  });
});

describe('readExtensionManifest', () => {
  it('says the manifest is missing', () => {
    const r = readExtensionManifest(undefined);
    expect(r.ok).toBe(false);
    if (!r.ok) expect(r.diagnostics[0]?.message).toMatch(/deepforge-extension\.json: missing/);
  });

  it('names the field that is wrong', () => {
    const bad = (m: unknown): string[] => {
      const r = readExtensionManifest(JSON.stringify(m));
      return r.ok ? [] : r.diagnostics.map((d) => d.message);
    };
    expect(bad({ ...manifest(), name: 'Tiny Ext' })[0]).toMatch(/name: must be lowercase/);
    expect(bad({ ...manifest(), version: 'one' })[0]).toMatch(/version: must be a version like 1\.0\.0/);
    expect(bad({ ...manifest(), deepforge: 'latest' })[0]).toMatch(/deepforge: not a version range/);
    const noRange: Record<string, unknown> = { ...manifest() };
    delete noRange.deepforge;
    expect(bad(noRange)[0]).toMatch(/deepforge:/);
    expect(bad({ ...manifest(), provides: { operations: { 'not-python': {} } } })[0]).toMatch(
      /provides\.operations/,
    );
    expect(bad({ ...manifest(), extra: 1 })[0]).toMatch(/extra/);
    const r = readExtensionManifest('{"name": "tiny",');
    expect(r.ok ? '' : r.diagnostics[0]?.message).toMatch(/deepforge-extension\.json: invalid JSON/);
  });
});

describe('readExtensionFiles', () => {
  it('reads the libraries and the examples', () => {
    const r = readExtensionFiles(files());
    expect(messages(r)).toEqual([]);
    if (!r.ok) throw new Error('not read');
    expect(Object.keys(r.extension.library.operations)).toEqual(['Double']);
    expect(r.extension.library.utils).toHaveProperty('helpers');
    expect(Object.keys(r.extension.examples)).toEqual(['demo']);
  });

  it('names a provided file that is missing', () => {
    const r = readExtensionFiles(files(manifest(), { 'utils/helpers.py': undefined }));
    expect(r.ok).toBe(false);
    expect(messages(r)).toContain(
      'utils/helpers.py: missing: the manifest provides the utils module helpers',
    );
  });

  it('names an operation whose interface does not parse', () => {
    const r = readExtensionFiles(files(manifest(), { 'operations/Double.py': 'class Double(:\n' }));
    expect(r.ok).toBe(false);
    expect(messages(r).join('\n')).toMatch(/operations\/Double\.py: .*line 1/);
  });

  it('leaves operation code unparsed when asked (an installed extension, read again by a server)', () => {
    const broken = files(manifest(), { 'operations/Double.py': 'class Double(:\n' });
    expect(readExtensionFiles(broken, { readOperations: false }).ok).toBe(true);
    const missing = files(manifest(), { 'utils/helpers.py': undefined });
    expect(readExtensionFiles(missing, { readOperations: false }).ok).toBe(false);
  });

  it('refuses an operation needing a module the manifest does not provide', () => {
    const m = manifest({
      provides: { operations: { Double: { utils: ['helpers', 'other'] } }, utils: ['helpers'] },
    });
    const r = readExtensionFiles(files(m));
    expect(messages(r)).toContain(
      'deepforge-extension.json: provides.operations.Double needs the utils other, which provides does not list',
    );
  });

  it('names a broken example project by its folder', () => {
    const r = readExtensionFiles(files(manifest(), { 'examples/demo/deepforge.json': '{' }));
    expect(r.ok).toBe(false);
    expect(messages(r)[0]).toMatch(/^examples\/demo\/deepforge\.json: invalid JSON/);
    const gone = readExtensionFiles(new Map([...files()].filter(([path]) => !path.startsWith('examples/'))));
    expect(messages(gone)).toEqual(['examples/demo/: missing: the manifest provides this example project']);
  });

  it("lists an operation's files, and none for a name it does not provide", () => {
    expect(extensionOperationFiles(manifest(), 'Double')).toEqual([
      'operations/Double.py',
      'utils/helpers.py',
    ]);
    expect(extensionOperationFiles(manifest(), 'constructor')).toEqual([]);
  });
});

describe('planExtensionCopy', () => {
  const incoming = new Map([
    ['operations/Double.py', OP],
    ['utils/helpers.py', 'def double(x):\n    return 2 * x\n'],
  ]);

  it('writes what the project lacks and leaves identical files alone', () => {
    const plan = planExtensionCopy(
      'Double',
      incoming,
      new Map([['utils/helpers.py', 'def double(x):\r\n    return 2 * x\r\n']]),
    );
    expect(plan).toEqual({
      ok: true,
      write: new Map([['operations/Double.py', OP]]),
      unchanged: ['utils/helpers.py'],
    });
  });

  it('refuses an operation name the project has, naming it', () => {
    const plan = planExtensionCopy(
      'Double',
      incoming,
      new Map([['operations/Double.py', 'class Double(): pass\n']]),
    );
    expect(plan).toMatchObject({
      ok: false,
      message: expect.stringContaining('the project has an operation named Double already'),
    });
  });

  it('refuses a util of the same name with other code, naming the file', () => {
    const plan = planExtensionCopy('Double', incoming, new Map([['utils/helpers.py', 'X = 1\n']]));
    expect(plan).toMatchObject({ ok: false, clashes: ['utils/helpers.py'] });
    if (!plan.ok) expect(plan.message).toMatch(/the project has other utils\/helpers\.py/);
  });
});
