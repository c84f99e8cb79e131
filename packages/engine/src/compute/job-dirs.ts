import { mkdir } from 'node:fs/promises';
import { isAbsolute, relative, sep } from 'node:path';

/** Whether `dir` is strictly inside `parent` (both absolute or both relative to the same folder). */
function isInside(parent: string, dir: string): boolean {
  const r = relative(parent, dir);
  return r !== '' && r !== '..' && !r.startsWith(`..${sep}`) && !isAbsolute(r);
}

/**
 * Makes a job's folder and the folders it needs (its work and output folders), with as few file-system calls as
 * that takes, all at once: a folder inside the job's makes the job's with it, and one that exists costs one call.
 * Every job pays these calls, and on a loaded disk each costs a fraction of a millisecond, the trip to the thread
 * that makes it as much again.
 */
export async function makeJobDirs(jobDir: string, dirs: readonly string[]): Promise<void> {
  const inside = dirs.some((d) => isInside(jobDir, d));
  // Folders made at once whose parent is missing both make it: a recursive mkdir takes the other's in its stride.
  await Promise.all([...(inside ? [] : [jobDir]), ...dirs].map((d) => mkdir(d, { recursive: true })));
}
