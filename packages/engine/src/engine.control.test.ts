import { readFile, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { isProcessAlive } from './compute/process-tree.js';
import { engineFixture, type EngineFixture } from './test-support/engine-fixture.js';
import { chain, py } from './test-support/project-files.js';

async function waitFor<T>(what: string, probe: () => Promise<T | undefined>, timeoutMs = 20_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

async function readPids(file: string): Promise<number[] | undefined> {
  const text = await readFile(file, 'utf8').catch(() => '');
  const pids = text.trim().split(/\s+/).filter(Boolean).map(Number);
  return pids.length === 2 ? pids : undefined;
}

/** Appends one line to `counter` each time it runs: how tests see what really ran. */
const counted = (name: string, body: string[]) =>
  py(
    `class ${name}():`,
    `    def __init__(self, counter="", n=1):`,
    '        self.counter = counter',
    '        self.n = n',
    '',
    `    def execute(self${body[0]!.startsWith('#in') ? ', value' : ''}):`,
    `        with open(self.counter, "a") as f: f.write("${name}\\n")`,
    ...body.slice(1).map((l) => `        ${l}`),
  );

async function runs(counter: string): Promise<string[]> {
  return (await readFile(counter, 'utf8').catch(() => '')).split('\n').filter(Boolean);
}

describe('engine: cancel, timeout, runaway output', () => {
  let f: EngineFixture;
  afterEach(async () => {
    await f.cleanup();
  });

  it('cancel kills a sleeping operation and the subprocess it started; nothing downstream runs', async () => {
    f = await engineFixture({ 'executions.concurrency': 2 });
    const pidFile = join(f.root, 'pids');
    const { project } = await f.project({
      operations: {
        Hang: py(
          'import os, subprocess, time',
          'class Hang():',
          '    def __init__(self, pid_file=""):',
          '        self.pid_file = pid_file',
          '',
          '    def execute(self):',
          '        child = subprocess.Popen(["sleep", "1000"])',
          '        with open(self.pid_file, "w") as f: f.write("%d %d" % (os.getpid(), child.pid))',
          '        time.sleep(1000)',
          '        done = True',
          '        return done',
        ),
        Echo: py('class Echo():', '    def execute(self, value):', '        return value'),
      },
      pipelines: {
        hang: chain(
          [
            { id: 'hang', operation: 'Hang', attributes: { pid_file: pidFile } },
            { id: 'after', operation: 'Echo' },
          ],
          [['hang.done', 'after.value']],
        ),
      },
    });
    const started = await f.engine.startExecution({ project, pipelineName: 'hang' });
    const pids = await waitFor('the pids', () => readPids(pidFile));
    for (const pid of pids) expect(await isProcessAlive(pid)).toBe(true);
    await f.engine.cancelExecution(started.id);
    const done = await started.done;
    expect(done.status).toBe('canceled');
    expect(done.jobs.map((j) => [j.node, j.status, j.error?.kind])).toEqual([
      ['hang', 'canceled', 'canceled'],
      ['after', 'canceled', 'canceled'],
    ]);
    for (const pid of pids) expect(await isProcessAlive(pid)).toBe(false);
  });

  it('fails an operation that runs past executions.timeout', async () => {
    f = await engineFixture({ 'executions.timeout': 1 });
    const { project } = await f.project({
      operations: {
        Slow: py('import time', 'class Slow():', '    def execute(self):', '        time.sleep(100)'),
      },
      pipelines: { slow: chain([{ id: 'slow', operation: 'Slow' }], []) },
    });
    const t0 = Date.now();
    const done = await (await f.engine.startExecution({ project, pipelineName: 'slow' })).done;
    expect(Date.now() - t0).toBeLessThan(10_000);
    expect(done.status).toBe('failed');
    expect(done.jobs[0]!.error).toMatchObject({ kind: 'timeout' });
    expect(done.jobs[0]!.error!.message).toMatch(/longer than 1 s/);
  });

  it('keeps the log of an operation printing without end bounded, and still times it out', async () => {
    f = await engineFixture({ 'executions.timeout': 3, 'logs.maxBytes': 200_000 });
    const { project } = await f.project({
      operations: {
        Chatty: py(
          'import sys',
          'class Chatty():',
          '    def execute(self):',
          '        line = "z" * 200 + "\\n"',
          '        while True:',
          '            sys.stdout.write(line)',
        ),
      },
      pipelines: { chatty: chain([{ id: 'chatty', operation: 'Chatty' }], []) },
    });
    const before = process.memoryUsage().rss;
    const started = await f.engine.startExecution({ project, pipelineName: 'chatty' });
    const done = await started.done;
    const grown = process.memoryUsage().rss - before;
    expect(done.jobs[0]!.error).toMatchObject({ kind: 'timeout' });
    const size = (await stat(done.jobs[0]!.logFile)).size;
    expect(size).toBeLessThan(201_000);
    expect(size).toBeGreaterThan(150_000);
    const log = await f.engine.readJobLog(started.id, 'chatty', { offset: size - 2000 });
    expect(log.text).toMatch(/output truncated/);
    expect(log.text).toMatch(/longer than 3 s/);
    // The pipe was drained for seconds (hundreds of MB): memory must not have followed it.
    expect(grown).toBeLessThan(150 * 1024 * 1024);
  });
});

describe('engine: caching and resume', () => {
  let f: EngineFixture;
  let counter: string;
  beforeEach(async () => {
    f = await engineFixture({ 'executions.concurrency': 2 });
    counter = join(f.root, 'counter.txt');
  });
  afterEach(async () => {
    await f.cleanup();
  });

  const files = (genN: number, squareComment = '') => ({
    operations: {
      Gen: counted('Gen', ['', 'value = self.n', 'return value']),
      Square: counted('Square', ['#in', `result = value * value${squareComment}`, 'return result']),
    },
    pipelines: {
      p: chain(
        [
          { id: 'gen', operation: 'Gen', attributes: { counter: '', n: genN } },
          { id: 'square', operation: 'Square', attributes: { counter: '' } },
          { id: 'save', operation: 'Output', attributes: { saveName: 'squared' } },
        ],
        [
          ['gen.value', 'square.value'],
          ['square.result', 'save.data'],
        ],
      ),
    },
  });

  it('reuses outputs only when code, attributes, inputs and runtime are the same', async () => {
    const over = [`gen.counter=${counter}`, `square.counter=${counter}`];
    const run = async (genN: number, comment = '', cache = true) => {
      const { project } = await f.project(files(genN, comment), `p${genN}${comment.length}`);
      return (await f.engine.startExecution({ project, pipelineName: 'p', overrides: over, cache })).done;
    };
    const first = await run(3);
    expect(first.jobs.map((j) => j.status)).toEqual(['success', 'success', 'success']);
    expect(await runs(counter)).toEqual(['Gen', 'Square']);

    const same = await run(3);
    expect(same.jobs.map((j) => j.status)).toEqual(['cached', 'cached', 'success']);
    expect(same.jobs[1]!.cachedFrom).toBe(first.jobs[1]!.id);
    expect(same.jobs[1]!.outputs).toEqual(first.jobs[1]!.outputs);
    expect(await runs(counter)).toEqual(['Gen', 'Square']);
    expect((await f.engine.listArtifacts({ name: 'squared' })).length).toBe(2);

    // Another attribute value: Gen runs again, and Square (new input) too.
    const otherAttr = await run(4);
    expect(otherAttr.jobs.map((j) => j.status)).toEqual(['success', 'success', 'success']);
    expect(await runs(counter)).toEqual(['Gen', 'Square', 'Gen', 'Square']);

    // Other code for Square: Gen hits, Square runs.
    const otherCode = await run(4, '  # changed');
    expect(otherCode.jobs.map((j) => j.status)).toEqual(['cached', 'success', 'success']);
    expect(await runs(counter)).toEqual(['Gen', 'Square', 'Gen', 'Square', 'Square']);

    // Without --cache, everything runs.
    const uncached = await run(4, '  # changed', false);
    expect(uncached.jobs.map((j) => j.status)).toEqual(['success', 'success', 'success']);
  });

  it("never reuses another project's outputs: the cache is the project's own", async () => {
    const over = [`gen.counter=${counter}`, `square.counter=${counter}`];
    const { project } = await f.project(files(3));
    const inProject = async (projectId: string) =>
      (await f.engine.startExecution({ project, pipelineName: 'p', overrides: over, cache: true, projectId }))
        .done;
    const a = await inProject('project-a');
    expect(a.jobs.map((j) => j.status)).toEqual(['success', 'success', 'success']);
    // The same code, attributes and inputs in another project run again: what A computed (with A's secrets, say)
    // is not B's to have.
    const b = await inProject('project-b');
    expect(b.jobs.map((j) => j.status)).toEqual(['success', 'success', 'success']);
    expect(await runs(counter)).toEqual(['Gen', 'Square', 'Gen', 'Square']);
    // Within a project, the cache works as before.
    const again = await inProject('project-a');
    expect(again.jobs.map((j) => j.status)).toEqual(['cached', 'cached', 'success']);
    expect(again.jobs[1]!.cachedFrom).toBe(a.jobs[1]!.id);
  });

  it("reuses outputs only for the same values of the project's secrets", async () => {
    const { project } = await f.project({
      operations: {
        Token: counted('Token', [
          '',
          'import os',
          'token = os.environ["TOKEN"]',
          'with open(self.counter, "a") as f: f.write(token + "\\n")',
          'return token',
        ]),
      },
      pipelines: {
        p: chain(
          [
            { id: 'token', operation: 'Token', attributes: { counter } },
            { id: 'save', operation: 'Output', attributes: { saveName: 'token' } },
          ],
          [['token.token', 'save.data']],
        ),
      },
    });
    const run = async () =>
      (await f.engine.startExecution({ project, pipelineName: 'p', cache: true, projectId: 'project-s' }))
        .done;
    await f.engine.accounts.putSecret('project-s', 'TOKEN', 'first-value', undefined);
    const first = await run();
    expect(first.jobs[0]!.status).toBe('success');
    expect((await run()).jobs[0]!.status).toBe('cached');

    // Another value: the job runs again, and gets it.
    await f.engine.accounts.putSecret('project-s', 'TOKEN', 'second-value', undefined);
    const second = await run();
    expect(second.jobs[0]!.status).toBe('success');
    // The first value again: the first run's outputs are its outputs.
    await f.engine.accounts.putSecret('project-s', 'TOKEN', 'first-value', undefined);
    const back = await run();
    expect(back.jobs[0]!.status).toBe('cached');
    expect(back.jobs[0]!.cachedFrom).toBe(first.jobs[0]!.id);
    expect(await runs(counter)).toEqual(['Token', 'first-value', 'Token', 'second-value']);
    expect(back.jobs[0]!.cacheKey).toBe(first.jobs[0]!.cacheKey);
    expect(second.jobs[0]!.cacheKey).not.toBe(first.jobs[0]!.cacheKey);
  });

  it('never caches a failure', async () => {
    const { project } = await f.project({
      operations: { Fail: counted('Fail', ['', 'raise RuntimeError("no")']) },
      pipelines: { p: chain([{ id: 'fail', operation: 'Fail', attributes: { counter } }], []) },
    });
    for (let i = 0; i < 2; i++) {
      const done = await (await f.engine.startExecution({ project, pipelineName: 'p', cache: true })).done;
      expect(done.jobs[0]!.status).toBe('failed');
    }
    expect(await runs(counter)).toEqual(['Fail', 'Fail']);
  });

  it('resumes a failed execution: what succeeded is reused, what failed runs again', async () => {
    const marker = join(f.root, 'fixed');
    const { project } = await f.project({
      operations: {
        Gen: counted('Gen', ['', 'value = self.n', 'return value']),
        Flaky: py(
          'import os',
          'class Flaky():',
          '    def __init__(self, counter="", marker=""):',
          '        self.counter = counter',
          '        self.marker = marker',
          '',
          '    def execute(self, value):',
          '        with open(self.counter, "a") as f: f.write("Flaky\\n")',
          '        if not os.path.exists(self.marker):',
          '            raise RuntimeError("not fixed yet")',
          '        result = value + 1',
          '        return result',
        ),
      },
      pipelines: {
        p: chain(
          [
            { id: 'gen', operation: 'Gen', attributes: { counter, n: 41 } },
            { id: 'flaky', operation: 'Flaky', attributes: { counter, marker } },
            { id: 'save', operation: 'Output', attributes: { saveName: 'answer' } },
          ],
          [
            ['gen.value', 'flaky.value'],
            ['flaky.result', 'save.data'],
          ],
        ),
      },
    });
    const started = await f.engine.startExecution({ project, pipelineName: 'p' });
    const failed = await started.done;
    expect(failed.status).toBe('failed');
    expect(failed.jobs.map((j) => j.status)).toEqual(['success', 'failed', 'canceled']);
    await expect(f.engine.resumeExecution('zzzzzz')).rejects.toThrow(/no execution/);

    await writeFile(marker, '');
    const resumed = await f.engine.resumeExecution(started.id);
    expect(resumed.id).toBe(started.id);
    const done = await resumed.done;
    expect(done.status).toBe('success');
    expect(done.jobs.map((j) => [j.node, j.status, j.attempt])).toEqual([
      ['gen', 'success', 1],
      ['flaky', 'success', 2],
      ['save', 'success', 1],
    ]);
    expect(await runs(counter)).toEqual(['Gen', 'Flaky', 'Flaky']);
    expect(done.jobs[0]!.outputs).toEqual(failed.jobs[0]!.outputs);
    const log = await f.engine.readJobLog(started.id, 'flaky');
    expect(log.text).toMatch(/not fixed yet[\s\S]*── attempt 2 ──/);
    await expect(f.engine.resumeExecution(started.id)).rejects.toThrow(/succeeded: nothing to resume/);
  });
});
