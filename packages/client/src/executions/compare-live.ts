import type { ExecutionSummaryDto, LiveEvent, MetricSeriesInfoDto } from '@deepforge/protocol';
import type { MetricSource } from '../charts/metric-chart.js';
import { ExecutionLive, type JobLive } from '../lib/execution-live.js';
import { seriesColor } from '../lib/metric-series.js';

/** An execution whose jobs may still log values (its live metrics are followed). */
export function stillLogging(e: Pick<ExecutionSummaryDto, 'status'>): boolean {
  return e.status === 'pending' || e.status === 'running';
}

/**
 * The live metric values of the executions a compare view overlays: one ExecutionLive per execution, fed by its
 * events subscription, so each chart line of a running execution appends new values to the view it drew, as the
 * Metrics tab does (ADR 0014), without reading it again. Only `job.metrics` events matter here.
 */
export class CompareLive {
  private readonly executions = new Map<string, ExecutionLive>();
  private readonly listeners = new Set<() => void>();
  version = 0;

  /** The job's live state (created on first use). */
  job(executionId: string, node: string): JobLive {
    let e = this.executions.get(executionId);
    if (!e) {
      // No console here: the smallest log buffer.
      e = new ExecutionLive(1);
      this.executions.set(executionId, e);
    }
    return e.job(node);
  }

  /** An event of execution `executionId`; a series first seen live makes the view draw it (`subscribe`). */
  apply(executionId: string, e: LiveEvent): void {
    if (e.type !== 'job.metrics') return;
    const job = this.job(executionId, e.node);
    const before = job.metricNames.size;
    this.executions.get(executionId)!.apply(e);
    if (job.metricNames.size !== before) {
      this.version++;
      for (const l of this.listeners) l();
    }
  }

  subscribe = (listener: () => void): (() => void) => {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  };

  getVersion = (): number => this.version;

  /** The nodes of `executionId` seen live. */
  nodes(executionId: string): string[] {
    return this.executions.get(executionId)?.nodes() ?? [];
  }
}

/** One execution's job, with the series the server said it stores (undefined while that list is loading). */
export interface CompareJob {
  execution: ExecutionSummaryDto;
  node: string;
  stored: readonly MetricSeriesInfoDto[] | undefined;
}

export type ViewReaderFactory = (
  executionId: string,
  node: string,
  name: string,
  live: JobLive | undefined,
) => MetricSource['fetchView'];

/**
 * The compare view's charts: one per metric (`node/name`), one line per execution in the order the executions
 * were chosen. The stored series list gives each line; a running execution's lines also follow its live values
 * (`subscribe`), and a series it starts logging while the view is open gets its line (and chart) too.
 */
export function compareCharts(
  executions: readonly ExecutionSummaryDto[],
  jobs: readonly CompareJob[],
  live: CompareLive,
  reader: ViewReaderFactory,
): { key: string; sources: MetricSource[] }[] {
  const byMetric = new Map<string, MetricSource[]>();
  executions.forEach((execution, index) => {
    const following = stillLogging(execution);
    const own = jobs.filter((j) => j.execution.id === execution.id);
    const nodes = [...new Set([...own.map((j) => j.node), ...(following ? live.nodes(execution.id) : [])])];
    for (const node of nodes) {
      const stored = own.find((j) => j.node === node)?.stored ?? [];
      const job = following ? live.job(execution.id, node) : undefined;
      // Where values without a step continue, and which series the server has (a live-only one is not read yet).
      job?.metricSeries(stored);
      const names = job ? [...job.metricNames] : stored.map((s) => s.name);
      for (const name of names) {
        const key = `${node}/${name}`;
        const list = byMetric.get(key) ?? [];
        list.push({
          key: `${execution.id}/${key}`,
          label: execution.name,
          color: seriesColor(index),
          fetchView: reader(execution.id, node, name, job),
          ...(job ? { subscribe: (listener) => job.subscribeMetric(name, listener) } : {}),
        });
        byMetric.set(key, list);
      }
    }
  });
  return [...byMetric.entries()]
    .sort(([a], [b]) => a.localeCompare(b))
    .map(([key, sources]) => ({ key, sources }));
}
