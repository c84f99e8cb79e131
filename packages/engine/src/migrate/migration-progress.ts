import { sql, type Kysely } from 'kysely';
import { DatabaseError } from '../errors.js';
import type { Int } from '../store/kysely.database.js';

/**
 * What `deepforge migrate` keeps in the destination database, beside DeepForge's own tables (which the engine
 * never reads): which installation is being copied there, how far each table got, and which blobs were read back
 * from the destination storage and found right. Progress is written in the same transaction as the rows it
 * counts, so a migrate killed at any point resumes exactly where its last commit left it.
 */
export interface MigrationRunTable {
  /** Always `migration`: one run per database. */
  id: string;
  /** MigrationSource.installationId of the installation copied here. */
  installation: string;
  /** The SQLite file it was copied from, for messages. */
  source: string;
  /** Where its blobs went (a storage's description), or '' when they stayed in the data dir's blob.dir. */
  storage: string;
  started_at: Int;
  /** Set once everything was copied and verified; a finished migration is never written to again. */
  finished_at: Int | null;
}

export interface MigrationProgressTable {
  /** The copied table's name. */
  step: string;
  /** The source rowid of the last row copied. */
  cursor: Int;
  /** Rows copied so far. */
  rows: Int;
}

export interface MigrationBlobsTable {
  hash: string;
  size: Int;
  verified_at: Int;
}

export interface MigrationTables {
  migration_run: MigrationRunTable;
  migration_progress: MigrationProgressTable;
  migration_blobs: MigrationBlobsTable;
}

export const MIGRATION_TABLE_NAMES = ['migration_run', 'migration_progress', 'migration_blobs'] as const;

export interface MigrationRun {
  installation: string;
  source: string;
  storage: string;
  startedAt: number;
  finishedAt: number | null;
}

const RUN_ID = 'migration';

export async function createMigrationTables(db: Kysely<MigrationTables>): Promise<void> {
  await db.schema
    .createTable('migration_run')
    .ifNotExists()
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('installation', 'text', (c) => c.notNull())
    .addColumn('source', 'text', (c) => c.notNull())
    .addColumn('storage', 'text', (c) => c.notNull())
    .addColumn('started_at', 'bigint', (c) => c.notNull())
    .addColumn('finished_at', 'bigint')
    .execute();
  await db.schema
    .createTable('migration_progress')
    .ifNotExists()
    .addColumn('step', 'text', (c) => c.primaryKey())
    .addColumn('cursor', 'bigint', (c) => c.notNull())
    .addColumn('rows', 'bigint', (c) => c.notNull())
    .execute();
  await db.schema
    .createTable('migration_blobs')
    .ifNotExists()
    .addColumn('hash', 'text', (c) => c.primaryKey())
    .addColumn('size', 'bigint', (c) => c.notNull())
    .addColumn('verified_at', 'bigint', (c) => c.notNull())
    .execute();
}

/** The migration recorded in the destination; undefined when there is none (no table yet, or no row). */
export async function readMigrationRun(db: Kysely<MigrationTables>): Promise<MigrationRun | undefined> {
  const { rows } = await sql<{ t: string | null }>`select to_regclass('migration_run')::text as t`.execute(
    db,
  );
  if (!rows[0]?.t) return undefined;
  const row = await db.selectFrom('migration_run').selectAll().where('id', '=', RUN_ID).executeTakeFirst();
  if (!row) return undefined;
  return {
    installation: row.installation,
    source: row.source,
    storage: row.storage,
    startedAt: Number(row.started_at),
    finishedAt: row.finished_at === null ? null : Number(row.finished_at),
  };
}

export async function startMigrationRun(
  db: Kysely<MigrationTables>,
  run: Omit<MigrationRun, 'finishedAt'>,
): Promise<void> {
  await db
    .insertInto('migration_run')
    .values({
      id: RUN_ID,
      installation: run.installation,
      source: run.source,
      storage: run.storage,
      started_at: run.startedAt,
      finished_at: null,
    })
    .execute();
}

export async function finishMigrationRun(db: Kysely<MigrationTables>, at: number): Promise<void> {
  await db.updateTable('migration_run').set({ finished_at: at }).where('id', '=', RUN_ID).execute();
}

/** Forgets the run and its progress (`--restart`); the caller empties the copied tables in the same transaction. */
export async function clearMigrationRun(db: Kysely<MigrationTables>): Promise<void> {
  for (const table of MIGRATION_TABLE_NAMES) await db.deleteFrom(table).execute();
}

/** Cursor and row count of every table copied so far, by table. */
export async function readTableProgress(
  db: Kysely<MigrationTables>,
): Promise<Map<string, { cursor: number; rows: number }>> {
  const rows = await db.selectFrom('migration_progress').selectAll().execute();
  return new Map(rows.map((r) => [r.step, { cursor: Number(r.cursor), rows: Number(r.rows) }]));
}

export async function writeTableProgress(
  trx: Kysely<MigrationTables>,
  step: string,
  cursor: number,
  rows: number,
): Promise<void> {
  await trx
    .insertInto('migration_progress')
    .values({ step, cursor, rows })
    .onConflict((oc) => oc.column('step').doUpdateSet({ cursor, rows }))
    .execute();
}

export async function readVerifiedBlobs(db: Kysely<MigrationTables>): Promise<Set<string>> {
  const rows = await db.selectFrom('migration_blobs').select('hash').execute();
  return new Set(rows.map((r) => r.hash));
}

export async function recordVerifiedBlob(
  db: Kysely<MigrationTables>,
  hash: string,
  size: number,
  at: number,
): Promise<void> {
  await db
    .insertInto('migration_blobs')
    .values({ hash, size, verified_at: at })
    .onConflict((oc) => oc.column('hash').doUpdateSet({ size, verified_at: at }))
    .execute();
}

/**
 * Runs `fn` while holding a session advisory lock on the destination, so that two migrates into one database
 * never interleave; the lock goes with the connection, also when the process is killed.
 */
export async function withMigrationLock<T>(
  db: Kysely<MigrationTables>,
  where: string,
  fn: () => Promise<T>,
): Promise<T> {
  return db.connection().execute(async (conn) => {
    const { rows } = await sql<{
      locked: boolean;
    }>`select pg_try_advisory_lock(hashtextextended('deepforge migrate', 0)) as locked`.execute(conn);
    if (!rows[0]?.locked) {
      throw new DatabaseError(
        `another deepforge migrate is copying into ${where} right now: let it finish (or stop it) first`,
      );
    }
    try {
      return await fn();
    } finally {
      await sql`select pg_advisory_unlock(hashtextextended('deepforge migrate', 0))`
        .execute(conn)
        .catch(() => undefined);
    }
  });
}
