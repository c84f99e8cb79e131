import { describe, expect, it } from 'vitest';
import type { Pipeline } from './model.js';
import {
  descendants,
  findCycle,
  findCycles,
  nextRunnable,
  PipelineCycleError,
  PipelinePlanError,
  planPipeline,
} from './pipeline.plan.js';

/** A pipeline from `a>b` edge strings; nodes in the order given, then any only named by edges. */
function graph(nodes: string[], edges: string[]): Pipeline {
  return {
    name: 'p',
    nodes: nodes.map((id) => ({ id, operation: 'Op', attributes: {}, references: {} })),
    connections: edges.map((e) => {
      const [from, to] = e.split('>') as [string, string];
      return { from: { node: from, port: 'out' }, to: { node: to, port: 'in' } };
    }),
  };
}

describe('planPipeline', () => {
  it('orders nodes topologically, ties in pipeline order', () => {
    const p = graph(
      ['train', 'load', 'eval', 'split'],
      ['load>split', 'split>train', 'split>eval', 'train>eval'],
    );
    expect(planPipeline(p)).toEqual({
      order: ['load', 'split', 'train', 'eval'],
      upstream: { train: ['split'], load: [], eval: ['split', 'train'], split: ['load'] },
      downstream: { train: ['eval'], load: ['split'], eval: [], split: ['train', 'eval'] },
    });
  });

  it('keeps independent nodes in pipeline order and merges parallel connections', () => {
    const p = graph(['c', 'b', 'a'], ['b>a', 'b>a']);
    expect(planPipeline(p)).toEqual({
      order: ['c', 'b', 'a'],
      upstream: { c: [], b: [], a: ['b'] },
      downstream: { c: [], b: ['a'], a: [] },
    });
    expect(planPipeline(graph([], []))).toEqual({ order: [], upstream: {}, downstream: {} });
  });

  it('is deterministic for a wide graph', () => {
    const ids = Array.from({ length: 30 }, (_, i) => `n${i}`);
    const edges = ids.slice(1).map((id, i) => `${ids[Math.floor(i / 3)]}>${id}`);
    const first = planPipeline(graph(ids, edges));
    expect(planPipeline(graph(ids, edges))).toEqual(first);
    for (const e of edges) {
      const [from, to] = e.split('>') as [string, string];
      expect(first.order.indexOf(from)).toBeLessThan(first.order.indexOf(to));
    }
  });

  it('throws a cycle error naming the cycle in order', () => {
    const p = graph(['a', 'b', 'c', 'd'], ['a>b', 'b>c', 'c>d', 'd>b']);
    let error: unknown;
    try {
      planPipeline(p);
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(PipelineCycleError);
    expect(error).toBeInstanceOf(PipelinePlanError);
    expect(error).toMatchObject({
      kind: 'cycle',
      cycle: ['b', 'c', 'd'],
      message: 'pipeline has a cycle: b → c → d → b',
    });
  });

  it('throws for duplicate ids and unknown nodes', () => {
    expect(() => planPipeline(graph(['a', 'a'], []))).toThrow(
      expect.objectContaining({ kind: 'duplicate-node', nodes: ['a'] }),
    );
    expect(() => planPipeline(graph(['a'], ['a>ghost']))).toThrow(
      expect.objectContaining({
        kind: 'unknown-node',
        nodes: ['ghost'],
        message: 'a connection names node "ghost", which does not exist',
      }),
    );
  });

  it('handles long chains without deep recursion', () => {
    const ids = Array.from({ length: 20000 }, (_, i) => `n${i}`);
    const edges = ids.slice(1).map((id, i) => `${ids[i]}>${id}`);
    const plan = planPipeline(graph([...ids].reverse(), edges));
    expect(plan.order[0]).toBe('n0');
    expect(plan.order.at(-1)).toBe('n19999');
  });
});

describe('findCycle', () => {
  it('returns null for acyclic pipelines', () => {
    expect(findCycle(graph(['a', 'b'], ['a>b']))).toBeNull();
  });

  it('finds self loops and the shortest cycle through the first node of a component', () => {
    expect(findCycle(graph(['a'], ['a>a']))).toEqual(['a']);
    const p = graph(['x', 'a', 'b', 'c'], ['a>b', 'b>c', 'c>a', 'b>a']);
    expect(findCycle(p)).toEqual(['a', 'b']);
  });

  it('reports one cycle per strongly connected component, ignoring unknown nodes', () => {
    const p = graph(['a', 'b', 'c', 'd', 'e'], ['d>e', 'e>d', 'a>b', 'b>a', 'b>c', 'c>ghost']);
    expect(findCycles(p)).toEqual([
      ['a', 'b'],
      ['d', 'e'],
    ]);
  });
});

describe('descendants', () => {
  const plan = planPipeline(graph(['a', 'b', 'c', 'd', 'e'], ['a>b', 'b>c', 'a>d', 'e>c']));

  it('lists what depends on the given nodes, in plan order', () => {
    expect(plan.order).toEqual(['a', 'b', 'd', 'e', 'c']);
    expect(descendants(plan, ['a'])).toEqual(['b', 'd', 'c']);
    expect(descendants(plan, ['e'])).toEqual(['c']);
    expect(descendants(plan, ['c'])).toEqual([]);
    expect(descendants(plan, ['a', 'b'])).toEqual(['b', 'd', 'c']);
    expect(descendants(plan, new Set(['d', 'e']))).toEqual(['c']);
  });

  it('refuses unknown ids', () => {
    expect(() => descendants(plan, ['zz'])).toThrow('node "zz" is not in the pipeline');
  });
});

describe('nextRunnable', () => {
  const plan = planPipeline(graph(['load', 'a', 'b', 'join'], ['load>a', 'load>b', 'a>join', 'b>join']));

  it('starts with the roots', () => {
    expect(nextRunnable(plan, {})).toEqual(['load']);
    expect(nextRunnable(plan, { load: 'pending', a: 'pending', b: 'pending', join: 'pending' })).toEqual([
      'load',
    ]);
  });

  it('runs nodes whose upstream all succeeded or were cached', () => {
    expect(nextRunnable(plan, { load: 'cached' })).toEqual(['a', 'b']);
    expect(nextRunnable(plan, { load: 'success', a: 'running' })).toEqual(['b']);
    expect(nextRunnable(plan, { load: 'success', a: 'success', b: 'queued' })).toEqual([]);
    expect(nextRunnable(plan, { load: 'success', a: 'success', b: 'cached' })).toEqual(['join']);
  });

  it('blocks nodes behind failures and cancellations', () => {
    expect(nextRunnable(plan, { load: 'failed' })).toEqual([]);
    expect(nextRunnable(plan, { load: 'success', a: 'failed', b: 'success' })).toEqual([]);
    expect(nextRunnable(plan, { load: 'canceled' })).toEqual([]);
  });
});
