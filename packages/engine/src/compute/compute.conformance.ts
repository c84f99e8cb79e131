import { readFile, readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { makeTempDir, removeTree } from '../test-support/temp-dir.js';
import { opJob, waitForPids } from './compute-job.fixture.js';
import type { Compute, ComputeLogLine } from './job.compute.js';
import { isProcessAlive } from './process-tree.js';

/**
 * The behaviour every Compute adapter must have, with the real harness and Debian's Python: a job's console
 * lines, events and outputs, how it ends (exit codes, an exception, a signal, a timeout, a cancel that takes its
 * whole process tree), a bounded log, secrets given as environment variables only, and a job that cannot start.
 * The adapter's jobs must run where this process can see their pids and files (a remote adapter's test runs its
 * worker on loopback). Call it in a test file with a factory of the adapter; it is closed after the suite.
 */
export interface ComputeConformanceOptions {
  /**
   * Jobs run on a worker, in work dirs of its own and with its own interpreter (remote workers): the spec's
   * `workDir` and the request's `python` are the server's, not the worker's. A worker without a usable
   * interpreter takes no job at all (tested with the worker).
   */
  workerOwnsWorkDirAndPython?: boolean;
}

export function describeComputeConformance(
  name: string,
  create: () => Compute,
  options: ComputeConformanceOptions = {},
): void {
  describe(`Compute conformance: ${name}`, () => {
    let compute: Compute;
    let dir: string;
    beforeAll(() => {
      compute = create();
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
      opts: {
        outputs?: string[];
        timeoutMs?: number;
        logMaxBytes?: number;
        secretEnv?: Record<string, string>;
        usage?: boolean;
      } = {},
    ) {
      const jobDir = join(dir, 'job');
      const logs: ComputeLogLine[] = [];
      const events: string[] = [];
      const running = await compute.start(
        await opJob({
          ...opts,
          codeDir: join(dir, 'code'),
          jobDir,
          outputDir: join(dir, 'out'),
          jobId: 'job-1',
          code,
        }),
        { onEvent: (e) => events.push(e.type), onLog: (l) => logs.push(l) },
      );
      return {
        running,
        logs,
        events,
        jobDir,
        logFile: join(jobDir, 'console.log'),
        outDir: join(dir, 'out'),
      };
    }

    it('measures what a job used: its CPU time and peak memory, no GPU memory without a GPU', async () => {
      const { running } = await run(
        [
          'import time',
          'class Op():',
          '    def execute(self):',
          '        block = bytearray(200 * 1024 * 1024)',
          '        for i in range(0, len(block), 4096):',
          '            block[i] = 1',
          '        end = time.process_time() + 0.5',
          '        while time.process_time() < end:',
          '            pass',
        ].join('\n'),
        { usage: true },
      );
      const result = await running.result;
      expect(result.exitCode).toBe(0);
      expect(result.usage).toBeDefined();
      expect(result.usage!.cpuSeconds).toBeGreaterThanOrEqual(0.5);
      expect(result.usage!.peakRssBytes).toBeGreaterThanOrEqual(200 * 1024 * 1024);
      // Well under what 200 MB + an interpreter + torch could add up to: the job's own peak, not a sum of jobs.
      expect(result.usage!.peakRssBytes).toBeLessThan(2 * 1024 ** 3);
      expect(result.usage!.peakGpuBytes).toBeUndefined();
    });

    it('runs an operation: its events, console lines as they come and in the log file, its outputs', async () => {
      const { running, logs, events, logFile, outDir } = await run(
        [
          'import os, sys',
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
          '        print("cwd", os.getcwd())',
          '        sys.stdout.write("no newline at the end")',
          '        result = 42',
          '        return result',
        ].join('\n'),
        { outputs: ['result'] },
      );
      expect(running.pid).toBeGreaterThan(0);
      // 0: not a process group of this machine (a Slurm job, a remote worker's process); nothing here signals it.
      expect(running.pgid).toBeGreaterThanOrEqual(0);
      const result = await running.result;
      expect(result).toMatchObject({ outcome: 'exited', exitCode: 0, signal: null, badEvents: 0 });
      expect(result.error).toBeUndefined();
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
      expect(logs.find((l) => l.text === 'on stderr')?.stream).toBe('stderr');
      expect(text).toContain('100%');
      expect(text).toContain('no newline at the end');
      // The job runs in the work dir of its spec (or of the worker, for a worker with its own).
      if (!options.workerOwnsWorkDirAndPython) expect(text).toContain(`cwd ${join(dir, 'job', 'work')}`);
      else expect(text.some((t) => t.startsWith('cwd /'))).toBe(true);
      expect(text.filter((t) => /^x+$/.test(t)).map((t) => t.length)).toEqual([16384, 16384, 40000 - 32768]);
      const file = await readFile(logFile, 'utf8');
      expect(file).toContain('hello\n');
      expect(file).not.toContain('0%\n50%');
    });

    it('reports the error event and the traceback when the operation raises', async () => {
      const { running, logFile } = await run(
        ['class Op():', '    def execute(self):', '        return 1 / 0'].join('\n'),
        { outputs: ['output'] },
      );
      const result = await running.result;
      expect(result.outcome).toBe('exited');
      expect(result.exitCode).toBe(1);
      expect(result.error).toMatchObject({
        kind: 'exception',
        message: 'ZeroDivisionError: division by zero',
      });
      expect(result.outputs).toEqual([]);
      expect(await readFile(logFile, 'utf8')).toMatch(/Traceback[\s\S]*ZeroDivisionError/);
    });

    it('reports the exit code of a process that ends without a word, and the signal that killed one', async () => {
      const exits = await run(
        [
          'import os, sys',
          'class Op():',
          '    def execute(self):',
          '        print("going away", file=sys.stderr)',
          '        sys.stderr.flush()',
          '        os._exit(7)',
        ].join('\n'),
      );
      const exited = await exits.running.result;
      expect(exited).toMatchObject({ outcome: 'exited', exitCode: 7, signal: null });
      expect(exited.error).toBeUndefined();
      expect(exited.stderrTail.at(-1)).toBe('going away');

      await removeTree(join(dir, 'job'));
      const killed = await run(
        [
          'import os, signal',
          'class Op():',
          '    def execute(self):',
          '        os.kill(os.getpid(), signal.SIGKILL)',
        ].join('\n'),
      );
      const result = await killed.running.result;
      expect(result).toMatchObject({ outcome: 'exited', exitCode: null, signal: 'SIGKILL' });
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
      const pids = await waitForPids(pidFile);
      expect(pids.every((p) => p > 0)).toBe(true);
      running.cancel();
      const result = await running.result;
      expect(result.outcome).toBe('canceled');
      // Killed with the group: gone at once, or within the moment a loaded machine takes to deliver SIGKILL.
      for (const pid of pids) await expect.poll(() => isProcessAlive(pid), { timeout: 5000 }).toBe(false);
    });

    it('stops an operation that runs past its timeout, with what it started', async () => {
      const pidFile = join(dir, 'pids');
      const { running, logFile } = await run(
        [
          'import os, subprocess, time',
          'class Op():',
          '    def execute(self):',
          '        child = subprocess.Popen(["sleep", "1000"])',
          `        with open(${JSON.stringify(pidFile)}, "w") as f: f.write("%d %d" % (os.getpid(), child.pid))`,
          '        time.sleep(1000)',
        ].join('\n'),
        { timeoutMs: 1000 },
      );
      const result = await running.result;
      expect(result.outcome).toBe('timeout');
      expect(await readFile(logFile, 'utf8')).toMatch(/longer than 1 s \(executions.timeout\)/);
      for (const pid of await waitForPids(pidFile)) expect(await isProcessAlive(pid)).toBe(false);
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

    it('gives secrets as environment variables only, masked in the console and in the error', async () => {
      const secret = 'sk-live-0123456789abcdef';
      const { running, logs, jobDir, logFile } = await run(
        [
          'import os',
          'class Op():',
          '    def execute(self):',
          '        key = os.environ["API_KEY"]',
          '        print("the key is", key)',
          '        raise ValueError("rejected " + key)',
        ].join('\n'),
        { secretEnv: { API_KEY: secret } },
      );
      const result = await running.result;
      expect(result.exitCode).toBe(1);
      expect(result.error?.message).toBe('ValueError: rejected ***');
      expect(logs.map((l) => l.text)).toContain('the key is ***');
      expect(await readFile(logFile, 'utf8')).toContain('the key is ***');
      // Nothing the adapter wrote for the job (its spec, its log) holds the value.
      for (const entry of await readdir(jobDir, { recursive: true, withFileTypes: true })) {
        if (!entry.isFile()) continue;
        const bytes = await readFile(join(entry.parentPath, entry.name), 'utf8');
        expect(bytes, entry.name).not.toContain(secret);
      }
    });

    it.skipIf(options.workerOwnsWorkDirAndPython)(
      'refuses to start a job whose interpreter does not exist, saying which',
      async () => {
        const request = await opJob({
          codeDir: join(dir, 'code'),
          jobDir: join(dir, 'j'),
          outputDir: join(dir, 'o'),
          jobId: 'j',
          code: 'class Op():\n    def execute(self):\n        pass\n',
          python: '/nonexistent/python3',
        });
        await expect(
          compute.start(request, { onEvent: () => undefined, onLog: () => undefined }),
        ).rejects.toThrow(/cannot start \/nonexistent\/python3/);
      },
    );
  });
}
