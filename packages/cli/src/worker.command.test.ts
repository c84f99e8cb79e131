import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { mkdir, writeFile } from 'node:fs/promises';
import { readdir } from 'node:fs/promises';
import { createServer as createNetServer } from 'node:net';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { Engine, SettingsValues } from '@deepforge/engine';
import {
  REPORTING_CHAIN,
  TEST_PYTHON,
  buildTestWheel,
  chain,
  cleanEnv,
  makeTempDir,
  py,
  removeTree,
  writeProjectFolder,
  type TestProjectFiles,
} from '@deepforge/engine/test-support';
import { createServer, type DeepForgeServer } from '@deepforge/server';
import type { ExecutionEvent } from '@deepforge/protocol';
import { cli, spawnCli } from './test-support/run-cli.js';

/**
 * Remote workers end to end (docs/adr/0015): a real server (`--server`: no local compute) on loopback, and real
 * `deepforge worker` processes connecting to it. Leases last 2 s, so losing a worker is seen within seconds.
 */

const LEASE_S = 2;

/** The store tests' Input six → Double → Report → Output `result` (pipeline `main`), and `slow`: a 3 s operation. */
const PIPELINE: TestProjectFiles = {
  ...REPORTING_CHAIN,
  operations: {
    ...REPORTING_CHAIN.operations,
    Slow: py(
      'import time',
      'class Slow():',
      '    def __init__(self, seconds=3.0):',
      '        self.seconds = seconds',
      '    def execute(self, x):',
      '        print("slow started", flush=True)',
      '        time.sleep(self.seconds)',
      '        print("slow done", flush=True)',
      '        slowed = x + 100',
      '        return slowed',
    ),
  },
  pipelines: {
    ...REPORTING_CHAIN.pipelines,
    slow: chain(
      [
        { id: 'six', operation: 'Input', attributes: { artifact: 'six' } },
        { id: 'slow', operation: 'Slow', attributes: { seconds: 3.0 } },
        { id: 'save', operation: 'Output', attributes: { saveName: 'slowed' } },
      ],
      [
        ['six.data', 'slow.x'],
        ['slow.slowed', 'save.data'],
      ],
    ),
  },
};

interface Worker {
  child: ChildProcess;
  output(): string;
  exited: Promise<[number | null, NodeJS.Signals | null]>;
}

let tmp: string;
let server: DeepForgeServer | undefined;
let url: string;
let engine: Engine;
const workers: Worker[] = [];

async function startServer(settings: Partial<SettingsValues> = {}): Promise<void> {
  server = await createServer({
    dataDir: join(tmp, 'server'),
    env: cleanEnv(),
    compute: 'none',
    settings: {
      python: TEST_PYTHON,
      'workers.leaseTimeout': LEASE_S,
      'executions.onRestart': 'requeue',
      ...settings,
    },
  });
  url = await server.listen(0, '127.0.0.1');
  engine = server.engine;
}

async function token(name: string): Promise<string> {
  const r = await cli(['workers', 'token', name, '--data-dir', join(tmp, 'server')], cleanEnv());
  expect(r.code).toBe(0);
  expect(r.stderr).toMatch(/shown only now/);
  return r.stdout.trim();
}

function startWorker(
  name: string,
  tokenValue: string,
  args: string[] = [],
  warm = false,
  env: Record<string, string> = {},
): Worker {
  const child = spawnCli(
    [
      'worker',
      '--server',
      url,
      '--name',
      name,
      '--work-dir',
      join(tmp, `work-${name}`),
      '--data-dir',
      join(tmp, `data-${name}`),
      ...args,
    ],
    cleanEnv({
      DEEPFORGE_PYTHON: TEST_PYTHON,
      DEEPFORGE_WORKER_TOKEN: tokenValue,
      DEEPFORGE_WARM_WORKER: warm ? 'true' : 'false',
      NO_COLOR: '1',
      ...env,
    }),
  );
  let text = '';
  child.stdout!.on('data', (c: Buffer) => (text += c.toString()));
  child.stderr!.on('data', (c: Buffer) => (text += c.toString()));
  const worker: Worker = {
    child,
    output: () => text,
    exited: once(child, 'exit') as Promise<[number | null, NodeJS.Signals | null]>,
  };
  workers.push(worker);
  return worker;
}

async function until<T>(
  what: string,
  probe: () => Promise<T | undefined> | T | undefined,
  ms = 30_000,
): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const v = await probe();
    if (v !== undefined && v !== false) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

async function consoleOf(executionId: string, node: string): Promise<string> {
  return (await engine.readJobLog(executionId, node)).text;
}

async function start(pipelineName: string, labels?: string[]) {
  const dir = await writeProjectFolder(join(tmp, 'project'), PIPELINE);
  const { project } = await engine.loadProjectFolder(dir);
  return engine.startExecution({ project, pipelineName, projectDir: dir, ...(labels ? { labels } : {}) });
}

beforeEach(async () => {
  tmp = await makeTempDir('cli-worker');
});

afterEach(async () => {
  for (const w of workers.splice(0)) {
    if (w.child.exitCode === null && w.child.signalCode === null) {
      w.child.kill('SIGCONT');
      w.child.kill('SIGKILL');
      await w.exited;
    }
  }
  await server?.close();
  server = undefined;
  await removeTree(tmp);
});

describe('deepforge worker', () => {
  it('runs a pipeline leased from a --server server: jobs wait, then run with console and metrics streamed live', async () => {
    await startServer();
    const events: ExecutionEvent[] = [];
    engine.subscribe('*', (e) => events.push(e));
    const run = await start('main');
    // No worker yet: the job waits, queued, and its console says why.
    await until('the waiting reason', async () =>
      /waiting for a worker: no worker is connected/.test(await consoleOf(run.id, 'double')),
    );
    expect((await engine.getExecution(run.id)).jobs.find((j) => j.node === 'double')?.status).toBe('queued');

    const worker = startWorker('w1', await token('w1'), ['--slots', '2'], true);
    const done = await run.done;
    expect(done.status).toBe('success');
    expect(done.jobs.map((j) => [j.node, j.status])).toEqual([
      ['six', 'success'],
      ['double', 'success'],
      ['report', 'success'],
      ['save', 'success'],
    ]);
    // The console went out live, line by line, as on local compute, and is kept on the server.
    const live = events
      .filter((e) => e.type === 'job.log' && e.node === 'report')
      .map((e) => (e as { text: string }).text);
    expect(live).toContain('value is 12');
    const log = await consoleOf(run.id, 'report');
    expect(log).toMatch(/leased to worker w1 \(lease 1\)/);
    expect(log).toMatch(/running on worker w1 \(lease 1, pid \d+\)/);
    expect(log).toMatch(/value is 12/);
    // Metrics reached the server's telemetry store.
    expect((await engine.getJobTelemetry(run.id, 'report')).metrics.length).toBeGreaterThan(0);
    // The outputs were uploaded and stored: the saved artifact holds 13.
    const chunks: Buffer[] = [];
    for await (const c of await engine.openArtifact('result')) chunks.push(c as Buffer);
    expect(Buffer.concat(chunks).includes(Buffer.from('K\r'))).toBe(true); // pickle of 13
    expect(worker.output()).toMatch(/connected to http:\/\/localhost:\d+ as .* \(labels: none; 2 slots/);
    expect((await fetch(`${url}/api/workers`)).status).toBe(200);
    const listed = (await (await fetch(`${url}/api/workers`)).json()) as { items: { name: string }[] };
    expect(listed.items.map((w) => w.name)).toEqual(['w1']);
  });

  it("runs as `deepforge start --worker` (the seeds' spelling), by default for this machine's server.port", async () => {
    await startServer();
    const port = new URL(url).port;
    const child = spawnCli(
      [
        'start',
        '--worker',
        '--name',
        'seeds',
        '--work-dir',
        join(tmp, 'work-seeds'),
        '--data-dir',
        join(tmp, 'data-seeds'),
      ],
      cleanEnv({
        DEEPFORGE_PYTHON: TEST_PYTHON,
        DEEPFORGE_WORKER_TOKEN: await token('seeds'),
        DEEPFORGE_PORT: port,
        NO_COLOR: '1',
      }),
    );
    let text = '';
    child.stdout!.on('data', (c: Buffer) => (text += c.toString()));
    child.stderr!.on('data', (c: Buffer) => (text += c.toString()));
    workers.push({ child, output: () => text, exited: once(child, 'exit') as Worker['exited'] });
    const done = await (await start('main')).done;
    expect(done.status).toBe('success');
    expect(await consoleOf(done.id, 'report')).toMatch(/leased to worker seeds \(lease 1\)/);
    expect(text).toMatch(new RegExp(`connected to http://127\\.0\\.0\\.1:${port} as `));
    child.kill('SIGTERM');
    expect((await workers.at(-1)!.exited)[0]).toBe(0);
  });

  it('places jobs by label: a job needing gpu waits, saying so, until a worker with gpu connects', async () => {
    await startServer();
    startWorker('cpu', await token('cpu'));
    const run = await start('main', ['gpu']);
    await until('the label reason', async () =>
      /waiting for a worker: no connected worker has label gpu/.test(await consoleOf(run.id, 'double')),
    );
    // Its GPU comes from nvidia-smi (here a stand-in printing what an H200 machine's prints): labels gpu and
    // gpu:nvidia-h200 beside the ones given.
    const bin = join(tmp, 'bin');
    await mkdir(bin, { recursive: true });
    await writeFile(join(bin, 'nvidia-smi'), "#!/bin/sh\nprintf '0, NVIDIA H200, 143771\\n'\n", {
      mode: 0o755,
    });
    startWorker('gpu', await token('gpu'), ['--labels', 'a100'], false, {
      PATH: `${bin}:${process.env.PATH ?? ''}`,
    });
    const done = await run.done;
    expect(done.status).toBe('success');
    expect(await consoleOf(run.id, 'report')).toMatch(/leased to worker gpu/);
    expect(await consoleOf(run.id, 'double')).not.toMatch(/leased to worker cpu/);
    const listed = (await (await fetch(`${url}/api/workers`)).json()) as {
      items: { name: string; labels: string[]; gpus: unknown[] }[];
    };
    const gpu = listed.items.find((w) => w.name === 'gpu')!;
    expect(gpu.labels).toEqual(['a100', 'gpu', 'gpu:nvidia-h200']);
    expect(gpu.gpus).toEqual([{ index: 0, name: 'NVIDIA H200', memoryMiB: 143771 }]);
    expect(listed.items.find((w) => w.name === 'cpu')?.gpus).toEqual([]);
  });

  it('re-queues the job of a worker killed with SIGKILL once its lease times out, and another worker finishes it', async () => {
    await startServer();
    const first = startWorker('w1', await token('w1'));
    const run = await start('slow');
    await until('the slow job to start on w1', async () =>
      /slow started/.test(await consoleOf(run.id, 'slow')),
    );
    first.child.kill('SIGKILL');
    await first.exited;
    startWorker('w2', await token('w2'));
    const done = await run.done;
    expect(done.status).toBe('success');
    const log = await consoleOf(run.id, 'slow');
    expect(log).toMatch(
      new RegExp(
        `worker w1 was lost: no heartbeat for ${LEASE_S} s \\(workers.leaseTimeout\\), lease 1 expired; the job is queued again`,
      ),
    );
    expect(log).toMatch(/leased to worker w2 \(lease 2\)/);
    expect(log.indexOf('leased to worker w2')).toBeGreaterThan(log.indexOf('was lost'));
    expect(done.jobs.find((j) => j.node === 'slow')?.outputs.map((o) => o.name)).toEqual(['slowed']);
  });

  it('fails the job of a lost worker when executions.onRestart is fail', async () => {
    await startServer({ 'executions.onRestart': 'fail' });
    const first = startWorker('w1', await token('w1'));
    const run = await start('slow');
    await until('the slow job to start on w1', async () =>
      /slow started/.test(await consoleOf(run.id, 'slow')),
    );
    first.child.kill('SIGKILL');
    const done = await run.done;
    expect(done.status).toBe('failed');
    const slow = done.jobs.find((j) => j.node === 'slow')!;
    expect(slow.status).toBe('failed');
    expect(slow.error).toMatchObject({
      kind: 'runner-died',
      message: expect.stringMatching(/worker w1 was lost/),
    });
  });

  it('refuses the late result of a worker paused past its lease (SIGSTOP, then SIGCONT)', async () => {
    await startServer();
    const first = startWorker('w1', await token('w1'));
    const run = await start('slow');
    await until('the slow job to start on w1', async () =>
      /slow started/.test(await consoleOf(run.id, 'slow')),
    );
    first.child.kill('SIGSTOP');
    // While w1 sleeps, its Python process finishes the job; w2 gets the job once w1's lease expires.
    startWorker('w2', await token('w2'));
    await until('w2 to lease the job', async () =>
      /leased to worker w2 \(lease 2\)/.test(await consoleOf(run.id, 'slow')),
    );
    first.child.kill('SIGCONT');
    await until('w1 to be refused', () => /result refused/.test(first.output()) || undefined);
    expect(first.output()).toMatch(
      /job .*\.slow \(lease 1\): result refused: the lease 1 of job .* is no longer this worker's/,
    );
    const done = await run.done;
    expect(done.status).toBe('success');
    const log = await consoleOf(run.id, 'slow');
    expect(log).toMatch(/refused a late result from worker w1 \(lease 1\)/);
    // Its upload was refused too: the output the job recorded is w2's, under lease 2.
    expect(first.output()).toMatch(/refused output slowed \(HTTP 403\)|result refused/);
  });

  it('survives the server killed with SIGKILL: the worker reconnects and the new server takes its running job over', async () => {
    const dataDir = join(tmp, 'server');
    const projectDir = await writeProjectFolder(join(tmp, 'project'), PIPELINE);
    const port = await new Promise<number>((resolve) => {
      const probe = createNetServer().listen(0, '127.0.0.1', () => {
        const { port: p } = probe.address() as { port: number };
        probe.close(() => resolve(p));
      });
    });
    const script = fileURLToPath(new URL('./test-support/worker-server.script.ts', import.meta.url));
    const env = cleanEnv({ DEEPFORGE_PYTHON: TEST_PYTHON });
    const serverProcess = (args: string[]) => {
      const child = spawn(process.execPath, ['--conditions=source', '--import', 'tsx', script, ...args], {
        env,
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      let text = '';
      child.stdout.on('data', (c: Buffer) => (text += c.toString()));
      child.stderr.on('data', (c: Buffer) => (text += c.toString()));
      const exited = once(child, 'exit');
      return { child, output: () => text, exited };
    };
    const tokenValue = await token('w1');
    const first = serverProcess(['start', dataDir, projectDir, String(port)]);
    try {
      const [, id, serverUrl] = await until(
        'the first server',
        () => /started (\S+) (\S+)\n/.exec(first.output()) ?? undefined,
      );
      url = serverUrl!;
      const worker = startWorker('w1', tokenValue);
      await until('the job on w1', () => /slow started/.test(worker.output()) || undefined);
      await new Promise((r) => setTimeout(r, 500));
      first.child.kill('SIGKILL');
      await first.exited;
      await until('w1 to notice', () => /disconnected/.test(worker.output()) || undefined);
      // While the server is down, the worker says why it cannot connect and keeps trying.
      await until(
        'w1 to say why it cannot connect',
        () =>
          /cannot connect to http:\/\/localhost:\d+ \(connect ECONNREFUSED .*\); connecting again in/.test(
            worker.output(),
          ) || undefined,
      );
      const second = serverProcess(['resume', dataDir, id!, String(port)]);
      try {
        await until(
          'the execution to end on the second server',
          () => /--end--/.test(second.output()) || undefined,
          60_000,
        );
        expect(second.output()).toMatch(/finished success/);
        // The worker came back by itself and reported the job it still ran: the new server took it over under
        // the same lease, and the job finished there, once.
        expect(worker.output()).toMatch(/connected again to http:\/\/localhost:\d+/);
        expect(second.output()).toMatch(/worker w1 is back and still runs the job: it goes on \(lease 1\)/);
        expect(worker.output()).not.toMatch(/lease 2/);
        expect(worker.output().match(/\.slow \(lease 1\): slow started/g)).toHaveLength(1);
        expect(worker.output()).not.toMatch(/result refused/);
      } finally {
        second.child.kill('SIGKILL');
        await second.exited;
      }
    } finally {
      first.child.kill('SIGKILL');
    }
  });

  it('builds an operation’s environment on the worker before its job; pip’s message fails a job it cannot install', async () => {
    await startServer();
    const wheels = join(tmp, 'wheels');
    await buildTestWheel(wheels, 'dfworkerprobe', '1.0', { 'dfworkerprobe/__init__.py': 'VALUE = 5\n' });
    startWorker('env', await token('env'), [], false, {
      DEEPFORGE_ENVIRONMENTS_PIP_ARGS: JSON.stringify(['--isolated', '--no-index', '--find-links', wheels]),
    });
    const code = (pkg: string) =>
      py(
        `import ${pkg}`,
        'class Probe():',
        '    def execute(self):',
        `        value = ${pkg}.VALUE`,
        '        return value',
      );
    const run = async (folder: string, pkg: string, requirement: string) => {
      const dir = await writeProjectFolder(join(tmp, folder), {
        operations: { Probe: code(pkg) },
        files: { 'operations/Probe.environment.yml': `dependencies:\n  - pip:\n    - ${requirement}\n` },
        pipelines: { main: chain([{ id: 'probe', operation: 'Probe' }], []) },
      });
      const { project } = await engine.loadProjectFolder(dir);
      const started = await engine.startExecution({ project, pipelineName: 'main', projectDir: dir });
      const done = await started.done;
      return { done, job: done.jobs[0]!, log: await consoleOf(started.id, 'probe') };
    };

    const ok = await run('ok', 'dfworkerprobe', 'dfworkerprobe==1.0');
    expect(ok.done.status, ok.log).toBe('success');
    expect(ok.log).toMatch(/\[deepforge\] preparing environment [0-9a-f]{32}/);
    expect(ok.log).toContain('Successfully installed dfworkerprobe-1.0');
    // Built on the worker's machine, in its data dir, not the server's.
    expect(await readdir(join(tmp, 'data-env', 'environments', 'envs'))).toHaveLength(1);
    expect(await readdir(join(tmp, 'server')).then((d) => d.includes('environments'))).toBe(false);

    const missing = await run('missing', 'dfnowhere', 'dfnowhere==1.0');
    expect(missing.job.status).toBe('failed');
    expect(missing.job.error).toMatchObject({ kind: 'environment' });
    expect(missing.job.error!.message).toMatch(
      /^on worker env: pip could not install the environment .*No matching distribution found for dfnowhere==1\.0/,
    );
  });

  it('refuses a wrong or revoked token, and a worker token opens nothing but its own jobs', async () => {
    await startServer({ 'auth.enabled': true });
    const wrong = startWorker('bad', 'dfw_not-a-token');
    expect((await wrong.exited)[0]).toBe(1);
    expect(wrong.output()).toMatch(
      /the server refused this worker \(HTTP 401\): a valid worker token is needed/,
    );

    const revokedToken = await token('gone');
    const r = await cli(['workers', 'revoke', 'gone', '--data-dir', join(tmp, 'server')], cleanEnv());
    expect(r.stdout).toMatch(/revoked worker token "gone"/);
    const revoked = startWorker('gone', revokedToken);
    expect((await revoked.exited)[0]).toBe(1);
    expect(revoked.output()).toMatch(/HTTP 401/);

    // Revoked while its worker is connected: cut off at its next heartbeat, saying why.
    const cut = startWorker('cut', await token('cut'));
    await until('the worker to connect', () => /connected to/.test(cut.output()) || undefined);
    await cli(['workers', 'revoke', 'cut', '--data-dir', join(tmp, 'server')], cleanEnv());
    expect((await cut.exited)[0]).toBe(1);
    expect(cut.output()).toMatch(/the server refused this worker: the worker token was revoked/);

    const valid = await token('w1');
    // A machine that cannot run operations takes no job: it says why and never connects.
    const noPython = spawnCli(
      ['worker', '--server', url, '--token', valid, '--data-dir', join(tmp, 'data-nopython')],
      cleanEnv({ DEEPFORGE_PYTHON: '/nonexistent/python3', NO_COLOR: '1' }),
    );
    let said = '';
    noPython.stderr!.on('data', (c: Buffer) => (said += c.toString()));
    expect((await once(noPython, 'exit'))[0]).toBe(1);
    expect(said).toMatch(/the configured Python interpreter \/nonexistent\/python3 cannot run operations/);
    const auth = { authorization: `Bearer ${valid}` };
    // Not an account token: every route of the REST API refuses it.
    expect((await fetch(`${url}/api/projects`, { headers: auth })).status).toBe(401);
    expect((await fetch(`${url}/api/workers/tokens`, { headers: auth })).status).toBe(401);
    // The worker routes take it, for jobs leased to it only.
    const hash = `sha256:${'0'.repeat(64)}`;
    const blob = await fetch(`${url}/api/workers/blobs/${hash}?job=someone-elses.job&epoch=1`, {
      headers: auth,
    });
    expect(blob.status).toBe(403);
    expect(await blob.text()).toMatch(/not leased to this worker/);
    const put = await fetch(`${url}/api/workers/jobs/someone-elses.job/outputs/x?epoch=1`, {
      method: 'PUT',
      headers: { ...auth, 'content-type': 'application/octet-stream' },
      body: 'x',
    });
    expect(put.status).toBe(403);
    expect((await fetch(`${url}/api/workers/blobs/${hash}?job=j&epoch=1`)).status).toBe(401);
  });
});
