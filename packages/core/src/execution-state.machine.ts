/**
 * The job and execution state model: the statuses and the moves between them, one definition for the engine (which
 * checks every stored change against it), the protocol (whose schemas enumerate these tuples) and the client.
 */

/** The status of one job (one operation of an execution). */
export const JOB_STATUSES = [
  'pending',
  'queued',
  'running',
  'success',
  'failed',
  'canceled',
  'cached',
] as const;
export type JobStatus = (typeof JOB_STATUSES)[number];

/** The status of an execution: its jobs' statuses rolled up, without `queued` and `cached`. */
export const EXECUTION_STATUSES = ['pending', 'running', 'success', 'failed', 'canceled'] as const;
export type ExecutionStatus = (typeof EXECUTION_STATUSES)[number];

const JOB_TRANSITIONS: Record<JobStatus, readonly JobStatus[]> = {
  pending: ['queued', 'canceled', 'cached'],
  queued: ['running', 'canceled'],
  running: ['success', 'failed', 'canceled'],
  // Resuming an execution puts failed and canceled jobs back in line.
  failed: ['pending'],
  canceled: ['pending'],
  success: [],
  cached: [],
};

const EXECUTION_TRANSITIONS: Record<ExecutionStatus, readonly ExecutionStatus[]> = {
  pending: ['running', 'failed', 'canceled'],
  running: ['success', 'failed', 'canceled'],
  // A background check found one of its outputs corrupt after it ended (docs/adr/0005).
  success: ['failed'],
  // Resume.
  failed: ['running'],
  canceled: ['running'],
};

/**
 * Jobs: pending → queued → running → success | failed | canceled; pending → cached (a cache hit) or canceled
 * (never started); failed/canceled → pending on resume. Success and cached are final.
 */
export function canTransitionJob(from: JobStatus, to: JobStatus): boolean {
  // Statuses come from stored data and the wire too: anything not in the table is refused, not trusted.
  return Object.hasOwn(JOB_TRANSITIONS, from) && JOB_TRANSITIONS[from].includes(to);
}

/**
 * Executions: pending → running → success | failed | canceled, failed/canceled → running on resume, and
 * success → failed when an output is found corrupt after the end.
 */
export function canTransitionExecution(from: ExecutionStatus, to: ExecutionStatus): boolean {
  return Object.hasOwn(EXECUTION_TRANSITIONS, from) && EXECUTION_TRANSITIONS[from].includes(to);
}

/** Pending or queued: the job has not started, so it can still be canceled without stopping anything. */
export function isWaitingJobStatus(s: JobStatus): boolean {
  return s === 'pending' || s === 'queued';
}

/** A job in this status stays there unless its execution is resumed. */
export function isTerminalJobStatus(s: JobStatus): boolean {
  return s === 'success' || s === 'failed' || s === 'canceled' || s === 'cached';
}

/** Success or cached: the job's outputs can be used downstream. */
export function isSuccessfulJobStatus(s: JobStatus): boolean {
  return s === 'success' || s === 'cached';
}

/** Nothing changes any more unless the execution is resumed (or a late check fails a successful one). */
export function isTerminalExecutionStatus(s: ExecutionStatus): boolean {
  return s === 'success' || s === 'failed' || s === 'canceled';
}

/** Pending or running: an engine drives it, so it can be canceled but not deleted or resumed. */
export function isActiveExecutionStatus(s: ExecutionStatus): boolean {
  return s === 'pending' || s === 'running';
}

/** Failed or canceled: a resume runs again what did not succeed. */
export function isResumableExecutionStatus(s: ExecutionStatus): boolean {
  return s === 'failed' || s === 'canceled';
}
