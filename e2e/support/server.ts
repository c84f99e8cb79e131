import type { ChildProcess } from 'node:child_process';
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const ROOT = fileURLToPath(new URL('../..', import.meta.url));
export const CLI = join(ROOT, 'packages', 'cli', 'dist', 'main.js');

/** A real `deepforge start` in its own process, on a free port and a temporary data dir. */
export interface RunningServer {
  /** `http://localhost:<port>` (a loopback origin the WebSockets accept). */
  readonly url: string;
  readonly port: number;
  readonly dataDir: string;
  /** What the process printed (stdout and stderr), for failure messages. */
  output(): string;
  /** SIGTERM and wait for it to exit (documents saved, jobs canceled). The data dir stays. */
  stop(): Promise<void>;
}

export interface StartOptions {
  /** Reuse a data dir (a restart); a fresh temporary one by default. */
  dataDir?: string;
  /** 0 (default): a free one. */
  port?: number;
  env?: Record<string, string>;
  /** More arguments of `deepforge start` (e.g. `--server`: no local compute). */
  args?: string[];
  /** How long to wait for "DeepForge is running at …". */
  timeoutMs?: number;
}

export async function newDataDir(prefix = 'deepforge-e2e-'): Promise<string> {
  // On tmpfs when there is one: the SQLite store commits with fsync, which is slow on a loaded disk.
  return mkdtemp(join(existsSync('/dev/shm') ? '/dev/shm' : tmpdir(), prefix));
}

export async function removeDir(dir: string): Promise<void> {
  await rm(dir, { recursive: true, force: true, maxRetries: 3 });
}

export async function startServer(opts: StartOptions = {}): Promise<RunningServer> {
  if (!existsSync(CLI)) throw new Error(`${CLI} is missing: build first (npx tsc -b packages/cli)`);
  const dataDir = opts.dataDir ?? (await newDataDir());
  const port = opts.port ?? 0;
  const child: ChildProcess = spawn(
    process.execPath,
    [CLI, 'start', '--port', String(port), '--data-dir', dataDir, ...(opts.args ?? [])],
    {
      cwd: ROOT,
      env: { ...process.env, DEEPFORGE_LOG_LEVEL: 'warn', ...opts.env },
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
  let out = '';
  child.stdout?.setEncoding('utf8');
  child.stderr?.setEncoding('utf8');
  child.stdout?.on('data', (s: string) => (out += s));
  child.stderr?.on('data', (s: string) => (out += s));
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));

  const url = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`deepforge start printed no URL in ${opts.timeoutMs ?? 30_000} ms:\n${out}`));
    }, opts.timeoutMs ?? 30_000);
    const check = (): void => {
      const m = /DeepForge is running at (http:\/\/\S+)/.exec(out);
      if (m?.[1]) {
        clearTimeout(timer);
        resolve(m[1]);
      }
    };
    child.stdout?.on('data', check);
    void exited.then((code) => {
      clearTimeout(timer);
      reject(new Error(`deepforge start exited (${code}) before listening:\n${out}`));
    });
  });
  const actualPort = Number(new URL(url).port);
  let stopping: Promise<void> | undefined;
  return {
    url,
    port: actualPort,
    dataDir,
    output: () => out,
    stop() {
      stopping ??= (async () => {
        if (child.exitCode !== null || child.signalCode !== null) return;
        child.kill('SIGTERM');
        const timer = setTimeout(() => child.kill('SIGKILL'), 15_000);
        await exited;
        clearTimeout(timer);
      })();
      return stopping;
    },
  };
}
