import type { ExecutionStatus } from '@deepforge/protocol';
import { DONE_STATUSES, TERMINAL_STATUSES, canTransition, type JobStatus } from '@deepforge/core';

export type { JobStatus };

/** The job state machine is core's: one definition for the engine, the server and the client. */
export function canTransitionJob(from: JobStatus, to: JobStatus): boolean {
  return canTransition(from, to);
}

export function isTerminalJobStatus(s: JobStatus): boolean {
  return TERMINAL_STATUSES.has(s);
}

/** Success or cached: the job's outputs can be used downstream. */
export function isSuccessfulJobStatus(s: JobStatus): boolean {
  return DONE_STATUSES.has(s);
}

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
 * Executions: pending → running → success | failed | canceled, failed/canceled → running on resume, and
 * success → failed when an output is found corrupt after the end.
 */
export function canTransitionExecution(from: ExecutionStatus, to: ExecutionStatus): boolean {
  return EXECUTION_TRANSITIONS[from].includes(to);
}
