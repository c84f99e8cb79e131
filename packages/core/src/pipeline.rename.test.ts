import { describe, expect, it } from 'vitest';
import type { Pipeline } from './model.js';
import {
  currentNodeId,
  nodeRenameProblem,
  recordNodeRename,
  renameNode,
  renameOverrideKeys,
} from './pipeline.rename.js';

const pipeline: Pipeline = {
  name: 'hello',
  nodes: [
    { id: 'left', operation: 'GetNumber', attributes: { number: 2 }, references: {} },
    { id: 'right', operation: 'GetNumber', attributes: {}, references: {} },
    { id: 'multiply', operation: 'Multiply', attributes: {}, references: {}, position: { x: 1, y: 2 } },
  ],
  connections: [
    { from: { node: 'left', port: 'number' }, to: { node: 'multiply', port: 'a' } },
    { from: { node: 'right', port: 'number' }, to: { node: 'multiply', port: 'b' } },
  ],
};

describe('renaming a node', () => {
  it('renames the node and every connection to or from it, and nothing else', () => {
    const renamed = renameNode(pipeline, 'multiply', 'product');
    expect(renamed.nodes.map((n) => n.id)).toEqual(['left', 'right', 'product']);
    expect(renamed.nodes[2]).toEqual({ ...pipeline.nodes[2], id: 'product' });
    expect(renamed.connections).toEqual([
      { from: { node: 'left', port: 'number' }, to: { node: 'product', port: 'a' } },
      { from: { node: 'right', port: 'number' }, to: { node: 'product', port: 'b' } },
    ]);
    expect(renameNode(pipeline, 'left', 'first').connections[0]!.from.node).toBe('first');
    // The input is not changed.
    expect(pipeline.nodes[2]!.id).toBe('multiply');
    // The same id is no change, and no problem.
    expect(renameNode(pipeline, 'left', 'left')).toEqual(pipeline);
  });

  it('refuses a clash, an empty id, an invalid identifier, a keyword, a too long id and an unknown node', () => {
    const cases: [string, string, RegExp][] = [
      ['left', 'right', /has a node "right" already/],
      ['left', '', /must not be empty/],
      ['left', '2nd', /"2nd" is not a valid node id/],
      ['left', 'a-b', /not a valid node id/],
      ['left', 'a.b', /not a valid node id/],
      ['left', 'class', /Python keyword/],
      ['left', 'x'.repeat(101), /at most 100 characters \(this one has 101\)/],
      ['nowhere', 'x', /has no node "nowhere"/],
    ];
    for (const [from, to, message] of cases) {
      expect(nodeRenameProblem(pipeline, from, to), `${from} → ${to}`).toMatch(message);
      expect(() => renameNode(pipeline, from, to)).toThrow(message);
    }
    expect(nodeRenameProblem(pipeline, 'left', 'x'.repeat(100))).toBeNull();
  });

  it('records renames so old ids lead to the node, through chains and back', () => {
    let renames = recordNodeRename({}, 'a', 'b');
    expect(renames).toEqual({ a: 'b' });
    renames = recordNodeRename(renames, 'b', 'c');
    expect(renames).toEqual({ a: 'c', b: 'c' });
    expect(currentNodeId(renames, 'a')).toBe('c');
    expect(currentNodeId(renames, 'z')).toBe('z');
    // Named back to a: a is itself again, b still leads to it.
    renames = recordNodeRename(renames, 'c', 'a');
    expect(renames).toEqual({ b: 'a', c: 'a' });
    expect(recordNodeRename({}, 'a', 'a')).toEqual({});
  });

  it('rewrites --set keys to the new ids and keeps the values as given', () => {
    expect(
      renameOverrideKeys(['left.number=6', 'right.number=a.b=c', 'other.x=1', 'garbage'], {
        left: 'first',
        right: 'second',
      }),
    ).toEqual(['first.number=6', 'second.number=a.b=c', 'other.x=1', 'garbage']);
  });
});
