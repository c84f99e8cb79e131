import { createServer } from 'node:net';
import { join } from 'node:path';
import BetterSqlite3 from 'better-sqlite3';
import { Client } from 'pg';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { DatabaseError } from '../errors.js';
import { useTestDatabase } from '../test-support/postgres-server.js';
import { makeTempDir, removeTree } from '../test-support/temp-dir.js';
import { openDatabase, SQLITE_FILE_NAME } from './database.opener.js';
import { LATEST_MIGRATION, MIGRATION_NAMES } from './store.migrations.js';

const FUTURE = '9999_from_a_newer_deepforge';

/** A port on 127.0.0.1 that nothing listens on (just closed). */
function closedPort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address() as { port: number };
      srv.close(() => resolve(port));
    });
  });
}

const database = useTestDatabase('opener');
let dataDir: string;
beforeEach(async () => {
  dataDir = await makeTempDir('opener');
});
afterEach(async () => {
  await removeTree(dataDir);
});

describe('openDatabase', () => {
  it('opens the SQLite file in the data dir when database.url is unset, PostgreSQL for a postgres:// URL', async () => {
    const sqlite = await openDatabase({ dataDir, values: { 'database.url': undefined } });
    expect(sqlite.dialect).toBe('sqlite');
    await sqlite.projects.insertProject({
      id: 'p1',
      name: 'one',
      description: null,
      createdAt: 1,
      updatedAt: 1,
    });
    await sqlite.close();
    const file = new BetterSqlite3(join(dataDir, SQLITE_FILE_NAME), { readonly: true });
    expect(file.prepare('select name from projects').all()).toEqual([{ name: 'one' }]);
    file.close();

    const url = await database.fresh();
    // Two processes opening a fresh database at once: one migrates, the other waits and finds the schema.
    const [pg, other] = await Promise.all([
      openDatabase({ dataDir, values: { 'database.url': url } }),
      openDatabase({ dataDir, values: { 'database.url': url.replace('postgres://', 'postgresql://') } }),
    ]);
    expect([pg.dialect, other.dialect]).toEqual(['postgres', 'postgres']);
    await pg.projects.insertProject({ id: 'p2', name: 'two', description: null, createdAt: 2, updatedAt: 2 });
    expect((await other.projects.listProjects()).map((p) => p.name)).toEqual(['two']);
    await Promise.all([pg.close(), other.close()]);
  });

  it('refuses a SQLite database that a newer DeepForge migrated, naming the migration, and leaves it as it was', async () => {
    const stores = await openDatabase({ dataDir, values: { 'database.url': undefined } });
    await stores.close();
    const file = join(dataDir, SQLITE_FILE_NAME);
    const raw = new BetterSqlite3(file);
    raw
      .prepare('insert into kysely_migration (name, timestamp) values (?, ?)')
      .run(FUTURE, new Date().toISOString());
    raw.close();

    const err = await openDatabase({ dataDir, values: { 'database.url': undefined } }).catch(
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(DatabaseError);
    expect((err as Error).message).toMatch(/was written by a newer DeepForge/);
    expect((err as Error).message).toContain(FUTURE);
    expect((err as Error).message).toContain(file);
    expect((err as Error).message).toContain(LATEST_MIGRATION);

    const after = new BetterSqlite3(file, { readonly: true });
    const names = after.prepare('select name from kysely_migration order by name').all() as {
      name: string;
    }[];
    after.close();
    expect(names.at(-1)).toEqual({ name: FUTURE });
    // Ours, all applied, and the newer one: nothing was added or taken away.
    expect(names).toHaveLength(MIGRATION_NAMES.length + 1);
  });

  it('refuses a PostgreSQL database that a newer DeepForge migrated, without the password in the message', async () => {
    const url = await database.fresh();
    await (await openDatabase({ dataDir, values: { 'database.url': url } })).close();
    const c = new Client({ connectionString: url });
    await c.connect();
    await c.query('insert into kysely_migration (name, timestamp) values ($1, $2)', [
      FUTURE,
      new Date().toISOString(),
    ]);

    const err = await openDatabase({ dataDir, values: { 'database.url': url } }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(DatabaseError);
    const message = (err as Error).message;
    expect(message).toMatch(
      /PostgreSQL database postgres:\/\/postgres:\*\*\*@127\.0\.0\.1:\d+\/\S+ was written by a newer DeepForge/,
    );
    expect(message).toContain(FUTURE);
    expect(message).not.toContain(new URL(url).password);
    const { rows } = await c.query('select count(*)::int as n from kysely_migration');
    expect(rows[0].n).toBe(MIGRATION_NAMES.length + 1);
    await c.query('delete from kysely_migration where name = $1', [FUTURE]);
    await c.end();
  });

  it('names host and port of an unreachable PostgreSQL, and never its password', async () => {
    const port = await closedPort();
    const url = `postgres://deepforge:hunter2@127.0.0.1:${port}/deepforge`;
    const err = await openDatabase({ dataDir, values: { 'database.url': url } }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(DatabaseError);
    const message = (err as Error).message;
    expect(message).toContain(`cannot reach PostgreSQL at 127.0.0.1:${port}: connection refused`);
    expect(message).toContain(`postgres://deepforge:***@127.0.0.1:${port}/deepforge`);
    expect(message).not.toContain('hunter2');
    expect(String((err as Error).stack)).not.toContain('hunter2');
  });

  it('says when PostgreSQL refuses the password, or has no such database', async () => {
    const good = new URL(database.url);
    const wrong = new URL(database.url);
    wrong.password = 'not-the-password';
    const err = await openDatabase({ dataDir, values: { 'database.url': wrong.toString() } }).catch(
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(DatabaseError);
    expect((err as Error).message).toMatch(
      new RegExp(`PostgreSQL at 127\\.0\\.0\\.1:${good.port} refused the password of user "postgres"`),
    );
    expect((err as Error).message).not.toContain('not-the-password');

    const missing = new URL(database.url);
    missing.pathname = '/no_such_database';
    const err2 = await openDatabase({ dataDir, values: { 'database.url': missing.toString() } }).catch(
      (e: unknown) => e,
    );
    expect((err2 as Error).message).toMatch(/has no database "no_such_database": create it/);
    expect((err2 as Error).message).not.toContain(good.password);
  });
});
