import { randomBytes } from 'node:crypto';
import { createReadStream, rmdirSync, unlinkSync } from 'node:fs';
import { readFile, rm, stat } from 'node:fs/promises';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { Readable, Transform, type TransformCallback } from 'node:stream';
import type { ReadableStream as WebReadableStream } from 'node:stream/web';
import pino, { type Logger } from 'pino';
import { WebSocket, type RawData } from 'ws';
import {
  ContentHasher,
  openArtifactStorage,
  type ArtifactStorage,
  EnvironmentCompute,
  EnvironmentError,
  Gate,
  LocalCompute,
  NotFoundError,
  ReadThroughCache,
  type Compute,
  type ComputeJobRequest,
  type ContentHash,
  type EnvironmentCache,
  type Env,
  type RunningJob,
} from '@deepforge/engine';
import {
  RUNTIME_PROTOCOL_VERSION,
  ServerMessageSchema,
  INLINE_OUTPUT_MAX_BYTES,
  INLINE_OUTPUTS_MAX,
  OUTPUT_FILE_NAME,
  WORKER_PROTOCOL_VERSION,
  type WorkerRunningJob,
  type InputSpec,
  type ServerJobAssign,
  type WorkerBlob,
  type WorkerGpu,
  type WorkerMessage,
  type WorkerS3Storage,
  outputExpectedHash,
} from '@deepforge/protocol';
import { assertNever } from '@deepforge/core';
import { CodeDirs } from './code-dirs.js';
import { FrameBatcher, frameMessages } from './frames.js';
import { SystemSampler } from './system-stats.js';

export interface WorkerAgentOptions {
  /** The web server's base URL (`http://host:8888`): the worker connects out to it. */
  serverUrl: string;
  /** A worker token (`dfw_…`). */
  token: string;
  labels: readonly string[];
  slots: number;
  /** The machine's GPUs (gpu-detect.ts), told to the server. */
  gpus?: readonly WorkerGpu[];
  /** Jobs' files (code, work dirs, outputs) and the input cache (`<workDir>/cache`). */
  workDir: string;
  /** For people: the host name by default. */
  name?: string;
  /** The interpreter jobs run with. */
  python: string;
  /** The directory holding the `deepforge` Python package. */
  runtimeDir: string;
  env: Env;
  /** Where the worker logs; by default `logFile`, else nowhere. */
  logger?: Logger;
  logFile?: string;
  warmWorker: boolean;
  /** The most bytes the input cache keeps. */
  cacheMaxBytes: number;
  /**
   * Operations' environments, built on this machine before their jobs start (docs/adr/0017); without it, jobs
   * run with `python` whatever their environment file says.
   */
  environments?: EnvironmentCache;
  /** Time between SIGTERM and SIGKILL when a job is stopped. */
  killGraceMs?: number;
  /** Lines for the person running the worker (connected, each job, refusals). */
  report(line: string): void;
}

/** Messages kept while the socket is down (a reconnect sends them); beyond this, console lines are dropped. */
const MAX_OUTBOX = 50_000;
const RECONNECT_MIN_MS = 250;
const RECONNECT_MAX_MS = 5000;
/** How long an upload is tried again while the server cannot be reached. */
const UPLOAD_RETRY_MS = 120_000;

interface AgentJob {
  jobId: string;
  epoch: number;
  abort: AbortController;
  canceled: boolean;
  handle: RunningJob | undefined;
  /** The GPUs the server leased with the job (named in hello and heartbeats: a restarted server learns them). */
  gpus: readonly number[];
}

/** Fails the stream at its end when the bytes are not those of `hash` (nothing is cached then). */
function verifying(hash: ContentHash): Transform {
  const hasher = ContentHasher.toCheck(hash);
  return new Transform({
    transform(chunk: Buffer, _enc, done: TransformCallback) {
      hasher.update(chunk);
      done(null, chunk);
    },
    flush(done: TransformCallback) {
      const got = hasher.digest().hash;
      done(got === hash ? null : new Error(`the server sent bytes of ${got}, not of ${hash}`));
    },
  });
}

/** Whether an output may go inside `job.finished` (its name, the size the harness wrote), `sent` going already. */
function inlineable(output: { file: string; size: number }, sent: number): boolean {
  return (
    sent < INLINE_OUTPUTS_MAX && output.size <= INLINE_OUTPUT_MAX_BYTES && OUTPUT_FILE_NAME.test(output.file)
  );
}

/**
 * `deepforge worker` (docs/adr/0015): connects out to the server (so it works behind NAT), says which labels and
 * slots it has, and runs the jobs leased to it with the same local compute as `deepforge start` (warm worker,
 * process groups, console, events), streaming console lines and runtime events back as they come. Inputs come
 * through its read-through cache from the server's worker routes, checked against their content id; outputs are
 * uploaded before it says a job finished. Cut off, it reconnects and reports the jobs it still runs: those whose
 * leases are still its own go on.
 */
export class WorkerAgent {
  readonly workerId = `${hostname()}-${process.pid}-${randomBytes(4).toString('hex')}`;
  /** Resolves with the exit code once the worker has stopped (1 after a refusal it cannot get past). */
  readonly done: Promise<number>;
  private resolveDone!: (code: number) => void;
  private readonly compute: Compute;
  /**
   * Processes that may run at once: the worker's slots. The server leases a slot again as soon as its job's
   * operation has ended (its `usage` event), so the next job may come while that process still exits; it starts
   * once the process has gone, its code and inputs fetched meanwhile.
   */
  private readonly slots: Gate;
  private readonly cache: ReadThroughCache;
  private readonly codeDirs: CodeDirs;
  private readonly jobs = new Map<string, AgentJob>();
  /** Which job's lease a blob is fetched under, and its size: set before the cache asks. */
  private readonly blobs = new Map<
    string,
    { jobId: string; epoch: number; size: number; s3: ArtifactStorage | undefined }
  >();
  /** The bucket of each S3 configuration jobs named, opened once (with this machine's AWS credentials). */
  private readonly buckets = new Map<string, Promise<ArtifactStorage & { close?(): Promise<void> }>>();
  private ws: WebSocket | undefined;
  private welcomed = false;
  private outbox: WorkerMessage[] = [];
  private readonly frames = new FrameBatcher<WorkerMessage>((frame, messages) =>
    this.writeFrame(frame, messages),
  );
  private heartbeat: NodeJS.Timeout | undefined;
  private reconnectTimer: NodeJS.Timeout | undefined;
  private reconnectMs = RECONNECT_MIN_MS;
  private stopped = false;
  private everConnected = false;
  /** A `refused` message was said to the person running the worker (its close then says nothing more). */
  private refusalReported = false;
  private readonly logger: Logger;
  private readonly sampler: SystemSampler;

  constructor(private readonly options: WorkerAgentOptions) {
    this.done = new Promise((resolve) => (this.resolveDone = resolve));
    this.logger =
      options.logger ??
      (options.logFile !== undefined
        ? pino(
            { level: options.env.DEEPFORGE_LOG_LEVEL ?? 'info' },
            pino.destination({ dest: options.logFile, mkdir: true, sync: true }),
          )
        : pino({ enabled: false }));
    const local = new LocalCompute({
      runtimeDir: options.runtimeDir,
      env: options.env,
      logger: this.logger,
      warmWorker: options.warmWorker,
      killGraceMs: options.killGraceMs,
    });
    this.compute = options.environments ? new EnvironmentCompute(local, options.environments) : local;
    this.sampler = new SystemSampler({ env: options.env, gpus: (options.gpus?.length ?? 0) > 0 });
    this.codeDirs = new CodeDirs(options.workDir);
    this.slots = new Gate(options.slots);
    this.cache = new ReadThroughCache(
      {
        // Straight from the bucket when the job's storage is S3 (checked as it streams), else the server's route.
        size: (hash) => {
          const ref = this.blobs.get(hash);
          return ref?.s3 ? ref.s3.size(hash) : Promise.resolve(ref?.size);
        },
        openRead: (hash) => {
          const s3 = this.blobs.get(hash)?.s3;
          return s3 ? s3.openRead(hash) : this.download(hash);
        },
      },
      { dir: join(options.workDir, 'cache'), maxBytes: options.cacheMaxBytes },
    );
  }

  start(): void {
    this.connect();
  }

  /** Stops taking jobs, stops those running, and closes the connection. */
  async stop(code = 0): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    clearTimeout(this.reconnectTimer);
    clearInterval(this.heartbeat);
    for (const job of this.jobs.values()) this.cancelJob(job, 'the worker is stopping');
    const running = [...this.jobs.values()].map((j) => j.handle?.result.catch(() => undefined));
    await Promise.all(running);
    this.frames.flush();
    this.ws?.close(1000, 'the worker is stopping');
    await this.compute.close();
    await this.codeDirs.close();
    for (const bucket of this.buckets.values()) await (await bucket.catch(() => undefined))?.close?.();
    this.resolveDone(code);
  }

  /** A heartbeat: renews the leases of the jobs it runs, with the machine's load (CPU, memory, GPUs) now. */
  private async beat(): Promise<void> {
    const stats = await this.sampler.sample().catch((err: unknown) => {
      this.logger.warn({ err }, 'could not sample the system load');
      return undefined;
    });
    if (this.stopped) return;
    this.send({ type: 'heartbeat', running: this.running(), ...(stats ? { stats } : {}) });
  }

  // ── the connection ───────────────────────────────────────────────────────────────────────────────────────

  private connect(): void {
    if (this.stopped) return;
    const url = new URL('/api/workers/connect', this.options.serverUrl);
    url.protocol = url.protocol === 'https:' ? 'wss:' : 'ws:';
    const ws = new WebSocket(url, {
      headers: { authorization: `Bearer ${this.options.token}` },
      maxPayload: 64 * 1024 * 1024,
    });
    this.ws = ws;
    let ended = false;
    /** Whether this connection opened, and the last error it had (what a close without a reason says). */
    let opened = false;
    let failure: string | undefined;
    const retry = (why: string): void => {
      if (ended) return;
      ended = true;
      this.welcomed = false;
      clearInterval(this.heartbeat);
      if (this.stopped) return;
      this.options.report(
        `${opened ? 'disconnected' : `cannot connect to ${this.options.serverUrl}`} (${why}); connecting again in ${this.reconnectMs / 1000} s`,
      );
      this.reconnectTimer = setTimeout(() => this.connect(), this.reconnectMs);
      this.reconnectMs = Math.min(this.reconnectMs * 2, RECONNECT_MAX_MS);
    };
    ws.on('unexpected-response', (_req, res) => {
      ended = true;
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => {
        const text = Buffer.concat(chunks).toString('utf8').trim();
        const status = res.statusCode ?? 0;
        ws.terminate();
        if (status === 401 || status === 403 || status === 409) {
          // A wrong or revoked token, or a server that takes no workers: trying again cannot help.
          this.options.report(`the server refused this worker (HTTP ${status}): ${text}`);
          void this.stop(1);
          return;
        }
        ended = false;
        retry(`HTTP ${status}: ${text}`);
      });
    });
    ws.on('open', () => {
      opened = true;
      ws.send(
        JSON.stringify({
          type: 'hello',
          v: WORKER_PROTOCOL_VERSION,
          workerId: this.workerId,
          name: this.options.name ?? hostname(),
          labels: [...this.options.labels],
          slots: this.options.slots,
          running: this.running(),
          ...(this.options.gpus && this.options.gpus.length > 0 ? { gpus: [...this.options.gpus] } : {}),
          agent: 'deepforge-worker',
        } satisfies WorkerMessage),
      );
    });
    ws.on('message', (data: RawData) => this.onMessage(data));
    ws.on('error', (err) => {
      failure = err.message;
      if (!this.everConnected) this.logger.warn({ err }, 'worker connection failed');
    });
    ws.on('close', (code, reason) => {
      if (code === 4001) {
        // Refused: said by the message that came before the close, or else by the close's reason (a token
        // revoked while connected).
        ended = true;
        if (!this.refusalReported) {
          this.options.report(`the server refused this worker: ${reason.toString() || 'no reason given'}`);
        }
        void this.stop(1);
        return;
      }
      retry(reason.toString() || failure || `code ${code}`);
    });
  }

  private running(): WorkerRunningJob[] {
    return [...this.jobs.values()]
      .filter((j) => !j.canceled)
      .map((j) => ({ jobId: j.jobId, epoch: j.epoch, ...(j.gpus.length > 0 ? { gpus: [...j.gpus] } : {}) }));
  }

  /** Welcomed on an open socket: what is sent now goes out. */
  private get connected(): boolean {
    return this.ws !== undefined && this.welcomed && this.ws.readyState === this.ws.OPEN;
  }

  private send(message: WorkerMessage): void {
    if (this.connected) {
      this.frames.send(message);
      return;
    }
    // What waits for this turn's frame goes first (kept too, the connection being gone): a job's events before
    // its job.finished.
    this.frames.flush();
    this.keep(message);
  }

  /** Kept for the next connection (console lines dropped past MAX_OUTBOX). */
  private keep(message: WorkerMessage): void {
    if (this.outbox.length >= MAX_OUTBOX && message.type === 'job.log') return;
    this.outbox.push(message);
  }

  /** A frame of messages (frames.ts), or, when the connection went meanwhile, its messages kept in order. */
  private writeFrame(frame: string, messages: WorkerMessage[]): void {
    if (this.connected) this.ws!.send(frame);
    else for (const m of messages) this.keep(m);
  }

  private onMessage(data: RawData): void {
    let messages;
    try {
      messages = frameMessages(JSON.parse(String(data)));
    } catch {
      this.logger.warn('the server sent something that is not JSON');
      return;
    }
    if (typeof messages === 'string') {
      this.logger.warn(`the server sent ${messages}`);
      return;
    }
    for (const raw of messages) this.onServerMessage(raw);
  }

  private onServerMessage(raw: unknown): void {
    const parsed = ServerMessageSchema.safeParse(raw);
    if (!parsed.success) {
      this.logger.warn(
        { issues: parsed.error.issues },
        'the server sent a message this worker does not know',
      );
      return;
    }
    const message = parsed.data;
    switch (message.type) {
      case 'welcome': {
        this.welcomed = true;
        this.reconnectMs = RECONNECT_MIN_MS;
        this.options.report(
          `${this.everConnected ? 'connected again' : 'connected'} to ${this.options.serverUrl} as ${this.workerId} (labels: ${this.options.labels.join(', ') || 'none'}; ${this.options.slots} slot${this.options.slots === 1 ? '' : 's'}; lease timeout ${message.leaseTimeoutMs / 1000} s)`,
        );
        this.everConnected = true;
        for (const lost of message.lost) {
          const job = this.jobs.get(lost.jobId);
          if (job && job.epoch === lost.epoch)
            this.cancelJob(job, 'its lease was lost while this worker was away');
        }
        const queued = this.outbox;
        this.outbox = [];
        for (const m of queued) this.send(m);
        clearInterval(this.heartbeat);
        this.heartbeat = setInterval(() => void this.beat(), message.heartbeatMs);
        // The machine's load at once, for the Compute view, rather than a heartbeat interval later.
        void this.beat();
        return;
      }
      case 'refused':
        this.refusalReported = true;
        this.options.report(`the server refused this worker: ${message.message}`);
        void this.stop(1);
        return;
      case 'job.assign':
        void this.runJob(message).catch((err: unknown) =>
          this.logger.error({ err, jobId: message.jobId }, 'a job failed in the worker'),
        );
        return;
      case 'job.cancel': {
        const job = this.jobs.get(message.jobId);
        if (job && job.epoch === message.epoch) this.cancelJob(job, message.reason);
        return;
      }
      case 'job.result':
        if (!message.accepted) {
          this.options.report(
            `job ${message.jobId} (lease ${message.epoch}): result refused: ${message.message ?? ''}`,
          );
        }
        return;
      default:
        assertNever(message, 'server message');
    }
  }

  private cancelJob(job: AgentJob, why: string): void {
    if (job.canceled) return;
    job.canceled = true;
    this.options.report(`job ${job.jobId} (lease ${job.epoch}): stopping: ${why}`);
    job.abort.abort();
    job.handle?.cancel();
  }

  // ── jobs ─────────────────────────────────────────────────────────────────────────────────────────────────

  private async download(hash: string): Promise<Readable> {
    const ref = this.blobs.get(hash);
    if (!ref) throw new NotFoundError(`no job of this worker needs ${hash}`);
    const url = new URL(`/api/workers/blobs/${encodeURIComponent(hash)}`, this.options.serverUrl);
    url.searchParams.set('job', ref.jobId);
    url.searchParams.set('epoch', String(ref.epoch));
    const res = await fetch(url, { headers: { authorization: `Bearer ${this.options.token}` } });
    if (!res.ok || !res.body) {
      const text = await res.text().catch(() => '');
      const message = `the server refused input ${hash} (HTTP ${res.status}): ${text.slice(0, 500)}`;
      throw res.status === 404 ? new NotFoundError(message) : new Error(message);
    }
    return Readable.fromWeb(res.body as WebReadableStream<Uint8Array>).pipe(verifying(hash as ContentHash));
  }

  private async upload(job: AgentJob, file: string, path: string): Promise<void> {
    const url = new URL(
      `/api/workers/jobs/${encodeURIComponent(job.jobId)}/outputs/${encodeURIComponent(file)}`,
      this.options.serverUrl,
    );
    url.searchParams.set('epoch', String(job.epoch));
    const { size } = await stat(path);
    const put = (): Promise<Response> =>
      fetch(url, {
        method: 'PUT',
        headers: {
          authorization: `Bearer ${this.options.token}`,
          'content-type': 'application/octet-stream',
          'content-length': String(size),
        },
        body: Readable.toWeb(createReadStream(path)) as ReadableStream<Uint8Array>,
        duplex: 'half',
      } as RequestInit);
    // A server that cannot be reached (restarting) or is busy (503) is tried again for as long as the job's lease
    // could still be this worker's; an answer is final.
    const deadline = Date.now() + UPLOAD_RETRY_MS;
    let res: Response | undefined;
    for (let wait = RECONNECT_MIN_MS; ; wait = Math.min(wait * 2, RECONNECT_MAX_MS)) {
      res = await put().catch(() => undefined);
      if ((res && res.status !== 503) || job.canceled || Date.now() > deadline) break;
      await new Promise((r) => setTimeout(r, wait));
    }
    if (!res) throw new Error(`output ${file} could not be uploaded: the server cannot be reached`);
    if (!res.ok) {
      const text = await res.text().catch(() => '');
      throw new Error(`the server refused output ${file} (HTTP ${res.status}): ${text.slice(0, 500)}`);
    }
  }

  /** The job's S3 bucket, when its storage is S3: opened once per configuration. */
  private bucketOf(storage: WorkerS3Storage): Promise<ArtifactStorage & { close?(): Promise<void> }> {
    const key = JSON.stringify(storage);
    let bucket = this.buckets.get(key);
    if (!bucket) {
      bucket = openArtifactStorage(
        {
          values: {
            'blob.dir': join(this.options.workDir, 's3'),
            'storage.backend': 's3',
            'storage.s3.bucket': storage.bucket,
            'storage.s3.prefix': storage.prefix,
            'storage.s3.endpoint': storage.endpoint,
            'storage.s3.region': storage.region,
            'storage.s3.forcePathStyle': storage.forcePathStyle,
          },
        },
        { env: this.options.env },
      );
      this.buckets.set(key, bucket);
      // A bucket that could not be opened (no credentials here) is tried again for the next job.
      bucket.catch(() => this.buckets.delete(key));
    }
    return bucket;
  }

  private async fetchInputs(
    job: AgentJob,
    blobs: Record<string, WorkerBlob>,
    release: (() => void)[],
    s3?: ArtifactStorage,
  ): Promise<Record<string, InputSpec>> {
    const out: Record<string, InputSpec> = {};
    for (const [name, blob] of Object.entries(blobs)) {
      this.blobs.set(blob.hash, { jobId: job.jobId, epoch: job.epoch, size: blob.size, s3 });
      const lease = await this.cache.acquire(blob.hash, { signal: job.abort.signal });
      release.push(() => lease.release());
      out[name] = { path: lease.path, serializer: blob.serializer };
    }
    return out;
  }

  private async runJob(assign: ServerJobAssign): Promise<void> {
    const earlier = this.jobs.get(assign.jobId);
    if (earlier) this.cancelJob(earlier, `leased to this worker again (lease ${assign.epoch})`);
    const job: AgentJob = {
      jobId: assign.jobId,
      epoch: assign.epoch,
      abort: new AbortController(),
      canceled: false,
      handle: undefined,
      gpus: assign.gpus ?? [],
    };
    this.jobs.set(job.jobId, job);
    const ref = { jobId: job.jobId, epoch: job.epoch };
    const dir = join(
      this.options.workDir,
      'jobs',
      `${job.jobId.replace(/[^A-Za-z0-9_.-]/g, '_')}-${job.epoch}`,
    );
    const release: (() => void)[] = [];
    /** Its slot, given back once its process has ended. */
    let slot: (() => void) | undefined;
    this.options.report(`job ${job.jobId} (lease ${job.epoch}): ${assign.node} started`);
    try {
      let handle: RunningJob;
      let bucket: ArtifactStorage | undefined;
      const outputDir = join(dir, 'outputs');
      /** Small outputs read when their `output` event came, by file name. */
      const early = new Map<string, Promise<Buffer | undefined>>();
      try {
        const code = await this.codeDirs.acquire(assign.code);
        release.push(code.release);
        const codeDir = code.dir;
        const s3 = assign.storage ? await this.bucketOf(assign.storage) : undefined;
        if (s3 && assign.storage) {
          this.send({
            type: 'job.log',
            ...ref,
            stream: 'engine',
            text: `[deepforge] inputs and outputs straight from and to s3://${assign.storage.bucket} (this worker's credentials)`,
          });
        }
        const inputs = await this.fetchInputs(job, assign.inputs, release, s3);
        const references = await this.fetchInputs(job, assign.references, release, s3);
        bucket = s3;
        slot = await this.slots.take(job.abort.signal);
        if (job.canceled) throw new Error('canceled before it started');
        const request: ComputeJobRequest = {
          jobId: job.jobId,
          // The worker's own marker: a server on this machine recovering its dead runners never takes these.
          runnerId: this.workerId,
          spec: {
            v: RUNTIME_PROTOCOL_VERSION,
            codeDir,
            operation: assign.operation,
            attributes: assign.attributes,
            references,
            inputs,
            outputs: assign.outputs,
            outputDir,
            workDir: join(dir, 'work'),
            debug: false,
            outputHashes: true,
            outputContentIds: true,
            usage: true,
            announceExit: true,
            // Small outputs in their events, which go to the server as the harness wrote them (ADR 0035).
            ...(assign.outputInlineMaxBytes !== undefined && !s3
              ? { outputInlineMaxBytes: assign.outputInlineMaxBytes }
              : {}),
          },
          jobDir: dir,
          // The server keeps the job's log from the lines sent to it: no copy here.
          logFile: null,
          logMaxBytes: assign.logMaxBytes,
          timeoutMs: assign.timeoutMs,
          python: this.options.python,
          secretEnv: assign.secretEnv,
          // The GPUs the server leased with the job, exactly: a job leased none on a GPU machine sees none, or it
          // could take memory of the GPUs other jobs hold.
          ...(assign.gpus || (this.options.gpus?.length ?? 0) > 0 ? { gpuDevices: assign.gpus ?? [] } : {}),
        };
        handle = await this.compute.start(request, {
          onEvent: (event) => {
            // A small output is read as soon as the harness has written it (whole, synced), while the process
            // exits, for job.finished to carry it.
            if (
              event.type === 'output' &&
              event.data === undefined &&
              !s3 &&
              inlineable(event, early.size) &&
              !early.has(event.file)
            ) {
              early.set(
                event.file,
                readFile(join(outputDir, event.file)).catch(() => undefined),
              );
            }
            this.send({ type: 'job.event', ...ref, event });
          },
          onLog: (line) =>
            this.send({
              type: 'job.log',
              ...ref,
              stream: line.stream,
              text: line.text,
              ...(line.transient ? { transient: true } : {}),
            }),
        });
      } catch (err) {
        const message = (err as Error).message ?? String(err);
        this.options.report(`job ${job.jobId} (lease ${job.epoch}): could not start: ${message}`);
        this.send({
          type: 'job.start-failed',
          ...ref,
          message,
          ...(err instanceof EnvironmentError ? { kind: 'environment' as const } : {}),
        });
        return;
      }
      job.handle = handle;
      this.send({ type: 'job.started', ...ref, pid: handle.pid });
      if (job.canceled) handle.cancel();
      const result = await handle.result;
      slot?.();
      let outcome = result.outcome;
      const stored: Record<string, { hash: string; size: number }> = {};
      const files: { file: string; base64: string }[] = [];
      if (outcome === 'exited' && result.exitCode === 0 && !result.error && !job.canceled) {
        // Cut off from the server (it restarts), outputs wait until it has taken this worker back: it then knows
        // whether the job is still this worker's.
        for (const until = Date.now() + UPLOAD_RETRY_MS; !this.welcomed && !bucket && Date.now() < until;) {
          await new Promise((r) => setTimeout(r, 100));
        }
        try {
          for (const o of result.outputs) {
            // Its bytes went to the server in its event: it has no file.
            if (o.data !== undefined) continue;
            const path = join(outputDir, o.file);
            if (!bucket) {
              // A small output goes with job.finished: one request less per job (most outputs are small).
              if (inlineable(o, files.length)) {
                // The size the harness wrote; the bytes read decide.
                const bytes = (await early.get(o.file)) ?? (await readFile(path));
                if (bytes.length <= INLINE_OUTPUT_MAX_BYTES) {
                  files.push({ file: o.file, base64: bytes.toString('base64') });
                  continue;
                }
              }
              await this.upload(job, o.file, path);
              continue;
            }
            // Uploaded once, hashed as it goes: stored under its content id only when the bytes have it.
            const put = await bucket.putFile(path, { expectedHash: outputExpectedHash(o) });
            const check = await put.verified;
            if (check && !check.ok)
              throw new Error(`output ${o.name} did not have its content id: ${check.message}`);
            stored[o.name] = { hash: put.hash, size: put.size };
          }
        } catch (err) {
          this.options.report(`job ${job.jobId} (lease ${job.epoch}): ${(err as Error).message}`);
        }
      }
      if (outcome === 'lost') outcome = 'exited';
      this.send({
        type: 'job.finished',
        ...ref,
        outcome,
        exitCode: result.exitCode,
        signal: result.signal,
        stderrTail: result.stderrTail.slice(-1000),
        logTruncated: result.logTruncated,
        badEvents: result.badEvents,
        ...(files.length > 0 ? { files } : {}),
        ...(bucket ? { stored } : {}),
      });
      this.options.report(
        `job ${job.jobId} (lease ${job.epoch}): ${outcome}${result.exitCode !== null ? ` (exit code ${result.exitCode})` : ''}`,
      );
    } finally {
      slot?.();
      for (const r of release) r();
      // Forget which lease this job fetched its blobs under (another job may have taken one over since).
      for (const [hash, ref] of this.blobs) {
        if (ref.jobId === job.jobId && ref.epoch === job.epoch) this.blobs.delete(hash);
      }
      if (this.jobs.get(job.jobId) === job) this.jobs.delete(job.jobId);
      await removeJobDir(dir).catch(() => undefined);
    }
  }
}

/** Removed now, or never made; false when it is still there (not empty, say). */
function removed(remove: () => void): boolean {
  try {
    remove();
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'ENOENT';
  }
}

/**
 * Removes a job's folder: what the compute and the harness make in it by name (its spec, its empty work and output
 * folders), and as a tree only when something else is left (what the job wrote in its work folder, an output
 * file). By name, with calls that wait: four calls of ~20 µs of CPU each, where a tree's removal costs a `stat`
 * and a `readdir` per entry and each call handed to libuv's threads ~50 µs (a fan-out's profile on 2 cores). The
 * worker's event loop only relays its jobs' messages.
 */
async function removeJobDir(dir: string): Promise<void> {
  const known = [
    removed(() => unlinkSync(join(dir, 'job.json'))),
    removed(() => rmdirSync(join(dir, 'work'))),
    removed(() => rmdirSync(join(dir, 'outputs'))),
  ];
  if (known.every(Boolean) && removed(() => rmdirSync(dir))) return;
  await rm(dir, { recursive: true, force: true });
}
