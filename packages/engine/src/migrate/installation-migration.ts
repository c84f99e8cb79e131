import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { sql, type Kysely } from 'kysely';
import { DatabaseError, StorageError } from '../errors.js';
import { loadSettings, type Env, type Settings } from '../settings.js';
import type { ArtifactStorage } from '../storage/artifact.storage.js';
import { LocalBlobStorage } from '../storage/local-blob.storage.js';
import { s3Where } from '../storage/s3-location.js';
import { openArtifactStorage } from '../storage/storage.opener.js';
import { SQLITE_FILE_NAME } from '../store/database.opener.js';
import { isPostgresUrl, maskDatabaseUrl } from '../store/database-url.js';
import type { Database, KyselyStoreOptions } from '../store/kysely.database.js';
import {
  copyBlobs,
  legacyBlobs,
  planBlobs,
  type BlobCopyEvent,
  type BlobCopyResult,
  type PlannedBlob,
} from './copy-blobs.js';
import {
  RowSetDigest,
  copyTable,
  destinationColumns,
  digestDestinationTable,
  digestSourceTable,
  sourceColumns,
} from './copy-rows.js';
import { MIGRATED_TABLES, type MigratedTable } from './migrated-tables.js';
import {
  clearMigrationRun,
  createMigrationTables,
  finishMigrationRun,
  readMigrationRun,
  readTableProgress,
  readVerifiedBlobs,
  recordVerifiedBlob,
  startMigrationRun,
  withMigrationLock,
  type MigrationRun,
  type MigrationTables,
} from './migration-progress.js';
import { withMigrationSource, type MigrationSource } from './migration-source.js';

/** Rows per insert: below both dialects' parameter limits for the widest table (ADR 0011). */
export const MIGRATE_BATCH_ROWS = 500;
/** Rows per read when the tables are compared at the end. */
const VERIFY_PAGE_ROWS = 2000;

/** A storage blobs are copied into, with how messages and the migration's record name it. */
export interface MigrationStorage {
  storage: ArtifactStorage;
  /** `s3://bucket/prefix at http://endpoint`, a directory: shown, and compared when a migration resumes. */
  description: string;
}

export interface MigrateInstallationOptions {
  /** The data dir whose embedded installation is copied; DEEPFORGE_DATA_DIR or ~/.deepforge by default. */
  dataDir?: string;
  env?: Env;
  /** The PostgreSQL database to copy into (`postgres://user:password@host:5432/database`); it must exist. */
  databaseUrl: string;
  /**
   * Where the blobs go: `s3`, the bucket of the data dir's `storage.s3.*` settings (checked before anything is
   * written: a missing bucket is refused), or a storage given as it is (the caller closes it). Absent: they stay
   * where they are (the data dir's blob.dir), which the new database keeps using.
   */
  storage?: MigrationStorage | 's3';
  /** Empties the destination of an unfinished migration from this installation and starts over. */
  restart?: boolean;
  /** Rows per batch (MIGRATE_BATCH_ROWS). */
  batchRows?: number;
  /** Told as the migration goes; awaited, so a slow consumer slows the copy rather than queueing events. */
  onProgress?: (event: MigrationEvent) => void | Promise<void>;
  now?: () => number;
}

export type MigrationEvent =
  | {
      type: 'start';
      source: string;
      destination: string;
      storage: string | null;
      /** When the interrupted run this one continues began; null for a new migration. */
      resumedFrom: number | null;
    }
  | { type: 'blobs'; referenced: number; bytes: number; missing: number }
  | ({ type: 'blob' } & BlobCopyEvent)
  | {
      type: 'rows';
      table: MigratedTable;
      /** Rows of the table in the destination so far, and in the source. */
      rows: number;
      total: number;
      /** Rows this run copied. */
      copied: number;
      done: boolean;
    }
  | { type: 'verified'; tables: number; rows: number; blobs: number };

export interface MigrationReport {
  /** `already-migrated`: a finished migration from this installation was found and checked; nothing was written. */
  outcome: 'migrated' | 'already-migrated';
  /** This run continued an interrupted one. */
  resumed: boolean;
  dataDir: string;
  /** The SQLite file copied from. */
  source: string;
  /** The database copied into, password masked. */
  destination: string;
  /** Where the blobs went; null when they stay where they were (`blobsLeftIn`). */
  storage: string | null;
  /** Where the blobs stay when they were not copied: the blob directory, or the S3 storage already in use. */
  blobsLeftIn: string | null;
  /** Every copied table: its rows (the same on both sides, verified) and how many this run copied. */
  tables: { table: MigratedTable; rows: number; copied: number }[];
  blobs: BlobCopyResult & { referenced: number; bytes: number };
  /** When the migration began (its first run) and ended. */
  startedAt: number;
  finishedAt: number;
  /** This run's time. */
  elapsedMs: number;
}

/**
 * Copies an embedded installation (the data dir's SQLite database and, with `storage`, the blobs of its local blob
 * directory) into a PostgreSQL database and that storage; see docs/web-server.md, "Moving an installation".
 *
 * - The source is only read: SQLite read-only, in one read transaction (a consistent snapshot); the blob
 *   directory through reads only. A live engine on the source is refused.
 * - Resumable: blobs first (each read back from the destination and recorded), then the tables parents first,
 *   in batches committed with their progress; a run killed anywhere continues where it stopped.
 * - Verified: per table, the row count and an order-independent digest of every row, on both sides; every blob
 *   read back and hashed with the scheme of its id.
 * - Refused, before anything is written: a destination holding other data or another installation's migration.
 *   A finished migration is never written to again: running it again checks it and reports `already-migrated`.
 */
export async function migrateInstallation(options: MigrateInstallationOptions): Promise<MigrationReport> {
  const now = options.now ?? Date.now;
  const began = now();
  const env = options.env ?? process.env;
  const settings = await loadSettings({ dataDir: options.dataDir, env });
  const url = options.databaseUrl;
  if (!isPostgresUrl(url)) {
    throw new DatabaseError(
      `migrate copies into PostgreSQL: expected a postgres://user:password@host:5432/database URL, not ${maskDatabaseUrl(url)}`,
    );
  }
  const file = join(settings.dataDir, SQLITE_FILE_NAME);
  const blobsInS3 = settings.values['storage.backend'] === 's3';
  if (blobsInS3 && options.storage !== undefined) {
    throw new StorageError(
      `the blobs of ${settings.dataDir} are in S3 already (storage.backend is s3, ${describeS3(settings)}): ` +
        'migrate without --storage; the new database uses the same bucket',
    );
  }
  const blobDir = settings.values['blob.dir'];
  // Never init()ed: only its reads are used (see BlobSource).
  const sourceBlobs = new LocalBlobStorage(blobDir);
  const emit = async (event: MigrationEvent): Promise<void> => {
    await options.onProgress?.(event);
  };

  return withMigrationSource(file, now, async (source) => {
    const referenced = await referencedBlobs(source.db);
    // Blobs in S3 already are not looked for in blob.dir (they stay where they are).
    const planned = blobsInS3
      ? [...referenced.keys()].sort().map((hash) => ({ hash, size: referenced.get(hash) }))
      : await planBlobs(sourceBlobs, referenced.keys());
    const legacy = options.storage ? legacyBlobs(planned) : [];
    if (legacy.length > 0) {
      throw new StorageError(
        `${legacy.length} blob(s) of ${blobDir} have ids from before content over 8 MiB was named by its block ` +
          `tree (docs/adr/0006): ${legacy.map((b) => b.hash).join(', ')}. A storage stores content under the id ` +
          'of its bytes (sha256t:), so these cannot be copied under their names: migrate without --storage (the ' +
          'blobs stay in blob.dir), or import those artifacts again (they get sha256t: ids) and delete the old ones',
      );
    }
    const target = await openTargetStorage(options.storage, settings, env);
    try {
      // Loaded when used: PostgreSQL's driver is not needed by an engine on SQLite.
      const { openPostgresDatabase } = await import('../store/postgres.store.js');
      const destination = await openPostgresDatabase(url);
      const where = `the PostgreSQL database ${maskDatabaseUrl(url)}`;
      const progress = destination.db as unknown as Kysely<MigrationTables>;
      try {
        return await withMigrationLock(progress, where, async () => {
          const storageName = target?.description ?? '';
          let run = await readMigrationRun(progress);
          await refuseOtherInstallations(destination.db, run, source, where);
          await createMigrationTables(progress);

          const context: RunContext = {
            options,
            target,
            now,
            began,
            source,
            sourceBlobs,
            destination,
            progress,
            where,
            planned,
            referenced,
            dataDir: settings.dataDir,
            blobsLeftIn: target ? null : blobsInS3 ? describeS3(settings) : blobDir,
            emit,
          };
          if (run?.finishedAt != null) {
            if (options.restart) {
              throw new DatabaseError(
                `the migration into ${where} finished at ${iso(run.finishedAt)}; the database may be in use since, ` +
                  'so --restart does not empty it. To copy the installation again, drop and create the database, then migrate',
              );
            }
            refuseOtherStorage(run, storageName, where);
            return await checkFinished(context, run);
          }
          if (run && options.restart) {
            await destination.transaction(async (trx) => {
              for (const { table } of [...MIGRATED_TABLES].reverse()) await trx.deleteFrom(table).execute();
              await clearMigrationRun(trx as unknown as Kysely<MigrationTables>);
            });
            run = undefined;
          }
          if (run) refuseOtherStorage(run, storageName, where);
          const resumedFrom = run?.startedAt ?? null;
          if (!run) {
            run = {
              installation: source.installationId,
              source: file,
              storage: storageName,
              startedAt: began,
              finishedAt: null,
            };
            await startMigrationRun(progress, run);
          }
          await emit({
            type: 'start',
            source: file,
            destination: maskDatabaseUrl(url),
            storage: target?.description ?? null,
            resumedFrom,
          });
          return await copyEverything(context, run.startedAt, resumedFrom !== null);
        });
      } finally {
        await destination.close();
      }
    } finally {
      await target?.close();
    }
  });
}

/** `s3://bucket/prefix at <endpoint>`: the S3 storage the settings name. */
function describeS3(settings: Settings): string {
  const v = settings.values;
  const prefix = v['storage.s3.prefix'] ? `/${v['storage.s3.prefix']}` : '';
  return `s3://${v['storage.s3.bucket'] ?? '?'}${prefix} at ${s3Where({
    bucket: v['storage.s3.bucket'] ?? '?',
    endpoint: v['storage.s3.endpoint'],
    region: v['storage.s3.region'],
  })}`;
}

interface TargetStorage extends MigrationStorage {
  close(): Promise<void>;
}

/**
 * The storage blobs are copied into. `s3`: the bucket of the storage.s3.* settings, opened as the engine would
 * (a missing bucket or refused credentials fail here, before the destination is touched), with its local scratch
 * space in a temp dir of its own rather than in the source's blob.dir.
 */
async function openTargetStorage(
  storage: MigrationStorage | 's3' | undefined,
  settings: Settings,
  env: Env,
): Promise<TargetStorage | undefined> {
  if (storage === undefined) return undefined;
  if (storage !== 's3') return { ...storage, close: () => Promise.resolve() };
  const scratch = await mkdtemp(join(tmpdir(), 'deepforge-migrate-'));
  const removeScratch = (): Promise<void> => rm(scratch, { recursive: true, force: true });
  try {
    const opened = await openArtifactStorage(
      { values: { ...settings.values, 'storage.backend': 's3', 'blob.dir': scratch } },
      { env },
    );
    return {
      storage: opened,
      description: describeS3(settings),
      close: async () => {
        await opened.close?.();
        await removeScratch();
      },
    };
  } catch (err) {
    await removeScratch();
    throw err;
  }
}

interface RunContext {
  options: MigrateInstallationOptions;
  /** Where blobs are copied to; undefined when they stay. */
  target: MigrationStorage | undefined;
  now: () => number;
  began: number;
  source: MigrationSource;
  sourceBlobs: LocalBlobStorage;
  destination: KyselyStoreOptions;
  progress: Kysely<MigrationTables>;
  where: string;
  planned: PlannedBlob[];
  referenced: Map<string, number>;
  dataDir: string;
  blobsLeftIn: string | null;
  emit(event: MigrationEvent): Promise<void>;
}

async function copyEverything(c: RunContext, startedAt: number, resumed: boolean): Promise<MigrationReport> {
  const { options, source, destination, progress, planned } = c;
  const bytes = [...c.referenced.values()].reduce((a, b) => a + b, 0);
  const missing = planned.filter((b) => b.size === undefined).length;
  await c.emit({ type: 'blobs', referenced: planned.length, bytes, missing });

  // Blobs before rows: an engine opened on the destination, even on a half-done one, never finds a record whose
  // blob is not there.
  let blobs: BlobCopyResult;
  if (c.target) {
    blobs = await copyBlobs({
      source: c.sourceBlobs,
      destination: c.target.storage,
      destinationName: c.target.description,
      planned,
      verifiedBefore: await readVerifiedBlobs(progress),
      record: (hash, size) => recordVerifiedBlob(progress, hash, size, c.now()),
      onBlob: (event) => c.emit({ type: 'blob', ...event }),
    });
  } else {
    blobs = blobsLeftInPlace(planned);
  }

  const done = await readTableProgress(progress);
  const tables: MigrationReport['tables'] = [];
  for (const spec of MIGRATED_TABLES) {
    const total = await countRows(source.db, spec.table);
    const start = done.get(spec.table) ?? { cursor: 0, rows: 0 };
    const { rows, copied } = await copyTable({
      source: source.db,
      destination,
      spec,
      start,
      batchRows: options.batchRows ?? MIGRATE_BATCH_ROWS,
      where: c.where,
      onBatch: (rows, copied) =>
        c.emit({ type: 'rows', table: spec.table, rows, total, copied, done: false }),
    });
    await c.emit({ type: 'rows', table: spec.table, rows, total, copied, done: true });
    tables.push({ table: spec.table, rows: total, copied });
  }

  const problems = await compareTables(c);
  if (problems.length > 0) {
    throw new DatabaseError(
      `the copy in ${c.where} does not match ${source.file}: ${problems.join('; ')}. The source changed while ` +
        'it was being migrated (nothing may use it until the migration has finished): run migrate again with ' +
        '--restart to copy it anew',
    );
  }
  if (c.target) {
    const verified = await readVerifiedBlobs(progress);
    const unverified = planned.filter(
      (b) => b.size !== undefined && !blobs.corrupt.includes(b.hash) && !verified.has(b.hash),
    );
    if (unverified.length > 0) {
      throw new StorageError(
        `${unverified.length} blob(s) were not verified in ${c.target.description}: ` +
          `${unverified.map((b) => b.hash).join(', ')}; run migrate again`,
      );
    }
  }
  const rowCount = tables.reduce((a, t) => a + t.rows, 0);
  await c.emit({
    type: 'verified',
    tables: tables.length,
    rows: rowCount,
    blobs: c.target ? blobs.copied + blobs.present + blobs.verifiedBefore : 0,
  });
  const finishedAt = c.now();
  await finishMigrationRun(progress, finishedAt);
  return report(c, {
    outcome: 'migrated',
    resumed,
    tables,
    blobs: { ...blobs, referenced: planned.length, bytes },
    startedAt,
    finishedAt,
  });
}

/** Running a finished migration again: nothing is written; the destination is checked against the source. */
async function checkFinished(c: RunContext, run: MigrationRun): Promise<MigrationReport> {
  const problems = await compareTables(c);
  if (problems.length > 0) {
    throw new DatabaseError(
      `${c.where} holds the migration of ${c.source.file} that finished at ${iso(run.finishedAt!)}, but no longer ` +
        `matches it: ${problems.join('; ')}. One of them changed since; nothing was written. To copy the ` +
        'installation again, drop and create the database, then migrate',
    );
  }
  const tables: MigrationReport['tables'] = [];
  for (const { table } of MIGRATED_TABLES) {
    tables.push({ table, rows: await countRows(c.source.db, table), copied: 0 });
  }
  const bytes = [...c.referenced.values()].reduce((a, b) => a + b, 0);
  const blobs = blobsLeftInPlace(c.planned);
  if (c.target) {
    const verified = await readVerifiedBlobs(c.progress);
    blobs.verifiedBefore = c.planned.filter((b) => verified.has(b.hash)).length;
    // Found corrupt in the source by the run that copied the others.
    blobs.corrupt = c.planned.filter((b) => b.size !== undefined && !verified.has(b.hash)).map((b) => b.hash);
  }
  return report(c, {
    outcome: 'already-migrated',
    resumed: false,
    tables,
    blobs: { ...blobs, referenced: c.planned.length, bytes },
    startedAt: run.startedAt,
    finishedAt: run.finishedAt!,
  });
}

function report(
  c: RunContext,
  r: Pick<MigrationReport, 'outcome' | 'resumed' | 'tables' | 'blobs' | 'startedAt' | 'finishedAt'>,
): MigrationReport {
  return {
    ...r,
    dataDir: c.dataDir,
    source: c.source.file,
    destination: maskDatabaseUrl(c.options.databaseUrl),
    storage: c.target?.description ?? null,
    blobsLeftIn: c.blobsLeftIn,
    elapsedMs: c.now() - c.began,
  };
}

function blobsLeftInPlace(planned: readonly PlannedBlob[]): BlobCopyResult {
  return {
    copied: 0,
    present: 0,
    verifiedBefore: 0,
    bytesCopied: 0,
    missing: planned.filter((b) => b.size === undefined).map((b) => b.hash),
    corrupt: [],
  };
}

/**
 * Every copied table compared on both sides: the same columns, the same number of rows, the same digest of their
 * contents. Returns what differs, one phrase per table.
 */
async function compareTables(c: RunContext): Promise<string[]> {
  const dest = c.destination.db;
  const columnsOf = await destinationColumns(dest);
  const problems: string[] = [];
  for (const { table } of MIGRATED_TABLES) {
    const d = columnsOf.get(table);
    const s = await sourceColumns(c.source.db, table);
    if (!d || d.columns.join(',') !== s.join(',')) {
      problems.push(
        `${table} has columns ${s.join(', ')} in the source, ${d?.columns.join(', ') ?? 'none'} here`,
      );
      continue;
    }
    const fromSource = new RowSetDigest(d.columns, d.integers);
    const fromDestination = new RowSetDigest(d.columns, d.integers);
    await digestSourceTable(c.source.db, table, fromSource, VERIFY_PAGE_ROWS);
    await digestDestinationTable(dest, table, fromDestination, VERIFY_PAGE_ROWS);
    if (fromSource.rows !== fromDestination.rows) {
      problems.push(
        `${table} has ${fromSource.rows} rows in the source, ${fromDestination.rows} in the copy`,
      );
    } else if (fromSource.value !== fromDestination.value) {
      problems.push(`${table} has ${fromSource.rows} rows on both sides, but not the same contents`);
    }
  }
  return problems;
}

/**
 * Refuses a destination that holds anything but this installation's migration: another installation's migration,
 * or DeepForge data that no migration put there (a server already ran on it). Nothing has been written yet.
 */
async function refuseOtherInstallations(
  db: Kysely<Database>,
  run: MigrationRun | undefined,
  source: MigrationSource,
  where: string,
): Promise<void> {
  if (run && run.installation !== source.installationId) {
    throw new DatabaseError(
      `${where} already holds the migration of another installation (${run.source}, begun ${iso(run.startedAt)}), ` +
        `not of ${source.file}: migrate into an empty database (createdb …) or point --database at another one`,
    );
  }
  if (run) return;
  const held: string[] = [];
  for (const { table } of MIGRATED_TABLES) {
    if (
      await db
        .selectFrom(table)
        .select(sql<number>`1`.as('one'))
        .limit(1)
        .executeTakeFirst()
    )
      held.push(table);
  }
  if (held.length > 0) {
    throw new DatabaseError(
      `${where} already holds a DeepForge installation (rows in ${held.join(', ')}) that was not migrated from ` +
        `${source.file}: migrate into an empty database (createdb …) or point --database at another one`,
    );
  }
}

function refuseOtherStorage(run: MigrationRun, storage: string, where: string): void {
  if (run.storage === storage) return;
  const was = run.storage ? `copies the blobs to ${run.storage}` : 'leaves the blobs in the data dir';
  const now = storage ? `copy them to ${storage}` : 'leave them in the data dir';
  throw new DatabaseError(
    `the migration into ${where} ${was}; this run would ${now}. Run it with the same --storage as before` +
      (run.finishedAt === null ? ', or start over with --restart' : ''),
  );
}

/** Every blob a row names (artifacts and job outputs), with the size recorded for it. */
async function referencedBlobs(db: Kysely<Database>): Promise<Map<string, number>> {
  const { rows } = await sql<{
    hash: string;
    size: number;
  }>`select hash, max(size) as size from (select hash, size from artifacts union all select hash, size from job_outputs) group by hash`.execute(
    db,
  );
  return new Map(rows.map((r) => [r.hash, Number(r.size)]));
}

async function countRows(db: Kysely<Database>, table: MigratedTable): Promise<number> {
  const row = await db
    .selectFrom(table)
    .select((eb) => eb.fn.countAll<number>().as('n'))
    .executeTakeFirstOrThrow();
  return Number(row.n);
}

function iso(ms: number): string {
  return new Date(ms).toISOString();
}
