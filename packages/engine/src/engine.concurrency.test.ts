import { availableParallelism } from 'node:os';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { engineFixture, type EngineFixture } from './test-support/engine-fixture.js';
import { chain as chainOf, py } from './test-support/index.js';
import { LocalBlobStorage } from './storage/local-blob.storage.js';
import { KyselyExecutionStore } from './store/kysely-execution.store.js';
import { JobTelemetry } from './execution/job-telemetry.js';

/** More independent operations than this machine has CPUs: the default cap of local compute would hold some back. */
const N = availableParallelism() + 2;

const project = {
  operations: {
    Nap: py(
      'class Nap():',
      '    def __init__(self, i=0):',
      '        self.i = i',
      '',
      '    def execute(self):',
      '        pass',
    ),
  },
  pipelines: {
    fan: {
      nodes: Array.from({ length: N }, (_, i) => ({ id: `n${i}`, operation: 'Nap', attributes: { i } })),
      connections: [],
    },
  },
};

/** The nodes whose job was handed to the remote workers' queue (their console says what they wait for). */
async function handedOver(f: EngineFixture, id: string, expected: number): Promise<string[]> {
  const deadline = Date.now() + 20_000;
  let waiting: string[] = [];
  while (Date.now() < deadline) {
    const execution = await f.engine.getExecution(id);
    waiting = [];
    for (const job of execution.jobs) {
      if ((await f.engine.readJobLog(id, job.node)).text.includes('waiting for a worker'))
        waiting.push(job.node);
    }
    if (waiting.length >= expected) break;
    await new Promise((r) => setTimeout(r, 50));
  }
  // A moment more: nothing beyond what is expected follows.
  await new Promise((r) => setTimeout(r, 300));
  return waiting;
}

describe('how many jobs an engine hands to its compute at once', () => {
  let f: EngineFixture | undefined;
  afterEach(async () => {
    await f?.cleanup();
    f = undefined;
  });

  it('on remote workers, by default not the CPUs of the server: every job waits in the workers’ queue', async () => {
    f = await engineFixture({}, { computeBackend: 'workers' });
    const { dir, project: p } = await f.project(project);
    const started = await f.engine.startExecution({ project: p, pipelineName: 'fan', projectDir: dir });
    expect(await handedOver(f, started.id, N)).toHaveLength(N);
    await f.engine.cancelExecution(started.id);
    await started.done;
  });

  it('on remote workers, at most executions.concurrency when it is set', async () => {
    f = await engineFixture({ 'executions.concurrency': 2 }, { computeBackend: 'workers' });
    const { dir, project: p } = await f.project(project);
    const started = await f.engine.startExecution({ project: p, pipelineName: 'fan', projectDir: dir });
    expect(await handedOver(f, started.id, 2)).toHaveLength(2);
    await f.engine.cancelExecution(started.id);
    await started.done;
  });
});

describe('how an engine prepares a fan-out', () => {
  let f: EngineFixture | undefined;
  afterEach(async () => {
    await f?.cleanup();
    f = undefined;
  });

  it('a batch at a time: its first job runs before the whole fan-out is queued', async () => {
    const wide = 300;
    f = await engineFixture({ 'executions.concurrency': 1 }, { warmUp: true });
    const { dir, project: p } = await f.project({
      operations: project.operations,
      pipelines: {
        wide: {
          nodes: Array.from({ length: wide }, (_, i) => ({
            id: `n${i}`,
            operation: 'Nap',
            attributes: { i },
          })),
          connections: [],
        },
      },
    });
    const queued = new Set<string>();
    let queuedWhenRunning: number | undefined;
    const ran = new Promise<void>((resolve) => {
      f!.engine.subscribe('*', (e) => {
        if (e.type !== 'job.status') return;
        if (e.status === 'queued') queued.add(e.node);
        if (e.status === 'running' && queuedWhenRunning === undefined) {
          queuedWhenRunning = queued.size;
          resolve();
        }
      });
    });
    const started = await f.engine.startExecution({ project: p, pipelineName: 'wide', projectDir: dir });
    await ran;
    await f.engine.cancelExecution(started.id);
    await started.done;
    // Preparing all 300 takes far longer than starting one: before, every job was queued before the first ran.
    expect(queuedWhenRunning).toBeGreaterThan(0);
    expect(queuedWhenRunning).toBeLessThan(wide);
  });
});

describe('what a job slot holds on local compute', () => {
  let f: EngineFixture | undefined;
  /** Storing the outputs of a and b waits until the test lets it go. */
  const gates = new Map<string, () => void>();
  afterEach(async () => {
    for (const open of gates.values()) open();
    gates.clear();
    vi.restoreAllMocks();
    await f?.cleanup();
    f = undefined;
  });

  it('the job’s process: the next job runs while outputs are stored, but no more jobs store than run at once', async () => {
    const realPut = LocalBlobStorage.prototype.putFile;
    vi.spyOn(LocalBlobStorage.prototype, 'putFile').mockImplementation(async function (
      this: LocalBlobStorage,
      path,
      options,
    ) {
      const node = /[/\\]jobs[/\\](a|b)[/\\]outputs[/\\][^/\\]+$/.exec(path)?.[1];
      if (node) await new Promise<void>((resolve) => gates.set(node, resolve));
      return realPut.call(this, path, options);
    });
    // What follows a process's end takes a while before the outputs are even looked at: a job's recorded end must
    // still be its process's, before the next job starts (it was taken after this, overlapping the next job).
    const realFlush = JobTelemetry.prototype.flush;
    vi.spyOn(JobTelemetry.prototype, 'flush').mockImplementation(async function (this: JobTelemetry) {
      await new Promise((r) => setTimeout(r, 100));
      return realFlush.call(this);
    });
    f = await engineFixture({ 'executions.concurrency': 1 }, { warmUp: true });
    const { dir, project: p } = await f.project({
      operations: {
        One: py(
          'class One():',
          '    def __init__(self, i=0):',
          '        self.i = i',
          '',
          '    def execute(self):',
          // Over what comes in an event: stored from its file, through putFile.
          '        value = bytes(100000 + self.i)',
          '        return value',
        ),
      },
      pipelines: {
        three: {
          nodes: ['a', 'b', 'c'].map((id, i) => ({ id, operation: 'One', attributes: { i } })),
          connections: [],
        },
      },
    });
    const started = await f.engine.startExecution({ project: p, pipelineName: 'three', projectDir: dir });
    const statuses = async (): Promise<Record<string, string>> =>
      Object.fromEntries((await f!.engine.getExecution(started.id)).jobs.map((j) => [j.node, j.status]));
    const until = async (what: () => boolean): Promise<void> => {
      const deadline = Date.now() + 20_000;
      while (!what() && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
      expect(what()).toBe(true);
    };
    // a's process has ended and its output waits to be stored: b's process runs and ends too.
    await until(() => gates.has('a') && gates.has('b'));
    // b holds the slot while a is still storing (one job storing at concurrency 1): c has not started.
    await new Promise((r) => setTimeout(r, 300));
    expect(await statuses()).toEqual({ a: 'running', b: 'running', c: 'queued' });
    gates.get('a')!();
    gates.get('b')!();
    const done = await started.done;
    expect(done.status).toBe('success');
    const jobs = Object.fromEntries(done.jobs.map((j) => [j.node, j]));
    // One process at a time all the same: each started once the one before had ended.
    expect(jobs.b!.startedAt!).toBeGreaterThanOrEqual(jobs.a!.endedAt!);
    expect(jobs.c!.startedAt!).toBeGreaterThanOrEqual(jobs.b!.endedAt!);
  });
});

describe('how a chain moves on', () => {
  let f: EngineFixture | undefined;
  afterEach(async () => {
    vi.restoreAllMocks();
    await f?.cleanup();
    f = undefined;
  });

  const chain = {
    operations: {
      Start: py('class Start():', '    def execute(self):', '        value = 1', '        return value'),
      Step: py(
        'class Step():',
        '    def execute(self, value):',
        '        value = value * 10',
        "        print('got', value)",
        '        return value',
      ),
    },
    pipelines: {
      chain: chainOf(
        [
          { id: 'a', operation: 'Start' },
          { id: 'b', operation: 'Step' },
          { id: 'c', operation: 'Step' },
        ],
        [
          ['a.value', 'b.value'],
          ['b.value', 'c.value'],
        ],
      ),
    },
  };

  /** The nodes each write queued: separately (`transitionJobs`), or with an upstream's success. */
  function watchQueuing(): { alone: string[]; withSuccess: Record<string, string[]> } {
    const seen = { alone: [] as string[], withSuccess: {} as Record<string, string[]> };
    const node = (id: string): string => id.slice(id.lastIndexOf('.') + 1);
    const transitionJobs = KyselyExecutionStore.prototype.transitionJobs;
    vi.spyOn(KyselyExecutionStore.prototype, 'transitionJobs').mockImplementation(function (
      this: KyselyExecutionStore,
      moves,
    ) {
      for (const m of moves) if (m.to === 'queued') seen.alone.push(node(m.id));
      return transitionJobs.call(this, moves);
    });
    const completeJobAndMove = KyselyExecutionStore.prototype.completeJobAndMove;
    vi.spyOn(KyselyExecutionStore.prototype, 'completeJobAndMove').mockImplementation(function (
      this: KyselyExecutionStore,
      id,
      to,
      outputs,
      patch,
      moves,
    ) {
      if (moves.length > 0) seen.withSuccess[node(id)] = moves.map((m) => node(m.id));
      return completeJobAndMove.call(this, id, to, outputs, patch, moves);
    });
    return seen;
  }

  it('a job’s success and the queueing of the next job are one write', async () => {
    f = await engineFixture({}, { warmUp: true });
    const { dir, project: p } = await f.project(chain);
    const seen = watchQueuing();
    const started = await f.engine.startExecution({ project: p, pipelineName: 'chain', projectDir: dir });
    const done = await started.done;
    expect(done.status).toBe('success');
    expect(seen).toEqual({ alone: ['a'], withSuccess: { a: ['b'], b: ['c'] } });
    const c = done.jobs.find((j) => j.node === 'c')!;
    expect(c.status).toBe('success');
    // c ran with b's output, which b computed from a's.
    expect((await f.engine.readJobLog(started.id, 'c')).text).toContain('got 100');
  });

  it('with the output cache on, the next job is queued on its own (a cache hit comes after the success)', async () => {
    f = await engineFixture({}, { warmUp: true });
    const { dir, project: p } = await f.project(chain);
    const first = await f.engine.startExecution({
      project: p,
      pipelineName: 'chain',
      projectDir: dir,
      cache: true,
    });
    expect((await first.done).status).toBe('success');
    const seen = watchQueuing();
    const again = await f.engine.startExecution({
      project: p,
      pipelineName: 'chain',
      projectDir: dir,
      cache: true,
    });
    const done = await again.done;
    expect(done.jobs.map((j) => j.status)).toEqual(['cached', 'cached', 'cached']);
    expect(seen.withSuccess).toEqual({});
  });
});

describe('engine: a job runs before it prints', () => {
  let f: EngineFixture | undefined;
  afterEach(async () => {
    vi.restoreAllMocks();
    await f?.cleanup();
    f = undefined;
  });

  it('holds what the process prints until its `running` is recorded, then sends it in order', async () => {
    // The `running` write takes a while: the job has printed (and failed) long before it is done.
    const transitionJob = KyselyExecutionStore.prototype.transitionJob;
    vi.spyOn(KyselyExecutionStore.prototype, 'transitionJob').mockImplementation(async function (
      this: KyselyExecutionStore,
      id,
      to,
      patch,
    ) {
      if (to === 'running') await new Promise((r) => setTimeout(r, 300));
      return transitionJob.call(this, id, to, patch);
    });
    f = await engineFixture();
    const { project } = await f.project({
      operations: {
        Loud: py(
          'class Loud():',
          '    def execute(self):',
          '        print("one")',
          '        print("two")',
          '        raise ValueError("three")',
        ),
      },
      pipelines: { loud: chainOf([{ id: 'loud', operation: 'Loud' }], []) },
    });
    const done = await (await f.engine.startExecution({ project, pipelineName: 'loud' })).done;
    expect(done.status).toBe('failed');
    const seen: string[] = [];
    for (const e of f.events) {
      if (e.executionId !== done.id) continue;
      if (e.type === 'job.status') seen.push(e.status);
      else if (e.type === 'job.log' && e.stream === 'stdout') seen.push(e.text);
    }
    expect(seen).toEqual(['queued', 'running', 'one', 'two', 'failed']);
  });
});
