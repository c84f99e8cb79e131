import type { createLogUpdate } from 'log-update';
import pc from 'picocolors';
import { assertNever } from '@deepforge/core';
import { isResumableExecutionStatus, isTerminalJobStatus, type ExecutionStatus } from '@deepforge/core';
import type { ExecutionEvent, JobError, JobStatusEvent } from '@deepforge/protocol';
import { formatDuration, progressBar, table } from './format.js';

type JobStatus = JobStatusEvent['status'];

export interface RenderedJob {
  node: string;
  operation: string;
}

export interface RunRendererOptions {
  out: NodeJS.WritableStream & { isTTY?: boolean; columns?: number };
  /**
   * Redraw a live status block at the bottom (a terminal) with log-update's createLogUpdate; absent: print one line
   * per change. openRunRenderer loads it when needed.
   */
  live?: typeof createLogUpdate | undefined;
  color: boolean;
  /** Clock for durations shown while jobs run; injectable for tests. */
  now?: () => number;
}

interface JobView extends RenderedJob {
  label: string;
  status: JobStatus;
  startedAt?: number;
  endedAt?: number;
  error?: JobError;
  progress?: { desc?: string; n: number; total: number | null; unit?: string };
  metrics?: { step: number | null; values: Record<string, number> };
  plots: Set<number>;
  lastProgressPrinted?: number;
}

const SYMBOL: Record<JobStatus, string> = {
  pending: '○',
  queued: '◌',
  running: '●',
  success: '✓',
  failed: '✗',
  canceled: '⊘',
  cached: '↺',
};

/**
 * A RunRenderer, redrawing in place when `live` (a terminal). log-update is loaded only then: what it imports
 * (string-width) builds an Intl.Segmenter as it loads, ~12 ms of the start of every `deepforge run` otherwise.
 */
export async function openRunRenderer(
  jobs: readonly RenderedJob[],
  options: Omit<RunRendererOptions, 'live'> & { live: boolean },
): Promise<RunRenderer> {
  const live = options.live ? (await import('log-update')).createLogUpdate : undefined;
  return new RunRenderer(jobs, { ...options, live });
}

/**
 * Turns live execution events into what a person watching `deepforge run` wants: each operation's output prefixed
 * with its name, a status line per operation (redrawn in place on a terminal), and a closing summary.
 */
export class RunRenderer {
  private readonly jobs = new Map<string, JobView>();
  private readonly colors: ReturnType<typeof pc.createColors>;
  private readonly live: ReturnType<typeof createLogUpdate> | null;
  private readonly now: () => number;
  private readonly labelWidth: number;
  private redrawTimer: NodeJS.Timeout | null = null;
  private executionStartedAt: number | null = null;

  constructor(
    jobs: readonly RenderedJob[],
    private readonly options: RunRendererOptions,
  ) {
    this.colors = pc.createColors(options.color);
    this.now = options.now ?? Date.now;
    // An operation used once is named by itself; one used by several nodes also names the node.
    const uses = new Map<string, number>();
    for (const j of jobs) uses.set(j.operation, (uses.get(j.operation) ?? 0) + 1);
    for (const j of jobs) {
      const label = (uses.get(j.operation) ?? 0) > 1 ? `${j.operation}[${j.node}]` : j.operation;
      this.jobs.set(j.node, { ...j, label, status: 'pending', plots: new Set() });
    }
    this.labelWidth = Math.min(28, Math.max(4, ...[...this.jobs.values()].map((j) => j.label.length)));
    this.live = options.live ? options.live(options.out, { showCursor: false }) : null;
  }

  handle(event: ExecutionEvent): void {
    switch (event.type) {
      case 'execution.status':
        if (event.status === 'running' && this.executionStartedAt === null) this.executionStartedAt = event.t;
        break;
      case 'job.status':
        this.onJobStatus(event);
        break;
      case 'job.log': {
        const job = this.jobs.get(event.node);
        // Transient lines (progress bars redrawn with \r) are shown by the status block instead.
        if (event.transient) break;
        const prefix = this.colors.dim(`${(job?.label ?? event.node).padEnd(this.labelWidth)} │ `);
        // The engine's own notes (artifact saved, cache hit) are dimmed so the operation's output stands out.
        const text =
          event.stream === 'stderr'
            ? this.colors.red(event.text)
            : event.stream === 'engine'
              ? this.colors.dim(event.text)
              : event.text;
        this.print(`${prefix}${text}`);
        break;
      }
      case 'job.progress': {
        const job = this.jobs.get(event.node);
        if (!job) break;
        job.progress = {
          n: event.n,
          total: event.total,
          ...(event.desc ? { desc: event.desc } : {}),
          ...(event.unit ? { unit: event.unit } : {}),
        };
        if (!this.live) this.printProgressLine(job, event.done === true);
        break;
      }
      case 'job.metric': {
        const job = this.jobs.get(event.node);
        if (job) job.metrics = { step: event.step, values: { ...job.metrics?.values, ...event.values } };
        break;
      }
      case 'job.plot': {
        const job = this.jobs.get(event.node);
        if (!job) break;
        if (!job.plots.has(event.figure) && !this.live) {
          const title = event.title ?? event.axes.find((a) => a.title)?.title;
          this.print(
            `${this.colors.dim(`${job.label.padEnd(this.labelWidth)} │ `)}${this.colors.cyan(`figure ${event.figure}${title ? ` “${title}”` : ''}`)}`,
          );
        }
        job.plots.add(event.figure);
        break;
      }
      default:
        assertNever(event);
    }
    this.scheduleRedraw();
  }

  /** Prints the closing summary. */
  finish(summary: {
    executionId: string;
    status: ExecutionStatus;
    durationMs: number | null;
    pipeline: string;
  }): void {
    if (this.redrawTimer) clearTimeout(this.redrawTimer);
    this.redrawTimer = null;
    this.live?.clear();
    const c = this.colors;
    const rows: string[][] = [];
    for (const job of this.jobs.values()) {
      const duration =
        job.startedAt !== undefined && job.endedAt !== undefined ? job.endedAt - job.startedAt : undefined;
      rows.push([
        `  ${this.statusColor(job.status)(`${SYMBOL[job.status]} ${job.status}`)}`,
        job.label,
        c.dim(formatDuration(duration)),
        this.jobNote(job),
      ]);
    }
    const counts = new Map<JobStatus, number>();
    for (const job of this.jobs.values()) counts.set(job.status, (counts.get(job.status) ?? 0) + 1);
    const countText = [...counts.entries()].map(([s, n]) => `${n} ${s}`).join(', ');
    const head =
      summary.status === 'success'
        ? c.green(c.bold(`✓ ${summary.pipeline} succeeded`))
        : summary.status === 'canceled'
          ? c.yellow(c.bold(`⊘ ${summary.pipeline} canceled`))
          : c.red(c.bold(`✗ ${summary.pipeline} failed`));
    const lines = [
      '',
      `${head} in ${formatDuration(summary.durationMs)} ${c.dim(`(${countText}) · execution ${summary.executionId}`)}`,
      table(rows),
    ];
    if (isResumableExecutionStatus(summary.status)) {
      lines.push('', c.dim(`Re-run what did not succeed with: deepforge resume ${summary.executionId}`));
    }
    this.options.out.write(lines.join('\n') + '\n');
  }

  private onJobStatus(event: JobStatusEvent): void {
    const job = this.jobs.get(event.node);
    if (!job) return;
    const previous = job.status;
    job.status = event.status;
    if (event.status === 'running') {
      job.startedAt = event.t;
      job.endedAt = undefined;
      job.error = undefined;
    }
    if (isTerminalJobStatus(event.status)) {
      job.endedAt = event.t;
      if (job.startedAt === undefined) job.startedAt = event.t;
    }
    if (event.error) job.error = event.error;
    if (previous === event.status) return;
    const c = this.colors;
    if (event.status === 'failed' && event.error) {
      const where = event.error.location
        ? c.dim(` (${event.error.location.file}:${event.error.location.line})`)
        : '';
      this.print(c.red(`${SYMBOL.failed} ${job.label} failed: ${event.error.message}`) + where);
    } else if (!this.live && event.status !== 'pending' && event.status !== 'queued') {
      const took =
        event.status === 'running' || job.startedAt === undefined || job.endedAt === undefined
          ? ''
          : c.dim(` in ${formatDuration(job.endedAt - job.startedAt)}`);
      const note = event.status === 'canceled' && event.error ? c.dim(` (${event.error.message})`) : '';
      this.print(
        `${this.statusColor(event.status)(`${SYMBOL[event.status]} ${job.label} ${event.status}`)}${took}${note}`,
      );
    }
  }

  private printProgressLine(job: JobView, done: boolean): void {
    const p = job.progress;
    if (!p) return;
    // Without a live display, report a bar every 10 % (or when it ends) rather than on every update.
    const fraction = p.total ? p.n / p.total : null;
    const bucket = fraction === null ? Math.floor(Math.log2(p.n + 1)) : Math.floor(fraction * 10);
    if (!done && job.lastProgressPrinted === bucket) return;
    job.lastProgressPrinted = bucket;
    this.print(
      `${this.colors.dim(`${job.label.padEnd(this.labelWidth)} │ `)}${this.colors.cyan(describeProgress(p))}`,
    );
  }

  private jobNote(job: JobView): string {
    const c = this.colors;
    if (job.status === 'failed' && job.error) return c.red(job.error.message);
    if (job.status === 'canceled' && job.error) return c.dim(job.error.message);
    const parts: string[] = [];
    if (job.metrics) parts.push(formatMetrics(job.metrics));
    if (job.plots.size > 0) parts.push(`${job.plots.size} plot${job.plots.size > 1 ? 's' : ''}`);
    return c.dim(parts.join(' · '));
  }

  private print(line: string): void {
    if (this.live) {
      this.live.clear();
      this.options.out.write(line + '\n');
      this.redraw();
    } else {
      this.options.out.write(line + '\n');
    }
  }

  private scheduleRedraw(): void {
    if (!this.live || this.redrawTimer) return;
    // Redrawing on every event would flicker and cost more than the events themselves: 10 frames a second.
    this.redrawTimer = setTimeout(() => {
      this.redrawTimer = null;
      this.redraw();
    }, 100);
  }

  private redraw(): void {
    if (!this.live) return;
    const c = this.colors;
    const now = this.now();
    const rows = [...this.jobs.values()].map((job) => {
      const running = job.status === 'running';
      const elapsed =
        job.startedAt === undefined
          ? ''
          : formatDuration((job.endedAt ?? (running ? now : job.startedAt)) - job.startedAt);
      const detail =
        running && job.progress
          ? c.cyan(describeProgress(job.progress))
          : running && job.metrics
            ? c.dim(formatMetrics(job.metrics))
            : '';
      return [
        `${this.statusColor(job.status)(SYMBOL[job.status])} ${job.label}`,
        this.statusColor(job.status)(job.status),
        c.dim(elapsed),
        detail,
      ];
    });
    this.live.clear();
    this.live(table(rows));
  }

  private statusColor(status: JobStatus): (s: string) => string {
    const c = this.colors;
    switch (status) {
      case 'pending':
        return c.dim;
      case 'queued':
        return c.gray;
      case 'running':
        return c.yellow;
      case 'success':
        return c.green;
      case 'failed':
        return c.red;
      case 'canceled':
        return c.magenta;
      case 'cached':
        return c.cyan;
      default:
        return assertNever(status);
    }
  }
}

function describeProgress(p: { desc?: string; n: number; total: number | null; unit?: string }): string {
  const unit = p.unit && p.unit !== 'it' ? ` ${p.unit}` : '';
  const label = p.desc ? `${p.desc} ` : '';
  if (p.total) {
    const f = p.n / p.total;
    return `${label}${progressBar(f, 20)} ${Math.floor(f * 100)}% ${p.n}/${p.total}${unit}`;
  }
  return `${label}${p.n}${unit}`;
}

function formatMetrics(m: { step: number | null; values: Record<string, number> }): string {
  const values = Object.entries(m.values)
    .map(([k, v]) => `${k}=${Number.isInteger(v) ? v : v.toPrecision(4)}`)
    .join(' ');
  return m.step === null ? values : `step ${m.step} ${values}`;
}
