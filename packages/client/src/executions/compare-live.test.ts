import {
  encodeFloat64,
  EXECUTION_EVENTS_VERSION,
  type ExecutionSummaryDto,
  type LiveEvent,
  type MetricSeriesInfoDto,
  type MetricViewResponse,
} from '@deepforge/protocol';
import { describe, expect, it } from 'vitest';
import type { LivePoint } from '../lib/metric-view.js';
import { SeriesView } from '../lib/metric-view.js';
import { CompareLive, compareCharts, type ViewReaderFactory } from './compare-live.js';

const execution = (id: string, status: ExecutionSummaryDto['status']): ExecutionSummaryDto =>
  ({ id, name: `run ${id}`, status }) as ExecutionSummaryDto;

const stored = (name: string, lastX: number): MetricSeriesInfoDto => ({
  name,
  count: lastX + 1,
  minX: 0,
  maxX: lastX,
  lastX,
  lastY: 1,
  sorted: true,
});

const metrics = (
  executionId: string,
  points: { step: number | null; values: Record<string, number> }[],
): LiveEvent => ({
  v: EXECUTION_EVENTS_VERSION,
  executionId,
  jobId: `${executionId}.train`,
  node: 'train',
  t: 1,
  type: 'job.metrics',
  points: points.map((p) => ({ t: 1, ...p })),
});

function exactView(x: number[], y: number[]): MetricViewResponse {
  return {
    name: 'loss',
    count: x.length,
    from: x[0] ?? 0,
    to: x.at(-1) ?? 0,
    width: 100,
    inRange: x.length,
    encoding: 'f64le-base64',
    points: { x: encodeFloat64(x), y: encodeFloat64(y) },
    partial: false,
  };
}

describe('compare view, live', () => {
  const done = execution('a', 'success');
  const running = execution('b', 'running');
  const readers: { executionId: string; name: string; live: boolean }[] = [];
  const reader: ViewReaderFactory = (executionId, _node, name, live) => {
    readers.push({ executionId, name, live: live !== undefined });
    return () => Promise.reject(new Error('not read in this test'));
  };

  it('follows the running execution only, and appends its values to the view drawn, x resolved after the stored series', () => {
    const live = new CompareLive();
    const jobs = [
      { execution: done, node: 'train', stored: [stored('loss', 4)] },
      { execution: running, node: 'train', stored: [stored('loss', 2)] },
    ];
    const [chart, ...others] = compareCharts([done, running], jobs, live, reader);
    expect(others).toEqual([]);
    expect(chart!.key).toBe('train/loss');
    expect(chart!.sources.map((s) => [s.key, s.label, s.subscribe !== undefined])).toEqual([
      ['a/train/loss', 'run a', false],
      ['b/train/loss', 'run b', true],
    ]);

    // What MetricChart does with a source: the view it read, live values appended to it.
    const view = new SeriesView(exactView([0, 1, 2], [3, 2, 1]));
    const updates: (readonly LivePoint[] | 'skipped')[] = [];
    const stop = chart!.sources[1]!.subscribe!((u) => {
      updates.push(u);
      if (u !== 'skipped') view.append(u);
    });
    live.apply('b', metrics('b', [{ step: null, values: { loss: 0.5 } }]));
    live.apply(
      'b',
      metrics('b', [
        { step: 7, values: { loss: 0.25 } },
        { step: null, values: { loss: 0.125 } },
      ]),
    );
    // Another execution's values, and other events, reach no line of b.
    live.apply('a', metrics('a', [{ step: 1, values: { loss: 9 } }]));
    live.apply('b', { ...metrics('b', []), type: 'job.progress', bar: 'x', n: 1, total: 2 } as LiveEvent);
    expect(updates).toEqual([
      [{ x: 3, y: 0.5 }],
      [
        { x: 7, y: 0.25 },
        { x: 8, y: 0.125 },
      ],
    ]);
    expect(view.drawn()).toEqual({ x: [0, 1, 2, 3, 7, 8], y: [3, 2, 1, 0.5, 0.25, 0.125] });
    stop();
    live.apply('b', metrics('b', [{ step: 9, values: { loss: 0 } }]));
    expect(updates).toHaveLength(2);
  });

  it('gives a series the running execution starts logging its line, read as a live-only series', () => {
    const live = new CompareLive();
    const jobs = [{ execution: running, node: 'train', stored: [stored('loss', 2)] }];
    expect(compareCharts([running], jobs, live, reader).map((c) => c.key)).toEqual(['train/loss']);
    const before = live.version;
    live.apply('b', metrics('b', [{ step: 3, values: { loss: 1, acc: 0.5 } }]));
    expect(live.version).toBe(before + 1);
    readers.length = 0;
    const charts = compareCharts([running], jobs, live, reader);
    expect(charts.map((c) => c.key)).toEqual(['train/acc', 'train/loss']);
    expect(readers).toContainEqual({ executionId: 'b', name: 'acc', live: true });
    // Not stored yet: its view is asked for once the server lists it (viewReader, job-metrics.tsx).
    expect(live.job('b', 'train').storedMetricNames.has('acc')).toBe(false);
    // A known series' values do not rebuild the charts.
    live.apply('b', metrics('b', [{ step: 4, values: { loss: 1, acc: 0.5 } }]));
    expect(live.version).toBe(before + 1);
  });
});
