import { mkdir } from 'node:fs/promises';
import { isAbsolute, relative, sep } from 'node:path';

/** Whether `dir` is strictly inside `parent` (both absolute or both relative to the same folder). */
function isInside(parent: string, dir: string): boolean {
  const r = relative(parent, dir);
  return r !== '' && r !== '..' && !r.startsWith(`..${sep}`) && !isAbsolute(r);
}

/**
 * Makes a job's folder and the folders it needs (its work and output folders), with as few file-system calls as
 * that takes: a folder inside the job's makes the job's with it, and one that exists costs one call. Every job
 * pays these calls, and on a loaded disk each metadata call costs a fraction of a millisecond.
 */
export async function makeJobDirs(jobDir: string, dirs: readonly string[]): Promise<void> {
  const inside = dirs.filter((d) => isInside(jobDir, d));
  if (inside.length === 0) await mkdir(jobDir, { recursive: true });
  for (const d of dirs) await mkdir(d, { recursive: true });
}
