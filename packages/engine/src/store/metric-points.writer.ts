import { CompiledQuery, PostgresAdapter, type Kysely } from 'kysely';
import {
  bucketPoints,
  bucketSize,
  mergeSummaries,
  PYRAMID_BASE,
  PYRAMID_LEVELS,
  type PointSummary,
} from '@deepforge/core';
import { DatabaseError } from '../errors.js';
import { BLOCK_POINTS, blockToRow, decodeBlock, newBlock, pushPoint, stepAt } from './metric-block.codec.js';
import type {
  Database,
  MetricBlocksTable,
  MetricBucketsTable,
  MetricSeriesTable,
} from './kysely.database.js';
import type { MetricRecord } from './telemetry.store.js';

/** Rows per INSERT on SQLite: under its 32,766 bound parameters. PostgreSQL takes arrays: one INSERT per batch. */
const BUCKET_ROWS_PER_INSERT = 1000;
/** Blocks per INSERT: a few MiB of blobs in one statement. */
const BLOCK_ROWS_PER_INSERT = 100;
const POSTGRES_ROWS_PER_INSERT = 100_000;

const isPostgres = (trx: Kysely<Database>): boolean => trx.getExecutor().adapter instanceof PostgresAdapter;

/** The most points a series holds (and the most series a database holds): block and bucket numbers stay small. */
export const SERIES_POINTS = 2 ** 28;
const MAX_SERIES_ID = 2 ** 25;

/**
 * The pyramid levels stored start at 2 (buckets of 64 points): a view whose columns are finer than that decodes the
 * blocks of its range instead (at most 64 points per column, so a bounded read), and level 1 would cost a row per 8
 * points, a third of the numbers' own size again.
 */
export const FIRST_STORED_LEVEL = 2;

/** A metric value or step that is not a finite number (the store keeps none: ADR 0014). */
export class MetricValueError extends Error {
  override name = 'MetricValueError';
}

/**
 * Appends metric values to their series (ADR 0014), inside the caller's write transaction: the points (seq and x
 * assigned) packed into blocks of `BLOCK_POINTS`, the series' counters, and the min-max pyramid's buckets that the
 * new points fall into, merged with the stored partial bucket of each level. `lockKey` keeps two processes from
 * giving two new series the same id.
 */
export async function writeMetricPoints(
  trx: Kysely<Database>,
  rows: readonly MetricRecord[],
  lockKey: (trx: Kysely<Database>, key: string) => Promise<void>,
): Promise<void> {
  const groups = new Map<string, MetricRecord[]>();
  for (const r of rows) {
    if (!Number.isFinite(r.value))
      throw new MetricValueError(
        `metric "${r.name}" of job ${r.jobId}: the value ${r.value} is not a finite number`,
      );
    if (r.step !== null && !Number.isFinite(r.step))
      throw new MetricValueError(
        `metric "${r.name}" of job ${r.jobId}: the step ${r.step} is not a finite number`,
      );
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
    throw new MetricValueError(`the database holds ${MAX_SERIES_ID - 1} metric series, the most it can`);
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
    throw new MetricValueError(
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
  await writeBlocks(trx, series.id, start, rows, xs);
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

/**
 * The points `start`… into their blocks: the stored partial last block (when `start` is not on a block boundary)
 * is read, the new points appended to it, and it is written again whole with the blocks after it.
 */
async function writeBlocks(
  trx: Kysely<Database>,
  seriesId: number,
  start: number,
  rows: readonly MetricRecord[],
  xs: Float64Array,
): Promise<void> {
  let index = Math.floor(start / BLOCK_POINTS);
  let block = newBlock(BLOCK_POINTS);
  const held = start % BLOCK_POINTS;
  if (held !== 0) {
    const stored = await trx
      .selectFrom('metric_blocks')
      .selectAll()
      .where('series_id', '=', seriesId)
      .where('block', '=', index)
      .executeTakeFirst();
    if (!stored || Number(stored.n) !== held)
      throw new DatabaseError(
        `metric series ${seriesId} holds ${start} points, but its block ${index} holds ${stored ? Number(stored.n) : 'none'} of the ${held} it should`,
      );
    const old = decodeBlock(stored);
    for (let i = 0; i < old.n; i++)
      pushPoint(block, old.x[i] as number, stepAt(old, i), old.y[i] as number, old.t[i] as number);
  }
  const out: MetricBlocksTable[] = [];
  for (let i = 0; i < rows.length; i++) {
    if (block.n === BLOCK_POINTS) {
      out.push(blockToRow(seriesId, index++, block));
      block = newBlock(BLOCK_POINTS);
    }
    const r = rows[i] as MetricRecord;
    pushPoint(block, xs[i] as number, r.step, r.value, r.t);
  }
  out.push(blockToRow(seriesId, index, block));
  for (let i = 0; i < out.length; i += BLOCK_ROWS_PER_INSERT) {
    await trx
      .insertInto('metric_blocks')
      .values(out.slice(i, i + BLOCK_ROWS_PER_INSERT))
      .onConflict((oc) =>
        oc.columns(['series_id', 'block']).doUpdateSet((eb) => ({
          n: eb.ref('excluded.n'),
          min_x: eb.ref('excluded.min_x'),
          max_x: eb.ref('excluded.max_x'),
          no_step: eb.ref('excluded.no_step'),
          points: eb.ref('excluded.points'),
        })),
      )
      .execute();
  }
}

/**
 * The buckets of every stored level that points `start`… fall into, merged with the partial buckets already
 * stored.
 */
async function updatePyramid(
  trx: Kysely<Database>,
  seriesId: number,
  start: number,
  xs: Float64Array,
  ys: Float64Array,
): Promise<void> {
  const levels: Map<number, PointSummary>[] = [];
  let previous = bucketPoints(xs, ys, start, bucketSize(FIRST_STORED_LEVEL));
  levels.push(previous);
  for (let level = FIRST_STORED_LEVEL + 1; level <= PYRAMID_LEVELS; level++) {
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
  for (let level = FIRST_STORED_LEVEL; level <= PYRAMID_LEVELS; level++) {
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
      const level = levels[row.level - FIRST_STORED_LEVEL] as Map<number, PointSummary>;
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
        level: i + FIRST_STORED_LEVEL,
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
