import { currentNodeId } from '@deepforge/core';

/** Where a job of an execution leads in the pipeline as it is now: the node by its id then, renamed, or gone. */
export type NodeLink = { kind: 'same'; id: string } | { kind: 'renamed'; id: string } | { kind: 'gone' };

/**
 * Resolves an execution's node id (its snapshot's) to the current pipeline through the pipeline's renames. A
 * node whose id was renamed and later reused by another node leads to the renamed one: the rename record wins.
 */
export function nodeLink(
  snapshotId: string,
  renames: Readonly<Record<string, string>>,
  currentIds: ReadonlySet<string>,
): NodeLink {
  const now = currentNodeId(renames, snapshotId);
  if (!currentIds.has(now)) return { kind: 'gone' };
  return now === snapshotId ? { kind: 'same', id: now } : { kind: 'renamed', id: now };
}
