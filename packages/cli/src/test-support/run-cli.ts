import { PassThrough } from 'node:stream';
import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { runCli } from '../program.js';

export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

function capture(): { stream: PassThrough & { isTTY?: boolean }; text: () => string } {
  const stream = new PassThrough();
  let text = '';
  stream.on('data', (c: Buffer) => (text += c.toString('utf8')));
  return { stream, text: () => text };
}

/**
 * Runs the CLI in this process, as a user would type `deepforge …`, with its own environment and cwd; `stdin` is
 * what is piped in (nothing by default, like `< /dev/null`).
 */
export async function cli(
  args: string[],
  env: Record<string, string | undefined>,
  cwd = process.cwd(),
  stdin = '',
): Promise<CliResult> {
  const out = capture();
  const err = capture();
  const input = new PassThrough();
  input.end(stdin);
  const code = await runCli(args, { in: input, out: out.stream, err: err.stream, env, cwd, exitCode: 0 });
  // Let the PassThrough streams deliver what was written.
  await new Promise((r) => setImmediate(r));
  return { code, stdout: out.text(), stderr: err.text() };
}

/** The built `deepforge` entry point, for tests that need a separate process (signals, kill -9). */
export const CLI_MAIN = fileURLToPath(new URL('../../dist/main.js', import.meta.url));

export function spawnCli(args: string[], env: Record<string, string | undefined>): ChildProcess {
  return spawn(process.execPath, [CLI_MAIN, ...args], { env, stdio: ['ignore', 'pipe', 'pipe'] });
}
