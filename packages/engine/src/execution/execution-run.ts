import type { Logger } from 'pino';
import {
  descendants,
  isSuccessfulJobStatus,
  isTerminalJobStatus,
  isWaitingJobStatus,
  type ExecutionStatus,
  type JobStatus,
  type PipelinePlan,
  type PortRef,
} from '@deepforge/core';
import type { JobError } from '@deepforge/protocol';
import { mergeSlurmOptions } from '@deepforge/protocol/engine';
import type { JobSecrets } from '../accounts/accounts.service.js';
import type { ArtifactService } from '../artifact.service.js';
import { gpusNeeded, type Compute } from '../compute/job.compute.js';
import type { PythonInfo } from '../compute/python-interpreter.js';
import type { EventBus } from '../event-bus.js';
import { executionDetails, type ExecutionDetails } from '../execution.views.js';
import type { SlotPool } from '../slot-pool.js';
import type { ArtifactStorage } from '../storage/artifact.storage.js';
import type { JobFiles } from '../storage/read-through.cache.js';
import { PlanOrderedSet } from './plan-ordered-set.js';
import type {
  ExecutionRecord,
  ExecutionStore,
  JobOutputRecord,
  JobPatch,
  JobRecord,
  NewJobOutput,
} from '../store/execution.store.js';
import type { TelemetryStore } from '../store/telemetry.store.js';
import { ExecutionEvents } from './execution-events.js';
import type { ExecutionRunOptions, ExecutionSnapshot } from './execution-snapshot.js';
import { JobPreparer, type ReadyJob } from './job-preparer.js';
import { JobRunner } from './job-runner.js';
import { JobTelemetry } from './job-telemetry.js';
import { OutputChecks } from './output-checks.js';

/**
 * Runnable jobs one turn of the pump prepares and queues (in one transaction) while others run: enough that a
 * fan-out costs few durable writes, few enough that the jobs running are not kept waiting long for the engine.
 * When none runs, a turn prepares only as many as may start, so that they start before the rest are prepared.
 */
const PREPARE_BATCH = 32;
/** How long the pump lets jobs it started get on (their files, their process) before it prepares more. */
const START_HEAD_MS = 20;

/** What an execution run needs from the engine around it. */
export interface RunContext {
  dataDir: string;
  runnerId: string;
  store: ExecutionStore;
  telemetry: TelemetryStore;
  storage: ArtifactStorage;
  /** Local files of jobs' inputs: the storage's own, or through the read-through input cache. */
  blobFiles: JobFiles;
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
  /**
   * The secrets of a project as environment variables for its jobs, with their keyed digest for cache keys (read
   * for each job as it is queued).
   */
  secretsFor(projectId: string): Promise<JobSecrets>;
  /** Where artifact names and cached jobs are looked up after the project's own (ArtifactContext). */
  fallbackProjectId?: string;
  /** The run reads no project folder, whatever its snapshot names (the web server's, outside its data dir). */
  noProjectFolder?: boolean;
}

/**
 * Drives one execution in this engine process: starts each job once everything upstream succeeded, at most
 * `concurrency` operations at once (and within the engine-wide slots), and ends the execution when no job can
 * make progress.
 *
 * Failure semantics: when a job fails, every job downstream of it is canceled at once (error `upstream-failed`,
 * naming the failed node) and never starts; jobs already running and branches that do not depend on the failed
 * job run to the end, so their results are kept for a resume. The execution then ends `failed`.
 *
 * This is the scheduling loop and the owner of the run's state (its jobs, their outputs, what is ready and what
 * is in flight); every status change goes through it. Its collaborators get narrow views of it: the preparer
 * (inputs, references, cache hits), the runner (one job from queued to its end), the output checks, the events
 * and the telemetry.
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
  private readonly outputs = new Map<string, Map<string, NewJobOutput>>();
  private readonly ready = new Map<string, ReadyJob>();
  /** Nodes whose work is in flight (a process, an inline Input/Output, a status write). */
  private readonly active = new Set<string>();
  private runningOperations = 0;
  /** Jobs whose process has ended and whose slot went to another job, storing and recording their outputs. */
  private finishingOperations = 0;
  private canceled = false;
  private cancelReason = 'canceled by the user';
  private finished = false;
  private pumpRequested = false;
  private pumpActive = false;
  private readonly unsubscribeSlots: () => void;
  /** The snapshot's plan in core's shape, for descendants and the sets below. */
  private readonly plan: PipelinePlan;
  /**
   * Pending jobs whose upstream all succeeded (what core's nextRunnable would list), and queued jobs: kept up to
   * date with every status change, so that a turn of the pump looks at these, not at every node (a fan-out of
   * hundreds turns the pump about five times per job).
   */
  private readonly runnable: PlanOrderedSet;
  private readonly queued: PlanOrderedSet;
  private readonly events: ExecutionEvents;
  private readonly telemetry: JobTelemetry;
  private readonly checks: OutputChecks;
  private readonly preparer: JobPreparer;
  private readonly runner: JobRunner;

  constructor(
    private readonly ctx: RunContext,
    private execution: ExecutionRecord,
    jobs: readonly JobRecord[],
    outputs: readonly JobOutputRecord[],
    private readonly snapshot: ExecutionSnapshot,
    private readonly options: ExecutionRunOptions,
    /** The code snapshot's files by relative path: part of every cache key. */
    code: ReadonlyMap<string, string>,
  ) {
    this.id = execution.id;
    const { order, nodes } = snapshot.plan;
    this.plan = {
      order,
      upstream: Object.fromEntries(order.map((id) => [id, nodes[id]!.upstream])),
      downstream: Object.fromEntries(order.map((id) => [id, nodes[id]!.downstream])),
    };
    for (const j of jobs) this.jobs.set(j.node, j);
    const index = new Map(order.map((node, i) => [node, i]));
    this.runnable = new PlanOrderedSet(index);
    this.queued = new PlanOrderedSet(index);
    for (const node of order) this.track(node);
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

    this.events = new ExecutionEvents({
      bus: ctx.bus,
      dataDir: ctx.dataDir,
      now: () => ctx.now(),
      execution,
      jobIdOf: (node) => this.job(node).id,
    });
    this.telemetry = new JobTelemetry(ctx.telemetry, this.events, ctx.logger);
    const job = (node: string): JobRecord => this.job(node);
    const outputOf = (from: PortRef): NewJobOutput | undefined => this.outputs.get(from.node)?.get(from.port);
    this.checks = new OutputChecks(
      { executionId: this.id, logger: ctx.logger, nodes, plan: this.plan },
      {
        job,
        isActive: (node) => this.active.has(node),
        isFinished: () => this.finished,
        cancelWaiting: async (node, error) => {
          this.ready.delete(node);
          await this.setStatus(node, 'canceled', { endedAt: this.ctx.now(), error });
        },
        stop: (node) => this.runner.stop(node),
        markJob: (node, error) => this.markJob(node, error),
        failAfterEnd: (node, output, hash) => this.lateCorruption(node, output, hash),
        crash: (err) => this.crash(err),
        requestPump: () => this.requestPump(),
        allChecked: () => void this.settleChecked(),
      },
      this.events,
    );
    const artifactContext = {
      refs: snapshot.artifacts,
      projectDir: ctx.noProjectFolder ? null : snapshot.projectDir,
      projectId: execution.projectId,
      ...(ctx.fallbackProjectId !== undefined ? { fallbackProjectId: ctx.fallbackProjectId } : {}),
    };
    this.preparer = new JobPreparer(
      {
        artifacts: ctx.artifacts,
        store: ctx.store,
        storage: ctx.storage,
        python: ctx.python,
        now: () => ctx.now(),
        snapshot,
        cache: options.cache,
        code,
        artifactContext,
        secrets: () => ctx.secretsFor(execution.projectId),
      },
      {
        job,
        outputOf,
        completeCached: (node, outs, patch) => this.completeJob(node, 'cached', outs, patch),
      },
      this.events,
    );
    const pipelineNodes = new Map(snapshot.pipeline.nodes.map((n) => [n.id, n]));
    // A node's labels: the execution's, the execution's for the node, and the node's own in the pipeline.
    const labelsOf = (node: string): string[] => [
      ...new Set([
        ...(options.labels ?? []),
        ...(options.nodeLabels?.[node] ?? []),
        ...(pipelineNodes.get(node)?.labels ?? []),
      ]),
    ];
    this.runner = new JobRunner(
      {
        dataDir: ctx.dataDir,
        runnerId: ctx.runnerId,
        executionId: this.id,
        projectId: execution.projectId,
        snapshot,
        artifacts: ctx.artifacts,
        artifactContext,
        storage: ctx.storage,
        blobFiles: ctx.blobFiles,
        compute: ctx.compute,
        python: ctx.python,
        timeoutMs: ctx.timeoutMs,
        logMaxBytes: ctx.logMaxBytes,
        now: () => ctx.now(),
        labelsFor: (node) => labelsOf(node),
        gpusFor: (node) => {
          // The node's count in the pipeline and the execution's for it: the larger wins (like labels, both hold).
          const own = pipelineNodes.get(node)?.gpus;
          const perNode = options.nodeGpus?.[node];
          const nodeGpus =
            own === undefined && perNode === undefined ? undefined : Math.max(own ?? 0, perNode ?? 0);
          return gpusNeeded(labelsOf(node), options.gpus, nodeGpus);
        },
        slurmFor: (node) => mergeSlurmOptions(options.slurm, options.nodeSlurm?.[node]),
      },
      {
        job,
        outputOf,
        isCanceled: () => this.canceled,
        cancelReason: () => this.cancelReason,
        setStatus: (node, to, patch) => this.setStatus(node, to, patch),
        complete: (node, outs, patch) => this.complete(node, outs, patch),
        fail: (node, error, patch) => this.fail(node, error, patch),
      },
      this.events,
      this.telemetry,
      this.checks,
    );
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
    this.events.emitExecution('running');
    this.requestPump();
  }

  /** Stops everything: pending jobs are canceled, running processes are killed. */
  cancel(reason = 'canceled by the user'): void {
    if (this.canceled || this.finished) return;
    this.canceled = true;
    this.cancelReason = reason;
    this.runner.stopAll();
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

  /** The last turn of the pump prepared only some of the runnable jobs (PREPARE_BATCH). */
  private preparedPart = false;
  /** Operations the pump started that have not left `queued` yet, and who waits for them to. */
  private readonly starting = new Set<string>();
  private startingSettled: (() => void) | undefined;

  /**
   * Lets the operations just started get on with their start (files, process) before the pump prepares more:
   * until each has left `queued` (running, or ended), START_HEAD_MS at most (a remote job may wait for a worker),
   * and at least one turn of the event loop.
   */
  private async headStart(): Promise<void> {
    if (this.starting.size > 0) {
      let timer: NodeJS.Timeout | undefined;
      await new Promise<void>((resolve) => {
        this.startingSettled = resolve;
        timer = setTimeout(resolve, START_HEAD_MS);
      });
      clearTimeout(timer);
      this.startingSettled = undefined;
      this.starting.clear();
    }
    await new Promise((resolve) => setImmediate(resolve));
  }

  private async pumpLoop(): Promise<void> {
    this.pumpActive = true;
    try {
      while (this.pumpRequested && !this.finished) {
        this.pumpRequested = false;
        if (this.preparedPart) {
          this.preparedPart = false;
          await this.headStart();
        }
        await this.pumpOnce();
      }
    } catch (err) {
      await this.crash(err);
    } finally {
      this.pumpActive = false;
    }
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
      // Jobs whose upstream all succeeded become queued, with their inputs worked out (or a cache hit) at once,
      // PREPARE_BATCH at a time in one transaction each (a fan-out of hundreds is a few durable writes, not one
      // each), and the first ones start before the rest are prepared: the next turn of the pump prepares more.
      const queued: string[] = [];
      const batch =
        this.runningOperations === 0
          ? Math.min(PREPARE_BATCH, Math.max(1, this.options.concurrency))
          : PREPARE_BATCH;
      let preparing = 0;
      for (const node of this.runnable.ordered()) {
        if (this.active.has(node) || !this.runnable.has(node)) continue;
        if (preparing++ === batch) {
          // The rest in the next turn, once the jobs started below have had a head start.
          this.preparedPart = true;
          this.requestPump();
          break;
        }
        // A cache hit goes straight from pending to cached; everything else waits in the queue.
        const prepared = await this.preparer.prepare(node);
        if (prepared === 'cached') continue;
        if (prepared) this.ready.set(node, prepared);
        queued.push(node);
        if (this.canceled) break;
      }
      if (queued.length > 0) {
        const records = await this.ctx.store.transitionJobs(queued.map((node) => this.queuedMove(node)));
        for (const r of records) this.updated(r);
      }
      // Queued jobs start while there are slots; Input and Output run inline and need none.
      for (const node of this.queued.ordered()) {
        if (this.canceled) break;
        if (!this.queued.has(node) || this.active.has(node)) continue;
        const planned = this.snapshot.plan.nodes[node]!;
        if (planned.kind !== 'operation') {
          this.active.add(node);
          void this.runner
            .runInline(node)
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
          this.ready.delete(node);
          void this.runner
            .failAtStart(node, ready.error)
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
        this.starting.add(node);
        this.ready.delete(node);
        // The slot is for the job's process: once that has ended, the next job starts while this one's outputs
        // are stored and recorded; at most `concurrency` jobs are in that state, so storing that lags (a slow
        // upload) holds the slots again instead of letting staged outputs pile up.
        let released = false;
        let finishing = false;
        const release = (early: boolean): void => {
          if (released) return;
          if (early) {
            if (this.finishingOperations >= this.options.concurrency) return;
            finishing = true;
            this.finishingOperations++;
          }
          released = true;
          this.runningOperations--;
          this.ctx.slots.release();
          this.requestPump();
        };
        void this.runner
          .runOperation(node, ready, () => release(true))
          .catch((err: unknown) => this.crash(err))
          .finally(() => {
            release(false);
            if (finishing) this.finishingOperations--;
            this.active.delete(node);
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
    if (this.runnable.size > 0) return;
    if ([...this.ready.keys()].some((n) => this.job(n).status === 'queued')) return;
    for (const node of this.plan.order) {
      const job = this.job(node);
      if (!isWaitingJobStatus(job.status)) continue;
      const blocker =
        this.snapshot.plan.nodes[node]!.upstream.find((u) => !isSuccessfulJobStatus(this.job(u).status)) ??
        null;
      this.ctx.logger.error({ executionId: this.id, node, blocker }, 'a job could never run; canceling it');
      await this.setStatus(node, 'canceled', {
        endedAt: this.ctx.now(),
        error: blocker
          ? { kind: 'upstream-failed', message: `not run: ${blocker} did not succeed`, upstream: blocker }
          : { kind: 'engine', message: 'not run: the scheduler could not start it' },
      });
    }
  }

  // ── status changes ────────────────────────────────────────────────────────────────────────────────────

  private async setStatus(node: string, to: JobStatus, patch: JobPatch = {}): Promise<void> {
    const job = this.job(node);
    const updated = await this.ctx.store.transitionJob(job.id, to, patch);
    this.updated(updated);
  }

  /** Records a job `success` (ended now unless `patch` says when) or `cached`, with its outputs. */
  private async completeJob(
    node: string,
    to: 'success' | 'cached',
    outs: NewJobOutput[],
    patch: JobPatch,
  ): Promise<void> {
    const job = this.job(node);
    this.outputs.set(node, new Map(outs.map((o) => [o.name, o])));
    const followers = to === 'success' ? await this.prepareFollowers(node) : [];
    const { job: updated, moved } = await this.ctx.store.completeJobAndMove(
      job.id,
      to,
      outs,
      patch,
      followers.map(({ node: f }) => this.queuedMove(f)),
    );
    // Every record in place before the first `updated`, whose pump must not see the followers still pending.
    followers.forEach(({ node: f, prepared }, i) => {
      if (prepared) this.ready.set(f, prepared);
      this.jobs.set(f, moved[i]!);
    });
    this.updated(updated);
    for (const m of moved) this.updated(m);
  }

  /** A node's job into the queue, as this runner's. */
  private queuedMove(node: string): { id: string; to: JobStatus; patch: JobPatch } {
    return { id: this.job(node).id, to: 'queued', patch: { runnerId: this.ctx.runnerId } };
  }

  /**
   * The downstream jobs that `node`'s success makes runnable (every other upstream has succeeded), prepared now
   * so that they are queued in the same transaction as that success: one durable write less per step of a chain.
   * None with the output cache on (preparing one may record a cache hit, which must come after the success it
   * depends on) or once the execution is canceled; at most PREPARE_BATCH, the pump prepares any others.
   */
  private async prepareFollowers(node: string): Promise<{ node: string; prepared?: ReadyJob }[]> {
    if (this.options.cache || this.canceled) return [];
    const out: { node: string; prepared?: ReadyJob }[] = [];
    for (const d of this.plan.downstream[node] ?? []) {
      if (out.length === PREPARE_BATCH) break;
      if (this.job(d).status !== 'pending' || this.active.has(d)) continue;
      const upstream = this.plan.upstream[d] ?? [];
      if (!upstream.every((u) => u === node || isSuccessfulJobStatus(this.job(u).status))) continue;
      const prepared = await this.preparer.prepare(d);
      if (prepared === 'cached') continue;
      out.push(prepared ? { node: d, prepared } : { node: d });
    }
    return out;
  }

  private complete(node: string, outs: NewJobOutput[], patch: JobPatch = {}): Promise<void> {
    return this.completeJob(node, 'success', outs, { endedAt: this.ctx.now(), ...patch });
  }

  /** Fails a job and cancels everything downstream of it, which can no longer run. */
  private async fail(node: string, error: JobError, patch: JobPatch = {}): Promise<void> {
    this.ready.delete(node);
    await this.setStatus(node, 'failed', { endedAt: this.ctx.now(), error, ...patch });
    await this.events.logLine(node, `[deepforge] failed: ${error.message}`);
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

  /** Puts an error on a job that already ended, and takes it out of the cache. */
  private async markJob(node: string, error: JobError): Promise<void> {
    const updated = await this.ctx.store.updateJob(this.job(node).id, { error, cacheKey: null });
    this.updated(updated);
  }

  private updated(job: JobRecord): void {
    this.jobs.set(job.node, job);
    this.track(job.node);
    for (const d of this.plan.downstream[job.node] ?? []) this.track(d);
    if (job.status !== 'queued' && this.starting.delete(job.node) && this.starting.size === 0) {
      this.startingSettled?.();
    }
    // Any status change may make other jobs runnable (a cache hit frees its downstream at once).
    this.requestPump();
    this.events.emitJob(job.node, {
      type: 'job.status',
      operation: job.operation,
      status: job.status,
      attempt: job.attempt,
      ...(job.exitCode !== null ? { exitCode: job.exitCode } : {}),
      ...(job.error ? { error: job.error } : {}),
      ...(job.cachedFrom ? { cachedFrom: job.cachedFrom } : {}),
      ...(job.usage ? { usage: job.usage } : {}),
    });
  }

  /** Puts a node in the sets the pump reads, or takes it out, after a change of its job or of one upstream. */
  private track(node: string): void {
    const status = this.job(node).status;
    if (status === 'queued') this.queued.add(node);
    else this.queued.delete(node);
    if (
      status === 'pending' &&
      (this.plan.upstream[node] ?? []).every((u) => isSuccessfulJobStatus(this.job(u).status))
    ) {
      this.runnable.add(node);
    } else {
      this.runnable.delete(node);
    }
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
        : this.checks.corrupted || statuses.some((s) => s === 'failed' || s === 'canceled')
          ? 'failed'
          : 'success';
      this.execution = (await this.ctx.store.updateExecution(this.id, {
        status,
        endedAt: this.ctx.now(),
        runnerId: null,
      }))!;
      this.events.emitExecution(status);
      const details = await executionDetails(
        this.ctx.store,
        this.ctx.dataDir,
        this.execution,
        this.ctx.now(),
      );
      this.resolveDone(details);
      if (this.checks.pending === 0) this.resolveChecked(details);
    } catch (err) {
      this.ctx.logger.error({ err, executionId: this.id }, 'could not record the end of an execution');
      this.rejectDone(err);
    }
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
    this.events.emitExecution('failed');
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

  /** Something went wrong in the engine itself: stop what runs and report through `done`. */
  private async crash(err: unknown): Promise<void> {
    this.ctx.logger.error({ err, executionId: this.id }, 'execution scheduling failed');
    if (this.finished) return;
    this.canceled = true;
    this.cancelReason = `engine error: ${(err as Error).message ?? String(err)}`;
    this.runner.stopAll();
    await this.runner.settled();
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
    this.events.emitExecution('failed');
    this.rejectDone(err);
  }
}
