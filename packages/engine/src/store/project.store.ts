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
}

export type ProjectUpdate = Partial<Pick<ProjectRecord, 'name' | 'description' | 'updatedAt'>>;

export interface ProjectStore {
  insertProject(project: ProjectRecord): Promise<ProjectRecord>;
  getProject(id: string): Promise<ProjectRecord | undefined>;
  /** By name, then id. */
  listProjects(): Promise<ProjectRecord[]>;
  /** Undefined when there is no such project. */
  updateProject(id: string, update: ProjectUpdate): Promise<ProjectRecord | undefined>;
  deleteProject(id: string): Promise<boolean>;
}
