import { readFile, readdir } from 'node:fs/promises';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import * as Y from 'yjs';
import { projectFromFiles, projectToFiles } from '@deepforge/core';
import type { Architecture, Project } from '@deepforge/core';
import {
  addConnection,
  addEdge,
  addLayer,
  addNode,
  deleteOperation,
  deleteResource,
  moveLayer,
  moveNode,
  operationText,
  operationUses,
  projectFromDoc,
  projectToDoc,
  putOperation,
  putResource,
  removeEdge,
  removeLayer,
  nodeRenames,
  removeNode,
  renameOperation,
  renamePipelineNode,
  renamePipeline,
  renameResource,
  sections,
  setLayerAttribute,
  setOutputs,
  replaceText,
  resolveDuplicateNodeIds,
  setNodeAttribute,
  setNodePlacement,
} from './project-document.js';

const EXAMPLES = fileURLToPath(new URL('../../../examples/', import.meta.url));

async function readFolder(dir: string): Promise<Map<string, string>> {
  const files = new Map<string, string>();
  const walk = async (d: string): Promise<void> => {
    for (const e of await readdir(d, { withFileTypes: true })) {
      const p = join(d, e.name);
      if (e.isDirectory()) await walk(p);
      else if (!e.name.endsWith('.pkl')) files.set(relative(dir, p), await readFile(p, 'utf8'));
    }
  };
  await walk(dir);
  return files;
}

async function example(name: string): Promise<Project> {
  const { project } = projectFromFiles(await readFolder(join(EXAMPLES, name)));
  return project!;
}

/** Two replicas that exchange every update, like two browser tabs through the server. */
function connectedPair(project: Project): [Y.Doc, Y.Doc] {
  const a = projectToDoc(project);
  const b = new Y.Doc();
  Y.applyUpdate(b, Y.encodeStateAsUpdate(a));
  return [a, b];
}

function sync(a: Y.Doc, b: Y.Doc): void {
  Y.applyUpdate(b, Y.encodeStateAsUpdate(a, Y.encodeStateVector(b)));
  Y.applyUpdate(a, Y.encodeStateAsUpdate(b, Y.encodeStateVector(a)));
}

describe('project document', () => {
  it.each(['hello', 'plots'])(
    'round-trips examples/%s: files → project → document → project → files',
    async (name) => {
      const project = await example(name);
      const doc = projectToDoc(project);
      const back = projectFromDoc(doc);
      expect(back).toEqual(project);
      expect(projectToFiles(back)).toEqual(projectToFiles(project));
      // And through the wire: a fresh replica built from the encoded state reads the same project.
      const replica = new Y.Doc();
      Y.applyUpdate(replica, Y.encodeStateAsUpdate(doc));
      expect(projectFromDoc(replica)).toEqual(project);
    },
  );

  it('keeps dependencies, descriptions and node order', async () => {
    const project = await example('hello');
    project.operations.Multiply!.dependencies = 'name: mul\ndependencies:\n  - numpy\n';
    const back = projectFromDoc(projectToDoc(project));
    expect(back.operations.Multiply!.dependencies).toBe(project.operations.Multiply!.dependencies);
    expect(back.pipelines.hello!.nodes.map((n) => n.id)).toEqual(
      project.pipelines.hello!.nodes.map((n) => n.id),
    );
  });

  it('merges concurrent edits from two replicas: both nodes, both attribute changes, both code edits', async () => {
    const [a, b] = connectedPair(await example('hello'));
    addNode(a, 'hello', { id: 'extra_a', operation: 'Multiply', attributes: {}, references: {} });
    addNode(b, 'hello', { id: 'extra_b', operation: 'Print', attributes: {}, references: {} });
    setNodeAttribute(a, 'hello', 'left', 'number', 6);
    setNodeAttribute(b, 'hello', 'right', 'number', 7);
    moveNode(b, 'hello', 'left', { x: 10, y: 20 });
    operationText(a, 'Multiply')!.insert(0, '# edited in tab A\n');
    const bText = operationText(b, 'Multiply')!;
    bText.insert(bText.length, '# edited in tab B\n');
    sync(a, b);
    const pa = projectFromDoc(a);
    expect(pa).toEqual(projectFromDoc(b));
    const nodes = Object.fromEntries(pa.pipelines.hello!.nodes.map((n) => [n.id, n]));
    expect(Object.keys(nodes)).toEqual(expect.arrayContaining(['extra_a', 'extra_b']));
    expect(nodes.left!.attributes.number).toBe(6);
    expect(nodes.left!.position).toEqual({ x: 10, y: 20 });
    expect(nodes.right!.attributes.number).toBe(7);
    expect(pa.operations.Multiply!.code).toMatch(/^# edited in tab A\n[\s\S]*# edited in tab B\n$/);
  });

  it('co-edits a node’s labels and GPUs: set in one tab, seen in the other, kept through the files', async () => {
    const [a, b] = connectedPair(await example('hello'));
    setNodePlacement(a, 'hello', 'print', { labels: ['gpu', 'a100'], gpus: 2 });
    setNodeAttribute(b, 'hello', 'print', 'suffix', '?');
    sync(a, b);
    const print = projectFromDoc(b).pipelines.hello!.nodes.find((n) => n.id === 'print')!;
    expect(print.labels).toEqual(['gpu', 'a100']);
    expect(print.gpus).toBe(2);
    // Through the project files and back into a document: nothing lost.
    const files = projectToFiles(projectFromDoc(b));
    const again = projectFromDoc(projectToDoc(projectFromFiles(files).project!));
    expect(again.pipelines.hello!.nodes.find((n) => n.id === 'print')).toMatchObject({
      labels: ['gpu', 'a100'],
      gpus: 2,
    });
    // Removing them removes the fields, as if never set.
    setNodePlacement(b, 'hello', 'print', { labels: undefined, gpus: undefined });
    sync(a, b);
    const cleared = projectFromDoc(a).pipelines.hello!.nodes.find((n) => n.id === 'print')!;
    expect('labels' in cleared || 'gpus' in cleared).toBe(false);
  });

  it('the same connection added in two tabs at once is one connection', async () => {
    const [a, b] = connectedPair(await example('hello'));
    const c = { from: { node: 'left', port: 'number' }, to: { node: 'print', port: 'value' } };
    addConnection(a, 'hello', c);
    addConnection(b, 'hello', c);
    sync(a, b);
    const conns = projectFromDoc(a).pipelines.hello!.connections.filter(
      (x) => x.to.node === 'print' && x.from.node === 'left',
    );
    expect(conns).toHaveLength(1);
  });

  it('removing a node removes its connections; renames follow through', async () => {
    const doc = projectToDoc(await example('hello'));
    removeNode(doc, 'hello', 'multiply');
    const p = projectFromDoc(doc).pipelines.hello!;
    expect(p.nodes.map((n) => n.id)).not.toContain('multiply');
    expect(p.connections.some((c) => c.from.node === 'multiply' || c.to.node === 'multiply')).toBe(false);

    renameOperation(doc, 'GetNumber', 'Number');
    expect(operationUses(doc, 'Number')).toEqual([
      { pipeline: 'hello', node: 'left' },
      { pipeline: 'hello', node: 'right' },
    ]);
    expect(operationUses(doc, 'GetNumber')).toEqual([]);
    renamePipeline(doc, 'hello', 'greetings');
    expect(Object.keys(projectFromDoc(doc).pipelines).sort()).toEqual(['basic-io', 'greetings']);
    expect(projectFromDoc(doc).pipelines.greetings!.name).toBe('greetings');
    expect(() => renamePipeline(doc, 'greetings', 'basic-io')).toThrow(/exists already/);
    expect(() => deleteOperation(doc, 'Nope')).toThrow(/no operation "Nope"/);
  });

  it('renames a node: connections follow, the rename is recorded, a bad id changes nothing', async () => {
    const doc = projectToDoc(await example('hello'));
    const replica = new Y.Doc();
    Y.applyUpdate(replica, Y.encodeStateAsUpdate(doc));
    doc.on('update', (u: Uint8Array) => Y.applyUpdate(replica, u));
    const before = projectFromDoc(doc);
    renamePipelineNode(doc, 'hello', 'multiply', 'product');
    const p = projectFromDoc(replica).pipelines.hello!;
    expect(p.nodes.map((n) => n.id)).toEqual(['greeting', 'left', 'right', 'product', 'print', 'result']);
    expect(
      p.connections
        .filter((c) => c.to.node === 'product')
        .map((c) => c.from.node)
        .sort(),
    ).toEqual(['left', 'right']);
    expect(p.connections.filter((c) => c.from.node === 'product').map((c) => c.to.node)).toEqual(['print']);
    expect(p.connections).toHaveLength(before.pipelines.hello!.connections.length);
    expect(JSON.stringify(p)).not.toMatch(/"multiply"/);
    expect(nodeRenames(replica, 'hello')).toEqual({ multiply: 'product' });
    renamePipelineNode(doc, 'hello', 'product', 'times');
    expect(nodeRenames(replica, 'hello')).toEqual({ multiply: 'times', product: 'times' });

    const now = projectFromDoc(doc);
    for (const [to, message] of [
      ['left', /has a node "left" already/],
      ['', /must not be empty/],
      ['not valid', /not a valid node id/],
      ['y'.repeat(101), /at most 100 characters/],
    ] as const) {
      expect(() => renamePipelineNode(doc, 'hello', 'times', to)).toThrow(message);
      expect(projectFromDoc(doc)).toEqual(now);
    }
    expect(() => renamePipelineNode(doc, 'hello', 'nope', 'x')).toThrow(/no node "nope"/);
    // The project files do not carry the renames: they are the document's memory for executions.
    expect(projectToFiles(now)).toEqual(projectToFiles(projectFromDoc(doc)));
  });

  it('replacing code keeps concurrent edits elsewhere in the text', async () => {
    const [a, b] = connectedPair(await example('hello'));
    const original = operationText(a, 'Print')!.toString();
    // Tab A rewrites one line through the REST API (a whole-text replace); tab B types at the top at the same time.
    putOperation(a, 'Print', original.replace("suffix='!'", "suffix='?'"));
    operationText(b, 'Print')!.insert(0, 'import sys\n');
    sync(a, b);
    const code = projectFromDoc(a).operations.Print!.code;
    expect(code.startsWith('import sys\n')).toBe(true);
    expect(code).toContain("suffix='?'");
  });

  it('replaceText is a no-op for identical content', () => {
    const doc = new Y.Doc();
    const t = doc.getText('t');
    t.insert(0, 'abc');
    let updates = 0;
    doc.on('update', () => updates++);
    replaceText(t, 'abc');
    expect(updates).toBe(0);
    replaceText(t, 'abXc');
    expect(t.toString()).toBe('abXc');
    expect(updates).toBe(1);
  });
});

describe('resolveDuplicateNodeIds', () => {
  it('two tabs adding a node with the same id at once end with two nodes and distinct ids, connections following', async () => {
    const [a, b] = connectedPair(await example('hello'));
    addNode(a, 'hello', { id: 'multiply_2', operation: 'Multiply', attributes: {}, references: {} });
    addConnection(a, 'hello', {
      from: { node: 'left', port: 'number' },
      to: { node: 'multiply_2', port: 'a' },
    });
    addNode(b, 'hello', {
      id: 'multiply_2',
      operation: 'Multiply',
      attributes: { scale: 2 },
      references: {},
    });
    addConnection(b, 'hello', {
      from: { node: 'right', port: 'number' },
      to: { node: 'multiply_2', port: 'b' },
    });
    sync(a, b);
    // Each replica resolves after receiving the other's update; only the creator of a losing node renames it.
    const renamed = resolveDuplicateNodeIds(a) + resolveDuplicateNodeIds(b);
    expect(renamed).toBe(1);
    sync(a, b);
    expect(resolveDuplicateNodeIds(a) + resolveDuplicateNodeIds(b)).toBe(0);
    const pa = projectFromDoc(a).pipelines.hello!;
    expect(pa).toEqual(projectFromDoc(b).pipelines.hello!);
    const ids = pa.nodes.map((n) => n.id);
    expect(new Set(ids).size).toBe(ids.length);
    expect(ids).toEqual(expect.arrayContaining(['multiply_2', 'multiply_2_2']));
    const loser = a.clientID < b.clientID ? b : a;
    const winnerAttrs = loser === b ? {} : { scale: 2 };
    expect(pa.nodes.find((n) => n.id === 'multiply_2')!.attributes).toEqual(winnerAttrs);
    // The loser's connection moved with its node; the winner's stayed.
    const into = (node: string) =>
      pa.connections.filter((c) => c.to.node === node).map((c) => `${c.from.node}.${c.to.port}`);
    expect([...into('multiply_2'), ...into('multiply_2_2')].sort()).toEqual(['left.a', 'right.b']);
    expect(into('multiply_2_2')).toEqual([loser === b ? 'right.b' : 'left.a']);
  });
});

describe('architectures (resources) in the document', () => {
  const net: Architecture = {
    name: 'Net',
    layers: [
      { id: 'x', layer: 'Input', shape: ['N', 4], attributes: {} },
      { id: 'fc', layer: 'Linear', attributes: { in_features: 4, out_features: 2 } },
    ],
    edges: [{ from: 'x', to: 'fc' }],
    outputs: ['fc'],
  };
  const outer: Architecture = {
    name: 'Outer',
    layers: [
      { id: 'x', layer: 'Input', shape: ['N', 4], attributes: {} },
      { id: 'inner', layer: 'resources.Net', attributes: {} },
    ],
    edges: [{ from: 'x', to: 'inner' }],
    outputs: ['inner'],
  };
  const withResources = (): Project => ({
    manifest: { name: 'p', formatVersion: 1 },
    operations: {},
    pipelines: {
      train: {
        name: 'train',
        nodes: [{ id: 't', operation: 'Train', attributes: {}, references: { model: 'Net', data: 'other' } }],
        connections: [],
      },
    },
    utils: {},
    serializers: {},
    artifacts: {},
    resources: { Net: net, Outer: outer },
  });

  it('round-trips through the document and syncs to another replica', () => {
    const doc = projectToDoc(withResources());
    expect(projectFromDoc(doc).resources).toEqual({ Net: net, Outer: outer });
    const other = new Y.Doc();
    Y.applyUpdate(other, Y.encodeStateAsUpdate(doc));
    putResource(doc, { ...net, outputs: ['x'] });
    Y.applyUpdate(other, Y.encodeStateAsUpdate(doc, Y.encodeStateVector(other)));
    expect(projectFromDoc(other).resources!.Net!.outputs).toEqual(['x']);
    deleteResource(doc, 'Outer');
    expect(Object.keys(projectFromDoc(doc).resources!)).toEqual(['Net']);
    expect(() => deleteResource(doc, 'Outer')).toThrow('there is no architecture "Outer"');
  });

  it('a rename follows into pipeline references and architectures that use it', () => {
    const doc = projectToDoc(withResources());
    renameResource(doc, 'Net', 'Classifier');
    const project = projectFromDoc(doc);
    expect(Object.keys(project.resources!).sort()).toEqual(['Classifier', 'Outer']);
    expect(project.resources!.Classifier!.name).toBe('Classifier');
    expect(project.resources!.Outer!.layers[1]!.layer).toBe('resources.Classifier');
    expect(project.pipelines.train!.nodes[0]!.references).toEqual({ model: 'Classifier', data: 'other' });
    expect(() => renameResource(doc, 'Classifier', 'Outer')).toThrow(
      'an architecture "Outer" exists already',
    );
  });

  it('two tabs editing one architecture at once both count: a move, an argument, a new layer and edge', () => {
    const a = projectToDoc(withResources());
    const b = new Y.Doc();
    Y.applyUpdate(b, Y.encodeStateAsUpdate(a));
    moveLayer(a, 'Net', 'fc', { x: 10, y: 20 });
    setLayerAttribute(b, 'Net', 'fc', 'out_features', 5);
    addLayer(b, 'Net', { id: 'relu', layer: 'ReLU', attributes: {} });
    addEdge(b, 'Net', { from: 'fc', to: 'relu' });
    setOutputs(b, 'Net', ['relu']);
    Y.applyUpdate(a, Y.encodeStateAsUpdate(b, Y.encodeStateVector(a)));
    Y.applyUpdate(b, Y.encodeStateAsUpdate(a, Y.encodeStateVector(b)));
    for (const doc of [a, b]) {
      const got = projectFromDoc(doc).resources!.Net!;
      expect(got.layers[1]).toEqual({
        id: 'fc',
        layer: 'Linear',
        attributes: { in_features: 4, out_features: 5 },
        position: { x: 10, y: 20 },
      });
      expect(got.edges).toEqual([
        { from: 'x', to: 'fc' },
        { from: 'fc', to: 'relu' },
      ]);
      expect(got.outputs).toEqual(['relu']);
    }
    removeLayer(a, 'Net', 'fc');
    expect(projectFromDoc(a).resources!.Net).toMatchObject({ edges: [], outputs: ['relu'] });
    removeLayer(a, 'Net', 'relu');
    expect(projectFromDoc(a).resources!.Net!.outputs).toEqual([]);
    addEdge(a, 'Net', { from: 'x', to: 'x2' });
    addEdge(a, 'Net', { from: 'x', to: 'x2' });
    removeEdge(a, 'Net', { from: 'x', to: 'x2' });
    expect(projectFromDoc(a).resources!.Net!.edges).toEqual([{ from: 'x', to: 'x2' }]);
    expect(() => addLayer(a, 'Net', { id: 'x', layer: 'ReLU', attributes: {} })).toThrow(
      'architecture "Net" has a layer "x" already',
    );
    expect(() => moveLayer(a, 'Ghost', 'x', { x: 0, y: 0 })).toThrow('there is no architecture "Ghost"');
  });

  it('reads and edits an architecture stored whole, as the first documents did', () => {
    const doc = projectToDoc(withResources());
    sections.resources(doc).set('Old', net as unknown as Y.Map<unknown>);
    expect(projectFromDoc(doc).resources!.Old).toEqual({ ...net, name: 'Old' });
    moveLayer(doc, 'Old', 'fc', { x: 1, y: 2 });
    expect(projectFromDoc(doc).resources!.Old!.layers[1]!.position).toEqual({ x: 1, y: 2 });
  });

  it('a project without resources reads back without them', () => {
    const { resources: _, ...plain } = withResources();
    expect(projectFromDoc(projectToDoc(plain))).not.toHaveProperty('resources');
  });
});
