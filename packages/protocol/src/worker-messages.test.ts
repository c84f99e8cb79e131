import { describe, expect, it } from 'vitest';
import {
  ServerMessageSchema,
  WORKER_PROTOCOL_VERSION,
  WorkerMessageSchema,
  workerVersionProblem,
} from './worker-messages.js';

const hello = {
  type: 'hello',
  v: WORKER_PROTOCOL_VERSION,
  workerId: 'host-1-abc',
  name: 'host',
  labels: ['gpu', 'zone:eu'],
  slots: 2,
  running: [{ jobId: 'j1', epoch: 3 }],
};

function problems(result: { error?: { issues: { path: PropertyKey[]; message: string }[] } }): string[] {
  return (result.error?.issues ?? []).map((i) => `${i.path.join('.')}: ${i.message}`);
}

describe('worker protocol messages (docs/adr/0015)', () => {
  it('reads every worker message it defines', () => {
    const messages = [
      hello,
      { type: 'heartbeat', running: [] },
      { type: 'job.started', jobId: 'j1', epoch: 1, pid: 42 },
      { type: 'job.start-failed', jobId: 'j1', epoch: 1, message: 'no python' },
      { type: 'job.start-failed', jobId: 'j1', epoch: 1, message: 'pip failed', kind: 'environment' },
      { type: 'job.log', jobId: 'j1', epoch: 1, stream: 'stdout', text: 'hi' },
      {
        type: 'job.event',
        jobId: 'j1',
        epoch: 1,
        event: { v: 1, t: 5, type: 'metric', step: 1, values: { loss: 0.5 } },
      },
      {
        type: 'job.finished',
        jobId: 'j1',
        epoch: 1,
        outcome: 'exited',
        exitCode: 0,
        signal: null,
        stderrTail: [],
        logTruncated: false,
        badEvents: 0,
      },
    ];
    for (const m of messages) expect(WorkerMessageSchema.parse(m)).toEqual(m);
  });

  it('reads every server message it defines', () => {
    const messages = [
      { type: 'welcome', v: 1, leaseTimeoutMs: 30000, heartbeatMs: 5000, lost: [] },
      { type: 'refused', code: 'worker-too-old', message: 'update' },
      {
        type: 'job.assign',
        jobId: 'j1',
        epoch: 2,
        executionId: 'e1',
        node: 'n',
        code: { 'operations/A.py': 'class A: pass\n' },
        operation: { file: 'operations/A.py', className: 'A' },
        attributes: { k: 1 },
        inputs: { x: { hash: `sha256:${'ab'.repeat(32)}`, size: 3, serializer: 'pickle' } },
        references: {},
        outputs: ['y'],
        timeoutMs: 0,
        logMaxBytes: 1024,
        secretEnv: {},
      },
      { type: 'job.cancel', jobId: 'j1', epoch: 2, reason: 'canceled by the user' },
      { type: 'job.result', jobId: 'j1', epoch: 2, accepted: false, message: 'lease lost' },
    ];
    for (const m of messages) expect(ServerMessageSchema.parse(m)).toEqual(m);
  });

  it('names the field that is wrong, and refuses unknown fields and types', () => {
    expect(problems(WorkerMessageSchema.safeParse({ ...hello, labels: ['GPU'] }))).toEqual([
      'labels.0: a label is lowercase letters, digits, ".", "_", "-" or ":"',
    ]);
    expect(problems(WorkerMessageSchema.safeParse({ ...hello, slots: 0 }))).toEqual([
      'slots: Too small: expected number to be >=1',
    ]);
    expect(
      problems(WorkerMessageSchema.safeParse({ type: 'job.started', jobId: 'j', epoch: 0, pid: 1 })),
    ).toEqual(['epoch: Too small: expected number to be >=1']);
    expect(WorkerMessageSchema.safeParse({ ...hello, extra: 1 }).success).toBe(false);
    expect(WorkerMessageSchema.safeParse({ type: 'job.steal', jobId: 'j', epoch: 1 }).success).toBe(false);
    expect(
      WorkerMessageSchema.safeParse({
        type: 'job.start-failed',
        jobId: 'j',
        epoch: 1,
        message: 'x',
        kind: 'oom',
      }).success,
    ).toBe(false);
    // A runtime event inside job.event is checked as strictly as the harness's own channel.
    expect(
      WorkerMessageSchema.safeParse({
        type: 'job.event',
        jobId: 'j',
        epoch: 1,
        event: { v: 1, t: 0, type: 'metric', step: null },
      }).success,
    ).toBe(false);
  });

  it('says which side is too old', () => {
    expect(workerVersionProblem(WORKER_PROTOCOL_VERSION)).toBeUndefined();
    expect(workerVersionProblem(WORKER_PROTOCOL_VERSION - 1)?.code).toBe('worker-too-old');
    expect(workerVersionProblem(WORKER_PROTOCOL_VERSION + 1)?.code).toBe('server-too-old');
    expect(workerVersionProblem(WORKER_PROTOCOL_VERSION + 1)?.message).toMatch(/update the server/);
  });
});
