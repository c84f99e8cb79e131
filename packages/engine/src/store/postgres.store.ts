import { Kysely, PostgresDialect, sql } from 'kysely';
import { Pool, type PoolClient } from 'pg';
import { KyselyAccountStore } from '../accounts/kysely-account.store.js';
import { DatabaseError } from '../errors.js';
import type { DatabaseStores } from './database.store.js';
import { describeDatabaseUrl, type DatabaseAddress } from './database-url.js';
import { KyselyDocumentStore } from './kysely-document.store.js';
import { KyselyProjectStore } from './kysely-project.store.js';
import { KyselyArtifactStore } from './kysely-artifact.store.js';
import { KyselyExecutionStore } from './kysely-execution.store.js';
import { KyselyRunnerStore } from './kysely-runner.store.js';
import { KyselyTelemetryStore } from './kysely-telemetry.store.js';
import { KyselyWorkerStore } from './kysely-worker.store.js';
import type { Database, KyselyStoreOptions } from './kysely.database.js';
import { migrateToLatest } from './store.migrations.js';

/**
 * Connections one engine process keeps to PostgreSQL. Queries are short (no query waits for a job), so a few
 * connections serve a whole server; ten leaves room for about nine DeepForge processes under PostgreSQL's default
 * max_connections of 100.
 */
export const POSTGRES_POOL_SIZE = 10;

/** How long opening a connection may take before the database counts as unreachable. */
const CONNECT_TIMEOUT_MS = 10_000;

/** hashtextextended (the advisory lock keys) came with PostgreSQL 11. */
const MIN_SERVER_VERSION = 110000;

/** SQLSTATEs after which a transaction is safe to run again: a serialization failure and a deadlock victim. */
const RETRYABLE = new Set(['40001', '40P01']);

interface PgError {
  code?: string;
  message?: string;
  errors?: PgError[];
}

function errorCode(err: unknown): string | undefined {
  const e = err as PgError;
  return e?.code ?? e?.errors?.find((x) => x.code)?.code;
}

/** A connection or authentication failure as a message naming the database (password masked) and what to do. */
export function connectionProblem(err: unknown, at: DatabaseAddress): DatabaseError {
  const code = errorCode(err);
  const where = `${at.host}:${at.port}`;
  const detail = (err as PgError)?.message || String(err);
  const db = `(database.url ${at.shown})`;
  let message: string;
  switch (code) {
    case 'ECONNREFUSED':
      message = `cannot reach PostgreSQL at ${where}: connection refused; is the server running and listening on that host and port? ${db}`;
      break;
    case 'ENOTFOUND':
    case 'EAI_AGAIN':
      message = `cannot reach PostgreSQL at ${where}: the host name ${at.host} does not resolve ${db}`;
      break;
    case 'ETIMEDOUT':
    case 'EHOSTUNREACH':
    case 'ENETUNREACH':
      message = `cannot reach PostgreSQL at ${where}: ${code} ${db}`;
      break;
    case '28P01':
      message = `PostgreSQL at ${where} refused the password of user "${at.user}": check the password in database.url ${db}`;
      break;
    case '28000':
      // No pg_hba.conf entry for this client, or a role that does not exist: the server's words say which.
      message = `PostgreSQL at ${where} refused the connection of user "${at.user}": ${detail} ${db}`;
      break;
    case '3D000':
      message = `PostgreSQL at ${where} has no database "${at.database}": create it (createdb ${at.database}) or fix database.url ${db}`;
      break;
    default:
      if (/timeout/i.test(detail)) {
        message = `cannot reach PostgreSQL at ${where}: no answer within ${CONNECT_TIMEOUT_MS / 1000} s ${db}`;
      } else if (/password must be a string|SASL/i.test(detail)) {
        message = `PostgreSQL at ${where} asks user "${at.user}" for a password; put it in database.url (postgres://user:password@host/db) ${db}`;
      } else {
        message = `cannot open the PostgreSQL database at ${where}: ${detail} ${db}`;
      }
  }
  // The driver's error stays as the cause for logs; its message never holds the password.
  return new DatabaseError(message, { cause: err });
}

/**
 * Every store on one PostgreSQL database, sharing a pool of POSTGRES_POOL_SIZE connections; the schema is
 * created or upgraded first (the same migrations as SQLite).
 */
export async function openPostgresStores(url: string): Promise<DatabaseStores> {
  const options = await openPostgresDatabase(url);
  const { db } = options;
  return {
    dialect: 'postgres',
    executions: new KyselyExecutionStore(options),
    artifacts: new KyselyArtifactStore(db),
    telemetry: new KyselyTelemetryStore(options),
    runners: new KyselyRunnerStore(db),
    workers: new KyselyWorkerStore(options),
    documents: new KyselyDocumentStore(options),
    projects: new KyselyProjectStore(db),
    accounts: new KyselyAccountStore(db),
    close: options.close,
  };
}

/**
 * The PostgreSQL database of `url` as the Kysely stores use it (also `deepforge migrate`, which copies into it
 * table by table): connected, checked (server version), its schema brought up to date. Connection problems are
 * DatabaseErrors naming host and port, never the password.
 */
export async function openPostgresDatabase(url: string): Promise<KyselyStoreOptions> {
  const at = describeDatabaseUrl(url);
  const pool = new Pool({
    connectionString: url,
    max: POSTGRES_POOL_SIZE,
    connectionTimeoutMillis: CONNECT_TIMEOUT_MS,
    idleTimeoutMillis: 30_000,
    application_name: 'deepforge',
  });
  // An idle connection that the server drops (restart, idle timeout) is reported here; without a listener it
  // would crash the process. The pool replaces it on the next query.
  pool.on('error', () => undefined);

  let client: PoolClient;
  try {
    client = await pool.connect();
  } catch (err) {
    await pool.end().catch(() => undefined);
    throw connectionProblem(err, at);
  }
  try {
    const { rows } = await client.query<{ v: string }>('show server_version_num');
    if (Number(rows[0]?.v) < MIN_SERVER_VERSION) {
      throw new DatabaseError(
        `PostgreSQL at ${at.host}:${at.port} is version ${rows[0]?.v}; DeepForge needs 11 or newer (database.url ${at.shown})`,
      );
    }
  } catch (err) {
    client.release();
    await pool.end().catch(() => undefined);
    throw err instanceof DatabaseError ? err : connectionProblem(err, at);
  }
  client.release();

  const db = new Kysely<Database>({ dialect: new PostgresDialect({ pool }) });
  try {
    // Two processes migrating at once wait for each other on Kysely's advisory lock; all pending migrations run
    // in one transaction (PostgreSQL has transactional DDL), so a failed one leaves the schema as it was.
    await migrateToLatest(db as Kysely<unknown>, `the PostgreSQL database ${at.shown}`);
  } catch (err) {
    await db.destroy();
    throw err;
  }

  const options: KyselyStoreOptions = {
    db,
    transaction: async (fn) => {
      for (let attempt = 1; ; attempt++) {
        try {
          return await db.transaction().execute(fn);
        } catch (err) {
          if (attempt >= 5 || !RETRYABLE.has(errorCode(err) ?? '')) throw err;
          await new Promise((r) => setTimeout(r, 5 * attempt + Math.random() * 10 * attempt));
        }
      }
    },
    // A transaction-scoped advisory lock: released at commit or rollback, never left behind by a crash. Two keys
    // hashing alike only make one transaction wait for the other.
    lockKey: async (trx, key) => {
      await sql`select pg_advisory_xact_lock(hashtextextended(${key}, 0))`.execute(trx);
    },
    close: () => db.destroy(),
  };
  return options;
}
