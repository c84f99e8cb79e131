import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ExecutionStatus } from '@deepforge/core';
import type { NewExecution } from './execution.store.js';
import { openSqliteStores, type SqliteStores } from './sqlite.store.js';

const STATUSES: ExecutionStatus[] = ['pending', 'running', 'success', 'failed', 'canceled'];
const T0 = 1_700_000_000_000;

describe('executions list on the database (10,000 executions)', () => {
  let dir: string;
  let stores: SqliteStores;
  const all: (NewExecution & { projectId: string })[] = [];

  beforeAll(async () => {
    // On tmpfs when there is one: 10,000 durable commits on a disk would be most of the test's time.
    dir = await mkdtemp(join(existsSync('/dev/shm') ? '/dev/shm' : tmpdir(), 'df-query-'));
    stores = await openSqliteStores(join(dir, 'deepforge.db'));
    for (let i = 0; i < 10_000; i++) {
      all.push({
        id: `e${String(i).padStart(5, '0')}`,
        projectId: i % 10 === 0 ? 'other' : 'p1',
        name: i % 7 === 0 ? `Train_%_${i}` : `run ${i}`,
        project: 'proj',
        pipeline: i % 3 === 0 ? 'train' : 'hello',
        status: STATUSES[i % STATUSES.length]!,
        createdAt: T0 + i * 1000,
        options: {},
        snapshot: {},
      });
    }
    // Through the store, one execution (and its one job) at a time, as the engine stores them.
    for (const e of all)
      await stores.executions.insertExecution(e, [
        { id: `${e.id}.a`, executionId: e.id, node: 'a', operation: 'A' },
      ]);
    // Started and ended times for the ones that ran: duration = (i % 97) seconds.
    const db = stores.executions;
    for (const e of all.filter((x) => x.status !== 'pending').slice(0, 2000)) {
      const i = Number(e.id.slice(1));
      await db.updateExecution(e.id, {
        startedAt: T0 + i * 1000 + 10,
        endedAt: T0 + i * 1000 + 10 + (i % 97) * 1000,
      });
    }
  }, 120_000);

  afterAll(async () => {
    await stores.close();
    await rm(dir, { recursive: true, force: true });
  });

  it('pages, filters by project, status and search, sorts, and counts every match', async () => {
    const matches = all.filter(
      (e) =>
        e.projectId === 'p1' &&
        (e.status === 'failed' || e.status === 'success') &&
        e.name.toLowerCase().includes('train_%'),
    );
    const query = {
      projectId: 'p1',
      statuses: ['failed', 'success'] as ExecutionStatus[],
      search: 'TRAIN_%',
      sort: 'name' as const,
      order: 'asc' as const,
      limit: 25,
      offset: 50,
    };
    const page = await stores.executions.queryExecutions(query);
    expect(page.total).toBe(matches.length);
    const expected = matches
      .sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : a.id < b.id ? -1 : 1))
      .slice(50, 75)
      .map((e) => e.id);
    expect(page.items.map((e) => e.id)).toEqual(expected);
  });

  it('searches the pipeline too, and takes `%` and `_` literally', async () => {
    const byPipeline = await stores.executions.queryExecutions({
      projectId: 'p1',
      search: 'trai',
      limit: 1,
      offset: 0,
    });
    expect(byPipeline.total).toBe(
      all.filter(
        (e) => e.projectId === 'p1' && (e.pipeline === 'train' || e.name.toLowerCase().includes('trai')),
      ).length,
    );
    const literal = await stores.executions.queryExecutions({ search: '%', limit: 1, offset: 0 });
    expect(literal.total).toBe(all.filter((e) => e.name.includes('%')).length);
  });

  it('sorts by created (newest first by default), status and duration with never-started ones last', async () => {
    const newest = await stores.executions.queryExecutions({ projectId: 'p1', limit: 3, offset: 0 });
    expect(newest.items.map((e) => e.id)).toEqual(['e09999', 'e09998', 'e09997']);
    const byDuration = await stores.executions.queryExecutions({
      sort: 'duration',
      order: 'desc',
      limit: 5,
      offset: 0,
    });
    const durations = byDuration.items.map((e) => e.endedAt! - e.startedAt!);
    expect(durations.every((d) => d === 96_000)).toBe(true);
    const last = await stores.executions.queryExecutions({
      sort: 'duration',
      order: 'asc',
      limit: 1,
      offset: 9_999,
    });
    expect(last.items[0]!.startedAt).toBeNull();
    const byStatus = await stores.executions.queryExecutions({
      sort: 'status',
      order: 'asc',
      limit: 1,
      offset: 0,
    });
    expect(byStatus.items[0]!.status).toBe('canceled');
    const none = await stores.executions.queryExecutions({ statuses: [], limit: 10, offset: 0 });
    expect(none).toEqual({ items: [], total: 0 });
  });

  it('counts jobs by status for a page in one query', async () => {
    const counts = await stores.executions.countJobsByStatus(['e00001', 'e00002', 'nope']);
    expect(counts.get('e00001')).toEqual({ pending: 1 });
    expect(counts.get('nope')).toEqual({});
  });

  it('uses an index for the project-scoped, sorted list', async () => {
    // The query plan, not a timing: a full scan would say SCAN executions without USING INDEX.
    const { default: Database } = await import('better-sqlite3');
    const raw = new Database(join(dir, 'deepforge.db'), { readonly: true });
    try {
      const plan = raw
        .prepare(
          'explain query plan select * from executions where project_id = ? order by created_at desc, id desc limit 50',
        )
        .all('p1') as { detail: string }[];
      expect(plan.map((p) => p.detail).join('\n')).toMatch(
        /USING (COVERING )?INDEX executions_project_created/,
      );
    } finally {
      raw.close();
    }
  });
});

describe('project registry', () => {
  it('creates, lists by name, updates and deletes projects', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'df-projects-'));
    const stores = await openSqliteStores(join(dir, 'deepforge.db'));
    try {
      const p = stores.projects;
      await p.insertProject({ id: 'b1', name: 'Beta', description: null, createdAt: 1, updatedAt: 1 });
      await p.insertProject({ id: 'a1', name: 'Alpha', description: 'first', createdAt: 2, updatedAt: 2 });
      // A fork remembers where it came from (migration 0008).
      const forkedFrom = { projectId: 'a1', version: 'c'.repeat(40) };
      await p.insertProject({
        id: 'f1',
        name: 'Fork',
        description: null,
        createdAt: 3,
        updatedAt: 3,
        forkedFrom,
      });
      expect((await p.getProject('f1'))!.forkedFrom).toEqual(forkedFrom);
      expect(await p.deleteProject('f1')).toBe(true);
      expect((await p.listProjects()).map((x) => x.id)).toEqual(['a1', 'b1']);
      expect(await p.updateProject('b1', { name: 'Gamma', description: 'x', updatedAt: 5 })).toEqual({
        id: 'b1',
        name: 'Gamma',
        description: 'x',
        createdAt: 1,
        updatedAt: 5,
      });
      expect(await p.updateProject('nope', { name: 'x' })).toBeUndefined();
      expect(await p.deleteProject('a1')).toBe(true);
      expect(await p.deleteProject('a1')).toBe(false);
      expect(await p.getProject('a1')).toBeUndefined();
    } finally {
      await stores.close();
      await rm(dir, { recursive: true, force: true });
    }
  });
});
