import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { Client } from 'pg';
import { afterEach, describe, expect, it } from 'vitest';
import { openEngine } from './engine.js';
import { DatabaseError } from './errors.js';
import { engineFixture, type EngineFixture } from './test-support/engine-fixture.js';
import { useTestDatabase } from './test-support/postgres-server.js';
import { cleanEnv, REPORTING_CHAIN } from './test-support/project-files.js';
import { makeTempDir, removeTree } from './test-support/temp-dir.js';

const database = useTestDatabase('engine');

const files = REPORTING_CHAIN;

describe('engine on PostgreSQL', () => {
  let f: EngineFixture | undefined;
  afterEach(async () => {
    await f?.cleanup();
    f = undefined;
  });

  it('runs a pipeline end to end, caches on a second run, and finds everything again after a restart', async () => {
    const url = await database.fresh();
    f = await engineFixture({ 'database.url': url, 'executions.concurrency': 2 });
    const { dir, project } = await f.project(files);

    const first = await (
      await f.engine.startExecution({ project, projectDir: dir, pipelineName: 'main' })
    ).done;
    expect(first.status).toBe('success');
    expect(first.jobs.map((j) => [j.node, j.status])).toEqual([
      ['six', 'success'],
      ['double', 'success'],
      ['report', 'success'],
      ['save', 'success'],
    ]);
    const telemetry = await f.engine.getJobTelemetry(first.id, 'report');
    expect(telemetry.metrics.map((m) => [m.step, m.name, m.value])).toEqual([
      [0, 'value', 12],
      [1, 'value', 13],
      [2, 'value', 14],
    ]);
    expect((await f.engine.readJobLog(first.id, 'report')).text).toContain('value is 12');
    expect(f.events.filter((e) => e.executionId === first.id && e.type === 'execution.status').length).toBe(
      2,
    );

    const second = await (
      await f.engine.startExecution({ project, projectDir: dir, pipelineName: 'main', cache: true })
    ).done;
    expect(second.jobs.map((j) => j.status)).toEqual(['success', 'cached', 'cached', 'success']);

    // A restart finds the executions and artifacts in PostgreSQL; the data dir has no SQLite file.
    await f.engine.close();
    const engine = await f.reopen();
    expect((await engine.listExecutions()).map((e) => [e.id, e.status])).toEqual([
      [second.id, 'success'],
      [first.id, 'success'],
    ]);
    expect((await engine.getArtifact('result')).size).toBeGreaterThan(0);
    expect(existsSync(join(f.dataDir, 'deepforge.db'))).toBe(false);

    const c = new Client({ connectionString: url });
    await c.connect();
    const { rows } = await c.query<{ n: number }>('select count(*)::int as n from jobs');
    await c.end();
    expect(rows[0]!.n).toBe(8);
  });

  it('does not open with an unreachable database, naming host and port and hiding the password', async () => {
    const dataDir = await makeTempDir('engine-pg');
    try {
      const err = await openEngine({
        dataDir,
        env: cleanEnv({ DEEPFORGE_DATABASE_URL: 'postgres://df:hunter2@127.0.0.1:1/deepforge' }),
      }).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(DatabaseError);
      expect((err as Error).message).toContain('cannot reach PostgreSQL at 127.0.0.1:1');
      expect((err as Error).message).toContain('postgres://df:***@127.0.0.1:1/deepforge');
      expect((err as Error).message).not.toContain('hunter2');
    } finally {
      await removeTree(dataDir);
    }
  });
});
