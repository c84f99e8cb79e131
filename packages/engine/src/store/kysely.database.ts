import type { Kysely } from 'kysely';

/**
 * The schema every Kysely store adapter queries (store.migrations.ts creates it, the same on every dialect), and
 * what the adapters share: how a database runs a write transaction, and helpers for its columns.
 */

/** Times and sizes are `bigint` columns: PostgreSQL drivers hand them back as strings. */
export type Int = number | string | bigint;

export interface ExecutionsTable {
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
  /** Migration 0008: the project version it started from. */
  version: string | null;
}

export interface JobsTable {
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
  /** The job's usage (migration 0007): all null, or CPU time and peak RSS with the GPU peak when there was one. */
  cpu_seconds?: number | null;
  peak_rss_bytes?: Int | null;
  peak_gpu_bytes?: Int | null;
}

export interface JobOutputsTable {
  job_id: string;
  name: string;
  hash: string;
  size: Int;
  serializer: string;
  py_type: string;
}

export interface ArtifactsTable {
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

/** One series: a job's values of one metric name (ADR 0014). `id` is given by the store, not the database. */
export interface MetricSeriesTable {
  id: number;
  job_id: string;
  name: string;
  /** Points stored; the next point's seq. */
  n: Int;
  min_x: number | null;
  max_x: number | null;
  /** The last point (by seq): where a value logged without a step goes next (last_x + 1). */
  last_x: number | null;
  last_y: number | null;
  /** 1 while x never went down from one point to the next: seq ranges are then x ranges. */
  sorted: number;
}

/**
 * A series' points `block · 1024 …` (ADR 0014, migration 0006): `n` of them, packed in `points` as little-endian
 * float64 arrays x[n], value[n], t[n]; `no_step`, a bitmap of the points logged without a step (null: none). A
 * point's seq is block · 1024 + its index. `min_x`/`max_x` bound the block's x, to find a range's blocks.
 */
export interface MetricBlocksTable {
  series_id: number;
  block: number;
  n: number;
  min_x: number;
  max_x: number;
  no_step: Buffer | null;
  points: Buffer;
}

/**
 * The min-max pyramid: per level (2…10 since migration 0006; 1…10 before) and bucket (seq / 8^level), the summary
 * of the bucket's points.
 */
export interface MetricBucketsTable {
  series_id: number;
  level: number;
  bucket: Int;
  n: Int;
  first_x: number;
  first_y: number;
  last_x: number;
  last_y: number;
  min_y: number;
  max_y: number;
}

export interface PlotsTable {
  job_id: string;
  figure: number;
  seq: number;
  payload: string;
  t: Int;
}

export interface ProgressTable {
  job_id: string;
  bar: string;
  payload: string;
  t: Int;
}

export interface RunnersTable {
  id: string;
  pid: number;
  host: string;
  started_at: Int;
  heartbeat_at: Int;
}

export interface ProjectsTable {
  id: string;
  name: string;
  description: string | null;
  created_at: Int;
  updated_at: Int;
  /** Migration 0008: JSON `{projectId, version}` of a fork. */
  forked_from: string | null;
  /** Migration 0009: the real path of the folder of a folder project (docs/adr/0028), else null. */
  folder: string | null;
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

export interface DocumentUpdatesTable {
  document: string;
  seq: Int;
  update_data: string;
  created_at: Int;
}

export interface WorkerTokensTable {
  id: string;
  name: string;
  token_hash: string;
  prefix: string;
  created_at: Int;
  created_by: string;
  last_used_at: Int | null;
  revoked_at: Int | null;
}

export interface JobLeasesTable {
  job_id: string;
  epoch: number;
  state: string;
  /** JSON array of label strings. */
  labels: string;
  queued_at: Int;
  worker_id: string | null;
  token_id: string | null;
  leased_at: Int | null;
  expires_at: Int | null;
}

export interface Database {
  projects: ProjectsTable;
  document_updates: DocumentUpdatesTable;
  executions: ExecutionsTable;
  jobs: JobsTable;
  job_outputs: JobOutputsTable;
  artifacts: ArtifactsTable;
  metric_series: MetricSeriesTable;
  metric_blocks: MetricBlocksTable;
  metric_buckets: MetricBucketsTable;
  plots: PlotsTable;
  progress: ProgressTable;
  runners: RunnersTable;
  users: UsersTable;
  sessions: SessionsTable;
  access_tokens: AccessTokensTable;
  project_members: ProjectMembersTable;
  audit_log: AuditLogTable;
  project_secrets: ProjectSecretsTable;
  worker_tokens: WorkerTokensTable;
  job_leases: JobLeasesTable;
}

export const num = (v: Int): number => Number(v);
export const numOrNull = (v: Int | null): number | null => (v === null ? null : Number(v));

/** A LIKE pattern matching `text` anywhere, with LIKE's wildcards in it taken literally (escape `\`). */
export function likePattern(text: string): string {
  return `%${text.replace(/[\\%_]/g, (c) => `\\${c}`)}%`;
}

/** Ids and hex prefixes are matched with LIKE: only characters that are never LIKE wildcards get there. */
export const SAFE_PREFIX = /^[0-9a-z]*$/;

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
