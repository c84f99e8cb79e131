import { hostname } from 'node:os';
import type { Logger } from 'pino';
import { isTerminalJobStatus } from '@deepforge/core';
import type { JobError } from '@deepforge/protocol';
import { IllegalTransitionError } from './errors.js';
import { isProcessAlive, killJobProcesses, waitForExit } from './compute/process-tree.js';
import type { ExecutionStore } from './store/execution.store.js';
import type { RunnerRecord, RunnerStore } from './store/runner.store.js';

/** How often a live engine says so. */
export const HEARTBEAT_MS = 2000;
/** A runner silent for this long is dead, wherever it ran. */
export const STALE_MS = 10_000;

/**
 * This engine process as the store knows it: a runner row with a heartbeat. Jobs and executions carry the id of
 * the runner that drives them, so another engine can tell that they were left behind when this one dies.
 */
export class Runner {
  private timer: NodeJS.Timeout | undefined;
  readonly record: RunnerRecord;

  constructor(
    readonly id: string,
    private readonly store: RunnerStore,
    private readonly logger: Logger,
    private readonly now: () => number,
  ) {
    const t = now();
    this.record = { id, pid: process.pid, host: hostname(), startedAt: t, heartbeatAt: t };
  }

  async register(): Promise<void> {
    await this.store.registerRunner(this.record);
    this.timer = setInterval(() => void this.beat(), HEARTBEAT_MS);
    // The heartbeat must not keep a CLI process alive on its own.
    this.timer.unref();
  }

  private async beat(): Promise<void> {
    try {
      const alive = await this.store.heartbeatRunner(this.id, this.now());
      if (!alive) {
        // Another engine thought us dead (we were frozen longer than STALE_MS) and took over our jobs.
        this.logger.error(
          { runnerId: this.id },
          'this runner was declared dead by another engine; registering again',
        );
        await this.store.registerRunner({ ...this.record, heartbeatAt: this.now() });
      }
    } catch (err) {
      this.logger.warn({ err }, 'heartbeat failed');
    }
  }

  async stop(): Promise<void> {
    clearInterval(this.timer);
    await this.store.removeRunner(this.id).catch(() => undefined);
  }
}

export interface RecoveryResult {
  /** Runners found dead (their rows are gone now). */
  deadRunners: string[];
  /** Jobs that were queued or running under a dead runner, now failed with `runner-died`. */
  failedJobs: string[];
  /** Executions that were driven by a dead runner, now failed. */
  failedExecutions: string[];
  /** Processes of dead runners' jobs that were still alive and were killed. */
  killedPids: number[];
}

/**
 * Whether a runner is gone: silent for STALE_MS, or on this host with its process no longer alive. Also used by
 * `deepforge migrate`, which refuses to copy a database that a live engine is still writing.
 */
export async function isRunnerDead(
  r: RunnerRecord,
  now: number,
  host: string = hostname(),
): Promise<boolean> {
  if (now - r.heartbeatAt > STALE_MS) return true;
  return r.host === host && !(await isProcessAlive(r.pid));
}

/**
 * Cleans up after engines that died (kill -9, crash, reboot): kills what is left of their jobs' processes (only
 * processes that carry the job's marker), fails their queued and running jobs with `runner-died`, cancels the
 * jobs of their executions that never started, and fails those executions. Every output recorded before the
 * death is kept: outputs are only ever recorded once durably stored.
 */
export async function recoverDeadRunners(opts: {
  store: ExecutionStore;
  runners: RunnerStore;
  logger: Logger;
  selfId: string;
  now: () => number;
  /** The compute's own way to stop a dead engine's job where it runs (Compute.stopOrphan), before the marker scan. */
  stopOrphan?: (job: { jobId: string; runnerId: string }) => Promise<void>;
}): Promise<RecoveryResult> {
  const { store, logger, selfId, now } = opts;
  const host = hostname();
  const runners = new Map((await opts.runners.listRunners()).map((r) => [r.id, r]));
  const dead = new Set<string>();
  for (const r of runners.values())
    if (r.id !== selfId && (await isRunnerDead(r, now(), host))) dead.add(r.id);
  const activeJobs = await store.listJobsByStatus(['queued', 'running']);
  const activeExecutions = await store.listExecutionsByStatus(['pending', 'running']);
  // A runner id nobody registers any more is dead too (its row was removed by a recovery that raced us).
  for (const owner of [...activeJobs.map((j) => j.runnerId), ...activeExecutions.map((e) => e.runnerId)]) {
    if (owner && owner !== selfId && !runners.has(owner)) dead.add(owner);
  }
  const result: RecoveryResult = {
    deadRunners: [...dead],
    failedJobs: [],
    failedExecutions: [],
    killedPids: [],
  };
  if (dead.size === 0) return result;

  for (const job of activeJobs) {
    if (!job.runnerId || !dead.has(job.runnerId)) continue;
    const runner = runners.get(job.runnerId);
    await opts.stopOrphan?.({ jobId: job.id, runnerId: job.runnerId }).catch((err: unknown) => {
      logger.warn({ err, jobId: job.id }, 'could not stop the job of a dead engine where it runs');
    });
    if (!runner || runner.host === host) {
      const killed = await killJobProcesses({ jobId: job.id, runnerId: job.runnerId }, job.pgid);
      result.killedPids.push(...killed);
      const left = await waitForExit(killed, 5000);
      if (left.length > 0)
        logger.warn({ jobId: job.id, pids: left }, 'processes of a dead job survived SIGKILL');
    }
    const error: JobError = {
      kind: 'runner-died',
      message:
        job.status === 'running'
          ? `runner died: the engine running this job (pid ${runner?.pid ?? '?'} on ${runner?.host ?? '?'}) stopped before it finished`
          : `runner died: the engine that queued this job (pid ${runner?.pid ?? '?'} on ${runner?.host ?? '?'}) stopped before it started`,
    };
    try {
      // A queued job never started: the state machine calls that canceled, with the same reason.
      await store.transitionJob(
        job.id,
        job.status === 'running' ? 'failed' : 'canceled',
        { endedAt: now(), error },
        {
          from: [job.status],
        },
      );
      result.failedJobs.push(job.id);
    } catch (err) {
      // Another engine recovering at the same time got there first.
      if (!(err instanceof IllegalTransitionError)) throw err;
    }
  }

  for (const execution of activeExecutions) {
    if (!execution.runnerId || !dead.has(execution.runnerId)) continue;
    for (const job of await store.listJobs(execution.id)) {
      if (isTerminalJobStatus(job.status)) continue;
      try {
        await store.transitionJob(job.id, job.status === 'running' ? 'failed' : 'canceled', {
          endedAt: now(),
          error: { kind: 'runner-died', message: 'not run: the engine running this execution died' },
        });
      } catch (err) {
        if (!(err instanceof IllegalTransitionError)) throw err;
      }
    }
    const updated = await store
      .updateExecution(
        execution.id,
        { status: 'failed', endedAt: now(), runnerId: null },
        { expectRunner: execution.runnerId },
      )
      .catch((err: unknown) => {
        if (err instanceof IllegalTransitionError) return undefined;
        throw err;
      });
    if (updated) result.failedExecutions.push(execution.id);
  }

  for (const id of dead) await opts.runners.removeRunner(id);
  if (result.failedJobs.length > 0 || result.failedExecutions.length > 0) {
    logger.warn(result, 'recovered from engines that died');
  }
  return result;
}
