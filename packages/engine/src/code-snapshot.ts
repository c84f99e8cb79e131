import { randomBytes } from 'node:crypto';
import { chmod, mkdir, readdir, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import { dirname, join, relative, sep } from 'node:path';
import {
  architectureModulePath,
  generateArchitectureCode,
  projectToFiles,
  type Project,
} from '@deepforge/core';

const CODE_DIRS = ['operations', 'utils', 'serializers'] as const;

/**
 * The code files of a project, by path relative to the snapshot root (`operations/X.py`, `utils/pkg/y.py`, …):
 * the project format's own layout, so the harness imports them as it would from the project folder. Each
 * architecture adds its generated module, `resources/<name>.py`, so that operations get it built and a model
 * saved by one job loads in the next (its class is `resources.<name>.<name>`); one whose graph cannot be turned
 * into code (a cycle) has none, and a job referencing it fails saying why.
 */
export function codeFiles(project: Project): Map<string, string> {
  const files = new Map<string, string>();
  for (const [rel, content] of projectToFiles(project)) {
    if (CODE_DIRS.some((d) => rel.startsWith(`${d}/`))) files.set(rel, content);
  }
  for (const [name, arch] of Object.entries(project.resources ?? {})) {
    try {
      files.set(architectureModulePath(name), generateArchitectureCode(arch));
    } catch {
      // Reported where the architecture is checked, and by a job that references it.
    }
  }
  return new Map([...files.entries()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
}

/** Reads a snapshot back (for cache keys on resume and restart), by relative path. */
export async function readCodeSnapshot(codeDir: string): Promise<Map<string, string>> {
  const files = new Map<string, string>();
  const walk = async (dir: string): Promise<void> => {
    for (const e of await readdir(dir, { withFileTypes: true }).catch(() => [])) {
      const full = join(dir, e.name);
      if (e.isDirectory()) await walk(full);
      else if (e.isFile())
        files.set(relative(codeDir, full).split(sep).join('/'), await readFile(full, 'utf8'));
    }
  };
  await walk(codeDir);
  return files;
}

/**
 * Writes the code an execution runs into `codeDir`, once, read-only: the execution keeps running (and can be
 * resumed) with exactly this code whatever happens to the project afterwards. Written beside and renamed into
 * place, so a crash leaves either no snapshot or a whole one.
 */
export async function writeCodeSnapshot(codeDir: string, files: ReadonlyMap<string, string>): Promise<void> {
  const tmp = `${codeDir}.tmp-${randomBytes(4).toString('hex')}`;
  try {
    await mkdir(join(tmp, 'operations'), { recursive: true });
    await mkdir(join(tmp, 'utils'), { recursive: true });
    await mkdir(join(tmp, 'serializers'), { recursive: true });
    for (const [rel, content] of files) {
      const file = join(tmp, rel);
      await mkdir(dirname(file), { recursive: true });
      await writeFile(file, content);
    }
    await makeReadOnly(tmp);
    await rename(tmp, codeDir);
  } catch (err) {
    // Nothing half-written stays behind, whatever failed (a file name too long, a full disk).
    await makeWritable(tmp).catch(() => undefined);
    await rm(tmp, { recursive: true, force: true });
    throw err;
  }
}

/** Removes a snapshot writeCodeSnapshot made (read-only, so made writable first); none there is not an error. */
export async function removeCodeSnapshot(codeDir: string): Promise<void> {
  await makeWritable(codeDir).catch(() => undefined);
  await rm(codeDir, { recursive: true, force: true });
}

async function makeWritable(p: string): Promise<void> {
  const s = await stat(p);
  if (s.isDirectory()) {
    await chmod(p, 0o755);
    for (const name of await readdir(p)) await makeWritable(join(p, name));
  }
}

async function makeReadOnly(p: string): Promise<void> {
  const s = await stat(p);
  if (s.isDirectory()) {
    for (const name of await readdir(p)) await makeReadOnly(join(p, name));
    await chmod(p, 0o555);
  } else {
    await chmod(p, 0o444);
  }
}
