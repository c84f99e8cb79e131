/**
 * Min-max summaries of a metric series (ADR 0014): the pure part of drawing a million-point series at once.
 *
 * A series is its points in the order they were logged (`seq` 0, 1, 2, …), each with an x (the step) and a y (the
 * value). A summary of a run of consecutive points keeps their count, the first and the last point, and the
 * smallest and the largest value: enough to draw them in one pixel column without losing a spike or a dip. Summaries
 * of neighbouring runs merge into the summary of both, which is what the stored pyramid and the view rely on.
 *
 * Non-finite values (NaN, ±Infinity) are skipped: they are not counted and never become a first, last, min or max.
 * `deepforge.log` refuses them and the store does too, so they only matter to callers with their own data.
 */

export interface PointSummary {
  /** Finite points summarized. */
  n: number;
  firstX: number;
  firstY: number;
  lastX: number;
  lastY: number;
  minY: number;
  maxY: number;
}

/** The summary of `a` followed by `b` (a's points come first). */
export function mergeSummaries(a: PointSummary, b: PointSummary): PointSummary {
  if (a.n === 0) return b;
  if (b.n === 0) return a;
  return {
    n: a.n + b.n,
    firstX: a.firstX,
    firstY: a.firstY,
    lastX: b.lastX,
    lastY: b.lastY,
    minY: Math.min(a.minY, b.minY),
    maxY: Math.max(a.maxY, b.maxY),
  };
}

/** Adds one point after those of `s` (mutates and returns `s`, or starts a summary when `s` is undefined). */
export function addPoint(s: PointSummary | undefined, x: number, y: number): PointSummary | undefined {
  if (!Number.isFinite(y)) return s;
  if (!s || s.n === 0) return { n: 1, firstX: x, firstY: y, lastX: x, lastY: y, minY: y, maxY: y };
  s.n++;
  s.lastX = x;
  s.lastY = y;
  if (y < s.minY) s.minY = y;
  if (y > s.maxY) s.maxY = y;
  return s;
}

/** Points per bucket at pyramid level `level` (level 0: single points): 8^level. */
export const PYRAMID_BASE = 8;
/** The coarsest stored level: 8^10 ≈ 1.07e9 points per bucket, more than any series holds. */
export const PYRAMID_LEVELS = 10;

export function bucketSize(level: number): number {
  return PYRAMID_BASE ** level;
}

/**
 * How to answer a view of `count` points (`first`…`first + count - 1` by seq) in at most `width` columns:
 * exact points when they fit, else columns of `columnSize` consecutive points aligned on multiples of it, read
 * from pyramid level `level` (each column merges `columnSize / 8^level` buckets of that level, at most 8 per
 * column, so a view reads at most about 8 × width rows).
 */
export type ViewPlan =
  | { kind: 'exact' }
  | {
      kind: 'columns';
      level: number;
      /** Points per column; a multiple of bucketSize(level). */
      columnSize: number;
      /** Column indexes (seq / columnSize) from `firstColumn` to `lastColumn`. */
      firstColumn: number;
      lastColumn: number;
    };

export function planView(first: number, count: number, width: number): ViewPlan {
  if (count <= width) return { kind: 'exact' };
  let level = 0;
  while (level < PYRAMID_LEVELS && bucketSize(level + 1) * width <= count) level++;
  const size = bucketSize(level);
  const last = first + count - 1;
  // The smallest column size (a multiple of the bucket size) that fits the points into `width` columns; aligned
  // columns may straddle both ends, so try the next multiple when one more column is needed.
  for (let g = Math.max(1, Math.ceil(count / (width * size))); ; g++) {
    const columnSize = g * size;
    const firstColumn = Math.floor(first / columnSize);
    const lastColumn = Math.floor(last / columnSize);
    if (lastColumn - firstColumn + 1 <= width)
      return { kind: 'columns', level, columnSize, firstColumn, lastColumn };
  }
}

/** Column summaries as parallel arrays (what a view carries, before encoding). Empty columns are left out. */
export interface SummaryColumns {
  n: number[];
  firstX: number[];
  firstY: number[];
  lastX: number[];
  lastY: number[];
  minY: number[];
  maxY: number[];
}

export function emptyColumns(): SummaryColumns {
  return { n: [], firstX: [], firstY: [], lastX: [], lastY: [], minY: [], maxY: [] };
}

export function pushColumn(c: SummaryColumns, s: PointSummary): void {
  if (s.n === 0) return;
  c.n.push(s.n);
  c.firstX.push(s.firstX);
  c.firstY.push(s.firstY);
  c.lastX.push(s.lastX);
  c.lastY.push(s.lastY);
  c.minY.push(s.minY);
  c.maxY.push(s.maxY);
}

/**
 * Summaries (each with the seq index `key` of its first point divided by `groupSize`) merged into groups of
 * `groupSize` consecutive keys: bucket summaries of one level into columns, or points into buckets. `items` must
 * come in key order.
 */
export function groupSummaries(
  items: Iterable<{ key: number; summary: PointSummary }>,
  groupSize: number,
): SummaryColumns {
  const out = emptyColumns();
  let group = Number.NaN;
  let acc: PointSummary | undefined;
  for (const { key, summary } of items) {
    const g = Math.floor(key / groupSize);
    if (g !== group) {
      if (acc) pushColumn(out, acc);
      group = g;
      acc = undefined;
    }
    acc = acc ? mergeSummaries(acc, summary) : summary.n > 0 ? { ...summary } : undefined;
  }
  if (acc) pushColumn(out, acc);
  return out;
}

/**
 * The summaries of consecutive points by bucket: `points` in seq order starting at seq `firstSeq`, bucket b holding
 * seq b·size … (b+1)·size − 1. A bucket whose points are all non-finite is left out.
 */
export function bucketPoints(
  xs: ArrayLike<number>,
  ys: ArrayLike<number>,
  firstSeq: number,
  size: number,
): Map<number, PointSummary> {
  const out = new Map<number, PointSummary>();
  for (let i = 0; i < xs.length; i++) {
    const b = Math.floor((firstSeq + i) / size);
    const s = addPoint(out.get(b), xs[i] as number, ys[i] as number);
    if (s) out.set(b, s);
  }
  return out;
}

/**
 * TensorBoard's smoothing: an exponential moving average debiased at the start (weight `smoothing` in [0, 1)),
 * over the points in order. Non-finite values are passed through and do not move the average.
 */
export function smoothEma(ys: ArrayLike<number>, smoothing: number): Float64Array {
  const out = new Float64Array(ys.length);
  let last = 0;
  let steps = 0;
  for (let i = 0; i < ys.length; i++) {
    const y = ys[i] as number;
    if (!Number.isFinite(y)) {
      out[i] = y;
      continue;
    }
    last = last * smoothing + (1 - smoothing) * y;
    steps++;
    const debias = smoothing === 0 ? 1 : 1 - smoothing ** steps;
    out[i] = last / debias;
  }
  return out;
}
