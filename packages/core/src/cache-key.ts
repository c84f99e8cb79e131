import type { JsonValue } from './model.js';

/**
 * What a job's cache key is made of. The engine hashes the material (sha256); two jobs with the same material
 * compute the same outputs, so a finished job's outputs can stand in for a new run.
 */

/** Bumped when the material's layout changes, so that old cache entries stop matching. */
export const CACHE_KEY_VERSION = 1;

function fail(path: string, what: string): never {
  throw new TypeError(`canonicalJson: ${what} at ${path || 'the top level'} is not JSON`);
}

function write(value: unknown, path: string, out: string[]): void {
  if (value === null) out.push('null');
  else if (typeof value === 'string' || typeof value === 'boolean') out.push(JSON.stringify(value));
  else if (typeof value === 'number') {
    if (!Number.isFinite(value)) fail(path, String(value));
    out.push(JSON.stringify(value));
  } else if (Array.isArray(value)) {
    out.push('[');
    value.forEach((v, i) => {
      if (i > 0) out.push(',');
      write(v, `${path}[${i}]`, out);
    });
    out.push(']');
  } else if (typeof value === 'object') {
    const proto = Object.getPrototypeOf(value) as unknown;
    if (proto !== Object.prototype && proto !== null) fail(path, 'an object that is not a plain object');
    const keys = Object.keys(value)
      .filter((k) => (value as Record<string, unknown>)[k] !== undefined)
      .sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
    out.push('{');
    keys.forEach((k, i) => {
      if (i > 0) out.push(',');
      out.push(JSON.stringify(k), ':');
      write((value as Record<string, unknown>)[k], `${path}.${k}`, out);
    });
    out.push('}');
  } else fail(path, typeof value);
}

/**
 * JSON with object keys sorted (by UTF-16 code unit) and no whitespace: equal values give equal text whatever
 * order their keys were added in. Throws a TypeError for what JSON cannot hold (NaN, Infinity, functions, class
 * instances) instead of writing something two different values could share.
 */
export function canonicalJson(value: JsonValue): string {
  const out: string[] = [];
  write(value, '', out);
  return out.join('');
}

export interface CacheKeyParts {
  /** The operation's source file. */
  operationCode: string;
  /** Path in the code snapshot (`utils/x.py`, `serializers/y.py`) → source: what the operation may import. */
  supportCode: Record<string, string>;
  /** Every attribute value the job runs with, defaults included. */
  attributes: Record<string, JsonValue>;
  /** Input port → content hash of the data connected to it. */
  inputs: Record<string, string>;
  /** Reference name → content hash of the artifact it loads. */
  references: Record<string, string>;
  /** Version of the Python runtime (`deepforge` package) that runs the job. */
  runtimeVersion: string;
  /** The Python interpreter and its version, e.g. `/usr/bin/python3 3.11.2`. */
  interpreter: string;
  /**
   * A keyed digest of the secret values the job gets as environment variables (its project's secrets); absent
   * when it gets none. Keyed (by the server's secret key), so that the key stored with a job lets nobody test
   * guesses of a secret; present, so that a job run with other secret values is not another's cache hit.
   */
  secrets?: string;
}

function stringRecord(name: string, record: Record<string, string>): Record<string, string> {
  for (const [k, v] of Object.entries(record)) {
    if (typeof v !== 'string') throw new TypeError(`cacheKeyMaterial: ${name}.${k} must be a string`);
  }
  return record;
}

/** The text to hash for a job's cache key; any change to any part changes it, key order in records does not. */
export function cacheKeyMaterial(parts: CacheKeyParts): string {
  return canonicalJson({
    deepforgeCacheKey: CACHE_KEY_VERSION,
    operationCode: parts.operationCode,
    supportCode: stringRecord('supportCode', parts.supportCode),
    attributes: parts.attributes,
    inputs: stringRecord('inputs', parts.inputs),
    references: stringRecord('references', parts.references),
    runtimeVersion: parts.runtimeVersion,
    interpreter: parts.interpreter,
    // Only when there are secrets: the keys of jobs without any stay what they were.
    ...(parts.secrets !== undefined ? { secrets: parts.secrets } : {}),
  });
}
