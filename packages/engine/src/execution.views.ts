import type { ExecutionStatus, JobStatus, JsonValue, Pipeline } from '@deepforge/core';
import type { JobError, JobUsage } from '@deepforge/protocol';
import { codeDirOf, consoleLogOf, executionDir } from './execution/execution-files.js';
import { readExecutionSnapshot } from './execution/execution-snapshot.js';
import type { ExecutionRecord, ExecutionStore, JobOutputRecord, JobRecord } from './store/execution.store.js';

export interface JobOutputView {
  name: string;
  hash: string;
  size: number;
  serializer: string;
  pyType: string;
}

export interface JobView {
  id: string;
  node: string;
  operation: string;
  status: JobStatus;
  attempt: number;
  startedAt: number | null;
  endedAt: number | null;
  /** endedAt − startedAt, or the time so far while it runs; null before it starts. */
  durationMs: number | null;
  exitCode: number | null;
  error: JobError | null;
  cacheKey: string | null;
  cachedFrom: string | null;
  outputs: JobOutputView[];
  /** What its last run used (CPU time, peak memory), when its process said. */
  usage: JobUsage | null;
  /** The job's console log file. */
  logFile: string;
}

export interface ExecutionSummary {
  id: string;
  name: string;
  /** The project (web server) it belongs to; '' for the CLI's unnamed scope. */
  projectId: string;
  project: string;
  pipeline: string;
  status: ExecutionStatus;
  createdAt: number;
  startedAt: number | null;
  endedAt: number | null;
  durationMs: number | null;
  /** How many jobs are in each status. */
  jobCounts: Partial<Record<JobStatus, number>>;
  /** The project version it started from (docs/adr/0020), when known. */
  version: string | null;
}

export interface ExecutionDetails extends ExecutionSummary {
  options: Record<string, JsonValue>;
  /** The pipeline as it runs (overrides applied), from the execution's snapshot. */
  pipelineSnapshot: Pipeline;
  /** Node → every attribute's value its job runs with, defaults included (from the snapshot). */
  effectiveAttributes: Record<string, Record<string, JsonValue>>;
  /** `<dataDir>/executions/<id>`: code snapshot and job directories. */
  dir: string;
  codeDir: string;
  jobs: JobView[];
  /** The first failed job (in pipeline order) and why, for a one-line answer to "why did it fail?". */
  failure: { node: string; error: JobError } | null;
}

function duration(start: number | null, end: number | null, now: number): number | null {
  if (start === null) return null;
  return (end ?? now) - start;
}

export function countJobs(jobs: readonly Pick<JobRecord, 'status'>[]): Partial<Record<JobStatus, number>> {
  const jobCounts: Partial<Record<JobStatus, number>> = {};
  for (const j of jobs) jobCounts[j.status] = (jobCounts[j.status] ?? 0) + 1;
  return jobCounts;
}

export function summarize(
  e: ExecutionRecord,
  jobs: readonly Pick<JobRecord, 'status'>[] | Partial<Record<JobStatus, number>>,
  now: number,
): ExecutionSummary {
  const jobCounts = Array.isArray(jobs)
    ? countJobs(jobs)
    : { ...(jobs as Partial<Record<JobStatus, number>>) };
  return {
    id: e.id,
    name: e.name,
    projectId: e.projectId,
    project: e.project,
    pipeline: e.pipeline,
    status: e.status,
    createdAt: e.createdAt,
    startedAt: e.startedAt,
    endedAt: e.endedAt,
    durationMs: duration(e.startedAt, e.endedAt, now),
    jobCounts,
    version: e.version,
  };
}

export async function executionDetails(
  store: ExecutionStore,
  dataDir: string,
  e: ExecutionRecord,
  now: number,
): Promise<ExecutionDetails> {
  const jobs = await store.listJobs(e.id);
  const outputs = await store.listExecutionOutputs(e.id);
  const byJob = new Map<string, JobOutputRecord[]>();
  for (const o of outputs) {
    const list = byJob.get(o.jobId) ?? [];
    list.push(o);
    byJob.set(o.jobId, list);
  }
  const views: JobView[] = jobs.map((j) => ({
    id: j.id,
    node: j.node,
    operation: j.operation,
    status: j.status,
    attempt: j.attempt,
    startedAt: j.startedAt,
    endedAt: j.endedAt,
    durationMs: duration(j.startedAt, j.endedAt, now),
    exitCode: j.exitCode,
    error: j.error,
    cacheKey: j.cacheKey,
    cachedFrom: j.cachedFrom,
    usage: j.usage,
    outputs: (byJob.get(j.id) ?? []).map(({ name, hash, size, serializer, pyType }) => ({
      name,
      hash,
      size,
      serializer,
      pyType,
    })),
    logFile: consoleLogOf(dataDir, e.id, j.node),
  }));
  // A successful job with an error is one whose output was found corrupt after it was recorded.
  const failed = jobs.find((j) => (j.status === 'failed' || j.status === 'success') && j.error);
  const snapshot = readExecutionSnapshot(e);
  return {
    ...summarize(e, jobs, now),
    options: e.options,
    pipelineSnapshot: snapshot.pipeline,
    effectiveAttributes: snapshot.effectiveAttributes,
    dir: executionDir(dataDir, e.id),
    codeDir: codeDirOf(dataDir, e.id),
    jobs: views,
    failure: failed ? { node: failed.node, error: failed.error! } : null,
  };
}
