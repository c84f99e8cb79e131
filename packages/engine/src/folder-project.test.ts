import { cp, mkdir, rename, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import BetterSqlite3 from 'better-sqlite3';
import { Kysely, SqliteDialect, sql } from 'kysely';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { projectFromUpdates } from '@deepforge/protocol';
import { ProjectFolderError } from './errors.js';
import { registerFolderProject } from './folder-project.js';
import { loadProjectFolder } from './project-folder.js';
import { migrateUpTo } from './store/store.migrations.js';
import { openSqliteStores } from './store/sqlite.store.js';
import { openPostgresStores } from './store/postgres.store.js';
import { useTestDatabase } from './test-support/postgres-server.js';
import type { DatabaseStores } from './store/database.store.js';
import { makeTempDir, removeTree } from './test-support/temp-dir.js';

const HELLO = fileURLToPath(new URL('../../../examples/hello/', import.meta.url));

let tmp: string;
let stores: DatabaseStores;
let t = 1_000;
const deps = () => ({ projects: stores.projects, documents: stores.documents, now: () => ++t });
/** The same folder registered at the same time through this test's stores and through `other` (another process's). */
const registerAtOnce = (
  other: Pick<DatabaseStores, 'projects' | 'documents'>,
  dir: string,
  project: Parameters<typeof registerFolderProject>[2],
) =>
  Promise.all([
    registerFolderProject(deps(), dir, project),
    registerFolderProject(
      { projects: other.projects, documents: other.documents, now: () => ++t },
      dir,
      project,
    ),
  ]);
/** A second connection to the same database (another process's). */
let openAgain: () => Promise<DatabaseStores>;

beforeEach(async () => {
  tmp = await makeTempDir('folder-project');
  openAgain = () => openSqliteStores(join(tmp, 'deepforge.db'));
  stores = await openAgain();
});
afterEach(async () => {
  await stores.close();
  await removeTree(tmp);
});

async function copyHello(name: string): Promise<string> {
  const dir = join(tmp, name);
  await cp(HELLO, dir, { recursive: true });
  return dir;
}

async function documentOf(id: string) {
  return projectFromUpdates((await stores.documents.loadUpdates(id)).map((u) => u.update));
}

describe('registerFolderProject', () => {
  it('registers a folder once, finds it by its real path, and brings only changes into its document', async () => {
    const dir = await copyHello('hello');
    const { project } = await loadProjectFolder(dir);
    const first = await registerFolderProject(deps(), dir, project);
    expect(first).toMatchObject({ created: true, updated: true, project: { name: 'hello', folder: dir } });
    expect((await documentOf(first.project.id)).operations.Print?.code).toBe(project.operations.Print?.code);

    // Unchanged: the same project, nothing written.
    const rows = await stores.documents.countUpdates(first.project.id);
    const again = await registerFolderProject(deps(), join(dir, '.'), project);
    expect(again).toMatchObject({ created: false, updated: false, project: { id: first.project.id } });
    expect(await stores.documents.countUpdates(first.project.id)).toBe(rows);

    // Through a symbolic link: the same folder, the same project.
    await symlink(dir, join(tmp, 'link'));
    expect((await registerFolderProject(deps(), join(tmp, 'link'), project)).project.id).toBe(
      first.project.id,
    );

    // A changed operation and manifest name: one more row, the new content, the new name.
    await writeFile(
      join(dir, 'operations', 'Print.py'),
      'class Print():\n    def execute(self, message, value):\n        print(message)\n        return value\n',
    );
    const changed = await loadProjectFolder(dir);
    changed.project.manifest.name = 'renamed';
    const third = await registerFolderProject(deps(), dir, changed.project);
    expect(third).toMatchObject({ created: false, updated: true, project: { name: 'renamed' } });
    expect(await stores.documents.countUpdates(first.project.id)).toBe(rows + 1);
    const doc = await documentOf(first.project.id);
    expect(doc.operations.Print?.code).toContain('print(message)');
    expect(doc.manifest.name).toBe('renamed');
    expect(await stores.projects.listProjects()).toHaveLength(1);
  });

  it('makes a moved folder a new project, and registers one that was deleted again', async () => {
    const dir = await copyHello('before');
    const { project } = await loadProjectFolder(dir);
    const first = await registerFolderProject(deps(), dir, project);
    await rename(dir, join(tmp, 'after'));
    const moved = await registerFolderProject(deps(), join(tmp, 'after'), project);
    expect(moved.created).toBe(true);
    expect(moved.project.id).not.toBe(first.project.id);

    await stores.projects.deleteProject(moved.project.id);
    await stores.documents.deleteDocument(moved.project.id);
    const back = await registerFolderProject(deps(), join(tmp, 'after'), project);
    expect(back.created).toBe(true);
    expect((await documentOf(back.project.id)).pipelines.hello).toBeDefined();
  });

  it('gives two registrations of one new folder at once one project', async () => {
    const dir = await copyHello('race');
    const { project } = await loadProjectFolder(dir);
    const other = await openAgain();
    try {
      const [a, b] = await registerAtOnce(other, dir, project);
      expect(a.project.id).toBe(b.project.id);
      expect(await stores.projects.listProjects()).toHaveLength(1);
      // The loser's document is gone: only the project's is stored.
      expect(await stores.documents.listDocuments()).toEqual([a.project.id]);
    } finally {
      await other.close();
    }
  });

  it('refuses a folder that does not exist, naming it', async () => {
    const { project } = await loadProjectFolder(HELLO);
    const missing = join(tmp, 'nowhere');
    const err = await registerFolderProject(deps(), missing, project).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ProjectFolderError);
    expect((err as Error).message).toContain(`cannot read the project folder ${missing}: ENOENT`);
    expect(await stores.projects.listProjects()).toEqual([]);
  });
});

describe('migration 0009', () => {
  it('keeps the projects of an 0008 database (no folder) and allows many of them', async () => {
    const file = join(tmp, 'old', 'deepforge.db');
    await mkdir(join(tmp, 'old'));
    const db = new Kysely<unknown>({ dialect: new SqliteDialect({ database: new BetterSqlite3(file) }) });
    await migrateUpTo(db, '0008_history');
    for (const id of ['p1', 'p2'])
      await sql`insert into projects (id, name, description, created_at, updated_at)
        values (${id}, 'web', null, 1, 2)`.execute(db);
    await db.destroy();
    const migrated = await openSqliteStores(file);
    try {
      const list = await migrated.projects.listProjects();
      expect(list.map((p) => [p.id, p.folder])).toEqual([
        ['p1', undefined],
        ['p2', undefined],
      ]);
      await migrated.projects.insertProject({
        id: 'f1',
        name: 'f',
        description: null,
        createdAt: 3,
        updatedAt: 3,
        folder: '/x',
      });
      await expect(
        migrated.projects.insertProject({
          id: 'f2',
          name: 'f',
          description: null,
          createdAt: 3,
          updatedAt: 3,
          folder: '/x',
        }),
      ).rejects.toThrow(/UNIQUE/);
      expect((await migrated.projects.getProjectByFolder('/x'))?.id).toBe('f1');
    } finally {
      await migrated.close();
    }
  });
});

describe('registerFolderProject on PostgreSQL', () => {
  const database = useTestDatabase('folder_project');

  it('registers, finds and updates a folder project, and two registrations at once make one', async () => {
    const url = await database.fresh();
    const sqlite = stores;
    stores = await openPostgresStores(url);
    const other = await openPostgresStores(url);
    try {
      const dir = await copyHello('pg');
      const { project } = await loadProjectFolder(dir);
      const [a, b] = await registerAtOnce(other, dir, project);
      expect(a.project.id).toBe(b.project.id);
      expect((await stores.projects.getProjectByFolder(dir))?.id).toBe(a.project.id);
      project.operations.Print!.code += '\n# changed\n';
      expect(await registerFolderProject(deps(), dir, project)).toMatchObject({
        created: false,
        updated: true,
      });
      expect((await documentOf(a.project.id)).operations.Print?.code).toContain('# changed');
      expect(await stores.documents.listDocuments()).toEqual([a.project.id]);
    } finally {
      await other.close();
      await stores.close();
      stores = sqlite;
    }
  });
});
