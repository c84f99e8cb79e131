import { describe, expect, it } from 'vitest';
import { waitingByReason } from './waiting-jobs.js';

describe('waitingByReason', () => {
  it("groups one execution's waiting jobs by reason, leaving out other executions' and nameless ones", () => {
    const job = (executionId: string | undefined, node: string | undefined, reason: string) => ({
      jobId: `${executionId}.${node}`,
      ...(executionId !== undefined ? { executionId, projectId: 'p' } : {}),
      ...(node !== undefined ? { node } : {}),
      reason,
    });
    expect(
      waitingByReason(
        [
          job('e1', 'left', 'no worker is connected'),
          job('e2', 'other', 'no worker is connected'),
          job('e1', 'train', 'no connected worker has label gpu'),
          job('e1', 'right', 'no worker is connected'),
          job(undefined, undefined, 'no worker is connected'),
        ],
        'e1',
      ),
    ).toEqual([
      { reason: 'no worker is connected', nodes: ['left', 'right'] },
      { reason: 'no connected worker has label gpu', nodes: ['train'] },
    ]);
    expect(waitingByReason([], 'e1')).toEqual([]);
  });
});
