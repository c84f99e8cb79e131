import type { PrestartedRun } from '@deepforge/engine';

/** What a command needs from the outside world; tests run commands in-process with their own. */
export interface CliContext {
  /** Where passwords come from: a prompt with echo off on a terminal, the first line when piped. */
  in: NodeJS.ReadableStream & { isTTY?: boolean; setRawMode?: (mode: boolean) => unknown };
  out: NodeJS.WritableStream & { isTTY?: boolean; columns?: number };
  err: NodeJS.WritableStream & { isTTY?: boolean };
  env: Readonly<Record<string, string | undefined>>;
  cwd: string;
  /** Set by commands: the process exit code once the command is done. */
  exitCode: number;
  /** What the entry module started for a local `deepforge run` before the program loaded (docs/adr/0029). */
  prestarted?: PrestartedRun;
}
