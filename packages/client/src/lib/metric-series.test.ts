import { describe, expect, it } from 'vitest';
import { alignSeries, pointsOfEvent, seriesColor } from './metric-series.js';

describe('pointsOfEvent', () => {
  it('reads events with several values', () => {
    expect(pointsOfEvent({ step: 2, values: { loss: 1, acc: 0.9 }, t: 5 })).toEqual([
      { step: 2, name: 'loss', value: 1, t: 5 },
      { step: 2, name: 'acc', value: 0.9, t: 5 },
    ]);
  });
});

describe('alignSeries', () => {
  it('merges x values and fills gaps with null', () => {
    expect(
      alignSeries([
        [
          { x: 0, y: 1 },
          { x: 2, y: 3 },
        ],
        [
          { x: 1, y: 10 },
          { x: 2, y: 20 },
        ],
      ]),
    ).toEqual([
      [0, 1, 2],
      [1, null, 3],
      [null, 10, 20],
    ]);
  });
  it('handles no series', () => {
    expect(alignSeries([])).toEqual([[]]);
  });
  it('cycles colours', () => {
    expect(seriesColor(0)).toBe(seriesColor(10));
  });
});
