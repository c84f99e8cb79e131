// A worker's messages keep their order across a lost connection: what waited for the turn's frame when the
// connection went is kept before what comes after (a job's last event before its job.finished).
import { describe, expect, it } from 'vitest';
import { join } from 'node:path';
import { tmpdir } from 'node:os';
import { findRuntimeDir } from '@deepforge/engine';
import { TEST_PYTHON, cleanEnv } from '@deepforge/engine/test-support';
import type { WorkerMessage } from '@deepforge/protocol';
import { WorkerAgent } from './worker.agent.js';

/** The agent's connection state, as its socket handlers set it. */
interface Inside {
  ws: { readyState: number; OPEN: number; send(frame: string): void } | undefined;
  welcomed: boolean;
  outbox: WorkerMessage[];
  send(message: WorkerMessage): void;
}

describe('WorkerAgent messages', () => {
  it('keeps what waited for a frame before what comes once the connection is gone', async () => {
    const agent = new WorkerAgent({
      serverUrl: 'http://127.0.0.1:1',
      token: 'dfw_test',
      labels: [],
      slots: 1,
      workDir: join(tmpdir(), 'df-outbox-never-made'),
      python: TEST_PYTHON,
      runtimeDir: findRuntimeDir(),
      env: cleanEnv(),
      warmWorker: false,
      cacheMaxBytes: 1024,
      report: () => undefined,
    });
    const inside = agent as unknown as Inside;
    const frames: string[] = [];
    inside.ws = { readyState: 1, OPEN: 1, send: (frame) => frames.push(frame) };
    inside.welcomed = true;
    const ref = { jobId: 'e.n', epoch: 1 };
    const event = { type: 'job.event', ...ref, event: { type: 'phase', phase: 'saving-outputs' } };
    const finished = {
      type: 'job.finished',
      ...ref,
      outcome: 'exited',
      exitCode: 0,
      signal: null,
      stderrTail: [],
      logTruncated: false,
      badEvents: 0,
    };
    inside.send(event as WorkerMessage);
    // The connection goes before the turn's frame is written.
    inside.welcomed = false;
    inside.send(finished as WorkerMessage);
    await new Promise((resolve) => setImmediate(resolve));
    expect(frames).toEqual([]);
    expect(inside.outbox.map((m) => m.type)).toEqual(['job.event', 'job.finished']);
  });
});
