import { appendFile, mkdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { assertNever, INPUT_PORT, OUTPUT_PORT, type PortRef } from '@deepforge/core';
import type { InputSpec, JobError, SlurmJobOptions } from '@deepforge/protocol';
import { outputExpectedHash, RUNTIME_PROTOCOL_VERSION } from '@deepforge/protocol/engine';
import type { ArtifactContext, ArtifactService } from '../artifact.service.js';
import type { Compute, ComputeResult, RunningJob } from '../compute/job.compute.js';
import type { PythonInfo } from '../compute/python-interpreter.js';
import { EnvironmentError, NotFoundError } from '../errors.js';
import {
  CorruptBlobError,
  type ArtifactStorage,
  type BlobVerification,
} from '../storage/artifact.storage.js';
import type { BlobLease, JobFiles, OutputFolder } from '../storage/read-through.cache.js';
import type { JobPatch, JobRecord, NewJobOutput } from '../store/execution.store.js';
import type { JobStatus } from '@deepforge/core';
import type { ExecutionEvents } from './execution-events.js';
import { codeDirOf, consoleLogOf, jobDirOf } from './execution-files.js';
import type { ExecutionSnapshot } from './execution-snapshot.js';
import { jobErrorOf } from './job-error.js';
import type { JobBlob, ReadyJob } from './job-preparer.js';
import type { JobTelemetry } from './job-telemetry.js';
import type { OutputChecks } from './output-checks.js';

/**
 * Outputs up to this size come in their `output` events when the compute passes events on as written: stored from
 * memory, no file written, synced, renamed, read back and removed for each (docs/adr/0035).
 */
export const INLINE_OUTPUT_MAX_BYTES = 64 * 1024;

export interface JobRunnerContext {
  dataDir: string;
  runnerId: string;
  executionId: string;
  /** The project the execution belongs to: its secrets go to its jobs. */
  projectId: string;
  /** The labels a machine needs to run the node's job (remote workers); none when absent. */
  labelsFor?(node: string): readonly string[];
  /** The GPUs the node's job needs; none when absent. */
  gpusFor?(node: string): number;
  /** The node's Slurm options (its execution's, then its own); only the Slurm compute reads them. */
  slurmFor?(node: string): SlurmJobOptions;
  snapshot: ExecutionSnapshot;
  artifacts: ArtifactService;
  /** Where artifact names of Input nodes are looked up. */
  artifactContext: ArtifactContext;
  storage: ArtifactStorage;
  /** Local files of inputs and references: the storage's own, or fetched into the input cache. */
  blobFiles: JobFiles;
  compute: Compute;
  python: PythonInfo;
  /** Milliseconds one operation may run; 0 = no limit. */
  timeoutMs: number;
  logMaxBytes: number;
  now(): number;
}

/** What the runner reads and changes of the run it works for. */
export interface JobRunnerHost {
  job(node: string): JobRecord;
  /** An output recorded by a job of this run. */
  outputOf(from: PortRef): NewJobOutput | undefined;
  /** The run was canceled (by the user, or by an engine error): a job that has not started must not. */
  isCanceled(): boolean;
  /** Why the run was canceled. */
  cancelReason(): string;
  setStatus(node: string, to: JobStatus, patch?: JobPatch): Promise<void>;
  /** Records a job's success with its outputs, in one write. */
  complete(node: string, outputs: NewJobOutput[], patch?: JobPatch): Promise<void>;
  /** Fails a job (and cancels what can no longer run). */
  fail(node: string, error: JobError, patch?: JobPatch): Promise<void>;
}

/** A job's inputs and references without local files: for adapters that fetch them by content id. */
function byIdOnly(ready: ReadyJob): {
  inputs: Record<string, InputSpec>;
  references: Record<string, InputSpec>;
} {
  const specs = (blobs: Record<string, JobBlob>): Record<string, InputSpec> =>
    Object.fromEntries(
      Object.entries(blobs).map(([name, b]) => [name, { path: '', serializer: b.serializer }]),
    );
  return { inputs: specs(ready.inputs), references: specs(ready.references) };
}

/**
 * Runs one job from `queued` to its end: Input and Output nodes inline, operations as harness jobs on the compute
 * port (staging their outputs into the storage), and keeps the handles of those running, to stop them.
 */
export class JobRunner {
  private readonly handles = new Map<string, RunningJob>();
  /** Jobs getting their input files: aborted to stop them before their process exists. */
  private readonly fetching = new Map<string, { abort: AbortController; done: Promise<unknown> }>();

  constructor(
    private readonly ctx: JobRunnerContext,
    private readonly host: JobRunnerHost,
    private readonly events: ExecutionEvents,
    private readonly telemetry: JobTelemetry,
    private readonly checks: OutputChecks,
  ) {}

  /** Stops the running job of a node (it ends canceled); nothing when none runs. */
  stop(node: string): void {
    this.handles.get(node)?.cancel();
    this.fetching.get(node)?.abort.abort();
  }

  /** Stops every running job. */
  stopAll(): void {
    for (const h of this.handles.values()) h.cancel();
    for (const f of this.fetching.values()) f.abort.abort();
  }

  /** Resolves once every job running now has ended. */
  async settled(): Promise<void> {
    await Promise.all([
      ...[...this.handles.values()].map((h) => h.result.catch(() => undefined)),
      ...[...this.fetching.values()].map((f) => f.done.catch(() => undefined)),
    ]);
  }

  /** A job that cannot run still starts (the state machine goes through running) and fails at once. */
  async failAtStart(node: string, error: JobError): Promise<void> {
    const job = this.host.job(node);
    await this.host.setStatus(node, 'running', {
      attempt: job.attempt + 1,
      startedAt: this.ctx.now(),
      endedAt: null,
      error: null,
      exitCode: null,
      runnerId: this.ctx.runnerId,
    });
    await this.host.fail(node, error);
  }

  /** Input (artifact → data) and Output (data → artifact) need no process. */
  async runInline(node: string): Promise<void> {
    const { ctx, host } = this;
    const planned = ctx.snapshot.plan.nodes[node]!;
    const job = host.job(node);
    await host.setStatus(node, 'running', {
      attempt: job.attempt + 1,
      startedAt: ctx.now(),
      endedAt: null,
      error: null,
      exitCode: null,
      runnerId: ctx.runnerId,
    });
    const attributes = ctx.snapshot.attributes[node] ?? {};
    try {
      if (planned.kind === 'input') {
        const name = String(attributes.artifact);
        const a = await ctx.artifacts.resolve(name, ctx.artifactContext);
        const out: NewJobOutput = {
          name: INPUT_PORT,
          hash: a.hash,
          size: a.size,
          serializer: a.serializer,
          pyType: a.pyType ?? 'unknown',
        };
        await host.complete(node, [out]);
        await this.events.logLine(
          node,
          `[deepforge] artifact "${name}": ${a.hash} (${a.size} bytes, ${a.serializer})`,
        );
      } else if (planned.kind === 'output') {
        const from = planned.inputs[OUTPUT_PORT]!;
        const out = host.outputOf(from);
        if (!out) throw new Error(`the output ${from.node}.${from.port} it saves was not recorded`);
        const saveName = String(attributes.saveName);
        const artifact = await ctx.artifacts.record({
          projectId: ctx.projectId,
          name: saveName,
          hash: out.hash,
          size: out.size,
          serializer: out.serializer,
          pyType: out.pyType,
          provenance: {
            kind: 'execution',
            executionId: ctx.executionId,
            jobId: host.job(from.node).id,
            node: from.node,
            output: from.port,
          },
        });
        await host.complete(node, []);
        await this.events.logLine(
          node,
          `[deepforge] saved artifact "${saveName}" (${artifact.id}): ${out.hash}`,
        );
      }
    } catch (err) {
      await host.fail(node, jobErrorOf(err, planned.kind === 'input' ? 'Input' : 'Output'));
    }
    await this.checks.markIfStopped(node);
  }

  /**
   * An operation as a harness job on the compute port, with what `ready` says it needs. `processEnded` is told
   * once its process has ended, before its outputs are stored and its end recorded.
   */
  async runOperation(node: string, ready: ReadyJob, processEnded?: () => void): Promise<void> {
    const { ctx, host } = this;
    const job = host.job(node);
    const attempt = job.attempt + 1;
    const jobDir = jobDirOf(ctx.dataDir, ctx.executionId, node);
    const logFile = consoleLogOf(ctx.dataDir, ctx.executionId, node);
    // The job's files are pinned in the input cache until it has ended: nothing it reads is evicted under it.
    const leases: BlobLease[] = [];
    // Its folder is made while its inputs are fetched, and then where its outputs go is known: its own folder's
    // outputs/ as a rule (the harness makes it), a staging folder where a rename would not reach the storage.
    const made = mkdir(jobDir, { recursive: true });
    const outputs = made.then(() =>
      ctx.blobFiles.outputFolder(jobDir, `${ctx.executionId}-${node}-${attempt}`),
    );
    // Awaited below (a failure is the job's then), not left unhandled meanwhile.
    made.catch(() => undefined);
    outputs.catch(() => undefined);
    let outputsTaken = false;
    try {
      if (attempt > 1) {
        await made;
        await this.telemetry.clear(job.id);
        await appendFile(logFile, `\n[deepforge] ── attempt ${attempt} ──\n`);
      }
      const running: JobPatch = {
        attempt,
        startedAt: ctx.now(),
        endedAt: null,
        error: null,
        exitCode: null,
        pid: null,
        pgid: null,
        runnerId: ctx.runnerId,
        cacheKey: ready.cacheKey,
        // What an earlier attempt used is not this one's.
        ...(job.usage ? { usage: null } : {}),
      };
      if (host.isCanceled() || this.checks.isStopping(node)) {
        // Still queued: it may go straight to canceled.
        await host.setStatus(node, 'canceled', { endedAt: ctx.now(), error: this.stopError(node) });
        return;
      }
      let files: { inputs: Record<string, InputSpec>; references: Record<string, InputSpec> };
      try {
        // An adapter whose machines fetch inputs by content id (remote workers) needs no local copy here: its
        // inputs come with their serializers only, their ids in request.blobs.
        files = ctx.compute.fetchesInputsById ? byIdOnly(ready) : await this.fetchFiles(node, ready, leases);
      } catch (err) {
        if (host.isCanceled() || this.checks.isStopping(node)) {
          await host.setStatus(node, 'canceled', { endedAt: ctx.now(), error: this.stopError(node) });
          return;
        }
        // Every failure passes through running (core's state machine). Only this job fails: others run on.
        await host.setStatus(node, 'running', running);
        await host.fail(node, {
          kind: err instanceof NotFoundError ? 'missing-artifact' : 'engine',
          message: (err as Error).message,
        });
        return;
      }
      await made;
      // Stopped meanwhile: it may still go straight to canceled (nothing of it is started yet).
      if (host.isCanceled() || this.checks.isStopping(node)) {
        await host.setStatus(node, 'canceled', { endedAt: ctx.now(), error: this.stopError(node) });
        return;
      }
      outputsTaken = true;
      await this.runProcess(node, files, running, ready, outputs, processEnded);
    } finally {
      for (const l of leases) l.release();
      // Not run: a staging folder made for it goes (runProcess removes the one it took).
      if (!outputsTaken) {
        await outputs
          .then((o) => (o.temporary ? rm(o.path, { recursive: true, force: true }) : undefined))
          .catch(() => undefined);
      }
    }
  }

  /**
   * Gets a local file for each input and reference (all at once), into `leases`; throws the first failure,
   * naming the input and its blob. Stopping the job stops the downloads nobody else waits for.
   */
  private async fetchFiles(
    node: string,
    ready: ReadyJob,
    leases: BlobLease[],
  ): Promise<{ inputs: Record<string, InputSpec>; references: Record<string, InputSpec> }> {
    const abort = new AbortController();
    const one = async (blob: JobBlob): Promise<InputSpec> => {
      let lease: BlobLease;
      try {
        lease = await this.ctx.blobFiles.acquire(blob.hash, {
          signal: abort.signal,
          onDownload: (size) =>
            void this.events
              .logLine(
                node,
                `[deepforge] ${blob.what}: downloading ${size} bytes from the artifact storage into the input cache`,
              )
              .catch(() => undefined),
        });
      } catch (err) {
        const message = (err as Error).message ?? String(err);
        const e =
          err instanceof NotFoundError
            ? new NotFoundError(`${blob.what} could not be fetched: ${message}`)
            : new Error(`${blob.what} could not be fetched: ${message}`);
        throw e;
      }
      leases.push(lease);
      if (lease.source === 'cache') {
        await this.events.logLine(node, `[deepforge] ${blob.what}: read from the input cache`);
      }
      return { path: lease.path, serializer: blob.serializer };
    };
    const all = async (blobs: Record<string, JobBlob>): Promise<Record<string, InputSpec>> => {
      const entries = Object.entries(blobs);
      const settled = await Promise.allSettled(entries.map(([, b]) => one(b)));
      const failed = settled.find((r): r is PromiseRejectedResult => r.status === 'rejected');
      if (failed) throw failed.reason;
      return Object.fromEntries(
        entries.map(([name], i) => [name, (settled[i] as PromiseFulfilledResult<InputSpec>).value]),
      );
    };
    const done = (async () => ({
      inputs: await all(ready.inputs),
      references: await all(ready.references),
    }))();
    this.fetching.set(node, { abort, done });
    try {
      return await done;
    } finally {
      this.fetching.delete(node);
    }
  }

  /** The operation's process, from its start to its end, with its files at hand. */
  private async runProcess(
    node: string,
    files: { inputs: Record<string, InputSpec>; references: Record<string, InputSpec> },
    running: JobPatch,
    ready: ReadyJob,
    outputs: Promise<OutputFolder>,
    processEnded?: () => void,
  ): Promise<void> {
    const { ctx, host } = this;
    const planned = ctx.snapshot.plan.nodes[node]!;
    const job = host.job(node);
    const jobDir = jobDirOf(ctx.dataDir, ctx.executionId, node);
    const logFile = consoleLogOf(ctx.dataDir, ctx.executionId, node);
    const folder = await outputs;
    const outputDir = folder.path;
    // What the process prints before its `running` is recorded waits for it (and what follows it, in order):
    // whoever watches sees the job run before its first line (a job failing at once prints before that write).
    let held: (() => void)[] | undefined = [];
    const release = (): void => {
      const early = held;
      held = undefined;
      for (const f of early ?? []) f();
    };
    try {
      let handle: RunningJob;
      // An adapter may wait before the process exists (remote workers): stopping the job stops that wait.
      const starting = new AbortController();
      const hashes = (blobs: Record<string, JobBlob>): Record<string, string> =>
        Object.fromEntries(Object.entries(blobs).map(([name, b]) => [name, b.hash]));
      try {
        const started = ctx.compute.start(
          {
            jobId: job.id,
            runnerId: ctx.runnerId,
            spec: {
              v: RUNTIME_PROTOCOL_VERSION,
              codeDir: codeDirOf(ctx.dataDir, ctx.executionId),
              operation: { file: `operations/${planned.operation}.py`, className: planned.operation },
              attributes: ctx.snapshot.attributes[node] ?? {},
              references: files.references,
              ...(ready.architectures ? { architectures: ready.architectures } : {}),
              inputs: files.inputs,
              outputs: planned.outputs,
              outputDir,
              workDir: join(jobDir, 'work'),
              debug: false,
              // Big outputs come with their content id: stored at once, checked in the background. Both asks:
              // an older harness knows only outputHashes (docs/adr/0006).
              outputHashes: true,
              outputContentIds: true,
              // Small ones come in their events where the events arrive as written (docs/adr/0035).
              ...(ctx.compute.inlineOutputs && ctx.blobFiles.inlineOutputs
                ? { outputInlineMaxBytes: INLINE_OUTPUT_MAX_BYTES }
                : {}),
              usage: true,
              announceExit: true,
            },
            jobDir,
            // Made by runOperation before it came here.
            jobDirMade: true,
            logFile,
            logMaxBytes: ctx.logMaxBytes,
            timeoutMs: ctx.timeoutMs,
            python: ctx.python.command,
            secretEnv: ready.secretEnv,
            blobs: { inputs: hashes(ready.inputs), references: hashes(ready.references) },
            labels: ctx.labelsFor?.(node) ?? [],
            gpus: ctx.gpusFor?.(node) ?? 0,
            slurm: ctx.slurmFor?.(node) ?? {},
            signal: starting.signal,
          },
          {
            onEvent: (e) => this.telemetry.record(node, host.job(node).id, e),
            onLog: (l) => {
              const emit = (): void =>
                this.events.emitJob(node, {
                  type: 'job.log',
                  stream: l.stream,
                  text: l.text,
                  ...(l.transient ? { transient: true } : {}),
                });
              // The engine's own lines before the process (an environment's build, a wait) go out at once.
              if (held === undefined || (held.length === 0 && l.stream === 'engine')) emit();
              else held.push(emit);
            },
          },
        );
        this.fetching.set(node, { abort: starting, done: started });
        handle = await started;
      } catch (err) {
        // Whatever it printed is kept, before the end it comes to.
        release();
        if (starting.signal.aborted) {
          await host.setStatus(node, 'canceled', { endedAt: ctx.now(), error: this.stopError(node) });
          return;
        }
        // Every failure passes through running (core's state machine).
        await host.setStatus(node, 'running', running);
        await host.fail(node, {
          kind: err instanceof EnvironmentError ? 'environment' : 'engine',
          message: (err as Error).message,
        });
        return;
      } finally {
        this.fetching.delete(node);
      }
      this.handles.set(node, handle);
      // `running` is recorded once the process exists, with its pid, in one write. Should the engine die before
      // this write, the job is still `queued` and recovery finds its process by the job's marker.
      try {
        await host.setStatus(node, 'running', { ...running, pid: handle.pid, pgid: handle.pgid });
      } finally {
        release();
      }
      if (host.isCanceled() || this.checks.isStopping(node)) handle.cancel();
      const result = await handle.result;
      // The job ended with its process, before its slot goes to the next job: the intervals of the jobs of one
      // slot never overlap, however long storing the outputs takes.
      const endedAt = ctx.now();
      this.handles.delete(node);
      processEnded?.();
      await this.telemetry.flush();
      await this.finishOperation(node, result, outputDir, endedAt);
    } finally {
      // A success's outputs are in the storage; what a job that did not succeed wrote goes, and so does a staging
      // folder (an empty outputs/ stays in the job's folder: removing it would cost every job a call).
      if (folder.temporary || host.job(node).status !== 'success') {
        await rm(outputDir, { recursive: true, force: true }).catch(() => undefined);
      }
    }
  }

  private stopError(node: string): JobError {
    return this.checks.stopError(node, this.host.cancelReason());
  }

  private async finishOperation(
    node: string,
    result: ComputeResult,
    outputDir: string,
    endedAt: number,
  ): Promise<void> {
    const { ctx, host } = this;
    const planned = ctx.snapshot.plan.nodes[node]!;
    // Recorded with whatever the job ends as: a failed job's CPU time and memory say as much as a successful one's.
    const usage: JobPatch = result.usage ? { usage: result.usage } : {};
    switch (result.outcome) {
      case 'lost':
        await host.fail(
          node,
          {
            kind: 'runner-died',
            message: result.lostReason ?? 'the machine running the job was lost',
          },
          { endedAt },
        );
        return;
      case 'canceled':
        await host.setStatus(node, 'canceled', {
          endedAt,
          exitCode: result.exitCode,
          error: this.stopError(node),
          ...usage,
        });
        return;
      case 'timeout':
        await host.fail(
          node,
          {
            kind: 'timeout',
            message: `ran longer than ${ctx.timeoutMs / 1000} s (executions.timeout) and was stopped`,
          },
          { exitCode: result.exitCode, endedAt, ...usage },
        );
        return;
      case 'exited':
        break;
      default:
        assertNever(result.outcome, 'compute outcome');
    }
    if (result.exitCode !== 0 || result.error) {
      const e = result.error;
      const error: JobError = e
        ? {
            kind: e.kind,
            message: e.message,
            ...(e.traceback !== undefined ? { traceback: e.traceback } : {}),
            ...(e.frames !== undefined ? { frames: e.frames } : {}),
            ...(e.location !== undefined ? { location: e.location } : {}),
          }
        : {
            kind: 'crash',
            message:
              result.endedBy ??
              (result.signal
                ? `the Python process was killed by ${result.signal}`
                : `the Python process exited with code ${result.exitCode}`) +
                (result.stderrTail.length > 0 ? `: ${result.stderrTail[result.stderrTail.length - 1]}` : ''),
          };
      await host.fail(node, error, { exitCode: result.exitCode, endedAt, ...usage });
      return;
    }
    // Success: every declared output must be there; each is stored durably (renamed into a local blob store; an
    // upload that keeps the file in the input cache otherwise) before the job and its outputs are recorded,
    // together, in one transaction. An output that came with its sha256 (the harness hashed it while writing it) is
    // stored in a local store under that hash without being read first; its check runs in the background (ADR
    // 0005), downstream jobs may start meanwhile.
    const events = new Map(result.outputs.map((o) => [o.name, o]));
    const outs: NewJobOutput[] = [];
    const checks: { name: string; hash: string; verified: Promise<BlobVerification> }[] = [];
    for (const name of planned.outputs) {
      const ev = events.get(name);
      if (!ev) {
        await host.fail(
          node,
          { kind: 'output', message: `the operation finished but did not save its output ${name}` },
          { exitCode: 0, endedAt, ...usage },
        );
        return;
      }
      const stored = result.storedOutputs?.[name];
      if (stored) {
        // Stored by the machine that ran the job (a worker writing to S3 itself, ADR 0015): recorded only once
        // the storage has it, whole.
        const size = await ctx.storage.size(stored.hash).catch(() => undefined);
        if (size !== stored.size) {
          await host.fail(
            node,
            {
              kind: 'output',
              message: `output ${name} is not in the artifact storage as its worker said (${stored.hash}, ${stored.size} bytes)`,
            },
            { exitCode: 0, endedAt },
          );
          return;
        }
        outs.push({ name, hash: stored.hash, size, serializer: ev.serializer, pyType: ev.pyType });
        continue;
      }
      try {
        if (ev.data !== undefined) {
          // A small output that came in its event: hashed and stored from these very bytes (no file of it).
          const data = Buffer.from(ev.data, 'base64');
          if (data.length !== ev.size || data.length > INLINE_OUTPUT_MAX_BYTES) {
            await host.fail(
              node,
              {
                kind: 'output',
                message: `output ${name} is corrupt: its event carried ${data.length} bytes, not the ${ev.size} it announced (at most ${INLINE_OUTPUT_MAX_BYTES} come in an event)`,
              },
              { exitCode: 0, endedAt },
            );
            return;
          }
          const blob = await ctx.blobFiles.putOutputBytes(data);
          outs.push({ name, hash: blob.hash, size: blob.size, serializer: ev.serializer, pyType: ev.pyType });
          continue;
        }
        const blob = await ctx.blobFiles.putOutput(join(outputDir, ev.file), {
          expectedHash: outputExpectedHash(ev),
        });
        outs.push({ name, hash: blob.hash, size: blob.size, serializer: ev.serializer, pyType: ev.pyType });
        if (blob.verified) checks.push({ name, hash: blob.hash, verified: blob.verified });
      } catch (err) {
        if (err instanceof CorruptBlobError) this.checks.logCorrupt(node, name, err.expected, err.message);
        await host.fail(
          node,
          {
            kind: 'output',
            message:
              err instanceof CorruptBlobError
                ? `output ${name} is corrupt: ${err.message}`
                : `output ${name} could not be stored: ${(err as Error).message}`,
          },
          { exitCode: 0, endedAt },
        );
        return;
      }
    }
    await host.complete(node, outs, { exitCode: 0, endedAt, ...usage });
    for (const c of checks) this.checks.track(node, c.name, c.hash, c.verified);
    await this.checks.markIfStopped(node);
  }
}
