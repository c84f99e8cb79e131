/**
 * A set of a plan's nodes, read in the plan's order: what the scheduler keeps of the jobs it may act on (runnable,
 * queued), so that a turn of it looks at those instead of every node of the pipeline. Adding and removing are
 * O(1); `ordered()` sorts only when nodes were added out of order, and hands out an array that later changes do
 * not touch (a caller may change the set while it goes through one).
 */
export class PlanOrderedSet {
  private readonly nodes = new Set<string>();
  private last = -1;
  private sorted = true;
  private snapshot: readonly string[] | undefined;

  constructor(private readonly index: ReadonlyMap<string, number>) {}

  get size(): number {
    return this.nodes.size;
  }

  has(node: string): boolean {
    return this.nodes.has(node);
  }

  add(node: string): void {
    if (this.nodes.has(node)) return;
    const at = this.index.get(node);
    if (at === undefined) throw new Error(`${node} is not a node of the plan`);
    this.nodes.add(node);
    if (at < this.last) this.sorted = false;
    else this.last = at;
    this.snapshot = undefined;
  }

  delete(node: string): void {
    if (this.nodes.delete(node)) this.snapshot = undefined;
  }

  /** The nodes in the plan's order, as they are now. */
  ordered(): readonly string[] {
    if (this.snapshot) return this.snapshot;
    const nodes = [...this.nodes];
    if (!this.sorted) {
      nodes.sort((a, b) => this.index.get(a)! - this.index.get(b)!);
      this.sorted = true;
      this.last = nodes.length > 0 ? this.index.get(nodes[nodes.length - 1]!)! : -1;
      // Kept sorted from now on: the set's own order is rebuilt to match.
      this.nodes.clear();
      for (const n of nodes) this.nodes.add(n);
    }
    this.snapshot = nodes;
    return nodes;
  }
}
