import { randomBytes } from 'node:crypto';
import {
  sql,
  type Expression,
  type ExpressionBuilder,
  type Kysely,
  type Selectable,
  type SqlBool,
} from 'kysely';
import type { JsonValue } from '@deepforge/core';
import type { JobError } from '@deepforge/protocol';
import { IllegalTransitionError, NotFoundError } from '../errors.js';
import {
  assertNever,
  canTransitionExecution,
  canTransitionJob,
  CONTENT_HASH_SCHEMES,
  type ExecutionStatus,
  type JobStatus,
} from '@deepforge/core';
import type {
  ArtifactProvenance,
  ArtifactQuery,
  ExecutionQuery,
  ArtifactRecord,
  ExecutionRecord,
  ExecutionStore,
  ExecutionUpdate,
  JobOutputRecord,
  JobPatch,
  JobRecord,
  MetricRecord,
  NewArtifact,
  NewExecution,
  NewJob,
  PlotRecord,
  ProgressRecord,
  RunnerRecord,
} from './execution.store.js';

/** Times and sizes are `bigint` columns: PostgreSQL drivers hand them back as strings. */
type Int = number | string | bigint;

interface ExecutionsTable {
  id: string;
  project_id: string;
  name: string;
  project: string;
  pipeline: string;
  status: string;
  created_at: Int;
  started_at: Int | null;
  ended_at: Int | null;
  options: string;
  snapshot: string;
  runner_id: string | null;
}

interface JobsTable {
  id: string;
  execution_id: string;
  position: number;
  node: string;
  operation: string;
  status: string;
  attempt: number;
  started_at: Int | null;
  ended_at: Int | null;
  exit_code: number | null;
  error: string | null;
  pid: number | null;
  pgid: number | null;
  runner_id: string | null;
  cache_key: string | null;
  cached_from: string | null;
}

interface JobOutputsTable {
  job_id: string;
  name: string;
  hash: string;
  size: Int;
  serializer: string;
  py_type: string;
}

interface ArtifactsTable {
  id: string;
  project_id: string;
  name: string;
  hash: string;
  size: Int;
  serializer: string;
  py_type: string | null;
  created_at: Int;
  provenance: string;
  execution_id: string | null;
  job_id: string | null;
}

interface MetricsTable {
  job_id: string;
  step: number | null;
  name: string;
  value: number;
  t: Int;
}

interface PlotsTable {
  job_id: string;
  figure: number;
  seq: number;
  payload: string;
  t: Int;
}

interface ProgressTable {
  job_id: string;
  bar: string;
  payload: string;
  t: Int;
}

interface RunnersTable {
  id: string;
  pid: number;
  host: string;
  started_at: Int;
  heartbeat_at: Int;
}

interface ProjectsTable {
  id: string;
  name: string;
  description: string | null;
  created_at: Int;
  updated_at: Int;
}

export interface UsersTable {
  id: string;
  name: string;
  password_hash: string;
  admin: number;
  created_at: Int;
  password_changed_at: Int;
}

export interface SessionsTable {
  id_hash: string;
  user_id: string;
  created_at: Int;
  last_seen_at: Int;
  expires_at: Int;
  revoked_at: Int | null;
  user_agent: string | null;
}

export interface AccessTokensTable {
  id: string;
  user_id: string;
  name: string;
  token_hash: string;
  prefix: string;
  created_at: Int;
  expires_at: Int | null;
  last_used_at: Int | null;
  revoked_at: Int | null;
}

export interface ProjectMembersTable {
  project_id: string;
  user_id: string;
  role: string;
  added_at: Int;
}

export interface AuditLogTable {
  id: string;
  at: Int;
  seq: Int;
  actor_id: string | null;
  actor_name: string | null;
  action: string;
  target: string | null;
  detail: string | null;
  ip: string | null;
}

export interface ProjectSecretsTable {
  project_id: string;
  name: string;
  ciphertext: string;
  updated_at: Int;
  updated_by: string | null;
}

interface DocumentUpdatesTable {
  document: string;
  seq: Int;
  update_data: string;
  created_at: Int;
}

export interface Database {
  projects: ProjectsTable;
  document_updates: DocumentUpdatesTable;
  executions: ExecutionsTable;
  jobs: JobsTable;
  job_outputs: JobOutputsTable;
  artifacts: ArtifactsTable;
  metrics: MetricsTable;
  plots: PlotsTable;
  progress: ProgressTable;
  runners: RunnersTable;
  users: UsersTable;
  sessions: SessionsTable;
  access_tokens: AccessTokensTable;
  project_members: ProjectMembersTable;
  audit_log: AuditLogTable;
  project_secrets: ProjectSecretsTable;
}

/** Random, lowercase, 12 characters: short enough to type a prefix of, unique enough for one data store. */
export function newId(): string {
  const alphabet = '0123456789abcdefghjkmnpqrstvwxyz';
  const bytes = randomBytes(12);
  let id = '';
  for (const b of bytes) id += alphabet[b & 31];
  return id;
}

const num = (v: Int): number => Number(v);
const numOrNull = (v: Int | null): number | null => (v === null ? null : Number(v));

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

function toArtifact(r: Selectable<ArtifactsTable>): ArtifactRecord {
  return {
    id: r.id,
    projectId: r.project_id,
    name: r.name,
    hash: r.hash,
    size: num(r.size),
    serializer: r.serializer,
    pyType: r.py_type,
    createdAt: num(r.created_at),
    provenance: JSON.parse(r.provenance) as ArtifactProvenance,
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
  return cols;
}

/** A LIKE pattern matching `text` anywhere, with LIKE's wildcards in it taken literally (escape `\`). */
export function likePattern(text: string): string {
  return `%${text.replace(/[\\%_]/g, (c) => `\\${c}`)}%`;
}

/** Ids and hex prefixes are matched with LIKE: only characters that are never LIKE wildcards get there. */
const SAFE_PREFIX = /^[0-9a-z]*$/;

export interface KyselyStoreOptions {
  db: Kysely<Database>;
  /**
   * Runs `fn` in a write transaction. Adapters choose how: SQLite takes the write lock up front (BEGIN
   * IMMEDIATE) so that two processes never deadlock upgrading a read lock; PostgreSQL runs a READ COMMITTED
   * transaction beside others and runs `fn` again when it was chosen as a deadlock victim, so `fn` must do nothing
   * but database work.
   *
   * What each caller relies on, so that it holds on both: compare-and-set UPDATEs (`… where status = ?`) are atomic
   * on their own (PostgreSQL re-checks the condition on the row it waited for); inserts under a primary key never
   * need a lock; a read-then-write that must not interleave with another (the next seq of a document) takes
   * `lockKey` first.
   */
  transaction<T>(fn: (trx: Kysely<Database>) => Promise<T>): Promise<T>;
  /**
   * Inside `transaction`: transactions that lock the same key run one after the other until commit. SQLite needs
   * nothing (BEGIN IMMEDIATE already admits one writer at a time); PostgreSQL takes a transaction advisory lock.
   */
  lockKey(trx: Kysely<Database>, key: string): Promise<void>;
  close(): Promise<void>;
}

/**
 * The store, written once with Kysely's query builder and nothing dialect-specific, for every SQL adapter.
 */
export class KyselyExecutionStore implements ExecutionStore {
  private readonly db: Kysely<Database>;

  constructor(private readonly options: KyselyStoreOptions) {
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

  private async transitionIn(
    db: Kysely<Database>,
    id: string,
    to: JobStatus,
    patch: JobPatch,
    from: readonly JobStatus[] | undefined,
  ): Promise<void> {
    for (let tries = 0; tries < 5; tries++) {
      const row = await db
        .selectFrom('jobs')
        .select(['status', 'node'])
        .where('id', '=', id)
        .executeTakeFirst();
      if (!row) throw new NotFoundError(`no job ${id}`);
      const current = row.status as JobStatus;
      if (from && !from.includes(current)) {
        throw new IllegalTransitionError(`job ${id} (expected ${from.join('|')})`, current, to);
      }
      if (!canTransitionJob(current, to)) throw new IllegalTransitionError(`job ${id}`, current, to);
      const res = await db
        .updateTable('jobs')
        .set({ ...jobPatchColumns(patch), status: to })
        .where('id', '=', id)
        .where('status', '=', current)
        .executeTakeFirst();
      if (Number(res.numUpdatedRows) === 1) return;
    }
    throw new Error(`job ${id} keeps changing under us; giving up`);
  }

  async transitionJob(
    id: string,
    to: JobStatus,
    patch: JobPatch = {},
    opts: { from?: readonly JobStatus[] } = {},
  ): Promise<JobRecord> {
    await this.transitionIn(this.db, id, to, patch, opts.from);
    return (await this.getJob(id))!;
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
    await this.options.transaction(async (trx) => {
      await this.transitionIn(trx, id, to, patch, undefined);
      await trx.deleteFrom('job_outputs').where('job_id', '=', id).execute();
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
    });
    return (await this.getJob(id))!;
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
  ): Promise<{ job: JobRecord; outputs: JobOutputRecord[] }[]> {
    const rows = await this.db
      .selectFrom('jobs')
      .selectAll()
      .where('cache_key', '=', cacheKey)
      .where('status', '=', 'success')
      .orderBy('ended_at', 'desc')
      .limit(limit)
      .execute();
    const out: { job: JobRecord; outputs: JobOutputRecord[] }[] = [];
    for (const r of rows) out.push({ job: toJob(r), outputs: await this.listJobOutputs(r.id) });
    return out;
  }

  async insertArtifact(artifact: NewArtifact): Promise<ArtifactRecord> {
    const id = artifact.id ?? newId();
    const p = artifact.provenance;
    await this.db
      .insertInto('artifacts')
      .values({
        id,
        project_id: artifact.projectId ?? '',
        name: artifact.name,
        hash: artifact.hash,
        size: artifact.size,
        serializer: artifact.serializer,
        py_type: artifact.pyType,
        created_at: artifact.createdAt ?? Date.now(),
        provenance: JSON.stringify(p),
        execution_id: p.kind === 'execution' ? p.executionId : null,
        job_id: p.kind === 'execution' ? p.jobId : null,
      })
      .execute();
    return (await this.getArtifact(id))!;
  }

  async getArtifact(id: string): Promise<ArtifactRecord | undefined> {
    const r = await this.db.selectFrom('artifacts').selectAll().where('id', '=', id).executeTakeFirst();
    return r && toArtifact(r);
  }

  async getLatestArtifact(name: string, projectId?: string): Promise<ArtifactRecord | undefined> {
    let q = this.db.selectFrom('artifacts').selectAll().where('name', '=', name);
    if (projectId !== undefined) q = q.where('project_id', '=', projectId);
    const r = await q.orderBy('created_at', 'desc').orderBy('id', 'desc').limit(1).executeTakeFirst();
    return r && toArtifact(r);
  }

  private artifactFilter(opts: Omit<ArtifactQuery, 'limit' | 'offset'>) {
    return (eb: ExpressionBuilder<Database, 'artifacts'>): Expression<SqlBool> => {
      const conds: Expression<SqlBool>[] = [];
      if (opts.projectId !== undefined) conds.push(eb('project_id', '=', opts.projectId));
      if (opts.name !== undefined) conds.push(eb('name', '=', opts.name));
      if (opts.search !== undefined && opts.search.trim() !== '') {
        const pattern = likePattern(opts.search.trim().toLowerCase());
        conds.push(sql<SqlBool>`lower(name) like ${pattern} escape '\\'`);
      }
      return eb.and(conds);
    };
  }

  async countArtifacts(opts: Omit<ArtifactQuery, 'limit' | 'offset'> = {}): Promise<number> {
    const row = await this.db
      .selectFrom('artifacts')
      .select((eb) => eb.fn.countAll<Int>().as('n'))
      .where(this.artifactFilter(opts))
      .executeTakeFirstOrThrow();
    return num(row.n);
  }

  async deleteArtifact(id: string): Promise<boolean> {
    const res = await this.db.deleteFrom('artifacts').where('id', '=', id).executeTakeFirst();
    return Number(res.numDeletedRows) === 1;
  }

  async countHashUses(hash: string): Promise<number> {
    const a = await this.db
      .selectFrom('artifacts')
      .select((eb) => eb.fn.countAll<Int>().as('n'))
      .where('hash', '=', hash)
      .executeTakeFirstOrThrow();
    const o = await this.db
      .selectFrom('job_outputs')
      .select((eb) => eb.fn.countAll<Int>().as('n'))
      .where('hash', '=', hash)
      .executeTakeFirstOrThrow();
    return num(a.n) + num(o.n);
  }

  async listArtifacts(opts: ArtifactQuery = {}): Promise<ArtifactRecord[]> {
    const q = this.db.selectFrom('artifacts').selectAll().where(this.artifactFilter(opts));
    const rows = await q
      .orderBy('created_at', 'desc')
      .orderBy('id', 'desc')
      .limit(opts.limit ?? 1000)
      .offset(opts.offset ?? 0)
      .execute();
    return rows.map(toArtifact);
  }

  async listArtifactNames(projectId?: string): Promise<string[]> {
    let q = this.db.selectFrom('artifacts').select('name');
    if (projectId !== undefined) q = q.where('project_id', '=', projectId);
    const rows = await q.distinct().orderBy('name').execute();
    return rows.map((r) => r.name);
  }

  async findArtifactsByHashPrefix(prefix: string, limit: number): Promise<ArtifactRecord[]> {
    const colon = prefix.indexOf(':');
    const scheme = colon < 0 ? undefined : prefix.slice(0, colon);
    const hexPrefix = colon < 0 ? prefix : prefix.slice(colon + 1);
    // SAFE_PREFIX also keeps LIKE's wildcards (`%`, `_`) out of the pattern.
    if (!SAFE_PREFIX.test(hexPrefix)) return [];
    if (scheme !== undefined && !(CONTENT_HASH_SCHEMES as readonly string[]).includes(scheme)) return [];
    const schemes = scheme !== undefined ? [scheme] : CONTENT_HASH_SCHEMES;
    const rows = await this.db
      .selectFrom('artifacts')
      .selectAll()
      .where((eb) => eb.or(schemes.map((s) => eb('hash', 'like', `${s}:${hexPrefix}%`))))
      .orderBy('created_at', 'desc')
      .limit(limit)
      .execute();
    return rows.map(toArtifact);
  }

  async findArtifactsByIdPrefix(prefix: string, limit: number): Promise<ArtifactRecord[]> {
    if (!SAFE_PREFIX.test(prefix) || prefix === '') return [];
    const rows = await this.db
      .selectFrom('artifacts')
      .selectAll()
      .where('id', 'like', `${prefix}%`)
      .orderBy('created_at', 'desc')
      .limit(limit)
      .execute();
    return rows.map(toArtifact);
  }

  async appendMetrics(rows: readonly MetricRecord[]): Promise<void> {
    if (rows.length === 0) return;
    await this.options.transaction(async (trx) => {
      // Batches keep statements below every dialect's parameter limit.
      for (let i = 0; i < rows.length; i += 500) {
        await trx
          .insertInto('metrics')
          .values(
            rows
              .slice(i, i + 500)
              .map((r) => ({ job_id: r.jobId, step: r.step, name: r.name, value: r.value, t: r.t })),
          )
          .execute();
      }
    });
  }

  async upsertPlots(rows: readonly PlotRecord[]): Promise<void> {
    if (rows.length === 0) return;
    await this.options.transaction(async (trx) => {
      for (const r of rows) {
        await trx
          .insertInto('plots')
          .values({
            job_id: r.jobId,
            figure: r.figure,
            seq: r.seq,
            payload: JSON.stringify(r.payload),
            t: r.t,
          })
          .onConflict((oc) =>
            oc
              .columns(['job_id', 'figure'])
              .doUpdateSet((eb) => ({
                seq: eb.ref('excluded.seq'),
                payload: eb.ref('excluded.payload'),
                t: eb.ref('excluded.t'),
              }))
              .where('plots.seq', '<=', (eb) => eb.ref('excluded.seq')),
          )
          .execute();
      }
    });
  }

  async upsertProgress(rows: readonly ProgressRecord[]): Promise<void> {
    if (rows.length === 0) return;
    await this.options.transaction(async (trx) => {
      for (const r of rows) {
        await trx
          .insertInto('progress')
          .values({ job_id: r.jobId, bar: r.bar, payload: JSON.stringify(r.payload), t: r.t })
          .onConflict((oc) =>
            oc.columns(['job_id', 'bar']).doUpdateSet((eb) => ({
              payload: eb.ref('excluded.payload'),
              t: eb.ref('excluded.t'),
            })),
          )
          .execute();
      }
    });
  }

  async listMetrics(jobId: string): Promise<MetricRecord[]> {
    const rows = await this.db
      .selectFrom('metrics')
      .selectAll()
      .where('job_id', '=', jobId)
      .orderBy('t')
      .execute();
    return rows.map((r) => ({ jobId: r.job_id, step: r.step, name: r.name, value: r.value, t: num(r.t) }));
  }

  async listPlots(jobId: string): Promise<PlotRecord[]> {
    const rows = await this.db
      .selectFrom('plots')
      .selectAll()
      .where('job_id', '=', jobId)
      .orderBy('figure')
      .execute();
    return rows.map((r) => ({
      jobId: r.job_id,
      figure: r.figure,
      seq: r.seq,
      payload: JSON.parse(r.payload) as Record<string, JsonValue>,
      t: num(r.t),
    }));
  }

  async listProgress(jobId: string): Promise<ProgressRecord[]> {
    const rows = await this.db
      .selectFrom('progress')
      .selectAll()
      .where('job_id', '=', jobId)
      .orderBy('bar')
      .execute();
    return rows.map((r) => ({
      jobId: r.job_id,
      bar: r.bar,
      payload: JSON.parse(r.payload) as Record<string, JsonValue>,
      t: num(r.t),
    }));
  }

  async clearTelemetry(jobId: string): Promise<void> {
    await this.options.transaction(async (trx) => {
      await trx.deleteFrom('metrics').where('job_id', '=', jobId).execute();
      await trx.deleteFrom('plots').where('job_id', '=', jobId).execute();
      await trx.deleteFrom('progress').where('job_id', '=', jobId).execute();
    });
  }

  async registerRunner(runner: RunnerRecord): Promise<void> {
    await this.db
      .insertInto('runners')
      .values({
        id: runner.id,
        pid: runner.pid,
        host: runner.host,
        started_at: runner.startedAt,
        heartbeat_at: runner.heartbeatAt,
      })
      .execute();
  }

  async heartbeatRunner(id: string, t: number): Promise<boolean> {
    const res = await this.db
      .updateTable('runners')
      .set({ heartbeat_at: t })
      .where('id', '=', id)
      .executeTakeFirst();
    return Number(res.numUpdatedRows) === 1;
  }

  async listRunners(): Promise<RunnerRecord[]> {
    const rows = await this.db.selectFrom('runners').selectAll().orderBy('started_at').execute();
    return rows.map((r) => ({
      id: r.id,
      pid: r.pid,
      host: r.host,
      startedAt: num(r.started_at),
      heartbeatAt: num(r.heartbeat_at),
    }));
  }

  async removeRunner(id: string): Promise<void> {
    await this.db.deleteFrom('runners').where('id', '=', id).execute();
  }

  close(): Promise<void> {
    return this.options.close();
  }
}
