import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { renameNode, type Project } from '@deepforge/core';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { PipelineValidationError } from './errors.js';
import { engineFixture, type EngineFixture } from './test-support/engine-fixture.js';
import { chain, py } from './test-support/project-files.js';

/** Each operation appends its name (and version) to `counter` when it runs: how the test sees what really ran. */
const gen = py(
  'class Gen():',
  '    def __init__(self, counter="", n=1):',
  '        self.counter = counter',
  '        self.n = n',
  '',
  '    def execute(self):',
  '        with open(self.counter, "a") as f: f.write("Gen\\n")',
  '        value = self.n',
  '        return value',
);
const step = (version: string, body: string) =>
  py(
    'class Step():',
    '    def __init__(self, counter=""):',
    '        self.counter = counter',
    '',
    '    def execute(self, value):',
    `        with open(self.counter, "a") as f: f.write("Step ${version}\\n")`,
    `        ${body}`,
    '        return result',
  );

async function runs(counter: string): Promise<string[]> {
  return (await readFile(counter, 'utf8').catch(() => '')).split('\n').filter(Boolean);
}

/** The project with Step's code replaced (what a user's fix does to the project). */
function withStep(project: Project, code: string, genN?: number): Project {
  const p = structuredClone(project);
  p.operations.Step = { ...p.operations.Step!, code };
  if (genN !== undefined)
    p.pipelines.p!.nodes[0]!.attributes = { ...p.pipelines.p!.nodes[0]!.attributes, n: genN };
  return p;
}

describe('engine: resume with the current code', () => {
  let f: EngineFixture;
  let counter: string;
  let project: Project;
  beforeEach(async () => {
    f = await engineFixture({ 'executions.concurrency': 2 });
    counter = join(f.root, 'counter');
    ({ project } = await f.project({
      operations: { Gen: gen, Step: step('v1', 'raise RuntimeError("bug in v1")') },
      pipelines: {
        p: chain(
          [
            { id: 'gen', operation: 'Gen', attributes: { counter, n: 41 } },
            { id: 'step', operation: 'Step', attributes: { counter } },
            { id: 'save', operation: 'Output', attributes: { saveName: 'answer' } },
          ],
          [
            ['gen.value', 'step.value'],
            ['step.result', 'save.data'],
          ],
        ),
      },
    }));
  });
  afterEach(async () => {
    await f.cleanup();
  });

  it('runs the fixed operation and what follows it; the unchanged upstream job is reused, not run', async () => {
    const failed = await (await f.engine.startExecution({ project, pipelineName: 'p', overrides: [] })).done;
    expect(failed.status).toBe('failed');
    expect(failed.jobs.map((j) => j.status)).toEqual(['success', 'failed', 'canceled']);
    // The snapshot's resume replays the failed code.
    const replay = await (await f.engine.resumeExecution(failed.id)).done;
    expect(replay.status).toBe('failed');
    expect(await runs(counter)).toEqual(['Gen', 'Step v1', 'Step v1']);

    const fixed = withStep(project, step('v2', 'result = value + 1'));
    const started = await f.engine.resumeWithCurrentCode(failed.id, { project: fixed });
    expect(started.id).not.toBe(failed.id);
    const done = await started.done;
    expect(done.status).toBe('success');
    expect(done.jobs.map((j) => [j.node, j.status])).toEqual([
      ['gen', 'cached'],
      ['step', 'success'],
      ['save', 'success'],
    ]);
    expect(done.jobs[0]!.cachedFrom).toBe(failed.jobs[0]!.id);
    expect(done.jobs[0]!.outputs).toEqual(failed.jobs[0]!.outputs);
    // Gen ran once in all (the first run); the new code of Step ran.
    expect(await runs(counter)).toEqual(['Gen', 'Step v1', 'Step v1', 'Step v2']);
    expect(done.options.resumedFrom).toBe(failed.id);
    expect(done.name).toMatch(/\(resumed with current code\)$/);
    const artifacts = await f.engine.listArtifacts({ name: 'answer' });
    expect(artifacts).toHaveLength(1);

    // The failed execution keeps its snapshot and its records.
    const before = await f.engine.getExecution(failed.id);
    expect(before.status).toBe('failed');
    expect(before.jobs.map((j) => j.status)).toEqual(['success', 'failed', 'canceled']);
    // A succeeded execution has nothing to resume.
    await expect(f.engine.resumeWithCurrentCode(done.id, { project: fixed })).rejects.toThrow(
      /succeeded: nothing to resume/,
    );
  });

  it('runs an upstream job again when its current attributes changed', async () => {
    const failed = await (await f.engine.startExecution({ project, pipelineName: 'p' })).done;
    const fixed = withStep(project, step('v2', 'result = value + 1'), 9);
    const done = await (await f.engine.resumeWithCurrentCode(failed.id, { project: fixed })).done;
    expect(done.jobs.map((j) => j.status)).toEqual(['success', 'success', 'success']);
    expect(await runs(counter)).toEqual(['Gen', 'Step v1', 'Gen', 'Step v2']);
  });

  it('keeps applying the execution’s --set overrides to a node renamed since', async () => {
    const failed = await (
      await f.engine.startExecution({ project, pipelineName: 'p', overrides: ['gen.n=5'] })
    ).done;
    expect(failed.status).toBe('failed');
    const fixed = withStep(project, step('v2', 'result = value + 1'));
    fixed.pipelines.p = renameNode(fixed.pipelines.p!, 'gen', 'source');
    const done = await (
      await f.engine.resumeWithCurrentCode(failed.id, { project: fixed, renames: { gen: 'source' } })
    ).done;
    expect(done.options.overrides).toEqual(['source.n=5']);
    // Same code and the same effective n = 5 under its new id: the earlier job's output is reused.
    expect(done.jobs.map((j) => [j.node, j.status])).toEqual([
      ['source', 'cached'],
      ['step', 'success'],
      ['save', 'success'],
    ]);
    expect(done.jobs[0]!.cachedFrom).toBe(failed.jobs[0]!.id);
    // Without the rename the override names a node that is not there: refused, nothing started.
    await expect(f.engine.resumeWithCurrentCode(failed.id, { project: fixed })).rejects.toThrow(/gen/);
  });

  it('refuses a pipeline that is gone or has errors now, and starts nothing', async () => {
    const failed = await (await f.engine.startExecution({ project, pipelineName: 'p' })).done;
    const gone = structuredClone(project);
    delete gone.pipelines.p;
    await expect(f.engine.resumeWithCurrentCode(failed.id, { project: gone })).rejects.toThrow(
      /project has no pipeline "p"/,
    );
    const broken = withStep(project, 'class Step(:\n');
    await expect(f.engine.resumeWithCurrentCode(failed.id, { project: broken })).rejects.toBeInstanceOf(
      PipelineValidationError,
    );
    expect((await f.engine.listExecutions()).map((e) => e.id)).toEqual([failed.id]);
    await expect(f.engine.resumeWithCurrentCode('zzzzzz', { project })).rejects.toThrow(/no execution/);
  });
});
