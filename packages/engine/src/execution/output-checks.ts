import type { Logger } from 'pino';
import {
  descendants,
  isSuccessfulJobStatus,
  isTerminalJobStatus,
  isWaitingJobStatus,
  type PipelinePlan,
} from '@deepforge/core';
import type { JobError } from '@deepforge/protocol';
import type { PlannedNode } from '../pipeline-plan.js';
import type { BlobVerification } from '../storage/artifact.storage.js';
import type { JobRecord } from '../store/execution.store.js';
import type { ExecutionEvents } from './execution-events.js';

/** What the checks read and change of the run they work for. */
export interface OutputChecksHost {
  job(node: string): JobRecord;
  /** Work for the node is in flight (a process, an inline Input/Output, a status write). */
  isActive(node: string): boolean;
  /** The execution has ended (checks may go on after it). */
  isFinished(): boolean;
  /** Cancels a job that has not started, with `error`. */
  cancelWaiting(node: string, error: JobError): Promise<void>;
  /** Stops the running job of a node; it then ends canceled with `stopError`. */
  stop(node: string): void;
  /** Puts an error on a job that already ended, and takes it out of the cache. */
  markJob(node: string, error: JobError): Promise<void>;
  /** A check failed after the execution had ended `success`: it is `failed` now. */
  failAfterEnd(node: string, output: string, hash: string): Promise<void>;
  /** Something went wrong in the engine itself. */
  crash(err: unknown): Promise<void>;
  requestPump(): void;
  /** The last check of an ended execution has settled. */
  allChecked(): void;
}

export interface OutputChecksContext {
  executionId: string;
  logger: Logger;
  /** The snapshot's planned nodes, and its plan in core's shape. */
  nodes: Readonly<Record<string, PlannedNode>>;
  plan: PipelinePlan;
}

/**
 * The background checks of outputs stored under the hash their harness computed (docs/adr/0005): downstream jobs
 * start before a check ends, and an output found corrupt takes back what used it.
 */
export class OutputChecks {
  /** Checks still running; they may end after the execution. */
  private readonly checks = new Set<Promise<void>>();
  /** Jobs downstream of a corrupt output that were running or starting: why they must stop. */
  private readonly stopReasons = new Map<string, { reason: string; upstream: string }>();
  private corruptedOutput = false;

  constructor(
    private readonly ctx: OutputChecksContext,
    private readonly host: OutputChecksHost,
    private readonly events: Pick<ExecutionEvents, 'logLine'>,
  ) {}

  /** An output of this run was found corrupt: the execution ends failed. */
  get corrupted(): boolean {
    return this.corruptedOutput;
  }

  /** How many checks are still running. */
  get pending(): number {
    return this.checks.size;
  }

  /** The job of the node was told to stop because an input of it is corrupt. */
  isStopping(node: string): boolean {
    return this.stopReasons.has(node);
  }

  /** Follows the check of an output `node` stored; when it fails, the output and what used it are taken back. */
  track(node: string, output: string, hash: string, verified: Promise<BlobVerification>): void {
    const tracked: Promise<void> = verified
      .then(async (v) => {
        if (v.ok) return;
        const late = this.host.isFinished();
        await this.outputCorrupt(node, output, hash, v.message);
        if (late) await this.host.failAfterEnd(node, output, hash);
      })
      .catch((err: unknown) =>
        this.host.isFinished()
          ? this.ctx.logger.error(
              { err, executionId: this.ctx.executionId },
              'could not record a failed check',
            )
          : this.host.crash(err),
      )
      .finally(() => {
        this.checks.delete(tracked);
        if (this.host.isFinished()) {
          if (this.checks.size === 0) this.host.allChecked();
        } else {
          this.host.requestPump();
        }
      });
    this.checks.add(tracked);
  }

  logCorrupt(node: string, output: string, hash: string, message: string): void {
    this.ctx.logger.error(
      { executionId: this.ctx.executionId, node, jobId: this.host.job(node).id, output, hash, why: message },
      `CORRUPT OUTPUT: ${node}.${output} (${hash}) does not hold the bytes its job wrote; it is not used: ${message}`,
    );
  }

  /** A job told to stop (its input was found corrupt) that finished before it could: mark what it made. */
  async markIfStopped(node: string): Promise<void> {
    const stop = this.stopReasons.get(node);
    if (!stop || !isSuccessfulJobStatus(this.host.job(node).status)) return;
    const message = `ran on a corrupt input: ${stop.reason}`;
    await this.host.markJob(node, { kind: 'upstream-failed', message, upstream: stop.upstream });
    await this.events.logLine(node, `[deepforge] ERROR: ${message}`);
  }

  /** Why a job that was stopped (or never started) ended canceled: its corrupt input, else `cancelReason`. */
  stopError(node: string, cancelReason: string): JobError {
    const stop = this.stopReasons.get(node);
    return stop
      ? { kind: 'upstream-failed', message: `stopped: ${stop.reason}`, upstream: stop.upstream }
      : { kind: 'canceled', message: cancelReason };
  }

  /**
   * An output that was recorded (and maybe already used) turned out not to hold the bytes its job wrote; its
   * blob is in quarantine now. The job keeps its `success` status (core's state machine has no way back from
   * it) but carries the error and loses its cache key, so nothing reuses it; every job downstream of the output
   * is canceled if it has not started, stopped if it runs, and marked with the error if it already ran on the
   * bad bytes. The execution ends `failed`, and a resume says the output is no longer in the store.
   */
  private async outputCorrupt(node: string, output: string, hash: string, why: string): Promise<void> {
    const { plan, nodes } = this.ctx;
    this.corruptedOutput = true;
    this.logCorrupt(node, output, hash, why);
    const message = `output ${output} is corrupt: ${why}`;
    await this.host.markJob(node, { kind: 'output', message });
    await this.events.logLine(node, `[deepforge] ERROR: ${message}`);
    const consumers = plan.order.filter((n) =>
      Object.values(nodes[n]!.inputs).some((from) => from.node === node && from.port === output),
    );
    const reason = `its input ${node}.${output} (${hash}) is corrupt`;
    const affected = new Set([...consumers, ...descendants(plan, consumers)]);
    for (const d of plan.order.filter((n) => affected.has(n))) {
      const job = this.host.job(d);
      const error: JobError = { kind: 'upstream-failed', message: reason, upstream: node };
      if (isWaitingJobStatus(job.status) && !this.host.isActive(d)) {
        await this.host.cancelWaiting(d, { ...error, message: `not run: ${reason}` });
      } else if (!isTerminalJobStatus(job.status) || this.host.isActive(d)) {
        this.stopReasons.set(d, { reason, upstream: node });
        this.host.stop(d);
      } else if (isSuccessfulJobStatus(job.status)) {
        await this.host.markJob(d, { ...error, message: `ran on a corrupt input: ${reason}` });
        await this.events.logLine(d, `[deepforge] ERROR: ran on a corrupt input: ${reason}`);
      }
    }
  }
}
