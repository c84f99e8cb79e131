import type { ExecutionStatus, JobStatus, JsonValue } from '@deepforge/core';
import type { JobError } from '@deepforge/protocol';

/**
 * The store port: everything the engine remembers about executions, jobs, artifacts and their telemetry.
 * Adapters: SQLite (embedded default, sqlite.store.ts) and PostgreSQL (later). Both share the dialect-neutral
 * Kysely implementation in kysely.store.ts; every adapter passes store.conformance.ts.
 *
 * Times are milliseconds since the Unix epoch. Every status change is checked against core's state machines
 * (execution-state.machine.ts) and applied as a compare-and-set, so two engines on one database cannot both move a job.
 */

export interface ExecutionRecord {
  id: string;
  name: string;
  /** The project (web server) it belongs to; '' for the unnamed scope of the CLI. */
  projectId: string;
  /** The project's name when it ran. */
  project: string;
  pipeline: string;
  status: ExecutionStatus;
  createdAt: number;
  startedAt: number | null;
  endedAt: number | null;
  /** How it was asked to run (cache, concurrency, overrides, …), as given at creation or last resume. */
  options: Record<string, JsonValue>;
  /** What it runs: the pipeline and the resolved attribute values; immutable after creation. */
  snapshot: Record<string, JsonValue>;
  /** The engine process driving it, while it runs. */
  runnerId: string | null;
}

export type NewExecution = Omit<ExecutionRecord, 'startedAt' | 'endedAt' | 'runnerId' | 'projectId'> & {
  runnerId?: string | null;
  projectId?: string;
};

export interface JobRecord {
  id: string;
  executionId: string;
  node: string;
  operation: string;
  status: JobStatus;
  /** How many times it was started. */
  attempt: number;
  startedAt: number | null;
  endedAt: number | null;
  exitCode: number | null;
  error: JobError | null;
  pid: number | null;
  pgid: number | null;
  runnerId: string | null;
  cacheKey: string | null;
  /** For a cached job: the job whose outputs it reuses. */
  cachedFrom: string | null;
}

export type NewJob = Pick<JobRecord, 'id' | 'executionId' | 'node' | 'operation'>;

/** Fields that may change along with (or without) a status change. */
export type JobPatch = Partial<
  Pick<
    JobRecord,
    | 'attempt'
    | 'startedAt'
    | 'endedAt'
    | 'exitCode'
    | 'error'
    | 'pid'
    | 'pgid'
    | 'runnerId'
    | 'cacheKey'
    | 'cachedFrom'
  >
>;

export interface JobOutputRecord {
  jobId: string;
  name: string;
  hash: string;
  size: number;
  serializer: string;
  pyType: string;
}

export type ArtifactProvenance =
  | { kind: 'execution'; executionId: string; jobId: string; node: string; output: string }
  | { kind: 'upload' }
  /** Imported from a file: a project's artifacts/ file or `deepforge artifacts import`. */
  | { kind: 'import'; source: string };

export interface ArtifactRecord {
  id: string;
  /** The project (web server) it belongs to; '' for the unnamed scope of the CLI. */
  projectId: string;
  name: string;
  hash: string;
  size: number;
  serializer: string;
  pyType: string | null;
  createdAt: number;
  provenance: ArtifactProvenance;
}

export type NewArtifact = Omit<ArtifactRecord, 'id' | 'createdAt' | 'projectId'> & {
  id?: string;
  createdAt?: number;
  projectId?: string;
};

export const EXECUTION_SORT_KEYS = ['created', 'started', 'duration', 'name', 'status'] as const;
export type ExecutionSortKey = (typeof EXECUTION_SORT_KEYS)[number];

/** A page of the executions list, filtered and sorted by the database. */
export interface ExecutionQuery {
  /** Only this project's; every project's when absent. */
  projectId?: string;
  /** Case-insensitive substring of the name or the pipeline. */
  search?: string;
  statuses?: readonly ExecutionStatus[];
  pipeline?: string;
  sort?: ExecutionSortKey;
  order?: 'asc' | 'desc';
  limit: number;
  offset: number;
  /** Duration of executions still running is counted up to this time (ms). */
  now?: number;
}

export interface ArtifactQuery {
  /** Only this project's; every project's when absent. */
  projectId?: string;
  /** Exactly this name. */
  name?: string;
  /** Case-insensitive substring of the name. */
  search?: string;
  limit?: number;
  offset?: number;
}

export interface MetricRecord {
  jobId: string;
  step: number | null;
  name: string;
  value: number;
  t: number;
}

export interface PlotRecord {
  jobId: string;
  figure: number;
  seq: number;
  /** The plot as the job.plot event carries it (title, svg/png, axes). */
  payload: Record<string, JsonValue>;
  t: number;
}

export interface ProgressRecord {
  jobId: string;
  bar: string;
  payload: Record<string, JsonValue>;
  t: number;
}

export interface RunnerRecord {
  id: string;
  pid: number;
  host: string;
  startedAt: number;
  heartbeatAt: number;
}

export interface ExecutionUpdate {
  status?: ExecutionStatus;
  startedAt?: number | null;
  endedAt?: number | null;
  runnerId?: string | null;
  options?: Record<string, JsonValue>;
}

export interface ExecutionStore {
  /** Stores an execution with its jobs (all pending), in one transaction. */
  insertExecution(execution: NewExecution, jobs: NewJob[]): Promise<ExecutionRecord>;
  getExecution(id: string): Promise<ExecutionRecord | undefined>;
  /** Ids starting with `prefix` (for short ids on the command line), newest first. */
  findExecutionIds(prefix: string, limit: number): Promise<string[]>;
  /** Newest first. */
  listExecutions(opts: { limit: number; offset: number }): Promise<ExecutionRecord[]>;
  /** One page of the matching executions and how many match in all. */
  queryExecutions(query: ExecutionQuery): Promise<{ items: ExecutionRecord[]; total: number }>;
  /** Job counts by status for each of the executions, in one query. */
  countJobsByStatus(
    executionIds: readonly string[],
  ): Promise<Map<string, Partial<Record<JobStatus, number>>>>;
  /** Removes an execution with its jobs, outputs and telemetry; false when there was none. */
  deleteExecution(id: string): Promise<boolean>;
  /** Executions in any of the given statuses. */
  listExecutionsByStatus(statuses: readonly ExecutionStatus[]): Promise<ExecutionRecord[]>;
  /**
   * Changes an execution; a status change must be allowed by the execution state machine. With `expectRunner`,
   * it only happens while the execution still belongs to that runner (null: to none); otherwise undefined.
   */
  updateExecution(
    id: string,
    update: ExecutionUpdate,
    opts?: { expectRunner?: string | null },
  ): Promise<ExecutionRecord | undefined>;

  getJob(id: string): Promise<JobRecord | undefined>;
  /** In pipeline order (the order they were inserted). */
  listJobs(executionId: string): Promise<JobRecord[]>;
  /** Jobs in any of the given statuses, over all executions. */
  listJobsByStatus(statuses: readonly JobStatus[]): Promise<JobRecord[]>;
  /**
   * Moves a job to `to` (checked by the job state machine; an illegal move throws IllegalTransitionError).
   * With `from`, only when the job is in one of those statuses; throws otherwise.
   */
  transitionJob(
    id: string,
    to: JobStatus,
    patch?: JobPatch,
    opts?: { from?: readonly JobStatus[] },
  ): Promise<JobRecord>;
  /** Changes fields other than the status. */
  updateJob(id: string, patch: JobPatch): Promise<JobRecord>;
  /**
   * Moves a job to success or cached together with its outputs, in one transaction: a job is never successful
   * without its outputs, and outputs never exist for a job that did not succeed.
   */
  completeJob(
    id: string,
    to: 'success' | 'cached',
    outputs: Omit<JobOutputRecord, 'jobId'>[],
    patch?: JobPatch,
  ): Promise<JobRecord>;
  listJobOutputs(jobId: string): Promise<JobOutputRecord[]>;
  listExecutionOutputs(executionId: string): Promise<JobOutputRecord[]>;
  /** Successful (not cached) jobs with this cache key, newest first, with their outputs. */
  findCacheCandidates(
    cacheKey: string,
    limit: number,
  ): Promise<{ job: JobRecord; outputs: JobOutputRecord[] }[]>;

  insertArtifact(artifact: NewArtifact): Promise<ArtifactRecord>;
  getArtifact(id: string): Promise<ArtifactRecord | undefined>;
  /** The newest artifact with this name (in that project when `projectId` is given). */
  getLatestArtifact(name: string, projectId?: string): Promise<ArtifactRecord | undefined>;
  /** Newest first; with `name`, only the versions of that artifact. */
  listArtifacts(opts?: ArtifactQuery): Promise<ArtifactRecord[]>;
  countArtifacts(opts?: Omit<ArtifactQuery, 'limit' | 'offset'>): Promise<number>;
  /** Every artifact name there is a version of (in that project when given), sorted. */
  listArtifactNames(projectId?: string): Promise<string[]>;
  /** Forgets an artifact record (not its bytes); false when there was none. */
  deleteArtifact(id: string): Promise<boolean>;
  /** How many artifact records and job outputs use this content: its blob may go only at 0. */
  countHashUses(hash: string): Promise<number>;
  /**
   * Artifacts whose content id starts with `prefix`, newest first: `<scheme>:<hex prefix>` (`sha256:ab12`,
   * `sha256t:ab12`, or a whole id) for that scheme, or a bare hex prefix for any scheme.
   */
  findArtifactsByHashPrefix(prefix: string, limit: number): Promise<ArtifactRecord[]>;
  /** Artifacts whose id starts with `prefix`, newest first. */
  findArtifactsByIdPrefix(prefix: string, limit: number): Promise<ArtifactRecord[]>;

  appendMetrics(rows: readonly MetricRecord[]): Promise<void>;
  /** Keeps the latest plot per (job, figure): a row with a lower seq than the stored one is ignored. */
  upsertPlots(rows: readonly PlotRecord[]): Promise<void>;
  /** Keeps the latest state per (job, bar). */
  upsertProgress(rows: readonly ProgressRecord[]): Promise<void>;
  listMetrics(jobId: string): Promise<MetricRecord[]>;
  listPlots(jobId: string): Promise<PlotRecord[]>;
  listProgress(jobId: string): Promise<ProgressRecord[]>;
  /** Forgets a job's telemetry, when it starts again. */
  clearTelemetry(jobId: string): Promise<void>;

  registerRunner(runner: RunnerRecord): Promise<void>;
  /** False when the runner's record is gone (another engine declared it dead). */
  heartbeatRunner(id: string, t: number): Promise<boolean>;
  listRunners(): Promise<RunnerRecord[]>;
  removeRunner(id: string): Promise<void>;

  close(): Promise<void>;
}
