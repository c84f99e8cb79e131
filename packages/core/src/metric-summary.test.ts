import { describe, expect, it } from 'vitest';
import {
  bucketPoints,
  bucketSize,
  groupSummaries,
  mergeSummaries,
  planView,
  PYRAMID_LEVELS,
  smoothEma,
  type PointSummary,
  type SummaryColumns,
} from './metric-summary.js';

/** A small deterministic generator (mulberry32), so a failing case can be run again. */
function random(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** A series with spikes, NaN and ±Infinity here and there, and steps with gaps. */
function series(rand: () => number, n: number): { xs: number[]; ys: number[] } {
  const xs: number[] = [];
  const ys: number[] = [];
  let x = Math.floor(rand() * 10);
  for (let i = 0; i < n; i++) {
    x += rand() < 0.1 ? Math.floor(rand() * 5) : 1;
    xs.push(x);
    const r = rand();
    ys.push(
      r < 0.02 ? Number.NaN : r < 0.03 ? Infinity : r < 0.04 ? -Infinity : r < 0.06 ? rand() * 1e6 : rand(),
    );
  }
  return { xs, ys };
}

/** Brute force: each column's points, one by one. */
function bruteColumns(
  xs: number[],
  ys: number[],
  first: number,
  last: number,
  columnSize: number,
): SummaryColumns {
  const out: SummaryColumns = { n: [], firstX: [], firstY: [], lastX: [], lastY: [], minY: [], maxY: [] };
  for (let c = Math.floor(first / columnSize); c <= Math.floor(last / columnSize); c++) {
    const finite: number[] = [];
    for (let i = c * columnSize; i < Math.min(xs.length, (c + 1) * columnSize); i++)
      if (Number.isFinite(ys[i])) finite.push(i);
    if (finite.length === 0) continue;
    const values = finite.map((i) => ys[i] as number);
    out.n.push(finite.length);
    out.firstX.push(xs[finite[0]!]!);
    out.firstY.push(values[0]!);
    out.lastX.push(xs[finite.at(-1)!]!);
    out.lastY.push(values.at(-1)!);
    out.minY.push(Math.min(...values));
    out.maxY.push(Math.max(...values));
  }
  return out;
}

/** The pyramid as the store builds it: bucket summaries per level, written in several batches and merged. */
function pyramid(xs: number[], ys: number[], batches: number[]): Map<number, Map<number, PointSummary>> {
  const levels = new Map<number, Map<number, PointSummary>>();
  let start = 0;
  for (const end of [...batches, xs.length]) {
    for (let level = 1; level <= PYRAMID_LEVELS; level++) {
      const stored = levels.get(level) ?? new Map<number, PointSummary>();
      for (const [b, s] of bucketPoints(
        xs.slice(start, end),
        ys.slice(start, end),
        start,
        bucketSize(level),
      )) {
        const old = stored.get(b);
        stored.set(b, old ? mergeSummaries(old, s) : s);
      }
      levels.set(level, stored);
    }
    start = end;
  }
  return levels;
}

describe('metric summaries', () => {
  it('equal a brute-force computation per column, for random series, ranges and widths', () => {
    const rand = random(14);
    for (let round = 0; round < 60; round++) {
      const n = 1 + Math.floor(rand() * 5000);
      const { xs, ys } = series(rand, n);
      const cuts = [...new Set([0, 1, 2].map(() => Math.floor(rand() * n)))].sort((a, b) => a - b);
      const levels = pyramid(xs, ys, cuts);
      for (let q = 0; q < 10; q++) {
        const a = Math.floor(rand() * n);
        const b = Math.floor(rand() * n);
        const first = Math.min(a, b);
        const count = Math.abs(a - b) + 1;
        const width = 1 + Math.floor(rand() * (rand() < 0.5 ? 40 : 600));
        const plan = planView(first, count, width);
        if (plan.kind === 'exact') {
          expect(count).toBeLessThanOrEqual(width);
          continue;
        }
        expect(plan.lastColumn - plan.firstColumn + 1).toBeLessThanOrEqual(width);
        // At most 8 buckets per column: a view reads O(width) rows.
        expect(plan.columnSize / bucketSize(plan.level)).toBeLessThanOrEqual(8 * 2);
        const groupSize = plan.columnSize / bucketSize(plan.level);
        let got: SummaryColumns;
        if (plan.level === 0) {
          const from = plan.firstColumn * plan.columnSize;
          const to = Math.min(n, (plan.lastColumn + 1) * plan.columnSize);
          const points = bucketPoints(xs.slice(from, to), ys.slice(from, to), from, 1);
          got = groupSummaries(
            [...points].map(([key, summary]) => ({ key, summary })),
            groupSize,
          );
        } else {
          const buckets = levels.get(plan.level)!;
          const lo = plan.firstColumn * groupSize;
          const hi = (plan.lastColumn + 1) * groupSize;
          got = groupSummaries(
            [...buckets]
              .filter(([key]) => key >= lo && key < hi)
              .sort(([x], [y]) => x - y)
              .map(([key, summary]) => ({ key, summary })),
            groupSize,
          );
        }
        expect(got, `round ${round} query ${q}: n ${n} first ${first} count ${count} width ${width}`).toEqual(
          bruteColumns(xs, ys, first, first + count - 1, plan.columnSize),
        );
      }
    }
  });

  it('plans exact points while they fit, and columns of whole buckets otherwise', () => {
    expect(planView(0, 1000, 1000)).toEqual({ kind: 'exact' });
    const plan = planView(0, 1_000_000, 1000);
    expect(plan).toMatchObject({ kind: 'columns', level: 3 });
    if (plan.kind === 'columns') {
      expect(plan.lastColumn - plan.firstColumn + 1).toBeLessThanOrEqual(1000);
      expect(plan.columnSize % 512).toBe(0);
    }
    // One pixel: one column over everything.
    const one = planView(5, 100, 1);
    expect(one.kind === 'columns' && one.lastColumn === one.firstColumn).toBe(true);
  });

  it('smooths like TensorBoard: debiased from the first point, non-finite values passed through', () => {
    expect([...smoothEma([1, 1, 1], 0.9)]).toEqual([1, 1, 1].map((v) => expect.closeTo(v, 12)));
    const s = smoothEma([0, 10, Number.NaN, 10], 0.5);
    expect(s[0]).toBe(0);
    // (0·0.5 + 10·0.5 → 5 after 0·0.5 → 0), debiased by 1 − 0.25.
    expect(s[1]).toBeCloseTo(5 / 0.75, 12);
    expect(s[2]).toBeNaN();
    expect(s[3]).toBeCloseTo((2.5 + 5) / 0.875, 12);
    expect([...smoothEma([3, 4], 0)]).toEqual([3, 4]);
  });
});
