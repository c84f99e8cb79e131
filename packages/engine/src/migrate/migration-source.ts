import { existsSync } from 'node:fs';
import type BetterSqlite3 from 'better-sqlite3';
import { Kysely, SqliteDialect, sql } from 'kysely';
import { DatabaseError } from '../errors.js';
import { isRunnerDead } from '../runner.service.js';
import type { Database } from '../store/kysely.database.js';
import { LATEST_MIGRATION } from '../store/store.migrations.js';
import { sqliteDatabase } from '../store/sqlite-database.js';

/** The embedded installation being copied, as `deepforge migrate` reads it: one read transaction, never a write. */
export interface MigrationSource {
  /** The SQLite file. */
  file: string;
  /**
   * Bound to the connection of the read transaction: every query sees the same snapshot of the database, so rows
   * copied table by table still fit together (every job's execution is there) even if a process wrote meanwhile.
   */
  db: Kysely<Database>;
  /**
   * What tells this installation from any other: when its schema was first created (the timestamp Kysely
   * recorded for migration 0001, in ms). The same data dir moved elsewhere keeps it; two installations created
   * on two machines (both at ~/.deepforge) do not share it.
   */
  installationId: string;
}

/**
 * Opens the SQLite file read-only (SQLite's own read-only mode, and `query_only` as well) and runs `fn` inside
 * one read transaction. The file is never written: as any reader of a database in WAL mode, SQLite may create
 * the empty `-wal` and `-shm` files beside it when they are missing.
 *
 * Refused: a file that is not a DeepForge database, one whose schema is older or newer than this DeepForge's,
 * and one that a live engine (a `deepforge start` or `run`) is still using.
 */
export async function withMigrationSource<T>(
  file: string,
  now: () => number,
  fn: (source: MigrationSource) => Promise<T>,
): Promise<T> {
  if (!existsSync(file)) {
    throw new DatabaseError(
      `there is no embedded database to migrate: ${file} does not exist (is --data-dir the data dir of the installation?)`,
    );
  }
  let sqlite: BetterSqlite3.Database;
  try {
    sqlite = sqliteDatabase(file, { readonly: true, fileMustExist: true, timeout: 15_000 });
    sqlite.pragma('query_only = ON');
  } catch (err) {
    throw new DatabaseError(`cannot open ${file} to read it: ${(err as Error).message}`, { cause: err });
  }
  const db = new Kysely<Database>({ dialect: new SqliteDialect({ database: sqlite }) });
  try {
    return await db.connection().execute(async (conn) => {
      // A deferred BEGIN: the snapshot is taken at the first read and kept until the end.
      await sql`begin`.execute(conn);
      try {
        const installationId = await checkSchema(conn, file);
        await refuseLiveRunners(conn, file, now());
        return await fn({ file, db: conn, installationId });
      } finally {
        await sql`rollback`.execute(conn).catch(() => undefined);
      }
    });
  } finally {
    await db.destroy();
  }
}

async function checkSchema(db: Kysely<Database>, file: string): Promise<string> {
  let rows: { name: string; timestamp: string }[];
  try {
    rows = (
      await sql<{ name: string; timestamp: string }>`select name, timestamp from kysely_migration`.execute(db)
    ).rows;
  } catch (err) {
    throw new DatabaseError(
      `${file} is not a DeepForge database (it has no schema migrations): ${(err as Error).message}`,
      { cause: err },
    );
  }
  const names = rows.map((r) => r.name).sort();
  const newest = names[names.length - 1];
  if (newest === undefined)
    throw new DatabaseError(`${file} is not a DeepForge database (no schema migrations)`);
  if (newest > LATEST_MIGRATION) {
    throw new DatabaseError(
      `${file} was written by a newer DeepForge (schema ${newest}; this one knows up to ${LATEST_MIGRATION}): ` +
        'migrate it with that DeepForge',
    );
  }
  if (newest < LATEST_MIGRATION) {
    // Bringing it up to date means writing to it, which migrate never does on its own.
    throw new DatabaseError(
      `${file} has the schema of an older DeepForge (up to ${newest}; this one has ${LATEST_MIGRATION}): open it ` +
        'once with this DeepForge (for example `deepforge executions`), which upgrades it, then migrate',
    );
  }
  const first = rows.find((r) => r.name === names[0]);
  const created = Date.parse(first?.timestamp ?? '');
  if (!Number.isFinite(created)) {
    throw new DatabaseError(`${file}: its schema migrations carry no usable timestamp (${first?.timestamp})`);
  }
  return String(created);
}

async function refuseLiveRunners(db: Kysely<Database>, file: string, now: number): Promise<void> {
  const runners = await db.selectFrom('runners').selectAll().execute();
  for (const r of runners) {
    const record = {
      id: r.id,
      pid: r.pid,
      host: r.host,
      startedAt: Number(r.started_at),
      heartbeatAt: Number(r.heartbeat_at),
    };
    if (!(await isRunnerDead(record, now))) {
      throw new DatabaseError(
        `a DeepForge engine is using ${file} (pid ${r.pid} on ${r.host}, last heard from ${Math.round((now - record.heartbeatAt) / 1000)} s ago): ` +
          'stop it (deepforge start, deepforge run, …) so that nothing changes while it is copied, then migrate',
      );
    }
  }
}
