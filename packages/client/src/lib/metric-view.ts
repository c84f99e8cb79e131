import { mergeSummaries, smoothEma, type PointSummary } from '@deepforge/core';
import { decodeFloat64, type MetricViewResponse } from '@deepforge/protocol';

/** Points as a line chart takes them: x ascending, y beside. */
export interface Drawn {
  x: number[];
  y: number[];
}

/** The step range a chart shows; `undefined` ends follow the series (its whole range, growing live). */
export interface ViewRange {
  from?: number;
  to?: number;
}

/** Live values of one series, x already resolved (the step, or the previous x + 1). */
export interface LivePoint {
  x: number;
  y: number;
}

/**
 * A series as the server drew it for a view (ADR 0014), and live values after it: each entry a summary of
 * consecutive points (one point for exact views). Live values append to the last column while it has room
 * (`columnSize` points, counted from the series' size when the view was read) and start new ones after it, so a
 * chart follows a running job without asking the server again. `stale` says when it should: the view has grown
 * to more than twice the width it was read for.
 */
export class SeriesView {
  private readonly columns: PointSummary[] = [];
  private readonly columnSize: number;
  /** The series' size: the seq of the next live value. */
  private count: number;
  private lastX = Number.NEGATIVE_INFINITY;
  readonly exact: boolean;
  /** The series had no stored point when the view was read (its first values were only live). */
  readonly empty: boolean;
  readonly from: number;
  readonly to: number;
  readonly width: number;

  constructor(view: MetricViewResponse) {
    this.exact = view.points !== undefined;
    this.empty = view.count === 0;
    this.from = view.from;
    this.to = view.to;
    this.width = view.width;
    this.count = view.count;
    if (view.points) {
      const x = decodeFloat64(view.points.x);
      const y = decodeFloat64(view.points.y);
      for (let i = 0; i < x.length; i++) this.columns.push(single(x[i] as number, y[i] as number));
      this.columnSize = 1;
    } else if (view.columns) {
      const c = view.columns;
      const [n, fx, fy, lx, ly, mn, mx] = [c.n, c.firstX, c.firstY, c.lastX, c.lastY, c.minY, c.maxY].map(
        decodeFloat64,
      ) as Float64Array[];
      for (let i = 0; i < n!.length; i++) {
        this.columns.push({
          n: n![i]!,
          firstX: fx![i]!,
          firstY: fy![i]!,
          lastX: lx![i]!,
          lastY: ly![i]!,
          minY: mn![i]!,
          maxY: mx![i]!,
        });
      }
      this.columnSize = view.columnSize ?? 1;
    } else {
      this.columnSize = 1;
    }
    const last = this.columns[this.columns.length - 1];
    if (last) this.lastX = last.lastX;
  }

  /** Drawn points in the view. */
  get size(): number {
    return this.columns.length;
  }

  /** More than twice the columns it was read for: time to read the view again. */
  get stale(): boolean {
    return this.columns.length > 2 * this.width;
  }

  /**
   * Live values after the view's last point (values at or before it are in the view already, or belong to a
   * range this view does not follow); returns whether any was added.
   */
  append(points: readonly LivePoint[]): boolean {
    let changed = false;
    for (const p of points) {
      if (!(p.x > this.lastX) || !Number.isFinite(p.y)) continue;
      const seq = this.count++;
      this.lastX = p.x;
      const last = this.columns[this.columns.length - 1];
      // A column holds seqs c·size … (c+1)·size − 1: the previous value's column while seq is inside it.
      if (last && this.columnSize > 1 && seq % this.columnSize !== 0) {
        this.columns[this.columns.length - 1] = mergeSummaries(last, single(p.x, p.y));
      } else {
        this.columns.push(single(p.x, p.y));
      }
      changed = true;
    }
    return changed;
  }

  /**
   * Points to draw: one per single point; a column as its first point, its smallest and largest values between,
   * and its last point, so the line reaches every spike and dip of the column. With `smoothing` > 0, TensorBoard's
   * debiased moving average of those points instead.
   */
  drawn(smoothing = 0): Drawn {
    const x: number[] = [];
    const y: number[] = [];
    for (const c of this.columns) {
      if (c.n === 1) {
        x.push(c.firstX);
        y.push(c.firstY);
        continue;
      }
      // x must grow for the chart: a column whose points share one step gets its extremes a hair to the right.
      const span = c.lastX - c.firstX;
      const step = span > 0 ? span / 3 : Math.max(Math.abs(c.firstX), 1) * 1e-9;
      const [a, b] = c.firstY >= c.lastY ? [c.maxY, c.minY] : [c.minY, c.maxY];
      x.push(c.firstX);
      y.push(c.firstY);
      if (c.n > 2) {
        x.push(c.firstX + step, c.firstX + 2 * step);
        y.push(a, b);
      }
      x.push(span > 0 ? c.lastX : c.firstX + 3 * step);
      y.push(c.lastY);
    }
    return smoothing > 0 ? { x, y: Array.from(smoothEma(y, smoothing)) } : { x, y };
  }
}

function single(x: number, y: number): PointSummary {
  return { n: 1, firstX: x, firstY: y, lastX: x, lastY: y, minY: y, maxY: y };
}

/**
 * Several drawn series as the column data a uPlot chart takes: one sorted x column, one y column per series with
 * null where a series has no point at that x. With `log`, values that a log scale cannot show (≤ 0) are left out.
 */
export function alignDrawn(series: readonly Drawn[], log = false): [number[], ...(number | null)[][]] {
  if (series.length === 1) {
    const only = series[0] as Drawn;
    return [only.x, log ? only.y.map((v) => (v > 0 ? v : null)) : only.y];
  }
  const xs = [...new Set(series.flatMap((s) => s.x))].sort((a, b) => a - b);
  const index = new Map(xs.map((x, i) => [x, i]));
  const columns = series.map((s) => {
    const col = new Array<number | null>(xs.length).fill(null);
    s.x.forEach((x, i) => {
      const v = s.y[i] as number;
      col[index.get(x) as number] = log && !(v > 0) ? null : v;
    });
    return col;
  });
  return [xs, ...columns];
}

/** A range zoomed by `factor` (< 1 zooms in) around `at`, kept inside `bounds`. */
export function zoomRange(
  range: { from: number; to: number },
  at: number,
  factor: number,
  bounds: { from: number; to: number },
): { from: number; to: number } {
  const from = at - (at - range.from) * factor;
  const to = at + (range.to - at) * factor;
  return clampRange({ from, to }, bounds);
}

/** A range moved by `delta` steps, kept inside `bounds` (its width kept). */
export function panRange(
  range: { from: number; to: number },
  delta: number,
  bounds: { from: number; to: number },
): { from: number; to: number } {
  const width = range.to - range.from;
  let from = range.from + delta;
  if (from < bounds.from) from = bounds.from;
  if (from + width > bounds.to) from = Math.max(bounds.from, bounds.to - width);
  return clampRange({ from, to: from + width }, bounds);
}

function clampRange(r: { from: number; to: number }, bounds: { from: number; to: number }) {
  return { from: Math.max(bounds.from, r.from), to: Math.min(bounds.to, r.to) };
}

/**
 * The step range a chart's x axis spans for the values it draws: their own, or one step either side of a single
 * step (a series of one point, or several logged at one step), where a range of width 0 would draw empty axes.
 */
export function stepRange(min: number | null, max: number | null): [number | null, number | null] {
  if (min === null || max === null || max > min) return [min, max];
  return [min - 1, max + 1];
}

/** Whether a line has at most one value between `from` and `to` (indexes, inclusive): a line cannot draw it. */
export function loneValue(values: ArrayLike<number | null | undefined>, from: number, to: number): boolean {
  let seen = 0;
  for (let i = Math.max(0, from); i <= Math.min(values.length - 1, to); i++) {
    const v = values[i];
    if (v !== null && v !== undefined && Number.isFinite(v) && ++seen > 1) return false;
  }
  return seen === 1;
}
