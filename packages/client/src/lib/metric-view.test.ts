import { encodeFloat64, type MetricViewResponse } from '@deepforge/protocol';
import { describe, expect, it } from 'vitest';
import { alignDrawn, loneValue, panRange, SeriesView, stepRange, zoomRange } from './metric-view.js';

function exactView(x: number[], y: number[], count = x.length): MetricViewResponse {
  return {
    name: 'loss',
    count,
    from: x[0] ?? 0,
    to: x.at(-1) ?? 0,
    width: 4,
    inRange: x.length,
    encoding: 'f64le-base64',
    points: { x: encodeFloat64(x), y: encodeFloat64(y) },
    partial: false,
  };
}

describe('SeriesView', () => {
  it('draws a column as its first point, its extremes and its last point, so a spike shows', () => {
    const view = new SeriesView({
      name: 'loss',
      count: 8,
      from: 0,
      to: 7,
      width: 2,
      inRange: 8,
      encoding: 'f64le-base64',
      columns: {
        n: encodeFloat64([4, 4]),
        firstX: encodeFloat64([0, 4]),
        firstY: encodeFloat64([1, 2]),
        lastX: encodeFloat64([3, 7]),
        lastY: encodeFloat64([0.5, 3]),
        minY: encodeFloat64([0.1, 2]),
        maxY: encodeFloat64([100, 3]),
      },
      columnSize: 4,
      partial: false,
    });
    expect(view.exact).toBe(false);
    expect(view.drawn()).toEqual({ x: [0, 1, 2, 3, 4, 5, 6, 7], y: [1, 100, 0.1, 0.5, 2, 2, 3, 3] });
    // Live values fill the last column's seqs first (8 is a new column of 4: seqs 8…11).
    expect(view.append([{ x: 8, y: -5 }])).toBe(true);
    expect(view.size).toBe(3);
    expect(view.append([{ x: 9, y: 7 }])).toBe(true);
    expect(view.size).toBe(3);
    expect(view.drawn().y.slice(-2)).toEqual([-5, 7]);
  });

  it('appends live values after its last point only, and says when it has outgrown its width', () => {
    const view = new SeriesView(exactView([0, 1, 2], [3, 2, 1]));
    expect(view.append([{ x: 2, y: 9 }])).toBe(false);
    expect(view.append([{ x: 3, y: Number.NaN }])).toBe(false);
    expect(view.append([{ x: 3, y: 0.5 }])).toBe(true);
    expect(view.drawn()).toEqual({ x: [0, 1, 2, 3], y: [3, 2, 1, 0.5] });
    expect(view.stale).toBe(false);
    view.append([5, 6, 7, 8, 9].map((x) => ({ x, y: x })));
    expect(view.stale).toBe(true);
  });

  it('smooths the drawn points with the debiased moving average', () => {
    const view = new SeriesView(exactView([0, 1], [0, 10]));
    expect(view.drawn(0.5).y[1]).toBeCloseTo(5 / 0.75, 12);
  });

  it('keeps x growing where a column has one step only', () => {
    const view = new SeriesView({
      ...exactView([], []),
      points: undefined,
      columns: {
        n: encodeFloat64([3]),
        firstX: encodeFloat64([5]),
        firstY: encodeFloat64([1]),
        lastX: encodeFloat64([5]),
        lastY: encodeFloat64([2]),
        minY: encodeFloat64([0]),
        maxY: encodeFloat64([9]),
      },
    });
    const { x, y } = view.drawn();
    expect(y).toEqual([1, 0, 9, 2]);
    for (let i = 1; i < x.length; i++) expect(x[i]!).toBeGreaterThan(x[i - 1]!);
  });
});

describe('chart helpers', () => {
  it('aligns several drawn lines on one x column, leaving out what a log scale cannot show', () => {
    expect(
      alignDrawn(
        [
          { x: [0, 2], y: [1, -1] },
          { x: [1, 2], y: [10, 20] },
        ],
        true,
      ),
    ).toEqual([
      [0, 1, 2],
      [1, null, null],
      [null, 10, 20],
    ]);
    expect(alignDrawn([{ x: [0, 1], y: [0, 2] }], true)).toEqual([
      [0, 1],
      [null, 2],
    ]);
  });

  it('zooms around a point and pans, inside the series', () => {
    const all = { from: 0, to: 100 };
    expect(zoomRange({ from: 0, to: 100 }, 50, 0.5, all)).toEqual({ from: 25, to: 75 });
    expect(zoomRange({ from: 0, to: 100 }, 50, 2, all)).toEqual(all);
    expect(panRange({ from: 10, to: 20 }, 5, all)).toEqual({ from: 15, to: 25 });
    expect(panRange({ from: 90, to: 100 }, 5, all)).toEqual({ from: 90, to: 100 });
    expect(panRange({ from: 0, to: 10 }, -5, all)).toEqual({ from: 0, to: 10 });
  });
});

describe('a series of one point', () => {
  it('spans a step either side of a single step, and its own steps otherwise', () => {
    expect(stepRange(5, 5)).toEqual([4, 6]);
    expect(stepRange(0, 0)).toEqual([-1, 1]);
    expect(stepRange(0, 10)).toEqual([0, 10]);
    expect(stepRange(null, null)).toEqual([null, null]);
  });

  it('is drawn as a dot: a line with one value in its window cannot be drawn as a line', () => {
    expect(loneValue([0.5], 0, 0)).toBe(true);
    expect(loneValue([null, 0.5, null], 0, 2)).toBe(true);
    expect(loneValue([0.5, 0.6], 0, 1)).toBe(false);
    expect(loneValue([0.5, 0.6, 0.7], 2, 2)).toBe(true);
    expect(loneValue([], 0, 0)).toBe(false);
    expect(loneValue([null, Number.NaN], 0, 1)).toBe(false);
  });
});
