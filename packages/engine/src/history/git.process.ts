import { spawn } from 'node:child_process';

/** The most bytes one git command may print before it is stopped: a bound on what the server holds. */
export const GIT_OUTPUT_LIMIT = 256 * 1024 * 1024;
/** A git command that runs longer than this is stopped (a stuck disk, a huge repository). */
const GIT_TIMEOUT_MS = 120_000;

export class GitError extends Error {
  override readonly name = 'GitError';
  constructor(
    message: string,
    readonly exitCode: number | null,
    readonly stderr: string,
  ) {
    super(message);
  }
}

export interface GitRunOptions {
  /** Bytes written to the command's stdin (then closed). */
  input?: string | Uint8Array;
  env?: Record<string, string>;
  /** Exit codes that are answers rather than failures (`rev-parse --verify -q` answers 1 for "no such ref"). */
  okCodes?: readonly number[];
}

export interface GitResult {
  stdout: Buffer;
  code: number;
}

/**
 * Runs `git --git-dir=<gitDir> <args>` in a child process: the server's event loop only moves bytes, git does the
 * hashing, compressing and walking (docs/adr/0020). The environment is cleared of the caller's GIT_* variables and
 * of global/system configuration, so the repository behaves the same on every machine.
 */
export function runGit(
  gitDir: string,
  args: readonly string[],
  options: GitRunOptions = {},
): Promise<GitResult> {
  return new Promise((resolve, reject) => {
    const child = spawn('git', [`--git-dir=${gitDir}`, ...args], {
      env: gitEnv(options.env),
      stdio: ['pipe', 'pipe', 'pipe'],
      timeout: GIT_TIMEOUT_MS,
    });
    const out: Buffer[] = [];
    let outBytes = 0;
    let err = '';
    let overflow = false;
    child.stdout.on('data', (b: Buffer) => {
      outBytes += b.length;
      if (outBytes > GIT_OUTPUT_LIMIT) {
        overflow = true;
        child.kill('SIGKILL');
        return;
      }
      out.push(b);
    });
    child.stderr.on('data', (b: Buffer) => {
      if (err.length < 64 * 1024) err += b.toString('utf8');
    });
    child.on('error', reject);
    child.stdin.on('error', () => undefined);
    child.on('close', (code, signal) => {
      if (overflow) {
        reject(new GitError(`git ${args[0]}: more than ${GIT_OUTPUT_LIMIT} bytes of output`, null, err));
        return;
      }
      const c = code ?? -1;
      if (c === 0 || options.okCodes?.includes(c)) {
        resolve({ stdout: Buffer.concat(out), code: c });
        return;
      }
      reject(
        new GitError(
          `git ${args[0]} failed (${signal ?? `exit ${c}`}): ${err.trim().split('\n').slice(-3).join(' ')}`,
          code,
          err,
        ),
      );
    });
    if (options.input !== undefined) child.stdin.end(options.input);
    else child.stdin.end();
  });
}

/** The environment for git: no user or system configuration, no prompts, no inherited repository variables. */
export function gitEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) if (!k.startsWith('GIT_')) env[k] = v;
  return {
    ...env,
    GIT_CONFIG_NOSYSTEM: '1',
    GIT_CONFIG_GLOBAL: '/dev/null',
    GIT_TERMINAL_PROMPT: '0',
    LC_ALL: 'C',
    ...extra,
  };
}
