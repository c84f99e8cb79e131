import type { JsonValue } from '@deepforge/core';

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

export interface TelemetryStore {
  appendMetrics(rows: readonly MetricRecord[]): Promise<void>;
  /** Keeps the latest plot per (job, figure): a row with a lower seq than the stored one is ignored. */
  upsertPlots(rows: readonly PlotRecord[]): Promise<void>;
  /** Keeps the latest state per (job, bar). */
  upsertProgress(rows: readonly ProgressRecord[]): Promise<void>;
  /** In the order of `t`. */
  listMetrics(jobId: string): Promise<MetricRecord[]>;
  /** The latest of each figure, by figure number. */
  listPlots(jobId: string): Promise<PlotRecord[]>;
  /** The latest state of each bar, by bar name. */
  listProgress(jobId: string): Promise<ProgressRecord[]>;
  /** Forgets a job's telemetry, when it starts again. */
  clearTelemetry(jobId: string): Promise<void>;
}
