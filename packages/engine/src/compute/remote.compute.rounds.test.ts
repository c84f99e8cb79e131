// The dispatcher writes a round in one transaction: the jobs queued, the leases completed and the leases granted
// together (WorkerStore.writeRound), never one batch form after another.
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { pino } from 'pino';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { WORKER_PROTOCOL_VERSION, type ServerMessage } from '@deepforge/protocol';
import { openSqliteStores } from '../store/sqlite.store.js';
import type { DispatchRound, WorkerStore } from '../store/worker.store.js';
import { makeTempDir, removeTree, TEST_PYTHON } from '../test-support/temp-dir.js';
import type { ComputeJobRequest } from './job.compute.js';
import { RemoteCompute, type WorkerLink } from './remote.compute.js';

let root: string;
let close: (() => Promise<void>) | undefined;

beforeEach(async () => {
  root = await makeTempDir('remote-rounds');
});
afterEach(async () => {
  await close?.();
  close = undefined;
  await removeTree(root);
});

function request(codeDir: string, i: number): ComputeJobRequest {
  const jobDir = join(root, 'jobs', `j${i}`);
  return {
    jobId: `e1.j${i}`,
    runnerId: 'test',
    spec: {
      v: 1,
      codeDir,
      operation: { file: 'operations/Op.py', className: 'Op' },
      attributes: {},
      references: {},
      inputs: {},
      outputs: [],
      outputDir: join(jobDir, 'out'),
      workDir: join(jobDir, 'work'),
      debug: false,
    },
    jobDir,
    logFile: join(jobDir, 'console.log'),
    logMaxBytes: 1024 * 1024,
    timeoutMs: 0,
    python: TEST_PYTHON,
  };
}

/** Resolves once `check` holds, looking after each turn of the event loop. */
async function until(check: () => boolean): Promise<void> {
  for (let i = 0; i < 2000 && !check(); i++) await new Promise((r) => setTimeout(r, 5));
  expect(check()).toBe(true);
}

describe('RemoteCompute rounds', () => {
  it('completes the leases that finished together and leases their slots again in one transaction', async () => {
    const stores = await openSqliteStores(join(root, 'deepforge.db'));
    const rounds: DispatchRound[] = [];
    const separate: string[] = [];
    // The real store, watched: every write of the dispatcher must be a round.
    const watched = new Proxy(stores.workers, {
      get(target, key, receiver) {
        const value = Reflect.get(target, key, receiver) as unknown;
        if (typeof value !== 'function') return value;
        return (...args: unknown[]) => {
          if (key === 'writeRound') rounds.push(args[0] as DispatchRound);
          if (key === 'enqueueJobs' || key === 'completeLeases' || key === 'leaseJobs') separate.push(key);
          return (value as (...a: unknown[]) => unknown).apply(target, args);
        };
      },
    }) as WorkerStore;
    const compute = new RemoteCompute({
      store: watched,
      storage: {
        openRead: () => Promise.reject(new Error('no inputs here')),
        size: () => Promise.resolve(0),
      },
      logger: pino({ enabled: false }),
      leaseTimeoutMs: 60_000,
      onLost: 'requeue',
    });
    close = async () => {
      await compute.close();
      await stores.close();
    };
    const codeDir = join(root, 'code');
    await mkdir(join(codeDir, 'operations'), { recursive: true });
    await writeFile(
      join(codeDir, 'operations', 'Op.py'),
      'class Op():\n    def execute(self):\n        pass\n',
    );
    const sent: ServerMessage[] = [];
    const link: WorkerLink = { send: (m) => sent.push(m), close: () => undefined };
    await stores.workers.insertWorkerToken({
      id: 't1',
      name: 'w',
      tokenHash: 'h',
      prefix: 'dfw_',
      createdAt: 1,
      createdBy: 'test',
      lastUsedAt: null,
      revokedAt: null,
    });
    const token = (await stores.workers.getWorkerToken('t1'))!;
    await compute.connect(link, token, {
      type: 'hello',
      v: WORKER_PROTOCOL_VERSION,
      workerId: 'w1',
      name: 'w',
      labels: [],
      slots: 2,
      running: [],
    });

    const handlers = { onEvent: () => undefined, onLog: () => undefined };
    // Started (queued) all at once; only two ever run here, the others end when the compute closes.
    for (let i = 0; i < 6; i++) void compute.start(request(codeDir, i), handlers).catch(() => undefined);
    const assigned = () =>
      sent.filter((m): m is Extract<ServerMessage, { type: 'job.assign' }> => m.type === 'job.assign');
    await until(() => assigned().length === 2);
    // Every job queued (each start reads its code and makes its folders first, at its own pace).
    let records = 0;
    for (let i = 0; i < 2000 && records < 6; i++) {
      records = (await stores.workers.listLeases()).length;
      if (records < 6) await new Promise((r) => setTimeout(r, 5));
    }
    expect(records).toBe(6);

    // Both jobs end at once: their completions and the next two leases are one round.
    const first = assigned();
    const before = rounds.length;
    for (const a of first) {
      const ref = { jobId: a.jobId, epoch: a.epoch };
      void compute.receive(link, { type: 'job.started', ...ref, pid: 1 });
      void compute.receive(link, {
        type: 'job.finished',
        ...ref,
        outcome: 'exited',
        exitCode: 0,
        signal: null,
        stderrTail: [],
        logTruncated: false,
        badEvents: 0,
      });
    }
    await until(() => assigned().length === 4);
    const round = rounds.slice(before).find((r) => r.complete.length > 0)!;
    expect(round.complete.map((c) => c.jobId).sort()).toEqual(first.map((a) => a.jobId).sort());
    expect(round.lease).toHaveLength(2);
    expect(sent.filter((m) => m.type === 'job.result')).toEqual(
      first.map((a) => ({ type: 'job.result', jobId: a.jobId, epoch: a.epoch, accepted: true })),
    );
    expect(separate).toEqual([]);
    expect((await stores.workers.listLeases()).map((l) => l.state).sort()).toEqual([
      'done',
      'done',
      'leased',
      'leased',
      'queued',
      'queued',
    ]);
  });
});
