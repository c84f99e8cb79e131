import { describe, expect, it } from 'vitest';
import { CoalescingRequests } from './coalescing-requests.js';

/** A request whose answer the test gives when it wants, in any order. */
function deferredServer() {
  const calls: { value: number; answer: (r: string) => void; fail: (e: Error) => void }[] = [];
  const ask = (value: number): Promise<string> =>
    new Promise((answer, fail) => calls.push({ value, answer, fail }));
  return { calls, ask };
}

const tick = (): Promise<void> => new Promise((r) => setTimeout(r, 0));

describe('coalescing requests', () => {
  it('asks at once, then only for the newest value given meanwhile; answers arrive in order', async () => {
    const server = deferredServer();
    const answers: [number, string][] = [];
    const q = new CoalescingRequests(server.ask, (v, a) => answers.push([v, a.ok ? a.result : 'error']));
    q.request(1);
    q.request(2);
    q.request(3);
    expect(server.calls.map((c) => c.value)).toEqual([1]);
    expect(q.pending).toBe(true);
    server.calls[0]!.answer('one');
    await tick();
    // 2 was never asked: 3 replaced it while 1 was in flight.
    expect(server.calls.map((c) => c.value)).toEqual([1, 3]);
    server.calls[1]!.answer('three');
    await tick();
    expect(answers).toEqual([
      [1, 'one'],
      [3, 'three'],
    ]);
    expect(q.pending).toBe(false);
  });

  it('goes on after a failed request, and delivers nothing once closed', async () => {
    const server = deferredServer();
    const answers: [number, string][] = [];
    const q = new CoalescingRequests(server.ask, (v, a) => answers.push([v, a.ok ? a.result : 'error']));
    q.request(1);
    q.request(2);
    server.calls[0]!.fail(new Error('no torch'));
    await tick();
    server.calls[1]!.answer('two');
    await tick();
    expect(answers).toEqual([
      [1, 'error'],
      [2, 'two'],
    ]);
    q.request(3);
    q.close();
    server.calls[2]!.answer('three');
    q.request(4);
    await tick();
    expect(answers).toHaveLength(2);
    expect(server.calls).toHaveLength(3);
  });
});

describe('coalescing requests by key', () => {
  it('asks once per key in a row; a new queue after a close asks again (React mounts effects twice in development)', async () => {
    const server = deferredServer();
    const answers: number[] = [];
    const first = new CoalescingRequests(server.ask, (v) => answers.push(v));
    expect(first.requestIfNew('graph-a', 1)).toBe(true);
    expect(first.requestIfNew('graph-a', 1)).toBe(false);
    first.close();
    const second = new CoalescingRequests(server.ask, (v) => answers.push(v));
    expect(second.requestIfNew('graph-a', 1)).toBe(true);
    server.calls[0]!.answer('closed');
    server.calls[1]!.answer('open');
    await tick();
    // The closed queue's answer is dropped; the new one's arrives.
    expect(server.calls.map((c) => c.value)).toEqual([1, 1]);
    expect(answers).toEqual([1]);
    expect(second.requestIfNew('graph-b', 2)).toBe(true);
    expect(second.requestIfNew('graph-a', 1)).toBe(true);
  });
});
