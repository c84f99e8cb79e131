import { isSuccessfulJobStatus, type JobStatus } from './execution-state.machine.js';
import type { Pipeline } from './model.js';

export interface PipelinePlan {
  /** Node ids in a topological order; ties keep the pipeline's node order. */
  order: string[];
  /** Node id → the nodes it takes inputs from, in plan order. */
  upstream: Record<string, string[]>;
  /** Node id → the nodes that take its outputs, in plan order. */
  downstream: Record<string, string[]>;
}

export type PipelinePlanErrorKind = 'cycle' | 'duplicate-node' | 'unknown-node';

export class PipelinePlanError extends Error {
  override readonly name: string = 'PipelinePlanError';
  constructor(
    readonly kind: PipelinePlanErrorKind,
    /** The nodes concerned: the cycle in order, the duplicated id, or the unknown id. */
    readonly nodes: string[],
    message: string,
  ) {
    super(message);
  }
}

export class PipelineCycleError extends PipelinePlanError {
  override readonly name = 'PipelineCycleError';
  constructor(readonly cycle: string[]) {
    super('cycle', cycle, `pipeline has a cycle: ${[...cycle, cycle[0]].join(' → ')}`);
  }
}

type Graph = Pick<Pipeline, 'nodes' | 'connections'>;

interface Edges {
  ids: string[];
  index: Map<string, number>;
  /** Adjacency by node index, each list sorted and without duplicates. */
  out: number[][];
  in: number[][];
}

/** The node graph; connections naming unknown nodes are left out (validation reports them). */
function edgesOf(pipeline: Graph): Edges & { unknown: string[]; duplicates: string[] } {
  const ids: string[] = [];
  const index = new Map<string, number>();
  const duplicates: string[] = [];
  for (const node of pipeline.nodes) {
    if (index.has(node.id)) {
      if (!duplicates.includes(node.id)) duplicates.push(node.id);
      continue;
    }
    index.set(node.id, ids.length);
    ids.push(node.id);
  }
  const outSets = ids.map(() => new Set<number>());
  const inSets = ids.map(() => new Set<number>());
  const unknown: string[] = [];
  for (const c of pipeline.connections) {
    const from = index.get(c.from.node);
    const to = index.get(c.to.node);
    if (from === undefined) unknown.push(c.from.node);
    if (to === undefined) unknown.push(c.to.node);
    if (from === undefined || to === undefined) continue;
    outSets[from]?.add(to);
    inSets[to]?.add(from);
  }
  const sorted = (s: Set<number>): number[] => [...s].sort((a, b) => a - b);
  return { ids, index, out: outSets.map(sorted), in: inSets.map(sorted), unknown, duplicates };
}

/** Strongly connected components (Tarjan, iterative so that long chains cannot overflow the stack). */
function components(edges: Edges): number[][] {
  const n = edges.ids.length;
  const order = new Array<number>(n).fill(-1);
  const low = new Array<number>(n).fill(0);
  const onStack = new Array<boolean>(n).fill(false);
  const stack: number[] = [];
  const result: number[][] = [];
  let counter = 0;
  for (let root = 0; root < n; root++) {
    if (order[root] !== -1) continue;
    const work: [number, number][] = [[root, 0]];
    order[root] = low[root] = counter++;
    stack.push(root);
    onStack[root] = true;
    while (work.length > 0) {
      const frame = work[work.length - 1] as [number, number];
      const [v, i] = frame;
      const next = edges.out[v]?.[i];
      if (next !== undefined) {
        frame[1] = i + 1;
        if (order[next] === -1) {
          order[next] = low[next] = counter++;
          stack.push(next);
          onStack[next] = true;
          work.push([next, 0]);
        } else if (onStack[next]) {
          low[v] = Math.min(low[v] as number, order[next] as number);
        }
        continue;
      }
      work.pop();
      const parent = work[work.length - 1];
      if (parent) low[parent[0]] = Math.min(low[parent[0]] as number, low[v] as number);
      if (low[v] === order[v]) {
        const component: number[] = [];
        let w: number;
        do {
          w = stack.pop() as number;
          onStack[w] = false;
          component.push(w);
        } while (w !== v);
        result.push(component.sort((a, b) => a - b));
      }
    }
  }
  return result;
}

/** The shortest cycle through `start` inside `members` (breadth-first, so the same graph gives the same cycle). */
function cycleThrough(edges: Edges, start: number, members: ReadonlySet<number>): number[] {
  const previous = new Map<number, number>();
  const queue = [start];
  for (let head = 0; head < queue.length; head++) {
    const v = queue[head] as number;
    for (const w of edges.out[v] ?? []) {
      if (!members.has(w)) continue;
      if (w === start) {
        const path = [v];
        while (path[0] !== start) path.unshift(previous.get(path[0] as number) as number);
        return path;
      }
      if (!previous.has(w)) {
        previous.set(w, v);
        queue.push(w);
      }
    }
  }
  return [start];
}

/** Every cycle worth reporting: one per strongly connected component, in node order. */
export function findCycles(pipeline: Graph): string[][] {
  const edges = edgesOf(pipeline);
  return components(edges)
    .filter((c) => c.length > 1 || (edges.out[c[0] as number] ?? []).includes(c[0] as number))
    .sort((a, b) => (a[0] as number) - (b[0] as number))
    .map((c) => cycleThrough(edges, c[0] as number, new Set(c)).map((i) => edges.ids[i] as string));
}

/** A cycle as node ids in order (`[a, b]`: a → b → a), or null when the pipeline is acyclic. */
export function findCycle(pipeline: Graph): string[] | null {
  return findCycles(pipeline)[0] ?? null;
}

/** Execution order and neighbours of every node; throws a `PipelinePlanError` when there is no such order. */
export function planPipeline(pipeline: Graph): PipelinePlan {
  const edges = edgesOf(pipeline);
  const duplicate = edges.duplicates[0];
  if (duplicate !== undefined) {
    throw new PipelinePlanError(
      'duplicate-node',
      [duplicate],
      `node id "${duplicate}" is used by more than one node`,
    );
  }
  const unknown = edges.unknown[0];
  if (unknown !== undefined) {
    throw new PipelinePlanError(
      'unknown-node',
      [unknown],
      `a connection names node "${unknown}", which does not exist`,
    );
  }
  const cycle = findCycle(pipeline);
  if (cycle) throw new PipelineCycleError(cycle);
  const n = edges.ids.length;
  const remaining = edges.in.map((list) => list.length);
  const ready: number[] = [];
  remaining.forEach((count, i) => {
    if (count === 0) ready.push(i);
  });
  const order: number[] = [];
  while (ready.length > 0) {
    // Lowest index first: among nodes that could run, the one placed first in the pipeline.
    let best = 0;
    for (let i = 1; i < ready.length; i++) if ((ready[i] as number) < (ready[best] as number)) best = i;
    const v = ready.splice(best, 1)[0] as number;
    order.push(v);
    for (const w of edges.out[v] ?? []) {
      remaining[w] = (remaining[w] as number) - 1;
      if (remaining[w] === 0) ready.push(w);
    }
  }
  if (order.length !== n) throw new Error('internal error: no topological order although no cycle was found');
  const position = new Map(order.map((v, i) => [v, i]));
  const byPlan = (list: number[]): string[] =>
    [...list]
      .sort((a, b) => (position.get(a) as number) - (position.get(b) as number))
      .map((i) => edges.ids[i] as string);
  return {
    order: order.map((i) => edges.ids[i] as string),
    upstream: Object.fromEntries(edges.ids.map((id, i) => [id, byPlan(edges.in[i] ?? [])])),
    downstream: Object.fromEntries(edges.ids.map((id, i) => [id, byPlan(edges.out[i] ?? [])])),
  };
}

function checkKnown(plan: PipelinePlan, id: string): void {
  if (!Object.hasOwn(plan.downstream, id)) {
    throw new PipelinePlanError('unknown-node', [id], `node "${id}" is not in the pipeline`);
  }
}

/** The nodes that depend, directly or not, on any of `nodeIds` (those themselves only if another depends on them). */
export function descendants(plan: PipelinePlan, nodeIds: Iterable<string>): string[] {
  const found = new Set<string>();
  const queue: string[] = [];
  for (const id of nodeIds) {
    checkKnown(plan, id);
    queue.push(id);
  }
  for (let head = 0; head < queue.length; head++) {
    for (const next of plan.downstream[queue[head] as string] ?? []) {
      if (!found.has(next)) {
        found.add(next);
        queue.push(next);
      }
    }
  }
  return plan.order.filter((id) => found.has(id));
}

/**
 * Pending nodes whose upstream nodes all have usable outputs (success or cached), in plan order. A node without
 * a status counts as pending.
 */
export function nextRunnable(plan: PipelinePlan, statuses: Readonly<Record<string, JobStatus>>): string[] {
  const status = (id: string): JobStatus =>
    Object.hasOwn(statuses, id) ? (statuses[id] as JobStatus) : 'pending';
  return plan.order.filter(
    (id) =>
      status(id) === 'pending' && (plan.upstream[id] ?? []).every((up) => isSuccessfulJobStatus(status(up))),
  );
}
