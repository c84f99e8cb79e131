import { spawn } from 'node:child_process';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Logger } from 'pino';
import type {
  ErrorEvent,
  HelloEvent,
  JobSpec,
  JobUsage,
  UsageEvent,
  OutputEvent,
  RuntimeEvent,
} from '@deepforge/protocol';
import { RUNTIME_PROTOCOL_VERSION, RuntimeEventSchema } from '@deepforge/protocol/engine';
import { assertNever } from '@deepforge/core';
import { EngineError } from '../errors.js';
import type { Env } from '../settings.js';
import { ConsoleLog } from './console-log.js';
import { makeJobDirs } from './job-dirs.js';
import type {
  Compute,
  ComputeHandlers,
  ComputeJobRequest,
  ComputeOutcome,
  ComputeResult,
  LogStream,
  RunningJob,
} from './job.compute.js';
import { LineSplitter } from './line-splitter.js';
import { harnessEnvironment } from './harness-environment.js';
import { JOB_ID_ENV, signalGroup } from './process-tree.js';
import { childJobProcess, WarmWorker, type JobProcess, type PrestartedWarmWorker } from './warm-worker.js';

/** The file descriptor the harness writes its events to (see docs/adr/0001-runtime-event-channel.md). */
export const EVENTS_FD = 3;

/** An event line longer than this is dropped with a warning rather than buffered without end. */
const MAX_EVENT_LINE_BYTES = 64 * 1024 * 1024;
const STDERR_TAIL_LINES = 30;

export interface LocalComputeOptions {
  /** The directory holding the `deepforge` Python package (put on PYTHONPATH). */
  runtimeDir: string;
  /** The environment jobs start from, as it is when the compute is made (read once). */
  env: Env;
  logger: Logger;
  /** Time between SIGTERM and SIGKILL when a job is stopped. */
  killGraceMs?: number;
  /** Fork jobs from a warm worker (python/deepforge/zygote.py) instead of starting an interpreter for each. */
  warmWorker?: boolean;
  /** See WarmWorkerOptions.forkTimeoutMs (tests make it short). */
  warmForkTimeoutMs?: number;
  /**
   * The indices of this machine's GPUs (`nvidia-smi`), asked once, when the first job needing GPUs starts; absent:
   * none. Jobs needing GPUs (`gpus`) get their own, and wait while others hold them.
   */
  gpus?: () => Promise<readonly number[]>;
}

/** GPUs a job holds, given back (once) when it ends or could not start. */
interface GpuGrant {
  devices: readonly number[];
  release(): void;
}

/**
 * Makes a folder that exists as a rule (the job runner made it): one call when it does (a recursive mkdir would
 * look at it once more), its parents too when they are missing.
 */
async function makeFolder(dir: string): Promise<void> {
  await mkdir(dir).catch(async (err: NodeJS.ErrnoException) => {
    if (err.code === 'EEXIST') return;
    if (err.code !== 'ENOENT') throw err;
    await mkdir(dir, { recursive: true });
  });
}

/** A warm worker that failed to start this often is not tried again for that interpreter. */
const MAX_WARM_FAILURES = 3;

/**
 * Runs each job as `<python> -m deepforge.harness job.json` in a process group of its own on this machine: forked
 * from a warm worker when `warmWorker` is on (docs/adr/0006), else a new interpreter.
 */
export class LocalCompute implements Compute {
  readonly inlineOutputs = true;
  private readonly killGraceMs: number;
  private readonly warm = new Map<string, WarmWorker>();
  private readonly warmFailures = new Map<string, number>();
  private readonly retired = new Set<WarmWorker>();
  private gpuIndices: Promise<readonly number[]> | undefined;
  private readonly gpusHeld = new Set<number>();
  /** Jobs waiting for GPUs, first come first served: a job needing many is not overtaken for ever by small ones. */
  private readonly gpuWaiters: { n: number; grant: (devices: number[]) => void }[] = [];

  /** The indices of this machine's GPUs that jobs hold now, ascending. */
  gpusInUse(): number[] {
    return [...this.gpusHeld].sort((a, b) => a - b);
  }

  /**
   * options.env as a plain object: process.env answers each read with a call into the C library, which cost every
   * job ~0.1 ms (its whole environment read again) in a 200-job fan-out's profile.
   */
  private readonly env: Record<string, string>;

  constructor(private readonly options: LocalComputeOptions) {
    this.killGraceMs = options.killGraceMs ?? 2000;
    this.env = {};
    for (const [k, v] of Object.entries(options.env)) if (v !== undefined) this.env[k] = v;
  }

  async start(request: ComputeJobRequest, handlers: ComputeHandlers): Promise<RunningJob> {
    const spec: JobSpec = { ...request.spec, eventsFd: EVENTS_FD };
    const specFile = join(request.jobDir, 'job.json');
    const specText = JSON.stringify(spec, null, 2) + '\n';
    // The folders, the spec and the console log at once: the job's folder exists as a rule (the job runner made
    // it); a file whose folder did not is written again once the folders are there. Without a log file nothing
    // here needs it before the job's own folders (a remote worker's job): they are made with their parents.
    const jobDirMade =
      request.jobDirMade || request.logFile === null ? Promise.resolve() : makeFolder(request.jobDir);
    // The work and output folders, made only for a job that does not make them itself: a forked job's child
    // makes its working directory and the harness its output folder (two calls fewer for every such job).
    let dirsMade: Promise<void> | undefined;
    const dirs = (): Promise<void> =>
      (dirsMade ??= makeJobDirs(request.jobDir, [spec.workDir, spec.outputDir]));
    // Read by a new interpreter, kept for whoever replays the job: it needs neither an fsync nor a rename (a crash
    // re-runs the job). A forked job's child writes it itself (it has the spec with its job): written here only
    // for a job started as a new interpreter, or one whose files are made before it starts (waiting for GPUs).
    let written: Promise<void> | undefined;
    const writeSpec = (): Promise<void> =>
      (written ??= writeFile(specFile, specText).catch(async (err: NodeJS.ErrnoException) => {
        if (err.code !== 'ENOENT') throw err;
        await dirs();
        await writeFile(specFile, specText);
      }));
    // The console log is made with the job's first line, in the job's folder (most trivial jobs print nothing:
    // one file fewer to make).
    const logReady = jobDirMade.then(() =>
      request.logFile === null
        ? ConsoleLog.open(null, request.logMaxBytes)
        : ConsoleLog.lazy(request.logFile, request.logMaxBytes),
    );
    logReady.catch(() => undefined);
    /** The folders, the spec file and the log: throws the first failure. */
    const filesMade = async (): Promise<ConsoleLog> => {
      await Promise.all([dirs(), writeSpec()]);
      return logReady;
    };
    let log: ConsoleLog | undefined;
    let gpus: GpuGrant | undefined;
    if (!request.gpuDevices && (request.gpus ?? 0) > 0) {
      // Its wait for GPUs is said in its log.
      const opened = await filesMade();
      log = opened;
      try {
        gpus = await this.takeGpus(request, (text) => {
          opened.writeLine(`[deepforge] ${text}`);
          handlers.onLog({ stream: 'engine', text: `[deepforge] ${text}` });
        });
      } catch (err) {
        if (err instanceof EngineError) opened.writeLine(`[deepforge] ${err.message}`);
        await opened.close();
        throw err;
      }
    }

    const env = harnessEnvironment(
      this.env,
      this.options.runtimeDir,
      gpus ? { ...request, gpuDevices: gpus.devices } : request,
    );

    // A warm worker's child starts without waiting for the files: it gets the spec with its job and makes its own
    // working directory. A new interpreter starts once they are there.
    let started: { proc: JobProcess };
    try {
      started = await this.startProcess(
        request.python,
        { file: specFile, text: specText },
        spec.workDir,
        env,
        Object.keys(request.secretEnv ?? {}),
        filesMade,
      );
    } catch (err) {
      gpus?.release();
      if (err instanceof FilesNotMade) {
        await logReady.then((l: ConsoleLog) => l.close()).catch(() => undefined);
        throw err.cause;
      }
      const message = `cannot start ${request.python}: ${(err as Error).message}`;
      const opened = await logReady.catch(() => undefined);
      opened?.writeLine(`[deepforge] ${message}`);
      await opened?.close();
      throw new EngineError('interpreter', message, { cause: err });
    }
    const { proc } = started;
    let watchedLog: ConsoleLog;
    try {
      watchedLog = log ?? (await logReady);
    } catch (err) {
      // Started, but without its log: it must not run unwatched.
      if (proc.kill) proc.kill('SIGKILL');
      else signalGroup(proc.pid, 'SIGKILL');
      for (const s of [proc.stdout, proc.stderr, proc.events]) s.destroy();
      gpus?.release();
      throw err;
    }
    const running = watchJob(proc, request, handlers, watchedLog, this.options.logger, this.killGraceMs);
    if (gpus) void running.result.finally(() => gpus.release());
    return running;
  }

  /**
   * The GPUs of this machine a job needing some gets: none when it needs none or was given its own (a worker's,
   * chosen by the server). Waits while other jobs hold them; refuses at once a job needing more than there are.
   */
  private async takeGpus(
    request: ComputeJobRequest,
    say: (text: string) => void,
  ): Promise<GpuGrant | undefined> {
    const n = request.gpus ?? 0;
    if (request.gpuDevices || n === 0) return undefined;
    this.gpuIndices ??= this.options.gpus ? this.options.gpus() : Promise.resolve([]);
    const all = await this.gpuIndices;
    if (n > all.length) {
      throw new EngineError(
        'interpreter',
        `the job needs ${n} GPU${n === 1 ? '' : 's'} and this machine has ${all.length === 0 ? 'none (nvidia-smi found no GPU)' : all.length}`,
      );
    }
    const held = all.filter((i) => this.gpusHeld.has(i)).length;
    if (this.gpuWaiters.length > 0 || all.length - held < n) {
      say(`waiting for ${n} free GPU${n === 1 ? '' : 's'}: ${held} of ${all.length} held by other jobs`);
    }
    const devices = await new Promise<number[]>((resolve, reject) => {
      const waiter = { n, grant: resolve };
      this.gpuWaiters.push(waiter);
      request.signal?.addEventListener(
        'abort',
        () => {
          const at = this.gpuWaiters.indexOf(waiter);
          if (at < 0) return;
          this.gpuWaiters.splice(at, 1);
          const err = new Error('the job was stopped while it waited for GPUs');
          err.name = 'AbortError';
          reject(err);
          this.grantGpus(all);
        },
        { once: true },
      );
      this.grantGpus(all);
    });
    let released = false;
    return {
      devices,
      release: () => {
        if (released) return;
        released = true;
        for (const i of devices) this.gpusHeld.delete(i);
        this.grantGpus(all);
      },
    };
  }

  /** Lets the waiting jobs at the head of the queue have the GPUs now free. */
  private grantGpus(all: readonly number[]): void {
    for (;;) {
      const waiter = this.gpuWaiters[0];
      const free = all.filter((i) => !this.gpusHeld.has(i));
      if (!waiter || waiter.n > free.length) return;
      this.gpuWaiters.shift();
      // Taken here, not when the waiter resumes: a job arriving meanwhile must not see them free.
      const devices = free.slice(0, waiter.n);
      for (const i of devices) this.gpusHeld.add(i);
      waiter.grant(devices);
    }
  }

  /**
   * Starts the interpreter's warm worker ahead of the first job, with the environment this runner's jobs share
   * (harnessEnvironment without a job's id, GPUs or secrets: each job forked from it gets its own in full).
   */
  prestart(python: string, runnerId: string, started?: PrestartedWarmWorker): void {
    if (!this.options.warmWorker || this.warm.has(python)) {
      started?.discard();
      return;
    }
    const env = harnessEnvironment(this.env, this.options.runtimeDir, { runnerId });
    // One started before the engine loaded (`deepforge run`), when it runs that interpreter with this environment.
    const taken = started?.take(python, {
      env,
      cwd: this.options.runtimeDir,
      forkTimeoutMs: this.options.warmForkTimeoutMs,
      logger: this.options.logger,
    });
    void this.warmWorker(python, env, taken);
  }

  /** Stops the warm workers (jobs still running in them die with them). */
  close(): Promise<void> {
    for (const worker of [...this.warm.values(), ...this.retired]) worker.close();
    this.warm.clear();
    this.retired.clear();
    return Promise.resolve();
  }

  private async startProcess(
    python: string,
    spec: { file: string; text: string },
    cwd: string,
    env: Record<string, string>,
    secretNames: readonly string[],
    filesMade: () => Promise<unknown>,
  ): Promise<{ proc: JobProcess }> {
    if (this.options.warmWorker) {
      // The worker outlives this job and forks others' jobs: it never holds this job's secrets.
      const shared = { ...env };
      for (const name of secretNames) delete shared[name];
      const worker = await this.warmWorker(python, shared);
      if (worker) {
        try {
          return { proc: await worker.fork({ spec: spec.file, specText: spec.text, cwd, env }) };
        } catch (err) {
          this.options.logger.warn(
            { err },
            'warm worker could not start a job; starting an interpreter instead',
          );
        }
      }
    }
    // Its working directory and spec file first.
    await filesMade().catch((err: unknown) => {
      throw new FilesNotMade(err);
    });
    const child = spawn(python, ['-m', 'deepforge.harness', spec.file], {
      cwd,
      env,
      // A process group of its own: cancel and timeout signal the whole tree, and the job outlives nothing.
      detached: true,
      stdio: ['ignore', 'pipe', 'pipe', 'pipe'],
    });
    await new Promise<void>((resolve, reject) => {
      child.once('spawn', resolve);
      child.once('error', reject);
    });
    return { proc: childJobProcess(child, EVENTS_FD) };
  }

  /** The warm worker of an interpreter, started on first use; undefined when it cannot run (then: spawn). */
  private async warmWorker(
    python: string,
    jobEnv: Record<string, string>,
    started?: WarmWorker,
  ): Promise<WarmWorker | undefined> {
    let worker = this.warm.get(python);
    if (worker && !worker.usable) {
      this.warm.delete(python);
      // A retired worker may still run jobs: it closes itself after them, or with the adapter.
      this.retired.add(worker);
      worker = undefined;
      this.warmFailures.set(python, (this.warmFailures.get(python) ?? 0) + 1);
    }
    if (!worker) {
      if ((this.warmFailures.get(python) ?? 0) >= MAX_WARM_FAILURES) {
        started?.close();
        return undefined;
      }
      const env = { ...jobEnv };
      delete env[JOB_ID_ENV];
      worker =
        started ??
        new WarmWorker({
          python,
          env,
          cwd: this.options.runtimeDir,
          logger: this.options.logger,
          forkTimeoutMs: this.options.warmForkTimeoutMs,
        });
      this.warm.set(python, worker);
      if (!(await worker.ready)) {
        this.warmFailures.set(python, (this.warmFailures.get(python) ?? 0) + 1);
        if (this.warm.get(python) === worker) this.warm.delete(python);
        return undefined;
      }
    }
    return (await worker.ready) ? worker : undefined;
  }
}

/**
 * Follows a started job's process to its end: its console lines (into the log file, bounded, secrets masked), its
 * runtime events, its timeout and cancel. Shared by every adapter whose job shows up as a JobProcess (local
 * processes, Slurm jobs whose files are tailed).
 */
export function watchJob(
  proc: JobProcess,
  request: ComputeJobRequest,
  handlers: ComputeHandlers,
  log: ConsoleLog,
  logger: Logger,
  killGraceMs: number,
): RunningJob {
  return new LocalJob(proc, request, handlers, log, logger, killGraceMs).running();
}

class LocalJob {
  private outcome: ComputeOutcome = 'exited';
  private readonly outputs: OutputEvent[] = [];
  private hello: HelloEvent | undefined;
  private error: ErrorEvent | undefined;
  private usage: JobUsage | undefined;
  private readonly stderrTail: string[] = [];
  private badEvents = 0;
  private exited = false;
  /**
   * The exit code the harness's last event (`usage` with `exitCode`) announced: it has closed its streams and
   * only exits after it. The job ends once those streams are read to their end, without waiting for the exit.
   */
  private ending: number | undefined;
  /** The result is settled (or being settled): nothing is left to stop. */
  private ended = false;
  private stopping = false;
  private paused = false;
  /** While stopping, output that the log file cannot take at once is dropped rather than buffered. */
  private dropping = false;
  private timeoutTimer: NodeJS.Timeout | undefined;
  private killTimer: NodeJS.Timeout | undefined;
  private readonly result: Promise<ComputeResult>;
  private readonly log: ConsoleLog;

  private readonly pid: number;
  /** Masks the values of the job's secrets in what it prints and in its error. */
  private readonly redact: (text: string) => string;

  constructor(
    private readonly proc: JobProcess,
    private readonly request: ComputeJobRequest,
    private readonly handlers: ComputeHandlers,
    log: ConsoleLog,
    private readonly logger: Logger,
    private readonly killGraceMs: number,
  ) {
    this.log = log;
    this.pid = proc.pid;
    this.redact = redactor(Object.values(request.secretEnv ?? {}));
    const { stdout, stderr, events } = proc;
    const out = new LineSplitter((l) => this.consoleLine('stdout', l.text, l.transient));
    const err = new LineSplitter((l) => this.consoleLine('stderr', l.text, l.transient));
    stdout.on('data', (c: Buffer) => out.push(c));
    stderr.on('data', (c: Buffer) => err.push(c));
    const eventLines = new EventLineReader(
      (line) => this.eventLine(line),
      (n) => this.oversizedEvent(n),
    );
    events.on('data', (c: Buffer) => eventLines.push(c));
    for (const s of [stdout, stderr, events]) {
      s.on('error', () => undefined);
      s.resume(); // the warm worker's sockets were paused after their header
    }

    if (request.timeoutMs > 0) {
      const startTimer = (): void => {
        if (this.exited) return;
        this.timeoutTimer = setTimeout(() => {
          if (this.exited || this.stopping) return;
          this.outcome = 'timeout';
          this.engineLine(
            `the operation ran longer than ${request.timeoutMs / 1000} s (executions.timeout) and was stopped`,
          );
          this.terminate();
        }, request.timeoutMs);
      };
      // A batch job's time waiting in its queue is not time it ran.
      if (proc.running) void proc.running.then(startTimer);
      else startTimer();
    }

    this.result = new Promise<ComputeResult>((resolve) => {
      let exitCode: number | null = null;
      let signal: string | null = null;
      let endedBy: string | undefined;
      let closed = false;
      const finish = async (): Promise<void> => {
        clearTimeout(this.timeoutTimer);
        clearTimeout(this.killTimer);
        out.end();
        err.end();
        eventLines.end();
        await this.log.close();
        resolve({
          outcome: this.outcome,
          exitCode,
          signal,
          hello: this.hello,
          outputs: this.outputs,
          error: this.error,
          stderrTail: this.stderrTail,
          logTruncated: this.log.truncated,
          badEvents: this.badEvents,
          ...(endedBy !== undefined ? { endedBy } : {}),
          ...(this.usage !== undefined ? { usage: this.usage } : {}),
        });
      };
      let openStreams = 3;
      const maybeClosed = (): void => {
        if (closed || openStreams > 0) return;
        if (!this.exited) {
          // Ended ahead of the exit only as announced, and never while stopping it (its outcome is the stop's).
          if (this.ending === undefined || this.stopping) return;
          exitCode = this.ending;
        }
        closed = true;
        this.ended = true;
        void finish();
      };
      for (const s of [stdout, stderr, events])
        s.once('close', () => {
          openStreams--;
          maybeClosed();
        });
      void proc.exit.then(({ code, signal: sig, endedBy: by }) => {
        this.exited = true;
        if (!closed) {
          exitCode = code;
          signal = sig;
          endedBy = by;
        }
        // The harness is gone; whatever it left running in its process group (a background subprocess) goes
        // with it. No scan of /proc for the job's marker here: reading every process's environment after every
        // job cost 4–6 ms each (more with more processes). A process that left the group (setsid) outlives the
        // job, as it would outlive a shell; recovery of a dead engine still finds such processes by the marker.
        if (!this.proc.kill) signalGroup(this.pid, 'SIGKILL');
        // Normally the streams close at once. A process that escaped the group may still hold them: do not
        // wait for it forever.
        setTimeout(() => {
          if (closed) return;
          for (const s of [stdout, stderr, events]) s.destroy();
        }, 3000).unref();
        maybeClosed();
      });
    });
  }

  running(): RunningJob {
    return {
      pid: this.pid,
      pgid: this.proc.pgid ?? this.pid,
      result: this.result,
      cancel: () => {
        if (this.exited || this.ended || this.stopping) return;
        this.outcome = 'canceled';
        this.engineLine('canceled; stopping the operation');
        this.terminate();
      },
    };
  }

  private terminate(): void {
    this.stopping = true;
    // Resume reading so a process blocked on a full pipe can receive and act on the signal.
    this.resume();
    this.kill('SIGTERM');
    this.killTimer = setTimeout(() => {
      this.kill('SIGKILL');
    }, this.killGraceMs);
  }

  private kill(signal: 'SIGTERM' | 'SIGKILL'): void {
    if (this.proc.kill) this.proc.kill(signal);
    else signalGroup(this.pid, signal);
  }

  private pause(): void {
    if (this.stopping) {
      if (!this.dropping) {
        this.dropping = true;
        this.log.onDrain(() => (this.dropping = false));
      }
      return;
    }
    if (this.paused) return;
    this.paused = true;
    this.proc.stdout.pause();
    this.proc.stderr.pause();
    this.log.onDrain(() => this.resume());
  }

  private resume(): void {
    if (!this.paused) return;
    this.paused = false;
    this.proc.stdout.resume();
    this.proc.stderr.resume();
  }

  private consoleLine(stream: LogStream, raw: string, transient: boolean): void {
    const text = this.redact(raw);
    if (transient) {
      if (!this.log.truncated) this.handlers.onLog({ stream, text, transient: true });
      return;
    }
    if (stream === 'stderr') {
      this.stderrTail.push(text);
      if (this.stderrTail.length > STDERR_TAIL_LINES) this.stderrTail.shift();
    }
    if (this.log.truncated || this.dropping) return;
    const ok = this.log.writeLine(text);
    if (this.log.truncated) {
      this.handlers.onLog({
        stream: 'engine',
        text: `[deepforge] output truncated at ${this.request.logMaxBytes} bytes (logs.maxBytes)`,
      });
    } else {
      this.handlers.onLog({ stream, text });
    }
    if (!ok) this.pause();
  }

  private engineLine(text: string): void {
    const line = `[deepforge] ${text}`;
    this.log.writeLine(line);
    this.handlers.onLog({ stream: 'engine', text: line });
  }

  private oversizedEvent(bytes: number): void {
    this.badEvents++;
    this.engineLine(`warning: dropped a runtime event of more than ${bytes} bytes`);
  }

  private eventLine(line: string): void {
    if (line.trim() === '') return;
    let raw: unknown;
    try {
      raw = JSON.parse(line);
    } catch {
      this.badEvent(`not JSON: ${line.slice(0, 200)}`);
      return;
    }
    const v = (raw as { v?: unknown } | null)?.v;
    if (typeof v === 'number' && v !== RUNTIME_PROTOCOL_VERSION) {
      this.badEvent(
        `the Python runtime speaks runtime protocol v${v}, this engine v${RUNTIME_PROTOCOL_VERSION}: ` +
          (v > RUNTIME_PROTOCOL_VERSION ? 'the engine is too old' : 'the Python runtime is too old'),
      );
      return;
    }
    const parsed = RuntimeEventSchema.safeParse(raw);
    if (!parsed.success) {
      const issue = parsed.error.issues[0];
      this.badEvent(
        `${issue ? `${issue.path.join('.') || '(event)'}: ${issue.message}` : 'invalid'}: ${line.slice(0, 200)}`,
      );
      return;
    }
    this.event(parsed.data);
  }

  private badEvent(why: string): void {
    this.badEvents++;
    this.logger.warn({ jobId: this.request.jobId, why }, 'malformed runtime event');
    this.engineLine(`warning: ignored a malformed runtime event (${why})`);
  }

  private event(event: RuntimeEvent): void {
    switch (event.type) {
      case 'log':
        this.consoleLine(event.stream, event.text, false);
        return;
      case 'hello':
        this.hello = event;
        break;
      case 'output':
        this.outputs.push(event);
        break;
      case 'error':
        event = {
          ...event,
          message: this.redact(event.message),
          ...(event.traceback !== undefined ? { traceback: this.redact(event.traceback) } : {}),
        };
        this.error = event;
        break;
      case 'usage':
        this.usage = usageOf(event);
        // Jobs holding GPUs end with their process: their devices are free only once it is gone.
        if (event.exitCode !== undefined && !(this.request.gpus ?? 0) && !this.request.gpuDevices?.length)
          this.ending = event.exitCode;
        break;
      case 'phase':
      case 'plot':
      case 'metric':
      case 'progress':
        break;
      default:
        assertNever(event, 'runtime event');
    }
    this.handlers.onEvent(event);
  }
}

/** A job's folder, spec or console log could not be made: the cause is the job's error, as it is. */
class FilesNotMade extends Error {
  constructor(override readonly cause: unknown) {
    super('the job files could not be made');
  }
}

/** The usage a `usage` event reports, without the event's own fields. */
export function usageOf(event: UsageEvent): JobUsage {
  return {
    cpuSeconds: event.cpuSeconds,
    peakRssBytes: event.peakRssBytes,
    ...(event.peakGpuBytes !== undefined ? { peakGpuBytes: event.peakGpuBytes } : {}),
  };
}

/** The shortest secret value masked: shorter ones would mask ordinary text and tell what the value is. */
export const REDACT_MIN_LENGTH = 4;

/** Replaces every occurrence of the values (longest first) by `***`. */
export function redactor(values: readonly string[]): (text: string) => string {
  const masked = [...new Set(values.filter((v) => v.length >= REDACT_MIN_LENGTH))].sort(
    (a, b) => b.length - a.length,
  );
  if (masked.length === 0) return (text) => text;
  const pattern = new RegExp(masked.map((v) => v.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')).join('|'), 'g');
  return (text) => text.replace(pattern, '***');
}

/** Splits the event channel into lines, byte-wise (each line is one JSON document). */
class EventLineReader {
  private chunks: Buffer[] = [];
  private size = 0;
  private skipping = false;

  constructor(
    private readonly onLine: (line: string) => void,
    private readonly onOversized: (limit: number) => void,
  ) {}

  push(chunk: Buffer): void {
    let start = 0;
    for (;;) {
      const nl = chunk.indexOf(10, start);
      if (nl === -1) break;
      const piece = chunk.subarray(start, nl);
      if (this.skipping) {
        this.skipping = false;
      } else {
        this.chunks.push(piece);
        this.onLine(Buffer.concat(this.chunks).toString('utf8'));
      }
      this.chunks = [];
      this.size = 0;
      start = nl + 1;
    }
    const rest = chunk.subarray(start);
    if (rest.length === 0 || this.skipping) return;
    this.chunks.push(rest);
    this.size += rest.length;
    if (this.size > MAX_EVENT_LINE_BYTES) {
      this.chunks = [];
      this.size = 0;
      this.skipping = true;
      this.onOversized(MAX_EVENT_LINE_BYTES);
    }
  }

  end(): void {
    if (!this.skipping && this.size > 0) this.onLine(Buffer.concat(this.chunks).toString('utf8'));
    this.chunks = [];
    this.size = 0;
  }
}
