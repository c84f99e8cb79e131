import { mkdir, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { dirname, join, relative, sep } from 'node:path';
import {
  ARTIFACTS_DIR,
  MANIFEST_FILE,
  OPERATIONS_DIR,
  PIPELINES_DIR,
  RESOURCES_DIR,
  SERIALIZERS_DIR,
  UTILS_DIR,
  type Diagnostic,
  type Project,
} from '@deepforge/core';
import { projectFromFilesWith, type OperationReader } from '@deepforge/engine';
import type { FileMap } from './project-zip.js';

const CODE_DIRS: readonly string[] = [
  OPERATIONS_DIR,
  PIPELINES_DIR,
  UTILS_DIR,
  SERIALIZERS_DIR,
  RESOURCES_DIR,
];

/**
 * Whether a path of a project folder is project content (it lives in the project document) rather than a file
 * kept beside it (artifact data files, a README): the same split as the engine's project folder reader.
 */
export function isContentPath(path: string): boolean {
  if (path === MANIFEST_FILE) return true;
  const parts = path.split('/');
  if (CODE_DIRS.includes(parts[0]!)) return true;
  return parts[0] === ARTIFACTS_DIR && parts.length === 2 && parts[1]!.endsWith('.json');
}

export type ReadProjectResult =
  | { ok: true; project: Project; diagnostics: Diagnostic[]; extras: FileMap }
  | { ok: false; diagnostics: Diagnostic[] };

/**
 * Splits a project folder's files into the project (parsed by core, its operations by `reader`, off the event
 * loop) and the other files kept beside it.
 */
export async function readProjectFiles(files: FileMap, reader: OperationReader): Promise<ReadProjectResult> {
  const text = new Map<string, string>();
  const extras: FileMap = new Map();
  const problems: Diagnostic[] = [];
  const decoder = new TextDecoder('utf-8', { fatal: true });
  for (const [path, data] of files) {
    if (!isContentPath(path)) {
      extras.set(path, data);
      continue;
    }
    try {
      if (data.subarray(0, 8192).includes(0)) throw new Error('binary');
      text.set(path, decoder.decode(data));
    } catch {
      problems.push({
        severity: 'error',
        code: 'binary-file',
        file: path,
        message: `${path}: not a UTF-8 text file`,
      });
    }
  }
  const result = await projectFromFilesWith(text, reader);
  const diagnostics = [...problems, ...result.diagnostics];
  if (!result.project || problems.length > 0) return { ok: false, diagnostics };
  return { ok: true, project: result.project, diagnostics, extras };
}

/** Every file under a folder (skipping `.git` and `node_modules`), as relative POSIX paths. */
export async function readFolderFiles(root: string): Promise<FileMap> {
  const files: FileMap = new Map();
  const walk = async (dir: string): Promise<void> => {
    for (const e of await readdir(dir, { withFileTypes: true }).catch(() => [])) {
      if (e.name === '.git' || e.name === 'node_modules' || e.name === '__pycache__') continue;
      const full = join(dir, e.name);
      if (e.isDirectory()) await walk(full);
      else if (e.isFile()) files.set(relative(root, full).split(sep).join('/'), await readFile(full));
    }
  };
  await walk(root);
  return files;
}

/** Replaces a folder's content by these files. */
export async function writeFolderFiles(root: string, files: FileMap): Promise<void> {
  await rm(root, { recursive: true, force: true });
  await writeFiles(root, files);
}

/** Writes these files into a folder, beside what it holds. */
export async function writeFiles(root: string, files: FileMap): Promise<void> {
  await mkdir(root, { recursive: true });
  for (const [path, data] of files) {
    const full = join(root, ...path.split('/'));
    await mkdir(dirname(full), { recursive: true });
    await writeFile(full, data);
  }
}
