import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import BetterSqlite3 from 'better-sqlite3';
import { Kysely, PostgresDialect, SqliteDialect, sql } from 'kysely';
import { Pool } from 'pg';
import { describe, expect, it } from 'vitest';
import { DatabaseError } from '../errors.js';
import { useTestDatabase } from '../test-support/postgres-server.js';
import type { EngineStores } from './database.store.js';
import type { Database } from './kysely.database.js';
import { writeMetricRows0005 } from './metric-rows-0005.writer.js';
import { openPostgresStores } from './postgres.store.js';
import { openSqliteStores } from './sqlite.store.js';
import { migrateUpTo } from './store.migrations.js';
import type { MetricRecord } from './telemetry.store.js';

/** A point as the 0005 schema held it, read straight from its `metrics` table. */
interface StoredRow {
  job_id: string;
  name: string;
  seq: number;
  x: number;
  step: number | null;
  value: number;
  t: number;
}

/** Three series of two jobs, one of them over several blocks of 1,024 with values that test every bit. */
function oldPoints(): MetricRecord[] {
  const rows: MetricRecord[] = [];
  for (let i = 0; i < 2600; i++)
    rows.push({
      jobId: 'ex1.a',
      name: 'loss',
      step: i % 9 === 4 ? null : i + 0.5,
      value: i === 3 ? Number.MIN_VALUE : i === 5 ? -Number.MAX_VALUE : Math.sin(i) * 10 ** ((i % 50) - 25),
      t: 1_764_900_000_000 + Math.floor(i / 3),
    });
  for (let i = 0; i < 1500; i++)
    rows.push({ jobId: 'ex1.a', name: 'back', step: (i * 31) % 700, value: i / 3, t: 5 + i });
  rows.push({ jobId: 'ex1.b', name: 'acc', step: null, value: 0.1, t: 9 });
  return rows;
}

/** Migrates to 0005, stores the points as it did (in uneven batches), and reads back its rows. */
async function storeUnder0005(db: Kysely<unknown>): Promise<StoredRow[]> {
  await migrateUpTo(db, '0005_metric_series');
  await sql`insert into executions (id, name, project, pipeline, status, created_at, options, snapshot)
    values ('ex1', 'old', 'p', 'q', 'success', 1, '{}', '{}')`.execute(db);
  for (const [id, position] of [
    ['ex1.a', 0],
    ['ex1.b', 1],
  ] as const)
    await sql`insert into jobs (id, execution_id, position, node, operation, status)
      values (${id}, 'ex1', ${position}, ${id.slice(4)}, 'A', 'success')`.execute(db);
  const points = oldPoints();
  for (const [a, b] of [
    [0, 1],
    [1, 1024],
    [1024, 1030],
    [1030, points.length],
  ] as const)
    await writeMetricRows0005(db as unknown as Kysely<Database>, points.slice(a, b), () => Promise.resolve());
  const { rows } = await sql<{
    job_id: string;
    name: string;
    id: number | string;
    series_id: number;
    x: number;
    step: number | null;
    value: number;
    t: number | string;
  }>`select s.job_id, s.name, m.id, m.series_id, m.x, m.step, m.value, m.t from metrics m
      join metric_series s on s.id = m.series_id order by m.id`.execute(db);
  expect(rows.length).toBe(points.length);
  return rows.map((r) => ({
    job_id: r.job_id,
    name: r.name,
    seq: Number(r.id) - r.series_id * 2 ** 28,
    x: r.x,
    step: r.step,
    value: r.value,
    t: Number(r.t),
  }));
}

/** After 0006: every stored row read back through the store, each number compared bit for bit (Object.is). */
async function expectSame(stores: EngineStores, before: StoredRow[]): Promise<void> {
  const series = new Map<string, StoredRow[]>();
  for (const r of before) {
    const key = `${r.job_id}\u0000${r.name}`;
    series.set(key, [...(series.get(key) ?? []), r]);
  }
  for (const [key, rows] of series) {
    const [jobId, name] = key.split('\u0000') as [string, string];
    const back = await stores.telemetry.readMetricPoints(jobId, name, 0, 10_000);
    expect(back.length).toBe(rows.length);
    rows.forEach((want, i) => {
      const got = back[i]!;
      const same = [got.seq, got.x, got.step, got.value, got.t].every((v, k) =>
        Object.is(v, [want.seq, want.x, want.step, want.value, want.t][k]),
      );
      if (!same)
        expect({ name, ...got }).toEqual({
          name,
          seq: want.seq,
          x: want.x,
          step: want.step,
          value: want.value,
          t: want.t,
        });
    });
  }
  expect(await stores.telemetry.listMetricSeries('ex1.a')).toMatchObject([
    { name: 'loss', count: 2600, sorted: true },
    { name: 'back', count: 1500, sorted: false },
  ]);
  // The pyramid's levels 2… stayed: a coarse view is their summaries, and they agree with the points.
  const loss = before.filter((r) => r.name === 'loss');
  const view = await stores.telemetry.readMetricView('ex1.a', 'loss', { width: 10 });
  // Columns of 5 level-2 buckets (64 points each).
  expect(view?.columnSize).toBe(320);
  expect(view?.columns?.n).toEqual([...Array<number>(8).fill(320), 40]);
  expect(view?.columns?.maxY[0]).toBe(Math.max(...loss.slice(0, 320).map((r) => r.value)));
  expect(view?.columns?.minY[8]).toBe(Math.min(...loss.slice(2560).map((r) => r.value)));
  // Logging goes on after the last converted point, in its partial block.
  await stores.telemetry.appendMetrics([{ jobId: 'ex1.a', name: 'loss', step: null, value: 7, t: 10 }]);
  const [last] = await stores.telemetry.readMetricPoints('ex1.a', 'loss', 2599, 5);
  expect(last).toMatchObject({ seq: 2599 });
  expect((await stores.telemetry.readMetricPoints('ex1.a', 'loss', 2600, 5))[0]).toMatchObject({
    seq: 2600,
    x: loss.at(-1)!.x + 1,
    step: null,
    value: 7,
  });
}

/** The database after 0006: no `metrics` table, no level-1 buckets. */
async function expectBlocksOnly(db: Kysely<unknown>): Promise<void> {
  await expect(sql`select count(*) from metrics`.execute(db)).rejects.toThrow();
  const { rows } = await sql<{
    n: number | string;
  }>`select count(*) as n from metric_buckets where level = 1`.execute(db);
  expect(Number(rows[0]!.n)).toBe(0);
  const blocks = await sql<{ n: number | string }>`select count(*) as n from metric_blocks`.execute(db);
  // loss: 3 blocks, back: 2, acc: 1.
  expect(Number(blocks.rows[0]!.n)).toBe(6);
}

describe('migration 0006: metric points packed into blocks', () => {
  it('on SQLite, every value, step and time as it was', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'df-metrics-0006-'));
    const file = join(dir, 'deepforge.db');
    try {
      const old = new Kysely<unknown>({ dialect: new SqliteDialect({ database: new BetterSqlite3(file) }) });
      const before = await storeUnder0005(old);
      await old.destroy();
      const stores = await openSqliteStores(file);
      try {
        await expectSame(stores, before);
      } finally {
        await stores.close();
      }
      const after = new Kysely<unknown>({
        dialect: new SqliteDialect({ database: new BetterSqlite3(file) }),
      });
      try {
        await expectBlocksOnly(after);
      } finally {
        await after.destroy();
      }
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('on SQLite, a point missing from a series is named and nothing changes', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'df-metrics-0006-'));
    const file = join(dir, 'deepforge.db');
    try {
      const old = new Kysely<unknown>({ dialect: new SqliteDialect({ database: new BetterSqlite3(file) }) });
      const before = await storeUnder0005(old);
      const gone = before.find((r) => r.name === 'loss' && r.seq === 1500)!;
      await sql`delete from metrics where value = ${gone.value} and t = ${gone.t}`.execute(old);
      await old.destroy();
      const error = await openSqliteStores(file).then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(error).toBeInstanceOf(DatabaseError);
      expect((error as Error).message).toMatch(/0006_metric_blocks.*has no point 1500/);
      // Still the 0005 schema with every row but the one deleted; no block written.
      const db = new Kysely<unknown>({ dialect: new SqliteDialect({ database: new BetterSqlite3(file) }) });
      try {
        const { rows } = await sql<{ n: number }>`select count(*) as n from metrics`.execute(db);
        expect(rows[0]!.n).toBe(before.length - 1);
        await expect(sql`select count(*) from metric_blocks`.execute(db)).rejects.toThrow(/no such table/);
      } finally {
        await db.destroy();
      }
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  const database = useTestDatabase('metrics0006');
  it('on PostgreSQL, every value, step and time as it was', async () => {
    const url = await database.fresh();
    const pool = () =>
      new Kysely<unknown>({ dialect: new PostgresDialect({ pool: new Pool({ connectionString: url }) }) });
    const old = pool();
    const before = await storeUnder0005(old);
    await old.destroy();
    const stores = await openPostgresStores(url);
    try {
      await expectSame(stores, before);
    } finally {
      await stores.close();
    }
    const after = pool();
    try {
      await expectBlocksOnly(after);
    } finally {
      await after.destroy();
    }
  });
});
