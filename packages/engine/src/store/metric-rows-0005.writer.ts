import { CompiledQuery, PostgresAdapter, type Kysely } from 'kysely';
import {
  bucketPoints,
  bucketSize,
  mergeSummaries,
  PYRAMID_BASE,
  PYRAMID_LEVELS,
  type PointSummary,
} from '@deepforge/core';
import type { Database, MetricBucketsTable, MetricSeriesTable } from './kysely.database.js';
import type { MetricRecord } from './telemetry.store.js';

/** Rows per INSERT on SQLite: under its 32,766 bound parameters. PostgreSQL takes arrays: one INSERT per batch. */
const POINT_ROWS_PER_INSERT = 2000;
const BUCKET_ROWS_PER_INSERT = 1000;
const POSTGRES_ROWS_PER_INSERT = 100_000;

const isPostgres = (trx: Kysely<Database>): boolean => trx.getExecutor().adapter instanceof PostgresAdapter;

/**
 * A point's key: its series and its seq in one integer (the rowid on SQLite), exact in a double while series ids
 * stay under 2^25 and a series under 2^28 points.
 */
const SERIES_POINTS = 2 ** 28;
const MAX_SERIES_ID = 2 ** 25;

function pointId(seriesId: number, seq: number): number {
  return seriesId * SERIES_POINTS + seq;
}

/**
 * Migration 0005's writer, kept as it shipped (a migration never changes): appends metric values to their series as
 * the schema of 0005 held them, one row per point in `metrics` keyed by series · 2^28 + seq, beside the series'
 * counters and the min-max pyramid (levels 1…10). Migration 0006 packs those rows into blocks (ADR 0014); the store
 * writes blocks (metric-points.writer.ts). Only migration 0005 and tests of what came before 0006 call this.
 */
export async function writeMetricRows0005(
  trx: Kysely<Database>,
  rows: readonly MetricRecord[],
  lockKey: (trx: Kysely<Database>, key: string) => Promise<void>,
): Promise<void> {
  const groups = new Map<string, MetricRecord[]>();
  for (const r of rows) {
    if (!Number.isFinite(r.value) || (r.step !== null && !Number.isFinite(r.step)))
      throw new Error(`metric "${r.name}" of job ${r.jobId}: not a finite number`);
    const key = `${r.jobId}\u0000${r.name}`;
    const list = groups.get(key);
    if (list) list.push(r);
    else groups.set(key, [r]);
  }
  for (const list of groups.values()) await appendToSeries(trx, list, lockKey);
}

async function seriesOf(
  trx: Kysely<Database>,
  jobId: string,
  name: string,
  lockKey: (trx: Kysely<Database>, key: string) => Promise<void>,
): Promise<MetricSeriesTable> {
  const found = await trx
    .selectFrom('metric_series')
    .selectAll()
    .where('job_id', '=', jobId)
    .where('name', '=', name)
    .executeTakeFirst();
  if (found) return found;
  await lockKey(trx, 'metric_series');
  const { max } = await trx
    .selectFrom('metric_series')
    .select((eb) => eb.fn.max('id').as('max'))
    .executeTakeFirstOrThrow();
  const id = Number(max ?? 0) + 1;
  if (id >= MAX_SERIES_ID)
    throw new Error(`the database holds ${MAX_SERIES_ID - 1} metric series, the most it can`);
  const row: MetricSeriesTable = {
    id,
    job_id: jobId,
    name,
    n: 0,
    min_x: null,
    max_x: null,
    last_x: null,
    last_y: null,
    sorted: 1,
  };
  await trx.insertInto('metric_series').values(row).execute();
  return row;
}

async function appendToSeries(
  trx: Kysely<Database>,
  rows: readonly MetricRecord[],
  lockKey: (trx: Kysely<Database>, key: string) => Promise<void>,
): Promise<void> {
  const first = rows[0] as MetricRecord;
  const series = await seriesOf(trx, first.jobId, first.name, lockKey);
  const start = Number(series.n);
  if (start + rows.length > SERIES_POINTS)
    throw new Error(
      `metric "${first.name}" of job ${first.jobId} would hold more than ${SERIES_POINTS} points, the most a series can`,
    );
  const xs = new Float64Array(rows.length);
  const ys = new Float64Array(rows.length);
  let lastX = series.last_x;
  let sorted = series.sorted === 1;
  let minX = series.min_x ?? Infinity;
  let maxX = series.max_x ?? -Infinity;
  for (let i = 0; i < rows.length; i++) {
    const r = rows[i] as MetricRecord;
    // A value without a step goes one after the series' last point, as the chart always drew it.
    const x = r.step ?? (lastX === null ? 0 : lastX + 1);
    if (lastX !== null && x < lastX) sorted = false;
    lastX = x;
    if (x < minX) minX = x;
    if (x > maxX) maxX = x;
    xs[i] = x;
    ys[i] = r.value;
  }
  const perInsert = isPostgres(trx) ? POSTGRES_ROWS_PER_INSERT : POINT_ROWS_PER_INSERT;
  for (let i = 0; i < rows.length; i += perInsert) {
    const chunk = rows.slice(i, i + perInsert);
    const params: unknown[] = [];
    for (let j = 0; j < chunk.length; j++) {
      const r = chunk[j] as MetricRecord;
      params.push(pointId(series.id, start + i + j), series.id, xs[i + j], r.step, r.value, r.t);
    }
    await trx.executeQuery(bulkInsert(trx, 'metrics', POINT_COLUMNS, chunk.length, params));
  }
  await updatePyramid(trx, series.id, start, xs, ys);
  const last = rows[rows.length - 1] as MetricRecord;
  await trx
    .updateTable('metric_series')
    .set({
      n: start + rows.length,
      min_x: minX,
      max_x: maxX,
      last_x: lastX,
      last_y: last.value,
      sorted: sorted ? 1 : 0,
    })
    .where('id', '=', series.id)
    .execute();
}

/** The buckets of every level that points `start`… fall into, merged with the partial buckets already stored. */
async function updatePyramid(
  trx: Kysely<Database>,
  seriesId: number,
  start: number,
  xs: Float64Array,
  ys: Float64Array,
): Promise<void> {
  const levels: Map<number, PointSummary>[] = [];
  let previous = bucketPoints(xs, ys, start, bucketSize(1));
  levels.push(previous);
  for (let level = 2; level <= PYRAMID_LEVELS; level++) {
    // Level k+1 from level k: eight buckets make one, in order.
    const next = new Map<number, PointSummary>();
    for (const [b, s] of previous) {
      const up = Math.floor(b / PYRAMID_BASE);
      const acc = next.get(up);
      next.set(up, acc ? mergeSummaries(acc, s) : s);
    }
    levels.push(next);
    previous = next;
  }
  // The bucket holding `start` already has the points before it when `start` is not on a bucket boundary.
  const partial: { level: number; bucket: number }[] = [];
  for (let level = 1; level <= PYRAMID_LEVELS; level++) {
    if (start % bucketSize(level) !== 0)
      partial.push({ level, bucket: Math.floor(start / bucketSize(level)) });
  }
  if (partial.length > 0) {
    const stored = await trx
      .selectFrom('metric_buckets')
      .selectAll()
      .where('series_id', '=', seriesId)
      .where((eb) =>
        eb.or(partial.map((p) => eb.and([eb('level', '=', p.level), eb('bucket', '=', p.bucket)]))),
      )
      .execute();
    for (const row of stored) {
      const level = levels[row.level - 1] as Map<number, PointSummary>;
      const b = Number(row.bucket);
      const fresh = level.get(b);
      const old: PointSummary = {
        n: Number(row.n),
        firstX: row.first_x,
        firstY: row.first_y,
        lastX: row.last_x,
        lastY: row.last_y,
        minY: row.min_y,
        maxY: row.max_y,
      };
      level.set(b, fresh ? mergeSummaries(old, fresh) : old);
    }
  }
  const rows: MetricBucketsTable[] = [];
  levels.forEach((level, i) => {
    for (const [bucket, s] of level) {
      rows.push({
        series_id: seriesId,
        level: i + 1,
        bucket,
        n: s.n,
        first_x: s.firstX,
        first_y: s.firstY,
        last_x: s.lastX,
        last_y: s.lastY,
        min_y: s.minY,
        max_y: s.maxY,
      });
    }
  });
  const perInsert = isPostgres(trx) ? POSTGRES_ROWS_PER_INSERT : BUCKET_ROWS_PER_INSERT;
  for (let i = 0; i < rows.length; i += perInsert) {
    const chunk = rows.slice(i, i + perInsert);
    const params: unknown[] = [];
    for (const r of chunk) {
      params.push(
        r.series_id,
        r.level,
        r.bucket,
        r.n,
        r.first_x,
        r.first_y,
        r.last_x,
        r.last_y,
        r.min_y,
        r.max_y,
      );
    }
    await trx.executeQuery(
      bulkInsert(trx, 'metric_buckets', BUCKET_COLUMNS, chunk.length, params, BUCKET_UPSERT),
    );
  }
}

/** Columns with their PostgreSQL types (for unnest). */
const POINT_COLUMNS = [
  ['id', 'int8'],
  ['series_id', 'int4'],
  ['x', 'float8'],
  ['step', 'float8'],
  ['value', 'float8'],
  ['t', 'int8'],
] as const;
const BUCKET_COLUMNS = [
  ['series_id', 'int4'],
  ['level', 'int4'],
  ['bucket', 'int4'],
  ['n', 'int8'],
  ['first_x', 'float8'],
  ['first_y', 'float8'],
  ['last_x', 'float8'],
  ['last_y', 'float8'],
  ['min_y', 'float8'],
  ['max_y', 'float8'],
] as const;
/** The same words on SQLite (3.24+) and PostgreSQL: a bucket already stored takes the merged summary. */
const BUCKET_UPSERT =
  ' on conflict (series_id, level, bucket) do update set ' +
  BUCKET_COLUMNS.slice(3)
    .map(([c]) => `${c} = excluded.${c}`)
    .join(', ');

/**
 * A multi-row INSERT as SQL text with its parameters, without the query builder: building a tree node per value
 * cost more than SQLite's own work for a batch of a million points. Only fixed table and column names go into the
 * text; every value is a bound parameter. SQLite: `values (?, …), …`; PostgreSQL: one array per column through
 * `unnest` (a few parameters whatever the rows, parsed by the server at its own speed).
 */
function bulkInsert(
  trx: Kysely<Database>,
  table: string,
  columns: readonly (readonly [string, string])[],
  rowCount: number,
  params: unknown[],
  suffix = '',
): CompiledQuery {
  const names = columns.map(([c]) => c).join(', ');
  if (isPostgres(trx)) {
    const arrays = columns.map(() => new Array<unknown>(rowCount));
    for (let r = 0; r < rowCount; r++)
      for (let c = 0; c < columns.length; c++) (arrays[c] as unknown[])[r] = params[r * columns.length + c];
    const unnest = columns.map(([, type], i) => `$${i + 1}::${type}[]`).join(', ');
    return CompiledQuery.raw(
      `insert into ${table} (${names}) select * from unnest(${unnest})${suffix}`,
      arrays,
    );
  }
  const row = `(${columns.map(() => '?').join(',')})`;
  return CompiledQuery.raw(
    `insert into ${table} (${names}) values ${new Array<string>(rowCount).fill(row).join(',')}${suffix}`,
    params,
  );
}
