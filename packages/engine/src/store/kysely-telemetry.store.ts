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
import { BLOCK_POINTS, decodeBlock, stepAt, type MetricBlock } from './metric-block.codec.js';
import { FIRST_STORED_LEVEL, writeMetricPoints } from './metric-points.writer.js';
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
 * A series whose x went down somewhere has no seq range per x range: its view reads the points of the range in the
 * order logged, at most this many (bounded work on the server's thread), and says when it stopped early.
 */
export const UNSORTED_VIEW_READ_LIMIT = 100_000;
/** …and decodes at most this many points looking for them (blocks whose x range spans the range hold others too). */
const UNSORTED_VIEW_DECODE_LIMIT = 4 * UNSORTED_VIEW_READ_LIMIT;

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
    const series = await this.db
      .selectFrom('metric_series')
      .select(['id', 'name'])
      .where('job_id', '=', jobId)
      .orderBy('id')
      .execute();
    const out: { record: MetricRecord; seriesId: number; seq: number }[] = [];
    for (const { id, name } of series) {
      const blocks = await this.db
        .selectFrom('metric_blocks')
        .selectAll()
        .where('series_id', '=', id)
        .orderBy('block')
        .execute();
      for (const row of blocks) {
        const block = decodeBlock(row);
        for (let i = 0; i < block.n; i++)
          out.push({
            record: {
              jobId,
              step: stepAt(block, i),
              name,
              value: block.y[i] as number,
              t: block.t[i] as number,
            },
            seriesId: id,
            seq: row.block * BLOCK_POINTS + i,
          });
      }
    }
    // By time, then in the order logged (series, then seq), as the rows were read before blocks.
    out.sort((a, b) => a.record.t - b.record.t || a.seriesId - b.seriesId || a.seq - b.seq);
    return out.map((p) => p.record);
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
      ? this.sortedView(series.id, count, view, query.width)
      : this.unsortedView(series.id, view, query.width);
  }

  /** x never goes down: the range is one run of seqs, and columns are runs of seqs read from the pyramid. */
  private async sortedView(
    seriesId: number,
    count: number,
    view: MetricView,
    width: number,
  ): Promise<MetricView> {
    const first = await this.edgeSeq(seriesId, view.from, 'first');
    const last = await this.edgeSeq(seriesId, view.to, 'last');
    if (first === undefined || last === undefined || last < first)
      return { ...view, exact: { x: new Float64Array(), y: new Float64Array() } };
    const inRange = last - first + 1;
    const plan = planView(first, inRange, width);
    if (plan.kind === 'exact') {
      const x = new Float64Array(inRange);
      const y = new Float64Array(inRange);
      await this.forEachPoint(seriesId, first, last, (block, i, seq) => {
        x[seq - first] = block.x[i] as number;
        y[seq - first] = block.y[i] as number;
      });
      return { ...view, inRange, exact: { x, y } };
    }
    const { level, columnSize, firstColumn, lastColumn } = plan;
    if (level < FIRST_STORED_LEVEL) {
      // Columns of fewer than 64 points (so at most 64 × width points): from the points themselves.
      const columns = emptyColumns();
      let column = Number.NaN;
      let acc: PointSummary | undefined;
      const end = Math.min(count - 1, (lastColumn + 1) * columnSize - 1);
      await this.forEachPoint(seriesId, firstColumn * columnSize, end, (block, i, seq) => {
        const c = Math.floor(seq / columnSize);
        if (c !== column) {
          if (acc) pushColumn(columns, acc);
          column = c;
          acc = undefined;
        }
        acc = addPoint(acc, block.x[i] as number, block.y[i] as number);
      });
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

  /** Calls `fn` for the points `from`…`to` (seqs) in order, decoding only the blocks that hold them. */
  private async forEachPoint(
    seriesId: number,
    from: number,
    to: number,
    fn: (block: MetricBlock, index: number, seq: number) => void,
  ): Promise<void> {
    if (to < from) return;
    const rows = await this.db
      .selectFrom('metric_blocks')
      .selectAll()
      .where('series_id', '=', seriesId)
      .where('block', '>=', Math.floor(from / BLOCK_POINTS))
      .where('block', '<=', Math.floor(to / BLOCK_POINTS))
      .orderBy('block')
      .execute();
    for (const row of rows) {
      const block = decodeBlock(row);
      const base = row.block * BLOCK_POINTS;
      const end = Math.min(block.n - 1, to - base);
      for (let i = Math.max(0, from - base); i <= end; i++) fn(block, i, base + i);
    }
  }

  /**
   * The first seq with x ≥ `x` (or the last with x ≤ `x`), in a series whose x never goes down: the first block
   * whose largest x reaches it (or the last whose smallest is below it), one probe of an index, then a binary
   * search of that block's x. The points of a step range are the seqs between the two.
   */
  private async edgeSeq(seriesId: number, x: number, edge: 'first' | 'last'): Promise<number | undefined> {
    const order = edge === 'first' ? 'asc' : 'desc';
    const column = edge === 'first' ? 'max_x' : 'min_x';
    const row = await this.db
      .selectFrom('metric_blocks')
      .selectAll()
      .where('series_id', '=', seriesId)
      .where(column, edge === 'first' ? '>=' : '<=', x)
      .orderBy(column, order)
      .orderBy('block', order)
      .limit(1)
      .executeTakeFirst();
    if (!row) return undefined;
    const xs = decodeBlock(row).x;
    // The first index whose x is ≥ x (edge first) or > x (edge last, then one before it).
    let lo = 0;
    let hi = xs.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      const v = xs[mid] as number;
      if (edge === 'first' ? v < x : v <= x) lo = mid + 1;
      else hi = mid;
    }
    return row.block * BLOCK_POINTS + (edge === 'first' ? lo : lo - 1);
  }

  /**
   * x went down somewhere: the points of the range from the blocks whose x range meets it, in the order logged, at
   * most UNSORTED_VIEW_READ_LIMIT of them (bounded work on the server's thread; `partial` says it stopped early),
   * then put in x order (ties in the order logged) and into columns of equal x width.
   */
  private async unsortedView(seriesId: number, view: MetricView, width: number): Promise<MetricView> {
    const blocks = await this.db
      .selectFrom('metric_blocks')
      .select(['block', 'n'])
      .where('series_id', '=', seriesId)
      .where('min_x', '<=', view.to)
      .where('max_x', '>=', view.from)
      .orderBy('block')
      .execute();
    const found: { x: number; value: number; seq: number }[] = [];
    let decoded = 0;
    let stopped = false;
    for (const { block: index, n } of blocks) {
      if (found.length > UNSORTED_VIEW_READ_LIMIT || decoded + n > UNSORTED_VIEW_DECODE_LIMIT) {
        stopped = true;
        break;
      }
      const row = await this.db
        .selectFrom('metric_blocks')
        .selectAll()
        .where('series_id', '=', seriesId)
        .where('block', '=', index)
        .executeTakeFirstOrThrow();
      const block = decodeBlock(row);
      decoded += block.n;
      for (let i = 0; i < block.n; i++) {
        const x = block.x[i] as number;
        if (x >= view.from && x <= view.to)
          found.push({ x, value: block.y[i] as number, seq: index * BLOCK_POINTS + i });
      }
    }
    const partial = stopped || found.length > UNSORTED_VIEW_READ_LIMIT;
    const rows = found.slice(0, UNSORTED_VIEW_READ_LIMIT).sort((a, b) => a.x - b.x || a.seq - b.seq);
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
    const out: MetricPointRow[] = [];
    const to = Math.min(Number(series.n), fromSeq + limit) - 1;
    await this.forEachPoint(series.id, fromSeq, to, (block, i, seq) => {
      out.push({
        seq,
        x: block.x[i] as number,
        step: stepAt(block, i),
        value: block.y[i] as number,
        t: block.t[i] as number,
      });
    });
    return out;
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
      await trx.deleteFrom('metric_blocks').where('series_id', 'in', ids).execute();
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
