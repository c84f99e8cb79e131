import { mkdir } from 'node:fs/promises';
import { dirname } from 'node:path';
import { EngineError } from './errors.js';

/** A lock not refreshed for this long belongs to a process that died: it is taken over. */
const STALE_MS = 10_000;

/**
 * Runs `fn` while this process holds the lock of `file`, which every process taking it through this function
 * respects: the read, change and write of a small file that several commands may change at once (the CLI's
 * credentials.json and server-projects.json) lose no other process's change. The lock is a `<file>.lock` folder
 * (proper-lockfile), refreshed while held and taken over once its holder stopped refreshing it for 10 s (it died).
 * Waits about 10 s for another holder, then throws EngineError('busy') naming the file.
 */
export async function withFileLock<T>(file: string, fn: () => Promise<T>): Promise<T> {
  // Loaded on first use: commands that never change such a file (a local run) do not load it.
  const { lock } = await import('proper-lockfile');
  await mkdir(dirname(file), { recursive: true });
  let release: () => Promise<void>;
  try {
    release = await lock(file, {
      realpath: false,
      stale: STALE_MS,
      update: STALE_MS / 4,
      retries: { retries: 40, factor: 1.3, minTimeout: 20, maxTimeout: 400 },
    });
  } catch (err) {
    throw new EngineError(
      'busy',
      `another process is changing ${file} (it holds ${file}.lock): try again in a moment, or remove that folder ` +
        `if no deepforge command is running`,
      { cause: err },
    );
  }
  try {
    return await fn();
  } finally {
    await release().catch(() => undefined);
  }
}
