import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import {
  EXECUTION_EVENTS_VERSION,
  LiveEventSchema,
  type ExecutionEvent,
  type JobLogsEvent,
  type JobMetricsEvent,
  type LiveEvent,
} from '@deepforge/protocol';
import { EventBatcher, type BatcherLimits } from './events.batcher.js';

const v = EXECUTION_EVENTS_VERSION;
const limits: BatcherLimits = { intervalMs: 50, maxItems: 10, maxBytes: 1000, slowBytes: 100 };

function line(text: string, jobId = 'j1', executionId = 'e1'): ExecutionEvent {
  return { v, t: 1, executionId, jobId, node: jobId, type: 'job.log', stream: 'stdout', text };
}
function metric(step: number): ExecutionEvent {
  return {
    v,
    t: step,
    executionId: 'e1',
    jobId: 'j1',
    node: 'j1',
    type: 'job.metric',
    step,
    values: { loss: step },
  };
}
const done: ExecutionEvent = {
  v,
  t: 2,
  executionId: 'e1',
  jobId: 'j1',
  node: 'j1',
  type: 'job.status',
  operation: 'Op',
  status: 'success',
  attempt: 1,
};

/** A socket that keeps what is sent, holding `buffered` bytes as the test says. */
function sink() {
  const sent: LiveEvent[] = [];
  const s = {
    sent,
    buffered: 0,
    send: (e: LiveEvent) => sent.push(LiveEventSchema.parse(e)),
    bufferedAmount: () => s.buffered,
  };
  return s;
}
const texts = (sent: LiveEvent[]) =>
  sent.flatMap((e) => (e.type === 'job.logs' ? e.lines.map((l) => l.text) : [`<${e.type}>`]));

let clock = 0;
beforeEach(() => {
  vi.useFakeTimers();
  clock = 1000;
});
afterEach(() => vi.useRealTimers());
const advance = async (ms: number) => {
  clock += ms;
  await vi.advanceTimersByTimeAsync(ms);
};

describe('EventBatcher', () => {
  it('sends a line after a quiet spell at once, then at most one batch per interval, in order', async () => {
    const s = sink();
    const b = new EventBatcher(s, limits, () => clock);
    b.accept('e1', line('a'));
    b.accept('e1', line('b'));
    expect(s.sent).toEqual([]);
    await advance(0);
    expect(texts(s.sent)).toEqual(['a', 'b']);
    b.accept('e1', line('c'));
    await advance(10);
    b.accept('e1', line('d'));
    await advance(30);
    expect(s.sent).toHaveLength(1);
    await advance(10);
    expect(s.sent).toHaveLength(2);
    expect(s.sent[1]).toMatchObject({ type: 'job.logs', seq: 2, executionId: 'e1', jobId: 'j1', node: 'j1' });
    expect(texts(s.sent)).toEqual(['a', 'b', 'c', 'd']);
  });

  it('flushes a full batch at once, and what is pending before any other event', async () => {
    const s = sink();
    const b = new EventBatcher(s, limits, () => clock);
    for (let i = 0; i < 12; i++) b.accept('e1', line(String(i)));
    expect(s.sent).toHaveLength(1);
    expect((s.sent[0] as JobLogsEvent).lines).toHaveLength(10);
    b.accept('e1', done);
    expect(texts(s.sent)).toEqual([...Array.from({ length: 12 }, (_, i) => String(i)), '<job.status>']);
    expect(s.sent[1]).toMatchObject({ seq: 10 });
    await advance(100);
    expect(s.sent).toHaveLength(3);
  });

  it('batches metric values with their own times, per job and per subscription', async () => {
    const s = sink();
    const b = new EventBatcher(s, limits, () => clock);
    b.accept('e1', metric(1));
    b.accept('e1', metric(2));
    b.accept('e1', line('x', 'j2'));
    b.accept('*', line('y', 'j2'));
    await advance(0);
    const metrics = s.sent.find((e): e is JobMetricsEvent => e.type === 'job.metrics');
    expect(metrics?.points).toEqual([
      { t: 1, step: 1, values: { loss: 1 } },
      { t: 2, step: 2, values: { loss: 2 } },
    ]);
    expect(s.sent.filter((e) => e.type === 'job.logs').map((e) => (e as JobLogsEvent).seq)).toEqual([0, 0]);
    // After an unsubscribe its pending lines are not sent.
    b.accept('*', line('z', 'j2'));
    b.drop('*');
    await advance(100);
    expect(s.sent).toHaveLength(3);
  });

  it('skips what a slow reader cannot take, and says how many once it drains or before the next event', async () => {
    const s = sink();
    const b = new EventBatcher(s, limits, () => clock);
    b.accept('e1', line('0'));
    await advance(0);
    s.buffered = 1000;
    for (let i = 1; i <= 25; i++) b.accept('e1', line(String(i)));
    b.accept('e1', metric(1));
    await advance(200);
    expect(s.sent).toHaveLength(1);
    s.buffered = 0;
    b.accept('e1', line('26'));
    await advance(50);
    expect(s.sent.slice(1)).toEqual([
      expect.objectContaining({
        type: 'job.logs',
        seq: 26,
        skipped: 25,
        lines: [{ stream: 'stdout', text: '26' }],
      }),
      expect.objectContaining({ type: 'job.metrics', skipped: 1, points: [] }),
    ]);
    // Still slow when the job ends: the count goes out, before the status.
    s.buffered = 1000;
    b.accept('e1', line('27'));
    b.accept('e1', done);
    expect(s.sent.slice(3)).toEqual([
      expect.objectContaining({ type: 'job.logs', seq: 28, skipped: 1, lines: [] }),
      expect.objectContaining({ type: 'job.status' }),
    ]);
    b.close();
    b.accept('e1', line('28'));
    await advance(100);
    expect(s.sent).toHaveLength(5);
  });
});
