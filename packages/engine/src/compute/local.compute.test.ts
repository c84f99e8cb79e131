import { mkdir, readFile, readdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import pino from 'pino';
import { afterAll, afterEach, beforeEach, describe, expect, it, onTestFinished } from 'vitest';
import { TEST_PYTHON, makeTempDir, removeTree } from '../test-support/temp-dir.js';
import { opJob, waitForPids } from './compute-job.fixture.js';
import { describeComputeConformance } from './compute.conformance.js';
import type { ComputeLogLine } from './job.compute.js';
import { LocalCompute } from './local.compute.js';
import { isProcessAlive, waitForExit } from './process-tree.js';
import { findRuntimeDir } from './python-interpreter.js';

const localCompute = (warmWorker: boolean) => () =>
  new LocalCompute({
    runtimeDir: findRuntimeDir(),
    env: process.env,
    logger: pino({ enabled: false }),
    killGraceMs: 500,
    warmWorker,
  });

describeComputeConformance('LocalCompute, a new interpreter per job', localCompute(false));
describeComputeConformance('LocalCompute, jobs forked from the warm worker', localCompute(true));

/** What only local processes have: the harness's command line and process group, its event fd. */
describe.each([
  ['a new interpreter per job', false],
  ['jobs forked from the warm worker', true],
])('LocalCompute (real harness), %s', (_mode, warmWorker) => {
  let dir: string;
  const compute = localCompute(warmWorker)();
  afterAll(() => compute.close());

  beforeEach(async () => {
    dir = await makeTempDir('compute');
  });
  afterEach(async () => {
    await removeTree(dir);
  });

  async function run(code: string, opts: { jobId?: string } = {}) {
    const jobDir = join(dir, opts.jobId ?? 'job');
    const logs: ComputeLogLine[] = [];
    const running = await compute.start(
      await opJob({
        codeDir: join(dir, 'code'),
        jobDir,
        outputDir: join(dir, 'out'),
        jobId: opts.jobId ?? 'job-1',
        code,
      }),
      { onEvent: () => undefined, onLog: (l) => logs.push(l) },
    );
    return { running, logs, workDir: join(jobDir, 'work') };
  }

  it('gives the job its own process group, work dir, environment and arguments', async () => {
    const factsFile = join(dir, 'facts.json');
    const code = [
      'import json, os, sys',
      'class Op():',
      '    def execute(self):',
      `        with open(${JSON.stringify(factsFile)}, "w") as f:`,
      '            json.dump({"pid": os.getpid(), "pgid": os.getpgid(0), "cwd": os.getcwd(),',
      '                       "job": os.environ.get("DEEPFORGE_JOB_ID"), "argv": sys.argv,',
      '                       "stdin": sys.stdin.read()}, f)',
    ].join('\n');
    const first = await run(code, { jobId: 'job-a' });
    expect((await first.running.result).exitCode).toBe(0);
    const facts = JSON.parse(await readFile(factsFile, 'utf8'));
    expect(facts.pid).toBe(first.running.pid);
    expect(facts.pgid).toBe(facts.pid);
    expect(facts.cwd).toBe(first.workDir);
    expect(facts.job).toBe('job-a');
    expect(facts.argv).toEqual([
      expect.stringMatching(/deepforge\/harness\.py$/),
      join(dir, 'job-a', 'job.json'),
    ]);
    expect(facts.stdin).toBe('');
    // Its spec file is there for whoever replays the job, written by the engine or (forked) by the child.
    const spec = JSON.parse(await readFile(join(dir, 'job-a', 'job.json'), 'utf8'));
    expect(spec).toMatchObject({ workDir: first.workDir, outputDir: join(dir, 'out'), eventsFd: 3 });
  });

  it('prints where a job is on SIGUSR1, and the job goes on', async () => {
    const go = join(dir, 'go');
    const { running, logs } = await run(
      [
        'import os, time',
        'class Op():',
        '    def execute(self):',
        '        print("waiting", flush=True)',
        '        for _ in range(600):',
        '            if wait_here():',
        '                break',
        '        print("went on")',
        '',
        'def wait_here():',
        '    time.sleep(0.025)',
        `    return os.path.exists(${JSON.stringify(go)})`,
      ].join('\n'),
    );
    const seen = async (what: RegExp): Promise<void> => {
      for (let i = 0; i < 200 && !logs.some((l) => what.test(l.text)); i++)
        await new Promise((r) => setTimeout(r, 25));
    };
    await seen(/^waiting$/);
    process.kill(running.pid, 'SIGUSR1');
    await seen(/in wait_here/);
    const stderr = logs.filter((l) => l.stream === 'stderr').map((l) => l.text);
    // faulthandler's dump: the job's own frames, innermost first.
    expect(stderr.join('\n')).toMatch(/line \d+ in wait_here[\s\S]*line \d+ in execute/);
    await writeFile(go, '');
    expect((await running.result).exitCode).toBe(0);
    expect(logs.map((l) => l.text)).toContain('went on');
  });

  it('turns malformed event lines into warnings, not crashes', async () => {
    const { running, logs } = await run(
      [
        'import os',
        'class Op():',
        '    def execute(self):',
        '        os.write(3, b"this is not json\\n")',
        '        os.write(3, b\'{"v": 1, "t": 1, "type": "metric", "step": "x", "values": {}}\\n\')',
        '        os.write(3, b\'{"v": 99, "t": 1, "type": "hello"}\\n\')',
        '        print("still fine")',
      ].join('\n'),
    );
    const result = await running.result;
    expect(result.exitCode).toBe(0);
    expect(result.badEvents).toBe(3);
    const warnings = logs.filter((l) => l.stream === 'engine').map((l) => l.text);
    expect(warnings.join('\n')).toMatch(/not JSON: this is not json/);
    expect(warnings.join('\n')).toMatch(/step/);
    expect(warnings.join('\n')).toMatch(/v99.*engine is too old/);
    expect(logs.map((l) => l.text)).toContain('still fine');
  });

  it(
    warmWorker
      ? 'runs a forked job from the spec sent with it when job.json cannot be written'
      : 'fails a new interpreter whose job.json cannot be written, naming why',
    async () => {
      const jobDir = join(dir, 'job');
      // A folder where the spec file goes: writing it fails (EISDIR).
      await mkdir(join(jobDir, 'job.json'), { recursive: true });
      const request = await opJob({
        codeDir: join(dir, 'code'),
        jobDir,
        outputDir: join(dir, 'out'),
        jobId: 'job-spec',
        code: 'class Op():\n    def execute(self):\n        print("ran")\n',
      });
      const logs: ComputeLogLine[] = [];
      const start = compute.start(request, { onEvent: () => undefined, onLog: (l) => logs.push(l) });
      if (!warmWorker) {
        await expect(start).rejects.toThrow(/EISDIR/);
        return;
      }
      const result = await (await start).result;
      expect(result.exitCode).toBe(0);
      expect(logs.map((l) => l.text)).toContain('ran');
      // The child could not write it either, and said so on the job's console.
      const lines = (await readFile(join(jobDir, 'console.log'), 'utf8')).split('\n');
      expect(lines).toContain('ran');
      expect(lines).toContainEqual(
        expect.stringMatching(/^deepforge: cannot write the job's spec file .*job\.json: .*Is a directory/),
      );
      expect(lines).toHaveLength(3);
    },
  );
});

/** The pid of the warm worker (python -m deepforge.zygote) started for `runnerId`, if one runs. */
async function zygoteOf(runnerId: string): Promise<number | undefined> {
  for (const entry of await readdir('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const cmdline = await readFile(`/proc/${entry}/cmdline`, 'utf8');
      if (!cmdline.includes('deepforge.zygote')) continue;
      const environ = await readFile(`/proc/${entry}/environ`, 'utf8');
      if (environ.split('\0').includes(`DEEPFORGE_RUNNER_ID=${runnerId}`)) return Number(entry);
    } catch {
      // gone meanwhile, or not ours to read
    }
  }
  return undefined;
}

describe('LocalCompute: the warm worker', () => {
  let dir: string;
  const compute = new LocalCompute({
    runtimeDir: findRuntimeDir(),
    env: process.env,
    logger: pino({ enabled: false }),
    killGraceMs: 500,
    warmWorker: true,
  });
  afterAll(() => compute.close());
  beforeEach(async () => {
    dir = await makeTempDir('warm');
  });
  afterEach(async () => {
    await removeTree(dir);
  });

  function start(jobId: string, code: string, python = TEST_PYTHON) {
    return startOn(compute, jobId, code, python);
  }

  async function startOn(on: LocalCompute, jobId: string, code: string, python = TEST_PYTHON) {
    const jobDir = join(dir, jobId, 'job');
    const request = await opJob({
      codeDir: join(dir, jobId, 'code'),
      jobDir,
      outputDir: join(jobDir, 'out'),
      jobId,
      code,
      python,
    });
    return on.start(request, { onEvent: () => undefined, onLog: () => undefined });
  }

  const reportJob = (file: string): string =>
    [
      'import sys',
      'PRELOADED = "numpy" in sys.modules',
      'import gc, json, os',
      'import numpy as np',
      'class Op():',
      '    def execute(self):',
      '        facts = {"preloaded": PRELOADED, "ppid": os.getppid(), "draw": np.random.rand()}',
      '        facts["frozen"] = gc.get_freeze_count()',
      '        facts["numpyTracked"] = any(type(o) is type(np) and o is np for o in gc.get_objects())',
      // Left open: the harness's exit closes it, so its buffered text reaches the file.
      `        f = open(${JSON.stringify(file)}, "w")`,
      '        json.dump(facts, f)',
    ].join('\n');

  it('gives a forked job exactly its own environment, also in what its subprocesses inherit', async () => {
    const code = (file: string): string =>
      [
        'import json, os, subprocess',
        'class Op():',
        '    def execute(self):',
        '        out = subprocess.run(["/usr/bin/env", "-0"], capture_output=True, check=True).stdout.decode()',
        `        with open(${JSON.stringify(file)}, "w") as f:`,
        '            inherited = dict(line.split("=", 1) for line in out.split("\\0") if line)',
        '            json.dump({"environ": dict(os.environ), "inherited": inherited}, f)',
      ].join('\n');
    const fresh = new LocalCompute({
      runtimeDir: findRuntimeDir(),
      env: process.env,
      logger: pino({ enabled: false }),
      warmWorker: false,
    });
    onTestFinished(() => fresh.close());
    const envOf = async (on: LocalCompute, name: string, secretEnv?: Record<string, string>) => {
      const file = join(dir, `${name}.json`);
      const jobDir = join(dir, name);
      const request = await opJob({
        codeDir: join(jobDir, 'code'),
        jobDir,
        outputDir: join(jobDir, 'out'),
        jobId: 'env-job',
        code: code(file),
        ...(secretEnv ? { secretEnv } : {}),
      });
      const running = await on.start(request, { onEvent: () => undefined, onLog: () => undefined });
      expect((await running.result).exitCode).toBe(0);
      return JSON.parse(await readFile(file, 'utf8')) as {
        environ: Record<string, string>;
        inherited: Record<string, string>;
      };
    };
    const secret = { DF_TEST_SECRET: 'one' };
    const expected = await envOf(fresh, 'new-interpreter', secret);
    expect(expected.environ.DF_TEST_SECRET).toBe('one');
    const forked = await envOf(compute, 'forked', secret);
    // The worker's own variables (it set MPLBACKEND for itself) are replaced, not merged.
    expect(forked.environ).toEqual(expected.environ);
    expect(forked.inherited).toEqual(expected.inherited);
    // The next job does not see the one before's secret.
    const after = await envOf(compute, 'forked-after');
    const { DF_TEST_SECRET: _gone, ...withoutSecret } = expected.environ;
    expect(after.environ).toEqual(withoutSecret);
    expect(after.inherited).not.toHaveProperty('DF_TEST_SECRET');
  });

  it('forks jobs from one worker, which imports the libraries they use for the next ones', async () => {
    const facts = [];
    for (const job of ['one', 'two', 'three']) {
      const file = join(dir, `${job}.json`);
      const running = await start(job, reportJob(file));
      expect((await running.result).exitCode).toBe(0);
      facts.push(JSON.parse(await readFile(file, 'utf8')));
    }
    // The first job imported numpy itself (the worker imports it after forking that job); later ones inherit it.
    expect(facts.map((f) => f.preloaded)).toEqual([false, true, true]);
    expect(new Set(facts.map((f) => f.ppid)).size).toBe(1);
    expect(facts[0].ppid).not.toBe(process.pid);
    // numpy's global generator is reseeded in each job, as in a new interpreter.
    expect(new Set(facts.map((f) => f.draw)).size).toBe(3);
    // The worker's heap (numpy's module among it) is frozen before each fork: what a job's collections and its
    // exit's scan for open files go through is its own objects only. The first job imported numpy itself.
    expect(facts.every((f) => f.frozen > 0)).toBe(true);
    expect(facts.map((f) => f.numpyTracked)).toEqual([true, false, false]);
  });

  it("forks the next job's child ahead of it: a job after the first gets a child that already existed", async () => {
    const aged = (file: string, sleep: number): string =>
      [
        'import json, os, time',
        'class Op():',
        '    def execute(self):',
        `        time.sleep(${sleep})`,
        '        with open("/proc/uptime") as f: uptime = float(f.read().split()[0])',
        '        with open("/proc/self/stat") as f: fields = f.read().rsplit(")", 1)[1].split()',
        '        age = uptime - int(fields[19]) / os.sysconf("SC_CLK_TCK")',
        `        with open(${JSON.stringify(file)}, "w") as f: json.dump({"age": age, "pid": os.getpid()}, f)`,
      ].join('\n');
    // A worker of its own: its first job is its first fork.
    const own = new LocalCompute({
      runtimeDir: findRuntimeDir(),
      env: process.env,
      logger: pino({ enabled: false }),
      warmWorker: true,
    });
    onTestFinished(() => own.close());
    const ages: number[] = [];
    for (const [job, sleep] of [
      ['ahead-1', 0],
      ['ahead-2', 0.6],
      ['ahead-3', 0],
    ] as const) {
      const file = join(dir, `${job}.json`);
      const asked = Date.now();
      const running = await startOn(own, job, aged(file, sleep));
      expect((await running.result).exitCode).toBe(0);
      const { age } = JSON.parse(await readFile(file, 'utf8')) as { age: number };
      // How long before the job was asked for its process was made (negative: after), in seconds.
      ages.push(age - (Date.now() - asked) / 1000);
    }
    // The first job's process is forked when it is asked for; the third's was forked while the second ran
    // (0.6 s), ahead of it: the clock ticks of /proc (10 ms) leave plenty of margin.
    expect(ages[0]).toBeLessThan(0.1);
    expect(ages[2]).toBeGreaterThan(0.3);
  });

  it('loses no quick job: streams closed before the job is watched still end it', async () => {
    // A job that prints nothing can close its sockets before the adapter has attached to them; this used to
    // leave such a job running forever, about one in a hundred.
    const quiet = ['class Op():', '    def execute(self):', '        pass'].join('\n');
    let finished = 0;
    for (let wave = 0; wave < 20; wave++) {
      await Promise.all(
        [0, 1, 2, 3].map(async (k) => {
          const running = await start(`quiet-${wave}-${k}`, quiet);
          const result = await Promise.race([
            running.result,
            new Promise<never>((_, reject) =>
              setTimeout(() => reject(new Error(`job quiet-${wave}-${k} never ended`)), 15_000),
            ),
          ]);
          expect(result.exitCode).toBe(0);
          finished++;
        }),
      );
    }
    expect(finished).toBe(80);
  });

  it('a job dies with its worker; the next job gets a new worker', async () => {
    const pidFile = join(dir, 'pids');
    const running = await start(
      'sleeper',
      [
        'import os, time',
        'class Op():',
        '    def execute(self):',
        `        with open(${JSON.stringify(pidFile)}, "w") as f: f.write("%d %d" % (os.getpid(), os.getppid()))`,
        '        time.sleep(1000)',
      ].join('\n'),
    );
    const [pid, worker] = await waitForPids(pidFile);
    expect(pid).toBe(running.pid);
    process.kill(worker!, 'SIGKILL');
    const result = await running.result;
    expect(result.exitCode).toBeNull();
    expect(result.signal).toBe('SIGKILL');
    // The kernel kills it as its parent dies (PR_SET_PDEATHSIG); on a busy machine that may take a moment more.
    for (let i = 0; i < 100 && (await isProcessAlive(pid!)); i++) await new Promise((r) => setTimeout(r, 50));
    expect(await isProcessAlive(pid!)).toBe(false);
    const file = join(dir, 'after.json');
    const next = await start('after', reportJob(file));
    expect((await next.result).exitCode).toBe(0);
    const facts = JSON.parse(await readFile(file, 'utf8'));
    expect(facts.ppid).not.toBe(worker);
    expect(facts.ppid).not.toBe(process.pid);
  });

  it('prestart starts the worker before the first job, which is forked from it with its own environment', async () => {
    const runnerId = `prestart-${process.pid}-${Date.now()}`;
    const early = new LocalCompute({
      runtimeDir: findRuntimeDir(),
      env: process.env,
      logger: pino({ enabled: false }),
      killGraceMs: 500,
      warmWorker: true,
    });
    try {
      early.prestart(TEST_PYTHON, runnerId);
      // The worker runs before any job was asked for: found by its runner id among this machine's processes.
      let worker: number | undefined;
      for (let i = 0; i < 200 && worker === undefined; i++) {
        worker = await zygoteOf(runnerId);
        if (worker === undefined) await new Promise((r) => setTimeout(r, 50));
      }
      expect(worker).toBeDefined();
      const file = join(dir, 'first.json');
      const code = [
        'import json, os',
        'class Op():',
        '    def execute(self):',
        `        with open(${JSON.stringify(file)}, "w") as f:`,
        '            json.dump({"ppid": os.getppid(), "job": os.environ.get("DEEPFORGE_JOB_ID")}, f)',
      ].join('\n');
      const running = await startOn(early, 'first', code);
      expect((await running.result).exitCode).toBe(0);
      expect(JSON.parse(await readFile(file, 'utf8'))).toEqual({ ppid: worker, job: 'first' });
    } finally {
      await early.close();
    }
  });

  it('gives up a worker stuck before forking: the job starts as a new interpreter, the next on a new worker', async () => {
    // A library the worker preloads (sklearn is on its list) whose import hangs in the worker only.
    const libs = join(dir, 'libs');
    await mkdir(join(libs, 'sklearn'), { recursive: true });
    await writeFile(
      join(libs, 'sklearn', '__init__.py'),
      'import os, time\nif "DEEPFORGE_JOB_ID" not in os.environ:\n    time.sleep(1000)\n',
    );
    const slow = new LocalCompute({
      runtimeDir: findRuntimeDir(),
      env: { ...process.env, PYTHONPATH: libs },
      logger: pino({ enabled: false }),
      killGraceMs: 500,
      warmWorker: true,
      warmForkTimeoutMs: 1500,
    });
    try {
      const facts = async (job: string, code: string) => {
        const file = join(dir, `${job}.json`);
        const running = await startOn(slow, job, code.replace('FILE', JSON.stringify(file)));
        expect((await running.result).exitCode).toBe(0);
        return JSON.parse(await readFile(file, 'utf8')) as { ppid: number };
      };
      const report = [
        'import json, os',
        'class Op():',
        '    def execute(self):',
        '        with open(FILE, "w") as f: json.dump({"ppid": os.getppid()}, f)',
      ].join('\n');
      // Forked; then the worker hangs importing "sklearn".
      const first = await facts('uses-sklearn', 'import sklearn\n' + report);
      expect(first.ppid).not.toBe(process.pid);
      // The worker does not answer: after 1.5 s the job starts as a new interpreter (our child).
      const second = await facts('after-hang', report);
      expect(second.ppid).toBe(process.pid);
      // The stuck worker is gone (it had no job left); the next job gets a new one.
      expect(await waitForExit([first.ppid], 5000)).toEqual([]);
      const third = await facts('new-worker', report);
      expect(third.ppid).not.toBe(process.pid);
      expect(third.ppid).not.toBe(first.ppid);
    } finally {
      await slow.close();
    }
  });

  it('starts a new interpreter per job when the worker cannot start', async () => {
    const python = join(dir, 'python-without-worker');
    await writeFile(
      python,
      `#!/bin/sh\nif [ "$2" = deepforge.zygote ]; then echo "no worker here" >&2; exit 1; fi\nexec ${TEST_PYTHON} "$@"\n`,
      { mode: 0o755 },
    );
    for (const job of ['first', 'second']) {
      const file = join(dir, `${job}.json`);
      const running = await start(job, reportJob(file), python);
      expect((await running.result).exitCode).toBe(0);
      const facts = JSON.parse(await readFile(file, 'utf8'));
      expect(facts.preloaded).toBe(false);
      expect(facts.ppid).toBe(process.pid);
    }
  });
});
