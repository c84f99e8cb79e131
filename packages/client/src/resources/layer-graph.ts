import type {
  Architecture,
  ArchitectureShapeReport,
  Diagnostic,
  LayerClass,
  LayerShapeReport,
} from '@deepforge/core';
import { formatShape, INPUT_LAYER } from '@deepforge/core';
import type { XYPosition } from '@xyflow/react';
import { MarkerType } from '@xyflow/react';
import { jsonEqual } from '../collab/json-equal.js';
import { edgeIds, keyArguments } from '../lib/architecture-edit.js';
import type { LayerNode, ShapeEdge } from './layer-node.js';

/** How far below its predecessor a layer without a position is drawn. */
export const STEP = 150;
const EDGE_MARKER = { type: MarkerType.ArrowClosed, width: 14, height: 14 };

/** What React Flow alone knows about the nodes: where a drag has them now, and the sizes it measured. */
export interface FlowLocal {
  dragging: ReadonlyMap<string, XYPosition>;
  measured: ReadonlyMap<string, { width: number; height: number }>;
}

export interface LayerNodesInput {
  arch: Architecture;
  diagnostics: readonly Diagnostic[];
  reports: ReadonlyMap<string, LayerShapeReport>;
  selected: string | null;
  classOf: (layerClass: string) => LayerClass | null;
  local: FlowLocal;
}

/**
 * The nodes React Flow draws, made from the document's architecture during render (no second render pass).
 * The project document is read again on every update, so every layer arrives as a new object: a node whose
 * position, size, selection and drawn data are equal to its previous one is that previous object, so React Flow
 * and the memo'd node skip it, and an edit of one argument redraws one layer, not all of them.
 */
export function layerNodes(prev: ReadonlyMap<string, LayerNode>, input: LayerNodesInput): LayerNode[] {
  const { arch, diagnostics, reports, selected, classOf, local } = input;
  const byLayer = new Map<string, Diagnostic[]>();
  for (const d of diagnostics) {
    if (!d.layer) continue;
    const list = byLayer.get(d.layer);
    if (list) list.push(d);
    else byLayer.set(d.layer, [d]);
  }
  return arch.layers.map((l, i) => {
    const o = prev.get(l.id);
    const wanted = local.dragging.get(l.id) ?? l.position ?? o?.position ?? { x: 0, y: i * STEP };
    const position = o && o.position.x === wanted.x && o.position.y === wanted.y ? o.position : wanted;
    const size = local.measured.get(l.id);
    const measured =
      o?.measured && size && o.measured.width === size.width && o.measured.height === size.height
        ? o.measured
        : size;
    const mine = byLayer.get(l.id) ?? [];
    const report = reports.get(l.id);
    const errors = mine.filter((d) => d.severity === 'error').map((d) => stripPrefix(d, arch.name));
    if (report?.error) errors.push(report.error);
    const data: LayerNode['data'] = {
      layerId: l.id,
      layerClass: l.layer,
      shape: l.layer === INPUT_LAYER ? shapeText(l.shape) : null,
      args: l.layer === INPUT_LAYER ? [] : keyArguments(l, classOf(l.layer) ?? undefined),
      parameters: report?.parameters ?? null,
      outputShape: report?.outputShape ? formatShape(report.outputShape) : null,
      errors,
      warnings: mine.filter((d) => d.severity === 'warning').map((d) => stripPrefix(d, arch.name)),
      output: arch.outputs.includes(l.id),
      skipped: report?.skipped === true,
    };
    const isSelected = selected === l.id;
    const dragging = local.dragging.has(l.id);
    const sameData = o !== undefined && jsonEqual(o.data, data);
    if (
      o &&
      sameData &&
      o.position === position &&
      o.measured === measured &&
      o.selected === isSelected &&
      (o.dragging ?? false) === dragging
    )
      return o;
    return {
      id: l.id,
      type: 'layer',
      position,
      selected: isSelected,
      dragging,
      ...(measured ? { measured } : {}),
      data: sameData ? o.data : data,
    } satisfies LayerNode;
  });
}

/** The edges, each with the shape PyTorch inferred for it; unchanged ones keep their objects (as nodes do). */
export function shapeEdges(
  prev: ReadonlyMap<string, ShapeEdge>,
  arch: Architecture,
  shapes: ArchitectureShapeReport | null,
  selected: { from: string; to: string } | null,
): ShapeEdge[] {
  const byPair = new Map((shapes?.edges ?? []).map((e) => [`${e.from}->${e.to}`, e.shape]));
  const ids = edgeIds(arch.edges);
  return arch.edges.map((e, i) => {
    const shape = byPair.get(`${e.from}->${e.to}`);
    const next: ShapeEdge = {
      id: ids[i]!,
      source: e.from,
      target: e.to,
      type: 'shape',
      selected: selected?.from === e.from && selected.to === e.to,
      markerEnd: EDGE_MARKER,
      data: { from: e.from, to: e.to, shape: shape ? formatShape(shape) : null },
    };
    const o = prev.get(next.id);
    return o &&
      o.source === next.source &&
      o.target === next.target &&
      o.selected === next.selected &&
      jsonEqual(o.data, next.data)
      ? o
      : next;
  });
}

function stripPrefix(d: Diagnostic, arch: string): string {
  return d.message.replace(new RegExp(`^${escapeRegExp(arch)}: layer "[^"]+" \\([^)]+\\): `), '');
}

function escapeRegExp(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

function shapeText(shape: unknown): string | null {
  return Array.isArray(shape) ? `[${shape.join(', ')}]` : null;
}
