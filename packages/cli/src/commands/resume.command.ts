import { realpath } from 'node:fs/promises';
import { resolve } from 'node:path';
import type { Command } from 'commander';
import type { CliContext } from '../cli-context.js';
import { addExecutionOptions } from './run.command.js';
import type { RunOptions } from './run.command.js';
import { openCliEngine, watchExecution } from './engine-session.js';
import { UsageError } from '../usage-error.js';

export function registerResumeCommand(program: Command, ctx: CliContext): void {
  const cmd = program
    .command('resume')
    .description(
      'run again the operations of an execution that failed or were canceled, reusing every output that succeeded',
    )
    .argument('<id>', 'the execution id (or a unique prefix of one)')
    .option(
      '--current <project-dir>',
      "resume with that project folder's current code and attributes instead of the execution's snapshot: a new " +
        'execution in which the failed and later operations run and unchanged earlier ones reuse their outputs',
    );
  addExecutionOptions(cmd).action(
    async (id: string, opts: Omit<RunOptions, 'set'> & { current?: string }) => {
      const engine = await openCliEngine(ctx, opts);
      try {
        const before = await engine.getExecution(id);
        let details;
        if (opts.current !== undefined) {
          if (opts.cache !== undefined)
            throw new UsageError('--current always reuses unchanged outputs: leave out --cache');
          const dir = resolve(ctx.cwd, opts.current);
          const { project } = await engine.loadProjectFolder(dir);
          // The execution's folder project, when this is its folder: the web IDE gets the fixed code too.
          const own =
            before.projectId !== '' ? await engine.projects.getProject(before.projectId) : undefined;
          if (own?.folder && own.folder === (await realpath(dir))) {
            await engine.registerFolderProject(dir, project);
          }
          const nodes = project.pipelines[before.pipeline]?.nodes ?? [];
          const jobs = nodes.map((n) => ({ node: n.id, operation: n.operation }));
          details = await watchExecution(engine, ctx, opts, jobs, () =>
            engine.resumeWithCurrentCode(before.id, {
              project,
              projectDir: dir,
              ...(opts.concurrency !== undefined ? { concurrency: opts.concurrency } : {}),
            }),
          );
        } else {
          const jobs = before.jobs.map((j) => ({ node: j.node, operation: j.operation }));
          details = await watchExecution(engine, ctx, opts, jobs, () =>
            engine.resumeExecution(before.id, {
              ...(opts.cache !== undefined ? { cache: opts.cache } : {}),
              ...(opts.concurrency !== undefined ? { concurrency: opts.concurrency } : {}),
            }),
          );
        }
        ctx.exitCode = details.status === 'success' ? 0 : 1;
      } finally {
        // Output checks still running are redone by the next engine to open the blob store (docs/adr/0005).
        await engine.close({ leaveChecks: true });
      }
    },
  );
}
