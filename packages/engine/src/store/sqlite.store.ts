import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import type BetterSqlite3 from 'better-sqlite3';
import { sqliteDatabase } from './sqlite-database.js';
import {
  Kysely,
  SqliteDialect,
  SqliteDriver,
  sql,
  type Driver,
  type SqliteDatabase,
  type SqliteStatement,
} from 'kysely';
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
import { WalSync } from './wal-sync.js';

/** Every store of one SQLite database; the same bundle as any other database (kept for existing callers). */
export type SqliteStores = DatabaseStores;

/**
 * The embedded stores: one SQLite file (`<dataDir>/deepforge.db`) that several engine processes (the CLI, the web
 * server) may open at once. WAL lets readers run beside the writer; busy_timeout makes a second writer wait
 * instead of failing; a write is reported done only once the log holding it is on the disk (DurableCommits), so a
 * committed job survives a power cut, not only a crash.
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
 * The connection as Kysely sees it. Its statements are prepared once per SQL text instead of once per query
 * (compiling a statement costs about as much as running a small one): least recently used ones are dropped past
 * STATEMENT_CACHE_SIZE; one still iterating rows (`busy`) is not shared, a new one is prepared meanwhile; SQLite
 * recompiles a kept statement by itself when the schema changed under it.
 *
 * And its writes are made durable off the event loop (docs/adr/0033): the connection runs with
 * `synchronous = NORMAL`, so a commit does not wait for the disk; each statement that ends a write (a write outside
 * a transaction, or the commit of a transaction that wrote) asks the log's group flush, and the connection's holder
 * gets its answer only once that flush has ended (DurableSqliteDriver.releaseConnection), after having let the
 * connection go: the next transaction runs while the disk works, and its own commit joins the next flush.
 */
class DurableCommits implements SqliteDatabase {
  private readonly cache = new Map<string, { stmt: BetterSqlite3.Statement; wrapped: SqliteStatement }>();
  /** A write was made in the transaction under way (or by the statement just run, outside one). */
  private dirty = false;
  /** The flush that the connection's current holder must wait for before its answer. */
  private pending: Promise<void> | undefined;

  constructor(
    private readonly sqlite: BetterSqlite3.Database,
    readonly wal: WalSync,
  ) {}

  close(): void {
    this.sqlite.close();
  }

  prepare(text: string): SqliteStatement {
    const kept = this.cache.get(text);
    if (kept && !kept.stmt.busy) {
      // Most recently used last.
      this.cache.delete(text);
      this.cache.set(text, kept);
      return kept.wrapped;
    }
    const stmt = this.sqlite.prepare(text);
    const made = { stmt, wrapped: this.wrap(stmt, /^\s*rollback\b/i.test(text)) };
    if (!kept) {
      this.cache.set(text, made);
      if (this.cache.size > STATEMENT_CACHE_SIZE) this.cache.delete(this.cache.keys().next().value!);
    }
    return made.wrapped;
  }

  /** The flush the holder that is letting the connection go must wait for, if its writes asked one. */
  takePending(): Promise<void> | undefined {
    const p = this.pending;
    this.pending = undefined;
    return p;
  }

  private wrap(stmt: BetterSqlite3.Statement, rollback: boolean): SqliteStatement {
    const writes = !stmt.readonly;
    const after = (): void => {
      if (writes) this.dirty = true;
      if (!this.dirty || this.sqlite.inTransaction) return;
      this.dirty = false;
      // A transaction rolled back wrote nothing (`rollback to` a savepoint leaves the transaction open).
      if (!rollback) {
        this.pending = this.wal.sync();
        // Awaited by the holder; not left unhandled should the holder have gone (a failed hold).
        this.pending.catch(() => undefined);
      }
    };
    return {
      reader: stmt.reader,
      all: (parameters) => {
        const rows = stmt.all(parameters as unknown[]);
        after();
        return rows;
      },
      run: (parameters) => {
        const result = stmt.run(parameters as unknown[]);
        after();
        return result;
      },
      // Kysely streams only selects.
      iterate: (parameters) => stmt.iterate(parameters as unknown[]),
    };
  }
}

/** Kysely's SQLite driver, whose holders get their answer once their writes are on the disk. */
class DurableSqliteDriver extends SqliteDriver {
  constructor(private readonly commits: DurableCommits) {
    super({ database: commits });
  }

  override async releaseConnection(): Promise<void> {
    const pending = this.commits.takePending();
    await super.releaseConnection();
    if (pending) await pending;
  }

  override async destroy(): Promise<void> {
    await this.commits.wal.close();
    await super.destroy();
  }
}

class DurableSqliteDialect extends SqliteDialect {
  constructor(private readonly commits: DurableCommits) {
    super({ database: commits });
  }

  override createDriver(): Driver {
    return new DurableSqliteDriver(this.commits);
  }
}

async function openSqliteDatabase(file: string): Promise<KyselyStoreOptions> {
  mkdirSync(dirname(file), { recursive: true });
  const sqlite = sqliteDatabase(file, { timeout: 15_000 });
  sqlite.pragma('journal_mode = WAL');
  sqlite.pragma('busy_timeout = 15000');
  sqlite.pragma('foreign_keys = ON');
  // Durable all the same: DurableCommits answers a write once the log is flushed (docs/adr/0033).
  sqlite.pragma('synchronous = NORMAL');
  const db = new Kysely<Database>({
    dialect: new DurableSqliteDialect(new DurableCommits(sqlite, new WalSync(`${file}-wal`))),
  });
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
