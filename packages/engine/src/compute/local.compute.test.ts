import { mkdir, readFile, readdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import pino from 'pino';
import { afterAll, afterEach, beforeEach, describe, expect, it } from 'vitest';
import { TEST_PYTHON, makeTempDir, removeTree } from '../test-support/temp-dir.js';
import type { ComputeJobRequest, ComputeLogLine } from './job.compute.js';
import { LocalCompute } from './local.compute.js';
import { isProcessAlive, waitForExit } from './process-tree.js';
import { findRuntimeDir } from './python-interpreter.js';

describe.each([
  ['a new interpreter per job', false],
  ['jobs forked from the warm worker', true],
])('LocalCompute (real harness), %s', (_mode, warmWorker) => {
  let dir: string;
  const compute = new LocalCompute({
    runtimeDir: findRuntimeDir(),
    env: process.env,
    logger: pino({ enabled: false }),
    killGraceMs: 500,
    warmWorker,
  });
  afterAll(() => compute.close());

  beforeEach(async () => {
    dir = await makeTempDir('compute');
  });
  afterEach(async () => {
    await removeTree(dir);
  });

  async function run(
    code: string,
    opts: { outputs?: string[]; timeoutMs?: number; logMaxBytes?: number; jobId?: string } = {},
  ) {
    const jobDir = join(dir, opts.jobId ?? 'job');
    const logs: ComputeLogLine[] = [];
    const events: string[] = [];
    const running = await compute.start(
      await opJob({
        ...opts,
        codeDir: join(dir, 'code'),
        jobDir,
        outputDir: join(dir, 'out'),
        jobId: opts.jobId ?? 'job-1',
        code,
      }),
      { onEvent: (e) => events.push(e.type), onLog: (l) => logs.push(l) },
    );
    return {
      running,
      logs,
      events,
      logFile: join(jobDir, 'console.log'),
      outDir: join(dir, 'out'),
      workDir: join(jobDir, 'work'),
    };
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
  });

  it('runs an operation: events on fd 3, console lines, outputs in the output dir', async () => {
    const { running, logs, events, logFile, outDir } = await run(
      [
        'import sys',
        'class Op():',
        '    def execute(self):',
        '        print("hello")',
        '        sys.stdout.buffer.write(b"bad \\xff bytes\\n")',
        '        sys.stdout.flush()',
        '        print("on stderr", file=sys.stderr)',
        '        for i in range(3):',
        '            sys.stdout.write("\\r%d%%" % (i * 50)); sys.stdout.flush()',
        '        print()',
        '        print("x" * 40000)',
        '        sys.stdout.write("no newline at the end")',
        '        result = 42',
        '        return result',
      ].join('\n'),
      { outputs: ['result'] },
    );
    const result = await running.result;
    expect(result.outcome).toBe('exited');
    expect(result.exitCode).toBe(0);
    expect(result.hello?.runtime).toBeTruthy();
    expect(result.outputs.map((o) => [o.name, o.pyType, o.serializer])).toEqual([
      ['result', 'builtins.int', 'pickle'],
    ]);
    expect(await readdir(outDir)).toEqual(['result']);
    expect(events).toContain('phase');
    const text = logs.filter((l) => !l.transient).map((l) => l.text);
    expect(text).toContain('hello');
    expect(text).toContain('bad \ufffd bytes');
    expect(text).toContain('on stderr');
    expect(text).toContain('100%');
    expect(text).toContain('no newline at the end');
    expect(text.filter((t) => /^x+$/.test(t)).map((t) => t.length)).toEqual([16384, 16384, 40000 - 32768]);
    const file = await readFile(logFile, 'utf8');
    expect(file).toContain('hello\n');
    expect(file).not.toContain('0%\n50%');
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

  it('reports the error event and the traceback when the operation raises', async () => {
    const { running, logFile } = await run(
      ['class Op():', '    def execute(self):', '        return 1 / 0'].join('\n'),
      { outputs: ['output'] },
    );
    const result = await running.result;
    expect(result.exitCode).toBe(1);
    expect(result.error).toMatchObject({ kind: 'exception', message: 'ZeroDivisionError: division by zero' });
    expect(await readFile(logFile, 'utf8')).toMatch(/Traceback[\s\S]*ZeroDivisionError/);
  });

  it('cancels the whole process tree, grandchildren included', async () => {
    const pidFile = join(dir, 'pids');
    const { running } = await run(
      [
        'import os, subprocess, time',
        'class Op():',
        '    def execute(self):',
        '        child = subprocess.Popen(["sleep", "1000"])',
        `        with open(${JSON.stringify(pidFile)}, "w") as f: f.write("%d %d" % (os.getpid(), child.pid))`,
        '        time.sleep(1000)',
      ].join('\n'),
    );
    const pids = await waitForFile(pidFile);
    expect(pids.every((p) => p > 0)).toBe(true);
    running.cancel();
    const result = await running.result;
    expect(result.outcome).toBe('canceled');
    for (const pid of pids) expect(await isProcessAlive(pid)).toBe(false);
  });

  it('stops an operation that runs past its timeout', async () => {
    const { running, logFile } = await run(
      ['import time', 'class Op():', '    def execute(self):', '        time.sleep(1000)'].join('\n'),
      { timeoutMs: 1000 },
    );
    const result = await running.result;
    expect(result.outcome).toBe('timeout');
    expect(await readFile(logFile, 'utf8')).toMatch(/longer than 1 s \(executions.timeout\)/);
  });

  it('keeps the log bounded for an operation that prints gigabytes, and keeps draining', async () => {
    const { running, logFile } = await run(
      [
        'import sys',
        'class Op():',
        '    def execute(self):',
        '        line = "y" * 1000 + "\\n"',
        '        for i in range(200000):',
        '            sys.stdout.write(line)',
        '        print("done")',
      ].join('\n'),
      { logMaxBytes: 100_000 },
    );
    const result = await running.result;
    expect(result.exitCode).toBe(0);
    expect(result.logTruncated).toBe(true);
    const file = await readFile(logFile, 'utf8');
    expect(file.length).toBeLessThan(100_300);
    expect(file).toMatch(/output truncated: this job printed more than 100000 bytes/);
  });

  it('refuses to start an interpreter that does not exist', async () => {
    await expect(
      compute.start(
        {
          jobId: 'j',
          runnerId: 'r',
          spec: {
            v: 1,
            codeDir: dir,
            operation: { file: 'operations/Op.py', className: 'Op' },
            attributes: {},
            references: {},
            inputs: {},
            outputs: [],
            outputDir: join(dir, 'o'),
            workDir: join(dir, 'w'),
            debug: false,
          },
          jobDir: join(dir, 'j'),
          logFile: join(dir, 'j', 'console.log'),
          logMaxBytes: 1000,
          timeoutMs: 0,
          python: '/nonexistent/python3',
        },
        { onEvent: () => undefined, onLog: () => undefined },
      ),
    ).rejects.toThrow(/cannot start \/nonexistent\/python3/);
  });
});

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
      'import json, os',
      'import numpy as np',
      'class Op():',
      '    def execute(self):',
      `        with open(${JSON.stringify(file)}, "w") as f:`,
      '            json.dump({"preloaded": PRELOADED, "ppid": os.getppid(), "draw": np.random.rand()}, f)',
    ].join('\n');

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
    const [pid, worker] = await waitForFile(pidFile);
    expect(pid).toBe(running.pid);
    process.kill(worker!, 'SIGKILL');
    const result = await running.result;
    expect(result.exitCode).toBeNull();
    expect(result.signal).toBe('SIGKILL');
    expect(await isProcessAlive(pid!)).toBe(false);
    const file = join(dir, 'after.json');
    const next = await start('after', reportJob(file));
    expect((await next.result).exitCode).toBe(0);
    const facts = JSON.parse(await readFile(file, 'utf8'));
    expect(facts.ppid).not.toBe(worker);
    expect(facts.ppid).not.toBe(process.pid);
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
      slow.close();
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

/** Writes `code` as operations/Op.py (class Op) under `codeDir`; the request that runs it as job `jobId`. */
async function opJob(p: {
  codeDir: string;
  jobDir: string;
  outputDir: string;
  jobId: string;
  code: string;
  outputs?: string[];
  timeoutMs?: number;
  logMaxBytes?: number;
  python?: string;
}): Promise<ComputeJobRequest> {
  await mkdir(join(p.codeDir, 'operations'), { recursive: true });
  await writeFile(join(p.codeDir, 'operations', 'Op.py'), p.code);
  return {
    jobId: p.jobId,
    runnerId: 'runner-1',
    spec: {
      v: 1,
      codeDir: p.codeDir,
      operation: { file: 'operations/Op.py', className: 'Op' },
      attributes: {},
      references: {},
      inputs: {},
      outputs: p.outputs ?? [],
      outputDir: p.outputDir,
      workDir: join(p.jobDir, 'work'),
      debug: false,
    },
    jobDir: p.jobDir,
    logFile: join(p.jobDir, 'console.log'),
    logMaxBytes: p.logMaxBytes ?? 1024 * 1024,
    timeoutMs: p.timeoutMs ?? 0,
    python: p.python ?? TEST_PYTHON,
  };
}

async function waitForFile(file: string): Promise<number[]> {
  for (let i = 0; i < 200; i++) {
    const text = await readFile(file, 'utf8').catch(() => '');
    if (text.trim().split(' ').length === 2) return text.trim().split(' ').map(Number);
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`${file} never appeared`);
}
