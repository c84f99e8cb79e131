import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chown, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { closeSync, existsSync, openSync, readdirSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Client } from 'pg';
import { afterAll, beforeAll, inject } from 'vitest';

/**
 * A real PostgreSQL for tests (no mocks where the real thing runs here): a throwaway cluster made by initdb in a
 * temp dir, listening on 127.0.0.1 and a free port, with password authentication over TCP so that a wrong
 * password can be tested. The Vitest global setup (scripts/vitest-postgres.setup.ts) starts one for the run and
 * hands its address to the test files; a file run without it starts its own on first use.
 */

declare module 'vitest' {
  export interface ProvidedContext {
    /** The superuser URL of the run's PostgreSQL (`postgres://postgres:pw@127.0.0.1:port/postgres`). */
    deepforgePostgresUrl?: string;
  }
}

export interface TestPostgresServer {
  /** The superuser URL, on the `postgres` maintenance database. */
  adminUrl: string;
  host: string;
  port: number;
  /** The superuser's password. */
  password: string;
  stop(): Promise<void>;
}

/** Where PostgreSQL's server binaries are: DEEPFORGE_PG_BIN, Debian's newest /usr/lib/postgresql/N/bin, or PATH. */
export function findPostgresBin(env: NodeJS.ProcessEnv = process.env): string | undefined {
  if (env.DEEPFORGE_PG_BIN)
    return existsSync(join(env.DEEPFORGE_PG_BIN, 'initdb')) ? env.DEEPFORGE_PG_BIN : undefined;
  const debian = '/usr/lib/postgresql';
  if (existsSync(debian)) {
    const versions = readdirSync(debian).filter((v) => /^\d+$/.test(v));
    for (const v of versions.sort((a, b) => Number(b) - Number(a))) {
      if (existsSync(join(debian, v, 'bin', 'initdb'))) return join(debian, v, 'bin');
    }
  }
  for (const dir of (env.PATH ?? '').split(':')) {
    if (dir && existsSync(join(dir, 'initdb')) && existsSync(join(dir, 'postgres'))) return dir;
  }
  return undefined;
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const port = (srv.address() as { port: number }).port;
      srv.close(() => resolve(port));
    });
  });
}

/** A wait that does not keep the process alive by itself. */
const delay = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms).unref());

const isRoot = (): boolean => typeof process.getuid === 'function' && process.getuid() === 0;

/** initdb and postgres refuse to run as root: as root, they run as the `postgres` user (Debian's package makes it). */
function asServerUser(command: string, args: string[]): [string, string[]] {
  return isRoot() ? ['runuser', ['-u', 'postgres', '--', command, ...args]] : [command, args];
}

async function tail(file: string): Promise<string> {
  const text = await readFile(file, 'utf8').catch(() => '');
  return text.split('\n').slice(-15).join('\n');
}

/**
 * The server runs under a small shell that stops it (fast shutdown) and removes its temp dir when its stdin closes,
 * that is when the process that started it ends, even by SIGKILL: no server outlives the test run. (A background
 * job of a non-interactive shell reads /dev/null, hence stdin kept as fd 3.)
 */
const SUPERVISOR = `
dir=$1
shift
exec 3<&0
"$@" </dev/null &
pid=$!
{ read _ <&3 || true; kill -INT "$pid" 2>/dev/null; } &
wait "$pid"
code=$?
rm -rf "$dir"
exit $code
`;

class PortTaken extends Error {}

export interface TestPostgresOptions {
  /**
   * Keep PostgreSQL's flushes (fsync, synchronous commit, full-page writes) as a real installation has them. Tests
   * turn them off (a lost test server loses nothing); a benchmark comparing it with SQLite must not.
   */
  durable?: boolean;
}

export async function startTestPostgres(options: TestPostgresOptions = {}): Promise<TestPostgresServer> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await startOnce(options);
    } catch (err) {
      // Another process took the port between our probe and the server's bind: a new cluster on another port.
      if (!(err instanceof PortTaken) || attempt >= 3) throw err;
    }
  }
}

async function startOnce(options: TestPostgresOptions): Promise<TestPostgresServer> {
  const bin = findPostgresBin();
  if (!bin) {
    throw new Error(
      'PostgreSQL server binaries not found (looked in DEEPFORGE_PG_BIN, /usr/lib/postgresql/*/bin and PATH): ' +
        "run `npm run setup` as root (it installs Debian's postgresql), or `apt-get install postgresql`",
    );
  }
  const dir = await mkdtemp(join(tmpdir(), 'df-pg-'));
  const data = join(dir, 'data');
  const password = randomBytes(12).toString('hex');
  await writeFile(join(dir, 'pwfile'), `${password}\n`, { mode: 0o600 });
  if (isRoot()) {
    const uid = Number(execFileSync('id', ['-u', 'postgres'], { encoding: 'utf8' }).trim());
    const gid = Number(execFileSync('id', ['-g', 'postgres'], { encoding: 'utf8' }).trim());
    await chown(dir, uid, gid);
    await chown(join(dir, 'pwfile'), uid, gid);
  }
  const [initdb, initArgs] = asServerUser(join(bin, 'initdb'), [
    '-D',
    data,
    '-U',
    'postgres',
    '--pwfile',
    join(dir, 'pwfile'),
    // Local socket: trust (only this dir's owner reaches it); TCP: a password, as a real server would ask.
    '--auth-local=trust',
    '--auth-host=scram-sha-256',
    '-E',
    'UTF8',
    // C.UTF-8 orders text by code point, as SQLite does, so both dialects pass the same ordering tests.
    '--locale=C.UTF-8',
    ...(options.durable ? [] : ['--no-sync']),
  ]);
  try {
    execFileSync(initdb, initArgs, { stdio: 'pipe' });
  } catch (err) {
    await rm(dir, { recursive: true, force: true });
    const e = err as { stderr?: Buffer; message: string };
    throw new Error(`initdb failed: ${e.stderr?.toString() || e.message}`);
  }

  const port = await freePort();
  const log = join(dir, `server-${port}.log`);
  const [cmd, args] = asServerUser('sh', [
    '-c',
    SUPERVISOR,
    'pg-supervisor',
    dir,
    join(bin, 'postgres'),
    '-D',
    data,
    '-p',
    String(port),
    '-c',
    'listen_addresses=127.0.0.1',
    '-c',
    `unix_socket_directories=${dir}`,
    // A test server: losing it in a power cut loses nothing, so skip the flushes (unless asked to be durable).
    ...(options.durable
      ? []
      : ['-c', 'fsync=off', '-c', 'synchronous_commit=off', '-c', 'full_page_writes=off']),
    '-c',
    'max_connections=300',
    '-c',
    'shared_buffers=64MB',
    '-c',
    `logging_collector=off`,
  ]);
  const out = openSync(log, 'a');
  const child: ChildProcess = spawn(cmd, args, { stdio: ['pipe', out, out] });
  closeSync(out);
  // Not waited for: the supervisor ends when this process does.
  child.unref();
  (child.stdin as unknown as { unref?: () => void }).unref?.();
  let exited = false;
  const ended = new Promise<void>((resolve) =>
    child.once('exit', () => {
      exited = true;
      resolve();
    }),
  );
  const adminUrl = `postgres://postgres:${password}@127.0.0.1:${port}/postgres`;
  const deadline = Date.now() + 30_000;
  let ready = false;
  while (!exited && Date.now() < deadline) {
    const client = new Client({ connectionString: adminUrl, connectionTimeoutMillis: 2000 });
    try {
      await client.connect();
      await client.end();
      ready = true;
      break;
    } catch {
      await client.end().catch(() => undefined);
      await new Promise((r) => setTimeout(r, 100));
    }
  }
  if (!ready) {
    const why = await tail(log);
    child.stdin?.end();
    await Promise.race([ended, delay(5000)]);
    await rm(dir, { recursive: true, force: true });
    const message = `PostgreSQL did not start on 127.0.0.1:${port}:\n${why}`;
    throw /could not bind|Address already in use/i.test(why) ? new PortTaken(message) : new Error(message);
  }
  return {
    adminUrl,
    host: '127.0.0.1',
    port,
    password,
    async stop() {
      child.stdin?.end();
      await Promise.race([ended, delay(15_000)]);
      await rm(dir, { recursive: true, force: true });
    },
  };
}

let ownServer: Promise<TestPostgresServer> | undefined;

/** The run's server (from the global setup), or one started for this test file on first use. */
function serverUrl(): Promise<string> {
  let provided: string | undefined;
  try {
    provided = inject('deepforgePostgresUrl');
  } catch {
    provided = undefined;
  }
  if (provided) return Promise.resolve(provided);
  ownServer ??= startTestPostgres();
  return ownServer.then((s) => s.adminUrl);
}

export interface TestDatabase {
  /** `postgres://postgres:pw@127.0.0.1:port/<name>`: a database of its own, empty. */
  url: string;
  name: string;
  drop(): Promise<void>;
}

/** A new, empty database on the test server, for one test or suite; `drop` removes it (closing what is open). */
export async function createTestDatabase(prefix = 'df'): Promise<TestDatabase> {
  const admin = await serverUrl();
  const name = `${prefix.replace(/[^a-z0-9_]/g, '_')}_${randomBytes(6).toString('hex')}`;
  const client = new Client({ connectionString: admin });
  await client.connect();
  try {
    await client.query(`create database "${name}"`);
  } finally {
    await client.end();
  }
  const url = new URL(admin);
  url.pathname = `/${name}`;
  return {
    url: url.toString(),
    name,
    async drop() {
      const c = new Client({ connectionString: admin });
      await c.connect();
      try {
        await c.query(`drop database if exists "${name}" with (force)`);
      } finally {
        await c.end();
      }
    },
  };
}

/** Empties every table of the database but Kysely's migration records: the schema stays, the rows go. */
export async function emptyTestDatabase(url: string): Promise<void> {
  const c = new Client({ connectionString: url });
  await c.connect();
  try {
    const { rows } = await c.query<{ tablename: string }>(
      `select tablename from pg_tables where schemaname = current_schema() and tablename not like 'kysely\\_%'`,
    );
    // DELETE, not TRUNCATE: on a few rows it takes milliseconds where TRUNCATE makes new files for every table and
    // index. Replica mode (the tests connect as superuser) skips foreign-key checks, so the order does not matter.
    if (rows.length > 0) {
      await c.query(
        `begin; set local session_replication_role = replica; ${rows.map((r) => `delete from "${r.tablename}";`).join(' ')} commit;`,
      );
    }
  } finally {
    await c.end();
  }
}

export interface FileTestDatabase {
  /** The database's URL (after the file's beforeAll). */
  readonly url: string;
  /** Empties it for the next test (a new database per test would cost ~0.3 s each) and returns its URL. */
  fresh(): Promise<string>;
}

/**
 * One database for the test file that calls this at its top level: created before its tests, dropped after them.
 * The first test gets it freshly migrated by the store under test; `fresh()` empties it for the next ones.
 */
export function useTestDatabase(prefix: string): FileTestDatabase {
  let db: TestDatabase | undefined;
  beforeAll(async () => {
    db = await createTestDatabase(prefix);
  });
  afterAll(async () => {
    await db?.drop();
  });
  const handle: FileTestDatabase = {
    get url() {
      if (!db) throw new Error("useTestDatabase: the database exists from the file's beforeAll on");
      return db.url;
    },
    async fresh() {
      await emptyTestDatabase(handle.url);
      return handle.url;
    },
  };
  return handle;
}
