import { join } from 'node:path';
import { withFileLock, writeFileAtomic } from '@deepforge/engine';
import { UsageError } from '../usage-error.js';
import { readServersFile } from './credentials-file.js';

export const SERVER_PROJECTS_FILE_NAME = 'server-projects.json';

/** The project `deepforge run --server` made on a server for one project folder. */
export interface ServerProject {
  projectId: string;
  /** The project's name when it was made (what deepforge.json said). */
  name: string;
  /** When a run last used it (ms since the epoch). */
  usedAt: number;
}

/**
 * `server-projects.json`: per server origin (`http://host:port`), per absolute project folder path, the project a
 * remote run made there, so the next run of that folder updates it instead of importing another copy. It holds
 * no secrets (tokens live in credentials.json).
 */
export interface ServerProjects {
  servers: Record<string, Record<string, ServerProject>>;
}

export function serverProjectsFilePath(dataDir: string): string {
  return join(dataDir, SERVER_PROJECTS_FILE_NAME);
}

function isServerProject(v: unknown): v is ServerProject {
  const p = v as Partial<ServerProject> | null;
  return (
    typeof p === 'object' &&
    p !== null &&
    typeof p.projectId === 'string' &&
    typeof p.name === 'string' &&
    typeof p.usedAt === 'number'
  );
}

export async function readServerProjects(file: string): Promise<ServerProjects> {
  const shape = '{"servers": {"<origin>": {"<folder>": {"projectId", "name", "usedAt"}}}}';
  const servers = await readServersFile(file, shape);
  for (const folders of Object.values(servers)) {
    const ok =
      typeof folders === 'object' &&
      folders !== null &&
      !Array.isArray(folders) &&
      Object.values(folders as Record<string, unknown>).every(isServerProject);
    if (!ok) throw new UsageError(`${file} must hold ${shape}; fix or delete it`);
  }
  return { servers: servers as ServerProjects['servers'] };
}

/**
 * Records the project of a folder on a server: the file is read again and replaced whole at once (readers see
 * the old or the new one), under its lock, so the other folders' entries stay, those another `run --server`
 * records at the same time included.
 */
export async function rememberServerProject(
  file: string,
  origin: string,
  folder: string,
  project: ServerProject,
): Promise<void> {
  await withFileLock(file, async () => {
    const all = await readServerProjects(file);
    all.servers[origin] = { ...all.servers[origin], [folder]: project };
    await writeFileAtomic(file, JSON.stringify(all, null, 2) + '\n');
  });
}
