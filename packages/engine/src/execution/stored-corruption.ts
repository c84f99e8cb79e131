import type { Logger } from 'pino';
import type { CorruptBlobReport } from '../storage/artifact.storage.js';
import type { ExecutionStore } from '../store/execution.store.js';

/**
 * A blob found corrupt by a check that an earlier process left (its execution ended there, and no run of this
 * process follows the check; docs/adr/0005): every job output holding it gets the error and loses its cache key,
 * so nothing reuses it, and an execution that had ended `success` is `failed` now. Jobs that read the output are
 * not marked (that needs the run's plan); a resume refuses, as the output is gone from the store.
 */
export async function markCorruptOutputs(
  store: Pick<
    ExecutionStore,
    'listOutputsWithHash' | 'getJob' | 'updateJob' | 'getExecution' | 'updateExecution'
  >,
  report: CorruptBlobReport,
  logger: Logger,
): Promise<void> {
  for (const output of await store.listOutputsWithHash(report.hash)) {
    const job = await store.getJob(output.jobId);
    if (!job) continue;
    const message = `output ${output.name} is corrupt: ${report.message}`;
    await store.updateJob(job.id, { error: { kind: 'output', message }, cacheKey: null });
    const execution = await store.getExecution(job.executionId);
    const failed = execution?.status === 'success';
    if (failed) await store.updateExecution(execution.id, { status: 'failed' });
    logger.error(
      { executionId: job.executionId, node: job.node, output: output.name, hash: report.hash },
      `CORRUPT OUTPUT: ${job.node}.${output.name} of execution ${job.executionId} does not hold the bytes its ` +
        `job wrote (found by a check redone at start)${failed ? '; the execution is failed now' : ''}`,
    );
  }
}
