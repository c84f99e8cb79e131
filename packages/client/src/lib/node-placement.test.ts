import { describe, expect, it } from 'vitest';
import { belowSources, type NodeBox } from './node-placement.js';

const box = (id: string, x: number, y: number): NodeBox => ({ id, x, y, width: 190, height: 84 });

describe('belowSources', () => {
  it('moves a new node that landed above the node feeding it to below it', () => {
    // Issue 13: added at the middle of the view, above its source, and connected there.
    const source = box('gen', 0, 300);
    const added = box('show', 40, 100);
    const p = belowSources(added, [source], [source, added]);
    expect(p).toEqual({ x: 0, y: 300 + 84 + 60 });
  });

  it('goes under the lowest of several sources, beside what is there already', () => {
    const a = box('a', 0, 0);
    const b = box('b', 300, 200);
    const taken = box('taken', 300, 344);
    const added = box('new', 600, 0);
    const p = belowSources(added, [a, b], [a, b, taken, added])!;
    expect(p.y).toBe(200 + 84 + 60);
    expect(p.x).toBeGreaterThanOrEqual(300 + 190 + 30);
  });

  it('leaves a node that is below its sources already where it is', () => {
    const source = box('gen', 0, 0);
    expect(belowSources(box('show', 500, 200), [source], [])).toBeUndefined();
    expect(belowSources(box('show', 0, 200), [], [])).toBeUndefined();
  });
});
