import type { Logger } from 'pino';
import { isActiveExecutionStatus } from '@deepforge/core';
import type { ExecutionEvent } from '@deepforge/protocol';
import { EXECUTION_EVENTS_VERSION } from '@deepforge/protocol/engine';
import type { ExecutionDetails } from '../execution.views.js';
import type { ExecutionStore } from '../store/execution.store.js';

export interface OtherEnginesFollowerOptions {
  store: Pick<ExecutionStore, 'listExecutionsByStatus' | 'queryExecutions'>;
  details(id: string): Promise<ExecutionDetails>;
  /** This engine's runner id: an active execution it drives has its events on the bus already. */
  selfRunnerId: string;
  /** Whether this engine drove the execution lately (an ended one has no runner any more). */
  ranHere(id: string): boolean;
  emit(event: ExecutionEvent): void;
  now(): number;
  logger: Logger;
}

/** How many of the newest executions each poll looks at for ones that started and ended between two polls. */
const RECENT = 20;

/**
 * Status events of the executions another engine process drives in the same database (`deepforge run` beside a
 * running server, docs/adr/0028): each poll compares their stored status and their jobs' with what it saw
 * before and emits `execution.status` and `job.status` for what changed, on this engine's bus, so lists and
 * pages open in the web IDE follow them. Their console lines and metrics are not followed: the stored log and
 * series have them when the page reads them.
 */
export class OtherEnginesFollower {
  /** Execution id → what was last seen of it (status and job statuses). */
  private readonly seen = new Map<string, string>();
  private readonly since: number;
  private polling = false;

  constructor(private readonly options: OtherEnginesFollowerOptions) {
    this.since = options.now();
  }

  async poll(): Promise<void> {
    if (this.polling) return;
    this.polling = true;
    try {
      const { store, ranHere, selfRunnerId } = this.options;
      const ids = new Set<string>();
      // Driven by another engine now, even if this one ran it before (a resume by `deepforge resume`).
      const foreign = new Set<string>();
      const own = new Set<string>();
      for (const e of await store.listExecutionsByStatus(['pending', 'running'])) {
        ids.add(e.id);
        if (e.runnerId !== null && e.runnerId !== selfRunnerId) foreign.add(e.id);
        else if (e.runnerId === selfRunnerId) own.add(e.id);
      }
      const isOwn = (id: string): boolean => own.has(id) || (!foreign.has(id) && ranHere(id));
      const recent = await store.queryExecutions({
        sort: 'created',
        order: 'desc',
        limit: RECENT,
        offset: 0,
      });
      for (const e of recent.items) if (e.createdAt >= this.since) ids.add(e.id);
      // Seen active last time: read once more to see how it ended.
      for (const [id, print] of this.seen)
        if (isActiveExecutionStatus(print.split(' ')[0] as never)) ids.add(id);
      // What is neither active, recent nor just ended cannot change without becoming active again.
      for (const id of [...this.seen.keys()]) if (!ids.has(id)) this.seen.delete(id);
      for (const id of ids) {
        if (isOwn(id)) {
          this.seen.delete(id);
          continue;
        }
        const d = await this.options.details(id).catch(() => undefined);
        if (!d) {
          this.seen.delete(id);
          continue;
        }
        this.compare(d);
      }
    } catch (err) {
      this.options.logger.warn({ err }, 'could not read the executions of other engines');
    } finally {
      this.polling = false;
    }
  }

  private compare(d: ExecutionDetails): void {
    const print = [d.status, ...d.jobs.map((j) => `${j.node}:${j.status}:${j.attempt}`)].join(' ');
    const before = this.seen.get(d.id);
    this.seen.set(d.id, print);
    if (before === print) return;
    const old = new Map(
      (before ?? '')
        .split(' ')
        .slice(1)
        .map((s) => [s.slice(0, s.indexOf(':')), s] as const),
    );
    const base = { v: EXECUTION_EVENTS_VERSION, t: this.options.now(), executionId: d.id } as const;
    for (const j of d.jobs) {
      if (old.get(j.node) === `${j.node}:${j.status}:${j.attempt}`) continue;
      this.options.emit({
        ...base,
        type: 'job.status',
        jobId: j.id,
        node: j.node,
        operation: j.operation,
        status: j.status,
        attempt: j.attempt,
        ...(j.exitCode !== null ? { exitCode: j.exitCode } : {}),
        ...(j.error ? { error: j.error } : {}),
        ...(j.cachedFrom ? { cachedFrom: j.cachedFrom } : {}),
        ...(j.usage ? { usage: j.usage } : {}),
      });
    }
    this.options.emit({
      ...base,
      type: 'execution.status',
      status: d.status,
      pipeline: d.pipeline,
      project: d.project,
      projectId: d.projectId,
    });
  }
}
