import { assertNever, formatDiffValue } from '@deepforge/core';
import type { AttributeCell, CompareRun, JobOutcome } from '@deepforge/core';
import type { ExecutionComparisonDto } from '@deepforge/protocol';
import { formatDuration } from '../lib/job-status.js';

/** The comparison view's logic apart from React: what core compares, read from the server's answer, and words. */

/** The runs as core compares them: each execution's snapshot nodes, jobs and the attributes it ran with. */
export function comparisonRuns(dto: ExecutionComparisonDto): CompareRun[] {
  return dto.executions.map((e, i) => ({
    id: e.id,
    name: e.name,
    pipeline: e.pipeline,
    status: e.status,
    durationMs: e.durationMs,
    nodes: e.pipelineSnapshot.nodes.map((n) => ({ id: n.id, operation: n.operation })),
    attributes: dto.attributes[i] ?? {},
    jobs: e.jobs,
  }));
}

export function attributeCellText(cell: AttributeCell): string {
  switch (cell.kind) {
    case 'value':
      return formatDiffValue(cell.value);
    case 'unset':
      return 'not set';
    case 'no-node':
      return 'no such node';
    default:
      return assertNever(cell);
  }
}

/** "success · 2.1 s", "cached · reused", "not in this run". */
export function outcomeText(cell: JobOutcome | null): string {
  if (!cell) return 'not in this run';
  const parts: string[] = [cell.status];
  if (cell.reused) parts.push('reused');
  else if (cell.durationMs !== null) parts.push(formatDuration(cell.durationMs));
  return parts.join(' · ');
}
