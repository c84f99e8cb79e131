import { lstat, readdir, readFile, rm } from 'node:fs/promises';
import { join, relative, sep } from 'node:path';
import {
  projectFromFiles,
  projectFromFilesUnread,
  projectToFiles,
  sortDiagnosticsByFile,
  type Diagnostic,
  type Project,
  type ProjectFromFilesResult,
} from '@deepforge/core';
import { ProjectFolderError } from './errors.js';
import type { OperationReader } from './operation-reader.js';
import { writeFileAtomic } from './settings.js';

/** The folders of the project format whose files the model owns (see docs/project-format.md). */
const CODE_DIRS = ['operations', 'pipelines', 'utils', 'serializers', 'resources'] as const;
const ARTIFACTS_DIR = 'artifacts';
const MANIFEST = 'deepforge.json';
/** Larger files are not source code; reading them whole would only waste memory. */
const MAX_TEXT_BYTES = 16 * 1024 * 1024;

function isIgnorable(rel: string): boolean {
  return (
    rel.split('/').some((part) => part.startsWith('.') || part === '__pycache__') || rel.endsWith('.pyc')
  );
}

async function walk(root: string, dir: string, out: string[]): Promise<void> {
  let entries;
  try {
    entries = await readdir(dir, { withFileTypes: true });
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return;
    throw err;
  }
  for (const e of entries) {
    const full = join(dir, e.name);
    const rel = relative(root, full).split(sep).join('/');
    if (isIgnorable(rel)) continue;
    if (e.isDirectory()) await walk(root, full, out);
    else if (e.isFile()) out.push(rel);
  }
}

/** The files of a project folder that belong to the model: relative POSIX paths. */
async function modelFiles(dir: string): Promise<string[]> {
  const files: string[] = [];
  for (const d of CODE_DIRS) await walk(dir, join(dir, d), files);
  const artifacts: string[] = [];
  await walk(dir, join(dir, ARTIFACTS_DIR), artifacts);
  // artifacts/ also holds the data files references point at: only the references are the model's.
  files.push(...artifacts.filter((f) => f.endsWith('.json') && f.split('/').length === 2));
  return files.sort();
}

/**
 * core's projectFromFiles, with the operations read by `reader` (off the event loop) when one is given.
 */
export async function projectFromFilesWith(
  files: ReadonlyMap<string, string>,
  reader: OperationReader | undefined,
): Promise<ProjectFromFilesResult> {
  if (!reader) return projectFromFiles(files);
  const { project, diagnostics, operations } = projectFromFilesUnread(files);
  const read = await reader.readProject({ operations });
  return { project, diagnostics: sortDiagnosticsByFile([...diagnostics, ...read.diagnostics]) };
}

/**
 * Reads a project folder: every text file of the format's folders, parsed by core (operations by `reader` when
 * given). Errors (a missing folder or manifest, malformed JSON, …) throw a ProjectFolderError carrying the
 * diagnostics; warnings do not.
 */
export async function loadProjectFolder(
  dir: string,
  reader?: OperationReader,
): Promise<{ project: Project; diagnostics: Diagnostic[] }> {
  const stat = await lstat(dir).catch(() => undefined);
  if (!stat?.isDirectory()) {
    throw new ProjectFolderError(
      dir,
      `${dir} is not a project folder: ${stat ? 'not a directory' : 'no such directory'}`,
      [],
    );
  }
  const files = new Map<string, string>();
  const problems: Diagnostic[] = [];
  for (const rel of [MANIFEST, ...(await modelFiles(dir))]) {
    const full = join(dir, rel);
    const s = await lstat(full).catch(() => undefined);
    if (!s) continue;
    if (s.size > MAX_TEXT_BYTES) {
      problems.push({
        severity: 'error',
        code: 'file-too-large',
        file: rel,
        message: `${rel}: larger than ${MAX_TEXT_BYTES} bytes`,
      });
      continue;
    }
    const bytes = await readFile(full);
    if (bytes.subarray(0, 8192).includes(0)) {
      problems.push({
        severity: 'error',
        code: 'binary-file',
        file: rel,
        message: `${rel}: not a text file`,
      });
      continue;
    }
    files.set(rel, bytes.toString('utf8'));
  }
  const result = await projectFromFilesWith(files, reader);
  const diagnostics = [...problems, ...result.diagnostics];
  if (!result.project || problems.length > 0) {
    throw new ProjectFolderError(
      dir,
      `cannot read the project in ${dir}`,
      diagnostics.filter((d) => d.severity === 'error'),
    );
  }
  return { project: result.project, diagnostics };
}

/**
 * Writes a project into a folder in the project format: each file atomically (and only when it changed), and
 * the files of entities that are no longer in the project removed. Files the format does not own (a README,
 * artifact data files, `__init__.py`) are left alone.
 */
export async function saveProjectFolder(
  dir: string,
  project: Project,
): Promise<{ written: string[]; removed: string[] }> {
  let files: Map<string, string>;
  try {
    files = projectToFiles(project);
  } catch (err) {
    throw new ProjectFolderError(dir, `cannot write the project: ${(err as Error).message}`, []);
  }
  const written: string[] = [];
  for (const [rel, content] of files) {
    const full = join(dir, ...rel.split('/'));
    const current = await readFile(full, 'utf8').catch(() => undefined);
    if (current === content) continue;
    await writeFileAtomic(full, content);
    written.push(rel);
  }
  const removed: string[] = [];
  for (const rel of await modelFiles(dir)) {
    if (files.has(rel)) continue;
    const owned =
      (rel.startsWith('pipelines/') && rel.endsWith('.json')) ||
      (rel.startsWith('resources/') && rel.endsWith('.json') && rel.split('/').length === 2) ||
      (rel.startsWith(`${ARTIFACTS_DIR}/`) && rel.endsWith('.json')) ||
      (/^(operations|utils|serializers)\//.test(rel) && rel.endsWith('.py') && !rel.endsWith('__init__.py'));
    if (!owned) continue;
    await rm(join(dir, ...rel.split('/')), { force: true });
    removed.push(rel);
  }
  return { written, removed };
}
