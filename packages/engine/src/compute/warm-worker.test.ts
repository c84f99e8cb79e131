// A warm worker whose interpreter dies under it is worth a warning in the engine's log (jobs then start as new
// interpreters); one stopped on purpose (the engine closing, a retired worker) is not.
import { randomUUID } from 'node:crypto';
import { mkdtemp, readFile, readdir, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { TEST_PYTHON } from '../test-support/temp-dir.js';
import { opJob } from './compute-job.fixture.js';
import { findRuntimeDir } from './python-interpreter.js';
import { WarmWorker, type JobProcess } from './warm-worker.js';

/** The pid of the zygote started with `DF_WARM_TEST=<mark>` in its environment, if it runs. */
async function zygoteMarked(mark: string): Promise<number | undefined> {
  for (const name of await readdir('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const args = (await readFile(`/proc/${name}/cmdline`, 'utf8')).split('\0');
      if (!args.includes('deepforge.zygote')) continue;
      const env = (await readFile(`/proc/${name}/environ`, 'utf8')).split('\0');
      if (env.includes(`DF_WARM_TEST=${mark}`)) return Number(name);
    } catch {
      // Gone meanwhile, or not ours to read.
    }
  }
  return undefined;
}

async function until(done: () => Promise<boolean>, ms = 15_000): Promise<void> {
  for (const end = Date.now() + ms; !(await done());) {
    if (Date.now() > end) throw new Error('timed out');
    await new Promise((r) => setTimeout(r, 25));
  }
}

function started(): { worker: WarmWorker; warnings: string[]; mark: string } {
  const warnings: string[] = [];
  const mark = randomUUID();
  const worker = new WarmWorker({
    python: TEST_PYTHON,
    env: { PATH: process.env.PATH ?? '/usr/bin:/bin', DF_WARM_TEST: mark },
    cwd: findRuntimeDir(),
    logger: { warn: (_details, message) => warnings.push(message), debug: () => undefined },
  });
  return { worker, warnings, mark };
}

describe('WarmWorker', () => {
  it('says nothing when it is closed, and warns when its interpreter is killed', async () => {
    const closed = started();
    expect(await closed.worker.ready).toBe(true);
    const closedPid = await zygoteMarked(closed.mark);
    expect(closedPid).toBeDefined();
    const folderOf = (w: WarmWorker): string => (w as unknown as { socketDir: string }).socketDir;
    expect(await readdir(folderOf(closed.worker))).toEqual(['jobs.sock']);
    closed.worker.close();
    // Its socket's folder goes with it.
    await expect(stat(folderOf(closed.worker))).rejects.toThrow(/ENOENT/);
    await until(async () => (await zygoteMarked(closed.mark)) === undefined);
    // The exit is handled on the next turns of the event loop.
    await new Promise((r) => setTimeout(r, 100));
    expect(closed.warnings).toEqual([]);

    const killed = started();
    expect(await killed.worker.ready).toBe(true);
    const pid = await zygoteMarked(killed.mark);
    expect(pid).toBeDefined();
    process.kill(pid!, 'SIGKILL');
    await until(async () => killed.warnings.length > 0);
    expect(killed.warnings).toEqual([
      'warm worker exited; jobs start as new interpreters until another one is up',
    ]);
    expect(killed.worker.usable).toBe(false);
    await expect(stat(folderOf(killed.worker))).rejects.toThrow(/ENOENT/);
    killed.worker.close();
  });
});

/** Everything a stream says, to its end. */
async function readAll(stream: Readable): Promise<string> {
  let text = '';
  for await (const chunk of stream) text += String(chunk);
  return text;
}

/** A job's events and exit. */
async function finished(proc: JobProcess): Promise<{ events: { type: string }[]; code: number | null }> {
  const [events, , , exit] = await Promise.all([
    readAll(proc.events),
    readAll(proc.stdout),
    readAll(proc.stderr),
    proc.exit,
  ]);
  return {
    events: events
      .split('\n')
      .filter((l) => l.trim())
      .map((l) => JSON.parse(l) as { type: string }),
    code: exit.code,
  };
}

/**
 * What the engine asks a warm worker for job `n` under `root`: no spec file and no working directory (the spec
 * comes with the job, the child makes its folder and writes the file).
 */
async function forkRequest(root: string, n: number, code: string) {
  const req = await opJob({
    codeDir: join(root, 'code'),
    jobDir: join(root, `job${n}`),
    outputDir: join(root, `out${n}`),
    jobId: `job-${n}`,
    code,
  });
  return {
    spec: join(root, `job${n}`, 'job.json'),
    specText: JSON.stringify({ ...req.spec, eventsFd: 3 }),
    cwd: req.spec.workDir,
    env: { PATH: process.env.PATH ?? '/usr/bin:/bin' },
  };
}

describe('WarmWorker jobs', () => {
  it('gives a spare its job without the worker: the job runs while the worker is stopped', async () => {
    const root = await mkdtemp(join(tmpdir(), 'df-warm-direct-'));
    const { worker, mark } = started();
    let stopped: number | undefined;
    try {
      expect(await worker.ready).toBe(true);
      const job = (n: number) =>
        forkRequest(root, n, 'class Op():\n    def execute(self):\n        print("ran")\n');
      // Two jobs: the second makes the worker fork a spare.
      for (const n of [1, 2]) expect((await finished(await worker.fork(await job(n)))).code).toBe(0);
      const spare = () => (worker as unknown as { spare?: { pid?: number; streams: { v?: unknown } } }).spare;
      await until(async () => spare()?.pid !== undefined && spare()?.streams.v !== undefined);
      stopped = await zygoteMarked(mark);
      expect(stopped).toBeDefined();
      process.kill(stopped!, 'SIGSTOP');
      const third = await worker.fork(await job(3));
      // Its process ran the job and ended (its streams closed) with the worker stopped all along.
      const [events, stdout] = await Promise.all([readAll(third.events), readAll(third.stdout)]);
      expect(stdout).toBe('ran\n');
      expect(events).toMatch(/"type":"hello"/);
      process.kill(stopped!, 'SIGCONT');
      stopped = undefined;
      expect((await third.exit).code).toBe(0);
    } finally {
      if (stopped !== undefined) process.kill(stopped, 'SIGCONT');
      worker.close();
      await rm(root, { recursive: true, force: true });
    }
  });

  it('gives a job the spare forked for it even while that spare is still starting, and the job its spec with it', async () => {
    const root = await mkdtemp(join(tmpdir(), 'df-warm-jobs-'));
    const { worker } = started();
    try {
      expect(await worker.ready).toBe(true);
      // What the engine asks the worker, in order.
      const asked: Record<string, unknown>[] = [];
      const stdin = (worker as unknown as { child: { stdin: { write: (s: string) => boolean } } }).child
        .stdin;
      const write = stdin.write.bind(stdin);
      stdin.write = (line: string) => {
        asked.push(JSON.parse(line) as Record<string, unknown>);
        return write(line);
      };
      const job = (n: number) =>
        forkRequest(root, n, 'class Op():\n    def execute(self):\n        return 1\n');
      const specs = [await job(1), await job(2), await job(3)];
      // The first job of a worker is forked (one job alone makes no spare), the second too; the third is asked
      // for at once, while the spare requested after the second is being forked.
      const forks = specs.map((spec) => worker.fork(spec));
      const done = await Promise.all(forks.map(async (f) => finished(await f)));
      for (const { events, code } of done) {
        expect(code).toBe(0);
        expect(events.map((e) => e.type)).toContain('hello');
        expect(events.map((e) => e.type)).not.toContain('error');
      }
      // The third job went to the spare straight from the engine; the worker only heard which spec it runs.
      expect(asked.map((a) => a.type ?? 'fork')).toEqual(['fork', 'fork', 'spare', 'assigned', 'spare']);
      expect(asked[3]!.specText).toBeTypeOf('string');
      expect(asked[3]).not.toHaveProperty('env');
      for (const n of [1, 2, 3]) {
        expect((await stat(join(root, `job${n}`, 'work'))).isDirectory()).toBe(true);
        expect(await readFile(join(root, `job${n}`, 'job.json'), 'utf8')).toBe(specs[n - 1]!.specText);
      }
    } finally {
      worker.close();
      await rm(root, { recursive: true, force: true });
    }
  });
});
