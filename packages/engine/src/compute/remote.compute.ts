import { randomBytes } from 'node:crypto';
import { mkdir, readdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { join, relative } from 'node:path';
import type { Readable } from 'node:stream';
import type { Logger } from 'pino';
import { assertNever } from '@deepforge/core';
import type {
  ErrorEvent,
  HelloEvent,
  JobUsage,
  LeaseRef,
  OutputEvent,
  RuntimeEvent,
  ServerMessage,
  WorkerBlob,
  WorkerGpu,
  WorkerS3Storage,
  WorkerHello,
  WorkerJobFinished,
  WorkerMessage,
  WorkerRunningJob,
  ConnectedWorker,
  SystemStats,
} from '@deepforge/protocol';
import { GroupCommit } from '../group-commit.js';
import { EngineError, EnvironmentError } from '../errors.js';
import type { OnRestart } from '../settings.js';
import type { ArtifactStorage } from '../storage/artifact.storage.js';
import type { LeaseHolder, LeaseRecord, WorkerStore, WorkerTokenRecord } from '../store/worker.store.js';
import { ConsoleLog } from './console-log.js';
import { usageOf } from './local.compute.js';
import type {
  Compute,
  ComputeHandlers,
  ComputeJobRequest,
  ComputeResult,
  LogStream,
  RunningJob,
} from './job.compute.js';

/** One worker's socket, as the web server hands it over: the adapter sends on it and may close it. */
export interface WorkerLink {
  send(message: ServerMessage): void;
  close(code: number, reason: string): void;
}

export interface RemoteComputeOptions {
  store: WorkerStore;
  /** Where inputs are read from for workers (GET /api/workers/blobs/<hash>). */
  storage: Pick<ArtifactStorage, 'openRead' | 'size'>;
  logger: Logger;
  /** `workers.leaseTimeout` in milliseconds. */
  leaseTimeoutMs: number;
  /** `executions.onRestart`: a job whose worker was lost runs again elsewhere (`requeue`) or fails (`fail`). */
  onLost: OnRestart;
  /** The S3 bucket of `storage.backend = s3`: workers read inputs from it and store outputs in it themselves. */
  s3?: WorkerS3Storage;
  now?: () => number;
}

/** How much further than the server's log the worker's own copy of a job's console goes. */
const WORKER_LOG_SLACK_BYTES = 1024 * 1024;

/** The code snapshot travels in `job.assign`; far bigger than any project's code, and within a socket frame. */
const MAX_CODE_BYTES = 8 * 1024 * 1024;

interface Worker {
  workerId: string;
  token: WorkerTokenRecord;
  name: string;
  labels: ReadonlySet<string>;
  slots: number;
  gpus: WorkerGpu[];
  link: WorkerLink;
  connectedAt: number;
  /** Jobs leased to it: job id → epoch. */
  running: Map<string, number>;
  /**
   * Of its running jobs, those whose operation has ended (their `usage` event, the harness's last, came) and that
   * hold no GPU: their process is exiting. Their slots are leased again at once, and the worker starts the next
   * job once the process has gone (WorkerAgent's slots), so the lease's round trip overlaps the exit.
   */
  ending: Set<string>;
  /**
   * The GPUs its hello or last heartbeat said each running job holds (job id → indices): what a server that
   * restarted knows of the GPUs taken before its jobs are attached again.
   */
  reportedGpus: Map<string, readonly number[]>;
  /**
   * One of its leases expired and it has said nothing since (paused, cut off with the socket still open): no job
   * is leased to it until it speaks again, or a paused worker would get back the job it just lost.
   */
  silent: boolean;
  /** Its machine's load as its last heartbeat said, and when that came (this server's clock). */
  stats?: SystemStats;
  statsAt?: number;
}

/** A worker's slots its leases take: its running jobs but those ending. */
function busySlots(w: Worker): number {
  let n = 0;
  for (const jobId of w.running.keys()) if (!w.ending.has(jobId)) n++;
  return n;
}

function abortError(): Error {
  const err = new Error('the job was stopped while it waited for a worker');
  err.name = 'AbortError';
  return err;
}

/** Job id → the GPUs a worker says the job holds, for the jobs it names with some. */
function gpusOf(running: readonly WorkerRunningJob[]): Map<string, readonly number[]> {
  return new Map(running.filter((r) => (r.gpus?.length ?? 0) > 0).map((r) => [r.jobId, r.gpus!]));
}

function plural(n: number, word: string): string {
  return `${n} ${word}${n === 1 ? '' : 's'}`;
}

/** Every file of a code snapshot, by path relative to it (`operations/A.py`). */
async function readCode(dir: string): Promise<Record<string, string>> {
  const files: Record<string, string> = {};
  let total = 0;
  const walk = async (d: string): Promise<void> => {
    for (const entry of await readdir(d, { withFileTypes: true })) {
      const path = join(d, entry.name);
      if (entry.isDirectory()) await walk(path);
      else if (entry.isFile()) {
        const text = await readFile(path, 'utf8');
        total += Buffer.byteLength(text);
        if (total > MAX_CODE_BYTES) {
          throw new EngineError(
            'interpreter',
            `the code snapshot is over ${MAX_CODE_BYTES} bytes: too big for a worker`,
          );
        }
        files[relative(dir, path)] = text;
      }
    }
  };
  await walk(dir);
  return files;
}

/** A job of this engine that runs (or waits to run) on a worker. */
class RemoteJob {
  /** The lease it runs under now; 0 while it waits for its first. */
  epoch = 0;
  worker: Worker | undefined;
  /**
   * Taken over from an engine that died while a worker ran it (a server restart): the worker and token holding its
   * lease, until that worker connects again.
   */
  awaiting: { workerId: string; tokenId: string } | undefined;
  state: 'waiting' | 'leased' | 'done' = 'waiting';
  /**
   * Its record is queued in the store (or being queued by the next round): only then may a round lease it. Until
   * then the record may be an earlier attempt's, which a lease would take from under the new one.
   */
  queued = false;
  started = false;
  canceled = false;
  waitReason: string | undefined;
  /** The indices of its worker's GPUs it holds under its lease (none while it waits). */
  gpuDevices: readonly number[] = [];
  private hello: HelloEvent | undefined;
  private outputs: OutputEvent[] = [];
  private error: ErrorEvent | undefined;
  private usage: JobUsage | undefined;
  private resolveStart!: (job: RunningJob) => void;
  private rejectStart!: (err: Error) => void;
  private resolveResult!: (result: ComputeResult) => void;
  readonly start: Promise<RunningJob>;
  readonly result: Promise<ComputeResult>;

  constructor(
    readonly request: ComputeJobRequest,
    readonly handlers: ComputeHandlers,
    readonly log: ConsoleLog,
    readonly code: Record<string, string>,
    readonly blobs: { inputs: Record<string, WorkerBlob>; references: Record<string, WorkerBlob> },
    readonly labels: readonly string[],
    /** GPUs it needs. */
    readonly gpus: number,
    private readonly onCancel: (job: RemoteJob) => void,
  ) {
    this.start = new Promise((resolve, reject) => {
      this.resolveStart = resolve;
      this.rejectStart = reject;
    });
    this.result = new Promise((resolve) => (this.resolveResult = resolve));
  }

  get jobId(): string {
    return this.request.jobId;
  }

  /** Content ids a worker holding the lease may read. */
  hasBlob(hash: string): boolean {
    return [...Object.values(this.blobs.inputs), ...Object.values(this.blobs.references)].some(
      (b) => b.hash === hash,
    );
  }

  engineLine(text: string): void {
    const line = `[deepforge] ${text}`;
    this.log.writeLine(line);
    this.handlers.onLog({ stream: 'engine', text: line });
  }

  consoleLine(stream: LogStream, text: string, transient: boolean): void {
    if (transient) {
      if (!this.log.truncated) this.handlers.onLog({ stream, text, transient: true });
      return;
    }
    if (this.log.truncated) return;
    this.log.writeLine(text);
    if (this.log.truncated) {
      this.handlers.onLog({
        stream: 'engine',
        text: `[deepforge] output truncated at ${this.request.logMaxBytes} bytes (logs.maxBytes)`,
      });
    } else {
      this.handlers.onLog({ stream, text });
    }
  }

  event(event: RuntimeEvent): void {
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
        this.error = event;
        break;
      case 'usage':
        this.usage = usageOf(event);
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

  /** Leased (again): what an earlier lease reported no longer counts. */
  leased(worker: Worker | undefined, epoch: number, gpuDevices: readonly number[] = []): void {
    this.state = 'leased';
    this.gpuDevices = gpuDevices;
    this.worker = worker;
    this.awaiting = undefined;
    this.epoch = epoch;
    this.waitReason = undefined;
    this.hello = undefined;
    this.outputs = [];
    this.error = undefined;
    this.usage = undefined;
  }

  /** The worker started its process: the first time, `start` resolves. */
  processStarted(pid: number): void {
    if (this.started) return;
    this.started = true;
    this.resolveStart({
      pid,
      // Not a process group of this machine: nothing here may signal it (recovery skips pgid ≤ 1).
      pgid: 0,
      result: this.result,
      cancel: () => this.onCancel(this),
    });
  }

  /** It cannot run (before its process existed). */
  failStart(err: Error): void {
    this.state = 'done';
    if (!this.started) {
      this.rejectStart(err);
      void this.log.close();
      return;
    }
    this.end({ outcome: 'exited', exitCode: null, signal: null, stderrTail: [err.message] });
  }

  end(
    result: Pick<ComputeResult, 'outcome' | 'exitCode' | 'signal' | 'stderrTail'> &
      Partial<Pick<ComputeResult, 'logTruncated' | 'badEvents' | 'lostReason' | 'storedOutputs'>>,
  ): void {
    this.state = 'done';
    if (!this.started) {
      // It never ran: a stop or a loss before the process existed.
      this.started = true;
      if (result.outcome === 'canceled') {
        this.rejectStart(abortError());
        void this.log.close();
        return;
      }
      this.resolveStart({ pid: 0, pgid: 0, result: this.result, cancel: () => undefined });
    }
    void this.log.close().then(() =>
      this.resolveResult({
        outcome: result.outcome,
        exitCode: result.exitCode,
        signal: result.signal,
        hello: this.hello,
        outputs: this.outputs,
        error: this.error,
        stderrTail: result.stderrTail,
        logTruncated: Boolean(result.logTruncated) || this.log.truncated,
        badEvents: result.badEvents ?? 0,
        ...(result.lostReason !== undefined ? { lostReason: result.lostReason } : {}),
        ...(result.storedOutputs !== undefined ? { storedOutputs: result.storedOutputs } : {}),
        ...(this.usage !== undefined ? { usage: this.usage } : {}),
      }),
    );
  }
}

/** An item waiting for the dispatcher's next round, with the promise that round settles. */
interface Pending<I, O> {
  item: I;
  resolve: (o: O) => void;
  reject: (err: unknown) => void;
}

/**
 * The compute port on remote workers (docs/adr/0015). `start` queues the job in the worker store and resolves
 * once a worker holding its lease has started the process; meanwhile the job's console says what it waits for
 * ("no connected worker has label gpu"). Workers connect to the web server, which hands their sockets here
 * (`connect`, `receive`, `disconnect`); every job message is checked against the lease it names, so a worker
 * taken for lost cannot change a job after its lease is gone. A lease not renewed within `leaseTimeoutMs` is
 * lost: the job is queued again for another worker (`executions.onRestart` = requeue) or fails.
 */
export class RemoteCompute implements Compute {
  /** Workers fetch inputs by content id, from the server's route or the bucket: no local copy first. */
  readonly fetchesInputsById = true;
  /**
   * Where this server stores outputs itself, a worker passes the harness's `output` events on as written: small
   * outputs may come in them (ADR 0035). Not with S3, whose workers store outputs themselves.
   */
  get inlineOutputs(): boolean {
    return this.options.s3 === undefined;
  }
  private readonly jobs = new Map<string, RemoteJob>();
  private readonly workers = new Map<string, Worker>();
  private readonly store: WorkerStore;
  private readonly now: () => number;
  private readonly timer: NodeJS.Timeout;
  private dispatching: Promise<void> | undefined;
  private dispatchAgain = false;
  /**
   * Jobs to queue and leases to complete, written by the next round of the dispatcher in the transaction of its
   * leases (WorkerStore.writeRound): one durable commit per round, however many jobs it queues, ends and leases.
   */
  private toEnqueue: Pending<{ jobId: string; labels: readonly string[] }, void>[] = [];
  private toComplete: Pending<LeaseHolder, boolean>[] = [];
  /** Leases read as jobs start: one query for a burst of jobs handed over at once, not one each. */
  private readonly leaseReads: GroupCommit<string, LeaseRecord | undefined>;
  /** Code snapshots being sent, by directory: read once for all the jobs of an execution that use them. */
  private readonly codes = new Map<string, { code: Promise<Record<string, string>>; users: number }>();
  private expiring = false;
  private closed = false;

  constructor(private readonly options: RemoteComputeOptions) {
    this.store = options.store;
    this.now = options.now ?? Date.now;
    this.leaseReads = new GroupCommit((jobIds) => this.store.getLeases(jobIds));
    // Expiry is checked four times per lease timeout: a lost lease is noticed at most a quarter late.
    this.timer = setInterval(() => void this.expire(), Math.max(50, Math.floor(options.leaseTimeoutMs / 4)));
    this.timer.unref();
  }

  get leaseTimeoutMs(): number {
    return this.options.leaseTimeoutMs;
  }

  // ── the compute port ─────────────────────────────────────────────────────────────────────────────────────

  async start(request: ComputeJobRequest, handlers: ComputeHandlers): Promise<RunningJob> {
    if (this.closed) throw new EngineError('closed', 'remote compute is closed');
    if (request.signal?.aborted) throw abortError();
    const releaseCode = this.useCode(request.spec.codeDir);
    let code: Record<string, string>;
    try {
      code = await this.codes.get(request.spec.codeDir)!.code;
    } catch (err) {
      releaseCode();
      throw err;
    }
    try {
      return await this.startWith(code, request, handlers, releaseCode);
    } catch (err) {
      releaseCode();
      throw err;
    }
  }

  /**
   * Takes a share of the code snapshot in `dir` (read now unless a job holding a share has it); the function
   * returned gives the share back (once).
   */
  private useCode(dir: string): () => void {
    let entry = this.codes.get(dir);
    if (!entry) {
      entry = { code: readCode(dir), users: 0 };
      // A failed read is not kept for later jobs.
      entry.code.catch(() => undefined);
      this.codes.set(dir, entry);
    }
    entry.users++;
    const held = entry;
    let released = false;
    return () => {
      if (released) return;
      released = true;
      if (--held.users === 0 && this.codes.get(dir) === held) this.codes.delete(dir);
    };
  }

  private async startWith(
    code: Record<string, string>,
    request: ComputeJobRequest,
    handlers: ComputeHandlers,
    releaseCode: () => void,
  ): Promise<RunningJob> {
    const blobsOf = async (
      specs: Record<string, { serializer: string }>,
      hashes: Readonly<Record<string, string>> | undefined,
    ): Promise<Record<string, WorkerBlob>> => {
      const out: Record<string, WorkerBlob> = {};
      for (const [name, spec] of Object.entries(specs)) {
        const hash = hashes?.[name];
        if (!hash)
          throw new EngineError('interpreter', `input ${name} has no content id: a worker cannot fetch it`);
        const size = await this.options.storage.size(hash);
        if (size === undefined)
          throw new EngineError('storage', `input ${name}: blob ${hash} is not in the storage`);
        out[name] = { hash, size, serializer: spec.serializer };
      }
      return out;
    };
    const blobs = {
      inputs: await blobsOf(request.spec.inputs, request.blobs?.inputs),
      references: await blobsOf(request.spec.references, request.blobs?.references),
    };
    const labels = [...new Set(request.labels ?? [])].sort();
    // The output folder is made by the first output file that comes (an upload, a file in job.finished): most
    // outputs come in their events. The log, like a local job's, is made with its first line when the runner has
    // made the job's folder.
    const log =
      request.jobDirMade && request.logFile !== null
        ? ConsoleLog.lazy(request.logFile, request.logMaxBytes)
        : await ConsoleLog.open(request.logFile, request.logMaxBytes);
    const job = new RemoteJob(request, handlers, log, code, blobs, labels, request.gpus ?? 0, (j) =>
      this.cancel(j),
    );
    const previous = this.jobs.get(request.jobId);
    if (previous && previous.state !== 'done') {
      await log.close();
      throw new EngineError('execution-state', `job ${request.jobId} is running on a worker already`);
    }
    this.jobs.set(request.jobId, job);
    try {
      const held = await this.leaseReads.submit(request.jobId);
      if (
        held?.state === 'leased' &&
        held.workerId !== null &&
        held.tokenId !== null &&
        (held.expiresAt ?? 0) > this.now()
      ) {
        // A worker still holds a live lease of this job: it ran it for an engine that died (the server restarted)
        // and may come back within the lease timeout, reporting it. The job goes on there; if the worker does not
        // come back, the lease expires and the job runs again under a newer one.
        job.leased(undefined, held.epoch);
        job.awaiting = { workerId: held.workerId, tokenId: held.tokenId };
        job.engineLine(
          `the server restarted while a worker ran this job (lease ${held.epoch}): waiting for it to come back`,
        );
      } else {
        // A lease left by an earlier attempt is queued again, its epoch going on: a worker still running that
        // attempt is fenced out.
        job.queued = true;
        await this.enqueue({ jobId: request.jobId, labels });
      }
    } catch (err) {
      this.jobs.delete(request.jobId);
      await log.close();
      throw err;
    }
    // The snapshot is shared until the job has ended, or failed or was stopped before it started.
    void job.start.then(
      (running) => running.result.then(releaseCode),
      () => releaseCode(),
    );
    request.signal?.addEventListener('abort', () => this.cancel(job), { once: true });
    if (job.state === 'waiting') this.noteWaiting(job);
    this.requestDispatch();
    return job.start;
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    clearInterval(this.timer);
    for (const job of this.jobs.values()) {
      if (job.state === 'done') continue;
      if (job.worker)
        job.worker.link.send({
          type: 'job.cancel',
          jobId: job.jobId,
          epoch: job.epoch,
          reason: 'the server is closing',
        });
      job.end({ outcome: 'canceled', exitCode: null, signal: null, stderrTail: [] });
      await this.store.removeLease(job.jobId).catch(() => undefined);
    }
    this.jobs.clear();
    for (const w of this.workers.values()) w.link.close(1001, 'the server is closing');
    this.workers.clear();
    await this.dispatching;
    const closed = new EngineError('closed', 'remote compute is closed');
    for (const p of [...this.toEnqueue.splice(0), ...this.toComplete.splice(0)]) p.reject(closed);
  }

  // ── workers (called by the web server's socket) ──────────────────────────────────────────────────────────

  /**
   * A worker said hello with a valid token. Jobs it still runs keep their leases when they are still its own
   * (a reconnect within the lease timeout); the others are in `lost`, for it to stop.
   */
  async connect(
    link: WorkerLink,
    token: WorkerTokenRecord,
    hello: WorkerHello,
  ): Promise<{ leaseTimeoutMs: number; heartbeatMs: number; lost: LeaseRef[] }> {
    const old = this.workers.get(hello.workerId);
    // The same worker process again: its earlier socket is dead even if this end has not noticed yet.
    if (old) old.link.close(4002, 'replaced by a new connection of the same worker');
    const renewed = await this.store.renewLeases(
      hello.workerId,
      this.ownJobs(hello.workerId, hello.running),
      this.now(),
      this.leaseTimeoutMs,
    );
    const kept = new Set(renewed.map((r) => `${r.jobId}@${r.epoch}`));
    const worker: Worker = {
      workerId: hello.workerId,
      token,
      name: hello.name,
      labels: new Set(hello.labels),
      slots: hello.slots,
      gpus: hello.gpus ?? [],
      link,
      connectedAt: this.now(),
      running: new Map(renewed.map((r) => [r.jobId, r.epoch])),
      ending: new Set(),
      reportedGpus: gpusOf(hello.running),
      silent: false,
    };
    this.workers.set(worker.workerId, worker);
    for (const r of renewed) {
      const job = this.jobs.get(r.jobId);
      if (!job || job.epoch !== r.epoch) continue;
      job.worker = worker;
      // A job of the engine before a restart: its GPUs are the ones the worker gave it.
      if (job.gpuDevices.length === 0) job.gpuDevices = worker.reportedGpus.get(job.jobId) ?? [];
      if (job.awaiting) {
        job.awaiting = undefined;
        job.engineLine(`worker ${worker.name} is back and still runs the job: it goes on (lease ${r.epoch})`);
        job.processStarted(0);
      }
      if (job.canceled) link.send({ type: 'job.cancel', ...r, reason: 'canceled' });
    }
    this.options.logger.info(
      {
        workerId: worker.workerId,
        name: worker.name,
        labels: hello.labels,
        slots: hello.slots,
        token: token.name,
      },
      'worker connected',
    );
    this.requestDispatch();
    return {
      leaseTimeoutMs: this.leaseTimeoutMs,
      heartbeatMs: Math.max(20, Math.floor(this.leaseTimeoutMs / 4)),
      lost: hello.running.filter((r) => !kept.has(`${r.jobId}@${r.epoch}`)),
    };
  }

  /** The worker's socket closed. Its leases stay until they expire: it may come back in time. */
  disconnect(link: WorkerLink): void {
    for (const [id, w] of this.workers) {
      if (w.link !== link) continue;
      this.workers.delete(id);
      this.options.logger.info({ workerId: id, name: w.name }, 'worker disconnected');
    }
    this.noteAllWaiting();
  }

  /** A message of a connected worker (already validated against the protocol). */
  async receive(link: WorkerLink, message: WorkerMessage): Promise<void> {
    const worker = [...this.workers.values()].find((w) => w.link === link);
    if (!worker) return;
    if (worker.silent) {
      worker.silent = false;
      this.requestDispatch();
    }
    switch (message.type) {
      case 'hello':
        return;
      case 'heartbeat': {
        // Validated with the message: a heartbeat with malformed stats never got here (the socket refused it).
        if (message.stats) {
          worker.stats = message.stats;
          worker.statsAt = this.now();
        }
        const before = this.heldGpus(worker).length;
        worker.reportedGpus = gpusOf(message.running);
        // A job it said held GPUs has ended (one of another server's, stopped): jobs waiting for them may go.
        if (this.heldGpus(worker).length < before) this.requestDispatch();
        const renewed = await this.store.renewLeases(
          worker.workerId,
          this.ownJobs(worker.workerId, message.running),
          this.now(),
          this.leaseTimeoutMs,
        );
        const kept = new Set(renewed.map((r) => `${r.jobId}@${r.epoch}`));
        for (const r of message.running) {
          if (kept.has(`${r.jobId}@${r.epoch}`)) continue;
          worker.running.delete(r.jobId);
          worker.ending.delete(r.jobId);
          link.send({ type: 'job.cancel', ...r, reason: 'this worker no longer holds the lease of the job' });
        }
        return;
      }
      case 'job.started': {
        const job = this.current(worker, message);
        if (!job) {
          link.send({
            type: 'job.cancel',
            jobId: message.jobId,
            epoch: message.epoch,
            reason: 'this worker no longer holds the lease of the job',
          });
          return;
        }
        job.engineLine(`running on worker ${worker.name} (lease ${job.epoch}, pid ${message.pid})`);
        job.processStarted(message.pid);
        return;
      }
      case 'job.log':
        this.current(worker, message)?.consoleLine(message.stream, message.text, message.transient ?? false);
        return;
      case 'job.event': {
        const job = this.current(worker, message);
        if (!job) return;
        job.event(message.event);
        if (message.event.type === 'usage' && job.gpus === 0 && worker.running.get(job.jobId) === job.epoch) {
          worker.ending.add(job.jobId);
          this.requestDispatch();
        }
        return;
      }
      case 'job.start-failed':
      case 'job.finished': {
        // Its process has ended: its slot, and the GPUs the worker said it held, are free again, whether or not
        // the result is accepted; the round that completes the lease leases the slot again. The small outputs
        // it sent are written meanwhile (only while the lease is still the worker's: the job ends below, after
        // both), so the next job is not waiting on them.
        if (worker.running.get(message.jobId) === message.epoch) {
          worker.running.delete(message.jobId);
          worker.ending.delete(message.jobId);
        }
        worker.reportedGpus.delete(message.jobId);
        const [accepted] = await Promise.all([
          this.complete({ jobId: message.jobId, epoch: message.epoch, workerId: worker.workerId }),
          message.type === 'job.finished' && message.files
            ? this.writeInlineOutputs(worker, message)
            : undefined,
        ]);
        const job = this.jobs.get(message.jobId);
        if (!accepted) {
          const now =
            job && job.state !== 'done' && job.epoch > message.epoch
              ? ` (it runs under lease ${job.epoch} now)`
              : '';
          const why = `the lease ${message.epoch} of job ${message.jobId} is no longer this worker's${now}`;
          this.options.logger.warn(
            { workerId: worker.workerId, jobId: message.jobId, epoch: message.epoch },
            `refused a late result: ${why}`,
          );
          job?.engineLine(`refused a late result from worker ${worker.name} (lease ${message.epoch})${now}`);
          link.send({
            type: 'job.result',
            jobId: message.jobId,
            epoch: message.epoch,
            accepted: false,
            message: why,
          });
          this.requestDispatch();
          return;
        }
        link.send({ type: 'job.result', jobId: message.jobId, epoch: message.epoch, accepted: true });
        this.requestDispatch();
        if (!job || job.state === 'done') return;
        this.jobs.delete(job.jobId);
        if (message.type === 'job.start-failed') {
          job.failStart(
            message.kind === 'environment'
              ? new EnvironmentError(`on worker ${worker.name}: ${message.message}`)
              : new EngineError(
                  'interpreter',
                  `worker ${worker.name} could not start the job: ${message.message}`,
                ),
          );
        } else {
          job.end({
            outcome: job.canceled ? 'canceled' : message.outcome,
            exitCode: message.exitCode,
            signal: message.signal,
            stderrTail: message.stderrTail,
            logTruncated: message.logTruncated,
            badEvents: message.badEvents,
            ...(message.stored ? { storedOutputs: message.stored } : {}),
          });
        }
        return;
      }
      default:
        assertNever(message, 'worker message');
    }
  }

  /** The connected workers, for people. */
  listWorkers(): ConnectedWorker[] {
    return [...this.workers.values()].map((w) => ({
      workerId: w.workerId,
      name: w.name,
      tokenName: w.token.name,
      labels: [...w.labels].sort(),
      slots: w.slots,
      gpus: w.gpus,
      running: [...w.running].map(([jobId, epoch]) => ({ jobId, epoch })),
      gpusInUse: this.heldGpus(w),
      connectedAt: w.connectedAt,
      state: w.silent ? 'lost' : 'connected',
      stats: w.stats ?? null,
      statsAt: w.statsAt ?? null,
    }));
  }

  /** The jobs waiting for a worker, oldest first, and why each waits. */
  listWaiting(): { jobId: string; reason: string }[] {
    return [...this.jobs.values()]
      .filter((j) => j.state === 'waiting')
      .map((j) => ({ jobId: j.jobId, reason: this.reasonFor(j.labels, j.gpus) }));
  }

  /** Why a job waits for a worker; undefined when it does not (wait). */
  waitingReason(jobId: string): string | undefined {
    const job = this.jobs.get(jobId);
    return job?.state === 'waiting' ? this.reasonFor(job.labels, job.gpus) : undefined;
  }

  /**
   * The bytes of an input for the worker holding the job's lease under `epoch` with this token; undefined when
   * it does not (or the job has no such input): the worker may read nothing else.
   */
  async openInput(
    tokenId: string,
    jobId: string,
    epoch: number,
    hash: string,
  ): Promise<{ size: number; stream: () => Promise<Readable> } | undefined> {
    const job = this.jobs.get(jobId);
    if (
      !job ||
      job.state !== 'leased' ||
      job.epoch !== epoch ||
      (job.worker?.token.id ?? job.awaiting?.tokenId) !== tokenId
    )
      return undefined;
    if (!job.hasBlob(hash)) return undefined;
    const size = await this.options.storage.size(hash);
    if (size === undefined) return undefined;
    return { size, stream: () => this.options.storage.openRead(hash) };
  }

  /**
   * The small output files a worker sent inside `job.finished`, written into the job's output dir as their uploads
   * would have been (beside, then renamed, and only while the lease is still the worker's). One that cannot be
   * written is missing when the job's outputs are read, which fails the job naming it.
   */
  private async writeInlineOutputs(worker: Worker, message: WorkerJobFinished): Promise<void> {
    const { jobId, epoch } = message;
    const dir = this.outputDirFor(worker.token.id, jobId, epoch);
    if (dir === undefined) return;
    await mkdir(dir, { recursive: true }).catch(() => undefined);
    for (const { file, base64 } of message.files ?? []) {
      const part = join(dir, `.${file}.${randomBytes(6).toString('hex')}.part`);
      try {
        await writeFile(part, Buffer.from(base64, 'base64'));
        if (this.outputDirFor(worker.token.id, jobId, epoch) !== dir) {
          await rm(part, { force: true });
          return;
        }
        await rename(part, join(dir, file));
      } catch (err) {
        this.options.logger.warn({ err, jobId, epoch, file }, 'could not write an output a worker sent');
        await rm(part, { force: true }).catch(() => undefined);
      }
    }
  }

  /**
   * Where the worker holding the job's lease under `epoch` with this token puts an output file: the job's output
   * folder (made by whoever writes the first file into it). Undefined when the lease is not that worker's (any
   * more).
   */
  outputDirFor(tokenId: string, jobId: string, epoch: number): string | undefined {
    const job = this.jobs.get(jobId);
    if (
      !job ||
      job.state !== 'leased' ||
      job.epoch !== epoch ||
      (job.worker?.token.id ?? job.awaiting?.tokenId) !== tokenId
    )
      return undefined;
    return job.request.spec.outputDir;
  }

  // ── leases ───────────────────────────────────────────────────────────────────────────────────────────────

  /**
   * Of the jobs a worker says it runs, those this engine leased to it under those epochs. A job of an engine
   * that is gone (a server restarted) has nobody to take its result here: the worker is told to stop it, and the
   * job, recovered by the new engine, runs again under a newer lease when executions.onRestart is requeue.
   */
  private ownJobs(workerId: string, refs: readonly LeaseRef[]): LeaseRef[] {
    const own = refs.filter((r) => {
      const job = this.jobs.get(r.jobId);
      return (
        job?.state === 'leased' &&
        job.epoch === r.epoch &&
        (job.worker?.workerId ?? job.awaiting?.workerId) === workerId
      );
    });
    return own.map((r) => ({ jobId: r.jobId, epoch: r.epoch }));
  }

  private current(worker: Worker, ref: LeaseRef): RemoteJob | undefined {
    const job = this.jobs.get(ref.jobId);
    if (!job || job.state !== 'leased' || job.epoch !== ref.epoch || job.worker?.workerId !== worker.workerId)
      return undefined;
    return job;
  }

  private cancel(job: RemoteJob): void {
    if (job.state === 'done' || job.canceled) return;
    job.canceled = true;
    if (job.state === 'waiting') {
      this.jobs.delete(job.jobId);
      job.end({ outcome: 'canceled', exitCode: null, signal: null, stderrTail: [] });
      void this.store.removeLease(job.jobId).catch(() => undefined);
      return;
    }
    // Leased: the worker stops it and reports `canceled`; a worker gone meanwhile loses the lease, which ends it.
    job.worker?.link.send({ type: 'job.cancel', jobId: job.jobId, epoch: job.epoch, reason: 'canceled' });
  }

  /** The GPUs of a worker that no job leased to it holds. */
  private freeGpus(worker: Worker): number[] {
    const held = new Set(this.heldGpus(worker));
    // A GPU listed twice in a hello is still one GPU.
    return [...new Set(worker.gpus.map((g) => g.index))].filter((i) => !held.has(i));
  }

  /** The GPUs of a worker that jobs hold, ascending. */
  private heldGpus(worker: Worker): number[] {
    const held = new Set<number>();
    for (const [jobId, epoch] of worker.running) {
      const job = this.jobs.get(jobId);
      if (job && job.epoch === epoch) for (const i of job.gpuDevices) held.add(i);
    }
    // And those the worker says its jobs hold: a job of the engine before a restart, or one whose lease this
    // server no longer grants, keeps its GPUs until the worker has stopped it.
    for (const devices of worker.reportedGpus.values()) for (const i of devices) held.add(i);
    return [...held].sort((a, b) => a - b);
  }

  private reasonFor(labels: readonly string[], gpus: number): string {
    const workers = [...this.workers.values()];
    if (workers.length === 0) {
      return 'no worker is connected (start one: deepforge worker --server <url> --token <worker token>)';
    }
    const missing = labels.filter((l) => !workers.some((w) => w.labels.has(l)));
    if (missing.length > 0) {
      return `no connected worker has label${missing.length > 1 ? 's' : ''} ${missing.join(', ')}`;
    }
    const able = workers.filter((w) => labels.every((l) => w.labels.has(l)));
    if (able.length === 0) return `no connected worker has all of the labels ${labels.join(', ')}`;
    if (gpus > 0) {
      const big = able.filter((w) => w.gpus.length >= gpus);
      if (big.length === 0) {
        const most = Math.max(...able.map((w) => w.gpus.length));
        return `no connected worker${labels.length > 0 ? ' with its labels' : ''} has ${plural(gpus, 'GPU')} (the most: ${most})`;
      }
      const total = big.reduce((n, w) => n + w.gpus.length, 0);
      const free = big.reduce((n, w) => n + this.freeGpus(w).length, 0);
      return `every worker with ${plural(gpus, 'free GPU')} is busy (${plural(big.length, 'worker')} with ${plural(gpus, 'GPU')} or more, ${free} of their ${plural(total, 'GPU')} free)`;
    }
    const slots = able.reduce((n, w) => n + w.slots, 0);
    return `every worker that can run it is busy (${plural(able.length, 'worker')}, ${plural(slots, 'slot')})`;
  }

  /** noteWaiting for every waiting job, the reason worked out once per set of labels. */
  private noteAllWaiting(): void {
    const reasons = new Map<string, string>();
    for (const job of this.jobs.values()) {
      if (job.state !== 'waiting') continue;
      const key = `${job.gpus}/${job.labels.join(',')}`;
      let reason = reasons.get(key);
      if (reason === undefined) reasons.set(key, (reason = this.reasonFor(job.labels, job.gpus)));
      this.noteWaiting(job, reason);
    }
  }

  /** Writes why a waiting job waits to its console, when that changed. */
  private noteWaiting(job: RemoteJob, reason = this.reasonFor(job.labels, job.gpus)): void {
    if (reason === job.waitReason) return;
    job.waitReason = reason;
    job.engineLine(`waiting for a worker: ${reason}`);
  }

  /** Queued by the next round of the dispatcher; resolves once that round is committed. */
  private enqueue(item: { jobId: string; labels: readonly string[] }): Promise<void> {
    return new Promise((resolve, reject) => {
      this.toEnqueue.push({ item, resolve, reject });
      this.requestDispatch();
    });
  }

  /** Fenced completion (WorkerStore.completeLeases) in the next round; resolves whether it was accepted. */
  private complete(item: LeaseHolder): Promise<boolean> {
    return new Promise((resolve, reject) => {
      this.toComplete.push({ item, resolve, reject });
      this.requestDispatch();
    });
  }

  /**
   * A round of the dispatcher, once the event loop has handled the I/O it had: the jobs queued and the
   * completions that arrived together are written with the leases of the slots they free, in one transaction.
   */
  private requestDispatch(): void {
    if (this.closed) return;
    if (this.dispatching) {
      this.dispatchAgain = true;
      return;
    }
    this.dispatching = (async () => {
      try {
        do {
          this.dispatchAgain = false;
          await new Promise((resolve) => setImmediate(resolve));
          if (this.closed) return;
          await this.dispatchOnce();
        } while (this.dispatchAgain && !this.closed);
      } catch (err) {
        this.options.logger.error({ err }, 'leasing jobs to workers failed');
      } finally {
        this.dispatching = undefined;
        // Queued or completed while a failing round was written: the next round writes them.
        if (this.toEnqueue.length + this.toComplete.length > 0) this.requestDispatch();
      }
    })();
  }

  /**
   * Leases waiting jobs to workers with free slots, oldest job first, each to the first worker (in the order they
   * connected) that has its labels, a free slot and as many free GPUs as it needs (the lowest indices free): every
   * lease of the round, with the jobs queued and the leases completed since the last one, in one transaction of
   * the store. A job queued in the round may be leased in it (the store queues before it leases).
   */
  private async dispatchOnce(): Promise<void> {
    const enqueue = this.toEnqueue.splice(0);
    const complete = this.toComplete.splice(0);
    const free = new Map<Worker, { slots: number; gpus: number[] }>();
    for (const w of this.workers.values()) {
      const busy = busySlots(w);
      if (!w.silent && busy < w.slots) free.set(w, { slots: w.slots - busy, gpus: this.freeGpus(w) });
    }
    const grants: { job: RemoteJob; worker: Worker; gpus: number[] }[] = [];
    if (free.size > 0) {
      for (const job of this.jobs.values()) {
        if (job.state !== 'waiting' || job.canceled || !job.queued) continue;
        let chosen: Worker | undefined;
        for (const [w, left] of free) {
          if (left.gpus.length >= job.gpus && job.labels.every((l) => w.labels.has(l))) {
            chosen = w;
            break;
          }
        }
        if (!chosen) continue;
        const left = free.get(chosen)!;
        grants.push({ job, worker: chosen, gpus: left.gpus.splice(0, job.gpus) });
        if (--left.slots === 0) free.delete(chosen);
        if (free.size === 0) break;
      }
    }
    let written: { completed: boolean[]; leases: LeaseRecord[] };
    try {
      written = await this.store.writeRound(
        {
          enqueue: enqueue.map((p) => p.item),
          complete: complete.map((p) => p.item),
          lease: grants.map(({ job, worker }) => ({
            jobId: job.jobId,
            candidate: { workerId: worker.workerId, tokenId: worker.token.id, labels: [...worker.labels] },
          })),
        },
        this.now(),
        this.leaseTimeoutMs,
      );
    } catch (err) {
      for (const p of [...enqueue, ...complete]) p.reject(err);
      throw err;
    }
    for (const p of enqueue) p.resolve();
    complete.forEach((p, i) => p.resolve(written.completed[i]!));
    const byJob = new Map(written.leases.map((l) => [l.jobId, l]));
    for (const { job, worker, gpus } of grants) {
      const lease = byJob.get(job.jobId);
      if (!lease) continue;
      if (this.jobs.get(job.jobId) !== job || job.state !== 'waiting') {
        // Canceled while it was being leased.
        await this.store.removeLease(job.jobId);
        continue;
      }
      if (this.workers.get(worker.workerId) !== worker || worker.silent) {
        // The worker went away while it was being leased: back in the queue for the next round.
        void this.enqueue({ jobId: job.jobId, labels: job.labels }).catch((err: unknown) =>
          this.options.logger.error({ err, jobId: job.jobId }, 'queuing a job again failed'),
        );
        continue;
      }
      this.assign(job, worker, lease.epoch, gpus);
    }
    this.noteAllWaiting();
  }

  private assign(job: RemoteJob, worker: Worker, epoch: number, gpus: readonly number[]): void {
    job.leased(worker, epoch, gpus);
    worker.running.set(job.jobId, epoch);
    worker.ending.delete(job.jobId);
    const on = gpus.length > 0 ? `, GPU${gpus.length > 1 ? 's' : ''} ${gpus.join(',')}` : '';
    job.engineLine(`leased to worker ${worker.name} (lease ${epoch}${on})`);
    const { request } = job;
    worker.link.send({
      type: 'job.assign',
      jobId: job.jobId,
      epoch,
      // Job ids are `<execution id>.<node>` (execution-files.ts jobIdOf).
      executionId: request.jobId.slice(0, Math.max(0, request.jobId.indexOf('.'))),
      node: request.jobId.slice(request.jobId.indexOf('.') + 1),
      code: job.code,
      operation: request.spec.operation,
      attributes: request.spec.attributes,
      inputs: job.blobs.inputs,
      references: job.blobs.references,
      outputs: request.spec.outputs,
      timeoutMs: request.timeoutMs,
      // The server's log is the job's record and truncates itself at logs.maxBytes (with its notice); the
      // worker's own copy may go a little further, so that it never stops sending first.
      logMaxBytes: request.logMaxBytes + WORKER_LOG_SLACK_BYTES,
      secretEnv: { ...request.secretEnv },
      ...(this.options.s3 ? { storage: this.options.s3 } : {}),
      ...(gpus.length > 0 ? { gpus: [...gpus] } : {}),
      ...(request.spec.outputInlineMaxBytes
        ? { outputInlineMaxBytes: request.spec.outputInlineMaxBytes }
        : {}),
    });
  }

  /** Leases not renewed in time: their jobs are queued again for another worker, or fail. */
  private async expire(): Promise<void> {
    if (this.expiring || this.closed) return;
    this.expiring = true;
    try {
      const requeue = this.options.onLost === 'requeue';
      const expired = await this.store.expireLeases(this.now(), requeue ? 'queued' : 'lost');
      for (const lease of expired) {
        const lost = lease.workerId ? this.workers.get(lease.workerId) : undefined;
        if (lost) lost.silent = true;
        if (lost && lost.running.get(lease.jobId) === lease.epoch) {
          lost.running.delete(lease.jobId);
          lost.ending.delete(lease.jobId);
          lost.link.send({
            type: 'job.cancel',
            jobId: lease.jobId,
            epoch: lease.epoch,
            reason: 'the lease expired: the job was taken from this worker',
          });
        }
        const job = this.jobs.get(lease.jobId);
        if (!job || job.state !== 'leased' || job.epoch !== lease.epoch) {
          // Not a job of this engine (one that died left it): its record stays, queued with its epoch, for the
          // attempt recovery may start, which is then leased under a newer epoch than the lost one.
          continue;
        }
        const seconds = this.leaseTimeoutMs / 1000;
        const who = `worker ${job.worker?.name ?? lease.workerId ?? '?'}`;
        const what = `${who} was lost: no heartbeat for ${seconds} s (workers.leaseTimeout), lease ${lease.epoch} expired`;
        this.options.logger.warn({ jobId: job.jobId, workerId: lease.workerId, epoch: lease.epoch }, what);
        if (job.canceled) {
          this.jobs.delete(job.jobId);
          await this.store.removeLease(job.jobId);
          job.end({ outcome: 'canceled', exitCode: null, signal: null, stderrTail: [] });
        } else if (requeue) {
          job.state = 'waiting';
          // expireLeases queued its record again.
          job.queued = true;
          job.worker = undefined;
          job.gpuDevices = [];
          job.awaiting = undefined;
          job.engineLine(
            `${what}; the job is queued again for another worker (executions.onRestart = requeue)`,
          );
        } else {
          this.jobs.delete(job.jobId);
          await this.store.removeLease(job.jobId);
          job.engineLine(`${what}; the job fails (executions.onRestart = fail)`);
          job.end({ outcome: 'lost', exitCode: null, signal: null, stderrTail: [], lostReason: what });
        }
      }
      if (expired.length > 0) this.requestDispatch();
    } catch (err) {
      this.options.logger.error({ err }, 'expiring worker leases failed');
    } finally {
      this.expiring = false;
    }
  }
}
