import { execFile } from 'node:child_process';
import { access, constants, mkdir, open, rm, writeFile, type FileHandle } from 'node:fs/promises';
import { delimiter, join } from 'node:path';
import { PassThrough } from 'node:stream';
import type { Logger } from 'pino';
import type { JobSpec, SlurmJobOptions } from '@deepforge/protocol';
import { mergeSlurmOptions } from '@deepforge/protocol/engine';
import { EngineError } from '../errors.js';
import type { Env } from '../settings.js';
import { ConsoleLog } from './console-log.js';
import type { Compute, ComputeHandlers, ComputeJobRequest, RunningJob } from './job.compute.js';
import { harnessEnvironment } from './harness-environment.js';
import { watchJob } from './local.compute.js';
import { parseScontrolJob, slurmEnd, type SlurmJobEnd } from './slurm-state.js';
import type { JobProcess } from './warm-worker.js';

export interface SlurmComputeOptions {
  /** The directory holding the `deepforge` Python package (put on PYTHONPATH); on the shared filesystem. */
  runtimeDir: string;
  /** The environment jobs start from (sbatch passes it on); Slurm's clients read SLURM_CONF and the like from it. */
  env: Env;
  logger: Logger;
  /** `compute.slurm.*`: what every job gets unless its execution or node says otherwise. */
  defaults?: SlurmJobOptions;
  /** How often squeue is asked how the jobs are (default 1 s; every 200 ms in a job's first 10 s). */
  pollIntervalMs?: number;
  /** How often the jobs' output files are read (default 100 ms). */
  tailIntervalMs?: number;
  /** Time between Slurm's cancel and a SIGKILL to what is left (Slurm's own KillWait applies too). */
  killGraceMs?: number;
}

/** States after which a job runs no more (`squeue -t all` keeps showing them for MinJobAge). */
const ENDED = new Set([
  'COMPLETED',
  'FAILED',
  'CANCELLED',
  'TIMEOUT',
  'OUT_OF_MEMORY',
  'NODE_FAIL',
  'PREEMPTED',
  'BOOT_FAIL',
  'DEADLINE',
  'SPECIAL_EXIT',
]);

const YOUNG_JOB_MS = 10_000;
const YOUNG_POLL_MS = 200;

/** What the tailed files of a job are called in its job dir. */
const FILES = { stdout: 'slurm.out', stderr: 'slurm.err', events: 'events.jsonl' } as const;

/**
 * Runs each job as a Slurm batch job (docs/adr/0016): the same harness and job.json as local compute, submitted
 * with sbatch, its stdout, stderr and runtime events written to files in the job dir on a filesystem this
 * process and the nodes share, which are tailed here and fed to the same watcher local jobs have (watchJob);
 * followed with squeue and `scontrol show job` (sacct when Slurm keeps accounting), stopped with scancel. A job
 * Slurm ends itself (time limit, preemption, out of memory, a cancel by someone else) fails with Slurm's state
 * and reason.
 */
export class SlurmCompute implements Compute {
  private readonly jobs = new Map<string, SlurmJob>();
  private pollTimer: NodeJS.Timeout | undefined;
  private polling = false;
  /** When the last job was submitted: short jobs are common, so the first seconds are polled more often. */
  private lastSubmitAt = 0;
  private closed = false;
  private readonly pollIntervalMs: number;
  private readonly env: Record<string, string>;

  constructor(private readonly options: SlurmComputeOptions) {
    this.pollIntervalMs = options.pollIntervalMs ?? 1000;
    this.env = {};
    for (const [k, v] of Object.entries(options.env)) if (v !== undefined) this.env[k] = v;
  }

  async start(request: ComputeJobRequest, handlers: ComputeHandlers): Promise<RunningJob> {
    if (this.closed) throw new EngineError('closed', 'the Slurm compute is closed');
    const files = {
      stdout: join(request.jobDir, FILES.stdout),
      stderr: join(request.jobDir, FILES.stderr),
      events: join(request.jobDir, FILES.events),
    };
    for (const path of [request.jobDir, request.spec.workDir, ...Object.values(files)]) {
      // sbatch reads `%` in --output/--error as a pattern, and a newline would end the #SBATCH line.
      if (/[%\n]/.test(path))
        throw new EngineError(
          'compute',
          `a Slurm job cannot use ${JSON.stringify(path)} (% or a newline in it)`,
        );
    }
    const spec: JobSpec = { ...request.spec, eventsFile: files.events };
    await mkdir(request.jobDir, { recursive: true });
    await mkdir(spec.workDir, { recursive: true });
    await mkdir(spec.outputDir, { recursive: true });
    const specFile = join(request.jobDir, 'job.json');
    await writeFile(specFile, JSON.stringify(spec, null, 2) + '\n');
    // Made here, empty and private, before Slurm appends to them: they hold the job's raw output (secrets not yet
    // masked) until it is read, and the tail starts at offset 0.
    for (const f of Object.values(files)) await writeFile(f, '', { mode: 0o600 });
    const log = await ConsoleLog.open(request.logFile, request.logMaxBytes);

    const fail = async (
      message: string,
      code: 'interpreter' | 'compute',
      cause?: unknown,
    ): Promise<never> => {
      log.writeLine(`[deepforge] ${message}`);
      await log.close();
      await removeFiles(files);
      throw new EngineError(code, message, cause ? { cause } : undefined);
    };
    // The nodes share this machine's filesystem (ADR 0016): an interpreter missing here is missing there too.
    if (!(await findExecutable(request.python, this.env.PATH))) {
      return fail(`cannot start ${request.python}: no such executable`, 'interpreter');
    }

    const options = mergeSlurmOptions(this.options.defaults, request.slurm);
    const args = [
      '--parsable',
      `--job-name=${slurmJobName(request.jobId)}`,
      `--output=${files.stdout}`,
      `--error=${files.stderr}`,
      '--open-mode=append',
      `--chdir=${spec.workDir}`,
      '--export=ALL',
      '--nodes=1',
      '--ntasks=1',
      ...sbatchOptions(options, request.gpus ?? 0),
    ];
    const script = [
      '#!/bin/sh',
      `# DeepForge job ${request.jobId} (runner ${request.runnerId}), submitted with:`,
      `#   sbatch ${args.join(' ')}`,
      `exec ${shellQuote(request.python)} -m deepforge.harness ${shellQuote(specFile)}`,
      '',
    ].join('\n');
    const scriptFile = join(request.jobDir, 'job.sbatch');
    await writeFile(scriptFile, script, { mode: 0o700 });
    // Secrets reach the job through sbatch's environment only (--export=ALL), never a file of ours.
    const env = harnessEnvironment(this.options.env, this.options.runtimeDir, request);
    const submitted = await command('sbatch', [...args, scriptFile], env);
    if (submitted.code !== 0) {
      const why = submitted.stderr.trim() || submitted.error || `sbatch exited with code ${submitted.code}`;
      return fail(`Slurm refused the job: ${why}`, 'compute');
    }
    const slurmId = submitted.stdout.trim().split(';')[0]!;
    if (!/^\d+$/.test(slurmId)) {
      return fail(`sbatch said ${JSON.stringify(submitted.stdout.trim())}, not a job id`, 'compute');
    }
    const engineLine = (text: string): void => {
      const line = `[deepforge] ${text}`;
      log.writeLine(line);
      handlers.onLog({ stream: 'engine', text: line });
    };
    const where = [
      options.partition && `partition ${options.partition}`,
      options.time && `time ${options.time}`,
      args.find((a) => a.startsWith('--gres='))?.replace('--gres=', 'gres '),
    ]
      .filter(Boolean)
      .join(', ');
    engineLine(`submitted to Slurm as job ${slurmId}${where ? ` (${where})` : ''}`);

    const job = new SlurmJob(slurmId, files, engineLine, {
      tailIntervalMs: this.options.tailIntervalMs ?? 100,
      cancel: (signal) => void this.cancel(slurmId, signal),
      onEnd: () => this.jobs.delete(slurmId),
    });
    this.jobs.set(slurmId, job);
    this.lastSubmitAt = Date.now();
    this.schedulePoll();
    return watchJob(
      job.process,
      request,
      handlers,
      log,
      this.options.logger,
      this.options.killGraceMs ?? 2000,
    );
  }

  /** Cancels the jobs still running (nothing of this engine follows them any more) and stops polling. */
  async close(): Promise<void> {
    this.closed = true;
    clearTimeout(this.pollTimer);
    const ids = [...this.jobs.keys()];
    if (ids.length > 0) await command('scancel', ids, this.env);
    for (const job of this.jobs.values()) job.abandon('the engine closed; the Slurm job was cancelled');
    this.jobs.clear();
  }

  /** Cancels the batch job of a job whose engine died: by its name, which carries the DeepForge job id. */
  async stopOrphan(job: { jobId: string; runnerId: string }): Promise<void> {
    const r = await command('scancel', [`--name=${slurmJobName(job.jobId)}`], this.env);
    if (r.code !== 0)
      throw new Error(`scancel --name=${slurmJobName(job.jobId)}: ${r.stderr.trim() || r.error}`);
    this.options.logger.info({ jobId: job.jobId }, 'cancelled the Slurm job of a dead engine');
  }

  private async cancel(slurmId: string, signal: 'SIGTERM' | 'SIGKILL'): Promise<void> {
    // scancel sends SIGTERM, then SIGKILL after Slurm's KillWait, to the batch script and everything it started
    // (Slurm tracks the whole tree); a pending job is simply removed. The escalation kills what is left at once.
    const args = signal === 'SIGTERM' ? [slurmId] : ['--signal=KILL', '--full', slurmId];
    const r = await command('scancel', args, this.env);
    if (r.code !== 0 && signal === 'SIGTERM') {
      this.options.logger.warn({ slurmId, stderr: r.stderr }, 'scancel failed');
    }
  }

  private schedulePoll(): void {
    if (this.pollTimer || this.closed || this.jobs.size === 0) return;
    const young = Date.now() - this.lastSubmitAt < YOUNG_JOB_MS;
    this.pollTimer = setTimeout(
      () => {
        this.pollTimer = undefined;
        void this.poll().finally(() => this.schedulePoll());
      },
      young ? Math.min(this.pollIntervalMs, YOUNG_POLL_MS) : this.pollIntervalMs,
    );
  }

  /** One squeue for every job followed; `scontrol show job` (or sacct) for each that ended, for its exit code. */
  private async poll(): Promise<void> {
    if (this.polling || this.jobs.size === 0) return;
    this.polling = true;
    try {
      const ids = [...this.jobs.keys()];
      const r = await command(
        'squeue',
        ['-h', '-t', 'all', '-j', ids.join(','), '-o', '%i|%T|%r|%N'],
        this.env,
      );
      const seen = new Map<string, { state: string; reason: string; node: string }>();
      if (r.code === 0) {
        for (const line of r.stdout.split('\n')) {
          const [id, state, reason, node] = line.trim().split('|');
          if (id && state) seen.set(id, { state, reason: reason ?? '', node: node ?? '' });
        }
      } else if (!/Invalid job id/i.test(r.stderr)) {
        // slurmctld unreachable: the jobs may well still run; say so once per job and keep asking.
        for (const job of this.jobs.values()) job.unreachable(r.stderr.trim() || r.error || 'squeue failed');
        return;
      }
      for (const id of ids) {
        const job = this.jobs.get(id);
        if (!job) continue;
        const now = seen.get(id);
        if (now && !ENDED.has(now.state.split(' ')[0]!)) {
          job.progress(now.state, now.reason, now.node);
          continue;
        }
        // Ended, or gone from squeue: its final state, from scontrol while slurmctld remembers it, else sacct.
        job.finish(await this.finalState(id, now?.state));
      }
    } finally {
      this.polling = false;
    }
  }

  private async finalState(id: string, squeueState: string | undefined): Promise<SlurmJobEnd> {
    const shown = await command('scontrol', ['show', 'job', '-o', id], this.env);
    if (shown.code === 0) {
      const fields = parseScontrolJob(shown.stdout);
      if (fields.JobState) return slurmEnd(fields);
    }
    const acct = await command(
      'sacct',
      ['-n', '-P', '-X', '-j', id, '-o', 'State,ExitCode,Reason'],
      this.env,
    );
    const [state, exitCode, reason] = (
      acct.code === 0 ? (acct.stdout.trim().split('\n')[0] ?? '') : ''
    ).split('|');
    if (state)
      return slurmEnd({ JobState: state.split(' ')[0]!, ExitCode: exitCode ?? '', Reason: reason ?? '' });
    return {
      code: null,
      signal: null,
      endedBy: `Slurm no longer knows job ${id}${squeueState ? ` (last seen ${squeueState})` : ''}, and keeps no accounting to say how it ended`,
    };
  }
}

/** One submitted job: its tailed files as the streams of a JobProcess, ended once Slurm says it has. */
class SlurmJob {
  readonly process: JobProcess;
  private readonly tails: FileTail[];
  private tailTimer: NodeJS.Timeout | undefined;
  private lastState = '';
  private warnedUnreachable = false;
  private ended = false;
  private resolveRunning!: () => void;
  private resolveExit!: (value: {
    code: number | null;
    signal: NodeJS.Signals | null;
    endedBy?: string;
  }) => void;

  constructor(
    readonly slurmId: string,
    private readonly files: { stdout: string; stderr: string; events: string },
    private readonly engineLine: (text: string) => void,
    private readonly opts: {
      tailIntervalMs: number;
      cancel(signal: 'SIGTERM' | 'SIGKILL'): void;
      onEnd(): void;
    },
  ) {
    const stdout = new PassThrough();
    const stderr = new PassThrough();
    const events = new PassThrough();
    this.tails = [
      new FileTail(files.stdout, stdout),
      new FileTail(files.stderr, stderr),
      new FileTail(files.events, events),
    ];
    this.process = {
      pid: Number(slurmId),
      // Not a process group of this machine: nothing here signals it (recovery skips pgid ≤ 1); scancel does.
      pgid: 0,
      stdout,
      stderr,
      events,
      exit: new Promise((resolve) => (this.resolveExit = resolve)),
      kill: (signal) => opts.cancel(signal),
      running: new Promise((resolve) => (this.resolveRunning = resolve)),
    };
    this.scheduleTail();
  }

  private scheduleTail(): void {
    if (this.ended) return;
    this.tailTimer = setTimeout(() => {
      void Promise.all(this.tails.map((t) => t.read())).finally(() => this.scheduleTail());
    }, this.opts.tailIntervalMs);
  }

  progress(state: string, reason: string, node: string): void {
    if (state !== 'PENDING') this.resolveRunning();
    const text =
      state === 'PENDING'
        ? `Slurm job ${this.slurmId} is pending${reason && reason !== 'None' ? ` (${reason})` : ''}`
        : state === 'RUNNING'
          ? `Slurm job ${this.slurmId} is running${node ? ` on ${node}` : ''}`
          : `Slurm job ${this.slurmId} is ${state}${reason && reason !== 'None' ? ` (${reason})` : ''}`;
    if (text === this.lastState) return;
    this.lastState = text;
    this.warnedUnreachable = false;
    this.engineLine(text);
  }

  unreachable(why: string): void {
    if (this.warnedUnreachable) return;
    this.warnedUnreachable = true;
    this.engineLine(`cannot ask Slurm about job ${this.slurmId} (${why}); asking again`);
  }

  /** Reads what is left of the files, ends the streams, removes the files, then reports the exit. */
  finish(end: SlurmJobEnd): void {
    if (this.ended) return;
    this.ended = true;
    clearTimeout(this.tailTimer);
    this.opts.onEnd();
    void (async () => {
      for (const tail of this.tails) await tail.finish();
      // Their contents are in the console log now (bounded, secrets masked); the raw files are not kept.
      await removeFiles(this.files);
      this.resolveRunning();
      this.resolveExit(end);
    })();
  }

  abandon(why: string): void {
    this.finish({ code: null, signal: null, endedBy: why });
  }
}

/** Follows a file another process appends to, from offset 0, into a stream; waits for the stream to drain. */
class FileTail {
  private offset = 0;
  private handle: FileHandle | undefined;
  private reading: Promise<void> = Promise.resolve();
  private readonly buffer = Buffer.alloc(256 * 1024);

  constructor(
    private readonly path: string,
    private readonly stream: PassThrough,
  ) {}

  read(): Promise<void> {
    this.reading = this.reading.then(() => this.readNow(false));
    return this.reading;
  }

  /** Reads to the end (whatever the reader's pace) and ends the stream. */
  async finish(): Promise<void> {
    this.reading = this.reading.then(() => this.readNow(true));
    await this.reading;
    await this.handle?.close().catch(() => undefined);
    this.handle = undefined;
    this.stream.end();
  }

  private async readNow(all: boolean): Promise<void> {
    this.handle ??= await open(this.path, 'r').catch(() => undefined);
    if (!this.handle) return;
    for (;;) {
      // A reader that cannot keep up (the log file is slow) is not buffered for without end.
      if (this.stream.writableNeedDrain) {
        if (!all) return;
        await new Promise((r) => this.stream.once('drain', r));
      }
      const { bytesRead } = await this.handle.read(this.buffer, 0, this.buffer.length, this.offset);
      if (bytesRead === 0) return;
      this.offset += bytesRead;
      this.stream.write(Buffer.from(this.buffer.subarray(0, bytesRead)));
    }
  }
}

/** The Slurm job name of a DeepForge job: how the job of a dead engine is found again. */
function slurmJobName(jobId: string): string {
  return `deepforge-${jobId}`.slice(0, 120);
}

/**
 * The sbatch options of a job's Slurm options (each value already checked by SlurmJobOptionsSchema). A job that
 * needs GPUs (`gpus`, or the label `gpu`) asks Slurm for them as `--gres=gpu:<n>` unless a `gres` is given, which
 * says it in the cluster's own words (a GPU type, `gpu:a100:2`) and is taken as it is.
 */
export function sbatchOptions(options: SlurmJobOptions, gpus = 0): string[] {
  const out: string[] = [];
  if (options.partition) out.push(`--partition=${options.partition}`);
  if (options.account) out.push(`--account=${options.account}`);
  if (options.time) out.push(`--time=${options.time}`);
  if (options.gres) out.push(`--gres=${options.gres}`);
  else if (gpus > 0) out.push(`--gres=gpu:${gpus}`);
  if (options.mem) out.push(`--mem=${options.mem}`);
  if (options.cpusPerTask) out.push(`--cpus-per-task=${options.cpusPerTask}`);
  return out;
}

function shellQuote(s: string): string {
  return `'${s.replace(/'/g, `'\\''`)}'`;
}

async function findExecutable(python: string, path: string | undefined): Promise<boolean> {
  const candidates = python.includes('/')
    ? [python]
    : (path ?? '')
        .split(delimiter)
        .filter(Boolean)
        .map((d) => join(d, python));
  for (const c of candidates) {
    if (
      await access(c, constants.X_OK).then(
        () => true,
        () => false,
      )
    )
      return true;
  }
  return false;
}

async function removeFiles(files: Record<string, string>): Promise<void> {
  for (const f of Object.values(files)) await rm(f, { force: true });
}

function command(
  cmd: string,
  args: string[],
  env: Record<string, string>,
): Promise<{ code: number; stdout: string; stderr: string; error?: string }> {
  return new Promise((resolve) => {
    execFile(cmd, args, { env, timeout: 30_000, maxBuffer: 16 * 1024 * 1024 }, (err, stdout, stderr) => {
      if (!err) return resolve({ code: 0, stdout, stderr });
      const e = err as NodeJS.ErrnoException & { code?: number | string };
      resolve({
        code: typeof e.code === 'number' ? e.code : 127,
        stdout,
        stderr,
        ...(typeof e.code === 'string' ? { error: `${cmd}: ${e.message}` } : {}),
      });
    });
  });
}
