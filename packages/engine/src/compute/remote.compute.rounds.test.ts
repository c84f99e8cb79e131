// The dispatcher writes a round in one transaction: the jobs queued, the leases completed and the leases granted
// together (WorkerStore.writeRound), never one batch form after another. A job whose operation has ended (its usage
// event) gives its slot back before its process has exited, unless it holds GPUs.
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { pino } from 'pino';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { WORKER_PROTOCOL_VERSION, type ServerMessage, type WorkerMessage } from '@deepforge/protocol';
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

function request(codeDir: string, i: number, gpus = 0): ComputeJobRequest {
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
    ...(gpus > 0 ? { gpus } : {}),
  };
}

/** Resolves once `check` holds, looking after each turn of the event loop. */
async function until(check: () => boolean): Promise<void> {
  for (let i = 0; i < 2000 && !check(); i++) await new Promise((r) => setTimeout(r, 5));
  expect(check()).toBe(true);
}

type Assign = Extract<ServerMessage, { type: 'job.assign' }>;

/**
 * A remote compute on a real SQLite store (its writes watched: `rounds`, and `separate` for any batch form), with
 * one worker of `slots` slots and `gpus` GPUs connected through a link that keeps what it is sent.
 */
async function connected({ slots, gpus = 0 }: { slots: number; gpus?: number }) {
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
    slots,
    running: [],
    ...(gpus > 0
      ? { gpus: Array.from({ length: gpus }, (_, index) => ({ index, name: 'GPU', memoryMiB: 1024 })) }
      : {}),
  });
  const assigned = () => sent.filter((m): m is Assign => m.type === 'job.assign');
  return { stores, rounds, separate, compute, codeDir, sent, link, assigned };
}

const handlers = { onEvent: () => undefined, onLog: () => undefined };

/** A worker's report that the job of `a` exited 0. */
function finishedOf(a: Assign): WorkerMessage {
  return {
    type: 'job.finished',
    jobId: a.jobId,
    epoch: a.epoch,
    outcome: 'exited',
    exitCode: 0,
    signal: null,
    stderrTail: [],
    logTruncated: false,
    badEvents: 0,
  };
}

describe('RemoteCompute rounds', () => {
  it('completes the leases that finished together and leases their slots again in one transaction', async () => {
    const { stores, rounds, separate, compute, codeDir, sent, link, assigned } = await connected({
      slots: 2,
    });
    // Started (queued) all at once; only two ever run here, the others end when the compute closes.
    for (let i = 0; i < 6; i++) void compute.start(request(codeDir, i), handlers).catch(() => undefined);
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
      void compute.receive(link, finishedOf(a));
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

  it('leases a slot again once its job has reported its end (usage), before the process exits; not one holding GPUs', async () => {
    const { stores, compute, codeDir, link, assigned } = await connected({ slots: 1, gpus: 1 });
    const queued = async (jobId: string): Promise<void> => {
      for (let i = 0; i < 2000; i++) {
        if ((await stores.workers.listLeases()).some((l) => l.jobId === jobId)) return;
        await new Promise((r) => setTimeout(r, 5));
      }
      throw new Error(`${jobId} was never queued`);
    };
    const usage = (a: Assign) =>
      compute.receive(link, {
        type: 'job.event',
        jobId: a.jobId,
        epoch: a.epoch,
        event: { v: 1, t: Date.now(), type: 'usage', cpuSeconds: 0.01, peakRssBytes: 1 },
      });
    const finished = (a: Assign) => compute.receive(link, finishedOf(a));
    // Two jobs on the GPU, then two without, queued in this order (each start makes its folders first).
    for (const [i, gpus] of [
      [0, 1],
      [1, 1],
      [2, 0],
      [3, 0],
    ] as const) {
      void compute.start(request(codeDir, i, gpus), handlers).catch(() => undefined);
      await queued(`e1.j${i}`);
    }
    // A GPU job's slot (and GPU) is free only once its process has gone: its usage changes nothing.
    const [g0] = assigned();
    await compute.receive(link, { type: 'job.started', jobId: g0!.jobId, epoch: g0!.epoch, pid: 1 });
    await usage(g0!);
    await new Promise((r) => setTimeout(r, 100));
    expect(assigned()).toHaveLength(1);
    await finished(g0!);
    await until(() => assigned().length === 2);
    const g1 = assigned()[1]!;
    expect(g1.jobId).toBe('e1.j1');
    await usage(g1);
    await new Promise((r) => setTimeout(r, 100));
    expect(assigned()).toHaveLength(2);
    await finished(g1);

    // Without GPUs, the next job is leased as soon as the usage comes, while the process still exits.
    await until(() => assigned().length === 3);
    const c2 = assigned()[2]!;
    expect(c2.jobId).toBe('e1.j2');
    await compute.receive(link, { type: 'job.started', jobId: c2.jobId, epoch: c2.epoch, pid: 2 });
    await usage(c2);
    await until(() => assigned().length === 4);
    expect(assigned()[3]!.jobId).toBe('e1.j3');
    // Both are the worker's now; the first one's result is still accepted.
    expect(
      compute
        .listWorkers()[0]!
        .running.map((r) => r.jobId)
        .sort(),
    ).toEqual(['e1.j2', 'e1.j3']);
    await finished(c2);
    expect(compute.listWorkers()[0]!.running.map((r) => r.jobId)).toEqual(['e1.j3']);
  });
});
