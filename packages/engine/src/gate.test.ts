import { describe, expect, it } from 'vitest';
import { Gate } from './gate.js';

describe('Gate', () => {
  it('lets `size` in at once and the others in the order they came, each place given back once', async () => {
    const gate = new Gate(2);
    const a = await gate.take();
    const b = await gate.take();
    const order: string[] = [];
    const c = gate.take().then((r) => (order.push('c'), r));
    const d = gate.take().then((r) => (order.push('d'), r));
    await new Promise((r) => setTimeout(r, 10));
    expect(order).toEqual([]);
    a!();
    a!(); // twice: still one place
    const giveC = await c;
    expect(order).toEqual(['c']);
    b!();
    const giveD = await d;
    expect(order).toEqual(['c', 'd']);
    giveC!();
    giveD!();
    // Both places free again: two more get in at once.
    expect(await Promise.all([gate.take(), gate.take()])).toHaveLength(2);
  });

  it('gives no place to one that stops waiting, and its turn goes to the next', async () => {
    const gate = new Gate(1);
    const first = await gate.take();
    const stop = new AbortController();
    const quitter = gate.take(stop.signal);
    const next = gate.take();
    stop.abort();
    expect(await quitter).toBeUndefined();
    first!();
    expect(await next).toBeTypeOf('function');
    const late = new AbortController();
    late.abort();
    expect(await gate.take(late.signal)).toBeUndefined();
  });
});
