import { structuredPatch } from 'diff';
import { ArchitectureSchema, PipelineSchema } from './model.js';
import type { Architecture, JsonValue, Pipeline } from './model.js';

/**
 * Readable diffs of one project file between two versions (the History view). Code and other text get a line diff
 * (jsdiff); pipelines and architectures get what a user changed in the graph: nodes or layers added, removed,
 * renamed and moved, attribute changes old → new, connections or edges added and removed.
 *
 * Bounded, because the texts come from any version of any project: past FILE_DIFF_LIMITS the result says the file
 * is too large instead of working for seconds.
 */
export const FILE_DIFF_LIMITS = {
  /** Either side larger than this (UTF-16 code units, about bytes for code) is not diffed. */
  chars: 4 * 1024 * 1024,
  /** Either side with more lines than this gets no line diff. */
  lines: 20_000,
  /**
   * A line diff looks for the fewest changes only while at most this many lines differ: jsdiff's work grows with
   * the square of the differences. Past it the file is shown as replaced, every old line removed and every new
   * one added, which is what a rewrite is anyway.
   */
  editLines: 1_000,
  /** Lines of context around each change in a line diff. */
  context: 3,
} as const;

export type DiffLineKind = 'context' | 'added' | 'removed';
export interface DiffLine {
  kind: DiffLineKind;
  text: string;
  /** Line number in the old text (context and removed lines). */
  oldLine?: number;
  /** Line number in the new text (context and added lines). */
  newLine?: number;
}
export interface DiffHunk {
  oldStart: number;
  oldLines: number;
  newStart: number;
  newLines: number;
  lines: DiffLine[];
}
export interface LineDiff {
  type: 'lines';
  hunks: DiffHunk[];
  added: number;
  removed: number;
  /** Why a pipeline or architecture got a line diff instead (it does not parse as one). */
  note?: string;
}

export interface ValueChange {
  /** An attribute name, a reference name, or a field (`operation`, `labels`, `gpus`, `layer`, `shape`). */
  name: string;
  /** Absent when the value was added. */
  before?: JsonValue;
  /** Absent when the value was removed. */
  after?: JsonValue;
}
export interface NodeChange {
  id: string;
  /** The id in the old version, when the node was renamed. */
  renamedFrom?: string;
  /** The operation (pipelines) or layer class (architectures) in the new version. */
  type: string;
  changes: ValueChange[];
  /** Moved in the editor (its position changed). */
  moved: boolean;
}
export interface GraphNodeRef {
  id: string;
  type: string;
}
export interface GraphDiff {
  type: 'pipeline' | 'architecture';
  /** Set when the whole file was added or deleted (then `fields` is empty: the name comes or goes with it). */
  whole?: 'added' | 'deleted';
  /** Name and description changes (and, for architectures, the outputs). */
  fields: ValueChange[];
  added: GraphNodeRef[];
  removed: GraphNodeRef[];
  /** Nodes in both versions (under their new id) that changed, were renamed or moved. */
  changed: NodeChange[];
  /** Connections (pipelines: `a.out → b.in`; architectures: `a → b`), in the new ids. */
  connectionsAdded: string[];
  connectionsRemoved: string[];
}

export type FileDiff =
  LineDiff | GraphDiff | { type: 'unchanged' } | { type: 'too-large'; message: string } | { type: 'binary' };

/** What the file is, by its path in the project folder format (docs/project-format.md). */
export type ProjectFileKind = 'pipeline' | 'architecture' | 'code' | 'text';

export function projectFileKind(path: string): ProjectFileKind {
  if (/^pipelines\/[^/]+\.json$/.test(path)) return 'pipeline';
  if (/^resources\/[^/]+\.json$/.test(path)) return 'architecture';
  if (path.endsWith('.py')) return 'code';
  return 'text';
}

/**
 * The diff of one file. `before` is null when the file was added, `after` when it was deleted; both sides are
 * compared as they are (no normalisation), so a change of formatting alone shows as a line change.
 */
export function diffProjectFile(path: string, before: string | null, after: string | null): FileDiff {
  const a = before ?? '';
  const b = after ?? '';
  if (a.length > FILE_DIFF_LIMITS.chars || b.length > FILE_DIFF_LIMITS.chars) {
    const size = Math.max(a.length, b.length);
    return {
      type: 'too-large',
      message: `too large to diff: ${kib(size)} KiB, more than the ${kib(FILE_DIFF_LIMITS.chars)} KiB limit`,
    };
  }
  if (before !== null && after !== null && a === b) return { type: 'unchanged' };
  const kind = projectFileKind(path);
  if (kind === 'pipeline' || kind === 'architecture') {
    const graph = kind === 'pipeline' ? pipelineDiffOf(before, after) : architectureDiffOf(before, after);
    if (typeof graph !== 'string') return graph;
    const lines = lineDiff(a, b);
    return lines.type === 'lines' ? { ...lines, note: graph } : lines;
  }
  return lineDiff(a, b);
}

function kib(chars: number): number {
  return Math.ceil(chars / 1024);
}

function lineCount(text: string): number {
  if (text === '') return 0;
  let n = 1;
  for (let i = text.indexOf('\n'); i !== -1; i = text.indexOf('\n', i + 1)) n++;
  return text.endsWith('\n') ? n - 1 : n;
}

/** A line diff with a few lines of context around each change. */
export function lineDiff(before: string, after: string): LineDiff | { type: 'too-large'; message: string } {
  const oldLines = lineCount(before);
  const newLines = lineCount(after);
  if (oldLines > FILE_DIFF_LIMITS.lines || newLines > FILE_DIFF_LIMITS.lines) {
    return {
      type: 'too-large',
      message: `too large to diff: ${Math.max(oldLines, newLines)} lines, more than the ${FILE_DIFF_LIMITS.lines} line limit`,
    };
  }
  // Lines that occur more often on one side must each be an addition or a removal: when they alone pass the
  // limit, Myers would only give up after its most expensive rounds, so skip it.
  const patch =
    differingLines(before, after) > FILE_DIFF_LIMITS.editLines
      ? undefined
      : structuredPatch('a', 'b', before, after, undefined, undefined, {
          context: FILE_DIFF_LIMITS.context,
          maxEditLength: FILE_DIFF_LIMITS.editLines,
        });
  if (patch === undefined) return replaced(before, after);
  let added = 0;
  let removed = 0;
  const hunks = patch.hunks.map((h): DiffHunk => {
    let oldLine = h.oldStart;
    let newLine = h.newStart;
    const lines: DiffLine[] = [];
    for (const raw of h.lines) {
      const sign = raw[0];
      const text = raw.slice(1);
      // jsdiff marks a last line without a newline with this line of its own; the lines around say enough.
      if (sign === '\\') continue;
      if (sign === '+') {
        added++;
        lines.push({ kind: 'added', text, newLine: newLine++ });
      } else if (sign === '-') {
        removed++;
        lines.push({ kind: 'removed', text, oldLine: oldLine++ });
      } else {
        lines.push({ kind: 'context', text, oldLine: oldLine++, newLine: newLine++ });
      }
    }
    return { oldStart: h.oldStart, oldLines: h.oldLines, newStart: h.newStart, newLines: h.newLines, lines };
  });
  return { type: 'lines', hunks, added, removed };
}

function splitLines(text: string): string[] {
  if (text === '') return [];
  const lines = text.split('\n');
  if (text.endsWith('\n')) lines.pop();
  return lines;
}

/** A lower bound of the lines a diff must add or remove: the difference of the two texts' line counts, by line. */
function differingLines(before: string, after: string): number {
  const counts = new Map<string, number>();
  for (const l of splitLines(before)) counts.set(l, (counts.get(l) ?? 0) + 1);
  for (const l of splitLines(after)) counts.set(l, (counts.get(l) ?? 0) - 1);
  let n = 0;
  for (const c of counts.values()) n += Math.abs(c);
  return n;
}

function replaced(before: string, after: string): LineDiff {
  const old = splitLines(before);
  const neu = splitLines(after);
  const lines: DiffLine[] = [
    ...old.map((text, i): DiffLine => ({ kind: 'removed', text, oldLine: i + 1 })),
    ...neu.map((text, i): DiffLine => ({ kind: 'added', text, newLine: i + 1 })),
  ];
  return {
    type: 'lines',
    hunks: [{ oldStart: 1, oldLines: old.length, newStart: 1, newLines: neu.length, lines }],
    added: neu.length,
    removed: old.length,
    note: `more than ${FILE_DIFF_LIMITS.editLines} lines differ: shown as replaced`,
  };
}

// ── graphs ──────────────────────────────────────────────────────────────────────────────────────────────────

/** A node of either graph, reduced to what is compared. */
interface GraphNode {
  id: string;
  type: string;
  /** Compared values by name (`operation` is the type and is not repeated here). */
  values: Record<string, JsonValue>;
  position: string | null;
}
interface Graph {
  fields: Record<string, JsonValue>;
  nodes: GraphNode[];
  /** Edges as [from node, to node, label parts to rebuild the text]. */
  connections: { from: string; to: string; fromPort?: string; toPort?: string }[];
}

function parseSide<T>(
  text: string | null,
  schema: { safeParse(v: unknown): { success: true; data: T } | { success: false } },
): T | null | 'invalid' {
  if (text === null) return null;
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return 'invalid';
  }
  const parsed = schema.safeParse(value);
  return parsed.success ? parsed.data : 'invalid';
}

/** Key order does not matter in JSON objects, so values compare by a canonical text. */
function canonical(value: JsonValue | undefined): string {
  if (value === undefined) return '';
  if (value === null || typeof value !== 'object') return JSON.stringify(value);
  if (Array.isArray(value)) return `[${value.map(canonical).join(',')}]`;
  const keys = Object.keys(value).sort();
  return `{${keys.map((k) => `${JSON.stringify(k)}:${canonical(value[k])}`).join(',')}}`;
}

function pipelineGraph(p: Pipeline): Graph {
  return {
    fields: { name: p.name, ...(p.description !== undefined ? { description: p.description } : {}) },
    nodes: p.nodes.map((n) => {
      const values: Record<string, JsonValue> = {};
      for (const [k, v] of Object.entries(n.attributes)) values[k] = v;
      for (const [k, v] of Object.entries(n.references)) values[`reference ${k}`] = v;
      if (n.labels !== undefined) values['labels'] = n.labels;
      if (n.gpus !== undefined) values['gpus'] = n.gpus;
      return { id: n.id, type: n.operation, values, position: n.position ? canonical(n.position) : null };
    }),
    connections: p.connections.map((c) => ({
      from: c.from.node,
      to: c.to.node,
      fromPort: c.from.port,
      toPort: c.to.port,
    })),
  };
}

function architectureGraph(a: Architecture): Graph {
  return {
    fields: {
      name: a.name,
      ...(a.description !== undefined ? { description: a.description } : {}),
      outputs: a.outputs,
    },
    nodes: a.layers.map((l) => {
      const values: Record<string, JsonValue> = {};
      if (l.shape !== undefined) values['shape'] = l.shape;
      for (const [k, v] of Object.entries(l.attributes)) values[k] = v;
      return { id: l.id, type: l.layer, values, position: l.position ? canonical(l.position) : null };
    }),
    connections: a.edges.map((e) => ({ from: e.from, to: e.to })),
  };
}

const EMPTY_GRAPH: Graph = { fields: {}, nodes: [], connections: [] };

function pipelineDiffOf(before: string | null, after: string | null): GraphDiff | string {
  const a = parseSide<Pipeline>(before, PipelineSchema);
  const b = parseSide<Pipeline>(after, PipelineSchema);
  if (a === 'invalid' || b === 'invalid') {
    return `${a === 'invalid' ? 'the old version' : 'the new version'} is not a valid pipeline: showing the lines`;
  }
  return graphDiff('pipeline', a ? pipelineGraph(a) : EMPTY_GRAPH, b ? pipelineGraph(b) : EMPTY_GRAPH);
}

function architectureDiffOf(before: string | null, after: string | null): GraphDiff | string {
  const a = parseSide<Architecture>(before, ArchitectureSchema);
  const b = parseSide<Architecture>(after, ArchitectureSchema);
  if (a === 'invalid' || b === 'invalid') {
    return `${a === 'invalid' ? 'the old version' : 'the new version'} is not a valid architecture: showing the lines`;
  }
  return graphDiff(
    'architecture',
    a ? architectureGraph(a) : EMPTY_GRAPH,
    b ? architectureGraph(b) : EMPTY_GRAPH,
  );
}

function valueChanges(a: Record<string, JsonValue>, b: Record<string, JsonValue>): ValueChange[] {
  const out: ValueChange[] = [];
  const names = [...new Set([...Object.keys(a), ...Object.keys(b)])];
  for (const name of names) {
    const inA = Object.hasOwn(a, name);
    const inB = Object.hasOwn(b, name);
    if (inA && inB && canonical(a[name]) === canonical(b[name])) continue;
    out.push({
      name,
      ...(inA ? { before: a[name] as JsonValue } : {}),
      ...(inB ? { after: b[name] as JsonValue } : {}),
    });
  }
  return out;
}

/** What a node is apart from its id and place: equal signatures on a removed and an added node suggest a rename. */
function signature(n: GraphNode): string {
  return `${n.type}\u0000${canonical(n.values)}`;
}

/**
 * Connections of a node, with the node itself written as `*`: a renamed node keeps its neighbours, which tells
 * it apart from a deleted node and an unrelated new one of the same operation.
 */
function neighbourhood(g: Graph, id: string, rename: (id: string) => string): string {
  const parts: string[] = [];
  for (const c of g.connections) {
    if (c.from !== id && c.to !== id) continue;
    const from = c.from === id ? '*' : rename(c.from);
    const to = c.to === id ? '*' : rename(c.to);
    parts.push(`${from}.${c.fromPort ?? ''}>${to}.${c.toPort ?? ''}`);
  }
  return parts.sort().join('|');
}

function graphDiff(type: GraphDiff['type'], a: Graph, b: Graph): GraphDiff {
  const before = new Map(a.nodes.map((n) => [n.id, n]));
  const after = new Map(b.nodes.map((n) => [n.id, n]));
  const removedIds = a.nodes.filter((n) => !after.has(n.id)).map((n) => n.id);
  const addedIds = b.nodes.filter((n) => !before.has(n.id)).map((n) => n.id);

  // Renames: a removed and an added node that are alike (same operation and values) and, where several are
  // alike, the only pair that also has the same neighbours. Anything ambiguous stays a removal and an addition.
  const renamedTo = new Map<string, string>(); // old id → new id
  const bySignature = new Map<string, { removed: string[]; added: string[] }>();
  for (const id of removedIds) {
    const s = signature(before.get(id) as GraphNode);
    const entry = bySignature.get(s) ?? { removed: [], added: [] };
    entry.removed.push(id);
    bySignature.set(s, entry);
  }
  for (const id of addedIds) {
    const s = signature(after.get(id) as GraphNode);
    const entry = bySignature.get(s);
    if (entry) entry.added.push(id);
  }
  const keep = (id: string): string => id;
  for (const { removed, added } of bySignature.values()) {
    if (removed.length === 1 && added.length === 1) {
      renamedTo.set(removed[0] as string, added[0] as string);
      continue;
    }
    if (removed.length === 0 || added.length === 0) continue;
    const addedByHood = new Map<string, string[]>();
    for (const id of added) {
      const hood = neighbourhood(b, id, keep);
      addedByHood.set(hood, [...(addedByHood.get(hood) ?? []), id]);
    }
    const removedByHood = new Map<string, string[]>();
    for (const id of removed) {
      const hood = neighbourhood(a, id, keep);
      removedByHood.set(hood, [...(removedByHood.get(hood) ?? []), id]);
    }
    for (const [hood, olds] of removedByHood) {
      const news = addedByHood.get(hood);
      if (hood !== '' && olds.length === 1 && news?.length === 1)
        renamedTo.set(olds[0] as string, news[0] as string);
    }
  }
  const renamedFrom = new Map([...renamedTo].map(([o, n]) => [n, o]));
  const rename = (id: string): string => renamedTo.get(id) ?? id;

  const changed: NodeChange[] = [];
  for (const nb of b.nodes) {
    const oldId = renamedFrom.get(nb.id) ?? nb.id;
    const na = before.get(oldId);
    if (!na) continue;
    const changes = valueChanges(na.values, nb.values);
    if (na.type !== nb.type)
      changes.unshift({ name: type === 'pipeline' ? 'operation' : 'layer', before: na.type, after: nb.type });
    const moved = na.position !== nb.position;
    if (changes.length === 0 && !moved && oldId === nb.id) continue;
    changed.push({
      id: nb.id,
      ...(oldId !== nb.id ? { renamedFrom: oldId } : {}),
      type: nb.type,
      changes,
      moved,
    });
  }

  const label = (c: Graph['connections'][number], map: (id: string) => string): string =>
    c.fromPort === undefined
      ? `${map(c.from)} → ${map(c.to)}`
      : `${map(c.from)}.${c.fromPort} → ${map(c.to)}.${c.toPort ?? ''}`;
  const oldConnections = a.connections.map((c) => label(c, rename));
  const newConnections = b.connections.map((c) => label(c, keep));
  const oldSet = new Set(oldConnections);
  const newSet = new Set(newConnections);

  const whole = a === EMPTY_GRAPH ? 'added' : b === EMPTY_GRAPH ? 'deleted' : undefined;
  return {
    type,
    ...(whole ? { whole } : {}),
    // A whole file added or deleted: its name and description come or go with it, nothing to say about them.
    fields: whole ? [] : valueChanges(a.fields, b.fields),
    added: addedIds
      .filter((id) => !renamedFrom.has(id))
      .map((id) => ({ id, type: (after.get(id) as GraphNode).type })),
    removed: removedIds
      .filter((id) => !renamedTo.has(id))
      .map((id) => ({ id, type: (before.get(id) as GraphNode).type })),
    changed,
    connectionsAdded: [...new Set(newConnections.filter((c) => !oldSet.has(c)))],
    connectionsRemoved: [...new Set(oldConnections.filter((c) => !newSet.has(c)))],
  };
}

/** A short text for a JSON value in a diff (long values are cut, so a row stays one line). */
export function formatDiffValue(value: JsonValue | undefined, max = 80): string {
  if (value === undefined) return '—';
  const text = JSON.stringify(value);
  return text.length > max ? `${text.slice(0, max - 1)}…` : text;
}
