import type {
  JobLogsEvent,
  JobProgressEvent,
  LiveEvent,
  MetricSeriesInfoDto,
  PlotSchema,
} from '@deepforge/protocol';
import type { z } from 'zod';
import { LogBuffer, overlapCount } from './log-buffer.js';
import type { LogStream } from './log-buffer.js';
import type { MetricPoint } from './metric-series.js';
import { pointsOfEvent } from './metric-series.js';
import type { LivePoint } from './metric-view.js';

/** Live values of one series as they come, or word that the server skipped some (read the view again). */
export type MetricListener = (update: readonly LivePoint[] | 'skipped') => void;

/**
 * Live values kept per series for charts that start following it later. The server sends a value at once but
 * stores it in a batch up to half a second later (TELEMETRY_FLUSH_MS), so a chart that reads the stored view now
 * may miss the values of that last moment: it gets these too and keeps those after the view's last point. Far
 * more than half a second of values at any rate a job logs at and a chart can show.
 */
export const RECENT_METRIC_POINTS = 20_000;

type Plot = z.infer<typeof PlotSchema>;
export interface ProgressState {
  bar: string;
  desc?: string | undefined;
  n: number;
  total: number | null;
  unit?: string | undefined;
  rate?: number | null | undefined;
  done?: boolean | undefined;
}

interface PendingLine {
  text: string;
  stream: LogStream;
  transient: boolean;
  /** A "lines skipped" note (how many), not a line of the log. */
  marker?: number;
}

/** The console's note where the server left out lines a slow connection could not take. */
export function skippedNote(n: number): string {
  return `[${n.toLocaleString('en-US')} line${n === 1 ? '' : 's'} skipped: the connection could not keep up; reload the log to read them]`;
}

/** What the execution view knows about one job beyond its status: console, plots, metrics, progress. */
export class JobLive {
  readonly log: LogBuffer;
  /** `ready` once the stored log is in `log`; live lines go to `pending` until then. */
  logState: 'idle' | 'loading' | 'ready' | 'error' = 'idle';
  logError = '';
  /** Bytes at the start of the stored log not fetched (a very long log shows its tail). */
  truncatedBytes = 0;
  /** Live lines the server skipped (this client read too slowly) since the stored log was last read. */
  skippedLines = 0;
  private pending: PendingLine[] = [];
  readonly plots = new Map<number, Plot>();
  /** Names of the job's metric series: stored (listMetricSeries) and seen live. */
  readonly metricNames = new Set<string>();
  /** Those the server has said it stores (a series seen live only may not be stored yet). */
  readonly storedMetricNames = new Set<string>();
  /** Each series' last x, for values logged without a step (x = last + 1, as the server places them). */
  private readonly lastX = new Map<string, number>();
  /** Each series' latest value, shown beside its name. */
  readonly latest = new Map<string, number>();
  private readonly metricListeners = new Map<string, Set<MetricListener>>();
  /** The latest live values of each series (at most RECENT_METRIC_POINTS), oldest first. */
  private readonly recentPoints = new Map<string, LivePoint[]>();
  readonly progress = new Map<string, ProgressState>();
  extrasState: 'idle' | 'loading' | 'ready' = 'idle';

  constructor(maxLines: number) {
    this.log = new LogBuffer(maxLines);
  }

  liveLine(text: string, stream: LogStream, transient: boolean): void {
    if (this.logState === 'ready') this.log.appendLine(text, stream, transient);
    else {
      const last = this.pending[this.pending.length - 1];
      if (last?.transient) this.pending.pop();
      this.pending.push({ text, stream, transient });
      if (this.pending.length > 20_000) this.pending.splice(0, 2_000);
    }
  }

  /** A `job.logs` batch: its lines in order, after a note if the server skipped some before them. */
  liveBatch(e: Pick<JobLogsEvent, 'lines' | 'skipped'>): void {
    if (e.skipped) this.liveSkipped(e.skipped);
    for (const l of e.lines) this.liveLine(l.text, l.stream, l.transient === true);
  }

  /** The server left out `n` lines: a note in the console where they were; the stored log has them. */
  liveSkipped(n: number): void {
    this.skippedLines += n;
    const text = skippedNote(n);
    if (this.logState === 'ready') this.log.appendLine(text, 'engine');
    else this.pending.push({ text, stream: 'engine', transient: false, marker: n });
  }

  /** The stored log arrived: show it, then the live lines that came meanwhile and are not in it yet. */
  storedLog(text: string, complete: boolean, truncatedBytes: number): void {
    this.log.clear();
    this.truncatedBytes = truncatedBytes;
    this.skippedLines = 0;
    // A tail that starts mid-line: drop the partial first line.
    const body = truncatedBytes > 0 ? text.slice(text.indexOf('\n') + 1) : text;
    this.log.appendText(body);
    if (complete) this.log.flushPartial();
    const stored = this.log
      .toArray()
      .slice(-2000)
      .map((l) => l.text);
    const persistent = (lines: readonly PendingLine[]): string[] =>
      lines.filter((p) => !p.transient && p.marker === undefined).map((p) => p.text);
    // Lines after a skipped run were written after it: if the stored log has any of them, it has the skipped
    // lines and everything before too.
    const afterSkip = this.pending.slice(this.pending.findLastIndex((p) => p.marker !== undefined) + 1);
    const tailOverlap =
      afterSkip.length < this.pending.length ? overlapCount(stored, persistent(afterSkip)) : 0;
    const replay = tailOverlap > 0 ? afterSkip : this.pending;
    const skip = tailOverlap > 0 ? tailOverlap : overlapCount(stored, persistent(this.pending));
    let skipped = 0;
    for (const p of replay) {
      if (!p.transient && p.marker === undefined && skipped < skip) {
        skipped++;
        continue;
      }
      if (p.marker !== undefined) this.skippedLines += p.marker;
      this.log.appendLine(p.text, p.stream, p.transient);
    }
    this.pending = [];
    this.logState = 'ready';
  }

  plot(p: Plot): void {
    const current = this.plots.get(p.figure);
    if (!current || current.seq <= p.seq) this.plots.set(p.figure, p);
  }

  /** The stored series (REST): their names, and where values without a step continue. */
  metricSeries(items: readonly MetricSeriesInfoDto[]): void {
    for (const s of items) {
      this.metricNames.add(s.name);
      this.storedMetricNames.add(s.name);
      const known = this.lastX.get(s.name);
      if (s.lastX !== null && (known === undefined || s.lastX > known)) {
        this.lastX.set(s.name, s.lastX);
        if (s.lastY !== null) this.latest.set(s.name, s.lastY);
      }
    }
  }

  /**
   * Live values of `name` go to `listener` from now on (charts append them to the view they drew), after the
   * latest ones that came before, at once: a chart reading the stored series now merges them after the view's last
   * point, so that the values not stored yet when it read it leave no gap (and those stored are not drawn twice).
   */
  subscribeMetric(name: string, listener: MetricListener): () => void {
    let set = this.metricListeners.get(name);
    if (!set) {
      set = new Set();
      this.metricListeners.set(name, set);
    }
    set.add(listener);
    const recent = this.recentPoints.get(name);
    if (recent && recent.length > 0) listener(recent.slice());
    return () => set.delete(listener);
  }

  /**
   * The server skipped metric values this client read too slowly for: charts read their views again (the stored
   * series has them all).
   */
  metricsSkipped(): void {
    for (const set of this.metricListeners.values()) for (const l of set) l('skipped');
  }

  /**
   * Live values: each series' x resolved, kept among its recent values, then handed to the charts that follow it.
   */
  metric(points: readonly MetricPoint[]): void {
    const byName = new Map<string, LivePoint[]>();
    for (const p of points) {
      this.metricNames.add(p.name);
      const last = this.lastX.get(p.name);
      const x = p.step ?? (last === undefined ? 0 : last + 1);
      this.lastX.set(p.name, x);
      this.latest.set(p.name, p.value);
      const list = byName.get(p.name);
      if (list) list.push({ x, y: p.value });
      else byName.set(p.name, [{ x, y: p.value }]);
    }
    for (const [name, list] of byName) {
      let recent = this.recentPoints.get(name);
      if (!recent) this.recentPoints.set(name, (recent = []));
      for (const p of list) recent.push(p);
      if (recent.length > RECENT_METRIC_POINTS) recent.splice(0, recent.length - RECENT_METRIC_POINTS);
      for (const l of this.metricListeners.get(name) ?? []) l(list);
    }
  }

  progressEvent(p: ProgressState): void {
    this.progress.set(p.bar, p);
  }

  /** 0–1 for the node's progress bar in the trace: the first bar still running with a known total. */
  fraction(): number | undefined {
    for (const p of this.progress.values()) if (!p.done && p.total) return Math.min(1, p.n / p.total);
    return undefined;
  }
}

/**
 * Live data of one execution, fed by its /api/events subscription and by REST fetches of what happened before
 * the view opened. Views subscribe and re-render on `version`.
 */
export class ExecutionLive {
  private jobs = new Map<string, JobLive>();
  private listeners = new Set<() => void>();
  private pending = false;
  version = 0;

  private lastNotified = Number.NEGATIVE_INFINITY;

  /**
   * `schedule` batches notifications: a job printing thousands of lines a second must not re-render the view
   * thousands of times, so renders are at least 50 ms apart (~20 a second). The first change after a quiet spell is
   * shown at once (delay 0): a line printed now and then appears without waiting for a batch.
   */
  constructor(
    private readonly maxLines = 50_000,
    private readonly schedule: (notify: () => void, delayMs: number) => void = (notify, delayMs) =>
      delayMs <= 0 ? queueMicrotask(notify) : setTimeout(notify, delayMs),
    private readonly now: () => number = () => performance.now(),
  ) {}

  job(node: string): JobLive {
    let j = this.jobs.get(node);
    if (!j) {
      j = new JobLive(this.maxLines);
      this.jobs.set(node, j);
    }
    return j;
  }

  nodes(): string[] {
    return [...this.jobs.keys()];
  }

  subscribe = (listener: () => void): (() => void) => {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  };

  getVersion = (): number => this.version;

  /** Call after changing a JobLive directly (fetch results). */
  changed(): void {
    this.version++;
    if (this.pending) return;
    this.pending = true;
    const delay = Math.max(0, this.lastNotified + 50 - this.now());
    this.schedule(() => {
      this.pending = false;
      this.lastNotified = this.now();
      for (const l of this.listeners) l();
    }, delay);
  }

  /** Applies a live event; returns whether it concerned the live data (not statuses, which the view's query holds). */
  apply(e: LiveEvent): boolean {
    switch (e.type) {
      case 'job.logs':
        this.job(e.node).liveBatch(e);
        break;
      case 'job.plot':
        this.job(e.node).plot({
          figure: e.figure,
          seq: e.seq,
          ...(e.title !== undefined ? { title: e.title } : {}),
          ...(e.svg !== undefined ? { svg: e.svg } : {}),
          ...(e.png !== undefined ? { png: e.png } : {}),
          axes: e.axes,
          t: e.t,
        });
        break;
      case 'job.metrics': {
        const job = this.job(e.node);
        if (e.skipped) job.metricsSkipped();
        job.metric(e.points.flatMap(pointsOfEvent));
        break;
      }
      case 'job.progress':
        this.job(e.node).progressEvent(progressOf(e));
        break;
      case 'execution.status':
      case 'job.status':
        return false;
    }
    this.changed();
    return true;
  }
}

function progressOf(e: JobProgressEvent): ProgressState {
  return { bar: e.bar, desc: e.desc, n: e.n, total: e.total, unit: e.unit, rate: e.rate, done: e.done };
}
