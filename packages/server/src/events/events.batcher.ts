import { assertNever } from '@deepforge/core';
import {
  EXECUTION_EVENTS_VERSION,
  type ExecutionEvent,
  type JobLogEvent,
  type JobMetricEvent,
  type LiveEvent,
  type LiveLogLine,
  type LiveMetric,
} from '@deepforge/protocol';

export interface BatcherLimits {
  /** At most one batch frame per job this often, in ms (the first after a quiet spell goes at once). */
  intervalMs: number;
  /** Pending lines plus metric values (all jobs together) that make a flush at once. */
  maxItems: number;
  /** Pending text bytes (roughly: lines' lengths) that make a flush at once. */
  maxBytes: number;
  /** Above this many bytes waiting in the socket, pending lines and metrics are skipped, not sent. */
  slowBytes: number;
}

export const DEFAULT_BATCHER_LIMITS: BatcherLimits = {
  intervalMs: 50,
  maxItems: 1000,
  maxBytes: 64 * 1024,
  slowBytes: 1024 * 1024,
};

/** What the batcher writes to: the socket's send, and how much the socket still holds. */
export interface BatchSink {
  send(event: LiveEvent): void;
  bufferedAmount(): number;
}

interface JobHead {
  executionId: string;
  jobId: string;
  node: string;
}

interface LogBatch extends JobHead {
  /** The number of `lines[0]` (or of the next line when none is pending). */
  seq: number;
  lines: LiveLogLine[];
  /** Lines dropped just before `seq`, not yet reported. */
  skipped: number;
  t: number;
}

interface MetricBatch extends JobHead {
  points: LiveMetric[];
  skipped: number;
  t: number;
}

/** JSON's share of a line besides its text: `{"stream":"stdout","text":""},`. */
const LINE_OVERHEAD = 32;

/**
 * Turns the engine's events for one `/api/events` connection into LiveEvents: a job's log lines and metric values
 * go out as one `job.logs` / `job.metrics` frame per job, in order, at most every `intervalMs` (the first after a
 * quiet spell at once) or as soon as `maxItems` / `maxBytes` are pending; every other event first sends what is
 * pending, so nothing overtakes a line that came before it (a job's final status follows its last line). When the
 * socket already holds more than `slowBytes`, pending lines and metrics are counted as skipped instead of sent, so
 * a slow reader costs the server at most `maxItems` / `maxBytes` more; the count goes out once the socket drains,
 * or before the next other event. A job's numbering is kept until its subscription ends (a resumed job goes on).
 */
export class EventBatcher {
  private readonly logs = new Map<string, LogBatch>();
  private readonly metrics = new Map<string, MetricBatch>();
  /** Batches with lines, values or a skipped count to send, in the order they got them. */
  private readonly dirty = new Set<LogBatch | MetricBatch>();
  private pendingItems = 0;
  private pendingBytes = 0;
  private lastFlush = Number.NEGATIVE_INFINITY;
  private timer: { cancel(): void } | null = null;
  private closed = false;

  constructor(
    private readonly sink: BatchSink,
    private readonly limits: BatcherLimits = DEFAULT_BATCHER_LIMITS,
    private readonly now: () => number = () => performance.now(),
  ) {}

  /**
   * One engine event for the subscription `subscription` (an execution id or `'*'`). Batches are kept per
   * subscription and job, so each subscription numbers a job's lines from 0.
   */
  accept(subscription: string, event: ExecutionEvent): void {
    if (this.closed) return;
    switch (event.type) {
      case 'job.log':
        this.line(subscription, event);
        return;
      case 'job.metric':
        this.metric(subscription, event);
        return;
      case 'execution.status':
      case 'job.status':
      case 'job.plot':
      case 'job.progress':
        this.flush(true);
        this.sink.send(event);
        return;
      default:
        assertNever(event);
    }
  }

  /** Forgets a subscription's batches (it was unsubscribed: nothing more of it is wanted). */
  drop(subscription: string): void {
    const prefix = subscription + '\u0000';
    for (const map of [this.logs, this.metrics] as Map<string, LogBatch | MetricBatch>[])
      for (const [key, batch] of map)
        if (key.startsWith(prefix)) {
          this.pendingItems -= pendingOf(batch);
          this.dirty.delete(batch);
          map.delete(key);
        }
    if (this.pendingItems === 0) this.pendingBytes = 0;
  }

  /** The connection closed: pending batches are dropped, no timer is left behind. */
  close(): void {
    this.closed = true;
    this.timer?.cancel();
    this.timer = null;
    this.logs.clear();
    this.metrics.clear();
    this.dirty.clear();
  }

  private line(subscription: string, e: JobLogEvent): void {
    const key = `${subscription}\u0000${e.jobId}`;
    let batch = this.logs.get(key);
    if (!batch) {
      batch = { ...head(e), seq: 0, lines: [], skipped: 0, t: e.t };
      this.logs.set(key, batch);
    }
    batch.lines.push({
      stream: e.stream,
      text: e.text,
      ...(e.transient ? { transient: true as const } : {}),
    });
    batch.t = e.t;
    this.dirty.add(batch);
    this.added(e.text.length + LINE_OVERHEAD);
  }

  private metric(subscription: string, e: JobMetricEvent): void {
    const key = `${subscription}\u0000${e.jobId}`;
    let batch = this.metrics.get(key);
    if (!batch) {
      batch = { ...head(e), points: [], skipped: 0, t: e.t };
      this.metrics.set(key, batch);
    }
    batch.points.push({ t: e.t, step: e.step, values: e.values });
    batch.t = e.t;
    this.dirty.add(batch);
    this.added(LINE_OVERHEAD + 24 * Object.keys(e.values).length);
  }

  private added(bytes: number): void {
    this.pendingItems++;
    this.pendingBytes += bytes;
    if (this.pendingItems >= this.limits.maxItems || this.pendingBytes >= this.limits.maxBytes)
      this.flush(false);
    else this.schedule();
  }

  private schedule(): void {
    if (this.timer || this.closed) return;
    const delay = Math.max(0, this.lastFlush + this.limits.intervalMs - this.now());
    // Delay 0 still waits for the rest of this turn: the lines of one chunk of output go in one frame.
    if (delay === 0) {
      const handle = setImmediate(() => this.fire());
      this.timer = { cancel: () => clearImmediate(handle) };
    } else {
      const handle = setTimeout(() => this.fire(), delay);
      this.timer = { cancel: () => clearTimeout(handle) };
    }
  }

  private fire(): void {
    this.timer = null;
    this.flush(false);
  }

  /**
   * Sends the pending batches. `force`: another event follows at once, so skipped counts go out even while the
   * socket is full (they are small, and they must come before it).
   */
  private flush(force: boolean): void {
    this.timer?.cancel();
    this.timer = null;
    if (this.dirty.size === 0) return;
    this.lastFlush = this.now();
    const slow = this.sink.bufferedAmount() > this.limits.slowBytes;
    for (const b of [...this.dirty]) {
      if (slow) skip(b);
      // A slow reader gets its skipped counts once the socket drains (or before the next other event).
      if (slow && !force && pendingOf(b) === 0) continue;
      this.dirty.delete(b);
      if ('lines' in b) {
        this.sink.send({
          v: EXECUTION_EVENTS_VERSION,
          t: b.t,
          type: 'job.logs',
          executionId: b.executionId,
          jobId: b.jobId,
          node: b.node,
          seq: b.seq,
          lines: b.lines,
          ...(b.skipped > 0 ? { skipped: b.skipped } : {}),
        });
        b.seq += b.lines.length;
        b.lines = [];
      } else {
        this.sink.send({
          v: EXECUTION_EVENTS_VERSION,
          t: b.t,
          type: 'job.metrics',
          executionId: b.executionId,
          jobId: b.jobId,
          node: b.node,
          points: b.points,
          ...(b.skipped > 0 ? { skipped: b.skipped } : {}),
        });
        b.points = [];
      }
      b.skipped = 0;
    }
    this.pendingItems = 0;
    this.pendingBytes = 0;
    if (this.dirty.size > 0) this.schedule();
  }
}

function pendingOf(b: LogBatch | MetricBatch): number {
  return 'lines' in b ? b.lines.length : b.points.length;
}

/** Counts a batch's pending lines or values as skipped, freeing them. */
function skip(b: LogBatch | MetricBatch): void {
  if ('lines' in b) {
    b.skipped += b.lines.length;
    b.seq += b.lines.length;
    b.lines = [];
  } else {
    b.skipped += b.points.length;
    b.points = [];
  }
}

function head(e: JobLogEvent | JobMetricEvent): JobHead {
  return { executionId: e.executionId, jobId: e.jobId, node: e.node };
}
