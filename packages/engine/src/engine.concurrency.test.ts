import { availableParallelism } from 'node:os';
import { afterEach, describe, expect, it } from 'vitest';
import { engineFixture, type EngineFixture } from './test-support/engine-fixture.js';
import { py } from './test-support/index.js';

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
