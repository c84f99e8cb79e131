import { Client } from 'pg';
import { afterEach, describe, expect, it } from 'vitest';
import { makeTempDir, removeTree, TEST_PYTHON, useTestDatabase } from '@deepforge/engine/test-support';
import { EXECUTION_EVENTS_VERSION, type ProjectSummary } from '@deepforge/protocol';
import { startFixture, type ServerFixture } from './test-support/server-fixture.js';
import { TestSocket } from './test-support/ws-client.js';

const database = useTestDatabase('server');
const v = EXECUTION_EVENTS_VERSION;

describe('the web server on PostgreSQL', () => {
  let f: ServerFixture | undefined;
  let socket: TestSocket | undefined;
  let dataDir: string | undefined;
  afterEach(async () => {
    socket?.ws.close();
    await f?.cleanup();
    if (dataDir) await removeTree(dataDir);
  });

  it('creates and edits a project over REST, runs it with live events, and keeps it all across a restart', async () => {
    const url = await database.fresh();
    dataDir = await makeTempDir('server-pg');
    const open = (dir: string) =>
      startFixture({
        dataDir: dir,
        settings: { python: TEST_PYTHON, 'executions.concurrency': 4, 'database.url': url },
      });
    f = await open(dataDir);
    const base = (await f.server.listen(0)).replace('http:', 'ws:');
    socket = await TestSocket.open(`${base}/api/events`);
    await socket.next((m) => m.type === 'hello');
    socket.send({ type: 'hello', v, agent: 'test' });
    socket.send({ v, type: 'subscribe', executionId: '*' });
    await socket.next((m) => m.type === 'subscribed');

    const project = await f.createProject({ name: 'on postgres', example: 'hello' });
    const inject = f.server.app.inject.bind(f.server.app);
    const renamed = await inject({
      method: 'PATCH',
      url: `/api/projects/${project.id}`,
      payload: { name: 'renamed on postgres', description: 'kept in PostgreSQL' },
    });
    expect(renamed.statusCode, renamed.body).toBe(200);
    const added = await inject({
      method: 'POST',
      url: `/api/projects/${project.id}/pipelines`,
      payload: { name: 'fresh' },
    });
    expect(added.statusCode, added.body).toBe(201);

    const started = await inject({
      method: 'POST',
      url: `/api/projects/${project.id}/executions`,
      payload: { pipeline: 'hello' },
    });
    expect(started.statusCode, started.body).toBe(201);
    const id = started.json<{ id: string }>().id;
    await socket.next((m) => m.type === 'execution.status' && m.executionId === id && m.status === 'success');
    const mine = socket.messages.filter((m) => (m as { executionId?: string }).executionId === id);
    expect(mine.some((m) => (m as { type: string }).type === 'job.status')).toBe(true);
    expect(mine.some((m) => (m as { type: string }).type === 'job.logs')).toBe(true);

    // The rows are in PostgreSQL: the project, its document's updates, the execution.
    const c = new Client({ connectionString: url });
    await c.connect();
    const counts = await c.query<{ projects: number; updates: number; executions: number }>(
      `select (select count(*)::int from projects) as projects,
              (select count(*)::int from document_updates) as updates,
              (select count(*)::int from executions) as executions`,
    );
    await c.end();
    expect(counts.rows[0]!.projects).toBe(1);
    expect(counts.rows[0]!.updates).toBeGreaterThan(0);
    expect(counts.rows[0]!.executions).toBe(1);

    // Another server, with a data dir of its own, reads it all back from PostgreSQL (the document too: the added
    // pipeline is there); only blobs and logs live in the data dir.
    socket.ws.close();
    socket = undefined;
    await f.cleanup();
    await removeTree(dataDir);
    dataDir = await makeTempDir('server-pg');
    f = await open(dataDir);
    const again = await f.server.app.inject({ url: `/api/projects/${project.id}` });
    expect(again.json<ProjectSummary>()).toMatchObject({
      name: 'renamed on postgres',
      description: 'kept in PostgreSQL',
    });
    expect(
      (await f.server.app.inject({ url: `/api/projects/${project.id}/pipelines/fresh` })).statusCode,
    ).toBe(200);
    const executions = await f.server.app.inject({ url: `/api/projects/${project.id}/executions` });
    expect(executions.json<{ items: { id: string; status: string }[] }>().items).toEqual([
      expect.objectContaining({ id, status: 'success' }),
    ]);
  });
});
