import * as Y from 'yjs';
import type {
  Architecture,
  ArchitectureEdge,
  ArchitectureLayer,
  ArtifactRef,
  Connection,
  JsonValue,
  Pipeline,
  PipelineNode,
  Project,
} from '@deepforge/core';
import {
  nodeRenameProblem,
  PROJECT_FORMAT_VERSION,
  recordNodeRename,
  RESOURCE_LAYER_PREFIX,
} from '@deepforge/core';

/**
 * A project's content as one Yjs document, synced live between the server and every open tab.
 *
 * Shape (all under the root map `project`):
 *   manifest     Y.Map   name, formatVersion, description
 *   operations   Y.Map   name → Y.Map { code: Y.Text, dependencies: Y.Text }
 *   pipelines    Y.Map   name → Y.Map { description?: string, nodes: Y.Array<Y.Map>, connections: Y.Array<Connection> }
 *                        node Y.Map: id, operation, attributes: Y.Map<JsonValue>, references: Y.Map<string>, labels?
 *                        (a plain string array, replaced whole), gpus?, position?
 *   utils        Y.Map   module → Y.Text
 *   serializers  Y.Map   name → Y.Text
 *   artifacts    Y.Map   name → ArtifactRef (a plain value: references are replaced whole, never merged)
 *   resources    Y.Map   name → Y.Map { description?: string, layers: Y.Array<Y.Map>, edges: Y.Array<ArchitectureEdge>,
 *                        outputs: Y.Array<string> }; layer Y.Map: id, layer, shape?, attributes: Y.Map<JsonValue>,
 *                        position? — like pipelines, so two tabs moving and editing layers at once both count
 *
 * Code is Y.Text so two people typing in one operation merge character by character. Nodes and connections are
 * arrays so the order of the project files survives a round trip; two tabs adding the same connection at once
 * is resolved on reading (the first one wins). Runtime data (executions, logs, artifacts' bytes) never goes here.
 *
 * Bump PROJECT_DOCUMENT_VERSION when this shape changes incompatibly.
 */
export const PROJECT_DOCUMENT_VERSION = 1;

const ROOT = 'project';

export type YOperation = Y.Map<Y.Text>;
export type YNode = Y.Map<unknown>;
export type YPipeline = Y.Map<unknown>;
export type YArchitecture = Y.Map<unknown>;
export type YLayer = Y.Map<unknown>;

function root(doc: Y.Doc): Y.Map<unknown> {
  return doc.getMap(ROOT);
}

function section<T>(doc: Y.Doc, key: string): Y.Map<T> {
  const r = root(doc);
  let m = r.get(key) as Y.Map<T> | undefined;
  if (!m) {
    m = new Y.Map<T>();
    r.set(key, m);
  }
  return m;
}

export const sections = {
  manifest: (doc: Y.Doc) => section<unknown>(doc, 'manifest'),
  operations: (doc: Y.Doc) => section<YOperation>(doc, 'operations'),
  pipelines: (doc: Y.Doc) => section<YPipeline>(doc, 'pipelines'),
  utils: (doc: Y.Doc) => section<Y.Text>(doc, 'utils'),
  serializers: (doc: Y.Doc) => section<Y.Text>(doc, 'serializers'),
  artifacts: (doc: Y.Doc) => section<ArtifactRef>(doc, 'artifacts'),
  resources: (doc: Y.Doc) => section<YArchitecture>(doc, 'resources'),
};

function text(value: string): Y.Text {
  const t = new Y.Text();
  if (value) t.insert(0, value);
  return t;
}

function yNode(node: PipelineNode): YNode {
  const m = new Y.Map<unknown>();
  m.set('id', node.id);
  m.set('operation', node.operation);
  const attributes = new Y.Map<JsonValue>();
  for (const [k, v] of Object.entries(node.attributes)) attributes.set(k, v);
  m.set('attributes', attributes);
  const references = new Y.Map<string>();
  for (const [k, v] of Object.entries(node.references)) references.set(k, v);
  m.set('references', references);
  if (node.labels !== undefined) m.set('labels', [...node.labels]);
  if (node.gpus !== undefined) m.set('gpus', node.gpus);
  if (node.position) m.set('position', { x: node.position.x, y: node.position.y });
  return m;
}

function yPipeline(p: Pipeline): YPipeline {
  const m = new Y.Map<unknown>();
  if (p.description !== undefined) m.set('description', p.description);
  const nodes = new Y.Array<YNode>();
  nodes.push(p.nodes.map(yNode));
  m.set('nodes', nodes);
  const connections = new Y.Array<Connection>();
  connections.push(p.connections.map(cloneConnection));
  m.set('connections', connections);
  return m;
}

function yOperation(code: string, dependencies = ''): YOperation {
  const m = new Y.Map<Y.Text>();
  m.set('code', text(code));
  m.set('dependencies', text(dependencies));
  return m;
}

function cloneConnection(c: Connection): Connection {
  return { from: { node: c.from.node, port: c.from.port }, to: { node: c.to.node, port: c.to.port } };
}

export function connectionKey(c: Connection): string {
  return `${c.from.node}.${c.from.port}->${c.to.node}.${c.to.port}`;
}

/** Fills an empty document with a project, in one transaction (one update to sync and persist). */
export function writeProjectToDoc(doc: Y.Doc, project: Project): void {
  doc.transact(() => {
    const manifest = sections.manifest(doc);
    manifest.clear();
    manifest.set('name', project.manifest.name);
    manifest.set('formatVersion', project.manifest.formatVersion);
    if (project.manifest.description !== undefined) manifest.set('description', project.manifest.description);
    const ops = sections.operations(doc);
    ops.clear();
    for (const [name, op] of Object.entries(project.operations))
      ops.set(name, yOperation(op.code, op.dependencies));
    const pipelines = sections.pipelines(doc);
    pipelines.clear();
    for (const [name, p] of Object.entries(project.pipelines)) pipelines.set(name, yPipeline(p));
    const utils = sections.utils(doc);
    utils.clear();
    for (const [name, code] of Object.entries(project.utils)) utils.set(name, text(code));
    const serializers = sections.serializers(doc);
    serializers.clear();
    for (const [name, code] of Object.entries(project.serializers)) serializers.set(name, text(code));
    const artifacts = sections.artifacts(doc);
    artifacts.clear();
    for (const [name, ref] of Object.entries(project.artifacts)) artifacts.set(name, { ...ref });
    const resources = sections.resources(doc);
    resources.clear();
    for (const [name, arch] of Object.entries(project.resources ?? {}))
      resources.set(name, yArchitecture(arch));
  });
}

/** A deep copy: values put into a Y.Map are owned by it and must not be changed by the caller afterwards. */
function cloneJson<T>(value: T): T {
  return JSON.parse(JSON.stringify(value)) as T;
}

function yLayer(l: ArchitectureLayer): YLayer {
  const m = new Y.Map<unknown>();
  m.set('id', l.id);
  m.set('layer', l.layer);
  if (l.shape !== undefined) m.set('shape', cloneJson(l.shape));
  const attributes = new Y.Map<JsonValue>();
  for (const [k, v] of Object.entries(l.attributes)) attributes.set(k, cloneJson(v));
  m.set('attributes', attributes);
  if (l.position) m.set('position', { x: l.position.x, y: l.position.y });
  return m;
}

function yArchitecture(a: Architecture): YArchitecture {
  const m = new Y.Map<unknown>();
  if (a.description !== undefined) m.set('description', a.description);
  const layers = new Y.Array<YLayer>();
  layers.push(a.layers.map(yLayer));
  m.set('layers', layers);
  const edges = new Y.Array<ArchitectureEdge>();
  edges.push(a.edges.map((e) => ({ from: e.from, to: e.to })));
  m.set('edges', edges);
  const outputs = new Y.Array<string>();
  outputs.push([...a.outputs]);
  m.set('outputs', outputs);
  return m;
}

function readLayer(m: YLayer): ArchitectureLayer {
  const shape = m.get('shape') as JsonValue | undefined;
  const position = m.get('position') as { x: number; y: number } | undefined;
  return {
    id: m.get('id') as string,
    layer: m.get('layer') as string,
    ...(shape !== undefined ? { shape: cloneJson(shape) } : {}),
    attributes: ((m.get('attributes') as Y.Map<JsonValue> | undefined)?.toJSON() ?? {}) as Record<
      string,
      JsonValue
    >,
    ...(position ? { position: { x: position.x, y: position.y } } : {}),
  };
}

/** The architecture `name` a document holds (also one stored as a plain value, as the first documents did). */
export function readArchitecture(name: string, value: YArchitecture | Architecture): Architecture {
  if (!(value instanceof Y.Map)) return { ...cloneJson(value), name };
  const description = value.get('description') as string | undefined;
  return {
    name,
    ...(description !== undefined ? { description } : {}),
    layers: (value.get('layers') as Y.Array<YLayer> | undefined)?.toArray().map(readLayer) ?? [],
    edges: ((value.get('edges') as Y.Array<ArchitectureEdge> | undefined)?.toArray() ?? []).map((e) => ({
      from: e.from,
      to: e.to,
    })),
    outputs: [...((value.get('outputs') as Y.Array<string> | undefined)?.toArray() ?? [])],
  };
}

/** A new document holding `project`. */
export function projectToDoc(project: Project): Y.Doc {
  const doc = new Y.Doc();
  writeProjectToDoc(doc, project);
  return doc;
}

function readNode(m: YNode): PipelineNode {
  const attributes = (m.get('attributes') as Y.Map<JsonValue> | undefined)?.toJSON() as Record<
    string,
    JsonValue
  >;
  const references = (m.get('references') as Y.Map<string> | undefined)?.toJSON() as Record<string, string>;
  const position = m.get('position') as { x: number; y: number } | undefined;
  const labels = m.get('labels') as string[] | undefined;
  const gpus = m.get('gpus') as number | undefined;
  return {
    id: m.get('id') as string,
    operation: m.get('operation') as string,
    attributes: attributes ?? {},
    references: references ?? {},
    ...(labels !== undefined ? { labels: [...labels] } : {}),
    ...(gpus !== undefined ? { gpus } : {}),
    ...(position ? { position: { x: position.x, y: position.y } } : {}),
  };
}

export function readPipeline(name: string, m: YPipeline): Pipeline {
  const description = m.get('description') as string | undefined;
  const nodes = (m.get('nodes') as Y.Array<YNode> | undefined)?.toArray().map(readNode) ?? [];
  const seen = new Set<string>();
  const connections: Connection[] = [];
  for (const c of (m.get('connections') as Y.Array<Connection> | undefined)?.toArray() ?? []) {
    const key = connectionKey(c);
    // Two tabs may add the same connection at once; both inserts survive in the array, one is enough.
    if (seen.has(key)) continue;
    seen.add(key);
    connections.push(cloneConnection(c));
  }
  return { name, ...(description !== undefined ? { description } : {}), nodes, connections };
}

/** The project a document holds now. */
export function projectFromDoc(doc: Y.Doc): Project {
  const manifest = sections.manifest(doc);
  const description = manifest.get('description') as string | undefined;
  const operations: Project['operations'] = {};
  for (const [name, op] of sections.operations(doc).entries()) {
    const dependencies = op.get('dependencies')?.toString() ?? '';
    operations[name] = {
      name,
      code: op.get('code')?.toString() ?? '',
      ...(dependencies ? { dependencies } : {}),
    };
  }
  const pipelines: Project['pipelines'] = {};
  for (const [name, p] of sections.pipelines(doc).entries()) pipelines[name] = readPipeline(name, p);
  const utils: Project['utils'] = {};
  for (const [name, t] of sections.utils(doc).entries()) utils[name] = t.toString();
  const serializers: Project['serializers'] = {};
  for (const [name, t] of sections.serializers(doc).entries()) serializers[name] = t.toString();
  const artifacts: Project['artifacts'] = {};
  for (const [name, ref] of sections.artifacts(doc).entries()) artifacts[name] = { ...ref };
  const resources: Record<string, Architecture> = {};
  // Read without creating the section: a document of an older project has none, and reading must not write.
  const stored = root(doc).get('resources') as Y.Map<YArchitecture> | undefined;
  for (const [name, arch] of stored?.entries() ?? []) resources[name] = readArchitecture(name, arch);
  return {
    manifest: {
      name: (manifest.get('name') as string | undefined) ?? '',
      formatVersion:
        (manifest.get('formatVersion') as typeof PROJECT_FORMAT_VERSION | undefined) ??
        PROJECT_FORMAT_VERSION,
      ...(description !== undefined ? { description } : {}),
    },
    operations,
    pipelines,
    utils,
    serializers,
    artifacts,
    ...(Object.keys(resources).length > 0 ? { resources } : {}),
  };
}

// ── edits, each one transaction, used by the editor and by the REST API alike ──────────────────────────────

export class ProjectDocumentError extends Error {
  override readonly name = 'ProjectDocumentError';
}

function pipelineOf(doc: Y.Doc, name: string): YPipeline {
  const p = sections.pipelines(doc).get(name);
  if (!p) throw new ProjectDocumentError(`there is no pipeline "${name}"`);
  return p;
}

function nodesOf(p: YPipeline): Y.Array<YNode> {
  return p.get('nodes') as Y.Array<YNode>;
}

function connectionsOf(p: YPipeline): Y.Array<Connection> {
  return p.get('connections') as Y.Array<Connection>;
}

function nodeIndex(p: YPipeline, id: string): number {
  return nodesOf(p)
    .toArray()
    .findIndex((n) => n.get('id') === id);
}

function findNode(doc: Y.Doc, pipeline: string, id: string): YNode {
  const p = pipelineOf(doc, pipeline);
  const i = nodeIndex(p, id);
  if (i < 0) throw new ProjectDocumentError(`pipeline "${pipeline}" has no node "${id}"`);
  return nodesOf(p).get(i);
}

export function setManifestName(doc: Y.Doc, name: string): void {
  sections.manifest(doc).set('name', name);
}

export function putPipeline(doc: Y.Doc, pipeline: Pipeline): void {
  doc.transact(() => sections.pipelines(doc).set(pipeline.name, yPipeline(pipeline)));
}

export function deletePipeline(doc: Y.Doc, name: string): void {
  pipelineOf(doc, name);
  sections.pipelines(doc).delete(name);
}

export function renamePipeline(doc: Y.Doc, from: string, to: string): void {
  const pipelines = sections.pipelines(doc);
  if (pipelines.has(to)) throw new ProjectDocumentError(`a pipeline "${to}" exists already`);
  const current = readPipeline(to, pipelineOf(doc, from));
  doc.transact(() => {
    pipelines.delete(from);
    pipelines.set(to, yPipeline(current));
  });
}

export function addNode(doc: Y.Doc, pipeline: string, node: PipelineNode): void {
  const p = pipelineOf(doc, pipeline);
  if (nodeIndex(p, node.id) >= 0)
    throw new ProjectDocumentError(`pipeline "${pipeline}" has a node "${node.id}" already`);
  nodesOf(p).push([yNode(node)]);
}

/** Removes a node and every connection to or from it. */
export function removeNode(doc: Y.Doc, pipeline: string, id: string): void {
  const p = pipelineOf(doc, pipeline);
  doc.transact(() => {
    const i = nodeIndex(p, id);
    if (i >= 0) nodesOf(p).delete(i, 1);
    const conns = connectionsOf(p);
    for (let j = conns.length - 1; j >= 0; j--) {
      const c = conns.get(j);
      if (c.from.node === id || c.to.node === id) conns.delete(j, 1);
    }
  });
}

const RENAMED_NODES = 'renamedNodes';

/**
 * Renames a node: its id, every connection to or from it, and the pipeline's record of renames (old id → id now,
 * a plain value under `renamedNodes`), so an execution that ran under the old id still finds the node and its
 * `--set` overrides still apply. One transaction; a bad id throws ProjectDocumentError and nothing changes.
 */
export function renamePipelineNode(doc: Y.Doc, pipeline: string, from: string, to: string): void {
  const p = pipelineOf(doc, pipeline);
  const problem = nodeRenameProblem(readPipeline(pipeline, p), from, to);
  if (problem) throw new ProjectDocumentError(problem);
  if (from === to) return;
  doc.transact(() => {
    nodesOf(p).get(nodeIndex(p, from)).set('id', to);
    const conns = connectionsOf(p);
    conns.forEach((c, index) => {
      if (c.from.node !== from && c.to.node !== from) return;
      const moved = cloneConnection(c);
      if (moved.from.node === from) moved.from.node = to;
      if (moved.to.node === from) moved.to.node = to;
      conns.delete(index, 1);
      conns.insert(index, [moved]);
    });
    p.set(RENAMED_NODES, recordNodeRename(nodeRenames(doc, pipeline), from, to));
  });
}

/** A pipeline's node renames, old id → id now (empty when none, or no such pipeline). */
export function nodeRenames(doc: Y.Doc, pipeline: string): Record<string, string> {
  const value = sections.pipelines(doc).get(pipeline)?.get(RENAMED_NODES);
  if (!value || typeof value !== 'object') return {};
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(value as Record<string, unknown>))
    if (typeof v === 'string') out[k] = v;
  return out;
}

export function moveNode(doc: Y.Doc, pipeline: string, id: string, position: { x: number; y: number }): void {
  findNode(doc, pipeline, id).set('position', { x: position.x, y: position.y });
}

/** Sets an attribute value; `undefined` removes it, so the operation's default applies. */
export function setNodeAttribute(
  doc: Y.Doc,
  pipeline: string,
  id: string,
  attr: string,
  value: JsonValue | undefined,
): void {
  const attributes = findNode(doc, pipeline, id).get('attributes') as Y.Map<JsonValue>;
  if (value === undefined) attributes.delete(attr);
  else attributes.set(attr, value);
}

/**
 * Sets where a node's job may run (docs/project-format.md): the labels a worker needs and the GPUs the job needs;
 * `undefined` removes the field. Labels are replaced whole (the last tab to edit them wins, like a reference).
 */
export function setNodePlacement(
  doc: Y.Doc,
  pipeline: string,
  id: string,
  placement: { labels?: readonly string[] | undefined; gpus?: number | undefined },
): void {
  const node = findNode(doc, pipeline, id);
  doc.transact(() => {
    if ('labels' in placement) {
      if (placement.labels === undefined) node.delete('labels');
      else node.set('labels', [...placement.labels]);
    }
    if ('gpus' in placement) {
      if (placement.gpus === undefined) node.delete('gpus');
      else node.set('gpus', placement.gpus);
    }
  });
}

export function setNodeReference(
  doc: Y.Doc,
  pipeline: string,
  id: string,
  ref: string,
  artifact: string | undefined,
): void {
  const references = findNode(doc, pipeline, id).get('references') as Y.Map<string>;
  if (artifact === undefined) references.delete(ref);
  else references.set(ref, artifact);
}

export function addConnection(doc: Y.Doc, pipeline: string, connection: Connection): void {
  const conns = connectionsOf(pipelineOf(doc, pipeline));
  const key = connectionKey(connection);
  if (conns.toArray().some((c) => connectionKey(c) === key)) return;
  conns.push([cloneConnection(connection)]);
}

export function removeConnection(doc: Y.Doc, pipeline: string, connection: Connection): void {
  const conns = connectionsOf(pipelineOf(doc, pipeline));
  const key = connectionKey(connection);
  doc.transact(() => {
    for (let j = conns.length - 1; j >= 0; j--) if (connectionKey(conns.get(j)) === key) conns.delete(j, 1);
  });
}

export function operationText(doc: Y.Doc, name: string): Y.Text | undefined {
  return sections.operations(doc).get(name)?.get('code');
}

export function dependenciesText(doc: Y.Doc, name: string): Y.Text | undefined {
  return sections.operations(doc).get(name)?.get('dependencies');
}

/** Replaces a Y.Text's content; a no-op when it is the same, so observers see no change. */
export function replaceText(t: Y.Text, value: string): void {
  const current = t.toString();
  if (current === value) return;
  // Keep the common prefix and suffix: concurrent edits elsewhere in the text survive a whole-text replace.
  let start = 0;
  while (start < current.length && start < value.length && current[start] === value[start]) start++;
  let end = 0;
  while (
    end < current.length - start &&
    end < value.length - start &&
    current[current.length - 1 - end] === value[value.length - 1 - end]
  ) {
    end++;
  }
  t.doc!.transact(() => {
    t.delete(start, current.length - start - end);
    t.insert(start, value.slice(start, value.length - end));
  });
}

export function putOperation(doc: Y.Doc, name: string, code: string, dependencies?: string): void {
  const ops = sections.operations(doc);
  const existing = ops.get(name);
  doc.transact(() => {
    if (!existing) {
      ops.set(name, yOperation(code, dependencies ?? ''));
      return;
    }
    replaceText(existing.get('code')!, code);
    if (dependencies !== undefined) replaceText(existing.get('dependencies')!, dependencies);
  });
}

export function deleteOperation(doc: Y.Doc, name: string): void {
  if (!sections.operations(doc).has(name)) throw new ProjectDocumentError(`there is no operation "${name}"`);
  sections.operations(doc).delete(name);
}

/** Renames an operation (its class name in the code is the caller's business) and every node that uses it. */
export function renameOperation(doc: Y.Doc, from: string, to: string, code?: string): void {
  const ops = sections.operations(doc);
  const op = ops.get(from);
  if (!op) throw new ProjectDocumentError(`there is no operation "${from}"`);
  if (ops.has(to)) throw new ProjectDocumentError(`an operation "${to}" exists already`);
  doc.transact(() => {
    const moved = yOperation(code ?? op.get('code')!.toString(), op.get('dependencies')!.toString());
    ops.delete(from);
    ops.set(to, moved);
    for (const p of sections.pipelines(doc).values()) {
      for (const n of nodesOf(p).toArray()) if (n.get('operation') === from) n.set('operation', to);
    }
  });
}

/** Which pipeline nodes use an operation: a deleted operation still in use is shown on them. */
export function operationUses(doc: Y.Doc, name: string): { pipeline: string; node: string }[] {
  const uses: { pipeline: string; node: string }[] = [];
  for (const [pname, p] of sections.pipelines(doc).entries()) {
    for (const n of nodesOf(p).toArray())
      if (n.get('operation') === name) uses.push({ pipeline: pname, node: n.get('id') as string });
  }
  return uses;
}

export function putModule(doc: Y.Doc, kind: 'utils' | 'serializers', name: string, code: string): void {
  const m = sections[kind](doc);
  const existing = m.get(name);
  if (existing) replaceText(existing, code);
  else m.set(name, text(code));
}

export function deleteModule(doc: Y.Doc, kind: 'utils' | 'serializers', name: string): void {
  sections[kind](doc).delete(name);
}

export function putArtifactRef(doc: Y.Doc, ref: ArtifactRef): void {
  sections.artifacts(doc).set(ref.name, { ...ref });
}

export function deleteArtifactRef(doc: Y.Doc, name: string): void {
  sections.artifacts(doc).delete(name);
}

/** Adds or replaces an architecture, the whole graph (REST PUT, an import); the editor edits it piece by piece. */
export function putResource(doc: Y.Doc, arch: Architecture): void {
  doc.transact(() => sections.resources(doc).set(arch.name, yArchitecture(arch)));
}

export function deleteResource(doc: Y.Doc, name: string): void {
  if (!sections.resources(doc).has(name))
    throw new ProjectDocumentError(`there is no architecture "${name}"`);
  sections.resources(doc).delete(name);
}

function architectureOf(doc: Y.Doc, name: string): YArchitecture {
  const a = sections.resources(doc).get(name);
  if (!a) throw new ProjectDocumentError(`there is no architecture "${name}"`);
  if (!(a instanceof Y.Map)) {
    // Stored whole by an older server: made editable in place, once.
    const editable = yArchitecture(readArchitecture(name, a as unknown as Architecture));
    sections.resources(doc).set(name, editable);
    return editable;
  }
  return a;
}

function layersOf(a: YArchitecture): Y.Array<YLayer> {
  return a.get('layers') as Y.Array<YLayer>;
}

function findLayer(doc: Y.Doc, name: string, id: string): YLayer {
  const layer = layersOf(architectureOf(doc, name))
    .toArray()
    .find((l) => l.get('id') === id);
  if (!layer) throw new ProjectDocumentError(`architecture "${name}" has no layer "${id}"`);
  return layer;
}

export function addLayer(doc: Y.Doc, name: string, layer: ArchitectureLayer): void {
  const layers = layersOf(architectureOf(doc, name));
  if (layers.toArray().some((l) => l.get('id') === layer.id)) {
    throw new ProjectDocumentError(`architecture "${name}" has a layer "${layer.id}" already`);
  }
  layers.push([yLayer(layer)]);
}

/** Removes a layer with every edge to or from it, and from the outputs. */
export function removeLayer(doc: Y.Doc, name: string, id: string): void {
  const a = architectureOf(doc, name);
  doc.transact(() => {
    const layers = layersOf(a);
    const i = layers.toArray().findIndex((l) => l.get('id') === id);
    if (i >= 0) layers.delete(i, 1);
    const edges = a.get('edges') as Y.Array<ArchitectureEdge>;
    for (let j = edges.length - 1; j >= 0; j--) {
      const e = edges.get(j);
      if (e.from === id || e.to === id) edges.delete(j, 1);
    }
    const outputs = a.get('outputs') as Y.Array<string>;
    for (let j = outputs.length - 1; j >= 0; j--) if (outputs.get(j) === id) outputs.delete(j, 1);
  });
}

export function moveLayer(doc: Y.Doc, name: string, id: string, position: { x: number; y: number }): void {
  findLayer(doc, name, id).set('position', { x: position.x, y: position.y });
}

/** Sets a constructor argument; `undefined` removes it, so the class's default applies. */
export function setLayerAttribute(
  doc: Y.Doc,
  name: string,
  id: string,
  attr: string,
  value: JsonValue | undefined,
): void {
  const attributes = findLayer(doc, name, id).get('attributes') as Y.Map<JsonValue>;
  if (value === undefined) attributes.delete(attr);
  else attributes.set(attr, cloneJson(value));
}

/** An Input layer's shape. */
export function setLayerShape(doc: Y.Doc, name: string, id: string, shape: JsonValue): void {
  findLayer(doc, name, id).set('shape', cloneJson(shape));
}

/** Adds an edge at the end: a layer with several inputs takes them in the edges' order. */
export function addEdge(doc: Y.Doc, name: string, edge: ArchitectureEdge): void {
  (architectureOf(doc, name).get('edges') as Y.Array<ArchitectureEdge>).push([
    { from: edge.from, to: edge.to },
  ]);
}

/** Removes one such edge (the last: `x + x` has the same edge twice). */
export function removeEdge(doc: Y.Doc, name: string, edge: ArchitectureEdge): void {
  const edges = architectureOf(doc, name).get('edges') as Y.Array<ArchitectureEdge>;
  for (let j = edges.length - 1; j >= 0; j--) {
    const e = edges.get(j);
    if (e.from === edge.from && e.to === edge.to) {
      edges.delete(j, 1);
      return;
    }
  }
}

export function setOutputs(doc: Y.Doc, name: string, outputs: readonly string[]): void {
  const list = architectureOf(doc, name).get('outputs') as Y.Array<string>;
  doc.transact(() => {
    list.delete(0, list.length);
    list.push([...outputs]);
  });
}

/**
 * Renames an architecture, and with it every reference to it: pipeline nodes whose references name it, and
 * layers of other architectures that use it (`resources.<name>`), in one transaction.
 */
export function renameResource(doc: Y.Doc, from: string, to: string): void {
  const resources = sections.resources(doc);
  const moved = readArchitecture(to, architectureOf(doc, from));
  if (resources.has(to)) throw new ProjectDocumentError(`an architecture "${to}" exists already`);
  doc.transact(() => {
    resources.delete(from);
    resources.set(to, yArchitecture(moved));
    for (const other of [...resources.keys()]) {
      for (const l of layersOf(architectureOf(doc, other)).toArray()) {
        if (l.get('layer') === RESOURCE_LAYER_PREFIX + from) l.set('layer', RESOURCE_LAYER_PREFIX + to);
      }
    }
    for (const p of sections.pipelines(doc).values()) {
      for (const n of nodesOf(p).toArray()) {
        const refs = n.get('references') as Y.Map<string> | undefined;
        for (const [ref, target] of [...(refs?.entries() ?? [])]) if (target === from) refs!.set(ref, to);
      }
    }
  });
}

/**
 * Renames this replica's nodes whose id another replica also gave a node, concurrently (two tabs adding the
 * same operation before they synced both pick `multiply_2`). Of the nodes sharing an id the one created by the
 * lowest client id keeps it; every other one is renamed by the replica that created it — and only by that one —
 * so replicas never race to rename the same node. Connections this replica made to a renamed node follow it.
 * Returns how many nodes were renamed. Call it after remote updates.
 */
export function resolveDuplicateNodeIds(doc: Y.Doc): number {
  let renamed = 0;
  const creator = (t: { _item: Y.Item | null }): { client: number; clock: number } => {
    const id = t._item?.id;
    return { client: id?.client ?? 0, clock: id?.clock ?? 0 };
  };
  doc.transact(() => {
    for (const p of sections.pipelines(doc).values()) {
      const nodes = nodesOf(p).toArray();
      const byId = new Map<string, YNode[]>();
      for (const n of nodes) {
        const id = n.get('id') as string;
        byId.set(id, [...(byId.get(id) ?? []), n]);
      }
      const taken = new Set(byId.keys());
      for (const [id, group] of byId) {
        if (group.length < 2) continue;
        const ordered = [...group].sort((a, b) => {
          const ca = creator(a);
          const cb = creator(b);
          return ca.client - cb.client || ca.clock - cb.clock;
        });
        for (const node of ordered.slice(1)) {
          if (creator(node).client !== doc.clientID) continue;
          let i = 2;
          let fresh = `${id}_${i}`;
          while (taken.has(fresh)) fresh = `${id}_${++i}`;
          taken.add(fresh);
          node.set('id', fresh);
          const conns = connectionsOf(p);
          conns.forEach((c, index) => {
            // Plain values in a Y.Array have no creator of their own; the item holding them does.
            const item = findItemAt(conns, index);
            if (!item || item.client !== doc.clientID) return;
            if (c.from.node !== id && c.to.node !== id) return;
            const moved = cloneConnection(c);
            if (moved.from.node === id) moved.from.node = fresh;
            if (moved.to.node === id) moved.to.node = fresh;
            conns.delete(index, 1);
            conns.insert(index, [moved]);
          });
          renamed++;
        }
      }
    }
  });
  return renamed;
}

/** The creator of the array element at `index` (Yjs keeps several plain values in one item). */
function findItemAt(arr: Y.Array<Connection>, index: number): { client: number } | null {
  let item = (arr as unknown as { _start: YItemLike | null })._start;
  let i = 0;
  while (item) {
    if (!item.deleted && item.countable) {
      if (index < i + item.length) return { client: item.id.client };
      i += item.length;
    }
    item = item.right;
  }
  return null;
}

interface YItemLike {
  deleted: boolean;
  countable: boolean;
  length: number;
  id: { client: number; clock: number };
  right: YItemLike | null;
}
