import type { Kysely } from 'kysely';
import {
  addPoint,
  bucketSize,
  emptyColumns,
  groupSummaries,
  planView,
  pushColumn,
  type JsonValue,
  type PointSummary,
} from '@deepforge/core';
import { num, type Database, type KyselyStoreOptions, type MetricSeriesTable } from './kysely.database.js';
import { pointId, SERIES_POINTS, writeMetricPoints } from './metric-points.writer.js';
import type {
  MetricPointRow,
  MetricRecord,
  MetricSeriesInfo,
  MetricView,
  MetricViewQuery,
  PlotRecord,
  ProgressRecord,
  TelemetryStore,
} from './telemetry.store.js';

/**
 * A series whose x went down somewhere has no seq range per x range: its view reads the points of the range in x
 * order, at most this many (a bounded query on the server's thread), and says when it stopped early.
 */
export const UNSORTED_VIEW_READ_LIMIT = 100_000;

/** The telemetry store, written once with Kysely's query builder and nothing dialect-specific. */
export class KyselyTelemetryStore implements TelemetryStore {
  private readonly db: Kysely<Database>;

  constructor(private readonly options: Pick<KyselyStoreOptions, 'db' | 'transaction' | 'lockKey'>) {
    this.db = options.db;
  }

  async appendMetrics(rows: readonly MetricRecord[]): Promise<void> {
    if (rows.length === 0) return;
    await this.options.transaction((trx) => writeMetricPoints(trx, rows, this.options.lockKey));
  }

  async upsertPlots(rows: readonly PlotRecord[]): Promise<void> {
    if (rows.length === 0) return;
    await this.options.transaction(async (trx) => {
      for (const r of rows) {
        await trx
          .insertInto('plots')
          .values({
            job_id: r.jobId,
            figure: r.figure,
            seq: r.seq,
            payload: JSON.stringify(r.payload),
            t: r.t,
          })
          .onConflict((oc) =>
            oc
              .columns(['job_id', 'figure'])
              .doUpdateSet((eb) => ({
                seq: eb.ref('excluded.seq'),
                payload: eb.ref('excluded.payload'),
                t: eb.ref('excluded.t'),
              }))
              .where('plots.seq', '<=', (eb) => eb.ref('excluded.seq')),
          )
          .execute();
      }
    });
  }

  async upsertProgress(rows: readonly ProgressRecord[]): Promise<void> {
    if (rows.length === 0) return;
    await this.options.transaction(async (trx) => {
      for (const r of rows) {
        await trx
          .insertInto('progress')
          .values({ job_id: r.jobId, bar: r.bar, payload: JSON.stringify(r.payload), t: r.t })
          .onConflict((oc) =>
            oc.columns(['job_id', 'bar']).doUpdateSet((eb) => ({
              payload: eb.ref('excluded.payload'),
              t: eb.ref('excluded.t'),
            })),
          )
          .execute();
      }
    });
  }

  async listMetrics(jobId: string): Promise<MetricRecord[]> {
    const rows = await this.db
      .selectFrom('metrics')
      .innerJoin('metric_series', 'metric_series.id', 'metrics.series_id')
      .select(['metric_series.name', 'metrics.step', 'metrics.value', 'metrics.t'])
      .where('metric_series.job_id', '=', jobId)
      .orderBy('metrics.t')
      .orderBy('metrics.id')
      .execute();
    return rows.map((r) => ({ jobId, step: r.step, name: r.name, value: r.value, t: num(r.t) }));
  }

  async listMetricSeries(jobId: string): Promise<MetricSeriesInfo[]> {
    const rows = await this.db
      .selectFrom('metric_series')
      .selectAll()
      .where('job_id', '=', jobId)
      .orderBy('id')
      .execute();
    return rows.map(seriesInfo);
  }

  private series(jobId: string, name: string): Promise<MetricSeriesTable | undefined> {
    return this.db
      .selectFrom('metric_series')
      .selectAll()
      .where('job_id', '=', jobId)
      .where('name', '=', name)
      .executeTakeFirst();
  }

  async readMetricView(jobId: string, name: string, query: MetricViewQuery): Promise<MetricView | undefined> {
    const series = await this.series(jobId, name);
    if (!series) return undefined;
    const count = Number(series.n);
    const from = query.from ?? series.min_x ?? 0;
    const to = query.to ?? series.max_x ?? 0;
    const view: MetricView = { name, count, from, to, inRange: 0, partial: false };
    if (count === 0 || from > to) return { ...view, exact: { x: new Float64Array(), y: new Float64Array() } };
    return series.sorted === 1
      ? this.sortedView(series.id, view, query.width)
      : this.unsortedView(series.id, view, query.width);
  }

  /** x never goes down: the range is one run of seqs, and columns are runs of seqs read from the pyramid. */
  private async sortedView(seriesId: number, view: MetricView, width: number): Promise<MetricView> {
    const first = await this.edgeSeq(seriesId, view.from, 'first');
    const last = await this.edgeSeq(seriesId, view.to, 'last');
    if (first === undefined || last === undefined || last < first)
      return { ...view, exact: { x: new Float64Array(), y: new Float64Array() } };
    const inRange = last - first + 1;
    const plan = planView(first, inRange, width);
    if (plan.kind === 'exact') {
      const rows = await this.db
        .selectFrom('metrics')
        .select(['x', 'value'])
        // The key alone: its range is the series' seqs (series_id would steer the planner to the x index).
        .where('id', '>=', pointId(seriesId, first))
        .where('id', '<=', pointId(seriesId, last))
        .orderBy('id')
        .execute();
      return {
        ...view,
        inRange,
        exact: { x: Float64Array.from(rows, (r) => r.x), y: Float64Array.from(rows, (r) => r.value) },
      };
    }
    const { level, columnSize, firstColumn, lastColumn } = plan;
    if (level === 0) {
      const rows = await this.db
        .selectFrom('metrics')
        .select(['id', 'x', 'value'])
        .where('id', '>=', pointId(seriesId, firstColumn * columnSize))
        .where('id', '<', pointId(seriesId, (lastColumn + 1) * columnSize))
        .orderBy('id')
        .execute();
      const columns = emptyColumns();
      let column = Number.NaN;
      let acc: PointSummary | undefined;
      for (const r of rows) {
        const c = Math.floor((num(r.id) - pointId(seriesId, 0)) / columnSize);
        if (c !== column) {
          if (acc) pushColumn(columns, acc);
          column = c;
          acc = undefined;
        }
        acc = addPoint(acc, r.x, r.value);
      }
      if (acc) pushColumn(columns, acc);
      return { ...view, inRange, columns, columnSize };
    }
    const perColumn = columnSize / bucketSize(level);
    const rows = await this.db
      .selectFrom('metric_buckets')
      .selectAll()
      .where('series_id', '=', seriesId)
      .where('level', '=', level)
      .where('bucket', '>=', firstColumn * perColumn)
      .where('bucket', '<', (lastColumn + 1) * perColumn)
      .orderBy('bucket')
      .execute();
    const columns = groupSummaries(
      rows.map((r) => ({
        key: num(r.bucket),
        summary: {
          n: num(r.n),
          firstX: r.first_x,
          firstY: r.first_y,
          lastX: r.last_x,
          lastY: r.last_y,
          minY: r.min_y,
          maxY: r.max_y,
        },
      })),
      perColumn,
    );
    return { ...view, inRange, columns, columnSize };
  }

  /**
   * The first seq with x ≥ `x` (or the last with x ≤ `x`): one probe of the (series, x, id) index. In a series
   * whose x never goes down, the points of a step range are the seqs between the two.
   */
  private async edgeSeq(seriesId: number, x: number, edge: 'first' | 'last'): Promise<number | undefined> {
    const order = edge === 'first' ? 'asc' : 'desc';
    const row = await this.db
      .selectFrom('metrics')
      .select('id')
      .where('series_id', '=', seriesId)
      .where('x', edge === 'first' ? '>=' : '<=', x)
      .orderBy('x', order)
      .orderBy('id', order)
      .limit(1)
      .executeTakeFirst();
    return row ? num(row.id) - pointId(seriesId, 0) : undefined;
  }

  /** x went down somewhere: the points of the range in x order, bounded, into columns of equal x width. */
  private async unsortedView(seriesId: number, view: MetricView, width: number): Promise<MetricView> {
    const rows = await this.db
      .selectFrom('metrics')
      .select(['x', 'value'])
      .where('series_id', '=', seriesId)
      .where('x', '>=', view.from)
      .where('x', '<=', view.to)
      .orderBy('x')
      .orderBy('id')
      .limit(UNSORTED_VIEW_READ_LIMIT + 1)
      .execute();
    const partial = rows.length > UNSORTED_VIEW_READ_LIMIT;
    if (partial) rows.pop();
    if (rows.length <= width)
      return {
        ...view,
        inRange: rows.length,
        partial,
        exact: { x: Float64Array.from(rows, (r) => r.x), y: Float64Array.from(rows, (r) => r.value) },
      };
    const span = (view.to - view.from) / width || 1;
    const summaries = new Map<number, PointSummary>();
    for (const r of rows) {
      const c = Math.min(width - 1, Math.floor((r.x - view.from) / span));
      const s = addPoint(summaries.get(c), r.x, r.value);
      if (s) summaries.set(c, s);
    }
    const columns = groupSummaries(
      [...summaries].map(([key, summary]) => ({ key, summary })),
      1,
    );
    return { ...view, inRange: rows.length, partial, columns, columnSize: span };
  }

  async readMetricPoints(
    jobId: string,
    name: string,
    fromSeq: number,
    limit: number,
  ): Promise<MetricPointRow[]> {
    const series = await this.series(jobId, name);
    if (!series) return [];
    const rows = await this.db
      .selectFrom('metrics')
      .select(['id', 'x', 'step', 'value', 't'])
      .where('id', '>=', pointId(series.id, fromSeq))
      .where('id', '<', pointId(series.id, SERIES_POINTS))
      .orderBy('id')
      .limit(limit)
      .execute();
    const base = pointId(series.id, 0);
    return rows.map((r) => ({ seq: num(r.id) - base, x: r.x, step: r.step, value: r.value, t: num(r.t) }));
  }

  async listPlots(jobId: string): Promise<PlotRecord[]> {
    const rows = await this.db
      .selectFrom('plots')
      .selectAll()
      .where('job_id', '=', jobId)
      .orderBy('figure')
      .execute();
    return rows.map((r) => ({
      jobId: r.job_id,
      figure: r.figure,
      seq: r.seq,
      payload: JSON.parse(r.payload) as Record<string, JsonValue>,
      t: num(r.t),
    }));
  }

  async listProgress(jobId: string): Promise<ProgressRecord[]> {
    const rows = await this.db
      .selectFrom('progress')
      .selectAll()
      .where('job_id', '=', jobId)
      .orderBy('bar')
      .execute();
    return rows.map((r) => ({
      jobId: r.job_id,
      bar: r.bar,
      payload: JSON.parse(r.payload) as Record<string, JsonValue>,
      t: num(r.t),
    }));
  }

  async clearTelemetry(jobId: string): Promise<void> {
    await this.options.transaction(async (trx) => {
      const ids = trx.selectFrom('metric_series').select('id').where('job_id', '=', jobId);
      await trx.deleteFrom('metrics').where('series_id', 'in', ids).execute();
      await trx.deleteFrom('metric_buckets').where('series_id', 'in', ids).execute();
      await trx.deleteFrom('metric_series').where('job_id', '=', jobId).execute();
      await trx.deleteFrom('plots').where('job_id', '=', jobId).execute();
      await trx.deleteFrom('progress').where('job_id', '=', jobId).execute();
    });
  }
}

function seriesInfo(r: MetricSeriesTable): MetricSeriesInfo {
  return {
    name: r.name,
    count: num(r.n),
    minX: r.min_x,
    maxX: r.max_x,
    lastX: r.last_x,
    lastY: r.last_y,
    sorted: r.sorted === 1,
  };
}
