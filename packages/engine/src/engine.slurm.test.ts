import { execFile } from 'node:child_process';
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { JobLogEvent } from '@deepforge/protocol';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { openEngine } from './engine.js';
import type { PipelineValidationError } from './errors.js';
import { engineFixture, type EngineFixture } from './test-support/engine-fixture.js';
import { spawnScript, waitForScript } from './test-support/node-script.js';
import { chain, cleanEnv, py, REPORTING_CHAIN, writeProjectFolder } from './test-support/project-files.js';
import { testSlurmConf } from './test-support/slurm-server.js';
import { makeTempDir, removeTree, TEST_PYTHON } from './test-support/temp-dir.js';
import { buildTestWheel } from './test-support/test-wheel.js';

/** scontrol's view of a Slurm job: its `Key=Value` fields. */
function scontrol(conf: string, id: number): Promise<Record<string, string>> {
  return new Promise((resolve, reject) =>
    execFile(
      'scontrol',
      ['show', 'job', '-o', String(id)],
      { env: { ...process.env, SLURM_CONF: conf } },
      (e, out) =>
        e
          ? reject(e)
          : resolve(
              Object.fromEntries(
                out
                  .trim()
                  .split(/\s+/)
                  .map((kv) => kv.split(/=(.*)/s, 2)),
              ),
            ),
    ),
  );
}

function scancel(conf: string, id: number): Promise<void> {
  return new Promise((resolve, reject) =>
    execFile('scancel', [String(id)], { env: { ...process.env, SLURM_CONF: conf } }, (e) =>
      e ? reject(e) : resolve(),
    ),
  );
}

const SLEEPER = {
  operations: {
    Sleep: py(
      'import time',
      'class Sleep():',
      '    def execute(self):',
      '        print("sleeping", flush=True)',
      '        time.sleep(600)',
      '        done = 1',
      '        return done',
    ),
  },
  pipelines: { main: chain([{ id: 'sleep', operation: 'Sleep' }], []) },
};

describe('engine on Slurm (compute.backend = slurm, a real single-node Slurm)', () => {
  let conf: string;
  let f: EngineFixture | undefined;
  beforeAll(async () => {
    conf = await testSlurmConf();
  });
  afterEach(async () => {
    await f?.cleanup();
    f = undefined;
  });

  const open = (settings: Record<string, unknown> = {}) =>
    engineFixture(
      { 'compute.backend': 'slurm', 'executions.concurrency': 2, ...settings },
      { env: cleanEnv({ SLURM_CONF: conf }) },
    );

  /** The node's console lines as they arrived, live. */
  const lines = (fixture: EngineFixture, executionId: string, node: string): string[] =>
    fixture.events
      .filter(
        (e): e is JobLogEvent => e.executionId === executionId && e.type === 'job.log' && e.node === node,
      )
      .map((e) => e.text);

  /** The Slurm job id of a node, from its console's first line. */
  const slurmIdOf = (text: string): number => Number(/submitted to Slurm as job (\d+)/.exec(text)?.[1]);

  /** Resolves with the Slurm job id of the node once its job runs there and has printed `line`. */
  async function runningJob(fixture: EngineFixture, executionId: string, node: string, line: string) {
    for (let i = 0; i < 300; i++) {
      const seen = lines(fixture, executionId, node);
      if (seen.includes(line)) return slurmIdOf(seen.join('\n'));
      await new Promise((r) => setTimeout(r, 50));
    }
    throw new Error(`${node} never printed ${line}: ${lines(fixture, executionId, node).join(' | ')}`);
  }

  it('runs an operation in its environment, built on the submitting machine in the shared environments.dir', async () => {
    const wheels = await makeTempDir('slurm-wheels');
    try {
      await buildTestWheel(wheels, 'dfslurmprobe', '1.0', { 'dfslurmprobe/__init__.py': 'VALUE = 3\n' });
      f = await open({ 'environments.pipArgs': ['--isolated', '--no-index', '--find-links', wheels] });
      const { dir, project } = await f.project({
        operations: {
          Probe: py(
            'import sys',
            'import dfslurmprobe',
            'class Probe():',
            '    def execute(self):',
            '        print("prefix", sys.prefix, flush=True)',
            '        value = dfslurmprobe.VALUE',
            '        return value',
          ),
        },
        files: { 'operations/Probe.environment.yml': 'dependencies:\n  - pip:\n    - dfslurmprobe==1.0\n' },
        pipelines: { main: chain([{ id: 'probe', operation: 'Probe' }], []) },
      });
      const started = await f.engine.startExecution({ project, projectDir: dir, pipelineName: 'main' });
      const done = await started.done;
      const log = lines(f, started.id, 'probe').join('\n');
      expect(done.status, log).toBe('success');
      expect(log).toMatch(/\[deepforge\] preparing environment [0-9a-f]{32}/);
      expect(log.indexOf('preparing environment')).toBeLessThan(log.indexOf('submitted to Slurm'));
      expect(log).toContain(`prefix ${join(f.dataDir, 'environments', 'envs')}`);
    } finally {
      await removeTree(wheels);
    }
  });

  it('runs a pipeline as Slurm jobs: outputs stored, console and metrics live, options per execution and node', async () => {
    f = await open({ 'compute.slurm.time': '30:00' });
    expect(f.engine.computeBackend).toBe('slurm');
    const { dir, project } = await f.project(REPORTING_CHAIN);
    const started = await f.engine.startExecution({
      project,
      projectDir: dir,
      pipelineName: 'main',
      slurm: { partition: 'debug', time: '5:00' },
      nodeSlurm: { report: { time: '10:00' } },
    });
    const done = await started.done;
    expect(done.jobs.map((j) => [j.node, j.status])).toEqual([
      ['six', 'success'],
      ['double', 'success'],
      ['report', 'success'],
      ['save', 'success'],
    ]);
    expect((await f.engine.getJobTelemetry(done.id, 'report')).metrics.map((m) => m.value)).toEqual([
      12, 13, 14,
    ]);
    expect((await f.engine.getArtifact('result')).size).toBeGreaterThan(0);
    // Console lines arrived as events while the job ran, and are in its log.
    expect(lines(f, done.id, 'report')).toContain('value is 12');
    const log = (await f.engine.readJobLog(done.id, 'report')).text;
    expect(log).toContain('value is 12');
    // The execution's options, the node's own over them, both over the settings.
    expect(log).toMatch(/submitted to Slurm as job \d+ \(partition debug, time 10:00\)/);
    expect((await f.engine.readJobLog(done.id, 'double')).text).toMatch(/\(partition debug, time 5:00\)/);
    expect(await scontrol(conf, slurmIdOf(log))).toMatchObject({
      JobState: 'COMPLETED',
      TimeLimit: '00:10:00',
    });
    // Nothing of the job's raw output is left beside its console log.
    const jobFiles = await readdir(join(done.dir, 'jobs', 'report'));
    expect(jobFiles).toEqual(expect.arrayContaining(['console.log', 'job.json', 'job.sbatch']));
    expect(jobFiles.filter((name) => /^(slurm\.|events)/.test(name))).toEqual([]);
  });

  it('cancels a running job with scancel when the execution is canceled', async () => {
    f = await open();
    const { dir, project } = await f.project(SLEEPER);
    const started = await f.engine.startExecution({ project, projectDir: dir, pipelineName: 'main' });
    const slurmId = await runningJob(f, started.id, 'sleep', 'sleeping');
    await f.engine.cancelExecution(started.id);
    const done = await started.done;
    expect(done.status).toBe('canceled');
    expect(done.jobs[0]!.status).toBe('canceled');
    expect((await scontrol(conf, slurmId)).JobState).toBe('CANCELLED');
  });

  it("fails a job Slurm ends (here: cancelled outside DeepForge) with Slurm's state and reason", async () => {
    f = await open();
    const { dir, project } = await f.project(SLEEPER);
    const started = await f.engine.startExecution({ project, projectDir: dir, pipelineName: 'main' });
    const slurmId = await runningJob(f, started.id, 'sleep', 'sleeping');
    await scancel(conf, slurmId);
    const done = await started.done;
    expect(done.status).toBe('failed');
    expect(done.jobs[0]!.status).toBe('failed');
    expect(done.jobs[0]!.error).toMatchObject({
      kind: 'crash',
      message: `Slurm ended job ${slurmId}: CANCELLED (cancelled outside DeepForge (scancel, or an administrator))`,
    });
  });

  it('cancels the Slurm job of an engine killed with SIGKILL when the next engine opens', async () => {
    const root = await makeTempDir('slurm-orphan');
    try {
      const dataDir = join(root, 'data');
      const projectDir = await writeProjectFolder(join(root, 'project'), SLEEPER);
      const env = cleanEnv({ SLURM_CONF: conf, DEEPFORGE_COMPUTE_BACKEND: 'slurm' });
      const child = spawnScript('run-pipeline.script.ts', [dataDir, projectDir, 'main'], env);
      const exited = waitForScript(child);
      let stdout = '';
      child.stdout!.on('data', (c: Buffer) => (stdout += c.toString()));
      let slurmId = 0;
      let id = '';
      for (let i = 0; i < 600 && !slurmId; i++) {
        id = /"id":"(\w+)"/.exec(stdout)?.[1] ?? '';
        const log = id
          ? await readFile(join(dataDir, 'executions', id, 'jobs', 'sleep', 'console.log'), 'utf8').catch(
              () => '',
            )
          : '';
        if (log.includes('sleeping\n')) slurmId = slurmIdOf(log);
        else await new Promise((r) => setTimeout(r, 50));
      }
      expect(slurmId).toBeGreaterThan(0);
      child.kill('SIGKILL');
      await exited;
      // Nothing of the dead engine stops it: the batch job runs on.
      expect((await scontrol(conf, slurmId)).JobState).toBe('RUNNING');

      const engine = await openEngine({ dataDir, env, settings: { python: TEST_PYTHON } });
      try {
        expect(engine.recovery!.failedJobs).toEqual([`${id}.sleep`]);
        // Slurm shows the job COMPLETING while it stops its processes, then CANCELLED.
        await expect
          .poll(async () => (await scontrol(conf, slurmId)).JobState, { timeout: 15_000 })
          .toBe('CANCELLED');
        expect((await engine.getExecution(id)).jobs[0]!.error).toMatchObject({ kind: 'runner-died' });
      } finally {
        await engine.close();
      }
    } finally {
      await removeTree(root);
    }
  });

  // Slurm checks time limits every 30 s and --time counts whole minutes: this takes 60–90 s, so it runs only when
  // asked (DEEPFORGE_SLURM_SLOW_TESTS=1); slurm-state.test.ts checks the wording on a line recorded from it.
  it.runIf(process.env.DEEPFORGE_SLURM_SLOW_TESTS === '1')(
    'fails a job that reaches its Slurm time limit with TIMEOUT and the limit',
    async () => {
      f = await open();
      const { dir, project } = await f.project(SLEEPER);
      const done = await (
        await f.engine.startExecution({
          project,
          projectDir: dir,
          pipelineName: 'main',
          slurm: { time: '1' },
        })
      ).done;
      expect(done.jobs[0]!.error?.message).toMatch(
        /^Slurm ended job \d+: TIMEOUT \(it reached its time limit of 00:01:00; reason TimeLimit\)$/,
      );
    },
    150_000,
  );

  it("fails a job Slurm refuses (a partition it does not have) with sbatch's message", async () => {
    f = await open();
    const { dir, project } = await f.project(SLEEPER);
    const done = await (
      await f.engine.startExecution({
        project,
        projectDir: dir,
        pipelineName: 'main',
        slurm: { partition: 'nope' },
      })
    ).done;
    expect(done.status).toBe('failed');
    expect(done.jobs[0]!.error?.message).toMatch(
      /^Slurm refused the job: sbatch: error: invalid partition specified: nope/,
    );
    expect((await f.engine.readJobLog(done.id, 'sleep')).text).toMatch(/Slurm refused the job/);
  });

  it('asks Slurm for the GPUs a job needs (--gres=gpu:N), which a cluster without GPUs refuses', async () => {
    f = await open();
    const { dir, project } = await f.project(SLEEPER);
    const done = await (
      await f.engine.startExecution({ project, projectDir: dir, pipelineName: 'main', gpus: 1 })
    ).done;
    expect(done.status).toBe('failed');
    // The test cluster's node has no generic resources: sbatch says so, naming what was asked.
    expect(done.jobs[0]!.error?.message).toMatch(
      /^Slurm refused the job: sbatch: error: .*(gres|generic resource)/i,
    );
  });

  it('refuses Slurm options sbatch would not take before anything is stored', async () => {
    f = await open();
    const { dir, project } = await f.project(SLEEPER);
    await expect(
      f.engine.startExecution({ project, projectDir: dir, pipelineName: 'main', slurm: { time: 'an hour' } }),
    ).rejects.toThrow(/^slurm\.time: a time limit as sbatch takes it/);
    await expect(
      f.engine.startExecution({
        project,
        projectDir: dir,
        pipelineName: 'main',
        nodeSlurm: { sleep: { partition: 'gpu --wrap=rm' } },
      }),
    ).rejects.toThrow(/^slurm options of sleep\.partition: a partition name/);
    // Options of a node the pipeline does not have (a typo) are refused too, naming it and the nodes there are.
    for (const options of [
      { nodeSlurm: { slepe: { time: '1:00' } } },
      { nodeGpus: { slepe: 1 } },
      { nodeLabels: { slepe: ['gpu'] } },
    ]) {
      const refused = await f.engine
        .startExecution({ project, projectDir: dir, pipelineName: 'main', ...options })
        .then(
          () => undefined,
          (err: unknown) => err as PipelineValidationError,
        );
      expect(refused?.diagnostics.map((d) => d.message)).toEqual([
        expect.stringMatching(
          / are given for node "slepe", which pipeline "main" does not have \(its nodes: .*sleep/,
        ),
      ]);
    }
    expect(await f.engine.listExecutions()).toEqual([]);
  });
});
