import { mkdir, mkdtemp, readdir, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';

/**
 * The local parts every storage keeps on this machine (outputs are staged on local disk whatever the backend):
 * staging directories, and the sweep of what dead processes left in such folders.
 */

/** A fresh staging directory under `root`, its name starting with `label` made safe for a file name. */
export async function createStagingDir(root: string, label: string): Promise<string> {
  const safe = label.replace(/[^A-Za-z0-9_.-]/g, '_').slice(0, 80);
  // `root` exists as a rule: made only when missing (one call less for every job).
  return mkdtemp(join(root, `${safe}-`)).catch(async (err: NodeJS.ErrnoException) => {
    if (err.code !== 'ENOENT') throw err;
    await mkdir(root, { recursive: true });
    return mkdtemp(join(root, `${safe}-`));
  });
}

/**
 * Removes the entries of `dir` last modified more than `maxAgeMs` before `now` (unless `keep` says otherwise) and
 * returns how many; a missing folder has none.
 */
export async function removeOldEntries(
  dir: string,
  maxAgeMs: number,
  now: number,
  keep: (name: string) => Promise<boolean> = () => Promise.resolve(false),
): Promise<number> {
  let removed = 0;
  for (const name of await readdir(dir).catch(() => [] as string[])) {
    const p = join(dir, name);
    const s = await stat(p).catch(() => undefined);
    if (!s || now - s.mtimeMs <= maxAgeMs || (await keep(name))) continue;
    await rm(p, { recursive: true, force: true });
    removed++;
  }
  return removed;
}
