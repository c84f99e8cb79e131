import type { LiveEvent } from '@deepforge/protocol';
import { EXECUTION_EVENTS_VERSION, encodeFloat64 } from '@deepforge/protocol';
import { describe, expect, it } from 'vitest';
import { ExecutionLive, RECENT_METRIC_POINTS, skippedNote } from './execution-live.js';
import { SeriesView, type LivePoint } from './metric-view.js';

const base = { v: EXECUTION_EVENTS_VERSION, executionId: 'e1', jobId: 'j1', node: 'train' } as const;
let seq = 0;
/** A `job.logs` batch of the given lines (numbered on from the batch before). */
const batch = (texts: string[], skipped = 0, transient = false): LiveEvent => {
  seq += skipped;
  const e: LiveEvent = {
    ...base,
    t: 1,
    type: 'job.logs',
    seq,
    lines: texts.map((text) => ({ stream: 'stdout', text, ...(transient ? { transient } : {}) })),
    ...(skipped ? { skipped } : {}),
  };
  seq += texts.length;
  return e;
};
const log = (text: string): LiveEvent => batch([text]);
const texts = (live: ExecutionLive) =>
  live
    .job('train')
    .log.toArray()
    .map((l) => l.text);

describe('ExecutionLive', () => {
  it('holds live lines until the stored log arrives, then shows each line once', () => {
    const live = new ExecutionLive();
    live.apply(log('epoch 2'));
    live.apply(log('epoch 3'));
    const job = live.job('train');
    expect(job.log.length).toBe(0);
    // The fetch ran after "epoch 2" was written, so the stored log has it; "epoch 3" came after.
    job.storedLog('start\nepoch 1\nepoch 2\n', false, 0);
    expect(job.log.toArray().map((l) => l.text)).toEqual(['start', 'epoch 1', 'epoch 2', 'epoch 3']);
    live.apply(log('epoch 4'));
    expect(job.log.at(4)?.text).toBe('epoch 4');
  });

  it('adds the lines of each batch in order, a transient line replaced by the next', () => {
    const live = new ExecutionLive();
    live.job('train').storedLog('start\n', false, 0);
    live.apply(batch(['a', 'b', 'c']));
    live.apply(batch(['10%'], 0, true));
    live.apply(batch(['50%'], 0, true));
    live.apply(batch(['d', 'e']));
    expect(texts(live)).toEqual(['start', 'a', 'b', 'c', 'd', 'e']);
  });

  it('notes lines the server skipped where they were, until the stored log is read again', () => {
    const live = new ExecutionLive();
    const job = live.job('train');
    // Before the stored log is in: the note waits with the lines, and is no line of the log to match.
    live.apply(batch(['line 2']));
    live.apply(batch(['line 9'], 6));
    job.storedLog('line 1\nline 2\n', false, 0);
    expect(texts(live)).toEqual(['line 1', 'line 2', skippedNote(6), 'line 9']);
    expect(job.skippedLines).toBe(6);
    live.apply(batch([], 1000));
    live.apply(batch(['line 1010']));
    expect(texts(live).slice(-2)).toEqual([skippedNote(1000), 'line 1010']);
    expect(job.skippedLines).toBe(1006);
    expect(skippedNote(1000)).toMatch(/^\[1,000 lines skipped: .*reload/);
    // Read again while lines come: the stored log has the skipped lines if it has any line after them.
    job.logState = 'loading';
    live.apply(batch(['line 1011']));
    live.apply(batch(['line 1500'], 488));
    live.apply(batch(['line 1501']));
    job.storedLog(Array.from({ length: 1500 }, (_, i) => `line ${i + 1}`).join('\n') + '\n', false, 0);
    expect(texts(live)).toHaveLength(1501);
    expect(texts(live).at(-1)).toBe('line 1501');
    expect(job.skippedLines).toBe(0);
    // Reloaded: the stored log has every line, the note is gone.
    const all = Array.from({ length: 1501 }, (_, i) => `line ${i + 1}`);
    job.storedLog(all.join('\n') + '\n', false, 0);
    expect(texts(live)).toEqual(all);
    expect(job.skippedLines).toBe(0);
  });

  it('drops the partial first line of a tail', () => {
    const live = new ExecutionLive();
    const job = live.job('train');
    job.storedLog('rtial line\nwhole line\nlast', true, 1000);
    expect(job.log.toArray().map((l) => l.text)).toEqual(['whole line', 'last']);
    expect(job.truncatedBytes).toBe(1000);
  });

  it('keeps only the latest snapshot of each figure', () => {
    const live = new ExecutionLive();
    const plot = (seq: number): LiveEvent => ({
      ...base,
      t: seq,
      type: 'job.plot',
      figure: 1,
      seq,
      axes: [],
    });
    live.apply(plot(2));
    live.apply(plot(1));
    expect(live.job('train').plots.get(1)?.seq).toBe(2);
  });

  it('hands live metric values to the charts that follow their series, steps resolved, and reports progress', () => {
    const live = new ExecutionLive();
    const job = live.job('train');
    job.metricSeries([{ name: 'acc', count: 3, minX: 0, maxX: 2, lastX: 2, lastY: 0.7, sorted: true }]);
    const loss: unknown[] = [];
    const acc: unknown[] = [];
    job.subscribeMetric('loss', (u) => loss.push(u));
    const stop = job.subscribeMetric('acc', (u) => acc.push(u));
    live.apply({
      ...base,
      t: 6,
      type: 'job.metrics',
      points: [
        { t: 5, step: 1, values: { loss: 0.5, acc: 0.8 } },
        { t: 6, step: null, values: { loss: 0.4, acc: 0.9 } },
      ],
    });
    // One call per series and batch; a value without a step goes after the last x (the stored one for acc).
    expect(loss).toEqual([
      [
        { x: 1, y: 0.5 },
        { x: 2, y: 0.4 },
      ],
    ]);
    expect(acc).toEqual([
      [
        { x: 1, y: 0.8 },
        { x: 2, y: 0.9 },
      ],
    ]);
    expect([...job.metricNames].sort()).toEqual(['acc', 'loss']);
    stop();
    // Values skipped by the server: the charts read their views again.
    live.apply({
      ...base,
      t: 9,
      type: 'job.metrics',
      points: [{ t: 9, step: 5, values: { loss: 0.1, acc: 1 } }],
      skipped: 2,
    });
    expect(loss.slice(1)).toEqual(['skipped', [{ x: 5, y: 0.1 }]]);
    expect(acc).toHaveLength(1);
    live.apply({ ...base, t: 6, type: 'job.progress', bar: 'b', n: 25, total: 100 });
    expect(live.job('train').fraction()).toBe(0.25);
  });

  it('gives a chart opened later the values the store had not written yet, merged after its view without gaps or duplicates', () => {
    const live = new ExecutionLive();
    const job = live.job('train');
    const metrics = (from: number, to: number): LiveEvent => ({
      ...base,
      t: to,
      type: 'job.metrics',
      points: Array.from({ length: to - from }, (_, i) => ({
        t: from + i,
        step: from + i,
        values: { acc: (from + i) / 100 },
      })),
    });
    // Steps 0–29 came live while the Metrics tab was closed; the store had written 0–19 of them when the tab
    // opened (it writes every 500 ms).
    live.apply(metrics(0, 30));
    // What MetricChart does: subscribe (values before the view is read are buffered), read the view, append.
    const buffered: LivePoint[] = [];
    const chart: { view?: SeriesView } = {};
    job.subscribeMetric('acc', (u) => {
      if (u === 'skipped') return;
      if (chart.view) chart.view.append(u);
      else buffered.push(...u);
    });
    live.apply(metrics(30, 35));
    const stored = Array.from({ length: 20 }, (_, i) => i);
    const view = new SeriesView({
      name: 'acc',
      count: 20,
      from: 0,
      to: 19,
      width: 400,
      inRange: 20,
      encoding: 'f64le-base64',
      points: { x: encodeFloat64(stored), y: encodeFloat64(stored.map((x) => x / 100)) },
      partial: false,
    });
    view.append(buffered);
    chart.view = view;
    live.apply(metrics(35, 40));
    const drawn = view.drawn();
    expect(drawn.x).toEqual(Array.from({ length: 40 }, (_, i) => i));
    expect(drawn.y).toEqual(drawn.x.map((x) => x / 100));
  });

  it('keeps at most RECENT_METRIC_POINTS recent values of a series, the latest', () => {
    const live = new ExecutionLive();
    const job = live.job('train');
    const n = RECENT_METRIC_POINTS + 10;
    live.apply({
      ...base,
      t: 1,
      type: 'job.metrics',
      points: Array.from({ length: n }, (_, i) => ({ t: 1, step: i, values: { loss: 1 } })),
    });
    const got: LivePoint[] = [];
    job.subscribeMetric('loss', (u) => u !== 'skipped' && got.push(...u));
    expect(got).toHaveLength(RECENT_METRIC_POINTS);
    expect(got[0]?.x).toBe(10);
    expect(got.at(-1)?.x).toBe(n - 1);
  });

  it('notifies subscribers once per batch and ignores status events', () => {
    const queued: (() => void)[] = [];
    const live = new ExecutionLive(1000, (notify) => queued.push(notify));
    let calls = 0;
    live.subscribe(() => calls++);
    expect(
      live.apply({ ...base, t: 1, type: 'job.status', operation: 'Train', status: 'running', attempt: 1 }),
    ).toBe(false);
    for (let i = 0; i < 5000; i++) live.apply(batch([`line ${i}`, `line ${i}b`]));
    expect(queued).toHaveLength(1);
    queued.shift()?.();
    expect(calls).toBe(1);
    expect(live.version).toBe(5000);
    live.apply(log('again'));
    expect(queued).toHaveLength(1);
  });

  it('shows the first change after a quiet spell at once and keeps later renders 50 ms apart', () => {
    const delays: number[] = [];
    const queued: (() => void)[] = [];
    let clock = 1000;
    const live = new ExecutionLive(
      1000,
      (notify, delay) => {
        delays.push(delay);
        queued.push(notify);
      },
      () => clock,
    );
    live.apply(log('first'));
    queued.shift()?.();
    clock += 10;
    live.apply(log('second, 10 ms later'));
    queued.shift()?.();
    clock += 500;
    live.apply(log('third, after a pause'));
    expect(delays).toEqual([0, 40, 0]);
  });
});
