import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import BetterSqlite3 from 'better-sqlite3';
import { Kysely, PostgresDialect, SqliteDialect, sql } from 'kysely';
import { Pool } from 'pg';
import { describe, expect, it } from 'vitest';
import { useTestDatabase } from '../test-support/postgres-server.js';
import type { EngineStores } from './database.store.js';
import { openPostgresStores } from './postgres.store.js';
import { openSqliteStores } from './sqlite.store.js';
import { migrateUpTo } from './store.migrations.js';

/**
 * Metrics stored before migration 0005 (one row per value, job and name on each row) are in their series after it,
 * in the order logged, with the x they were drawn at, and their pyramid built.
 */
async function storeOldMetrics(db: Kysely<unknown>): Promise<void> {
  await migrateUpTo(db, '0003_accounts');
  await sql`insert into executions (id, name, project, pipeline, status, created_at, options, snapshot)
    values ('ex1', 'old', 'p', 'q', 'success', 1, '{}', '{}')`.execute(db);
  await sql`insert into jobs (id, execution_id, position, node, operation, status)
    values ('ex1.a', 'ex1', 0, 'a', 'A', 'success')`.execute(db);
  // Without steps and logged in the same millisecond: the stored order decides.
  for (const [step, name, value, t] of [
    [null, 'acc', 0.1, 5],
    [null, 'acc', 0.2, 5],
    [0, 'loss', 3, 4],
    [null, 'acc', 0.3, 5],
    [1, 'loss', 2, 6],
  ] as const) {
    await sql`insert into metrics (job_id, step, name, value, t) values ('ex1.a', ${step}, ${name}, ${value}, ${t})`.execute(
      db,
    );
  }
  const many = Array.from(
    { length: 3000 },
    (_, i) => sql`('ex1.a', ${i + 2}, 'loss', ${i === 1234 ? 99 : 1}, 7)`,
  );
  await sql`insert into metrics (job_id, step, name, value, t) values ${sql.join(many)}`.execute(db);
}

async function check(stores: EngineStores): Promise<void> {
  expect(await stores.telemetry.listMetricSeries('ex1.a')).toEqual([
    { name: 'acc', count: 3, minX: 0, maxX: 2, lastX: 2, lastY: 0.3, sorted: true },
    { name: 'loss', count: 3002, minX: 0, maxX: 3001, lastX: 3001, lastY: 1, sorted: true },
  ]);
  const acc = await stores.telemetry.readMetricView('ex1.a', 'acc', { width: 10 });
  expect([...acc!.exact!.y]).toEqual([0.1, 0.2, 0.3]);
  const loss = await stores.telemetry.readMetricView('ex1.a', 'loss', { width: 50 });
  expect(Math.max(...loss!.columns!.maxY)).toBe(99);
  expect(loss!.columns!.n.reduce((a, b) => a + b, 0)).toBe(3002);
  expect((await stores.telemetry.listMetrics('ex1.a')).length).toBe(3005);
}

describe('migration 0005: metrics stored before it', () => {
  it('on SQLite', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'df-metrics-0005-'));
    const file = join(dir, 'deepforge.db');
    try {
      const old = new Kysely<unknown>({ dialect: new SqliteDialect({ database: new BetterSqlite3(file) }) });
      await storeOldMetrics(old);
      await old.destroy();
      const stores = await openSqliteStores(file);
      try {
        await check(stores);
      } finally {
        await stores.close();
      }
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  const database = useTestDatabase('metrics0005');
  it('on PostgreSQL', async () => {
    const url = await database.fresh();
    const old = new Kysely<unknown>({
      dialect: new PostgresDialect({ pool: new Pool({ connectionString: url }) }),
    });
    await storeOldMetrics(old);
    await old.destroy();
    const stores = await openPostgresStores(url);
    try {
      await check(stores);
    } finally {
      await stores.close();
    }
  });
});
