import type { Logger } from 'pino';
import type { MetricRecord, PlotRecord, ProgressRecord, TelemetryStore } from '../store/telemetry.store.js';

/** Telemetry is written to the database in batches: an operation may report thousands of metrics a second. */
export const TELEMETRY_FLUSH_MS = 500;

/** Buffers metrics, plots and progress and writes them every TELEMETRY_FLUSH_MS, latest plot/bar only. */
export class TelemetryBuffer {
  private metrics: MetricRecord[] = [];
  private plots = new Map<string, PlotRecord>();
  private progressRows = new Map<string, ProgressRecord>();
  private timer: NodeJS.Timeout | undefined;
  private flushing: Promise<void> = Promise.resolve();

  constructor(
    private readonly store: TelemetryStore,
    private readonly logger: Logger,
  ) {}

  metric(row: MetricRecord): void {
    this.metrics.push(row);
    this.schedule();
  }

  plot(row: PlotRecord): void {
    this.plots.set(`${row.jobId}\0${row.figure}`, row);
    this.schedule();
  }

  progress(row: ProgressRecord): void {
    this.progressRows.set(`${row.jobId}\0${row.bar}`, row);
    this.schedule();
  }

  private schedule(): void {
    if (this.timer) return;
    this.timer = setTimeout(() => {
      this.timer = undefined;
      void this.flush();
    }, TELEMETRY_FLUSH_MS);
    this.timer.unref();
  }

  flush(): Promise<void> {
    clearTimeout(this.timer);
    this.timer = undefined;
    const metrics = this.metrics;
    const plots = [...this.plots.values()];
    const progress = [...this.progressRows.values()];
    this.metrics = [];
    this.plots.clear();
    this.progressRows.clear();
    this.flushing = this.flushing.then(async () => {
      try {
        await this.store.appendMetrics(metrics);
        await this.store.upsertPlots(plots);
        await this.store.upsertProgress(progress);
      } catch (err) {
        this.logger.warn({ err }, 'could not store job telemetry');
      }
    });
    return this.flushing;
  }
}
