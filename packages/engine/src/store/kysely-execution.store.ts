import {
  sql,
  type Expression,
  type ExpressionBuilder,
  type Kysely,
  type Selectable,
  type SqlBool,
} from 'kysely';
import {
  assertNever,
  canTransitionExecution,
  canTransitionJob,
  JOB_STATUSES,
  type ExecutionStatus,
  type JobStatus,
  type JsonValue,
} from '@deepforge/core';
import type { JobError, JobUsage } from '@deepforge/protocol';
import { IllegalTransitionError, NotFoundError } from '../errors.js';
import type {
  ExecutionQuery,
  ExecutionRecord,
  ExecutionStore,
  ExecutionUpdate,
  JobOutputRecord,
  JobPatch,
  JobRecord,
  NewExecution,
  NewJob,
} from './execution.store.js';
import {
  likePattern,
  num,
  numOrNull,
  SAFE_PREFIX,
  type Database,
  type ExecutionsTable,
  type Int,
  type JobOutputsTable,
  type JobsTable,
  type KyselyStoreOptions,
} from './kysely.database.js';

function toExecution(r: Selectable<ExecutionsTable>): ExecutionRecord {
  return {
    id: r.id,
    name: r.name,
    projectId: r.project_id,
    project: r.project,
    pipeline: r.pipeline,
    status: r.status as ExecutionStatus,
    createdAt: num(r.created_at),
    startedAt: numOrNull(r.started_at),
    endedAt: numOrNull(r.ended_at),
    options: JSON.parse(r.options) as Record<string, JsonValue>,
    snapshot: JSON.parse(r.snapshot) as Record<string, JsonValue>,
    runnerId: r.runner_id,
    version: r.version ?? null,
  };
}

function toJob(r: Selectable<JobsTable>): JobRecord {
  return {
    id: r.id,
    executionId: r.execution_id,
    node: r.node,
    operation: r.operation,
    status: r.status as JobStatus,
    attempt: r.attempt,
    startedAt: numOrNull(r.started_at),
    endedAt: numOrNull(r.ended_at),
    exitCode: r.exit_code,
    error: r.error === null ? null : (JSON.parse(r.error) as JobError),
    pid: r.pid,
    pgid: r.pgid,
    runnerId: r.runner_id,
    cacheKey: r.cache_key,
    cachedFrom: r.cached_from,
    usage: usageOf(r),
  };
}

function usageOf(r: Selectable<JobsTable>): JobUsage | null {
  if (r.cpu_seconds === null || r.cpu_seconds === undefined) return null;
  if (r.peak_rss_bytes === null || r.peak_rss_bytes === undefined) return null;
  const gpu = numOrNull(r.peak_gpu_bytes ?? null);
  return {
    cpuSeconds: Number(r.cpu_seconds),
    peakRssBytes: num(r.peak_rss_bytes),
    ...(gpu !== null ? { peakGpuBytes: gpu } : {}),
  };
}

function toOutput(r: Selectable<JobOutputsTable>): JobOutputRecord {
  return {
    jobId: r.job_id,
    name: r.name,
    hash: r.hash,
    size: num(r.size),
    serializer: r.serializer,
    pyType: r.py_type,
  };
}

function jobPatchColumns(patch: JobPatch): Partial<JobsTable> {
  const cols: Partial<JobsTable> = {};
  if (patch.attempt !== undefined) cols.attempt = patch.attempt;
  if (patch.startedAt !== undefined) cols.started_at = patch.startedAt;
  if (patch.endedAt !== undefined) cols.ended_at = patch.endedAt;
  if (patch.exitCode !== undefined) cols.exit_code = patch.exitCode;
  if (patch.error !== undefined) cols.error = patch.error === null ? null : JSON.stringify(patch.error);
  if (patch.pid !== undefined) cols.pid = patch.pid;
  if (patch.pgid !== undefined) cols.pgid = patch.pgid;
  if (patch.runnerId !== undefined) cols.runner_id = patch.runnerId;
  if (patch.cacheKey !== undefined) cols.cache_key = patch.cacheKey;
  if (patch.cachedFrom !== undefined) cols.cached_from = patch.cachedFrom;
  if (patch.usage !== undefined) {
    cols.cpu_seconds = patch.usage?.cpuSeconds ?? null;
    cols.peak_rss_bytes = patch.usage?.peakRssBytes ?? null;
    cols.peak_gpu_bytes = patch.usage?.peakGpuBytes ?? null;
  }
  return cols;
}

/** The execution store, written once with Kysely's query builder and nothing dialect-specific. */
export class KyselyExecutionStore implements ExecutionStore {
  private readonly db: Kysely<Database>;

  constructor(private readonly options: Pick<KyselyStoreOptions, 'db' | 'transaction'>) {
    this.db = options.db;
  }

  async insertExecution(execution: NewExecution, jobs: NewJob[]): Promise<ExecutionRecord> {
    await this.options.transaction(async (trx) => {
      await trx
        .insertInto('executions')
        .values({
          id: execution.id,
          project_id: execution.projectId ?? '',
          name: execution.name,
          project: execution.project,
          pipeline: execution.pipeline,
          status: execution.status,
          created_at: execution.createdAt,
          started_at: null,
          ended_at: null,
          options: JSON.stringify(execution.options),
          snapshot: JSON.stringify(execution.snapshot),
          runner_id: execution.runnerId ?? null,
          version: execution.version ?? null,
        })
        .execute();
      if (jobs.length > 0) {
        await trx
          .insertInto('jobs')
          .values(
            jobs.map((j, position) => ({
              id: j.id,
              execution_id: execution.id,
              position,
              node: j.node,
              operation: j.operation,
              status: 'pending',
              attempt: 0,
              started_at: null,
              ended_at: null,
              exit_code: null,
              error: null,
              pid: null,
              pgid: null,
              runner_id: null,
              cache_key: null,
              cached_from: null,
            })),
          )
          .execute();
      }
    });
    return (await this.getExecution(execution.id))!;
  }

  async getExecution(id: string): Promise<ExecutionRecord | undefined> {
    const r = await this.db.selectFrom('executions').selectAll().where('id', '=', id).executeTakeFirst();
    return r && toExecution(r);
  }

  async findExecutionIds(prefix: string, limit: number): Promise<string[]> {
    if (!SAFE_PREFIX.test(prefix)) return [];
    const rows = await this.db
      .selectFrom('executions')
      .select('id')
      .where('id', 'like', `${prefix}%`)
      .orderBy('created_at', 'desc')
      .limit(limit)
      .execute();
    return rows.map((r) => r.id);
  }

  async listExecutions(opts: { limit: number; offset: number }): Promise<ExecutionRecord[]> {
    const rows = await this.db
      .selectFrom('executions')
      .selectAll()
      .orderBy('created_at', 'desc')
      .orderBy('id', 'desc')
      .limit(opts.limit)
      .offset(opts.offset)
      .execute();
    return rows.map(toExecution);
  }

  async queryExecutions(query: ExecutionQuery): Promise<{ items: ExecutionRecord[]; total: number }> {
    const where = (eb: ExpressionBuilder<Database, 'executions'>): Expression<SqlBool> => {
      const conds: Expression<SqlBool>[] = [];
      if (query.projectId !== undefined) conds.push(eb('project_id', '=', query.projectId));
      if (query.statuses !== undefined) {
        // An empty status filter matches nothing, as asked; `in ()` is not valid SQL.
        conds.push(query.statuses.length > 0 ? eb('status', 'in', [...query.statuses]) : sql<SqlBool>`1 = 0`);
      }
      if (query.pipeline !== undefined) conds.push(eb('pipeline', '=', query.pipeline));
      if (query.search !== undefined && query.search.trim() !== '') {
        const pattern = likePattern(query.search.trim().toLowerCase());
        conds.push(
          eb.or([
            sql<SqlBool>`lower(name) like ${pattern} escape '\\'`,
            sql<SqlBool>`lower(pipeline) like ${pattern} escape '\\'`,
          ]),
        );
      }
      return eb.and(conds);
    };
    const countRow = await this.db
      .selectFrom('executions')
      .select((eb) => eb.fn.countAll<Int>().as('n'))
      .where(where)
      .executeTakeFirstOrThrow();
    const order = query.order ?? 'desc';
    const now = query.now ?? Date.now();
    let q = this.db.selectFrom('executions').selectAll().where(where);
    // NULLs (not started yet) sort last either way, written out because SQLite and PostgreSQL disagree.
    const sort = query.sort ?? 'created';
    switch (sort) {
      case 'created':
        q = q.orderBy('created_at', order);
        break;
      case 'started':
        q = q.orderBy(sql`case when started_at is null then 1 else 0 end`).orderBy('started_at', order);
        break;
      case 'duration':
        q = q
          .orderBy(sql`case when started_at is null then 1 else 0 end`)
          .orderBy(sql`coalesce(ended_at, ${now}) - started_at`, order);
        break;
      case 'name':
        q = q.orderBy('name', order);
        break;
      case 'status':
        q = q.orderBy('status', order).orderBy('created_at', 'desc');
        break;
      default:
        assertNever(sort);
    }
    const rows = await q.orderBy('id', order).limit(query.limit).offset(query.offset).execute();
    return { items: rows.map(toExecution), total: num(countRow.n) };
  }

  async countJobsByStatus(
    executionIds: readonly string[],
  ): Promise<Map<string, Partial<Record<JobStatus, number>>>> {
    const counts = new Map<string, Partial<Record<JobStatus, number>>>();
    for (const id of executionIds) counts.set(id, {});
    for (let i = 0; i < executionIds.length; i += 500) {
      const rows = await this.db
        .selectFrom('jobs')
        .select(['execution_id', 'status', (eb) => eb.fn.countAll<Int>().as('n')])
        .where('execution_id', 'in', executionIds.slice(i, i + 500))
        .groupBy(['execution_id', 'status'])
        .execute();
      for (const r of rows) counts.get(r.execution_id)![r.status as JobStatus] = num(r.n);
    }
    return counts;
  }

  async deleteExecution(id: string): Promise<boolean> {
    // Jobs, their outputs and telemetry go with it (foreign keys cascade).
    const res = await this.db.deleteFrom('executions').where('id', '=', id).executeTakeFirst();
    return Number(res.numDeletedRows) === 1;
  }

  async listExecutionsByStatus(statuses: readonly ExecutionStatus[]): Promise<ExecutionRecord[]> {
    if (statuses.length === 0) return [];
    const rows = await this.db
      .selectFrom('executions')
      .selectAll()
      .where('status', 'in', [...statuses])
      .orderBy('created_at', 'asc')
      .execute();
    return rows.map(toExecution);
  }

  async updateExecution(
    id: string,
    update: ExecutionUpdate,
    opts: { expectRunner?: string | null } = {},
  ): Promise<ExecutionRecord | undefined> {
    // Compare-and-set on the status read, so a concurrent change is noticed rather than overwritten.
    for (let tries = 0; tries < 5; tries++) {
      const current = await this.getExecution(id);
      if (!current) throw new NotFoundError(`no execution ${id}`);
      if (update.status !== undefined && update.status !== current.status) {
        if (!canTransitionExecution(current.status, update.status)) {
          throw new IllegalTransitionError(`execution ${id}`, current.status, update.status);
        }
      }
      const cols: Partial<ExecutionsTable> = {};
      if (update.status !== undefined) cols.status = update.status;
      if (update.startedAt !== undefined) cols.started_at = update.startedAt;
      if (update.endedAt !== undefined) cols.ended_at = update.endedAt;
      if (update.runnerId !== undefined) cols.runner_id = update.runnerId;
      if (update.options !== undefined) cols.options = JSON.stringify(update.options);
      let q = this.db
        .updateTable('executions')
        .set(cols)
        .where('id', '=', id)
        .where('status', '=', current.status);
      if (opts.expectRunner !== undefined) {
        q =
          opts.expectRunner === null
            ? q.where('runner_id', 'is', null)
            : q.where('runner_id', '=', opts.expectRunner);
      }
      const res = await q.executeTakeFirst();
      if (Number(res.numUpdatedRows) === 1) return this.getExecution(id);
      if (opts.expectRunner !== undefined) {
        const now = await this.getExecution(id);
        if (now && now.runnerId !== opts.expectRunner) return undefined;
      }
    }
    throw new Error(`execution ${id} keeps changing under us; giving up`);
  }

  async getJob(id: string): Promise<JobRecord | undefined> {
    const r = await this.db.selectFrom('jobs').selectAll().where('id', '=', id).executeTakeFirst();
    return r && toJob(r);
  }

  async listJobs(executionId: string): Promise<JobRecord[]> {
    const rows = await this.db
      .selectFrom('jobs')
      .selectAll()
      .where('execution_id', '=', executionId)
      .orderBy('position', 'asc')
      .execute();
    return rows.map(toJob);
  }

  async listJobsByStatus(statuses: readonly JobStatus[]): Promise<JobRecord[]> {
    if (statuses.length === 0) return [];
    const rows = await this.db
      .selectFrom('jobs')
      .selectAll()
      .where('status', 'in', [...statuses])
      .orderBy('execution_id')
      .orderBy('position')
      .execute();
    return rows.map(toJob);
  }

  /**
   * Moves a job to `to` in one statement: an update of its row while its status is one the state machine (and
   * `from`, when given) lets go to `to`, returning the row as it is then. Only when nothing moved is the row read,
   * to say why: no such job, or a status that does not allow it (whatever it changed to meanwhile).
   */
  private async transitionIn(
    db: Kysely<Database>,
    id: string,
    to: JobStatus,
    patch: JobPatch,
    from: readonly JobStatus[] | undefined,
  ): Promise<JobRecord> {
    const sources = JOB_STATUSES.filter((s) => canTransitionJob(s, to) && (!from || from.includes(s)));
    if (sources.length > 0) {
      const row = await db
        .updateTable('jobs')
        .set({ ...jobPatchColumns(patch), status: to })
        .where('id', '=', id)
        .where('status', 'in', sources)
        .returningAll()
        .executeTakeFirst();
      if (row) return toJob(row);
    }
    const row = await db.selectFrom('jobs').select('status').where('id', '=', id).executeTakeFirst();
    if (!row) throw new NotFoundError(`no job ${id}`);
    const current = row.status as JobStatus;
    if (from && !from.includes(current)) {
      throw new IllegalTransitionError(`job ${id} (expected ${from.join('|')})`, current, to);
    }
    throw new IllegalTransitionError(`job ${id}`, current, to);
  }

  transitionJob(
    id: string,
    to: JobStatus,
    patch: JobPatch = {},
    opts: { from?: readonly JobStatus[] } = {},
  ): Promise<JobRecord> {
    return this.transitionIn(this.db, id, to, patch, opts.from);
  }

  async transitionJobs(
    moves: readonly { id: string; to: JobStatus; patch?: JobPatch }[],
  ): Promise<JobRecord[]> {
    if (moves.length === 0) return [];
    return this.options.transaction(async (trx) => {
      const out: JobRecord[] = [];
      for (const m of moves) out.push(await this.transitionIn(trx, m.id, m.to, m.patch ?? {}, undefined));
      return out;
    });
  }

  async updateJob(id: string, patch: JobPatch): Promise<JobRecord> {
    const cols = jobPatchColumns(patch);
    if (Object.keys(cols).length > 0) {
      const res = await this.db.updateTable('jobs').set(cols).where('id', '=', id).executeTakeFirst();
      if (Number(res.numUpdatedRows) !== 1) throw new NotFoundError(`no job ${id}`);
    }
    const job = await this.getJob(id);
    if (!job) throw new NotFoundError(`no job ${id}`);
    return job;
  }

  async completeJob(
    id: string,
    to: 'success' | 'cached',
    outputs: Omit<JobOutputRecord, 'jobId'>[],
    patch: JobPatch = {},
  ): Promise<JobRecord> {
    return (await this.completeJobAndMove(id, to, outputs, patch, [])).job;
  }

  async completeJobAndMove(
    id: string,
    to: 'success' | 'cached',
    outputs: Omit<JobOutputRecord, 'jobId'>[],
    patch: JobPatch,
    moves: readonly { id: string; to: JobStatus; patch?: JobPatch }[],
  ): Promise<{ job: JobRecord; moved: JobRecord[] }> {
    return this.options.transaction(async (trx) => {
      // Into success or cached, which no job leaves (core's state machine): its outputs are recorded once, here,
      // and none can be there before (a second record of one would break the table's key, not replace it).
      const job = await this.transitionIn(trx, id, to, patch, undefined);
      if (outputs.length > 0) {
        await trx
          .insertInto('job_outputs')
          .values(
            outputs.map((o) => ({
              job_id: id,
              name: o.name,
              hash: o.hash,
              size: o.size,
              serializer: o.serializer,
              py_type: o.pyType,
            })),
          )
          .execute();
      }
      const moved: JobRecord[] = [];
      for (const m of moves) moved.push(await this.transitionIn(trx, m.id, m.to, m.patch ?? {}, undefined));
      return { job, moved };
    });
  }

  async listJobOutputs(jobId: string): Promise<JobOutputRecord[]> {
    const rows = await this.db
      .selectFrom('job_outputs')
      .selectAll()
      .where('job_id', '=', jobId)
      .orderBy('name')
      .execute();
    return rows.map(toOutput);
  }

  async listExecutionOutputs(executionId: string): Promise<JobOutputRecord[]> {
    const rows = await this.db
      .selectFrom('job_outputs')
      .innerJoin('jobs', 'jobs.id', 'job_outputs.job_id')
      .selectAll('job_outputs')
      .where('jobs.execution_id', '=', executionId)
      .orderBy('jobs.position')
      .orderBy('job_outputs.name')
      .execute();
    return rows.map(toOutput);
  }

  async findCacheCandidates(
    cacheKey: string,
    limit: number,
    projectId: string,
  ): Promise<{ job: JobRecord; outputs: JobOutputRecord[] }[]> {
    const rows = await this.db
      .selectFrom('jobs')
      .innerJoin('executions', 'executions.id', 'jobs.execution_id')
      .selectAll('jobs')
      .where('jobs.cache_key', '=', cacheKey)
      .where('jobs.status', '=', 'success')
      .where('executions.project_id', '=', projectId)
      .orderBy('jobs.ended_at', 'desc')
      .limit(limit)
      .execute();
    const out: { job: JobRecord; outputs: JobOutputRecord[] }[] = [];
    for (const r of rows) out.push({ job: toJob(r), outputs: await this.listJobOutputs(r.id) });
    return out;
  }

  async listOutputsWithHash(hash: string): Promise<JobOutputRecord[]> {
    const rows = await this.db
      .selectFrom('job_outputs')
      .selectAll()
      .where('hash', '=', hash)
      .orderBy('job_id')
      .orderBy('name')
      .execute();
    return rows.map(toOutput);
  }

  async countOutputsWithHash(hash: string): Promise<number> {
    const row = await this.db
      .selectFrom('job_outputs')
      .select((eb) => eb.fn.countAll<Int>().as('n'))
      .where('hash', '=', hash)
      .executeTakeFirstOrThrow();
    return num(row.n);
  }
}
