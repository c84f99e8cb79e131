import { Command, CommanderError } from 'commander';
import pc from 'picocolors';
import { AccountError, EngineError } from '@deepforge/engine';
import type { CliContext } from './cli-context.js';
import { UsageError } from './usage-error.js';
import { registerArtifactsCommand } from './commands/artifacts.command.js';
import { registerConfigCommand } from './commands/config.command.js';
import { registerDoctorCommand } from './commands/doctor.command.js';
import { registerExecutionsCommand } from './commands/executions.command.js';
import { registerExtensionsCommand } from './commands/extensions.command.js';
import { registerLoginCommands } from './commands/login.command.js';
import { registerMigrateCommand } from './commands/migrate.command.js';
import { registerResourcesCommand } from './commands/resources.command.js';
import { registerResumeCommand } from './commands/resume.command.js';
import { registerRunCommand } from './commands/run.command.js';
import { registerStartCommand } from './commands/start.command.js';
import { registerUsersCommand } from './commands/users.command.js';
import { registerWorkerCommands } from './commands/worker.command.js';
import { readCliVersion } from './version.js';

export const CLI_VERSION = readCliVersion();

export function buildProgram(ctx: CliContext): Command {
  const program = new Command('deepforge')
    .description('DeepForge: build pipelines of Python operations and run them, locally and in parallel.')
    .version(CLI_VERSION, '-v, --version')
    .showHelpAfterError('(add --help for usage)')
    .configureOutput({
      writeOut: (s) => ctx.out.write(s),
      writeErr: (s) => ctx.err.write(s),
    })
    .exitOverride();
  registerRunCommand(program, ctx);
  registerExecutionsCommand(program, ctx);
  registerResumeCommand(program, ctx);
  registerArtifactsCommand(program, ctx);
  registerResourcesCommand(program, ctx);
  registerExtensionsCommand(program, ctx);
  registerConfigCommand(program, ctx);
  registerDoctorCommand(program, ctx);
  registerStartCommand(program, ctx);
  registerUsersCommand(program, ctx);
  registerLoginCommands(program, ctx);
  registerMigrateCommand(program, ctx);
  registerWorkerCommands(program, ctx);
  program.commands.forEach((c) => c.exitOverride());
  return program;
}

/** Runs the CLI with `argv` (without node and script); resolves to the exit code. */
export async function runCli(argv: readonly string[], ctx: CliContext): Promise<number> {
  const program = buildProgram(ctx);
  try {
    await program.parseAsync([...argv], { from: 'user' });
    return ctx.exitCode;
  } catch (err) {
    if (err instanceof CommanderError) {
      // --help and --version end through here too, with exit code 0.
      return err.exitCode;
    }
    const color = pc.createColors(Boolean(ctx.err.isTTY) && !ctx.env.NO_COLOR);
    const message =
      err instanceof EngineError || err instanceof UsageError || err instanceof AccountError
        ? err.message
        : formatUnexpected(err);
    ctx.err.write(`${color.red('error:')} ${message}\n`);
    return 1;
  }
}

function formatUnexpected(err: unknown): string {
  if (err instanceof Error) return err.stack ?? err.message;
  return String(err);
}
