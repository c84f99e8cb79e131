import type { Project } from '@deepforge/core';
import {
  addConnection,
  addNode,
  moveNode,
  projectFromDoc,
  projectToDoc,
  removeNode,
  resolveDuplicateNodeIds,
  sections,
  setNodeAttribute,
} from '@deepforge/protocol';
import { describe, expect, it } from 'vitest';
import * as Y from 'yjs';
import { localEdit, pipelineUndoManager } from './local-edit.js';

const project: Project = {
  manifest: { name: 'hello', formatVersion: 1 },
  operations: {
    Double: {
      name: 'Double',
      code: 'class Double:\n    def execute(self, x):\n        y = x * 2\n        return y\n',
    },
  },
  pipelines: {
    main: {
      name: 'main',
      nodes: [
        { id: 'a', operation: 'Double', attributes: {}, references: {}, position: { x: 0, y: 0 } },
        { id: 'b', operation: 'Double', attributes: {}, references: {}, position: { x: 0, y: 100 } },
        { id: 'c', operation: 'Double', attributes: {}, references: {}, position: { x: 0, y: 200 } },
      ],
      connections: [
        { from: { node: 'a', port: 'y' }, to: { node: 'b', port: 'x' } },
        { from: { node: 'b', port: 'y' }, to: { node: 'c', port: 'x' } },
      ],
    },
  },
  utils: {},
  serializers: {},
  artifacts: {},
};

/** Two replicas of one project, each update applied to the other with a "remote" origin, like the provider. */
function pair(): { mine: Y.Doc; theirs: Y.Doc } {
  const mine = projectToDoc(project);
  const theirs = new Y.Doc();
  Y.applyUpdate(theirs, Y.encodeStateAsUpdate(mine), 'remote');
  mine.on('update', (u: Uint8Array, origin: unknown) => {
    if (origin !== 'remote') Y.applyUpdate(theirs, u, 'remote');
  });
  theirs.on('update', (u: Uint8Array, origin: unknown) => {
    if (origin !== 'remote') Y.applyUpdate(mine, u, 'remote');
  });
  return { mine, theirs };
}

const pipelineMap = (doc: Y.Doc) => sections.pipelines(doc).get('main')!;
const main = (doc: Y.Doc) => projectFromDoc(doc).pipelines.main!;

describe('undo of local pipeline edits', () => {
  it('undoes and redoes a local edit', () => {
    const { mine, theirs } = pair();
    const undo = pipelineUndoManager(pipelineMap(mine));
    localEdit(mine, () => setNodeAttribute(mine, 'main', 'a', 'factor', 3));
    expect(main(theirs).nodes[0]!.attributes).toEqual({ factor: 3 });
    undo.undo();
    expect(main(mine).nodes[0]!.attributes).toEqual({});
    expect(main(theirs).nodes[0]!.attributes).toEqual({});
    undo.redo();
    expect(main(theirs).nodes[0]!.attributes).toEqual({ factor: 3 });
  });

  it('never undoes a collaborator’s edit, and keeps their later edit of the same node', () => {
    const { mine, theirs } = pair();
    const undo = pipelineUndoManager(pipelineMap(mine));
    localEdit(theirs, () =>
      addNode(theirs, 'main', { id: 'd', operation: 'Double', attributes: {}, references: {} }),
    );
    expect(undo.undoStack).toHaveLength(0);
    localEdit(mine, () => moveNode(mine, 'main', 'a', { x: 50, y: 60 }));
    undo.stopCapturing();
    localEdit(theirs, () => setNodeAttribute(theirs, 'main', 'a', 'factor', 7));
    undo.undo();
    const after = main(mine);
    // My move is gone; their node and their attribute on the node I moved are still there.
    expect(after.nodes.find((n) => n.id === 'a')).toMatchObject({
      position: { x: 0, y: 0 },
      attributes: { factor: 7 },
    });
    expect(after.nodes.map((n) => n.id)).toEqual(['a', 'b', 'c', 'd']);
    expect(undo.undoStack).toHaveLength(0);
    expect(main(theirs)).toEqual(after);
  });

  it('brings a deleted node back with its connections, for every replica', () => {
    const { mine, theirs } = pair();
    const undo = pipelineUndoManager(pipelineMap(mine));
    localEdit(mine, () => setNodeAttribute(mine, 'main', 'b', 'factor', 5));
    undo.stopCapturing();
    localEdit(mine, () => removeNode(mine, 'main', 'b'));
    expect(main(theirs).nodes.map((n) => n.id)).toEqual(['a', 'c']);
    expect(main(theirs).connections).toEqual([]);
    undo.undo();
    for (const doc of [mine, theirs]) {
      const p = main(doc);
      expect(p.nodes.map((n) => n.id)).toEqual(['a', 'b', 'c']);
      expect(p.nodes[1]!.attributes).toEqual({ factor: 5 });
      expect(p.connections).toEqual(project.pipelines.main!.connections);
    }
    // The step before (the attribute) is its own step.
    undo.undo();
    expect(main(theirs).nodes[1]!.attributes).toEqual({});
  });

  it('merges edits within the capture timeout into one step, and ignores untracked transactions', () => {
    const { mine } = pair();
    const undo = pipelineUndoManager(pipelineMap(mine));
    localEdit(mine, () => moveNode(mine, 'main', 'a', { x: 10, y: 0 }));
    localEdit(mine, () => moveNode(mine, 'main', 'a', { x: 20, y: 0 }));
    // A transaction without the local origin (the duplicate-id fix-up, the server's writes) is not this user's.
    mine.transact(() =>
      addConnection(mine, 'main', { from: { node: 'a', port: 'y' }, to: { node: 'c', port: 'x' } }),
    );
    expect(resolveDuplicateNodeIds(mine)).toBe(0);
    expect(undo.undoStack).toHaveLength(1);
    undo.undo();
    const p = main(mine);
    expect(p.nodes[0]!.position).toEqual({ x: 0, y: 0 });
    expect(p.connections).toHaveLength(3);
  });
});
