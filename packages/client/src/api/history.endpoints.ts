import type {
  DeletedItemsResponse,
  ProjectSummary,
  VersionDiff,
  VersionPage,
  VersionSummary,
  VersionTreeResponse,
} from '@deepforge/protocol';
import { queryString } from '../lib/query-params.js';
import { api, apiText } from './http.js';

/** A project's history (HISTORY-API.md, docs/adr/0020): versions are git commits of the project folder. */

const enc = encodeURIComponent;
const project = (id: string): string => `/api/projects/${enc(id)}`;
const version = (p: string, v: string): string => `${project(p)}/versions/${enc(v)}`;

/** How many versions one page of the History list asks for. */
export const VERSION_PAGE_SIZE = 50;

export interface VersionListParams {
  /** Searches message and author. */
  q?: string;
  /** The cursor of the page (absent: the newest). */
  cursor?: string;
  limit?: number;
}

/** The URL of one page of versions; what the History list pages through. */
export function versionsUrl(projectId: string, params: VersionListParams): string {
  return `${project(projectId)}/versions${queryString({
    limit: params.limit ?? VERSION_PAGE_SIZE,
    cursor: params.cursor,
    q: params.q?.trim(),
  })}`;
}

/** The URL of a diff: `from` absent means the parent of `to`; either may be `current` (the live project). */
export function diffUrl(projectId: string, to: string, from?: string): string {
  return `${project(projectId)}/diff${queryString({ from, to })}`;
}

export const listVersions = (
  projectId: string,
  params: VersionListParams,
  signal?: AbortSignal,
): Promise<VersionPage> => api(versionsUrl(projectId, params), signal ? { signal } : {});
export const getVersion = (projectId: string, versionId: string): Promise<VersionSummary> =>
  api(version(projectId, versionId));
export const nameVersion = (projectId: string, message: string): Promise<VersionSummary> =>
  api(`${project(projectId)}/versions`, { method: 'POST', body: { message } });
export const getVersionTree = (projectId: string, versionId: string): Promise<VersionTreeResponse> =>
  api(`${version(projectId, versionId)}/tree`);
export const getVersionFile = (projectId: string, versionId: string, path: string): Promise<string> =>
  apiText(`${version(projectId, versionId)}/file${queryString({ path })}`);
export const getDiff = (projectId: string, to: string, from?: string): Promise<VersionDiff> =>
  api(diffUrl(projectId, to, from));
/** Restores the whole project as at `versionId`, or only `paths`, as a new version on top. */
export const restoreVersion = (
  projectId: string,
  versionId: string,
  paths?: string[],
): Promise<VersionSummary> =>
  api(`${version(projectId, versionId)}/restore`, { method: 'POST', body: paths ? { paths } : {} });
export const listDeleted = (projectId: string): Promise<DeletedItemsResponse> =>
  api(`${project(projectId)}/deleted`);
export const forkProject = (projectId: string, name: string, versionId?: string): Promise<ProjectSummary> =>
  api(`${project(projectId)}/fork`, {
    method: 'POST',
    body: { name, ...(versionId ? { version: versionId } : {}) },
  });

/** Query keys of the history; `all` invalidates every one of a project (after a restore or a new version). */
export const historyKeys = {
  all: (projectId: string) => ['history', projectId] as const,
  versions: (projectId: string, q: string) => ['history', projectId, 'versions', q] as const,
  version: (projectId: string, id: string) => ['history', projectId, 'version', id] as const,
  diff: (projectId: string, to: string, from: string | undefined) =>
    ['history', projectId, 'diff', to, from ?? 'parent'] as const,
  deleted: (projectId: string) => ['history', projectId, 'deleted'] as const,
  tree: (projectId: string, id: string) => ['history', projectId, 'tree', id] as const,
  file: (projectId: string, id: string, path: string) => ['history', projectId, 'file', id, path] as const,
};
