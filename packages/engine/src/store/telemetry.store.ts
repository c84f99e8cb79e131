import type { JsonValue, SummaryColumns } from '@deepforge/core';

/**
 * The telemetry store port: what jobs report while they run (metrics, the latest state of each plot and of each
 * progress bar). Rows belong to a job of the execution store of the same database: writing rows for a job that
 * does not exist fails, and deleting the job's execution deletes them. Writes come in batches (the scheduler
 * buffers them) and each batch is written whole or not at all. Every adapter passes
 * telemetry.store.conformance.ts; adapter: kysely-telemetry.store.ts on SQLite and PostgreSQL.
 */

export interface MetricRecord {
  jobId: string;
  step: number | null;
  name: string;
  value: number;
  t: number;
}

export interface PlotRecord {
  jobId: string;
  figure: number;
  seq: number;
  /** The plot as the job.plot event carries it (title, svg/png, axes). */
  payload: Record<string, JsonValue>;
  t: number;
}

export interface ProgressRecord {
  jobId: string;
  bar: string;
  payload: Record<string, JsonValue>;
  t: number;
}

/** One metric series of a job: its values of one name (ADR 0014). */
export interface MetricSeriesInfo {
  name: string;
  /** Points stored. */
  count: number;
  /** The smallest and largest x (step); null while empty. */
  minX: number | null;
  maxX: number | null;
  /** The last point logged. */
  lastX: number | null;
  lastY: number | null;
  /** x never went down from one point to the next (views are then exact per column, read from the pyramid). */
  sorted: boolean;
}

export interface MetricViewQuery {
  /** x range, both ends included; the series' own range when left out. */
  from?: number;
  to?: number;
  /** Pixel columns: at most this many columns, or exact points when the range holds no more points than this. */
  width: number;
}

/**
 * A series drawn for a view: the exact points of the range when it holds at most `width` of them, else per column
 * the count, first, last, min and max of its points (empty columns left out). Columns are runs of `columnSize`
 * consecutive points (by seq) aligned on multiples of it, so the first and the last may reach past the range.
 */
export interface MetricView {
  name: string;
  /** Points in the whole series. */
  count: number;
  from: number;
  to: number;
  /** Points with x in [from, to] (for a series whose x went down: the points read, see `partial`). */
  inRange: number;
  exact?: { x: Float64Array; y: Float64Array };
  columns?: SummaryColumns;
  /** Points per column (an x range per column for a series whose x went down). */
  columnSize?: number;
  /** Only for a series whose x went down: the range held more points than a view reads; columns end early. */
  partial: boolean;
}

/** A stored point with its place in its series, as downloads read them. */
export interface MetricPointRow {
  seq: number;
  x: number;
  step: number | null;
  value: number;
  t: number;
}

export interface TelemetryStore {
  /**
   * Appends to each value's series (job and name); the whole batch or nothing. A non-finite value or step is
   * refused (MetricValueError), like a job that does not exist.
   */
  appendMetrics(rows: readonly MetricRecord[]): Promise<void>;
  /** Keeps the latest plot per (job, figure): a row with a lower seq than the stored one is ignored. */
  upsertPlots(rows: readonly PlotRecord[]): Promise<void>;
  /** Keeps the latest state per (job, bar). */
  upsertProgress(rows: readonly ProgressRecord[]): Promise<void>;
  /** In the order of `t` (then as logged). */
  listMetrics(jobId: string): Promise<MetricRecord[]>;
  /** The job's series, in the order each was first logged. */
  listMetricSeries(jobId: string): Promise<MetricSeriesInfo[]>;
  /**
   * One series for a view; undefined when the job has no series of that name. Reads O(width) rows: exact points by
   * seq, or buckets of one pyramid level (at most about 8 per column).
   */
  readMetricView(jobId: string, name: string, query: MetricViewQuery): Promise<MetricView | undefined>;
  /** Up to `limit` points of a series from seq `fromSeq` on, in seq order (a page of a download). */
  readMetricPoints(jobId: string, name: string, fromSeq: number, limit: number): Promise<MetricPointRow[]>;
  /** The latest of each figure, by figure number. */
  listPlots(jobId: string): Promise<PlotRecord[]>;
  /** The latest state of each bar, by bar name. */
  listProgress(jobId: string): Promise<ProgressRecord[]>;
  /** Forgets a job's telemetry, when it starts again. */
  clearTelemetry(jobId: string): Promise<void>;
}
