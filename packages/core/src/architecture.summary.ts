import type { ShapeDim } from './architecture.validation.js';

/**
 * What shape inference (python/deepforge/architecture/graph.py, `infer`) reports about an architecture, and
 * the torchinfo-like table made of it.
 */

/** A tensor's shape (`["N", 32, 28, 28]`; `"?"` for a size that depends on a symbol in another way), or the
 * shapes of a tuple a layer returns. */
export type InferredShape = ShapeDim[] | InferredShape[];

export interface LayerShapeReport {
  id: string;
  layer: string;
  /** Null when the layer did not run (it failed, or a layer before it did). */
  outputShape: InferredShape | null;
  inputShapes?: (InferredShape | null)[];
  /** Parameters of the layer (null when they cannot be counted yet, e.g. lazy layers). */
  parameters?: number | null;
  trainable?: number | null;
  /** PyTorch's message, when building or running the layer raised. */
  error?: string;
  /** The argument value the input's shape determines (`in_features` 3136), when it is set otherwise. */
  fix?: { argument: string; value: number };
  /** It did not run because a layer it depends on failed. */
  skipped?: boolean;
}

export interface ArchitectureShapeReport {
  ok: boolean;
  /** The first layer (in graph order) that failed, or null. */
  firstError: string | null;
  /** In graph order. */
  layers: LayerShapeReport[];
  edges: { from: string; to: string; shape: InferredShape | null }[];
  outputs: { id: string; shape: InferredShape | null }[];
  total: { parameters: number; trainable: number };
}

export function formatShape(shape: InferredShape | null | undefined): string {
  if (shape === null || shape === undefined) return '—';
  if (shape.length > 0 && Array.isArray(shape[0])) {
    return `(${(shape as InferredShape[]).map((s) => formatShape(s)).join(', ')})`;
  }
  return `[${(shape as ShapeDim[]).join(', ')}]`;
}

/** 1234567 → "1,234,567". */
export function formatCount(n: number): string {
  return String(n).replace(/\B(?=(\d{3})+(?!\d))/g, ',');
}

/**
 * The summary table: one row per layer in graph order (layer, class, output shape, parameters), then the
 * totals; a failed layer shows its error under its row.
 */
export function formatArchitectureSummary(name: string, report: ArchitectureShapeReport): string {
  const rows: [string, string, string][] = [['Layer (type)', 'Output shape', 'Param #']];
  const notes = new Map<number, string>();
  for (const l of report.layers) {
    const params = l.parameters === undefined ? '' : l.parameters === null ? '?' : formatCount(l.parameters);
    rows.push([
      `${l.id} (${l.layer})`,
      l.error ? 'error' : l.skipped ? '(not run)' : formatShape(l.outputShape),
      params,
    ]);
    if (l.error) {
      const fix = l.fix ? ` (set ${l.fix.argument} to ${l.fix.value})` : '';
      notes.set(rows.length - 1, `  ✗ ${l.error}${fix}`);
    }
  }
  const widths = [0, 1, 2].map((c) => Math.max(...rows.map((r) => r[c]!.length)));
  const line = (r: [string, string, string]): string =>
    `${r[0].padEnd(widths[0]!)}  ${r[1].padEnd(widths[1]!)}  ${r[2].padStart(widths[2]!)}`;
  const rule = '─'.repeat(widths[0]! + widths[1]! + widths[2]! + 4);
  const out: string[] = [name, rule, line(rows[0]!), rule];
  rows.slice(1).forEach((r, i) => {
    out.push(line(r));
    const note = notes.get(i + 1);
    if (note) out.push(note);
  });
  out.push(rule);
  out.push(`Total params: ${formatCount(report.total.parameters)}`);
  out.push(`Trainable params: ${formatCount(report.total.trainable)}`);
  out.push(`Non-trainable params: ${formatCount(report.total.parameters - report.total.trainable)}`);
  for (const o of report.outputs) out.push(`Output ${o.id}: ${formatShape(o.shape)}`);
  return `${out.join('\n')}\n`;
}
