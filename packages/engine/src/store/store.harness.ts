import type { EngineStores } from './database.store.js';
import type { NewExecution, NewJob } from './execution.store.js';

/** One adapter's stores for a conformance suite: a fresh, empty database each time `create` is called. */
export interface StoreHarness {
  stores: EngineStores;
  /** Closes the stores and opens the same database again, to check what survives. */
  reopen(): Promise<EngineStores>;
  cleanup(): Promise<void>;
}

let counter = 0;

/** A new execution with a unique id, created after the ones made before it. */
export function newExecution(overrides: Partial<NewExecution> = {}): NewExecution {
  counter++;
  return {
    id: `ex${String(counter).padStart(4, '0')}${Math.random().toString(36).slice(2, 8)}`,
    name: `run ${counter}`,
    project: 'proj',
    pipeline: 'pipe',
    status: 'pending',
    createdAt: 1_700_000_000_000 + counter,
    options: { cache: true },
    snapshot: { pipeline: { name: 'pipe', nodes: [] }, attributes: { a: { x: 1 } } },
    ...overrides,
  };
}

/** Jobs `<execution id>.<node>` of the nodes, in that order. */
export function jobsFor(executionId: string, nodes: string[]): NewJob[] {
  return nodes.map((node) => ({ id: `${executionId}.${node}`, executionId, node, operation: `Op_${node}` }));
}
