import { chmod, mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { WebSocket } from 'ws';
import { WORKER_PROTOCOL_VERSION } from '@deepforge/protocol';
import type { Engine, ExecutionDetails } from '@deepforge/engine';
import {
  TEST_PYTHON,
  chain,
  cleanEnv,
  makeTempDir,
  py,
  removeTree,
  writeProjectFolder,
} from '@deepforge/engine/test-support';
import { createServer, type DeepForgeServer } from '../server.app.js';
import { detectGpus, gpuLabels } from './gpu-detect.js';
import type { WorkerAgent } from './worker.agent.js';
import { startTestAgent } from '../test-support/worker-agent.js';

/**
 * GPUs as capacity (docs/adr/0015): a job needing n GPUs gets n GPUs of its own, seen through CUDA_VISIBLE_DEVICES,
 * on a worker (the server picks them) and under `deepforge start` (local compute picks them). This machine has no
 * GPU: a stand-in `nvidia-smi` on PATH reports two, as an H200 machine's would.
 */

const PROJECT = {
  artifacts: { six: { file: 'six.pkl', type: 'builtins.int' } },
  files: { 'artifacts/six.pkl': 'I6\n.' },
  operations: {
    Probe: py(
      'import os, time',
      'class Probe():',
      '    def __init__(self, seconds=2.0):',
      '        self.seconds = seconds',
      '    def execute(self):',
      '        print("devices=" + os.environ.get("CUDA_VISIBLE_DEVICES", "<unset>"), flush=True)',
      '        print("start=%d" % (time.time() * 1000), flush=True)',
      '        time.sleep(self.seconds)',
      '        print("end=%d" % (time.time() * 1000), flush=True)',
      '        done = 1',
      '        return done',
    ),
  },
  pipelines: {
    // Four independent jobs: three needing a GPU each (nodeGpus), one needing none.
    four: chain(
      [
        { id: 'g1', operation: 'Probe' },
        { id: 'g2', operation: 'Probe' },
        { id: 'g3', operation: 'Probe' },
        { id: 'cpu', operation: 'Probe' },
      ],
      [],
    ),
    big: chain([{ id: 'huge', operation: 'Probe', attributes: { seconds: 0.1 } }], []),
    // The same four, needing GPUs in the pipeline itself (the project format's node `gpus`).
    own: chain(
      [
        { id: 'g1', operation: 'Probe', gpus: 1 },
        { id: 'g2', operation: 'Probe', gpus: 1 },
        { id: 'g3', operation: 'Probe', labels: ['gpu'] },
        { id: 'cpu', operation: 'Probe', gpus: 0 },
      ],
      [],
    ),
    onInput: chain(
      [
        { id: 'src', operation: 'Input', attributes: { artifact: 'six' }, gpus: 1 },
        { id: 'save', operation: 'Output', attributes: { saveName: 'copy' } },
      ],
      [['src.data', 'save.data']],
    ),
  },
};

let tmp: string;
let server: DeepForgeServer | undefined;
let agent: WorkerAgent | undefined;
let gpuEnv: Record<string, string | undefined>;

beforeEach(async () => {
  tmp = await makeTempDir('gpu-placement');
  const bin = join(tmp, 'bin');
  await mkdir(bin, { recursive: true });
  await writeFile(
    join(bin, 'nvidia-smi'),
    "#!/bin/sh\nprintf '0, NVIDIA H200, 143771\\n1, NVIDIA H200, 143771\\n'\n",
  );
  await chmod(join(bin, 'nvidia-smi'), 0o755);
  gpuEnv = cleanEnv({ PATH: `${bin}:${process.env.PATH ?? '/usr/bin:/bin'}` });
});

afterEach(async () => {
  await agent?.stop();
  agent = undefined;
  await server?.close();
  server = undefined;
  await removeTree(tmp);
});

async function startRun(
  engine: Engine,
  pipelineName: string,
  options: {
    gpus?: number;
    nodeGpus?: Record<string, number>;
    labels?: string[];
    nodeLabels?: Record<string, string[]>;
  },
) {
  const dir = await writeProjectFolder(join(tmp, 'project'), PROJECT);
  const { project } = await engine.loadProjectFolder(dir);
  return engine.startExecution({ project, pipelineName, projectDir: dir, concurrency: 8, ...options });
}

async function consoleOf(engine: Engine, id: string, node: string): Promise<string> {
  return (await engine.readJobLog(id, node)).text;
}

async function until(what: string, probe: () => Promise<boolean>, ms = 30_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await probe())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** Two GPU jobs at once on different GPUs, the third after one of them, the CPU job beside them. */
async function expectPlaced(
  engine: Engine,
  done: ExecutionDetails,
  cpuDevices: string,
  waited: RegExp,
): Promise<void> {
  expect(done.status).toBe('success');
  const log: Record<string, string> = {};
  for (const node of ['g1', 'g2', 'g3', 'cpu']) log[node] = await consoleOf(engine, done.id, node);
  const devices = (node: string) => /devices=(\S*)/.exec(log[node]!)?.[1] ?? 'missing';
  // When the job's own process ran (the engine's startedAt includes the wait for GPUs).
  const at = (node: string, what: 'start' | 'end') =>
    Number(new RegExp(`${what}=(\\d+)`).exec(log[node]!)?.[1]);
  // Which of the three waited depends on the order they were queued in: the one that ran last.
  const [first, second, third] = ['g1', 'g2', 'g3'].sort((a, b) => at(a, 'start') - at(b, 'start'));
  expect([devices(first!), devices(second!)].sort()).toEqual(['0', '1']);
  expect(['0', '1']).toContain(devices(third!));
  expect(log[third!]).toMatch(waited);
  // The third had a GPU only once one of the first two had given theirs back.
  expect(at(third!, 'start')).toBeGreaterThanOrEqual(Math.min(at(first!, 'end'), at(second!, 'end')));
  expect(devices('cpu')).toBe(cpuDevices);
  // The CPU job ran beside the GPU jobs, not after them.
  expect(at('cpu', 'start')).toBeLessThan(Math.min(at(first!, 'end'), at(second!, 'end')));
}

describe('GPUs as capacity', () => {
  it('deepforge start: local jobs get GPUs of their own, a third waits, a CPU job runs beside them', async () => {
    server = await createServer({
      dataDir: join(tmp, 'server'),
      env: gpuEnv,
      settings: { python: TEST_PYTHON, 'executions.concurrency': 8, 'executions.warmWorker': true },
    });
    const { engine } = server;
    const run = await startRun(engine, 'four', { nodeGpus: { g1: 1, g2: 1, g3: 1 } });
    await expectPlaced(
      engine,
      await run.done,
      '<unset>',
      /waiting for 1 free GPU: 2 of 2 held by other jobs/,
    );
    // The same from the pipeline's own node gpus and labels.
    const own = await startRun(engine, 'own', {});
    await expectPlaced(
      engine,
      await own.done,
      '<unset>',
      /waiting for 1 free GPU: 2 of 2 held by other jobs/,
    );

    // More GPUs than the machine has: the job fails at once, saying so.
    const big = await startRun(engine, 'big', { gpus: 3 });
    const failed = await big.done;
    expect(failed.status).toBe('failed');
    expect(await consoleOf(engine, big.id, 'huge')).toMatch(/the job needs 3 GPUs and this machine has 2/);
  });

  it('workers: the server leases GPUs with jobs and says when jobs wait for them', async () => {
    server = await createServer({
      dataDir: join(tmp, 'server'),
      env: cleanEnv(),
      compute: 'none',
      settings: { python: TEST_PYTHON, 'workers.leaseTimeout': 10 },
    });
    const { engine } = server;
    const url = await server.listen(0, '127.0.0.1');
    // A job needing more GPUs than any connected worker has waits, saying so, like a missing label.
    const big = await startRun(engine, 'big', { gpus: 3 });
    const { token } = await engine.workerTokens.create('gpus', 'test');
    const gpus = await detectGpus(gpuEnv);
    expect(gpus.map((g) => g.index)).toEqual([0, 1]);
    agent = startTestAgent({
      serverUrl: url,
      token,
      labels: gpuLabels(gpus),
      gpus,
      slots: 4,
      workDir: join(tmp, 'worker'),
    });
    await until('the GPU reason', async () =>
      /waiting for a worker: no connected worker has 3 GPUs \(the most: 2\)/.test(
        await consoleOf(engine, big.id, 'huge'),
      ),
    );
    await engine.cancelExecution(big.id);
    expect((await big.done).status).toBe('canceled');

    // The label gpu without a count needs one GPU: g1..g3 by label; cpu by nothing.
    const run = await startRun(engine, 'four', { nodeLabels: { g1: ['gpu'], g2: ['gpu'], g3: ['gpu'] } });
    // A CPU job on a GPU machine sees none of its GPUs: they are the GPU jobs'.
    await expectPlaced(
      engine,
      await run.done,
      '',
      /waiting for a worker: every worker with 1 free GPU is busy \(1 worker with 1 GPU or more, 0 of their 2 GPUs free\)/,
    );
    expect(await consoleOf(engine, run.id, 'g1')).toMatch(/leased to worker .* \(lease \d+, GPU [01]\)/);
  });

  it('deepforge start: stopping jobs that hold or wait for GPUs gives every GPU back', async () => {
    server = await createServer({
      dataDir: join(tmp, 'server'),
      env: gpuEnv,
      settings: { python: TEST_PYTHON, 'executions.concurrency': 8 },
    });
    const { engine } = server;
    // Each of the four needs both GPUs: one runs, three wait.
    const run = await startRun(engine, 'four', { gpus: 2 });
    await until('a job waiting for GPUs', async () => {
      const logs = await Promise.all(['g1', 'g2', 'g3', 'cpu'].map((n) => consoleOf(engine, run.id, n)));
      return (
        logs.some((l) => /devices=0,1/.test(l)) &&
        logs.filter((l) => /waiting for 2 free GPUs: 2 of 2 held by other jobs/.test(l)).length === 3
      );
    });
    expect(engine.localGpusInUse()).toEqual([0, 1]);
    await engine.cancelExecution(run.id);
    expect((await run.done).status).toBe('canceled');
    expect(engine.localGpusInUse()).toEqual([]);
    // Nothing kept them: a job needing both gets them at once.
    const after = await startRun(engine, 'big', { gpus: 2 });
    expect((await after.done).status).toBe('success');
    const log = await consoleOf(engine, after.id, 'huge');
    expect(log).toMatch(/devices=0,1/);
    expect(log).not.toMatch(/waiting for/);
  });

  it('workers: GPUs a worker says its running jobs hold are given to no other job (a server that restarted)', async () => {
    server = await createServer({
      dataDir: join(tmp, 'server'),
      env: cleanEnv(),
      compute: 'none',
      settings: { python: TEST_PYTHON, 'workers.leaseTimeout': 10 },
    });
    const { engine } = server;
    const url = await server.listen(0, '127.0.0.1');
    const { token } = await engine.workerTokens.create('gpus', 'test');
    // A worker with two GPUs that still runs a job holding GPU 0, leased by the server before it restarted (this
    // server does not know it: the worker is told it lost it, and holds GPU 0 until it has stopped it).
    const ws = new WebSocket(`${url.replace(/^http/, 'ws')}/api/workers/connect`, {
      headers: { authorization: `Bearer ${token}`, origin: url },
    });
    const assigned: { gpus?: number[] }[] = [];
    const messages: { type: string }[] = [];
    ws.on('message', (raw: Buffer) => {
      // A frame holds one message or an array of them (worker protocol 3).
      const parsed = JSON.parse(raw.toString()) as unknown;
      for (const m of (Array.isArray(parsed) ? parsed : [parsed]) as { type: string; gpus?: number[] }[]) {
        messages.push(m);
        if (m.type === 'job.assign') assigned.push(m);
      }
    });
    await new Promise((resolve, reject) => ws.once('open', resolve).once('error', reject));
    const heartbeat = (running: object[]) => ws.send(JSON.stringify({ type: 'heartbeat', running }));
    ws.send(
      JSON.stringify({
        type: 'hello',
        v: WORKER_PROTOCOL_VERSION,
        workerId: 'gpu-box',
        name: 'gpu-box',
        labels: ['gpu'],
        slots: 4,
        gpus: [
          { index: 0, name: 'NVIDIA H200', memoryMiB: 143771 },
          { index: 1, name: 'NVIDIA H200', memoryMiB: 143771 },
        ],
        running: [{ jobId: 'before-restart.train', epoch: 3, gpus: [0] }],
      }),
    );
    try {
      await until('the welcome', async () => messages.some((m) => m.type === 'welcome'));
      const one = await startRun(engine, 'big', { gpus: 1 });
      await until('a lease', async () => assigned.length === 1);
      expect(assigned[0]!.gpus).toEqual([1]);
      // The Compute view's count: GPU 0 held by the worker's job, GPU 1 leased with the new one.
      expect(engine.remoteCompute!.listWorkers()[0]!.gpusInUse).toEqual([0, 1]);
      // Both GPUs for the next: it waits while the worker still says GPU 0 is taken…
      const two = await startRun(engine, 'big', { gpus: 2 });
      heartbeat([{ jobId: 'before-restart.train', epoch: 3, gpus: [0] }]);
      await until('the reason', async () =>
        /every worker with 2 free GPUs is busy \(1 worker with 2 GPUs or more, 0 of their 2 GPUs free\)/.test(
          await consoleOf(engine, two.id, 'huge'),
        ),
      );
      expect(assigned).toHaveLength(1);
      await engine.cancelExecution(one.id);
      await engine.cancelExecution(two.id);
    } finally {
      ws.close();
    }
  });

  it('the label gpu without a count asks for one GPU', async () => {
    server = await createServer({
      dataDir: join(tmp, 'server'),
      env: cleanEnv({ PATH: '/usr/bin:/bin' }),
      settings: { python: TEST_PYTHON },
    });
    // No nvidia-smi on this PATH: no GPU, so a job requiring gpu fails at once instead of running without one.
    const run = await startRun(server.engine, 'big', { labels: ['gpu'] });
    expect((await run.done).status).toBe('failed');
    expect(await consoleOf(server.engine, run.id, 'huge')).toMatch(
      /the job needs 1 GPU and this machine has none \(nvidia-smi found no GPU\)/,
    );
  });

  it('refuses a number of GPUs that is not a whole number from 0 to 64, naming where', async () => {
    server = await createServer({
      dataDir: join(tmp, 'server'),
      env: cleanEnv(),
      settings: { python: TEST_PYTHON },
    });
    const { engine } = server;
    await expect(startRun(engine, 'four', { gpus: -1 })).rejects.toThrow(
      /gpus: -1 is not a number of GPUs \(a whole number from 0 to 64\)/,
    );
    await expect(startRun(engine, 'four', { nodeGpus: { g1: 1.5 } })).rejects.toThrow(
      /gpus of g1: 1.5 is not a number of GPUs/,
    );
    // GPUs on an Input node: the pipeline is refused, naming the node.
    await expect(startRun(engine, 'onInput', {})).rejects.toThrow(
      /node "src" \(Input\): Input nodes run on the server, not on a GPU: remove gpus/,
    );
    expect(await engine.listExecutions()).toEqual([]);
  });
});
