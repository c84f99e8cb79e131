/** A node's box on the canvas: top-left corner and size, in flow coordinates. */
export interface NodeBox {
  id: string;
  x: number;
  y: number;
  width: number;
  height: number;
}

/** Room left between a node and the one it feeds, and beside nodes already there. */
const GAP = 60;
const SIDE_GAP = 30;

/**
 * Where a node the editor just placed goes once it is connected below `sources` (the nodes feeding it): under the
 * lowest of them, as inputs are drawn on top and outputs at the bottom, stepping right past nodes already there.
 * Undefined when it is below them already (nothing to move).
 */
export function belowSources(
  target: NodeBox,
  sources: readonly NodeBox[],
  others: readonly NodeBox[],
): { x: number; y: number } | undefined {
  if (sources.length === 0) return undefined;
  const bottom = Math.max(...sources.map((s) => s.y + s.height));
  if (target.y >= bottom + GAP / 2) return undefined;
  const lowest = sources.reduce((a, b) => (b.y + b.height > a.y + a.height ? b : a));
  const y = bottom + GAP;
  const free = (x: number): boolean =>
    others.every(
      (o) =>
        o.id === target.id ||
        x + target.width + SIDE_GAP <= o.x ||
        o.x + o.width + SIDE_GAP <= x ||
        y + target.height + SIDE_GAP <= o.y ||
        o.y + o.height + SIDE_GAP <= y,
    );
  for (let step = 0; step < 50; step++) {
    const x = lowest.x + step * (target.width + SIDE_GAP);
    if (free(x)) return { x, y };
  }
  return { x: lowest.x, y };
}
