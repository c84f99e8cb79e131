import { describe, expect, it } from 'vitest';
import { PlanOrderedSet } from './plan-ordered-set.js';

const order = ['a', 'b', 'c', 'd', 'e'];
const index = new Map(order.map((n, i) => [n, i]));

describe('PlanOrderedSet', () => {
  it("reads its nodes in the plan's order, whatever order they came in", () => {
    const s = new PlanOrderedSet(index);
    for (const n of ['d', 'b', 'e', 'a']) s.add(n);
    expect(s.ordered()).toEqual(['a', 'b', 'd', 'e']);
    s.delete('b');
    s.add('c');
    expect(s.ordered()).toEqual(['a', 'c', 'd', 'e']);
    expect(s.size).toBe(4);
    expect(s.has('b')).toBe(false);
  });

  it('hands out an array that later changes leave alone', () => {
    const s = new PlanOrderedSet(index);
    s.add('a');
    s.add('c');
    const seen = s.ordered();
    s.delete('a');
    s.add('b');
    expect(seen).toEqual(['a', 'c']);
    expect(s.ordered()).toEqual(['b', 'c']);
    // Unchanged since: the same array, not a copy per read.
    expect(s.ordered()).toBe(s.ordered());
  });

  it('adds a node once, and refuses one the plan does not have', () => {
    const s = new PlanOrderedSet(index);
    s.add('e');
    s.add('e');
    expect(s.ordered()).toEqual(['e']);
    expect(() => s.add('x')).toThrow(/x is not a node of the plan/);
  });
});
