import type { Kysely, Selectable } from 'kysely';
import type { Database } from './kysely.database.js';
import type { ProjectRecord, ProjectStore, ProjectUpdate } from './project.store.js';

type ProjectRow = Selectable<Database['projects']>;

function toProject(r: ProjectRow): ProjectRecord {
  return {
    id: r.id,
    name: r.name,
    description: r.description,
    createdAt: Number(r.created_at),
    updatedAt: Number(r.updated_at),
    ...(r.forked_from
      ? { forkedFrom: JSON.parse(r.forked_from) as { projectId: string; version: string } }
      : {}),
    ...(r.folder ? { folder: r.folder } : {}),
  };
}

/** The project registry on any SQL database Kysely speaks. */
export class KyselyProjectStore implements ProjectStore {
  constructor(private readonly db: Kysely<Database>) {}

  async insertProject(project: ProjectRecord): Promise<ProjectRecord> {
    await this.db
      .insertInto('projects')
      .values({
        id: project.id,
        name: project.name,
        description: project.description,
        created_at: project.createdAt,
        updated_at: project.updatedAt,
        forked_from: !project.forkedFrom ? null : JSON.stringify(project.forkedFrom),
        folder: project.folder ?? null,
      })
      .execute();
    return (await this.getProject(project.id))!;
  }

  async getProject(id: string): Promise<ProjectRecord | undefined> {
    const r = await this.db.selectFrom('projects').selectAll().where('id', '=', id).executeTakeFirst();
    return r && toProject(r);
  }

  async getProjectByFolder(folder: string): Promise<ProjectRecord | undefined> {
    const r = await this.db
      .selectFrom('projects')
      .selectAll()
      .where('folder', '=', folder)
      .executeTakeFirst();
    return r && toProject(r);
  }

  async listProjects(): Promise<ProjectRecord[]> {
    const rows = await this.db.selectFrom('projects').selectAll().orderBy('name').orderBy('id').execute();
    return rows.map(toProject);
  }

  async updateProject(id: string, update: ProjectUpdate): Promise<ProjectRecord | undefined> {
    const cols: Partial<Database['projects']> = {};
    if (update.name !== undefined) cols.name = update.name;
    if (update.description !== undefined) cols.description = update.description;
    if (update.updatedAt !== undefined) cols.updated_at = update.updatedAt;
    if (Object.keys(cols).length > 0)
      await this.db.updateTable('projects').set(cols).where('id', '=', id).execute();
    return this.getProject(id);
  }

  async deleteProject(id: string): Promise<boolean> {
    const res = await this.db.deleteFrom('projects').where('id', '=', id).executeTakeFirst();
    return Number(res.numDeletedRows) === 1;
  }
}
