import { randomBytes } from 'node:crypto';
import { mkdir, open, readFile, rename, rm } from 'node:fs/promises';
import { isIP } from 'node:net';
import { availableParallelism, homedir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
// Its own entry point: the settings are read before the rest of the program loads (`deepforge run`, docs/adr/0029).
import { SlurmJobOptionsSchema, type SlurmJobOptions } from '@deepforge/protocol/slurm-options';
import { SettingsError } from './errors.js';
import { withFileLock } from './file-lock.js';
import { isPostgresUrl, maskDatabaseUrl } from './store/database-url.js';

/** Environment as the engine reads it; tests pass their own instead of mutating `process.env`. */
export type Env = Readonly<Record<string, string | undefined>>;

export const DATA_DIR_ENV = 'DEEPFORGE_DATA_DIR';
export const CONFIG_FILE_NAME = 'config.json';

export type OnRestart = 'fail' | 'requeue';
export type StorageBackend = 'local' | 's3';
export type ComputeBackend = 'local' | 'slurm';

/** Every setting, by its dotted key (as `deepforge config <key>` names it). */
export interface SettingsValues {
  'blob.dir': string;
  /** Absent: the first usable of /usr/bin/python3, python3, python (see resolvePython). */
  python: string | undefined;
  'executions.concurrency': number;
  /** Seconds one operation may run; 0 = no limit. */
  'executions.timeout': number;
  'executions.onRestart': OnRestart;
  /** Fork jobs from a warm interpreter (python/deepforge/zygote.py) rather than start one per job. */
  'executions.warmWorker': boolean;
  'logs.maxBytes': number;
  /** The port `deepforge start` listens on. */
  'server.port': number;
  /** The address `deepforge start` listens on; anything but loopback needs accounts. */
  'server.host': string;
  /** The URL people reach the server at (behind a reverse proxy); its host name is allowed, https makes cookies Secure. */
  'server.publicUrl': string | undefined;
  /** Trust X-Forwarded-* from these proxies (`true`: any; addresses or CIDRs, comma-separated). */
  'server.trustProxy': boolean | string[];
  /** Accounts: every request needs a session or a token (ADR 0009). */
  'auth.enabled': boolean;
  /** Host names the web server answers to besides loopback names and IP addresses (DNS-rebinding guard). */
  'server.allowedHosts': string[];
  /** The largest artifact upload the web server takes, in bytes. */
  'server.uploadLimit': number;
  /** Folders whose files the web server may import as artifacts by path (real paths, symlinks resolved on use). */
  'artifacts.importRoots': string[];
  /** Absent: the embedded SQLite file in the data dir; `postgres://…`: that PostgreSQL database (ADR 0010). */
  'database.url': string | undefined;
  /** Where artifact contents live: `local` (blob.dir) or `s3` (the storage.s3.* bucket; ADR 0012). */
  'storage.backend': StorageBackend;
  'storage.s3.bucket': string | undefined;
  /** Key prefix inside the bucket, without leading or trailing slashes; '' for none. */
  'storage.s3.prefix': string;
  /** An S3-compatible server (MinIO…) instead of AWS: its base URL. */
  'storage.s3.endpoint': string | undefined;
  /** Absent: AWS_REGION / AWS_DEFAULT_REGION, then the profile's, then us-east-1. */
  'storage.s3.region': string | undefined;
  /** `http://endpoint/bucket/key` rather than `http://bucket.endpoint/key` (MinIO and most emulators need it). */
  'storage.s3.forcePathStyle': boolean;
  /** Where operations' environments (venvs built from their environment files) are kept (docs/adr/0017). */
  'environments.dir': string;
  /** The most bytes those environments take; least recently used ones beyond it are removed (not those in use). */
  'environments.maxBytes': number;
  /** Arguments added to every `pip install` of an environment: the package index, proxies, trusted hosts. */
  'environments.pipArgs': string[];
  /** Where jobs' inputs fetched from a storage without local files are kept (the read-through cache). */
  'worker.cache.dir': string;
  /** The most bytes that cache keeps; least recently used blobs beyond it are removed (not those in use). */
  'worker.cache.maxBytes': number;
  /** Seconds a remote worker's lease on a job lasts without a heartbeat (docs/adr/0015). */
  'workers.leaseTimeout': number;
  /** Where jobs run: `local` processes, or `slurm` batch jobs (docs/adr/0016). */
  'compute.backend': ComputeBackend;
  /** What every Slurm job gets unless its execution or node says otherwise (sbatch's options of the same names). */
  'compute.slurm.partition': string | undefined;
  'compute.slurm.account': string | undefined;
  'compute.slurm.time': string | undefined;
  'compute.slurm.gres': string | undefined;
}
export type SettingKey = keyof SettingsValues;

export type SettingSource = 'default' | 'config' | 'env' | 'override';

interface SettingDefinition<K extends SettingKey> {
  key: K;
  env: string;
  description: string;
  /** Human description of the accepted values, used in error messages. */
  allowed: string;
  /** Turns a value from the config file, an environment variable or the CLI into the setting's value. */
  parse(raw: unknown, ctx: { dataDir: string }): SettingsValues[K];
  defaultValue(ctx: { dataDir: string }): SettingsValues[K];
  /** For values holding a secret: what is shown instead, in `deepforge config` and in error messages. */
  mask?(raw: unknown): unknown;
}

type Definitions = { [K in SettingKey]: SettingDefinition<K> };

class BadValue extends Error {}

function parsePath(raw: unknown): string {
  if (typeof raw !== 'string' || raw.trim() === '') throw new BadValue('expected a non-empty path');
  return resolve(expandHome(raw.trim()));
}

function parseInteger(raw: unknown, min: number): number {
  const n = typeof raw === 'string' && raw.trim() !== '' ? Number(raw.trim()) : raw;
  if (typeof n !== 'number' || !Number.isInteger(n) || n < min)
    throw new BadValue(`expected an integer ≥ ${min}`);
  return n;
}

const SIZE_UNITS: Record<string, number> = {
  '': 1,
  b: 1,
  k: 1024,
  kb: 1000,
  kib: 1024,
  m: 1024 ** 2,
  mb: 1000 ** 2,
  mib: 1024 ** 2,
  g: 1024 ** 3,
  gb: 1000 ** 3,
  gib: 1024 ** 3,
};

/** Byte counts may be written with a unit (`64MiB`, `1GB`, `500k`) because nobody counts bytes by hand. */
export function parseByteSize(raw: unknown): number {
  if (typeof raw === 'number') return parseInteger(raw, 1);
  if (typeof raw !== 'string') throw new BadValue('expected a byte count such as 67108864, 64MiB or 1GB');
  const m = /^\s*(\d+(?:\.\d+)?)\s*([a-z]*)\s*$/i.exec(raw);
  const unit = m ? SIZE_UNITS[m[2]!.toLowerCase()] : undefined;
  if (!m || unit === undefined) throw new BadValue('expected a byte count such as 67108864, 64MiB or 1GB');
  const n = Math.floor(Number(m[1]) * unit);
  if (n < 1) throw new BadValue('expected at least 1 byte');
  return n;
}

const HOST_NAME = /^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)*$/;

/** Host names, or `.domain` for a domain and its subdomains; no wildcard for every name. */
function parseHostNames(raw: unknown): string[] {
  const items =
    typeof raw === 'string'
      ? raw.split(',')
      : Array.isArray(raw) && raw.every((x) => typeof x === 'string')
        ? (raw as string[])
        : undefined;
  if (items === undefined)
    throw new BadValue('expected host names separated by commas, or a JSON array of them');
  const names = items.map((s) => s.trim().toLowerCase()).filter((s) => s !== '');
  for (const n of names) {
    if (n === '*' || n === '.') throw new BadValue('a wildcard for every name would allow DNS rebinding');
    const bare = n.startsWith('.') ? n.slice(1) : n;
    if (bare.length > 253 || !HOST_NAME.test(bare)) {
      throw new BadValue(`${JSON.stringify(n)} is not a host name (letters, digits, dots and dashes)`);
    }
  }
  return [...new Set(names)];
}

/** Directories, as a comma list or a JSON array (in config.json, or in the variable: `["/a,b", "/c"]`). */
function parseDirectories(raw: unknown): string[] {
  let items: unknown = raw;
  if (typeof raw === 'string') {
    const text = raw.trim();
    if (text.startsWith('[')) {
      try {
        items = JSON.parse(text);
      } catch {
        throw new BadValue('expected a JSON array of directory paths');
      }
    } else items = text.split(',');
  }
  if (!Array.isArray(items) || !items.every((x) => typeof x === 'string'))
    throw new BadValue('expected directory paths separated by commas, or a JSON array of them');
  const dirs = (items as string[]).map((s) => s.trim()).filter((s) => s !== '');
  for (const d of dirs) {
    if (!d.startsWith('/') && d !== '~' && !d.startsWith('~/'))
      throw new BadValue(`${JSON.stringify(d)} is not an absolute path (start it with / or ~/)`);
  }
  return [...new Set(dirs.map((d) => resolve(expandHome(d))))];
}

function parseBoolean(raw: unknown): boolean {
  if (raw === true || raw === 'true' || raw === '1') return true;
  if (raw === false || raw === 'false' || raw === '0') return false;
  throw new BadValue('expected `true` or `false`');
}

/** Command-line arguments: a JSON array of strings, or words separated by white space. */
function parseArguments(raw: unknown): string[] {
  let items: unknown = raw;
  if (typeof raw === 'string') {
    const text = raw.trim();
    if (text.startsWith('[')) {
      try {
        items = JSON.parse(text);
      } catch {
        throw new BadValue('expected a JSON array of strings');
      }
    } else items = text === '' ? [] : text.split(/\s+/);
  }
  if (!Array.isArray(items) || !items.every((x) => typeof x === 'string')) {
    throw new BadValue('expected arguments separated by spaces, or a JSON array of strings');
  }
  return items;
}

/** An endpoint URL with its user-info part hidden: credentials never belong there, and are never shown. */
function maskEndpoint(raw: unknown): unknown {
  if (typeof raw !== 'string') return raw;
  return raw.replace(/^([a-z][a-z0-9+.-]*:\/\/)[^/@]*@/i, '$1***@');
}

const DEFINITIONS: Definitions = {
  'blob.dir': {
    key: 'blob.dir',
    env: 'DEEPFORGE_BLOB_DIR',
    description: 'Where artifact contents are stored (content-addressed, by sha256).',
    allowed: 'a directory path',
    parse: (raw) => parsePath(raw),
    defaultValue: ({ dataDir }) => join(dataDir, 'blob'),
  },
  python: {
    key: 'python',
    env: 'DEEPFORGE_PYTHON',
    description:
      'The Python interpreter operations run with. Unset: the first usable of /usr/bin/python3, python3, python. ' +
      'It is checked (can it import numpy, matplotlib and the runtime?) when the engine first needs it; a check ' +
      'that passed is kept in <data dir>/python-checks.json until the interpreter, its import directories or ' +
      'PYTHONPATH change.',
    allowed: 'an interpreter path or a command on PATH',
    parse: (raw) => {
      if (typeof raw !== 'string' || raw.trim() === '')
        throw new BadValue('expected a non-empty path or command');
      const s = raw.trim();
      // A bare command (`python3`) is looked up on PATH when run; anything with a slash is a path.
      return s.includes('/') || s.startsWith('~') ? resolve(expandHome(s)) : s;
    },
    defaultValue: () => undefined,
  },
  'executions.concurrency': {
    key: 'executions.concurrency',
    env: 'DEEPFORGE_CONCURRENCY',
    description:
      'How many operations run at the same time, over all executions of this engine (an execution started with its own concurrency may go above it). A slot is for the job’s process: once it has ended, the next job starts while its outputs are stored. Unset: the CPUs of this machine for local compute; with remote workers or Slurm 256, the workers’ slots and the cluster deciding what runs.',
    allowed: 'an integer ≥ 1',
    parse: (raw) => parseInteger(raw, 1),
    defaultValue: () => availableParallelism(),
  },
  'executions.timeout': {
    key: 'executions.timeout',
    env: 'DEEPFORGE_TIMEOUT',
    description: 'Seconds one operation may run before it is killed and fails; 0 means no limit.',
    allowed: 'a number of seconds ≥ 0',
    parse: (raw) => {
      const n = typeof raw === 'string' && raw.trim() !== '' ? Number(raw.trim()) : raw;
      if (typeof n !== 'number' || !Number.isFinite(n) || n < 0) throw new BadValue('expected a number ≥ 0');
      return n;
    },
    defaultValue: () => 0,
  },
  'executions.onRestart': {
    key: 'executions.onRestart',
    env: 'DEEPFORGE_ON_RESTART',
    description:
      'What happens to jobs whose engine died: `fail` marks them failed; `requeue` runs them again when an engine opens.',
    allowed: '`fail` or `requeue`',
    parse: (raw) => {
      if (raw === 'fail' || raw === 'requeue') return raw;
      throw new BadValue('expected `fail` or `requeue`');
    },
    defaultValue: () => 'fail',
  },
  'executions.warmWorker': {
    key: 'executions.warmWorker',
    env: 'DEEPFORGE_WARM_WORKER',
    description:
      'Start operations by forking a warm Python process that has already imported the runtime and the heavy libraries operations used (numpy, torch, matplotlib…), instead of a new interpreter each time.',
    allowed: '`true` or `false`',
    parse: (raw) => {
      if (raw === true || raw === 'true' || raw === '1') return true;
      if (raw === false || raw === 'false' || raw === '0') return false;
      throw new BadValue('expected `true` or `false`');
    },
    defaultValue: () => true,
  },
  'logs.maxBytes': {
    key: 'logs.maxBytes',
    env: 'DEEPFORGE_LOG_MAX_BYTES',
    description:
      "The most console output kept per job; beyond it the job's output is dropped (it keeps running).",
    allowed: 'a byte count such as 67108864, 64MiB or 1GB',
    parse: (raw) => parseByteSize(raw),
    defaultValue: () => 64 * 1024 * 1024,
  },
  'server.port': {
    key: 'server.port',
    env: 'DEEPFORGE_PORT',
    description: 'The port `deepforge start` serves the web IDE on (`--port` wins); 0 picks a free one.',
    allowed: 'an integer from 0 to 65535',
    parse: (raw) => {
      const n = parseInteger(raw, 0);
      if (n > 65535) throw new BadValue('expected an integer from 0 to 65535');
      return n;
    },
    defaultValue: () => 8888,
  },
  'server.host': {
    key: 'server.host',
    env: 'DEEPFORGE_HOST',
    description:
      'The address `deepforge start` listens on (`--host` wins): 127.0.0.1 serves this machine only; 0.0.0.0 or an address of a network interface serves others, which needs accounts (auth.enabled).',
    allowed: 'an IP address or `localhost`',
    parse: (raw) => {
      if (typeof raw !== 'string') throw new BadValue('expected an IP address such as 127.0.0.1 or 0.0.0.0');
      const s = raw.trim().toLowerCase();
      const bare = s.startsWith('[') && s.endsWith(']') ? s.slice(1, -1) : s;
      if (s !== 'localhost' && isIP(bare) === 0) {
        throw new BadValue('expected an IP address such as 127.0.0.1 or 0.0.0.0');
      }
      return bare;
    },
    defaultValue: () => '127.0.0.1',
  },
  'server.publicUrl': {
    key: 'server.publicUrl',
    env: 'DEEPFORGE_PUBLIC_URL',
    description:
      'The URL people open DeepForge at when it is behind a reverse proxy (https://deepforge.example.org): its host name is allowed like those of server.allowedHosts, and an https URL makes session cookies Secure.',
    allowed: 'an http or https URL without a path',
    parse: (raw) => {
      if (typeof raw !== 'string') throw new BadValue('expected a URL such as https://deepforge.example.org');
      let url: URL;
      try {
        url = new URL(raw.trim());
      } catch {
        throw new BadValue('expected a URL such as https://deepforge.example.org');
      }
      if (
        (url.protocol !== 'http:' && url.protocol !== 'https:') ||
        (url.pathname !== '/' && url.pathname !== '')
      ) {
        throw new BadValue('expected an http or https URL without a path');
      }
      return url.origin;
    },
    defaultValue: () => undefined,
  },
  'server.trustProxy': {
    key: 'server.trustProxy',
    env: 'DEEPFORGE_TRUST_PROXY',
    description:
      'Trust X-Forwarded-For/-Proto/-Host from a reverse proxy that terminates TLS: `true` for any peer, or the proxy addresses (CIDRs allowed), comma-separated. Off by default: the headers are ignored.',
    allowed: '`false`, `true`, or addresses separated by commas',
    parse: (raw) => {
      if (raw === true || raw === 'true' || raw === '1') return true;
      if (raw === false || raw === 'false' || raw === '0' || raw === '') return false;
      const items =
        typeof raw === 'string' ? raw.split(',') : Array.isArray(raw) ? (raw as unknown[]) : undefined;
      if (!items || !items.every((x) => typeof x === 'string'))
        throw new BadValue('expected `true`, `false` or addresses');
      const list = (items as string[]).map((x) => x.trim()).filter(Boolean);
      for (const a of list) {
        const [ip, bits] = a.split('/');
        if (isIP(ip ?? '') === 0 || (bits !== undefined && !/^\d{1,3}$/.test(bits))) {
          throw new BadValue(`${JSON.stringify(a)} is not an IP address or CIDR`);
        }
      }
      return list;
    },
    defaultValue: () => false,
  },
  'auth.enabled': {
    key: 'auth.enabled',
    env: 'DEEPFORGE_AUTH',
    description:
      'Accounts: every request needs a signed-in session or an access token, projects have members with roles. Off, one user on this machine uses everything without signing in.',
    allowed: '`true` or `false`',
    parse: (raw) => {
      if (raw === true || raw === 'true' || raw === '1' || raw === 'on') return true;
      if (raw === false || raw === 'false' || raw === '0' || raw === 'off') return false;
      throw new BadValue('expected `true` or `false`');
    },
    defaultValue: () => false,
  },
  'server.allowedHosts': {
    key: 'server.allowedHosts',
    env: 'DEEPFORGE_ALLOWED_HOSTS',
    description:
      'Host names the web server answers to, besides localhost, 127.0.0.1, [::1] and IP addresses; `.example.org` allows a domain and its subdomains. Requests for any other name are refused (403), which stops DNS rebinding.',
    allowed: 'host names separated by commas (or a JSON array of them)',
    parse: (raw) => parseHostNames(raw),
    defaultValue: () => [],
  },
  'server.uploadLimit': {
    key: 'server.uploadLimit',
    env: 'DEEPFORGE_UPLOAD_LIMIT',
    description: 'The largest artifact the web server accepts in one upload; a bigger one is refused (413).',
    allowed: 'a byte count such as 1073741824, 512MiB or 1GiB',
    parse: (raw) => parseByteSize(raw),
    defaultValue: () => 1024 ** 3,
  },
  'artifacts.importRoots': {
    key: 'artifacts.importRoots',
    env: 'DEEPFORGE_IMPORT_ROOTS',
    description:
      'Folders whose files the web server imports as artifacts by path (POST …/artifacts/import with `path`); a path outside them, also through a symbolic link, is refused (403). The default is the home folder of the user running the server; set it explicitly when others can reach the server. An empty list turns import by path off. `deepforge artifacts import` on the command line is not limited.',
    allowed: 'absolute directory paths separated by commas (or a JSON array of them); [] for none',
    parse: (raw) => parseDirectories(raw),
    defaultValue: () => [homedir()],
  },
  'database.url': {
    key: 'database.url',
    env: 'DEEPFORGE_DATABASE_URL',
    description:
      'The database of projects, executions and accounts. Unset: the SQLite file deepforge.db in the data dir. A postgres://user:password@host:5432/database URL: that PostgreSQL database (the schema is created or upgraded at start). Shown with the password masked; prefer the environment variable to keeping a password in config.json.',
    allowed: 'a postgres:// or postgresql:// URL',
    parse: (raw) => {
      if (typeof raw !== 'string' || !isPostgresUrl(raw.trim()))
        throw new BadValue('expected a URL such as postgres://user:password@host:5432/deepforge');
      const url = raw.trim();
      let parsed: URL;
      try {
        parsed = new URL(url);
      } catch {
        throw new BadValue(
          'not a valid URL (percent-encode characters such as @ / : # in the user name or password)',
        );
      }
      if (parsed.hostname === '' && !parsed.searchParams.has('host'))
        throw new BadValue('the URL names no host (postgres://user:password@host:5432/database)');
      return url;
    },
    defaultValue: () => undefined,
    mask: (raw) => (typeof raw === 'string' ? maskDatabaseUrl(raw) : raw),
  },
  'storage.backend': {
    key: 'storage.backend',
    env: 'DEEPFORGE_STORAGE_BACKEND',
    description:
      'Where artifact contents are stored: `local` in blob.dir, or `s3` in the bucket storage.s3.bucket (AWS S3 or an S3-compatible server such as MinIO). Credentials for S3 come only from the standard AWS variables and profiles (AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, AWS_PROFILE, ~/.aws), never from a setting.',
    allowed: '`local` or `s3`',
    parse: (raw) => {
      const v = typeof raw === 'string' ? raw.trim().toLowerCase() : raw;
      if (v === 'local' || v === 's3') return v;
      throw new BadValue('expected `local` or `s3`');
    },
    defaultValue: () => 'local',
  },
  'storage.s3.bucket': {
    key: 'storage.s3.bucket',
    env: 'DEEPFORGE_S3_BUCKET',
    description: 'The bucket artifact contents go to when storage.backend is `s3`; it must exist.',
    allowed: 'a bucket name: 3 to 255 letters, digits, dots, dashes or underscores (AWS: 3 to 63, lowercase)',
    parse: (raw) => {
      if (typeof raw !== 'string') throw new BadValue('expected a bucket name');
      const name = raw.trim();
      if (/^s3:\/\//i.test(name))
        throw new BadValue(
          'give the bucket name alone, without s3:// (a key prefix goes in storage.s3.prefix)',
        );
      // Lenient beyond AWS's rule for new buckets: S3-compatible servers and old buckets allow capitals and `_`.
      if (!/^[A-Za-z0-9][A-Za-z0-9._-]{1,253}[A-Za-z0-9]$/.test(name))
        throw new BadValue('expected a bucket name of letters, digits, dots, dashes and underscores');
      return name;
    },
    defaultValue: () => undefined,
  },
  'storage.s3.prefix': {
    key: 'storage.s3.prefix',
    env: 'DEEPFORGE_S3_PREFIX',
    description:
      'A key prefix inside the bucket (say `deepforge/prod`), so that several installations or other data can share it. Blobs go to `<prefix>/<scheme>/<2 hex>/<hex>`.',
    allowed: 'path segments of letters, digits, `.`, `_` and `-`, separated by `/`; empty for none',
    parse: (raw) => {
      if (typeof raw !== 'string') throw new BadValue('expected a key prefix such as deepforge/prod');
      const prefix = raw.trim().replace(/^\/+|\/+$/g, '');
      if (prefix === '') return '';
      const segments = prefix.split('/');
      if (
        prefix.length > 200 ||
        segments.some((seg) => !/^[A-Za-z0-9._-]+$/.test(seg) || seg === '.' || seg === '..')
      ) {
        throw new BadValue(
          'expected at most 200 characters: path segments of letters, digits, `.`, `_` and `-` separated by single slashes',
        );
      }
      return prefix;
    },
    defaultValue: () => '',
  },
  'storage.s3.endpoint': {
    key: 'storage.s3.endpoint',
    env: 'DEEPFORGE_S3_ENDPOINT',
    description:
      "The base URL of an S3-compatible server (MinIO, Ceph RGW, an emulator: http://minio.lab:9000). Unset: AWS's own endpoint for the region. Such servers usually need storage.s3.forcePathStyle.",
    allowed: 'an http or https URL without credentials',
    parse: (raw) => {
      if (typeof raw !== 'string') throw new BadValue('expected a URL such as http://minio.lab:9000');
      let url: URL;
      try {
        url = new URL(raw.trim());
      } catch {
        throw new BadValue('expected a URL such as http://minio.lab:9000');
      }
      if (url.protocol !== 'http:' && url.protocol !== 'https:')
        throw new BadValue('expected an http or https URL');
      if (url.username !== '' || url.password !== '')
        throw new BadValue(
          'credentials never go in the URL: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or AWS_PROFILE',
        );
      if (url.search !== '' || url.hash !== '') throw new BadValue('expected a URL without ? or #');
      return url.toString().replace(/\/+$/, '');
    },
    defaultValue: () => undefined,
    mask: maskEndpoint,
  },
  'storage.s3.region': {
    key: 'storage.s3.region',
    env: 'DEEPFORGE_S3_REGION',
    description:
      "The bucket's region (eu-west-1). Unset: AWS_REGION or AWS_DEFAULT_REGION, then the AWS profile's region, then us-east-1 (what most S3-compatible servers expect).",
    allowed: 'a region name such as eu-west-1',
    parse: (raw) => {
      if (typeof raw !== 'string' || !/^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$/.test(raw.trim()))
        throw new BadValue('expected a region name such as eu-west-1');
      return raw.trim();
    },
    defaultValue: () => undefined,
  },
  'storage.s3.forcePathStyle': {
    key: 'storage.s3.forcePathStyle',
    env: 'DEEPFORGE_S3_FORCE_PATH_STYLE',
    description:
      'Address the bucket in the path (http://endpoint/bucket/key) instead of the host name (http://bucket.endpoint/key). MinIO and most S3-compatible servers need `true`.',
    allowed: '`true` or `false`',
    parse: (raw) => parseBoolean(raw),
    defaultValue: () => false,
  },
  'environments.dir': {
    key: 'environments.dir',
    env: 'DEEPFORGE_ENVIRONMENTS_DIR',
    description:
      'Where the environments of operations with an environment file are built and kept, on the machine that runs their jobs: one venv per distinct file (by the packages it lists and the interpreter), built once and reused (docs/adr/0017).',
    allowed: 'a directory path',
    parse: (raw) => parsePath(raw),
    defaultValue: ({ dataDir }) => join(dataDir, 'environments'),
  },
  'environments.maxBytes': {
    key: 'environments.maxBytes',
    env: 'DEEPFORGE_ENVIRONMENTS_MAX_BYTES',
    description:
      'The most bytes environments.dir keeps: after a build, the environments used least recently are removed until it fits, never one a job of this process runs in, nor one used in the last hour (another process may run it).',
    allowed: 'a byte count such as 10737418240, 10GiB or 500MB',
    parse: (raw) => parseByteSize(raw),
    defaultValue: () => 10 * 1024 ** 3,
  },
  'environments.pipArgs': {
    key: 'environments.pipArgs',
    env: 'DEEPFORGE_ENVIRONMENTS_PIP_ARGS',
    description:
      "Arguments given to every `pip install` that builds an environment, e.g. `--index-url https://pypi.example/simple` or `--no-index --find-links /srv/wheels`: where packages come from is the machine's choice, never the environment file's. pip's own configuration (pip.conf, PIP_* variables) applies as well.",
    allowed: 'arguments separated by spaces, or a JSON array of strings',
    parse: (raw) => parseArguments(raw),
    defaultValue: () => [],
    mask: (raw) => (Array.isArray(raw) ? raw.map(maskEndpoint) : maskEndpoint(raw)),
  },
  'worker.cache.dir': {
    key: 'worker.cache.dir',
    // The name the DeepForge docs give it (DEEPFORGE_WORKER_CACHE).
    env: 'DEEPFORGE_WORKER_CACHE',
    description:
      'Where jobs read their inputs from when the artifact storage keeps no local files (storage.backend `s3`): each blob is downloaded once per machine into this folder, under its content id, and jobs read it there; the outputs jobs make on this machine are kept there too once uploaded. Unused with `local` storage: jobs read the blob dir in place.',
    allowed: 'a directory path',
    parse: (raw) => parsePath(raw),
    defaultValue: ({ dataDir }) => join(dataDir, 'cache'),
  },
  'worker.cache.maxBytes': {
    key: 'worker.cache.maxBytes',
    env: 'DEEPFORGE_WORKER_CACHE_MAX_BYTES',
    description:
      'The most bytes worker.cache.dir keeps: beyond it the blobs used least recently are removed, never one a running job reads (those can take it over the bound while they run). A blob bigger than this cannot be fetched, and the job needing it fails.',
    allowed: 'a byte count such as 21474836480, 20GiB or 500GB',
    parse: (raw) => parseByteSize(raw),
    defaultValue: () => 20 * 1024 ** 3,
  },
  'workers.leaseTimeout': {
    key: 'workers.leaseTimeout',
    env: 'DEEPFORGE_WORKER_LEASE_TIMEOUT',
    description:
      'Seconds a remote worker keeps a job without a heartbeat (it sends one every quarter of this): a worker silent for longer (dead, cut off, paused) loses the job, which runs again on another worker, or fails, as executions.onRestart says, and whatever the lost worker reports later is refused.',
    allowed: 'a number of seconds from 0.5 to 86400',
    parse: (raw) => {
      const n = typeof raw === 'string' && raw.trim() !== '' ? Number(raw.trim()) : raw;
      if (typeof n !== 'number' || !Number.isFinite(n) || n < 0.5 || n > 86400) {
        throw new BadValue('expected a number of seconds from 0.5 to 86400');
      }
      return n;
    },
    defaultValue: () => 30,
  },
  'compute.backend': {
    key: 'compute.backend',
    env: 'DEEPFORGE_COMPUTE_BACKEND',
    description:
      "Where operations run: `local` processes on this machine, or `slurm` batch jobs submitted with sbatch (the Slurm clients sbatch, squeue, scontrol and scancel on PATH, SLURM_CONF if the cluster needs it). Slurm nodes must share this machine's filesystem: the data dir, the blob dir and the Python runtime (docs/adr/0016).",
    allowed: '`local` or `slurm`',
    parse: (raw) => {
      const v = typeof raw === 'string' ? raw.trim().toLowerCase() : raw;
      if (v === 'local' || v === 'slurm') return v;
      throw new BadValue('expected `local` or `slurm`');
    },
    defaultValue: () => 'local',
  },
  'compute.slurm.partition': slurmDefault(
    'partition',
    'DEEPFORGE_SLURM_PARTITION',
    "The Slurm partition jobs go to (sbatch --partition) unless an execution or node names another; unset: the cluster's default partition.",
  ),
  'compute.slurm.account': slurmDefault(
    'account',
    'DEEPFORGE_SLURM_ACCOUNT',
    "The Slurm account jobs are charged to (sbatch --account) unless an execution or node names another; unset: the user's default account.",
  ),
  'compute.slurm.time': slurmDefault(
    'time',
    'DEEPFORGE_SLURM_TIME',
    "The time limit of every Slurm job (sbatch --time: minutes, HH:MM:SS, D-HH:MM…) unless an execution or node sets another; Slurm ends a job that reaches it, and the job fails saying so. Unset: the partition's default.",
  ),
  'compute.slurm.gres': slurmDefault(
    'gres',
    'DEEPFORGE_SLURM_GRES',
    'Generic resources every Slurm job asks for (sbatch --gres, e.g. gpu:1) unless an execution or node asks for others.',
  ),
};

/** A `compute.slurm.*` default, checked as a job's own Slurm option of that name is. */
function slurmDefault<K extends 'partition' | 'account' | 'time' | 'gres'>(
  option: K,
  env: string,
  description: string,
): SettingDefinition<`compute.slurm.${K}`> {
  const schema = SlurmJobOptionsSchema.shape[option];
  return {
    key: `compute.slurm.${option}`,
    env,
    description,
    allowed: `an sbatch --${option} value`,
    parse: (raw) => {
      if (raw === '') return undefined;
      const parsed = schema.safeParse(typeof raw === 'string' ? raw.trim() : raw);
      if (!parsed.success)
        throw new BadValue(parsed.error.issues[0]?.message ?? `expected an sbatch --${option} value`);
      return parsed.data;
    },
    defaultValue: () => undefined,
  };
}

/** The Slurm options every job gets unless its execution or node says otherwise (`compute.slurm.*`, those set). */
export function slurmDefaults(values: SettingsValues): SlurmJobOptions {
  const out: SlurmJobOptions = {};
  for (const key of ['partition', 'account', 'time', 'gres'] as const) {
    const value = values[`compute.slurm.${key}`];
    if (value !== undefined) out[key] = value;
  }
  return out;
}

export const SETTING_KEYS: readonly SettingKey[] = Object.keys(DEFINITIONS) as SettingKey[];

export function isSettingKey(key: string): key is SettingKey {
  return Object.prototype.hasOwnProperty.call(DEFINITIONS, key);
}

function definition(key: string): SettingDefinition<SettingKey> {
  if (!isSettingKey(key)) {
    throw new SettingsError(`unknown setting \`${key}\`; known settings: ${SETTING_KEYS.join(', ')}`, key);
  }
  return DEFINITIONS[key] as SettingDefinition<SettingKey>;
}

export function expandHome(p: string): string {
  if (p === '~') return homedir();
  if (p.startsWith('~/')) return join(homedir(), p.slice(2));
  return p;
}

export interface SettingsLocation {
  /** Wins over DEEPFORGE_DATA_DIR and the default `~/.deepforge`. */
  dataDir?: string;
  env?: Env;
}

export function resolveDataDir(opts: SettingsLocation = {}): string {
  const env = opts.env ?? process.env;
  const raw = opts.dataDir ?? env[DATA_DIR_ENV] ?? join(homedir(), '.deepforge');
  return resolve(expandHome(raw));
}

export function configFilePath(dataDir: string): string {
  return join(dataDir, CONFIG_FILE_NAME);
}

type ConfigTree = { [key: string]: unknown };

async function readConfigTree(file: string): Promise<ConfigTree> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return {};
    throw new SettingsError(`cannot read ${file}: ${(err as Error).message}`);
  }
  let tree: unknown;
  try {
    tree = JSON.parse(text);
  } catch (err) {
    throw new SettingsError(`${file} is not valid JSON (${(err as Error).message}); fix or delete it`);
  }
  if (typeof tree !== 'object' || tree === null || Array.isArray(tree)) {
    throw new SettingsError(`${file} must hold a JSON object such as {"blob": {"dir": "/data/blob"}}`);
  }
  return tree as ConfigTree;
}

function getPath(tree: ConfigTree, key: string): unknown {
  let node: unknown = tree;
  for (const part of key.split('.')) {
    if (typeof node !== 'object' || node === null || Array.isArray(node)) return undefined;
    node = (node as ConfigTree)[part];
  }
  return node;
}

function setPath(tree: ConfigTree, key: string, value: unknown): void {
  const parts = key.split('.');
  let node = tree;
  for (const part of parts.slice(0, -1)) {
    const next = node[part];
    if (typeof next !== 'object' || next === null || Array.isArray(next)) node[part] = {};
    node = node[part] as ConfigTree;
  }
  const last = parts[parts.length - 1]!;
  if (value === undefined) delete node[last];
  else node[last] = value;
}

/** Removes objects left empty by an unset, so the file does not fill with `{}`s. */
function prune(tree: ConfigTree): void {
  for (const [k, v] of Object.entries(tree)) {
    if (typeof v === 'object' && v !== null && !Array.isArray(v)) {
      prune(v as ConfigTree);
      if (Object.keys(v).length === 0) delete tree[k];
    }
  }
}

/**
 * Writes a file so that readers see the old or the new content, never a mix, even after a crash. `mode` (say 0o600
 * for a file of secrets) is the file's from its creation on: there is no moment when others may read it.
 */
export async function writeFileAtomic(
  file: string,
  content: string | Uint8Array,
  options: { mode?: number } = {},
): Promise<void> {
  await mkdir(dirname(file), { recursive: true });
  const tmp = `${file}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`;
  const fh = await open(tmp, 'wx', options.mode ?? 0o666);
  try {
    await fh.writeFile(content);
    await fh.sync();
  } finally {
    await fh.close();
  }
  try {
    await rename(tmp, file);
  } catch (err) {
    await rm(tmp, { force: true });
    throw err;
  }
}

export interface SettingEntry<K extends SettingKey = SettingKey> {
  key: K;
  /** The value as shown: a secret in it (the password of `database.url`) is masked. */
  value: SettingsValues[K];
  source: SettingSource;
  /** The environment variable that overrides it. */
  env: string;
  description: string;
  allowed: string;
}

export interface Settings {
  dataDir: string;
  configFile: string;
  values: SettingsValues;
  sources: Record<SettingKey, SettingSource>;
}

export interface LoadSettingsOptions extends SettingsLocation {
  /** Values chosen by the caller (for example command-line flags); they win over everything else. */
  overrides?: Partial<SettingsValues>;
}

/** Parses one value for `key`, with an error naming the key, where the value came from and what is allowed. */
export function parseSettingValue<K extends SettingKey>(
  key: K,
  raw: unknown,
  opts: { dataDir: string; from?: string },
): SettingsValues[K] {
  const def = definition(key) as unknown as SettingDefinition<K>;
  try {
    return def.parse(raw, { dataDir: opts.dataDir });
  } catch (err) {
    if (!(err instanceof BadValue)) throw err;
    const where = opts.from ? ` (from ${opts.from})` : '';
    const shown = def.mask ? def.mask(raw) : raw;
    throw new SettingsError(
      `invalid value ${JSON.stringify(shown)} for \`${key}\`${where}: ${err.message}; allowed: ${def.allowed}`,
      key,
    );
  }
}

export async function loadSettings(opts: LoadSettingsOptions = {}): Promise<Settings> {
  const env = opts.env ?? process.env;
  const dataDir = resolveDataDir(opts);
  const configFile = configFilePath(dataDir);
  const tree = await readConfigTree(configFile);
  const values = {} as Record<SettingKey, unknown>;
  const sources = {} as Record<SettingKey, SettingSource>;
  for (const key of SETTING_KEYS) {
    const def = DEFINITIONS[key] as SettingDefinition<SettingKey>;
    const override = opts.overrides?.[key];
    const fromEnv = env[def.env];
    const fromFile = getPath(tree, key);
    if (override !== undefined) {
      values[key] = parseSettingValue(key, override, { dataDir, from: 'the caller' });
      sources[key] = 'override';
    } else if (fromEnv !== undefined && fromEnv !== '') {
      values[key] = parseSettingValue(key, fromEnv, { dataDir, from: `environment variable ${def.env}` });
      sources[key] = 'env';
    } else if (fromFile !== undefined && fromFile !== null) {
      values[key] = parseSettingValue(key, fromFile, { dataDir, from: configFile });
      sources[key] = 'config';
    } else {
      values[key] = def.defaultValue({ dataDir });
      sources[key] = 'default';
    }
  }
  return { dataDir, configFile, values: values as unknown as SettingsValues, sources };
}

function entry(settings: Settings, key: SettingKey): SettingEntry {
  const def = DEFINITIONS[key] as SettingDefinition<SettingKey>;
  return {
    key,
    value: def.mask ? (def.mask(settings.values[key]) as SettingsValues[SettingKey]) : settings.values[key],
    source: settings.sources[key],
    env: def.env,
    description: def.description,
    allowed: def.allowed,
  };
}

export async function listSettings(opts: SettingsLocation = {}): Promise<SettingEntry[]> {
  const settings = await loadSettings(opts);
  return SETTING_KEYS.map((key) => entry(settings, key));
}

export async function getSetting(key: string, opts: SettingsLocation = {}): Promise<SettingEntry> {
  definition(key);
  const settings = await loadSettings(opts);
  return entry(settings, key as SettingKey);
}

/** A config file holding a password (in `database.url`) is readable by its owner only. */
function configFileOptions(tree: ConfigTree): { mode?: number } {
  const url = getPath(tree, 'database.url');
  return typeof url === 'string' && maskDatabaseUrl(url) !== url ? { mode: 0o600 } : {};
}

/**
 * Stores a value in the config file (validated first; the file is replaced atomically). Returns the effective
 * entry, whose source is `env` when an environment variable still overrides what was just written.
 */
export async function setSetting(
  key: string,
  raw: unknown,
  opts: SettingsLocation = {},
): Promise<SettingEntry> {
  definition(key);
  const dataDir = resolveDataDir(opts);
  const file = configFilePath(dataDir);
  const value = parseSettingValue(key as SettingKey, raw, { dataDir });
  // Read and written under the file's lock: two commands setting keys at once both keep their change.
  await withFileLock(file, async () => {
    const tree = await readConfigTree(file);
    setPath(tree, key, value);
    await writeFileAtomic(file, JSON.stringify(tree, null, 2) + '\n', configFileOptions(tree));
  });
  return getSetting(key, opts);
}

/** Removes a value from the config file, so the default (or the environment) applies again. */
export async function unsetSetting(key: string, opts: SettingsLocation = {}): Promise<SettingEntry> {
  definition(key);
  const dataDir = resolveDataDir(opts);
  const file = configFilePath(dataDir);
  await withFileLock(file, async () => {
    const tree = await readConfigTree(file);
    setPath(tree, key, undefined);
    prune(tree);
    await writeFileAtomic(file, JSON.stringify(tree, null, 2) + '\n', configFileOptions(tree));
  });
  return getSetting(key, opts);
}

/**
 * The effective settings as nested JSON, the shape `deepforge config` prints (and config.json holds), secrets
 * masked.
 */
export function settingsAsTree(values: SettingsValues): Record<string, unknown> {
  const tree: ConfigTree = {};
  for (const key of SETTING_KEYS) {
    const mask = (DEFINITIONS[key] as SettingDefinition<SettingKey>).mask;
    const v = mask ? mask(values[key]) : values[key];
    if (v !== undefined) setPath(tree, key, v);
  }
  return tree;
}
