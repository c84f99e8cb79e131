import type {
  Architecture,
  ArchitectureEdge,
  ArchitectureLayer,
  JsonValue,
  LayerArgument,
  LayerClass,
} from '@deepforge/core';
import {
  argumentFits,
  evaluatePythonLiteral,
  INPUT_LAYER,
  isPythonIdentifier,
  RESERVED_LAYER_IDS,
} from '@deepforge/core';

/*
 * The architecture editor's edits as plain functions of the graph (no document, no React): where a new layer
 * goes and which edges change, a fresh layer id, what an argument typed as text means.
 */

/** Where "add layer" puts the new layer. */
export type InsertAt =
  | { after: string }
  | { before: string }
  | { edge: ArchitectureEdge }
  /** Unconnected (nothing selected). */
  | null;

export interface InsertPlan {
  layer: ArchitectureLayer;
  /** Removed first, then `addEdges` appended: a layer with several inputs keeps them in the same order. */
  removeEdges: ArchitectureEdge[];
  addEdges: ArchitectureEdge[];
  /** The new outputs when they change (adding after an output moves the output to the new layer). */
  outputs: string[] | null;
}

/** `Conv2d` → `conv2d`, `utils.blocks.Residual` → `residual`, `resources.Encoder` → `encoder`. */
export function layerIdBase(layerClass: string): string {
  const last = layerClass.split('.').pop() ?? layerClass;
  const s = last
    .toLowerCase()
    .replace(/[^a-z0-9_]/g, '_')
    .replace(/^_+|_+$/g, '');
  if (s === '') return 'layer';
  return /^[0-9]/.test(s) ? `l_${s}` : s;
}

/** An id for a new layer of `layerClass` that no layer has, and the generated module may use. */
export function uniqueLayerId(layerClass: string, taken: Iterable<string>): string {
  const used = new Set(taken);
  const base = layerIdBase(layerClass);
  const free = (id: string): boolean =>
    !used.has(id) && !RESERVED_LAYER_IDS.has(id) && isPythonIdentifier(id);
  if (free(base)) return base;
  for (let i = 2; ; i++) {
    const id = `${base}_${i}`;
    if (free(id)) return id;
  }
}

/** The edges into `id` in order, each replaced by `replace` where it is `from → id`. */
function rewireInputs(
  arch: Architecture,
  id: string,
  replace: (e: ArchitectureEdge) => ArchitectureEdge,
): { remove: ArchitectureEdge[]; add: ArchitectureEdge[] } {
  const ins = arch.edges.filter((e) => e.to === id);
  return { remove: ins, add: ins.map(replace) };
}

/**
 * Adds a layer of `layerClass`: after a layer (it takes that layer's place in front of its successors, and as an
 * output), before one (between it and what fed it), on an edge (in the middle), or unconnected.
 */
export function planInsert(
  arch: Architecture,
  layerClass: string,
  at: InsertAt,
  position: { x: number; y: number },
): InsertPlan {
  const id = uniqueLayerId(
    layerClass,
    arch.layers.map((l) => l.id),
  );
  const layer: ArchitectureLayer = {
    id,
    layer: layerClass,
    attributes: {},
    position,
    ...(layerClass === INPUT_LAYER ? { shape: ['N', 1, 28, 28] } : {}),
  };
  if (at === null || layerClass === INPUT_LAYER)
    return { layer, removeEdges: [], addEdges: [], outputs: null };
  if ('after' in at) {
    const removeEdges: ArchitectureEdge[] = [];
    const addEdges: ArchitectureEdge[] = [{ from: at.after, to: id }];
    for (const succ of new Set(arch.edges.filter((e) => e.from === at.after).map((e) => e.to))) {
      const r = rewireInputs(arch, succ, (e) => (e.from === at.after ? { from: id, to: e.to } : e));
      removeEdges.push(...r.remove);
      addEdges.push(...r.add);
    }
    const outputs = arch.outputs.includes(at.after)
      ? arch.outputs.map((o) => (o === at.after ? id : o))
      : null;
    return { layer, removeEdges, addEdges, outputs };
  }
  if ('before' in at) {
    const target = arch.layers.find((l) => l.id === at.before);
    if (target?.layer === INPUT_LAYER) return { layer, removeEdges: [], addEdges: [], outputs: null };
    const ins = arch.edges.filter((e) => e.to === at.before);
    // Everything that fed the layer feeds the new one, which feeds the layer.
    return {
      layer,
      removeEdges: ins,
      addEdges: [...ins.map((e) => ({ from: e.from, to: id })), { from: id, to: at.before }],
      outputs: null,
    };
  }
  const { from, to } = at.edge;
  let replaced = false;
  const r = rewireInputs(arch, to, (e) => {
    if (!replaced && e.from === from) {
      replaced = true;
      return { from: id, to };
    }
    return e;
  });
  return { layer, removeEdges: r.remove, addEdges: [{ from, to: id }, ...r.add], outputs: null };
}

/** A fresh architecture: one Input of an image-like shape, returned as it is until layers follow it. */
export function newArchitecture(name: string): Architecture {
  return {
    name,
    layers: [
      { id: 'x', layer: INPUT_LAYER, shape: ['N', 1, 28, 28], attributes: {}, position: { x: 0, y: 0 } },
    ],
    edges: [],
    outputs: ['x'],
  };
}

export type ParsedArgument = { ok: true; value: JsonValue | undefined } | { ok: false; error: string };

/**
 * What the text typed for a constructor argument means: a Python literal (`3`, `(3, 3)`, `'same'`, `None`,
 * `True`), checked against the types the argument takes. Empty text means "not set" (the default, or `<none>`).
 */
export function parseArgumentInput(arg: LayerArgument, raw: string): ParsedArgument {
  const text = raw.trim();
  if (text === '') return { ok: true, value: undefined };
  const r = evaluatePythonLiteral(text);
  if (!r.ok) return { ok: false, error: `not a value: ${r.reason}` };
  if (!argumentFits(arg, r.value)) return { ok: false, error: `must be ${describeArgumentTypes(arg)}` };
  return { ok: true, value: r.value };
}

/** `int or tuple`, `float`, `str or None`. */
export function describeArgumentTypes(arg: LayerArgument): string {
  const names = arg.types.map((t) => (t === 'none' ? 'None' : t === 'tuple' ? 'tuple' : t));
  if (names.length <= 1) return names[0] ?? 'any';
  return `${names.slice(0, -1).join(', ')} or ${names[names.length - 1]}`;
}

/** A JSON value as Python source, as the argument fields show it (`(3, 3)` for a list given to a tuple). */
export function formatArgument(value: JsonValue | undefined, arg?: LayerArgument): string {
  if (value === undefined) return '';
  if (value === null) return 'None';
  if (typeof value === 'boolean') return value ? 'True' : 'False';
  if (typeof value === 'string') return `'${value.replace(/\\/g, '\\\\').replace(/'/g, "\\'")}'`;
  if (typeof value === 'number') return String(value);
  if (Array.isArray(value)) {
    const items = value.map((v) => formatArgument(v));
    const tuple = !arg || arg.types.includes('tuple');
    return tuple ? `(${items.join(', ')}${items.length === 1 ? ',' : ''})` : `[${items.join(', ')}]`;
  }
  return `{${Object.entries(value)
    .map(([k, v]) => `'${k}': ${formatArgument(v)}`)
    .join(', ')}}`;
}

/**
 * The few `name=value` pairs a layer node shows: what is set (required arguments first, in the class's order),
 * then required arguments left unset as `<none>`.
 */
export function keyArguments(layer: ArchitectureLayer, cls: LayerClass | undefined, max = 3): string[] {
  const order = cls ? cls.arguments.map((a) => a.name) : [];
  const set = Object.keys(layer.attributes).sort((a, b) => {
    const ia = order.indexOf(a);
    const ib = order.indexOf(b);
    return (ia < 0 ? 1e9 : ia) - (ib < 0 ? 1e9 : ib);
  });
  const lines = set.map(
    (k) =>
      `${k}=${formatArgument(
        layer.attributes[k],
        cls?.arguments.find((a) => a.name === k),
      )}`,
  );
  for (const a of cls?.arguments ?? [])
    if (a.required && !Object.hasOwn(layer.attributes, a.name)) lines.push(`${a.name}=<none>`);
  return lines.length > max ? [...lines.slice(0, max), `+${lines.length - max} more`] : lines;
}

/** 824554 → "824.6K", 1200000 → "1.2M", 288 → "288". */
export function shortCount(n: number): string {
  if (n < 1000) return String(n);
  if (n < 1_000_000) return `${(n / 1000).toFixed(n < 10_000 ? 2 : 1).replace(/\.?0+$/, '')}K`;
  return `${(n / 1_000_000).toFixed(n < 10_000_000 ? 2 : 1).replace(/\.?0+$/, '')}M`;
}

/** React Flow edge ids for an architecture's edges: the same edge twice (`x + x`) gets `#2`. */
export function edgeIds(edges: readonly ArchitectureEdge[]): string[] {
  const seen = new Map<string, number>();
  return edges.map((e) => {
    const key = `${e.from}->${e.to}`;
    const n = (seen.get(key) ?? 0) + 1;
    seen.set(key, n);
    return n === 1 ? key : `${key}#${n}`;
  });
}

/** Reads an Input's shape typed as `N, 1, 28, 28` or `[N, 1, 28, 28]`: numbers are sizes, names symbols. */
export function parseShapeInput(
  raw: string,
): { ok: true; shape: (number | string)[] } | { ok: false; error: string } {
  const inner = raw.trim().replace(/^[[(]|[\])]$/g, '');
  if (inner.trim() === '') return { ok: false, error: 'a shape needs at least one dimension' };
  const shape: (number | string)[] = [];
  for (const part of inner.split(',').map((p) => p.trim().replace(/^['"]|['"]$/g, ''))) {
    if (part === '') continue;
    if (/^\d+$/.test(part)) shape.push(Number(part));
    else if (isPythonIdentifier(part)) shape.push(part);
    else return { ok: false, error: `"${part}" is neither a size nor a name` };
  }
  return shape.length > 0
    ? { ok: true, shape }
    : { ok: false, error: 'a shape needs at least one dimension' };
}

export interface RemovePlan {
  /** Other inputs of its successors, removed and re-added in `bridge` so that input slots keep their order. */
  removeEdges: ArchitectureEdge[];
  /** Edges added after the layer (and its edges) are gone: what fed it now feeds what it fed. */
  bridge: ArchitectureEdge[];
  /** The new outputs when the removed layer was one and is bridged. */
  outputs: string[] | null;
}

/**
 * Deleting a layer with exactly one input keeps the chain whole, as deleting a Dropout from a stack should: its
 * input takes its place in front of its successors (in the same input slot) and as an output. A layer with
 * several inputs (a merge) or none leaves a gap.
 */
export function planRemove(arch: Architecture, id: string): RemovePlan {
  const ins = arch.edges.filter((e) => e.to === id);
  if (ins.length !== 1) return { removeEdges: [], bridge: [], outputs: null };
  const from = ins[0]!.from;
  const bridge: ArchitectureEdge[] = [];
  const removeEdges: ArchitectureEdge[] = [];
  for (const succ of new Set(arch.edges.filter((e) => e.from === id && e.to !== id).map((e) => e.to))) {
    // The successor's inputs are re-added in order (removeLayer drops the ones from `id`).
    for (const e of arch.edges.filter((x) => x.to === succ)) {
      if (e.from !== id) removeEdges.push(e);
      bridge.push(e.from === id ? { from, to: succ } : e);
    }
  }
  const outputs = arch.outputs.includes(id)
    ? [...new Set(arch.outputs.map((o) => (o === id ? from : o)))]
    : null;
  return { removeEdges, bridge, outputs };
}

/** Layers reachable from `id` (not itself): moved down when a layer is inserted above them. */
export function descendants(arch: Architecture, id: string): Set<string> {
  const out = new Set<string>();
  const stack = [id];
  while (stack.length > 0) {
    const cur = stack.pop()!;
    for (const e of arch.edges) {
      if (e.from === cur && !out.has(e.to) && e.to !== id) {
        out.add(e.to);
        stack.push(e.to);
      }
    }
  }
  return out;
}

/** Why an edge `from → to` cannot be drawn, or null. */
export function edgeProblem(arch: Architecture, from: string, to: string): string | null {
  if (from === to) return 'a layer cannot feed itself';
  const target = arch.layers.find((l) => l.id === to);
  if (target?.layer === INPUT_LAYER) return `${to} is an Input: it takes no inputs`;
  if (descendants(arch, to).has(from)) return `${to} already feeds ${from}: this edge would make a cycle`;
  return null;
}

/**
 * How well a layer matches what was typed in "add layer", best first: the exact name (0), a name starting with
 * it (1), a name containing it (2), the doc line containing it (3); null when it does not match. A search for
 * `linear` lists Linear before LazyLinear, Bilinear and layers whose docs mention linear maps.
 */
export function layerMatchRank(query: string, name: string, doc: string): number | null {
  const q = query.trim().toLowerCase();
  if (q === '') return 0;
  const short = (name.split('.').pop() ?? name).toLowerCase();
  const full = name.toLowerCase();
  if (short === q || full === q) return 0;
  if (short.startsWith(q) || full.startsWith(q)) return 1;
  if (full.includes(q)) return 2;
  if (doc.toLowerCase().includes(q)) return 3;
  return null;
}
