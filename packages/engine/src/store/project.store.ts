/**
 * The project registry of the web server: which projects exist, with their name and description. Their content
 * lives in project documents (document.store.ts); their executions and artifacts carry the project id.
 */
export interface ProjectRecord {
  id: string;
  name: string;
  description: string | null;
  createdAt: number;
  updatedAt: number;
  /** The project and version it was forked from (docs/adr/0020), else null. */
  forkedFrom?: { projectId: string; version: string } | null;
  /**
   * A folder project (docs/adr/0028): the real path of the project folder `deepforge run` registered it for.
   * Its content is the folder's as of the last run; null or absent for a project of the web IDE.
   */
  folder?: string | null;
}

export type ProjectUpdate = Partial<Pick<ProjectRecord, 'name' | 'description' | 'updatedAt'>>;

export interface ProjectStore {
  insertProject(project: ProjectRecord): Promise<ProjectRecord>;
  getProject(id: string): Promise<ProjectRecord | undefined>;
  /** The folder project of this folder (its real path), if any. */
  getProjectByFolder(folder: string): Promise<ProjectRecord | undefined>;
  /** By name, then id. */
  listProjects(): Promise<ProjectRecord[]>;
  /** Undefined when there is no such project. */
  updateProject(id: string, update: ProjectUpdate): Promise<ProjectRecord | undefined>;
  deleteProject(id: string): Promise<boolean>;
}
