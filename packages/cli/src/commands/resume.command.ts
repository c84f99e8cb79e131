import type { Command } from 'commander';
import type { CliContext } from '../cli-context.js';
import { addExecutionOptions } from './run.command.js';
import type { RunOptions } from './run.command.js';
import { openCliEngine, watchExecution } from './engine-session.js';

export function registerResumeCommand(program: Command, ctx: CliContext): void {
  const cmd = program
    .command('resume')
    .description(
      'run again the operations of an execution that failed or were canceled, reusing every output that succeeded',
    )
    .argument('<id>', 'the execution id (or a unique prefix of one)');
  addExecutionOptions(cmd).action(async (id: string, opts: Omit<RunOptions, 'set'>) => {
    const engine = await openCliEngine(ctx, opts);
    try {
      const before = await engine.getExecution(id);
      const jobs = before.jobs.map((j) => ({ node: j.node, operation: j.operation }));
      const details = await watchExecution(engine, ctx, opts, jobs, () =>
        engine.resumeExecution(before.id, {
          ...(opts.cache !== undefined ? { cache: opts.cache } : {}),
          ...(opts.concurrency !== undefined ? { concurrency: opts.concurrency } : {}),
        }),
      );
      ctx.exitCode = details.status === 'success' ? 0 : 1;
    } finally {
      // Output checks still running are redone by the next engine to open the blob store (docs/adr/0005).
      await engine.close({ leaveChecks: true });
    }
  });
}
