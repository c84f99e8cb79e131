import { mkdir, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { dirname, join, relative, resolve, sep } from 'node:path';
import { projectToFiles, type Project } from '@deepforge/core';

/** The folders of a project the language server sees: the Python files a job can import or run. */
export const WORKSPACE_DIRS = ['operations', 'utils', 'serializers'] as const;

/**
 * Whether a path relative to the workspace names one of its Python files: `utils/shapes.py`, `operations/Train.py`,
 * never `..`, an absolute path, a hidden file or anything outside those folders.
 */
export function isWorkspaceFile(rel: string): boolean {
  if (rel.length === 0 || rel.length > 500 || rel.includes('\\') || rel.includes('\0')) return false;
  const parts = rel.split('/');
  if (!(WORKSPACE_DIRS as readonly string[]).includes(parts[0]!)) return false;
  if (parts.length < 2 || !rel.endsWith('.py')) return false;
  return parts.every((p) => p !== '' && p !== '.' && p !== '..' && !p.startsWith('.'));
}

/** The absolute path of a workspace file, or undefined when `rel` is not one (see isWorkspaceFile). */
export function workspacePath(root: string, rel: string): string | undefined {
  if (!isWorkspaceFile(rel)) return undefined;
  const path = resolve(root, rel);
  return path.startsWith(resolve(root) + sep) ? path : undefined;
}

async function existingFiles(root: string): Promise<string[]> {
  const out: string[] = [];
  const walk = async (dir: string): Promise<void> => {
    let entries;
    try {
      entries = await readdir(dir, { withFileTypes: true });
    } catch {
      return;
    }
    for (const e of entries) {
      const p = join(dir, e.name);
      if (e.isDirectory()) await walk(p);
      else if (e.isFile()) out.push(relative(root, p).split(sep).join('/'));
    }
  };
  for (const d of WORKSPACE_DIRS) await walk(join(root, d));
  return out;
}

/**
 * Writes the project's Python files under `root` (the language server's view of the project) and removes the ones
 * the project no longer has. Unchanged files are not rewritten, so Jedi's caches keyed by modification time hold.
 */
export async function materializeWorkspace(root: string, project: Project): Promise<void> {
  const wanted = new Map<string, string>();
  for (const [rel, text] of projectToFiles(project)) if (isWorkspaceFile(rel)) wanted.set(rel, text);
  await mkdir(root, { recursive: true });
  for (const rel of await existingFiles(root)) {
    if (!wanted.has(rel)) await rm(join(root, rel), { force: true });
  }
  for (const [rel, text] of wanted) {
    const path = workspacePath(root, rel);
    if (path === undefined) continue;
    const old = await readFile(path, 'utf8').catch(() => undefined);
    if (old === text) continue;
    await mkdir(dirname(path), { recursive: true });
    await writeFile(path, text);
  }
}
