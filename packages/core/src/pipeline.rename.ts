import type { Pipeline } from './model.js';
import { identifierProblem } from './python-identifier.js';

/**
 * Why a node of `pipeline` cannot be renamed from `from` to `to`, or null when it can. Node ids are Python-style
 * names (they are `--set` keys and job names), unique in their pipeline.
 */
export function nodeRenameProblem(pipeline: Pipeline, from: string, to: string): string | null {
  if (!pipeline.nodes.some((n) => n.id === from)) return `pipeline "${pipeline.name}" has no node "${from}"`;
  if (to === '') return 'a node id must not be empty';
  const problem = identifierProblem(to);
  if (problem) return `"${to.length > 40 ? `${to.slice(0, 40)}…` : to}" is not a valid node id: ${problem}`;
  if (to !== from && pipeline.nodes.some((n) => n.id === to))
    return `pipeline "${pipeline.name}" has a node "${to}" already`;
  return null;
}

export class NodeRenameError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'NodeRenameError';
  }
}

/** The pipeline with node `from` called `to`: its connections follow. Throws NodeRenameError (nothing changes). */
export function renameNode(pipeline: Pipeline, from: string, to: string): Pipeline {
  const problem = nodeRenameProblem(pipeline, from, to);
  if (problem) throw new NodeRenameError(problem);
  const id = (node: string): string => (node === from ? to : node);
  return {
    ...pipeline,
    nodes: pipeline.nodes.map((n) => (n.id === from ? { ...n, id: to } : n)),
    connections: pipeline.connections.map((c) => ({
      from: { node: id(c.from.node), port: c.from.port },
      to: { node: id(c.to.node), port: c.to.port },
    })),
  };
}

/**
 * A pipeline's renames, old id → id now, after renaming `from` to `to`: earlier names of `from` follow it too
 * (a → b → c maps a and b to c), and a name given back is no longer a rename.
 */
export function recordNodeRename(
  renames: Readonly<Record<string, string>>,
  from: string,
  to: string,
): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [old, now] of Object.entries(renames)) out[old] = now === from ? to : now;
  if (from !== to) out[from] = to;
  delete out[to];
  return out;
}

/** The id a node has now, following `renames` (old → new); the id itself when it was never renamed. */
export function currentNodeId(renames: Readonly<Record<string, string>>, id: string): string {
  return Object.hasOwn(renames, id) ? renames[id]! : id;
}

/**
 * `--set node.attr=value` overrides with their node ids renamed, so an execution's overrides keep applying to the
 * same nodes after a rename. Text that is not an override is kept as it is (the run reports it).
 */
export function renameOverrideKeys(
  overrides: readonly string[],
  renames: Readonly<Record<string, string>>,
): string[] {
  return overrides.map((o) => {
    const dot = o.indexOf('.');
    const eq = o.indexOf('=');
    if (dot <= 0 || eq < 0 || dot > eq) return o;
    const node = o.slice(0, dot);
    const now = currentNodeId(renames, node);
    return now === node ? o : `${now}${o.slice(dot)}`;
  });
}
