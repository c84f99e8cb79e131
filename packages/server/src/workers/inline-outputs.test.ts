// A worker passes small outputs of built-in serializers on in their `output` events (as the server asks in
// job.assign), hands other small output files over inside `job.finished` (at most INLINE_OUTPUT_MAX_BYTES each) and
// uploads the rest; the server writes the small files as it would their uploads, and never for a lease that is gone.
import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { WebSocket } from 'ws';
import {
  TEST_PYTHON,
  chain,
  cleanEnv,
  makeTempDir,
  py,
  removeTree,
  writeProjectFolder,
} from '@deepforge/engine/test-support';
import { INLINE_OUTPUT_MAX_BYTES, WORKER_PROTOCOL_VERSION, WorkerMessageSchema } from '@deepforge/protocol';
import { createServer, type DeepForgeServer } from '../server.app.js';
import { TestSocket } from '../test-support/ws-client.js';
import type { WorkerAgent } from './worker.agent.js';
import { startTestAgent } from '../test-support/worker-agent.js';

let root: string;
let server: DeepForgeServer | undefined;
let agent: WorkerAgent | undefined;

afterEach(async () => {
  vi.restoreAllMocks();
  await agent?.stop();
  agent = undefined;
  await server?.close();
  server = undefined;
  await removeTree(root);
});

/** A `--server` server; a worker that stops answering loses its leases after `leaseTimeoutS`. */
async function start(leaseTimeoutS = 10): Promise<string> {
  root = await makeTempDir('inline-outputs');
  server = await createServer({
    dataDir: join(root, 'server'),
    env: cleanEnv(),
    compute: 'none',
    settings: { python: TEST_PYTHON, 'workers.leaseTimeout': leaseTimeoutS },
  });
  return server.listen(0, '127.0.0.1');
}

/** Every file name below `dir`. */
async function namesBelow(dir: string): Promise<string[]> {
  const entries = await readdir(dir, { recursive: true, withFileTypes: true });
  return entries.filter((e) => e.isFile()).map((e) => e.name);
}

const PROJECT = {
  operations: {
    Small: py('class Small():', '    def execute(self):', '        small = 41', '        return small'),
    // Well over the inline limit: it is uploaded.
    Big: py(
      'class Big():',
      '    def execute(self):',
      `        big = bytes(range(256)) * ${Math.ceil((4 * INLINE_OUTPUT_MAX_BYTES) / 256)}`,
      '        return big',
    ),
    // A serializer of the project's: its small output file comes inside job.finished.
    Custom: py(
      'from utils.point import Point',
      '',
      'class Custom():',
      '    def execute(self):',
      '        point = Point(3)',
      '        return point',
    ),
    Check: py(
      'class Check():',
      '    def execute(self, small, big, point):',
      "        open('left-behind.txt', 'w').write('the job folder goes all the same')",
      `        assert point.x == 3, point`,
      `        assert small == 41, small`,
      `        assert big == bytes(range(256)) * ${Math.ceil((4 * INLINE_OUTPUT_MAX_BYTES) / 256)}, len(big)`,
      '        checked = small + 1',
      '        return checked',
    ),
  },
  utils: {
    point: py('class Point:', '    def __init__(self, x):', '        self.x = x'),
  },
  files: {
    'serializers/point.py': py(
      'import deepforge.serialization',
      'from utils.point import Point',
      '',
      'def dump(point, file):',
      '    file.write(str(point.x).encode())',
      '',
      'def load(file):',
      '    return Point(int(file.read()))',
      '',
      'deepforge.serialization.register(Point, dump, load)',
    ),
  },
  pipelines: {
    both: chain(
      [
        { id: 'small', operation: 'Small' },
        { id: 'big', operation: 'Big' },
        { id: 'custom', operation: 'Custom' },
        { id: 'check', operation: 'Check' },
      ],
      [
        ['small.small', 'check.small'],
        ['big.big', 'check.big'],
        ['custom.point', 'check.point'],
      ],
    ),
  },
};

describe('output files through a worker', () => {
  it('come in their events when small, uploaded when not, and arrive whole either way', async () => {
    const url = await start();
    const { token } = await server!.engine.workerTokens.create('inline', 'test');
    // The worker runs in this process: its uploads are the fetch calls to the outputs route, its messages the
    // socket's sends.
    const fetches = vi.spyOn(globalThis, 'fetch');
    const sent = vi.spyOn(WebSocket.prototype, 'send');
    agent = startTestAgent({
      serverUrl: url,
      token,
      slots: 2,
      workDir: join(root, 'worker'),
      warmWorker: true,
    });
    const dir = join(root, 'project');
    await writeProjectFolder(dir, PROJECT);
    const { project } = await server!.engine.loadProjectFolder(dir);
    const started = await server!.engine.startExecution({ project, projectDir: dir, pipelineName: 'both' });
    const done = await server!.engine.waitForExecution(started.id);
    expect(done?.status).toBe('success');
    const uploads = fetches.mock.calls
      .map(([input]) => String(input instanceof Request ? input.url : input))
      .filter((u) => u.includes('/outputs/'));
    // Big's output only: Small's and Check's came in their output events, with their bytes, Custom's in its
    // job.finished.
    expect(uploads).toHaveLength(1);
    expect(uploads[0]).toContain(encodeURIComponent(`${started.id}.big`));
    // A frame holds one message or an array of them (worker protocol 3).
    const messages = sent.mock.calls.flatMap(([data]) => {
      const parsed = JSON.parse(String(data)) as unknown;
      return (Array.isArray(parsed) ? parsed : [parsed]) as {
        type: string;
        jobId?: string;
        event?: { type: string };
      }[];
    });
    const outputEvents = messages
      .filter((m) => m.type === 'job.event' && m.event?.type === 'output')
      .map((m) => ({ job: m.jobId!.slice(started.id.length + 1), inline: 'data' in m.event! }))
      .sort((a, b) => a.job.localeCompare(b.job));
    expect(outputEvents).toEqual([
      { job: 'big', inline: false },
      { job: 'check', inline: true },
      { job: 'custom', inline: false },
      { job: 'small', inline: true },
    ]);
    expect(
      messages
        .filter((m) => m.type === 'job.finished' && 'files' in m)
        .map((m) => m.jobId!.slice(started.id.length + 1)),
    ).toEqual(['custom']);
    // The jobs' folders are gone from the worker, Check's with what it left in its work folder.
    await vi.waitFor(async () => expect(await readdir(join(root, 'worker', 'jobs'))).toEqual([]));
  });

  it('refuses a result under a lease that is not the worker’s, and writes none of its files', async () => {
    // A short lease: the server's close waits for the job this test's worker leaves unfinished.
    const url = await start(2);
    const { token } = await server!.engine.workerTokens.create('late', 'test');
    const worker = await TestSocket.open(
      `${url.replace('http', 'ws')}/api/workers/connect`,
      { authorization: `Bearer ${token}` },
      { frames: true },
    );
    worker.send({
      type: 'hello',
      v: WORKER_PROTOCOL_VERSION,
      workerId: 'late-1',
      name: 'late',
      labels: [],
      slots: 1,
      running: [],
    });
    await worker.next((m) => m.type === 'welcome');
    const dir = join(root, 'project');
    await writeProjectFolder(dir, PROJECT);
    const { project } = await server!.engine.loadProjectFolder(dir);
    await server!.engine.startExecution({ project, projectDir: dir, pipelineName: 'both' });
    const assign = await worker.next<{ jobId: string; epoch: number }>((m) => m.type === 'job.assign');
    const finished = {
      type: 'job.finished',
      jobId: assign.jobId,
      epoch: assign.epoch + 1,
      outcome: 'exited',
      exitCode: 0,
      signal: null,
      stderrTail: [],
      logTruncated: false,
      badEvents: 0,
      files: [{ file: 'smuggled.pkl', base64: Buffer.from('not yours').toString('base64') }],
    };
    expect(WorkerMessageSchema.safeParse(finished).success).toBe(true);
    worker.send(finished);
    const result = await worker.next((m) => m.type === 'job.result');
    expect(result).toMatchObject({ jobId: assign.jobId, epoch: assign.epoch + 1, accepted: false });
    expect(await namesBelow(join(root, 'server'))).not.toContain('smuggled.pkl');
    worker.ws.close();
  });
});

describe('job.finished files (worker protocol)', () => {
  const base = {
    type: 'job.finished',
    jobId: 'e.n',
    epoch: 1,
    outcome: 'exited',
    exitCode: 0,
    signal: null,
    stderrTail: [],
    logTruncated: false,
    badEvents: 0,
  };
  const file = (name: string, bytes: number) => ({
    file: name,
    base64: Buffer.alloc(bytes, 1).toString('base64'),
  });

  it('takes files up to the limit, and refuses bigger ones, bad names, not base64 and too many', () => {
    const ok = (files: unknown) => WorkerMessageSchema.safeParse({ ...base, files }).success;
    expect(ok([file('out_1.pkl', INLINE_OUTPUT_MAX_BYTES)])).toBe(true);
    expect(ok([file('out_1.pkl', INLINE_OUTPUT_MAX_BYTES + 3)])).toBe(false);
    expect(ok([file('../escape', 10)])).toBe(false);
    expect(ok([file('.hidden', 10)])).toBe(false);
    expect(ok([{ file: 'x', base64: 'not base64!' }])).toBe(false);
    expect(ok(Array.from({ length: 17 }, (_, i) => file(`o${i}`, 1)))).toBe(false);
  });
});
