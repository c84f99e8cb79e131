import type { ComputeStateDto } from '@deepforge/protocol';

/** The jobs of one execution waiting for a worker, grouped by why (in the order the server lists them). */
export function waitingByReason(
  waiting: ComputeStateDto['waiting'],
  executionId: string,
): { reason: string; nodes: string[] }[] {
  const groups = new Map<string, string[]>();
  for (const job of waiting) {
    if (job.executionId !== executionId || job.node === undefined) continue;
    const nodes = groups.get(job.reason) ?? [];
    if (!nodes.includes(job.node)) nodes.push(job.node);
    groups.set(job.reason, nodes);
  }
  return [...groups].map(([reason, nodes]) => ({ reason, nodes }));
}
