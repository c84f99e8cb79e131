import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import BetterSqlite3 from 'better-sqlite3';
import { Kysely, SqliteDialect, sql, type SqliteDatabase } from 'kysely';
import { KyselyAccountStore } from '../accounts/kysely-account.store.js';
import type { DatabaseStores } from './database.store.js';
import { KyselyDocumentStore } from './kysely-document.store.js';
import { KyselyProjectStore } from './kysely-project.store.js';
import { KyselyArtifactStore } from './kysely-artifact.store.js';
import { KyselyExecutionStore } from './kysely-execution.store.js';
import { KyselyRunnerStore } from './kysely-runner.store.js';
import { KyselyTelemetryStore } from './kysely-telemetry.store.js';
import { KyselyWorkerStore } from './kysely-worker.store.js';
import type { Database, KyselyStoreOptions } from './kysely.database.js';
import { migrateToLatest } from './store.migrations.js';

/** Every store of one SQLite database; the same bundle as any other database (kept for existing callers). */
export type SqliteStores = DatabaseStores;

/**
 * The embedded stores: one SQLite file (`<dataDir>/deepforge.db`) that several engine processes (the CLI, the web
 * server) may open at once. WAL lets readers run beside the writer; busy_timeout makes a second writer wait
 * instead of failing; synchronous=FULL makes a committed job survive a power cut, not only a crash.
 */
export async function openSqliteStores(file: string): Promise<DatabaseStores> {
  const options = await openSqliteDatabase(file);
  return {
    dialect: 'sqlite',
    executions: new KyselyExecutionStore(options),
    artifacts: new KyselyArtifactStore(options.db),
    telemetry: new KyselyTelemetryStore(options),
    runners: new KyselyRunnerStore(options.db),
    workers: new KyselyWorkerStore(options),
    documents: new KyselyDocumentStore(options),
    projects: new KyselyProjectStore(options.db),
    accounts: new KyselyAccountStore(options.db),
    close: options.close,
  };
}

/** Prepared statements kept per connection (the engine's queries are a few hundred distinct texts). */
const STATEMENT_CACHE_SIZE = 1000;

/**
 * The connection as Kysely sees it, with its statements prepared once per SQL text instead of once per query
 * (compiling a statement costs about as much as running a small one). Least recently used ones are dropped past
 * STATEMENT_CACHE_SIZE; one still iterating rows (`busy`) is not shared, a new one is prepared meanwhile. SQLite
 * recompiles a kept statement by itself when the schema changed under it.
 */
function withStatementCache(sqlite: BetterSqlite3.Database): SqliteDatabase {
  const cache = new Map<string, BetterSqlite3.Statement>();
  return {
    close: () => sqlite.close(),
    prepare: (text: string) => {
      const kept = cache.get(text);
      if (kept && !kept.busy) {
        // Most recently used last.
        cache.delete(text);
        cache.set(text, kept);
        return kept;
      }
      const stmt = sqlite.prepare(text);
      if (!kept) {
        cache.set(text, stmt);
        if (cache.size > STATEMENT_CACHE_SIZE) cache.delete(cache.keys().next().value!);
      }
      return stmt;
    },
  };
}

async function openSqliteDatabase(file: string): Promise<KyselyStoreOptions> {
  mkdirSync(dirname(file), { recursive: true });
  const sqlite = new BetterSqlite3(file, { timeout: 15_000 });
  sqlite.pragma('journal_mode = WAL');
  sqlite.pragma('busy_timeout = 15000');
  sqlite.pragma('foreign_keys = ON');
  sqlite.pragma('synchronous = FULL');
  const db = new Kysely<Database>({ dialect: new SqliteDialect({ database: withStatementCache(sqlite) }) });
  try {
    // Two processes opening a fresh data dir at once both try to migrate; the loser sees SQLITE_BUSY (Kysely's
    // migration lock is per process for SQLite) and finds the schema in place on the next try.
    for (let attempt = 1; ; attempt++) {
      try {
        await migrateToLatest(db as Kysely<unknown>, file);
        break;
      } catch (err) {
        if (attempt >= 5 || !/SQLITE_BUSY|database is locked/.test(String((err as Error).cause ?? err)))
          throw err;
        await new Promise((r) => setTimeout(r, 100 * attempt));
      }
    }
  } catch (err) {
    await db.destroy();
    throw err;
  }
  return {
    db,
    // BEGIN IMMEDIATE takes the write lock up front. A deferred BEGIN that reads and then writes can fail at once
    // with SQLITE_BUSY when another process wrote in between, without waiting for busy_timeout.
    transaction: (fn) =>
      db.connection().execute(async (conn) => {
        await sql`begin immediate`.execute(conn);
        try {
          const result = await fn(conn);
          await sql`commit`.execute(conn);
          return result;
        } catch (err) {
          await sql`rollback`.execute(conn).catch(() => undefined);
          throw err;
        }
      }),
    // BEGIN IMMEDIATE has already made this the only writer: nothing more to lock.
    lockKey: () => Promise.resolve(),
    close: () => db.destroy(),
  };
}
