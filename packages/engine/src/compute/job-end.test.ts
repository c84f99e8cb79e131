// A job ends when its harness says it has nothing left to do (the `usage` event with `exitCode`, its streams
// closed after it), not when the kernel has taken its process down; a job holding GPUs, or being stopped, ends with
// its process (python/deepforge/harness.py, _report_usage).
import { PassThrough } from 'node:stream';
import { describe, expect, it } from 'vitest';
import type { ComputeJobRequest } from './job.compute.js';
import { ConsoleLog } from './console-log.js';
import { watchJob } from './local.compute.js';
import type { JobProcess } from './warm-worker.js';

const logger = {
  warn: () => undefined,
  debug: () => undefined,
  info: () => undefined,
  error: () => undefined,
};

function request(extra: Partial<ComputeJobRequest> = {}): ComputeJobRequest {
  return {
    jobId: 'job-1',
    runnerId: 'runner-1',
    spec: {
      v: 1,
      codeDir: '/nowhere',
      operation: { file: 'operations/Op.py', className: 'Op' },
      attributes: {},
      references: {},
      inputs: {},
      outputs: [],
      outputDir: '/nowhere/out',
      workDir: '/nowhere/work',
      debug: false,
      usage: true,
      announceExit: true,
    },
    jobDir: '/nowhere',
    logFile: null,
    logMaxBytes: 1024,
    timeoutMs: 0,
    python: '/usr/bin/python3',
    ...extra,
  };
}

/** A job process made of three streams and an exit the test settles itself. */
function fakeProcess(): {
  proc: JobProcess;
  exit: (code: number) => void;
  say: (event: Record<string, unknown>) => void;
  closeStreams: () => void;
  kills: string[];
} {
  const stdout = new PassThrough();
  const stderr = new PassThrough();
  const events = new PassThrough();
  let settle: (v: { code: number | null; signal: NodeJS.Signals | null }) => void = () => undefined;
  const kills: string[] = [];
  const proc: JobProcess = {
    pid: 4_000_000,
    stdout,
    stderr,
    events,
    exit: new Promise((resolve) => (settle = resolve)),
    kill: (signal) => kills.push(signal),
  };
  return {
    proc,
    exit: (code) => settle({ code, signal: null }),
    say: (event) => events.write(JSON.stringify({ v: 1, t: Date.now(), ...event }) + '\n'),
    closeStreams: () => {
      for (const s of [stdout, stderr, events]) s.end();
    },
    kills,
  };
}

/** Whether the promise settles within `ms`. */
async function settlesWithin(p: Promise<unknown>, ms: number): Promise<boolean> {
  let done = false;
  void p.then(() => (done = true));
  await new Promise((r) => setTimeout(r, ms));
  return done;
}

async function watched(req: ComputeJobRequest) {
  const f = fakeProcess();
  const running = watchJob(
    f.proc,
    req,
    { onEvent: () => undefined, onLog: () => undefined },
    await ConsoleLog.open(null, 1024),
    logger as never,
    2000,
  );
  return { ...f, running };
}

describe('the end of a job', () => {
  it('comes with its last event and closed streams, before its process has exited', async () => {
    const job = await watched(request());
    job.say({ type: 'usage', cpuSeconds: 0.01, peakRssBytes: 1024, exitCode: 0 });
    // Not before its streams are read to their end: what it printed last is in the log first.
    expect(await settlesWithin(job.running.result, 50)).toBe(false);
    job.closeStreams();
    const result = await job.running.result;
    expect(result.exitCode).toBe(0);
    expect(result.signal).toBeNull();
    expect(result.usage).toEqual({ cpuSeconds: 0.01, peakRssBytes: 1024 });
    // Nothing is left to stop.
    job.running.cancel();
    expect(job.kills).toEqual([]);
    job.exit(0);
  });

  it('tells the exit code the harness announced, a failure too', async () => {
    const job = await watched(request());
    job.say({ type: 'usage', cpuSeconds: 0.01, peakRssBytes: 1024, exitCode: 1 });
    job.closeStreams();
    expect((await job.running.result).exitCode).toBe(1);
    job.exit(1);
  });

  it('waits for the exit without an announced code (a large process, CUDA memory, an older harness)', async () => {
    const job = await watched(request());
    job.say({ type: 'usage', cpuSeconds: 0.01, peakRssBytes: 1024 });
    job.closeStreams();
    expect(await settlesWithin(job.running.result, 50)).toBe(false);
    job.exit(0);
    expect((await job.running.result).exitCode).toBe(0);
  });

  it('waits for the exit of a job holding GPUs: they are free once its process is gone', async () => {
    for (const req of [request({ gpus: 1 }), request({ gpuDevices: [0] })]) {
      const job = await watched(req);
      job.say({ type: 'usage', cpuSeconds: 0.01, peakRssBytes: 1024, exitCode: 0 });
      job.closeStreams();
      expect(await settlesWithin(job.running.result, 50)).toBe(false);
      job.exit(0);
      expect((await job.running.result).exitCode).toBe(0);
    }
  });

  it('waits for the exit of a job being stopped: its outcome is the stop', async () => {
    const job = await watched(request());
    job.running.cancel();
    expect(job.kills).toEqual(['SIGTERM']);
    job.say({ type: 'usage', cpuSeconds: 0.01, peakRssBytes: 1024, exitCode: 0 });
    job.closeStreams();
    expect(await settlesWithin(job.running.result, 50)).toBe(false);
    job.exit(0);
    expect((await job.running.result).outcome).toBe('canceled');
  });
});
