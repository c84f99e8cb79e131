import { execFileSync } from 'node:child_process';
import { readdir, readFile, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ExecutionEventSchema } from '@deepforge/protocol';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { openEngine } from './engine.js';
import { InterpreterError, PipelineValidationError } from './errors.js';
import { engineFixture, type EngineFixture } from './test-support/engine-fixture.js';
import { chain, cleanEnv, py, writeProjectFolder } from './test-support/project-files.js';
import { TEST_PYTHON, makeTempDir, removeTree } from './test-support/temp-dir.js';

/** Reads a pickled blob back with Python. */
function unpickle(path: string): string {
  return execFileSync(
    TEST_PYTHON,
    ['-c', 'import pickle,sys;print(repr(pickle.load(open(sys.argv[1],"rb"))))', path],
    {
      encoding: 'utf8',
    },
  ).trim();
}

const ops = {
  Double: py(
    'class Double():',
    '    def execute(self, x):',
    '        doubled = x * 2',
    '        return doubled',
  ),
  AddN: py(
    'class AddN():',
    '    def __init__(self, n=1):',
    '        self.n = n',
    '',
    '    def execute(self, value):',
    '        total = value + self.n',
    '        print(f"{value} + {self.n} = {total}")',
    '        return total',
  ),
  Sleep: py(
    'import time',
    'class Sleep():',
    '    def __init__(self, seconds=1.0):',
    '        self.seconds = seconds',
    '',
    '    def execute(self):',
    '        time.sleep(self.seconds)',
    '        slept = self.seconds',
    '        return slept',
  ),
  Boom: py('class Boom():', '    def execute(self):', '        result = 1 / 0', '        return result'),
  Echo: py(
    'class Echo():',
    '    def execute(self, value):',
    '        print("echo", value)',
    '        return value',
  ),
};

describe('engine: running pipelines with real Python', () => {
  let f: EngineFixture;
  beforeEach(async () => {
    f = await engineFixture({ 'executions.concurrency': 4 });
  });
  afterEach(async () => {
    await f.cleanup();
  });

  it('runs Input → Double → AddN → Output end to end, passing blobs in place', async () => {
    const { dir, project } = await f.project({
      operations: { Double: ops.Double, AddN: ops.AddN },
      artifacts: { six: { file: 'six.pkl', type: 'builtins.int' } },
      files: { 'artifacts/six.pkl': 'I6\n.' },
      pipelines: {
        main: chain(
          [
            { id: 'six', operation: 'Input', attributes: { artifact: 'six' } },
            { id: 'double', operation: 'Double' },
            { id: 'add', operation: 'AddN', attributes: { n: 1 } },
            { id: 'save', operation: 'Output', attributes: { saveName: 'result' } },
          ],
          [
            ['six.data', 'double.x'],
            ['double.doubled', 'add.value'],
            ['add.total', 'save.data'],
          ],
        ),
      },
    });
    const started = await f.engine.startExecution({ project, projectDir: dir, pipelineName: 'main' });
    const done = await started.done;
    expect(done.status).toBe('success');
    expect(done.jobs.map((j) => [j.node, j.status, j.attempt])).toEqual([
      ['six', 'success', 1],
      ['double', 'success', 1],
      ['add', 'success', 1],
      ['save', 'success', 1],
    ]);
    const add = done.jobs.find((j) => j.node === 'add')!;
    expect(add.outputs).toEqual([
      expect.objectContaining({ name: 'total', serializer: 'pickle', pyType: 'builtins.int' }),
    ]);
    expect(add.exitCode).toBe(0);
    expect(add.durationMs).toBeGreaterThan(0);

    // The Output recorded an artifact pointing at add's blob, with provenance; no copy was made.
    const result = await f.engine.getArtifact('result');
    expect(result.hash).toBe(add.outputs[0]!.hash);
    expect(result.provenance).toEqual({
      kind: 'execution',
      executionId: started.id,
      jobId: add.id,
      node: 'add',
      output: 'total',
    });
    expect(unpickle(result.path!)).toBe('13');

    // The Input imported the project file; Double read that very blob (its InputSpec path is the blob).
    const six = await f.engine.getArtifact('six');
    expect(six.provenance).toEqual({ kind: 'import', source: join(dir, 'artifacts', 'six.pkl') });
    const spec = JSON.parse(await readFile(join(done.dir, 'jobs', 'double', 'job.json'), 'utf8'));
    expect(spec.inputs.x).toEqual({ path: six.path, serializer: 'pickle' });
    expect(spec.codeDir).toBe(done.codeDir);
    expect(spec.eventsFd).toBe(3);

    // The code snapshot is there, read-only.
    const snap = join(done.codeDir, 'operations', 'AddN.py');
    expect(await readFile(snap, 'utf8')).toBe(ops.AddN);
    expect((await stat(snap)).mode & 0o222).toBe(0);

    const log = await f.engine.readJobLog(started.id, 'add');
    expect(log.text).toContain('12 + 1 = 13\n');
    expect(log.complete).toBe(true);
    const part = await f.engine.readJobLog(started.id, 'add', { offset: 0, limit: 4 });
    expect(part.nextOffset).toBeLessThanOrEqual(4);

    // Events: the execution went running → success; each job queued → running → success, in that order.
    const mine = f.events.filter((e) => e.executionId === started.id);
    expect(
      mine.filter((e) => e.type === 'execution.status').map((e) => e.type === 'execution.status' && e.status),
    ).toEqual(['running', 'success']);
    const addStatuses = mine
      .filter((e) => e.type === 'job.status' && e.node === 'add')
      .map((e) => e.type === 'job.status' && e.status);
    expect(addStatuses).toEqual(['queued', 'running', 'success']);
    expect(mine.some((e) => e.type === 'job.log' && e.node === 'add' && e.text === '12 + 1 = 13')).toBe(true);

    const listed = await f.engine.listExecutions();
    expect(listed.map((e) => [e.id, e.status, e.jobCounts.success])).toEqual([[started.id, 'success', 4]]);
    expect((await f.engine.getExecution(started.id.slice(0, 5))).id).toBe(started.id);
  });

  it('runs independent branches in parallel, and one at a time with concurrency 1', async () => {
    const { project } = await f.project({
      operations: { Sleep: ops.Sleep },
      pipelines: {
        twin: chain(
          [
            { id: 'a', operation: 'Sleep', attributes: { seconds: 1.5 } },
            { id: 'b', operation: 'Sleep', attributes: { seconds: 1.5 } },
          ],
          [],
        ),
      },
    });
    const parallel = await (await f.engine.startExecution({ project, pipelineName: 'twin' })).done;
    const [a, b] = parallel.jobs;
    expect(parallel.status).toBe('success');
    expect(a!.startedAt! < b!.endedAt! && b!.startedAt! < a!.endedAt!).toBe(true);

    const serial = await (
      await f.engine.startExecution({ project, pipelineName: 'twin', concurrency: 1 })
    ).done;
    const [c, d] = serial.jobs;
    expect(c!.endedAt! <= d!.startedAt! || d!.endedAt! <= c!.startedAt!).toBe(true);
  });

  it('on a failure: downstream never starts, the independent branch finishes, the execution fails', async () => {
    const { project } = await f.project({
      operations: { Boom: ops.Boom, Echo: ops.Echo, Sleep: ops.Sleep },
      pipelines: {
        branches: chain(
          [
            { id: 'boom', operation: 'Boom' },
            { id: 'after_boom', operation: 'Echo' },
            { id: 'slow', operation: 'Sleep', attributes: { seconds: 1.0 } },
            { id: 'after_slow', operation: 'Echo' },
          ],
          [
            ['boom.result', 'after_boom.value'],
            ['slow.slept', 'after_slow.value'],
          ],
        ),
      },
    });
    const started = await f.engine.startExecution({ project, pipelineName: 'branches' });
    const done = await started.done;
    expect(done.status).toBe('failed');
    const byNode = Object.fromEntries(done.jobs.map((j) => [j.node, j]));
    expect(byNode.boom!.status).toBe('failed');
    expect(byNode.boom!.error).toMatchObject({
      kind: 'exception',
      message: 'ZeroDivisionError: division by zero',
      location: { file: 'operations/Boom.py', line: 3 },
    });
    expect(byNode.after_boom!.status).toBe('canceled');
    expect(byNode.after_boom!.error).toMatchObject({ kind: 'upstream-failed', upstream: 'boom' });
    expect(byNode.after_boom!.startedAt).toBeNull();
    expect(byNode.after_boom!.attempt).toBe(0);
    expect(byNode.slow!.status).toBe('success');
    expect(byNode.after_slow!.status).toBe('success');
    expect(done.failure).toMatchObject({ node: 'boom', error: { kind: 'exception' } });
    const log = await f.engine.readJobLog(started.id, 'boom');
    expect(log.text).toMatch(
      /Traceback \(most recent call last\):[\s\S]*Boom\.py", line 3[\s\S]*ZeroDivisionError/,
    );
    expect(await readdir(join(done.dir, 'jobs'))).not.toContain('after_boom');
  });

  it('refuses an Input naming an artifact nobody has; fails one whose content is gone, naming it', async () => {
    const { dir, project } = await f.project({
      operations: { Echo: ops.Echo },
      artifacts: {
        ghost: { hash: `sha256:${'a'.repeat(64)}` },
        lost: { file: 'lost.pkl' },
      },
      pipelines: {
        unknown: chain(
          [
            { id: 'nothing', operation: 'Input', attributes: { artifact: 'never-stored' } },
            { id: 'echo', operation: 'Echo' },
          ],
          [['nothing.data', 'echo.value']],
        ),
        gone: chain(
          [
            { id: 'ghost', operation: 'Input', attributes: { artifact: 'ghost' } },
            { id: 'echo', operation: 'Echo' },
            { id: 'lost', operation: 'Input', attributes: { artifact: 'lost' } },
          ],
          [['ghost.data', 'echo.value']],
        ),
      },
    });
    // Known before running: nothing is stored.
    await expect(f.engine.startExecution({ project, pipelineName: 'unknown' })).rejects.toThrow(
      /artifact "never-stored" does not exist/,
    );
    expect(await f.engine.listExecutions()).toEqual([]);

    // Only known when the Input runs: the job fails, naming the artifact; downstream does not run.
    const done = await (
      await f.engine.startExecution({ project, projectDir: dir, pipelineName: 'gone' })
    ).done;
    expect(done.status).toBe('failed');
    const byNode = Object.fromEntries(done.jobs.map((j) => [j.node, j]));
    expect(byNode.ghost!.error).toMatchObject({ kind: 'missing-artifact' });
    expect(byNode.ghost!.error!.message).toMatch(
      /artifact "ghost" refers to sha256:a{64}, which is not in the data store/,
    );
    expect(byNode.echo!.status).toBe('canceled');
    expect(byNode.lost!.error!.message).toMatch(
      /artifact "lost" refers to the file .*lost\.pkl, which does not exist/,
    );

    // Once an artifact of that name is stored (imported here), an Input reads its newest version.
    await writeFile(join(f.root, 'seven.pkl'), 'I7\n.');
    const imported = await f.engine.importArtifact(join(f.root, 'seven.pkl'), 'never-stored');
    expect(imported.provenance).toEqual({ kind: 'import', source: join(f.root, 'seven.pkl') });
    const ok = await (await f.engine.startExecution({ project, pipelineName: 'unknown' })).done;
    expect(ok.status).toBe('success');
    expect(ok.jobs[0]!.outputs[0]!.hash).toBe(imported.hash);
  });

  it('fails an operation whose output cannot be serialized, or that returns the wrong number of values', async () => {
    const { project } = await f.project({
      operations: {
        Unpicklable: py(
          'class Unpicklable():',
          '    def execute(self):',
          '        fn = lambda x: x',
          '        return fn',
        ),
        TwoOutputs: py(
          'def first_only(f):',
          '    def inner(self):',
          '        return f(self)[0]',
          '    return inner',
          '',
          'class TwoOutputs():',
          '    @first_only',
          '    def execute(self):',
          '        a = 1',
          '        b = 2',
          '        return a, b',
        ),
      },
      pipelines: {
        bad: chain(
          [
            { id: 'lam', operation: 'Unpicklable' },
            { id: 'two', operation: 'TwoOutputs' },
          ],
          [],
        ),
      },
    });
    const done = await (await f.engine.startExecution({ project, pipelineName: 'bad' })).done;
    const byNode = Object.fromEntries(done.jobs.map((j) => [j.node, j]));
    expect(byNode.lam!.status).toBe('failed');
    expect(byNode.lam!.error).toMatchObject({ kind: 'serialization' });
    expect(byNode.lam!.error!.message).toMatch(/output 'fn'/);
    expect(byNode.lam!.outputs).toEqual([]);
    expect(byNode.two!.status).toBe('failed');
    expect(byNode.two!.error).toMatchObject({ kind: 'bad-return' });
    expect(byNode.two!.error!.message).toMatch(/declares 2 outputs \(a, b\)/);
  });

  it('stores plots (latest per figure), metrics and progress, and streams them live', async () => {
    const { project } = await f.project({
      operations: {
        Train: py(
          'import deepforge',
          'from matplotlib import pyplot as plt',
          'from tqdm import tqdm',
          'class Train():',
          '    def __init__(self, epochs=3):',
          '        self.epochs = epochs',
          '',
          '    def execute(self):',
          '        losses = []',
          '        for epoch in tqdm(range(self.epochs), desc="epochs"):',
          '            losses.append(1.0 / (epoch + 1))',
          '            deepforge.log(step=epoch, loss=losses[-1])',
          '            plt.clf()',
          '            plt.title("Loss")',
          '            plt.plot(list(range(len(losses))), losses)',
          '            plt.show()',
          '        loss = losses[-1]',
          '        return loss',
        ),
      },
      pipelines: { train: chain([{ id: 'train', operation: 'Train' }], []) },
    });
    const started = await f.engine.startExecution({ project, pipelineName: 'train' });
    const done = await started.done;
    expect(done.status).toBe('success');
    const t = await f.engine.getJobTelemetry(started.id, 'train');
    expect(t.metrics.map((m) => [m.step, m.name, m.value])).toEqual([
      [0, 'loss', 1],
      [1, 'loss', 0.5],
      [2, 'loss', 1 / 3],
    ]);
    expect(t.plots.length).toBe(1);
    const plot = t.plots[0]!;
    const axes = plot.payload.axes as { title?: string; lines: { y: number[] }[] }[];
    expect(axes[0]!.title).toBe('Loss');
    expect(axes[0]!.lines[0]!.y).toEqual([1, 0.5, 1 / 3]);
    expect(t.progress.length).toBeGreaterThan(0);
    expect(t.progress[0]!.payload).toMatchObject({ n: 3, total: 3 });
    const kinds = new Set(f.events.filter((e) => e.executionId === started.id).map((e) => e.type));
    expect(kinds).toEqual(
      new Set(['execution.status', 'job.status', 'job.log', 'job.plot', 'job.metric', 'job.progress']),
    );
    // Every event is valid by the protocol's schema: what the CLI prints with --json and the server will send.
    for (const e of f.events) ExecutionEventSchema.parse(e);
  });

  it("records each job's CPU time and peak memory with it, a failed one's too, and sends them live", async () => {
    const { project } = await f.project({
      operations: {
        Burn: py(
          'import time',
          'class Burn():',
          '    def execute(self):',
          '        block = bytearray(200 * 1024 * 1024)',
          '        for i in range(0, len(block), 4096):',
          '            block[i] = 1',
          '        end = time.process_time() + 0.5',
          '        while time.process_time() < end:',
          '            pass',
          '        size = len(block)',
          '        return size',
        ),
        Boom: ops.Boom,
      },
      pipelines: {
        main: chain(
          [
            { id: 'burn', operation: 'Burn' },
            { id: 'boom', operation: 'Boom' },
          ],
          [],
        ),
      },
    });
    const started = await f.engine.startExecution({ project, pipelineName: 'main' });
    const done = await started.done;
    const burn = done.jobs.find((j) => j.node === 'burn')!;
    expect(burn.status).toBe('success');
    expect(burn.usage!.cpuSeconds).toBeGreaterThanOrEqual(0.5);
    expect(burn.usage!.peakRssBytes).toBeGreaterThanOrEqual(200 * 1024 * 1024);
    expect(burn.usage!.peakGpuBytes).toBeUndefined();
    const boom = done.jobs.find((j) => j.node === 'boom')!;
    expect(boom.status).toBe('failed');
    expect(boom.usage!.peakRssBytes).toBeGreaterThan(0);
    expect(boom.usage!.peakRssBytes).toBeLessThan(200 * 1024 * 1024);
    // Stored: read back from the store, not from the run's memory.
    expect((await f.engine.getExecution(started.id)).jobs.find((j) => j.node === 'burn')!.usage).toEqual(
      burn.usage,
    );
    const ended = f.events.find(
      (e) =>
        e.executionId === started.id &&
        e.type === 'job.status' &&
        e.node === 'burn' &&
        e.status === 'success',
    );
    expect(ended?.type === 'job.status' && ended.usage).toEqual(burn.usage);
  });

  it('runs the examples/hello project as it is in the repository', async () => {
    const dir = fileURLToPath(new URL('../../../examples/hello', import.meta.url));
    const { project } = await f.engine.loadProjectFolder(dir);
    const hello = await (
      await f.engine.startExecution({ project, projectDir: dir, pipelineName: 'hello' })
    ).done;
    expect(hello.status).toBe('success');
    const product = await f.engine.getArtifact('product');
    expect(unpickle(product.path!)).toBe('16');
    const log = await f.engine.readJobLog(hello.id, 'print');
    expect(log.text).toMatch(/ 16!/);
    const basic = await (
      await f.engine.startExecution({ project, projectDir: dir, pipelineName: 'basic-io' })
    ).done;
    expect(basic.status).toBe('success');
    expect((await f.engine.getArtifact('random-array')).pyType).toBe('builtins.list');
  });

  it('refuses an invalid pipeline before storing anything', async () => {
    const { project } = await f.project({
      operations: { Echo: ops.Echo },
      pipelines: {
        broken: chain(
          [
            { id: 'echo', operation: 'Echo' },
            { id: 'what', operation: 'Nope' },
          ],
          [],
        ),
      },
    });
    const err = await f.engine.startExecution({ project, pipelineName: 'broken' }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(PipelineValidationError);
    const diags = (err as PipelineValidationError).diagnostics;
    expect(diags.map((d) => d.node)).toEqual(expect.arrayContaining(['echo', 'what']));
    await expect(f.engine.startExecution({ project, pipelineName: 'nope' })).rejects.toThrow(
      /no pipeline "nope" \(it has: broken\)/,
    );
    await expect(
      f.engine.startExecution({ project, pipelineName: 'broken', overrides: ['ghost.x=1'] }),
    ).rejects.toThrow(/no node "ghost"/);
    expect(await f.engine.listExecutions()).toEqual([]);
    expect(await readdir(f.dataDir)).not.toContain('executions');
  });
});

describe('engine: the interpreter', () => {
  it('says clearly that an interpreter does not exist, before anything is stored', async () => {
    const root = await makeTempDir('nopython');
    try {
      const dataDir = join(root, 'data');
      const dir = await writeProjectFolder(join(root, 'p'), {
        operations: { Echo: ops.Echo, Sleep: ops.Sleep },
        pipelines: { one: chain([{ id: 's', operation: 'Sleep' }], []) },
      });
      const engine = await openEngine({
        dataDir,
        env: cleanEnv(),
        settings: { python: '/nonexistent/bin/python3' },
      });
      try {
        const { project } = await engine.loadProjectFolder(dir);
        const err = await engine.startExecution({ project, pipelineName: 'one' }).catch((e: unknown) => e);
        expect(err).toBeInstanceOf(InterpreterError);
        expect((err as Error).message).toMatch(
          /\/nonexistent\/bin\/python3 cannot run operations: no such interpreter/,
        );
        expect((err as Error).message).toMatch(/DEEPFORGE_PYTHON/);
        expect(await engine.listExecutions()).toEqual([]);
      } finally {
        await engine.close();
      }
      const env = cleanEnv({ DEEPFORGE_PYTHON: '/nonexistent/python' });
      const viaEnv = await openEngine({ dataDir, env });
      try {
        expect(viaEnv.settings.values.python).toBe('/nonexistent/python');
        await expect(viaEnv.python()).rejects.toThrow(/\/nonexistent\/python/);
      } finally {
        await viaEnv.close();
      }
    } finally {
      await removeTree(root);
    }
  });
});
