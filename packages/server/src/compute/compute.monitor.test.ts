import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import {
  REPORTING_CHAIN,
  TEST_PYTHON,
  chain,
  cleanEnv,
  makeTempDir,
  py,
  removeTree,
  writeProjectFolder,
} from '@deepforge/engine/test-support';
import {
  ComputeStateSchema,
  EXECUTION_EVENTS_VERSION,
  WORKER_PROTOCOL_VERSION,
  type ComputeStateDto,
} from '@deepforge/protocol';
import type { SettingsValues } from '@deepforge/engine';
import pino from 'pino';
import { createServer, type DeepForgeServer } from '../server.app.js';
import { ComputeMonitor } from './compute.monitor.js';
import { TestSocket } from '../test-support/ws-client.js';
import type { WorkerAgent } from '../workers/worker.agent.js';
import { startTestAgent } from '../test-support/worker-agent.js';

/**
 * The Compute view's state (GET /api/compute and the `compute` message of /api/events), from a real server with
 * a real worker on loopback, and from a `deepforge start` server running a job itself.
 */

let root: string;
let server: DeepForgeServer | undefined;
let agent: WorkerAgent | undefined;

afterEach(async () => {
  await agent?.stop();
  agent = undefined;
  await server?.close();
  server = undefined;
  await removeTree(root);
});

async function start(compute: 'none' | 'local', settings: Partial<SettingsValues> = {}): Promise<string> {
  root = await makeTempDir('compute-view');
  server = await createServer({
    dataDir: join(root, 'server'),
    env: cleanEnv({ DEEPFORGE_LOG_LEVEL: 'warn' }),
    compute,
    clientDir: join(root, 'no-client'),
    settings: { python: TEST_PYTHON, 'workers.leaseTimeout': 2, 'executions.concurrency': 3, ...settings },
  });
  return server.listen(0, '127.0.0.1');
}

async function computeState(): Promise<ComputeStateDto> {
  const res = await server!.app.inject({ method: 'GET', url: '/api/compute' });
  expect(res.statusCode).toBe(200);
  return ComputeStateSchema.parse(res.json());
}

async function until<T>(what: string, get: () => Promise<T | undefined>, timeoutMs = 20_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const got = await get();
    if (got !== undefined) return got;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

const SLOW = {
  ...REPORTING_CHAIN,
  operations: {
    ...REPORTING_CHAIN.operations,
    Slow: py(
      'import time',
      'class Slow():',
      '    def execute(self, x):',
      '        time.sleep(2.5)',
      '        slowed = x + 1',
      '        return slowed',
    ),
  },
  pipelines: {
    slow: chain(
      [
        { id: 'six', operation: 'Input', attributes: { artifact: 'six' } },
        { id: 'slow', operation: 'Slow' },
      ],
      [['six.data', 'slow.x']],
    ),
  },
};

async function startSlow(): Promise<string> {
  const dir = join(root, 'project');
  await writeProjectFolder(dir, SLOW);
  const { project } = await server!.engine.loadProjectFolder(dir);
  const started = await server!.engine.startExecution({ project, projectDir: dir, pipelineName: 'slow' });
  return started.id;
}

describe('the Compute view', () => {
  it('lists a connected worker with its labels, slots, load and running job, live over /api/events', async () => {
    const url = await start('none');
    const { token } = await server!.engine.workerTokens.create('view', 'test');
    agent = startTestAgent({
      serverUrl: url,
      token,
      labels: ['zone:a', 'big'],
      slots: 2,
      workDir: join(root, 'worker'),
    });
    const worker = await until('the worker with its load', async () => {
      const w = (await computeState()).workers[0];
      return w?.stats ? w : undefined;
    });
    expect(worker).toMatchObject({
      kind: 'remote',
      state: 'connected',
      labels: ['big', 'zone:a'],
      slots: 2,
      slotsUsed: 0,
      running: [],
    });
    expect(worker.stats!.cpuCount).toBeGreaterThanOrEqual(1);
    expect(worker.stats!.memoryTotalBytes).toBeGreaterThan(worker.stats!.memoryUsedBytes);
    expect(worker.stats!.memoryUsedBytes).toBeGreaterThan(0);
    expect(worker.statsAt).not.toBeNull();
    // --server: the server's own machine runs nothing, so it is not a worker.
    expect((await computeState()).mode).toBe('workers');

    const socket = await TestSocket.open(`${url.replace('http', 'ws')}/api/events`);
    socket.send({ type: 'hello', v: EXECUTION_EVENTS_VERSION });
    socket.send({ type: 'watch-compute', v: EXECUTION_EVENTS_VERSION });
    const first = await socket.next((m) => m.type === 'compute');
    expect(ComputeStateSchema.parse(first.compute).workers.map((w) => w.name)).toEqual([worker.name]);

    const executionId = await startSlow();
    const running = await socket.next<{ compute: ComputeStateDto }>(
      (m) => m.type === 'compute' && (m.compute as ComputeStateDto).workers[0]?.slotsUsed === 1,
    );
    expect(running.compute.workers[0]!.running).toEqual([
      { jobId: `${executionId}.slow`, executionId, projectId: '', node: 'slow' },
    ]);
    await server!.engine.waitForExecution(executionId);
    await socket.next(
      (m) => m.type === 'compute' && (m.compute as ComputeStateDto).workers[0]?.slotsUsed === 0,
    );
    socket.ws.close();
  });

  it('refuses a heartbeat with malformed stats, naming the field, and stores nothing of it', async () => {
    const url = await start('none');
    const { token } = await server!.engine.workerTokens.create('bad', 'test');
    const wsUrl = `${url.replace('http', 'ws')}/api/workers/connect`;
    const hello = {
      type: 'hello',
      v: WORKER_PROTOCOL_VERSION,
      name: 'liar',
      labels: [],
      slots: 1,
      running: [],
    };
    const goodStats = { cpuPercent: 12.5, cpuCount: 4, memoryUsedBytes: 1000, memoryTotalBytes: 4000 };
    const cases: [string, Record<string, unknown>][] = [
      ['stats.cpuPercent', { ...goodStats, cpuPercent: 250 }],
      ['stats.memoryUsedBytes', { ...goodStats, memoryUsedBytes: 5000 }],
      [
        'stats.gpus',
        { ...goodStats, gpus: [{ index: 0, utilPercent: 5, memoryUsedMiB: 9, memoryTotalMiB: 8 }] },
      ],
      ['stats.cpuPercent', { ...goodStats, cpuPercent: 'lots' }],
      ['stats.extra', { ...goodStats, extra: 1 }],
    ];
    for (const [i, [field, stats]] of cases.entries()) {
      const worker = await TestSocket.open(wsUrl, { authorization: `Bearer ${token}` }, { frames: true });
      worker.send({ ...hello, workerId: `liar-${i}` });
      await worker.next((m) => m.type === 'welcome');
      worker.send({ type: 'heartbeat', running: [], stats });
      const refused = await worker.next((m) => m.type === 'refused');
      expect(refused.code).toBe('bad-message');
      expect(String(refused.message)).toContain(field.split('.')[0]);
      await until('the close', () => Promise.resolve(worker.closed));
      expect(worker.closed!.code).toBe(4001);
    }
    // None of them is listed, let alone with the stats it sent.
    await until('the refused workers gone', async () =>
      (await computeState()).workers.length === 0 ? true : undefined,
    );

    // The same heartbeat with valid stats is taken and shown.
    const worker = await TestSocket.open(wsUrl, { authorization: `Bearer ${token}` }, { frames: true });
    worker.send({ ...hello, workerId: 'honest' });
    await worker.next((m) => m.type === 'welcome');
    worker.send({ type: 'heartbeat', running: [], stats: goodStats });
    const shown = await until('the stats', async () => (await computeState()).workers[0]?.stats ?? undefined);
    expect(shown).toEqual(goodStats);
    worker.ws.close();
  });

  it('shows the server of deepforge start as a worker, with its load and the jobs it runs', async () => {
    await start('local');
    const before = await computeState();
    expect(before.mode).toBe('local');
    expect(before.workers).toHaveLength(1);
    expect(before.workers[0]).toMatchObject({ kind: 'local', state: 'connected', slots: 3, slotsUsed: 0 });
    expect(before.workers[0]!.stats!.memoryTotalBytes).toBeGreaterThan(0);
    const executionId = await startSlow();
    const running = await until('the running job', async () => {
      const w = (await computeState()).workers[0]!;
      // The Input before it runs (inline, for a few ms) on this machine too: wait for the slow job alone.
      return w.slotsUsed === 1 && w.running[0]?.node === 'slow' ? w.running : undefined;
    });
    expect(running).toEqual([{ jobId: `${executionId}.slow`, executionId, projectId: '', node: 'slow' }]);
    await server!.engine.waitForExecution(executionId);
    expect((await computeState()).workers[0]!.slotsUsed).toBe(0);
  });

  it('marks a worker that stopped heartbeating as lost, and lists a job waiting for a label with why', async () => {
    const url = await start('none');
    const { token } = await server!.engine.workerTokens.create('quiet', 'test');
    const worker = await TestSocket.open(
      `${url.replace('http', 'ws')}/api/workers/connect`,
      { authorization: `Bearer ${token}` },
      { frames: true },
    );
    worker.send({
      type: 'hello',
      v: WORKER_PROTOCOL_VERSION,
      workerId: 'quiet-1',
      name: 'quiet',
      labels: [],
      slots: 1,
      running: [],
    });
    await worker.next((m) => m.type === 'welcome');
    const dir = join(root, 'project');
    await writeProjectFolder(dir, SLOW);
    const { project } = await server!.engine.loadProjectFolder(dir);
    // One job it can take (then never heartbeats), one needing a label nobody has.
    const taken = await server!.engine.startExecution({ project, projectDir: dir, pipelineName: 'slow' });
    await worker.next((m) => m.type === 'job.assign');
    const gpu = await server!.engine.startExecution({
      project,
      projectDir: dir,
      pipelineName: 'slow',
      labels: ['gpu'],
    });
    const waiting = await until('the waiting job', async () => {
      const w = (await computeState()).waiting.find((j) => j.executionId === gpu.id);
      return w;
    });
    expect(waiting).toMatchObject({ node: 'slow', reason: 'no connected worker has label gpu' });
    // Somebody who may not read the project is not told about its waiting job at all.
    const stranger = new ComputeMonitor(server!.engine, {
      mode: 'workers',
      env: cleanEnv(),
      logger: pino({ enabled: false }),
    });
    expect((await stranger.state(() => Promise.resolve(false))).waiting).toEqual([]);
    stranger.close();
    expect((await computeState()).workers[0]).toMatchObject({ state: 'connected', slotsUsed: 1 });
    // Silent past the 2 s lease: lost, and its job taken back.
    const lost = await until('the lost worker', async () => {
      const w = (await computeState()).workers[0];
      return w?.state === 'lost' ? w : undefined;
    });
    expect(lost.slotsUsed).toBe(0);
    worker.ws.close();
    // The lost job failed or runs again (executions.onRestart); the other still waits: neither is needed now.
    for (const id of [taken.id, gpu.id]) await server!.engine.cancelExecution(id).catch(() => undefined);
  });

  it('says its jobs run on Slurm under compute.backend = slurm, with no worker and nothing waiting for one', async () => {
    for (const compute of ['local', 'none'] as const) {
      await start(compute, { 'compute.backend': 'slurm' });
      expect(await computeState()).toMatchObject({ mode: 'slurm', workers: [], waiting: [] });
      await server!.close();
      server = undefined;
      await removeTree(root);
    }
  });

  it('shows jobs of projects the caller may not read as taken slots only', async () => {
    await start('local');
    const monitor = new ComputeMonitor(server!.engine, {
      mode: 'local',
      env: cleanEnv(),
      logger: pino({ enabled: false }),
    });
    try {
      const executionId = await startSlow();
      const hidden = await until('the running job', async () => {
        const seen = (await monitor.state(() => Promise.resolve(true))).workers[0]!.running;
        if (!seen.some((j) => j.node === 'slow')) return undefined;
        return (await monitor.state(() => Promise.resolve(false))).workers[0]!.running;
      });
      // The slow job (and the Input before it, if it has not ended yet): nothing but a taken slot.
      expect(hidden.length).toBeGreaterThanOrEqual(1);
      expect(hidden.every((j) => j.jobId === 'hidden' && j.executionId === undefined)).toBe(true);
      await server!.engine.waitForExecution(executionId);
    } finally {
      monitor.close();
    }
  });

  it('answers only signed-in callers when accounts are on, any of them, admin or not', async () => {
    root = await makeTempDir('compute-view');
    server = await createServer({
      dataDir: join(root, 'server'),
      env: cleanEnv({ DEEPFORGE_LOG_LEVEL: 'warn' }),
      clientDir: join(root, 'no-client'),
      settings: { python: TEST_PYTHON, 'auth.enabled': true },
    });
    const anonymous = await server.app.inject({ method: 'GET', url: '/api/compute' });
    expect(anonymous.statusCode).toBe(401);
    await server.engine.accounts.createUser('bob', 'bob password xx');
    const login = await server.app.inject({
      method: 'POST',
      url: '/api/auth/login',
      payload: { name: 'bob', password: 'bob password xx' },
    });
    expect(login.statusCode).toBe(200);
    const cookie = String(login.headers['set-cookie']).split(';')[0]!;
    const res = await server.app.inject({ method: 'GET', url: '/api/compute', headers: { cookie } });
    expect(res.statusCode).toBe(200);
    expect(ComputeStateSchema.parse(res.json()).workers.map((w) => w.kind)).toEqual(['local']);
  });
});
