import { appendFile, mkdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import type { Logger } from 'pino';
import { INPUT_PORT, OUTPUT_PORT, type JsonValue } from '@deepforge/core';
import {
  EXECUTION_EVENTS_VERSION,
  outputExpectedHash,
  RUNTIME_PROTOCOL_VERSION,
  type InputSpec,
  type JobError,
  type RuntimeEvent,
} from '@deepforge/protocol';
import { MissingArtifactError, type ArtifactService } from './artifact.service.js';
import type { Compute, ComputeResult, RunningJob } from './compute/job.compute.js';
import type { PythonInfo } from './compute/python-interpreter.js';
import type { EventBus } from './event-bus.js';
import { executionDetails, type ExecutionDetails } from './execution.views.js';
import {
  assertNever,
  descendants,
  isSuccessfulJobStatus,
  isTerminalJobStatus,
  isWaitingJobStatus,
  nextRunnable,
  type ExecutionStatus,
  type JobStatus,
  type PipelinePlan,
} from '@deepforge/core';
import { cacheKey, type PlannedNode } from './pipeline-plan.js';
import type { SlotPool } from './slot-pool.js';
import { codeDirOf, consoleLogOf, jobDirOf } from './execution/execution-files.js';
import type { ExecutionRunOptions, ExecutionSnapshot } from './execution/execution-snapshot.js';
import { CorruptBlobError, type ArtifactStorage, type BlobVerification } from './storage/artifact.storage.js';
import type {
  ExecutionRecord,
  ExecutionStore,
  JobOutputRecord,
  JobPatch,
  JobRecord,
} from './store/execution.store.js';
import type { MetricRecord, PlotRecord, ProgressRecord, TelemetryStore } from './store/telemetry.store.js';

/** What an execution run needs from the engine around it. */
export interface RunContext {
  dataDir: string;
  runnerId: string;
  store: ExecutionStore;
  telemetry: TelemetryStore;
  storage: ArtifactStorage;
  artifacts: ArtifactService;
  compute: Compute;
  bus: EventBus;
  slots: SlotPool;
  logger: Logger;
  python: PythonInfo;
  /** Milliseconds one operation may run; 0 = no limit. */
  timeoutMs: number;
  logMaxBytes: number;
  now(): number;
  /** The secrets of a project, as environment variables for its jobs (read when each job starts). */
  secretsFor(projectId: string): Promise<Record<string, string>>;
}

type Output = Omit<JobOutputRecord, 'jobId'>;

/** Telemetry is written to the database in batches: an operation may report thousands of metrics a second. */
const TELEMETRY_FLUSH_MS = 500;

/** A job waiting for a slot, with everything it needs to start. */
interface ReadyJob {
  inputs: Record<string, InputSpec>;
  references: Record<string, InputSpec>;
  cacheKey: string | null;
  /** Set when the job cannot run (a reference that cannot be found): it fails as soon as it starts. */
  error?: JobError;
}

/**
 * Drives one execution in this engine process: starts each job once everything upstream succeeded, at most
 * `concurrency` operations at once (and within the engine-wide slots), and ends the execution when no job can
 * make progress.
 *
 * Failure semantics: when a job fails, every job downstream of it is canceled at once (error `upstream-failed`,
 * naming the failed node) and never starts; jobs already running and branches that do not depend on the failed
 * job run to the end, so their results are kept for a resume. The execution then ends `failed`.
 */
export class ExecutionRun {
  readonly id: string;
  readonly done: Promise<ExecutionDetails>;
  /**
   * After `done`, once the background checks of this run's outputs have ended too: the details then (`failed`
   * if a check found an output corrupt after the execution ended).
   */
  readonly checked: Promise<ExecutionDetails>;
  private resolveDone!: (d: ExecutionDetails) => void;
  private rejectDone!: (err: unknown) => void;
  private resolveChecked!: (d: ExecutionDetails) => void;
  private rejectChecked!: (err: unknown) => void;
  private readonly jobs = new Map<string, JobRecord>();
  private readonly outputs = new Map<string, Map<string, Output>>();
  private readonly ready = new Map<string, ReadyJob>();
  /** Nodes whose work is in flight (a process, an inline Input/Output, a status write). */
  private readonly active = new Set<string>();
  private readonly handles = new Map<string, RunningJob>();
  /** Background checks of outputs stored under their harness's hash; they may end after the execution. */
  private readonly checks = new Set<Promise<void>>();
  /** Jobs downstream of a corrupt output that were running or starting: why they must stop. */
  private readonly stopReasons = new Map<string, { reason: string; upstream: string }>();
  /** An output of this run was found corrupt: the execution ends failed. */
  private corrupted = false;
  private runningOperations = 0;
  private canceled = false;
  private cancelReason = 'canceled by the user';
  private finished = false;
  private pumpRequested = false;
  private pumpActive = false;
  private readonly unsubscribeSlots: () => void;
  private readonly telemetry: TelemetryBuffer;
  /** The snapshot's plan in core's shape, for nextRunnable and descendants. */
  private readonly plan: PipelinePlan;

  constructor(
    private readonly ctx: RunContext,
    private execution: ExecutionRecord,
    jobs: readonly JobRecord[],
    outputs: readonly JobOutputRecord[],
    private readonly snapshot: ExecutionSnapshot,
    private readonly options: ExecutionRunOptions,
    /** The code snapshot's files by relative path: part of every cache key. */
    private readonly code: ReadonlyMap<string, string>,
  ) {
    this.id = execution.id;
    const { order, nodes } = snapshot.plan;
    this.plan = {
      order,
      upstream: Object.fromEntries(order.map((id) => [id, nodes[id]!.upstream])),
      downstream: Object.fromEntries(order.map((id) => [id, nodes[id]!.downstream])),
    };
    for (const j of jobs) this.jobs.set(j.node, j);
    const nodeOfJob = new Map(jobs.map((j) => [j.id, j.node]));
    for (const o of outputs) {
      const node = nodeOfJob.get(o.jobId);
      if (!node) continue;
      if (!this.outputs.has(node)) this.outputs.set(node, new Map());
      this.outputs.get(node)!.set(o.name, {
        name: o.name,
        hash: o.hash,
        size: o.size,
        serializer: o.serializer,
        pyType: o.pyType,
      });
    }
    this.done = new Promise((resolve, reject) => {
      this.resolveDone = resolve;
      this.rejectDone = reject;
    });
    // Nobody has to wait on `done`: a run that fails inside reports through it and the log.
    this.done.catch(() => undefined);
    this.checked = new Promise((resolve, reject) => {
      this.resolveChecked = resolve;
      this.rejectChecked = reject;
    });
    this.checked.catch(() => undefined);
    // `checked` follows `done`, and also settles when the run failed inside (with the details as stored).
    this.done.catch(() => this.settleChecked());
    this.unsubscribeSlots = ctx.slots.onRelease(() => this.requestPump());
    this.telemetry = new TelemetryBuffer(ctx.telemetry, ctx.logger);
  }

  /** Marks the execution running (it must be pending, failed or canceled) and starts scheduling. */
  async start(): Promise<void> {
    const now = this.ctx.now();
    const updated = await this.ctx.store.updateExecution(this.id, {
      status: 'running',
      startedAt: this.execution.startedAt ?? now,
      endedAt: null,
      runnerId: this.ctx.runnerId,
    });
    this.execution = updated!;
    this.emitExecution('running');
    this.requestPump();
  }

  /** Stops everything: pending jobs are canceled, running processes are killed. */
  cancel(reason = 'canceled by the user'): void {
    if (this.canceled || this.finished) return;
    this.canceled = true;
    this.cancelReason = reason;
    for (const h of this.handles.values()) h.cancel();
    this.requestPump();
  }

  get isFinished(): boolean {
    return this.finished;
  }

  // ── scheduling ────────────────────────────────────────────────────────────────────────────────────────

  private requestPump(): void {
    if (this.finished) return;
    this.pumpRequested = true;
    if (!this.pumpActive) void this.pumpLoop();
  }

  private async pumpLoop(): Promise<void> {
    this.pumpActive = true;
    try {
      while (this.pumpRequested && !this.finished) {
        this.pumpRequested = false;
        await this.pumpOnce();
      }
    } catch (err) {
      await this.crash(err);
    } finally {
      this.pumpActive = false;
    }
  }

  private node(id: string): PlannedNode {
    return this.snapshot.plan.nodes[id]!;
  }

  private job(node: string): JobRecord {
    return this.jobs.get(node)!;
  }

  private async pumpOnce(): Promise<void> {
    const order = this.snapshot.plan.order;
    if (this.canceled) {
      for (const node of order) {
        const job = this.job(node);
        if (isWaitingJobStatus(job.status) && !this.active.has(node)) {
          this.ready.delete(node);
          await this.setStatus(node, 'canceled', {
            endedAt: this.ctx.now(),
            error: { kind: 'canceled', message: this.cancelReason },
          });
        }
      }
    } else {
      // Jobs whose upstream all succeeded become queued, with their inputs worked out (or a cache hit) at once.
      const statuses = Object.fromEntries([...this.jobs.values()].map((j) => [j.node, j.status]));
      for (const node of nextRunnable(this.plan, statuses)) {
        if (this.active.has(node)) continue;
        // A cache hit goes straight from pending to cached; everything else waits in the queue.
        if (await this.prepare(node)) continue;
        await this.setStatus(node, 'queued', { runnerId: this.ctx.runnerId });
        if (this.canceled) break;
      }
      // Queued jobs start while there are slots; Input and Output run inline and need none.
      for (const node of order) {
        if (this.canceled) break;
        const job = this.job(node);
        if (job.status !== 'queued' || this.active.has(node)) continue;
        const planned = this.node(node);
        if (planned.kind !== 'operation') {
          this.active.add(node);
          void this.runInline(node)
            .catch((err: unknown) => this.crash(err))
            .finally(() => {
              this.active.delete(node);
              this.requestPump();
            });
          continue;
        }
        const ready = this.ready.get(node);
        if (!ready) continue;
        if (ready.error) {
          // Fails at once, without taking a slot.
          this.active.add(node);
          void this.failAtStart(node, ready.error)
            .catch((err: unknown) => this.crash(err))
            .finally(() => {
              this.active.delete(node);
              this.requestPump();
            });
          continue;
        }
        if (
          this.runningOperations >= this.options.concurrency ||
          !this.ctx.slots.tryAcquire(this.options.concurrency)
        )
          continue;
        this.runningOperations++;
        this.active.add(node);
        void this.runOperation(node)
          .catch((err: unknown) => this.crash(err))
          .finally(() => {
            this.runningOperations--;
            this.active.delete(node);
            this.ctx.slots.release();
            this.requestPump();
          });
      }
    }
    if (this.active.size === 0 && !this.pumpRequested) await this.unstick();
    // The execution ends with its jobs: checks still running go on (docs/adr/0005), and one that fails later
    // turns the execution failed (lateCorruption).
    if (this.active.size === 0 && [...this.jobs.values()].every((j) => isTerminalJobStatus(j.status))) {
      await this.finish();
    }
  }

  /**
   * Nothing runs and nothing can start, yet jobs are not finished: they can never run (their upstream ended
   * without outputs). This should not happen; if it does, end them with a reason instead of hanging forever.
   */
  private async unstick(): Promise<void> {
    const statuses = Object.fromEntries([...this.jobs.values()].map((j) => [j.node, j.status]));
    if (nextRunnable(this.plan, statuses).length > 0) return;
    if ([...this.ready.keys()].some((n) => this.job(n).status === 'queued')) return;
    for (const node of this.plan.order) {
      const job = this.job(node);
      if (job.status !== 'pending' && job.status !== 'queued') continue;
      const blocker =
        this.node(node).upstream.find((u) => !isSuccessfulJobStatus(this.job(u).status)) ?? null;
      this.ctx.logger.error({ executionId: this.id, node, blocker }, 'a job could never run; canceling it');
      await this.setStatus(node, 'canceled', {
        endedAt: this.ctx.now(),
        error: blocker
          ? { kind: 'upstream-failed', message: `not run: ${blocker} did not succeed`, upstream: blocker }
          : { kind: 'engine', message: 'not run: the scheduler could not start it' },
      });
    }
  }

  /**
   * Works out a runnable operation's inputs, references and cache key while it is still pending. Returns true
   * when the cache had its outputs (the job is then `cached`).
   */
  private async prepare(node: string): Promise<boolean> {
    const planned = this.node(node);
    if (planned.kind !== 'operation') return false;
    const job = this.job(node);
    const inputs: Record<string, InputSpec> = {};
    const inputKeys: Record<string, string> = {};
    const notReady = (error: JobError): false => {
      this.ready.set(node, { inputs, references: {}, cacheKey: null, error });
      return false;
    };
    for (const [port, from] of Object.entries(planned.inputs)) {
      const out = this.outputs.get(from.node)?.get(from.port);
      if (!out)
        return notReady({
          kind: 'engine',
          message: `the output ${from.node}.${from.port} it needs was not recorded`,
        });
      inputs[port] = { path: this.blobPath(out.hash), serializer: out.serializer };
      inputKeys[port] = out.hash;
    }
    const references: Record<string, InputSpec> = {};
    const referenceKeys: Record<string, string> = {};
    const pipelineNode = this.snapshot.pipeline.nodes.find((n) => n.id === node)!;
    for (const [ref, artifactName] of Object.entries(pipelineNode.references)) {
      try {
        const a = await this.ctx.artifacts.resolve(artifactName, this.artifactContext());
        references[ref] = { path: this.blobPath(a.hash), serializer: a.serializer };
        referenceKeys[ref] = a.hash;
      } catch (err) {
        return notReady(this.errorOf(err, `reference ${ref}`));
      }
    }
    const key = cacheKey({
      operationCode: this.code.get(`operations/${planned.operation}.py`) ?? '',
      supportCode: Object.fromEntries(
        [...this.code].filter(([rel]) => rel.startsWith('utils/') || rel.startsWith('serializers/')),
      ),
      attributes: this.snapshot.effectiveAttributes[node] ?? {},
      inputs: inputKeys,
      references: referenceKeys,
      runtimeVersion: this.ctx.python.runtimeVersion,
      interpreter: `${this.ctx.python.executable} ${this.ctx.python.version}`,
    });
    if (this.options.cache) {
      for (const candidate of await this.ctx.store.findCacheCandidates(key, 5)) {
        if (candidate.job.id === job.id) continue;
        const names = new Set(candidate.outputs.map((o) => o.name));
        if (!planned.outputs.every((o) => names.has(o))) continue;
        const present = await Promise.all(candidate.outputs.map((o) => this.ctx.storage.has(o.hash)));
        if (!present.every(Boolean)) continue;
        const outs = candidate.outputs.map(({ name, hash, size, serializer, pyType }) => ({
          name,
          hash,
          size,
          serializer,
          pyType,
        }));
        const now = this.ctx.now();
        const done = await this.ctx.store.completeJob(job.id, 'cached', outs, {
          cacheKey: key,
          cachedFrom: candidate.job.id,
          startedAt: now,
          endedAt: now,
          error: null,
          exitCode: null,
        });
        this.recordOutputs(node, outs);
        this.updated(done);
        await this.logLine(
          node,
          `[deepforge] cached: reusing the outputs of ${candidate.job.id} (cache key ${key.slice(0, 12)})`,
        );
        return true;
      }
    }
    this.ready.set(node, { inputs, references, cacheKey: key });
    return false;
  }

  /** A job that cannot run still starts (the state machine goes through running) and fails at once. */
  private async failAtStart(node: string, error: JobError): Promise<void> {
    this.ready.delete(node);
    const job = this.job(node);
    await this.setStatus(node, 'running', {
      attempt: job.attempt + 1,
      startedAt: this.ctx.now(),
      endedAt: null,
      error: null,
      exitCode: null,
      runnerId: this.ctx.runnerId,
    });
    await this.fail(node, error);
  }

  private artifactContext() {
    return {
      refs: this.snapshot.artifacts,
      projectDir: this.snapshot.projectDir,
      projectId: this.execution.projectId,
    };
  }

  private blobPath(hash: string): string {
    const p = this.ctx.storage.path(hash);
    // Only local stores can run local jobs; a remote store will stage inputs through a cache dir instead.
    if (p === undefined) throw new Error('the artifact storage has no local paths; local compute needs one');
    return p;
  }

  private recordOutputs(node: string, outs: readonly Output[]): void {
    this.outputs.set(node, new Map(outs.map((o) => [o.name, o])));
  }

  // ── running jobs ──────────────────────────────────────────────────────────────────────────────────────

  /** Input (artifact → data) and Output (data → artifact) need no process. */
  private async runInline(node: string): Promise<void> {
    const planned = this.node(node);
    const job = this.job(node);
    await this.setStatus(node, 'running', {
      attempt: job.attempt + 1,
      startedAt: this.ctx.now(),
      endedAt: null,
      error: null,
      exitCode: null,
      runnerId: this.ctx.runnerId,
    });
    const attributes = this.snapshot.attributes[node] ?? {};
    try {
      if (planned.kind === 'input') {
        const name = String(attributes.artifact);
        const a = await this.ctx.artifacts.resolve(name, this.artifactContext());
        const out: Output = {
          name: INPUT_PORT,
          hash: a.hash,
          size: a.size,
          serializer: a.serializer,
          pyType: a.pyType ?? 'unknown',
        };
        await this.complete(node, [out]);
        await this.logLine(
          node,
          `[deepforge] artifact "${name}": ${a.hash} (${a.size} bytes, ${a.serializer})`,
        );
      } else if (planned.kind === 'output') {
        const from = planned.inputs[OUTPUT_PORT]!;
        const out = this.outputs.get(from.node)?.get(from.port);
        if (!out) throw new Error(`the output ${from.node}.${from.port} it saves was not recorded`);
        const saveName = String(attributes.saveName);
        const artifact = await this.ctx.artifacts.record({
          projectId: this.execution.projectId,
          name: saveName,
          hash: out.hash,
          size: out.size,
          serializer: out.serializer,
          pyType: out.pyType,
          provenance: {
            kind: 'execution',
            executionId: this.id,
            jobId: this.job(from.node).id,
            node: from.node,
            output: from.port,
          },
        });
        await this.complete(node, []);
        await this.logLine(node, `[deepforge] saved artifact "${saveName}" (${artifact.id}): ${out.hash}`);
      }
    } catch (err) {
      await this.fail(node, this.errorOf(err, planned.kind === 'input' ? 'Input' : 'Output'));
    }
    await this.markIfStopped(node);
  }

  private async runOperation(node: string): Promise<void> {
    const planned = this.node(node);
    const job = this.job(node);
    const ready = this.ready.get(node)!;
    this.ready.delete(node);
    const attempt = job.attempt + 1;
    const jobDir = jobDirOf(this.ctx.dataDir, this.id, node);
    const logFile = consoleLogOf(this.ctx.dataDir, this.id, node);
    await mkdir(jobDir, { recursive: true });
    if (attempt > 1) {
      await this.ctx.telemetry.clearTelemetry(job.id);
      await appendFile(logFile, `\n[deepforge] ── attempt ${attempt} ──\n`);
    }
    const running: JobPatch = {
      attempt,
      startedAt: this.ctx.now(),
      endedAt: null,
      error: null,
      exitCode: null,
      pid: null,
      pgid: null,
      runnerId: this.ctx.runnerId,
      cacheKey: ready.cacheKey,
    };
    if (this.canceled || this.stopReasons.has(node)) {
      // Still queued: it may go straight to canceled.
      await this.setStatus(node, 'canceled', { endedAt: this.ctx.now(), error: this.stopError(node) });
      return;
    }
    const outputDir = await this.ctx.storage.createStagingDir(`${this.id}-${node}-${attempt}`);
    try {
      let handle: RunningJob;
      try {
        handle = await this.ctx.compute.start(
          {
            jobId: job.id,
            runnerId: this.ctx.runnerId,
            spec: {
              v: RUNTIME_PROTOCOL_VERSION,
              codeDir: codeDirOf(this.ctx.dataDir, this.id),
              operation: { file: `operations/${planned.operation}.py`, className: planned.operation },
              attributes: this.snapshot.attributes[node] ?? {},
              references: ready.references,
              inputs: ready.inputs,
              outputs: planned.outputs,
              outputDir,
              workDir: join(jobDir, 'work'),
              debug: false,
              // Big outputs come with their content id: stored at once, checked in the background. Both asks:
              // an older harness knows only outputHashes (docs/adr/0006).
              outputHashes: true,
              outputContentIds: true,
            },
            jobDir,
            logFile,
            logMaxBytes: this.ctx.logMaxBytes,
            timeoutMs: this.ctx.timeoutMs,
            python: this.ctx.python.command,
            secretEnv: await this.ctx.secretsFor(this.execution.projectId),
          },
          {
            onEvent: (e) => this.runtimeEvent(node, e),
            onLog: (l) =>
              this.emitJobEvent(node, {
                type: 'job.log',
                stream: l.stream,
                text: l.text,
                ...(l.transient ? { transient: true } : {}),
              }),
          },
        );
      } catch (err) {
        // Every failure passes through running (core's state machine).
        await this.setStatus(node, 'running', running);
        await this.fail(node, { kind: 'engine', message: (err as Error).message });
        return;
      }
      this.handles.set(node, handle);
      // `running` is recorded once the process exists, with its pid, in one write. Should the engine die before
      // this write, the job is still `queued` and recovery finds its process by the job's marker.
      await this.setStatus(node, 'running', { ...running, pid: handle.pid, pgid: handle.pgid });
      if (this.canceled || this.stopReasons.has(node)) handle.cancel();
      const result = await handle.result;
      this.handles.delete(node);
      await this.telemetry.flush();
      await this.finishOperation(node, result, outputDir);
    } finally {
      await rm(outputDir, { recursive: true, force: true }).catch(() => undefined);
    }
  }

  private async finishOperation(node: string, result: ComputeResult, outputDir: string): Promise<void> {
    const planned = this.node(node);
    const endedAt = this.ctx.now();
    switch (result.outcome) {
      case 'canceled':
        await this.setStatus(node, 'canceled', {
          endedAt,
          exitCode: result.exitCode,
          error: this.stopError(node),
        });
        return;
      case 'timeout':
        await this.fail(
          node,
          {
            kind: 'timeout',
            message: `ran longer than ${this.ctx.timeoutMs / 1000} s (executions.timeout) and was stopped`,
          },
          { exitCode: result.exitCode },
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
              (result.signal
                ? `the Python process was killed by ${result.signal}`
                : `the Python process exited with code ${result.exitCode}`) +
              (result.stderrTail.length > 0 ? `: ${result.stderrTail[result.stderrTail.length - 1]}` : ''),
          };
      await this.fail(node, error, { exitCode: result.exitCode });
      return;
    }
    // Success: every declared output must be there; each is renamed into the blob store (durably) before the
    // job and its outputs are recorded, together, in one transaction. An output that came with its sha256 (the
    // harness hashed it while writing it) is stored under that hash without being read first; its check runs in
    // the background, downstream jobs may start meanwhile, and the execution ends only once it is done.
    const events = new Map(result.outputs.map((o) => [o.name, o]));
    const outs: Output[] = [];
    const checks: { name: string; hash: string; verified: Promise<BlobVerification> }[] = [];
    for (const name of planned.outputs) {
      const ev = events.get(name);
      if (!ev) {
        await this.fail(
          node,
          { kind: 'output', message: `the operation finished but did not save its output ${name}` },
          { exitCode: 0 },
        );
        return;
      }
      try {
        const blob = await this.ctx.storage.putFile(join(outputDir, ev.file), {
          move: true,
          expectedHash: outputExpectedHash(ev),
        });
        outs.push({ name, hash: blob.hash, size: blob.size, serializer: ev.serializer, pyType: ev.pyType });
        if (blob.verified) checks.push({ name, hash: blob.hash, verified: blob.verified });
      } catch (err) {
        if (err instanceof CorruptBlobError) this.logCorrupt(node, name, err.expected, err.message);
        await this.fail(
          node,
          {
            kind: 'output',
            message:
              err instanceof CorruptBlobError
                ? `output ${name} is corrupt: ${err.message}`
                : `output ${name} could not be stored: ${(err as Error).message}`,
          },
          { exitCode: 0 },
        );
        return;
      }
    }
    await this.complete(node, outs, { exitCode: 0, endedAt });
    for (const c of checks) this.trackCheck(node, c.name, c.hash, c.verified);
    await this.markIfStopped(node);
  }

  // ── background checks of outputs ──────────────────────────────────────────────────────────────────────

  private trackCheck(node: string, output: string, hash: string, verified: Promise<BlobVerification>): void {
    const tracked: Promise<void> = verified
      .then(async (v) => {
        if (v.ok) return;
        const late = this.finished;
        await this.outputCorrupt(node, output, hash, v.message);
        if (late) await this.lateCorruption(node, output, hash);
      })
      .catch((err: unknown) =>
        this.finished
          ? this.ctx.logger.error({ err, executionId: this.id }, 'could not record a failed check')
          : this.crash(err),
      )
      .finally(() => {
        this.checks.delete(tracked);
        if (this.finished) {
          if (this.checks.size === 0) void this.settleChecked();
        } else {
          this.requestPump();
        }
      });
    this.checks.add(tracked);
  }

  /** A check that failed after the execution had ended `success`: it is `failed` now, and says so. */
  private async lateCorruption(node: string, output: string, hash: string): Promise<void> {
    const current = await this.ctx.store.getExecution(this.id);
    if (current?.status !== 'success') return;
    this.execution = (await this.ctx.store.updateExecution(this.id, { status: 'failed' }))!;
    this.ctx.logger.error(
      { executionId: this.id, node, output, hash },
      'an output was found corrupt after its execution ended: the execution is failed now',
    );
    this.emitExecution('failed');
  }

  private async settleChecked(): Promise<void> {
    try {
      const execution = (await this.ctx.store.getExecution(this.id)) ?? this.execution;
      this.resolveChecked(
        await executionDetails(this.ctx.store, this.ctx.dataDir, execution, this.ctx.now()),
      );
    } catch (err) {
      this.ctx.logger.error({ err, executionId: this.id }, 'could not read an execution after its checks');
      this.rejectChecked(err);
    }
  }

  private logCorrupt(node: string, output: string, hash: string, message: string): void {
    this.ctx.logger.error(
      { executionId: this.id, node, jobId: this.job(node).id, output, hash, why: message },
      `CORRUPT OUTPUT: ${node}.${output} (${hash}) does not hold the bytes its job wrote; it is not used: ${message}`,
    );
  }

  /**
   * An output that was recorded (and maybe already used) turned out not to hold the bytes its job wrote; its
   * blob is in quarantine now. The job keeps its `success` status (core's state machine has no way back from
   * it) but carries the error and loses its cache key, so nothing reuses it; every job downstream of the output
   * is canceled if it has not started, stopped if it runs, and marked with the error if it already ran on the
   * bad bytes. The execution ends `failed`, and a resume says the output is no longer in the store.
   */
  private async outputCorrupt(node: string, output: string, hash: string, why: string): Promise<void> {
    this.corrupted = true;
    this.logCorrupt(node, output, hash, why);
    const message = `output ${output} is corrupt: ${why}`;
    await this.markJob(node, { kind: 'output', message });
    await this.logLine(node, `[deepforge] ERROR: ${message}`);
    const consumers = this.plan.order.filter((n) =>
      Object.values(this.node(n).inputs).some((from) => from.node === node && from.port === output),
    );
    const reason = `its input ${node}.${output} (${hash}) is corrupt`;
    const affected = new Set([...consumers, ...descendants(this.plan, consumers)]);
    for (const d of this.plan.order.filter((n) => affected.has(n))) {
      const job = this.job(d);
      const error: JobError = { kind: 'upstream-failed', message: reason, upstream: node };
      if (isWaitingJobStatus(job.status) && !this.active.has(d)) {
        this.ready.delete(d);
        await this.setStatus(d, 'canceled', {
          endedAt: this.ctx.now(),
          error: { ...error, message: `not run: ${reason}` },
        });
      } else if (!isTerminalJobStatus(job.status) || this.active.has(d)) {
        this.stopReasons.set(d, { reason, upstream: node });
        this.handles.get(d)?.cancel();
      } else if (isSuccessfulJobStatus(job.status)) {
        await this.markJob(d, { ...error, message: `ran on a corrupt input: ${reason}` });
        await this.logLine(d, `[deepforge] ERROR: ran on a corrupt input: ${reason}`);
      }
    }
  }

  /** A job told to stop (its input was found corrupt) that finished before it could: mark what it made. */
  private async markIfStopped(node: string): Promise<void> {
    const stop = this.stopReasons.get(node);
    if (!stop || !isSuccessfulJobStatus(this.job(node).status)) return;
    const message = `ran on a corrupt input: ${stop.reason}`;
    await this.markJob(node, { kind: 'upstream-failed', message, upstream: stop.upstream });
    await this.logLine(node, `[deepforge] ERROR: ${message}`);
  }

  /** Why a job that was stopped (or never started) ended canceled. */
  private stopError(node: string): JobError {
    const stop = this.stopReasons.get(node);
    return stop
      ? { kind: 'upstream-failed', message: `stopped: ${stop.reason}`, upstream: stop.upstream }
      : { kind: 'canceled', message: this.cancelReason };
  }

  /** Puts an error on a job that already ended, and takes it out of the cache. */
  private async markJob(node: string, error: JobError): Promise<void> {
    const updated = await this.ctx.store.updateJob(this.job(node).id, { error, cacheKey: null });
    this.updated(updated);
  }

  private runtimeEvent(node: string, e: Exclude<RuntimeEvent, { type: 'log' }>): void {
    const job = this.job(node);
    switch (e.type) {
      case 'plot': {
        const payload = {
          figure: e.figure,
          seq: e.seq,
          ...(e.title !== undefined ? { title: e.title } : {}),
          ...(e.svg !== undefined ? { svg: e.svg } : {}),
          ...(e.png !== undefined ? { png: e.png } : {}),
          axes: e.axes,
        };
        this.telemetry.plot({
          jobId: job.id,
          figure: e.figure,
          seq: e.seq,
          payload: payload as Record<string, JsonValue>,
          t: e.t,
        });
        this.emitJobEvent(node, { type: 'job.plot', ...payload });
        return;
      }
      case 'metric':
        for (const [name, value] of Object.entries(e.values)) {
          this.telemetry.metric({ jobId: job.id, step: e.step, name, value, t: e.t });
        }
        this.emitJobEvent(node, { type: 'job.metric', step: e.step, values: e.values });
        return;
      case 'progress': {
        const payload = {
          bar: e.bar,
          ...(e.desc !== undefined ? { desc: e.desc } : {}),
          n: e.n,
          total: e.total,
          ...(e.unit !== undefined ? { unit: e.unit } : {}),
          ...(e.rate !== undefined ? { rate: e.rate } : {}),
          ...(e.done !== undefined ? { done: e.done } : {}),
        };
        this.telemetry.progress({
          jobId: job.id,
          bar: e.bar,
          payload: payload as Record<string, JsonValue>,
          t: e.t,
        });
        this.emitJobEvent(node, { type: 'job.progress', ...payload });
        return;
      }
      case 'hello':
      case 'phase':
      case 'output':
      case 'error':
        return;
      default:
        assertNever(e, 'runtime event');
    }
  }

  // ── status changes ────────────────────────────────────────────────────────────────────────────────────

  private async setStatus(node: string, to: JobStatus, patch: JobPatch = {}): Promise<void> {
    const job = this.job(node);
    const updated = await this.ctx.store.transitionJob(job.id, to, patch);
    this.updated(updated);
  }

  private async complete(node: string, outs: Output[], patch: JobPatch = {}): Promise<void> {
    const job = this.job(node);
    const updated = await this.ctx.store.completeJob(job.id, 'success', outs, {
      endedAt: this.ctx.now(),
      ...patch,
    });
    this.recordOutputs(node, outs);
    this.updated(updated);
  }

  /** Fails a job and cancels everything downstream of it, which can no longer run. */
  private async fail(node: string, error: JobError, patch: JobPatch = {}): Promise<void> {
    this.ready.delete(node);
    await this.setStatus(node, 'failed', { endedAt: this.ctx.now(), error, ...patch });
    await this.logLine(node, `[deepforge] failed: ${error.message}`);
    for (const d of descendants(this.plan, [node])) {
      const job = this.job(d);
      if (isWaitingJobStatus(job.status) && !this.active.has(d)) {
        this.ready.delete(d);
        await this.setStatus(d, 'canceled', {
          endedAt: this.ctx.now(),
          error: { kind: 'upstream-failed', message: `not run: ${node} failed`, upstream: node },
        });
      }
    }
  }

  private errorOf(err: unknown, what: string): JobError {
    if (err instanceof MissingArtifactError) return { kind: 'missing-artifact', message: err.message };
    return { kind: 'engine', message: `${what}: ${(err as Error).message ?? String(err)}` };
  }

  private updated(job: JobRecord): void {
    this.jobs.set(job.node, job);
    // Any status change may make other jobs runnable (a cache hit frees its downstream at once).
    this.requestPump();
    this.emitJobEvent(job.node, {
      type: 'job.status',
      operation: job.operation,
      status: job.status,
      attempt: job.attempt,
      ...(job.exitCode !== null ? { exitCode: job.exitCode } : {}),
      ...(job.error ? { error: job.error } : {}),
      ...(job.cachedFrom ? { cachedFrom: job.cachedFrom } : {}),
    });
  }

  private async logLine(node: string, text: string): Promise<void> {
    const file = consoleLogOf(this.ctx.dataDir, this.id, node);
    await mkdir(jobDirOf(this.ctx.dataDir, this.id, node), { recursive: true });
    await appendFile(file, text + '\n').catch(() => undefined);
    this.emitJobEvent(node, { type: 'job.log', stream: 'engine', text });
  }

  // ── events ────────────────────────────────────────────────────────────────────────────────────────────

  private emitExecution(status: ExecutionStatus): void {
    this.ctx.bus.emit({
      v: EXECUTION_EVENTS_VERSION,
      t: this.ctx.now(),
      executionId: this.id,
      type: 'execution.status',
      status,
      pipeline: this.execution.pipeline,
      project: this.execution.project,
      projectId: this.execution.projectId,
    });
  }

  private emitJobEvent(
    node: string,
    event:
      | {
          type: 'job.status';
          operation: string;
          status: JobStatus;
          attempt: number;
          exitCode?: number;
          error?: JobError;
          cachedFrom?: string;
        }
      | { type: 'job.log'; stream: 'stdout' | 'stderr' | 'engine'; text: string; transient?: boolean }
      | {
          type: 'job.plot';
          figure: number;
          seq: number;
          title?: string;
          svg?: string;
          png?: string;
          axes: Extract<RuntimeEvent, { type: 'plot' }>['axes'];
        }
      | { type: 'job.metric'; step: number | null; values: Record<string, number> }
      | {
          type: 'job.progress';
          bar: string;
          desc?: string;
          n: number;
          total: number | null;
          unit?: string;
          rate?: number | null;
          done?: boolean;
        },
  ): void {
    this.ctx.bus.emit({
      v: EXECUTION_EVENTS_VERSION,
      t: this.ctx.now(),
      executionId: this.id,
      jobId: this.job(node).id,
      node,
      ...event,
    });
  }

  // ── the end ───────────────────────────────────────────────────────────────────────────────────────────

  private async finish(): Promise<void> {
    if (this.finished) return;
    this.finished = true;
    this.unsubscribeSlots();
    try {
      await this.telemetry.flush();
      const statuses = [...this.jobs.values()].map((j) => j.status);
      const status: ExecutionStatus = this.canceled
        ? 'canceled'
        : this.corrupted || statuses.some((s) => s === 'failed' || s === 'canceled')
          ? 'failed'
          : 'success';
      this.execution = (await this.ctx.store.updateExecution(this.id, {
        status,
        endedAt: this.ctx.now(),
        runnerId: null,
      }))!;
      this.emitExecution(status);
      const details = await executionDetails(
        this.ctx.store,
        this.ctx.dataDir,
        this.execution,
        this.ctx.now(),
      );
      this.resolveDone(details);
      if (this.checks.size === 0) this.resolveChecked(details);
    } catch (err) {
      this.ctx.logger.error({ err, executionId: this.id }, 'could not record the end of an execution');
      this.rejectDone(err);
    }
  }

  /** Something went wrong in the engine itself: stop what runs and report through `done`. */
  private async crash(err: unknown): Promise<void> {
    this.ctx.logger.error({ err, executionId: this.id }, 'execution scheduling failed');
    if (this.finished) return;
    this.canceled = true;
    this.cancelReason = `engine error: ${(err as Error).message ?? String(err)}`;
    for (const h of this.handles.values()) h.cancel();
    await Promise.all([...this.handles.values()].map((h) => h.result.catch(() => undefined)));
    this.finished = true;
    this.unsubscribeSlots();
    // Best effort: leave nothing looking alive in the store.
    const error: JobError = { kind: 'engine', message: this.cancelReason };
    for (const job of this.jobs.values()) {
      if (isTerminalJobStatus(job.status)) continue;
      await this.ctx.store
        .transitionJob(job.id, job.status === 'running' ? 'failed' : 'canceled', {
          endedAt: this.ctx.now(),
          error,
        })
        .catch(() => undefined);
    }
    await this.ctx.store
      .updateExecution(this.id, { status: 'failed', endedAt: this.ctx.now(), runnerId: null })
      .catch(() => undefined);
    this.emitExecution('failed');
    this.rejectDone(err);
  }
}

/** Buffers metrics, plots and progress and writes them every TELEMETRY_FLUSH_MS, latest plot/bar only. */
class TelemetryBuffer {
  private metrics: MetricRecord[] = [];
  private plots = new Map<string, PlotRecord>();
  private progressRows = new Map<string, ProgressRecord>();
  private timer: NodeJS.Timeout | undefined;
  private flushing: Promise<void> = Promise.resolve();

  constructor(
    private readonly store: TelemetryStore,
    private readonly logger: Logger,
  ) {}

  metric(row: MetricRecord): void {
    this.metrics.push(row);
    this.schedule();
  }

  plot(row: PlotRecord): void {
    this.plots.set(`${row.jobId}\0${row.figure}`, row);
    this.schedule();
  }

  progress(row: ProgressRecord): void {
    this.progressRows.set(`${row.jobId}\0${row.bar}`, row);
    this.schedule();
  }

  private schedule(): void {
    if (this.timer) return;
    this.timer = setTimeout(() => {
      this.timer = undefined;
      void this.flush();
    }, TELEMETRY_FLUSH_MS);
    this.timer.unref();
  }

  flush(): Promise<void> {
    clearTimeout(this.timer);
    this.timer = undefined;
    const metrics = this.metrics;
    const plots = [...this.plots.values()];
    const progress = [...this.progressRows.values()];
    this.metrics = [];
    this.plots.clear();
    this.progressRows.clear();
    this.flushing = this.flushing.then(async () => {
      try {
        await this.store.appendMetrics(metrics);
        await this.store.upsertPlots(plots);
        await this.store.upsertProgress(progress);
      } catch (err) {
        this.logger.warn({ err }, 'could not store job telemetry');
      }
    });
    return this.flushing;
  }
}
