import type { Kysely, Migration, MigrationProvider } from 'kysely';
import { Migrator, PostgresAdapter, sql } from 'kysely';
import { DatabaseError } from '../errors.js';
import type { Database } from './kysely.database.js';
import { BLOCK_POINTS, blockToRow, newBlock, pushPoint } from './metric-block.codec.js';
import { writeMetricRows0005 } from './metric-rows-0005.writer.js';

/**
 * The schema, as versioned migrations in code (no migration files to ship next to dist/). Only Kysely's schema
 * builder and portable column types here, so the same migrations build the SQLite and the PostgreSQL schema:
 * `bigint` for times (ms) and sizes, `double precision` for metric values, `text` for JSON.
 *
 * Never edit a migration that has shipped; add the next one.
 */
const MIGRATIONS: Record<string, Migration> = {
  '0001_initial': {
    async up(db: Kysely<unknown>): Promise<void> {
      await db.schema
        .createTable('executions')
        .addColumn('id', 'text', (c) => c.primaryKey())
        .addColumn('name', 'text', (c) => c.notNull())
        .addColumn('project', 'text', (c) => c.notNull())
        .addColumn('pipeline', 'text', (c) => c.notNull())
        .addColumn('status', 'text', (c) => c.notNull())
        .addColumn('created_at', 'bigint', (c) => c.notNull())
        .addColumn('started_at', 'bigint')
        .addColumn('ended_at', 'bigint')
        .addColumn('options', 'text', (c) => c.notNull())
        .addColumn('snapshot', 'text', (c) => c.notNull())
        .addColumn('runner_id', 'text')
        .execute();
      await db.schema
        .createIndex('executions_created')
        .on('executions')
        .columns(['created_at', 'id'])
        .execute();
      await db.schema.createIndex('executions_status').on('executions').column('status').execute();

      await db.schema
        .createTable('jobs')
        .addColumn('id', 'text', (c) => c.primaryKey())
        .addColumn('execution_id', 'text', (c) => c.notNull().references('executions.id').onDelete('cascade'))
        .addColumn('position', 'integer', (c) => c.notNull())
        .addColumn('node', 'text', (c) => c.notNull())
        .addColumn('operation', 'text', (c) => c.notNull())
        .addColumn('status', 'text', (c) => c.notNull())
        .addColumn('attempt', 'integer', (c) => c.notNull().defaultTo(0))
        .addColumn('started_at', 'bigint')
        .addColumn('ended_at', 'bigint')
        .addColumn('exit_code', 'integer')
        .addColumn('error', 'text')
        .addColumn('pid', 'integer')
        .addColumn('pgid', 'integer')
        .addColumn('runner_id', 'text')
        .addColumn('cache_key', 'text')
        .addColumn('cached_from', 'text')
        .addUniqueConstraint('jobs_execution_node', ['execution_id', 'node'])
        .execute();
      await db.schema.createIndex('jobs_status').on('jobs').column('status').execute();
      await db.schema.createIndex('jobs_cache_key').on('jobs').column('cache_key').execute();

      await db.schema
        .createTable('job_outputs')
        .addColumn('job_id', 'text', (c) => c.notNull().references('jobs.id').onDelete('cascade'))
        .addColumn('name', 'text', (c) => c.notNull())
        .addColumn('hash', 'text', (c) => c.notNull())
        .addColumn('size', 'bigint', (c) => c.notNull())
        .addColumn('serializer', 'text', (c) => c.notNull())
        .addColumn('py_type', 'text', (c) => c.notNull())
        .addPrimaryKeyConstraint('job_outputs_pk', ['job_id', 'name'])
        .execute();
      await db.schema.createIndex('job_outputs_hash').on('job_outputs').column('hash').execute();

      // No foreign keys to executions/jobs: an artifact outlives the execution that made it.
      await db.schema
        .createTable('artifacts')
        .addColumn('id', 'text', (c) => c.primaryKey())
        .addColumn('name', 'text', (c) => c.notNull())
        .addColumn('hash', 'text', (c) => c.notNull())
        .addColumn('size', 'bigint', (c) => c.notNull())
        .addColumn('serializer', 'text', (c) => c.notNull())
        .addColumn('py_type', 'text')
        .addColumn('created_at', 'bigint', (c) => c.notNull())
        .addColumn('provenance', 'text', (c) => c.notNull())
        .addColumn('execution_id', 'text')
        .addColumn('job_id', 'text')
        .execute();
      await db.schema.createIndex('artifacts_name').on('artifacts').columns(['name', 'created_at']).execute();
      await db.schema.createIndex('artifacts_hash').on('artifacts').column('hash').execute();

      await db.schema
        .createTable('metrics')
        .addColumn('job_id', 'text', (c) => c.notNull().references('jobs.id').onDelete('cascade'))
        .addColumn('step', 'double precision')
        .addColumn('name', 'text', (c) => c.notNull())
        .addColumn('value', 'double precision', (c) => c.notNull())
        .addColumn('t', 'bigint', (c) => c.notNull())
        .execute();
      await db.schema.createIndex('metrics_job').on('metrics').columns(['job_id', 'name']).execute();

      await db.schema
        .createTable('plots')
        .addColumn('job_id', 'text', (c) => c.notNull().references('jobs.id').onDelete('cascade'))
        .addColumn('figure', 'integer', (c) => c.notNull())
        .addColumn('seq', 'integer', (c) => c.notNull())
        .addColumn('payload', 'text', (c) => c.notNull())
        .addColumn('t', 'bigint', (c) => c.notNull())
        .addPrimaryKeyConstraint('plots_pk', ['job_id', 'figure'])
        .execute();

      await db.schema
        .createTable('progress')
        .addColumn('job_id', 'text', (c) => c.notNull().references('jobs.id').onDelete('cascade'))
        .addColumn('bar', 'text', (c) => c.notNull())
        .addColumn('payload', 'text', (c) => c.notNull())
        .addColumn('t', 'bigint', (c) => c.notNull())
        .addPrimaryKeyConstraint('progress_pk', ['job_id', 'bar'])
        .execute();

      await db.schema
        .createTable('runners')
        .addColumn('id', 'text', (c) => c.primaryKey())
        .addColumn('pid', 'integer', (c) => c.notNull())
        .addColumn('host', 'text', (c) => c.notNull())
        .addColumn('started_at', 'bigint', (c) => c.notNull())
        .addColumn('heartbeat_at', 'bigint', (c) => c.notNull())
        .execute();
    },
  },
  /**
   * Projects of the web server scope executions and artifacts (`project_id`; '' is the unnamed scope the CLI
   * uses), project documents persist as Yjs updates, and the executions list pages, filters and sorts on the
   * database (indexes for each sort key within a project).
   */
  '0002_projects_documents': {
    async up(db: Kysely<unknown>): Promise<void> {
      await db.schema
        .alterTable('executions')
        .addColumn('project_id', 'text', (c) => c.notNull().defaultTo(''))
        .execute();
      await db.schema
        .alterTable('artifacts')
        .addColumn('project_id', 'text', (c) => c.notNull().defaultTo(''))
        .execute();
      for (const [suffix, columns] of [
        ['created', ['project_id', 'created_at', 'id']],
        ['started', ['project_id', 'started_at', 'id']],
        ['name', ['project_id', 'name', 'id']],
        ['status', ['project_id', 'status', 'created_at']],
        ['pipeline', ['project_id', 'pipeline', 'created_at']],
      ] as const) {
        await db.schema
          .createIndex(`executions_project_${suffix}`)
          .on('executions')
          .columns([...columns])
          .execute();
      }
      await db.schema
        .createIndex('artifacts_project_name')
        .on('artifacts')
        .columns(['project_id', 'name', 'created_at'])
        .execute();
      await db.schema
        .createIndex('artifacts_project_created')
        .on('artifacts')
        .columns(['project_id', 'created_at'])
        .execute();

      await db.schema
        .createTable('projects')
        .addColumn('id', 'text', (c) => c.primaryKey())
        .addColumn('name', 'text', (c) => c.notNull())
        .addColumn('description', 'text')
        .addColumn('created_at', 'bigint', (c) => c.notNull())
        .addColumn('updated_at', 'bigint', (c) => c.notNull())
        .execute();

      // Updates are base64 text: the same column type on SQLite and PostgreSQL, and a few per document after
      // compaction, so the size overhead does not matter.
      await db.schema
        .createTable('document_updates')
        .addColumn('document', 'text', (c) => c.notNull())
        .addColumn('seq', 'bigint', (c) => c.notNull())
        .addColumn('update_data', 'text', (c) => c.notNull())
        .addColumn('created_at', 'bigint', (c) => c.notNull())
        .addPrimaryKeyConstraint('document_updates_pk', ['document', 'seq'])
        .execute();
    },
  },
  /**
   * Accounts (ADR 0009): users with argon2id password hashes, sessions and access tokens stored as sha256 of the
   * secret (never the secret), project members with roles, the audit log, and project secrets encrypted with a
   * key kept outside the database.
   */
  '0003_accounts': {
    async up(db: Kysely<unknown>): Promise<void> {
      await db.schema
        .createTable('users')
        .addColumn('id', 'text', (c) => c.primaryKey())
        .addColumn('name', 'text', (c) => c.notNull().unique())
        .addColumn('password_hash', 'text', (c) => c.notNull())
        .addColumn('admin', 'integer', (c) => c.notNull().defaultTo(0))
        .addColumn('created_at', 'bigint', (c) => c.notNull())
        .addColumn('password_changed_at', 'bigint', (c) => c.notNull())
        .execute();
      await db.schema
        .createTable('sessions')
        .addColumn('id_hash', 'text', (c) => c.primaryKey())
        .addColumn('user_id', 'text', (c) => c.notNull().references('users.id').onDelete('cascade'))
        .addColumn('created_at', 'bigint', (c) => c.notNull())
        .addColumn('last_seen_at', 'bigint', (c) => c.notNull())
        .addColumn('expires_at', 'bigint', (c) => c.notNull())
        .addColumn('revoked_at', 'bigint')
        .addColumn('user_agent', 'text')
        .execute();
      await db.schema.createIndex('sessions_user').on('sessions').column('user_id').execute();
      await db.schema
        .createTable('access_tokens')
        .addColumn('id', 'text', (c) => c.primaryKey())
        .addColumn('user_id', 'text', (c) => c.notNull().references('users.id').onDelete('cascade'))
        .addColumn('name', 'text', (c) => c.notNull())
        .addColumn('token_hash', 'text', (c) => c.notNull().unique())
        .addColumn('prefix', 'text', (c) => c.notNull())
        .addColumn('created_at', 'bigint', (c) => c.notNull())
        .addColumn('expires_at', 'bigint')
        .addColumn('last_used_at', 'bigint')
        .addColumn('revoked_at', 'bigint')
        .execute();
      await db.schema.createIndex('access_tokens_user').on('access_tokens').column('user_id').execute();
      await db.schema
        .createTable('project_members')
        .addColumn('project_id', 'text', (c) => c.notNull())
        .addColumn('user_id', 'text', (c) => c.notNull().references('users.id').onDelete('cascade'))
        .addColumn('role', 'text', (c) => c.notNull())
        .addColumn('added_at', 'bigint', (c) => c.notNull())
        .addPrimaryKeyConstraint('project_members_pk', ['project_id', 'user_id'])
        .execute();
      await db.schema.createIndex('project_members_user').on('project_members').column('user_id').execute();
      await db.schema
        .createTable('audit_log')
        .addColumn('id', 'text', (c) => c.primaryKey())
        .addColumn('at', 'bigint', (c) => c.notNull())
        .addColumn('seq', 'bigint', (c) => c.notNull())
        .addColumn('actor_id', 'text')
        .addColumn('actor_name', 'text')
        .addColumn('action', 'text', (c) => c.notNull())
        .addColumn('target', 'text')
        .addColumn('detail', 'text')
        .addColumn('ip', 'text')
        .execute();
      await db.schema.createIndex('audit_log_order').on('audit_log').columns(['at', 'seq']).execute();
      await db.schema
        .createTable('project_secrets')
        .addColumn('project_id', 'text', (c) => c.notNull())
        .addColumn('name', 'text', (c) => c.notNull())
        .addColumn('ciphertext', 'text', (c) => c.notNull())
        .addColumn('updated_at', 'bigint', (c) => c.notNull())
        .addColumn('updated_by', 'text')
        .addPrimaryKeyConstraint('project_secrets_pk', ['project_id', 'name'])
        .execute();
    },
  },
  /**
   * Remote workers (docs/adr/0015): worker tokens (sha256 of the secret, never the secret) and the leases of jobs
   * that run on workers. No foreign key from job_leases to jobs: a lease is removed by the engine that made it,
   * and a job deleted with its execution leaves nothing a worker could act on (its lease no longer matches).
   */
  '0004_workers': {
    async up(db: Kysely<unknown>): Promise<void> {
      await db.schema
        .createTable('worker_tokens')
        .addColumn('id', 'text', (c) => c.primaryKey())
        .addColumn('name', 'text', (c) => c.notNull())
        .addColumn('token_hash', 'text', (c) => c.notNull().unique())
        .addColumn('prefix', 'text', (c) => c.notNull())
        .addColumn('created_at', 'bigint', (c) => c.notNull())
        .addColumn('created_by', 'text', (c) => c.notNull())
        .addColumn('last_used_at', 'bigint')
        .addColumn('revoked_at', 'bigint')
        .execute();
      await db.schema
        .createTable('job_leases')
        .addColumn('job_id', 'text', (c) => c.primaryKey())
        .addColumn('epoch', 'integer', (c) => c.notNull())
        .addColumn('state', 'text', (c) => c.notNull())
        .addColumn('labels', 'text', (c) => c.notNull())
        .addColumn('queued_at', 'bigint', (c) => c.notNull())
        .addColumn('worker_id', 'text')
        .addColumn('token_id', 'text')
        .addColumn('leased_at', 'bigint')
        .addColumn('expires_at', 'bigint')
        .execute();
      await db.schema
        .createIndex('job_leases_queue')
        .on('job_leases')
        .columns(['state', 'queued_at', 'job_id'])
        .execute();
      await db.schema
        .createIndex('job_leases_expiry')
        .on('job_leases')
        .columns(['state', 'expires_at'])
        .execute();
    },
  },
  /**
   * Metric series drawn at once (ADR 0014): `metrics` becomes one row per point keyed by series · 2^28 + seq with its x,
   * beside `metric_series` (one per job and name) and the min-max pyramid `metric_buckets`. Rows stored before are
   * converted series by series in the order they were logged (by time, then as stored); a value they hold without a
   * step gets the x it was always drawn at (the previous x + 1).
   */
  '0005_metric_series': {
    async up(db: Kysely<unknown>): Promise<void> {
      const postgres = db.getExecutor().adapter instanceof PostgresAdapter;
      await db.schema.alterTable('metrics').renameTo('metrics_0004').execute();
      await db.schema
        .createTable('metric_series')
        .addColumn('id', 'integer', (c) => c.primaryKey())
        .addColumn('job_id', 'text', (c) => c.notNull().references('jobs.id').onDelete('cascade'))
        .addColumn('name', 'text', (c) => c.notNull())
        .addColumn('n', 'bigint', (c) => c.notNull())
        .addColumn('min_x', 'double precision')
        .addColumn('max_x', 'double precision')
        .addColumn('last_x', 'double precision')
        .addColumn('last_y', 'double precision')
        .addColumn('sorted', 'integer', (c) => c.notNull())
        .addUniqueConstraint('metric_series_job_name', ['job_id', 'name'])
        .execute();
      await db.schema
        .createTable('metrics')
        // SQLite: `integer primary key` is the rowid itself (no second b-tree for the key).
        .addColumn('id', postgres ? 'bigint' : 'integer', (c) => c.primaryKey())
        .addColumn('series_id', 'integer', (c) =>
          c.notNull().references('metric_series.id').onDelete('cascade'),
        )
        .addColumn('x', 'double precision', (c) => c.notNull())
        .addColumn('step', 'double precision')
        .addColumn('value', 'double precision', (c) => c.notNull())
        .addColumn('t', 'bigint', (c) => c.notNull())
        .execute();
      // (series, x, id): a step range's first and last points are one probe each, ties of x in logging order
      // (SQLite keeps the rowid in every index entry: naming it again would store it twice).
      await db.schema
        .createIndex('metrics_series_x')
        .on('metrics')
        .columns(postgres ? ['series_id', 'x', 'id'] : ['series_id', 'x'])
        .execute();
      await db.schema
        .createTable('metric_buckets')
        .addColumn('series_id', 'integer', (c) =>
          c.notNull().references('metric_series.id').onDelete('cascade'),
        )
        .addColumn('level', 'integer', (c) => c.notNull())
        .addColumn('bucket', 'integer', (c) => c.notNull())
        .addColumn('n', 'bigint', (c) => c.notNull())
        .addColumn('first_x', 'double precision', (c) => c.notNull())
        .addColumn('first_y', 'double precision', (c) => c.notNull())
        .addColumn('last_x', 'double precision', (c) => c.notNull())
        .addColumn('last_y', 'double precision', (c) => c.notNull())
        .addColumn('min_y', 'double precision', (c) => c.notNull())
        .addColumn('max_y', 'double precision', (c) => c.notNull())
        .addPrimaryKeyConstraint('metric_buckets_pk', ['series_id', 'level', 'bucket'])
        .execute();

      const typed = db as unknown as Kysely<Database>;
      // Rows as stored: PostgreSQL's ctid and SQLite's rowid are the order they were written in.
      const stored = postgres ? sql.raw('ctid') : sql.raw('rowid');
      const jobs = await sql<{
        job_id: string;
      }>`select distinct job_id from metrics_0004 order by job_id`.execute(db);
      for (const { job_id } of jobs.rows) {
        const old = await sql<{ name: string; step: number | null; value: number; t: number | string }>`
          select name, step, value, t from metrics_0004 where job_id = ${job_id} order by name, t, ${stored}`.execute(
          db,
        );
        await writeMetricRows0005(
          typed,
          old.rows
            .filter((r) => Number.isFinite(r.value) && (r.step === null || Number.isFinite(r.step)))
            .map((r) => ({ jobId: job_id, name: r.name, step: r.step, value: r.value, t: Number(r.t) })),
          () => Promise.resolve(),
        );
      }
      await db.schema.dropTable('metrics_0004').execute();
    },
  },
  /**
   * Metric points packed into blocks (ADR 0014): `metrics` (a row per point, ~64 B a point in SQLite, ~150 B in
   * PostgreSQL) becomes `metric_blocks`, 1,024 consecutive points of a series per row as float64 arrays, and the
   * pyramid's level 1 (a row per 8 points) goes: views that fine decode the blocks instead. Every point is carried
   * over as it was stored (x, step or none, value, time), checked seq by seq and counted against the series and the
   * table; on SQLite inside one transaction, so a failure leaves the 0005 schema and its rows as they were.
   */
  '0006_metric_blocks': {
    async up(db: Kysely<unknown>): Promise<void> {
      const postgres = db.getExecutor().adapter instanceof PostgresAdapter;
      const run = async (trx: Kysely<unknown>): Promise<void> => {
        await trx.schema
          .createTable('metric_blocks')
          .addColumn('series_id', 'integer', (c) =>
            c.notNull().references('metric_series.id').onDelete('cascade'),
          )
          .addColumn('block', 'integer', (c) => c.notNull())
          .addColumn('n', 'integer', (c) => c.notNull())
          .addColumn('min_x', 'double precision', (c) => c.notNull())
          .addColumn('max_x', 'double precision', (c) => c.notNull())
          // The blobs last: SQLite reads a row's columns in order, so a query of the others stops before them.
          .addColumn('no_step', postgres ? 'bytea' : 'blob')
          .addColumn('points', postgres ? 'bytea' : 'blob', (c) => c.notNull())
          .addPrimaryKeyConstraint('metric_blocks_pk', ['series_id', 'block'])
          .execute();
        // A sorted series' first block reaching x (max_x ≥ x) and last block starting before it (min_x ≤ x).
        await trx.schema
          .createIndex('metric_blocks_max_x')
          .on('metric_blocks')
          .columns(['series_id', 'max_x', 'block'])
          .execute();
        await trx.schema
          .createIndex('metric_blocks_min_x')
          .on('metric_blocks')
          .columns(['series_id', 'min_x', 'block'])
          .execute();
        await packMetricRows(trx as unknown as Kysely<Database>);
        await sql`delete from metric_buckets where level = 1`.execute(trx);
        await trx.schema.dropTable('metrics').execute();
      };
      // PostgreSQL runs each migration in a transaction already; SQLite's migrator does not.
      if (postgres) await run(db);
      else await db.transaction().execute(run);
    },
  },
  /**
   * Per-job resource usage (issue 10): the CPU time and peak resident memory the job's process reported as it
   * ended, and its peak GPU memory when it used CUDA. Nullable: jobs stored before, cached jobs and jobs whose
   * process was killed have none.
   */
  '0007_job_usage': {
    async up(db: Kysely<unknown>): Promise<void> {
      await db.schema.alterTable('jobs').addColumn('cpu_seconds', 'double precision').execute();
      await db.schema.alterTable('jobs').addColumn('peak_rss_bytes', 'bigint').execute();
      await db.schema.alterTable('jobs').addColumn('peak_gpu_bytes', 'bigint').execute();
    },
  },
  /**
   * Project history (issue 12, docs/adr/0020): the version (git commit id of the project's history) an execution
   * started from, and the project and version a fork was made from (JSON `{projectId, version}`). Nullable: rows
   * stored before have neither.
   */
  '0008_history': {
    async up(db: Kysely<unknown>): Promise<void> {
      await db.schema.alterTable('executions').addColumn('version', 'text').execute();
      await db.schema.alterTable('projects').addColumn('forked_from', 'text').execute();
    },
  },
  /**
   * One data scope (issue 13, docs/adr/0028): a project registered by `deepforge run` of a folder records the
   * folder's real path, and one folder is one project (a unique index; NULL, a project of the web IDE, repeats).
   */
  '0009_folder_projects': {
    async up(db: Kysely<unknown>): Promise<void> {
      await db.schema.alterTable('projects').addColumn('folder', 'text').execute();
      await db.schema.createIndex('projects_folder').on('projects').column('folder').unique().execute();
    },
  },
};

/** Blocks read and written at a time by migration 0006. */
const PACK_BLOCKS_PER_READ = 64;

/**
 * Migration 0006: every series' rows of `metrics` (id = series · 2^28 + seq) into blocks, in seq order. Refuses,
 * naming the series, a gap in the seqs or a row whose x is not its step (which the blocks could not keep), and
 * checks that every row of the table was packed.
 */
async function packMetricRows(db: Kysely<Database>): Promise<void> {
  const rowSeries = 2 ** 28;
  const series = await sql<{ id: number; n: number | string }>`
    select id, n from metric_series order by id`.execute(db);
  let packed = 0;
  for (const s of series.rows) {
    const total = Number(s.n);
    const base = s.id * rowSeries;
    let seq = 0;
    let block = newBlock(BLOCK_POINTS);
    for (let b = 0; b * BLOCK_POINTS < total; b += PACK_BLOCKS_PER_READ) {
      const end = Math.min(total, (b + PACK_BLOCKS_PER_READ) * BLOCK_POINTS);
      const { rows } = await sql<{
        id: number | string;
        x: number;
        step: number | null;
        value: number;
        t: number | string;
      }>`select id, x, step, value, t from metrics
          where id >= ${base + b * BLOCK_POINTS} and id < ${base + end} order by id`.execute(db);
      const out = [];
      for (const r of rows) {
        const at = Number(r.id) - base;
        if (at !== seq)
          throw new DatabaseError(
            `metric series ${s.id} has no point ${seq} (the next stored is ${at}): its points cannot be packed without renumbering them`,
          );
        if (r.step !== null && r.step !== r.x)
          throw new DatabaseError(`metric series ${s.id}: point ${seq} has step ${r.step} but x ${r.x}`);
        pushPoint(block, r.x, r.step, r.value, Number(r.t));
        seq++;
        if (block.n === BLOCK_POINTS) {
          out.push(blockToRow(s.id, seq / BLOCK_POINTS - 1, block));
          block = newBlock(BLOCK_POINTS);
        }
      }
      if (seq !== end)
        throw new DatabaseError(`metric series ${s.id} holds ${total} points, but only ${seq} are stored`);
      if (block.n > 0 && seq === total) out.push(blockToRow(s.id, Math.floor(seq / BLOCK_POINTS), block));
      for (let i = 0; i < out.length; i += 16)
        await db
          .insertInto('metric_blocks')
          .values(out.slice(i, i + 16))
          .execute();
    }
    packed += seq;
  }
  const { rows } = await sql<{ n: number | string }>`select count(*) as n from metrics`.execute(db);
  const stored = Number(rows[0]?.n ?? 0);
  if (stored !== packed)
    throw new DatabaseError(
      `metrics holds ${stored} points, but its series count ${packed}: migration 0006 would lose ${stored - packed}`,
    );
}

class InCodeMigrationProvider implements MigrationProvider {
  getMigrations(): Promise<Record<string, Migration>> {
    return Promise.resolve(MIGRATIONS);
  }
}

/** Every migration this DeepForge knows, in the order they run. */
export const MIGRATION_NAMES: readonly string[] = Object.keys(MIGRATIONS).sort();
export const LATEST_MIGRATION = MIGRATION_NAMES.at(-1)!;

/** Tests: the schema as it was after migration `last` (to check what a later migration does with its data). */
export async function migrateUpTo(db: Kysely<unknown>, last: string): Promise<void> {
  const provider: MigrationProvider = {
    getMigrations: () =>
      Promise.resolve(Object.fromEntries(Object.entries(MIGRATIONS).filter(([name]) => name <= last))),
  };
  const { error } = await new Migrator({ db, provider }).migrateToLatest();
  if (error) throw error;
}

/** The migrations recorded in the database; none when it was never migrated (no kysely_migration table). */
async function executedMigrations(db: Kysely<unknown>): Promise<string[]> {
  try {
    const { rows } = await sql<{ name: string }>`select name from kysely_migration`.execute(db);
    return rows.map((r) => r.name);
  } catch (err) {
    // SQLite: "no such table"; PostgreSQL: undefined_table (42P01).
    const e = err as { code?: string; message?: string };
    if (e.code === '42P01' || /no such table/i.test(e.message ?? '')) return [];
    throw err;
  }
}

/**
 * Brings the schema up to date; throws (naming the migration) when one fails, leaving earlier ones applied. A
 * database that a newer DeepForge migrated (a migration this one does not know) is refused before anything is
 * written: this code would not know what the newer columns and tables mean, and could lose what is in them.
 * `where` names the database in the message (password masked).
 */
export async function migrateToLatest(db: Kysely<unknown>, where = 'the database'): Promise<void> {
  const executed = await executedMigrations(db);
  const unknown = executed.filter((name) => !(name in MIGRATIONS)).sort();
  if (unknown.length > 0) {
    throw new DatabaseError(
      `${where} was written by a newer DeepForge: it has migration ${unknown.join(', ')}, which this DeepForge ` +
        `(schema up to ${LATEST_MIGRATION}) does not know. Upgrade DeepForge, or point it at another database.`,
    );
  }
  // Every migration recorded (each is recorded after it ran): the schema is current, and the migrator would take
  // its lock and write (a synchronous commit, on the way to every command) only to find nothing to do.
  const done = new Set(executed);
  if (MIGRATION_NAMES.every((name) => done.has(name))) return;
  const migrator = new Migrator({ db, provider: new InCodeMigrationProvider() });
  const { error, results } = await migrator.migrateToLatest();
  if (error) {
    const failed = results?.find((r) => r.status === 'Error')?.migrationName ?? 'unknown';
    throw new DatabaseError(
      `database migration ${failed} of ${where} failed: ${(error as Error).message ?? String(error)}`,
      { cause: error },
    );
  }
}
