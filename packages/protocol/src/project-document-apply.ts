import type * as Y from 'yjs';
import type { Pipeline, PipelineNode, Project } from '@deepforge/core';
import {
  addConnection,
  addNode,
  connectionKey,
  deleteArtifactRef,
  deleteModule,
  putArtifactRef,
  putModule,
  putOperation,
  putPipeline,
  putResource,
  readArchitecture,
  readPipeline,
  removeConnection,
  removeNode,
  replaceText,
  sections,
  setManifestName,
  setNodeAttribute,
  setNodePlacement,
  setNodeReference,
  moveNode,
  type YNode,
  type YPipeline,
} from './project-document.js';

/** JSON with object keys sorted: two values are the same whatever order their keys were written in. */
function canonical(value: unknown): string {
  return JSON.stringify(value, (_key, v: unknown) =>
    v !== null && typeof v === 'object' && !Array.isArray(v)
      ? Object.fromEntries(
          Object.entries(v as Record<string, unknown>).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)),
        )
      : v,
  );
}

function same(a: unknown, b: unknown): boolean {
  return canonical(a) === canonical(b);
}

function applyNode(doc: Y.Doc, pipeline: string, live: YNode, was: PipelineNode, want: PipelineNode): void {
  if (was.operation !== want.operation) live.set('operation', want.operation);
  for (const k of new Set([...Object.keys(was.attributes), ...Object.keys(want.attributes)])) {
    if (!same(was.attributes[k], want.attributes[k]))
      setNodeAttribute(doc, pipeline, want.id, k, want.attributes[k]);
  }
  for (const k of new Set([...Object.keys(was.references), ...Object.keys(want.references)])) {
    if (was.references[k] !== want.references[k])
      setNodeReference(doc, pipeline, want.id, k, want.references[k]);
  }
  if (!same(was.labels, want.labels)) setNodePlacement(doc, pipeline, want.id, { labels: want.labels });
  if (was.gpus !== want.gpus) setNodePlacement(doc, pipeline, want.id, { gpus: want.gpus });
  if (!same(was.position, want.position)) {
    if (want.position) moveNode(doc, pipeline, want.id, want.position);
    else live.delete('position');
  }
}

/** Changes a pipeline node by node and connection by connection, so concurrent edits elsewhere in it survive. */
function applyPipeline(doc: Y.Doc, live: YPipeline, want: Pipeline): void {
  const name = want.name;
  const was = readPipeline(name, live);
  if (was.description !== want.description) {
    if (want.description === undefined) live.delete('description');
    else live.set('description', want.description);
  }
  const wantIds = new Set(want.nodes.map((n) => n.id));
  for (const n of was.nodes) if (!wantIds.has(n.id)) removeNode(doc, name, n.id);
  const nodes = live.get('nodes') as Y.Array<YNode>;
  const wasById = new Map(was.nodes.map((n) => [n.id, n]));
  for (const n of want.nodes) {
    const before = wasById.get(n.id);
    if (!before) {
      addNode(doc, name, n);
      continue;
    }
    const yNode = nodes.toArray().find((m) => m.get('id') === n.id);
    if (yNode) applyNode(doc, name, yNode, before, n);
  }
  const now = readPipeline(name, live);
  const wantKeys = new Set(want.connections.map(connectionKey));
  for (const c of now.connections) if (!wantKeys.has(connectionKey(c))) removeConnection(doc, name, c);
  for (const c of want.connections) addConnection(doc, name, c);
}

/**
 * Makes a live project document hold `project`, changing only what differs (docs/adr/0020): texts keep their
 * common prefix and suffix, pipelines change node by node, other entries are replaced only when they differ. Run
 * inside one transaction by the caller, so collaborators get it as one update and their own concurrent edits to
 * other parts survive.
 */
export function applyProjectToDoc(doc: Y.Doc, project: Project): void {
  doc.transact(() => {
    const manifest = sections.manifest(doc);
    if (manifest.get('name') !== project.manifest.name) setManifestName(doc, project.manifest.name);
    if (manifest.get('formatVersion') !== project.manifest.formatVersion)
      manifest.set('formatVersion', project.manifest.formatVersion);
    if (manifest.get('description') !== project.manifest.description) {
      if (project.manifest.description === undefined) manifest.delete('description');
      else manifest.set('description', project.manifest.description);
    }

    const ops = sections.operations(doc);
    for (const name of [...ops.keys()]) if (!Object.hasOwn(project.operations, name)) ops.delete(name);
    for (const [name, op] of Object.entries(project.operations)) {
      putOperation(doc, name, op.code, op.dependencies ?? '');
    }

    const pipelines = sections.pipelines(doc);
    for (const name of [...pipelines.keys()])
      if (!Object.hasOwn(project.pipelines, name)) pipelines.delete(name);
    for (const [name, p] of Object.entries(project.pipelines)) {
      const live = pipelines.get(name);
      if (!live) putPipeline(doc, p);
      else applyPipeline(doc, live, p);
    }

    for (const kind of ['utils', 'serializers'] as const) {
      const m = sections[kind](doc);
      for (const name of [...m.keys()])
        if (!Object.hasOwn(project[kind], name)) deleteModule(doc, kind, name);
      for (const [name, code] of Object.entries(project[kind])) {
        const t = m.get(name);
        if (t) replaceText(t, code);
        else putModule(doc, kind, name, code);
      }
    }

    const artifacts = sections.artifacts(doc);
    for (const name of [...artifacts.keys()])
      if (!Object.hasOwn(project.artifacts, name)) deleteArtifactRef(doc, name);
    for (const [name, ref] of Object.entries(project.artifacts)) {
      if (!same(artifacts.get(name), ref)) putArtifactRef(doc, ref);
    }

    const wantResources = project.resources ?? {};
    const resources = sections.resources(doc);
    for (const name of [...resources.keys()]) if (!Object.hasOwn(wantResources, name)) resources.delete(name);
    for (const [name, arch] of Object.entries(wantResources)) {
      const live = resources.get(name);
      if (!live || !same(readArchitecture(name, live), { ...arch, name }))
        putResource(doc, { ...arch, name });
    }
  });
}
