import { describe, expect, it } from 'vitest';
import {
  canTransitionExecution,
  canTransitionJob,
  EXECUTION_STATUSES,
  isActiveExecutionStatus,
  isResumableExecutionStatus,
  isSuccessfulJobStatus,
  isTerminalExecutionStatus,
  isTerminalJobStatus,
  isWaitingJobStatus,
  JOB_STATUSES,
  type ExecutionStatus,
  type JobStatus,
} from './execution-state.machine.js';

describe('job state machine', () => {
  const allowed: [JobStatus, JobStatus][] = [
    ['pending', 'queued'],
    ['pending', 'canceled'],
    ['pending', 'cached'],
    ['queued', 'running'],
    ['queued', 'canceled'],
    ['running', 'success'],
    ['running', 'failed'],
    ['running', 'canceled'],
    ['failed', 'pending'],
    ['canceled', 'pending'],
  ];

  it('allows exactly the documented transitions', () => {
    for (const from of JOB_STATUSES) {
      for (const to of JOB_STATUSES) {
        const expected = allowed.some(([f, t]) => f === from && t === to);
        expect(canTransitionJob(from, to), `${from} → ${to}`).toBe(expected);
      }
    }
  });

  it('refuses statuses it does not know', () => {
    expect(canTransitionJob('done' as JobStatus, 'pending')).toBe(false);
    expect(canTransitionJob('pending', 'done' as JobStatus)).toBe(false);
    expect(canTransitionJob('toString' as JobStatus, 'pending')).toBe(false);
  });

  it('knows the terminal and the successful statuses', () => {
    expect(JOB_STATUSES.filter(isTerminalJobStatus).sort()).toEqual([
      'cached',
      'canceled',
      'failed',
      'success',
    ]);
    expect(JOB_STATUSES.filter(isSuccessfulJobStatus).sort()).toEqual(['cached', 'success']);
    expect(JOB_STATUSES.filter(isWaitingJobStatus)).toEqual(['pending', 'queued']);
    // A terminal status leaves only for `pending` (resume), never for anything else.
    for (const from of JOB_STATUSES.filter(isTerminalJobStatus)) {
      for (const to of JOB_STATUSES) if (to !== 'pending') expect(canTransitionJob(from, to)).toBe(false);
    }
  });
});

describe('execution state machine', () => {
  const allowed: [ExecutionStatus, ExecutionStatus][] = [
    ['pending', 'running'],
    ['pending', 'failed'],
    ['pending', 'canceled'],
    ['running', 'success'],
    ['running', 'failed'],
    ['running', 'canceled'],
    ['success', 'failed'],
    ['failed', 'running'],
    ['canceled', 'running'],
  ];

  it('allows exactly the documented transitions', () => {
    for (const from of EXECUTION_STATUSES) {
      for (const to of EXECUTION_STATUSES) {
        const expected = allowed.some(([f, t]) => f === from && t === to);
        expect(canTransitionExecution(from, to), `${from} → ${to}`).toBe(expected);
      }
    }
    expect(canTransitionExecution('queued' as ExecutionStatus, 'running')).toBe(false);
    expect(canTransitionExecution('running', 'constructor' as ExecutionStatus)).toBe(false);
  });

  it('sorts the statuses into active, terminal and resumable', () => {
    expect(EXECUTION_STATUSES.filter(isActiveExecutionStatus)).toEqual(['pending', 'running']);
    expect(EXECUTION_STATUSES.filter(isTerminalExecutionStatus)).toEqual(['success', 'failed', 'canceled']);
    expect(EXECUTION_STATUSES.filter(isResumableExecutionStatus)).toEqual(['failed', 'canceled']);
    // Every execution status is a job status too: the client draws both with one palette.
    for (const s of EXECUTION_STATUSES) expect(JOB_STATUSES).toContain(s);
  });
});
