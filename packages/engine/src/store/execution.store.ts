import type { ExecutionStatus, JobStatus, JsonValue } from '@deepforge/core';
import type { JobError, JobUsage } from '@deepforge/protocol';

/**
 * The execution store port: executions, their jobs and the outputs each job recorded. One of the four ports a
 * database gives the engine (with artifact.store.ts, telemetry.store.ts and runner.store.ts; DatabaseStores holds
 * them); each has its conformance suite (execution.store.conformance.ts), run against every adapter. Adapter:
 * kysely-execution.store.ts on SQLite and PostgreSQL.
 *
 * Times are milliseconds since the Unix epoch. Every status change is checked against core's state machines
 * (execution-state.machine.ts) and applied as a compare-and-set, so two engines on one database cannot both move
 * a job. A job belongs to its execution: deleting the execution deletes its jobs, their outputs and whatever the
 * other ports of the same database keep for those jobs (their telemetry).
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
  /** The project version (git commit id, docs/adr/0020) it started from; null before history or in the CLI. */
  version: string | null;
}

export type NewExecution = Omit<
  ExecutionRecord,
  'startedAt' | 'endedAt' | 'runnerId' | 'projectId' | 'version'
> & {
  runnerId?: string | null;
  projectId?: string;
  version?: string | null;
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
  /** What its last run used (CPU time, peak memory), when its process said; null otherwise. */
  usage: JobUsage | null;
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
    | 'usage'
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

/** An output as a job records it (the job is given apart). */
export type NewJobOutput = Omit<JobOutputRecord, 'jobId'>;

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
  /**
   * transitionJob for several jobs in one transaction: all move, or (one move being illegal or a job missing)
   * none does and the error is thrown. Returns the jobs as they are then, in the order given.
   */
  transitionJobs(moves: readonly { id: string; to: JobStatus; patch?: JobPatch }[]): Promise<JobRecord[]>;
  /** Changes fields other than the status. */
  updateJob(id: string, patch: JobPatch): Promise<JobRecord>;
  /**
   * Moves a job to success or cached together with its outputs, in one transaction: a job is never successful
   * without its outputs, and outputs never exist for a job that did not succeed.
   */
  completeJob(
    id: string,
    to: 'success' | 'cached',
    outputs: NewJobOutput[],
    patch?: JobPatch,
  ): Promise<JobRecord>;
  /**
   * `completeJob`, with moves of other jobs in the same transaction (the downstream jobs its success makes
   * runnable, to `queued`: one durable write for both); their records come back in `moved`, in order.
   */
  completeJobAndMove(
    id: string,
    to: 'success' | 'cached',
    outputs: NewJobOutput[],
    patch: JobPatch,
    moves: readonly { id: string; to: JobStatus; patch?: JobPatch }[],
  ): Promise<{ job: JobRecord; moved: JobRecord[] }>;
  listJobOutputs(jobId: string): Promise<JobOutputRecord[]>;
  listExecutionOutputs(executionId: string): Promise<JobOutputRecord[]>;
  /**
   * Successful (not cached) jobs with this cache key in executions of `projectId` ('' is the CLI's unnamed
   * scope), newest first, with their outputs. Never another project's: a job's outputs may depend on what the
   * key does not hold (the project's secrets, data it downloads), and a project's outputs are its members' only.
   */
  findCacheCandidates(
    cacheKey: string,
    limit: number,
    projectId: string,
  ): Promise<{ job: JobRecord; outputs: JobOutputRecord[] }[]>;
  /** How many job outputs hold this content (with ArtifactStore.countWithHash: its blob may go only at 0). */
  countOutputsWithHash(hash: string): Promise<number>;
  /** The job outputs that hold this content, by job id and name (when its blob is found corrupt: what made it). */
  listOutputsWithHash(hash: string): Promise<JobOutputRecord[]>;
}
