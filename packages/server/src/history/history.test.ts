import { HocuspocusProvider, HocuspocusProviderWebsocket } from '@hocuspocus/provider';
import { afterEach, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import * as Y from 'yjs';
import {
  deletePipeline,
  operationText,
  projectFromDoc,
  putOperation,
  renamePipeline,
  setNodeAttribute,
  type DeletedItemsResponse,
  type ExecutionDetailsDto,
  type ProjectSummary,
  type VersionDiff,
  type VersionPage,
  type VersionSummary,
} from '@deepforge/protocol';
import { startFixture, type ServerFixture } from '../test-support/server-fixture.js';

const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

async function fixture(): Promise<ServerFixture> {
  // Checkpoints only when a test asks: the quiet spell is longer than any test.
  const f = await startFixture({ historyQuietMs: 600_000, historyMaxChanges: 1_000_000 });
  cleanups.push(() => f.cleanup());
  return f;
}

async function json<T>(
  f: ServerFixture,
  method: 'GET' | 'POST',
  url: string,
  payload?: object,
  status = method === 'POST' ? 201 : 200,
): Promise<T> {
  const res = await f.server.app.inject({ method, url, ...(payload !== undefined ? { payload } : {}) });
  if (res.statusCode !== status) throw new Error(`${method} ${url}: ${res.statusCode} ${res.body}`);
  return res.json<T>();
}

function edit(f: ServerFixture, id: string, fn: (doc: Y.Doc) => void): Promise<void> {
  return f.server.documents.edit(id, fn);
}

describe('project history', () => {
  it('starts with a created version, makes named versions and checkpoints only when something changed', async () => {
    const f = await fixture();
    const p = await f.createProject({ name: 'h', example: 'hello' });
    const first = await json<VersionPage>(f, 'GET', `/api/projects/${p.id}/versions`);
    expect(first.versions).toHaveLength(1);
    expect(first.versions[0]!.kind).toBe('created');
    expect(first.versions[0]!.files.map((x) => x.path)).toContain('pipelines/hello.json');

    await edit(f, p.id, (doc) => setNodeAttribute(doc, 'hello', 'left', 'number', 5));
    const named = await json<VersionSummary>(f, 'POST', `/api/projects/${p.id}/versions`, {
      message: 'five',
    });
    expect(named).toMatchObject({
      kind: 'named',
      message: 'five',
      files: [{ path: 'pipelines/hello.json', change: 'modified' }],
    });
    // Nothing changed: a named version is still recorded (a label), a checkpoint is not.
    const label = await json<VersionSummary>(f, 'POST', `/api/projects/${p.id}/versions`, {
      message: 'label',
    });
    expect(label.files).toEqual([]);
    const head = await f.server.history.checkpoint(p.id);
    expect(head).toBe(label.id);
    await edit(f, p.id, (doc) =>
      putOperation(doc, 'Extra', 'class Extra():\n    def execute(self):\n        return 1\n'),
    );
    const cp = await f.server.history.checkpoint(p.id);
    const v = await json<VersionSummary>(f, 'GET', `/api/projects/${p.id}/versions/${cp}`);
    expect(v).toMatchObject({
      kind: 'checkpoint',
      message: '1 file changed',
      files: [{ path: 'operations/Extra.py', change: 'added' }],
    });

    // Paging, search and path filter.
    const page1 = await json<VersionPage>(f, 'GET', `/api/projects/${p.id}/versions?limit=2`);
    expect(page1.versions.map((x) => x.id)).toEqual([cp, label.id]);
    const page2 = await json<VersionPage>(
      f,
      'GET',
      `/api/projects/${p.id}/versions?limit=2&cursor=${page1.next}`,
    );
    expect(page2.versions.map((x) => x.message)).toEqual(['five', first.versions[0]!.message]);
    expect(page2.next).toBeUndefined();
    const found = await json<VersionPage>(f, 'GET', `/api/projects/${p.id}/versions?q=FIVE`);
    expect(found.versions.map((x) => x.id)).toEqual([named.id]);
    const byPath = await json<VersionPage>(
      f,
      'GET',
      `/api/projects/${p.id}/versions?path=pipelines/hello.json`,
    );
    expect(byPath.versions.map((x) => x.kind)).toEqual(['named', 'created']);

    const tree = await json<{ files: { path: string; size: number }[] }>(
      f,
      'GET',
      `/api/projects/${p.id}/versions/${named.id}/tree`,
    );
    expect(tree.files.map((x) => x.path)).not.toContain('operations/Extra.py');
    const file = await f.server.app.inject({
      url: `/api/projects/${p.id}/versions/${cp}/file?path=operations/Extra.py`,
    });
    expect(file.statusCode).toBe(200);
    expect(file.body).toContain('class Extra');
  });

  it('answers clear 400/404s: unknown version, bad cursor, a path outside the project, a missing file', async () => {
    const f = await fixture();
    const p = await f.createProject({ name: 'h', example: 'hello' });
    const unknown = 'a'.repeat(40);
    for (const url of [
      `/api/projects/${p.id}/versions/${unknown}`,
      `/api/projects/${p.id}/versions/${unknown}/tree`,
      `/api/projects/${p.id}/diff?to=${unknown}`,
    ]) {
      const res = await f.server.app.inject({ url });
      expect(res.statusCode, url).toBe(404);
      expect(res.json<{ message: string }>().message).toContain(unknown);
    }
    const restore = await f.server.app.inject({
      method: 'POST',
      url: `/api/projects/${p.id}/versions/${unknown}/restore`,
      payload: {},
    });
    expect(restore.statusCode).toBe(404);
    const cursor = await f.server.app.inject({ url: `/api/projects/${p.id}/versions?cursor=nope` });
    expect(cursor.statusCode).toBe(400);
    expect(cursor.json<{ message: string }>().message).toMatch(/cursor/);
    const head = (await json<VersionPage>(f, 'GET', `/api/projects/${p.id}/versions`)).versions[0]!.id;
    const outside = await f.server.app.inject({
      url: `/api/projects/${p.id}/versions/${head}/file?path=../../etc/passwd`,
    });
    expect(outside.statusCode).toBe(400);
    expect(outside.body).toMatch(/inside the project folder/);
    const missing = await f.server.app.inject({
      url: `/api/projects/${p.id}/versions/${head}/file?path=operations/Nope.py`,
    });
    expect(missing.statusCode).toBe(404);
    expect(missing.body).toContain('operations/Nope.py');
    const noProject = await f.server.app.inject({ url: `/api/projects/nosuchproject/versions` });
    expect(noProject.statusCode).toBe(404);
  });

  it('diffs versions and the current state, with a renamed pipeline reported as a rename', async () => {
    const f = await fixture();
    const p = await f.createProject({ name: 'h', example: 'hello' });
    const before = await f.server.history.checkpoint(p.id);
    await edit(f, p.id, (doc) => renamePipeline(doc, 'hello', 'greetings'));
    const current = await json<VersionDiff>(f, 'GET', `/api/projects/${p.id}/diff?from=${before}&to=current`);
    const renamed = current.files.find((x) => x.change === 'renamed');
    expect(renamed).toMatchObject({ path: 'pipelines/greetings.json', from: 'pipelines/hello.json' });
    expect(renamed!.before).toContain('"name": "hello"');
    expect(renamed!.after).toContain('"name": "greetings"');
    const after = await f.server.history.checkpoint(p.id);
    const diff = await json<VersionDiff>(f, 'GET', `/api/projects/${p.id}/diff?to=${after}`);
    expect(diff.from).toBe(before);
    expect(diff.files).toEqual([
      expect.objectContaining({ change: 'renamed', path: 'pipelines/greetings.json' }),
    ]);
  });

  it('restores the whole project, one file, and a deleted pipeline, as new versions on top', async () => {
    const f = await fixture();
    const p = await f.createProject({ name: 'h', example: 'hello' });
    const original = await f.server.history.checkpoint(p.id);
    await edit(f, p.id, (doc) => {
      setNodeAttribute(doc, 'hello', 'left', 'number', 9);
      deletePipeline(doc, 'basic-io');
      putOperation(
        doc,
        'Print',
        'class Print():\n    def execute(self, message, value):\n        return value\n',
      );
    });
    const deleted = await json<DeletedItemsResponse>(f, 'GET', `/api/projects/${p.id}/deleted`);
    expect(deleted.items).toEqual([
      expect.objectContaining({
        path: 'pipelines/basic-io.json',
        kind: 'pipeline',
        name: 'basic-io',
        lastVersion: original,
      }),
    ]);
    // One file: the deleted pipeline comes back, the other edits stay.
    const item = deleted.items[0]!;
    const one = await json<VersionSummary>(
      f,
      'POST',
      `/api/projects/${p.id}/versions/${item.lastVersion}/restore`,
      {
        paths: [item.path],
      },
    );
    expect(one).toMatchObject({
      kind: 'restore',
      files: [{ path: 'pipelines/basic-io.json', change: 'added' }],
    });
    let project = await f.server.documents.read(p.id, projectFromDoc);
    expect(Object.keys(project.pipelines).sort()).toEqual(['basic-io', 'hello']);
    expect(project.pipelines.hello!.nodes.find((n) => n.id === 'left')!.attributes.number).toBe(9);
    expect((await json<DeletedItemsResponse>(f, 'GET', `/api/projects/${p.id}/deleted`)).items).toEqual([]);
    const badPath = await f.server.app.inject({
      method: 'POST',
      url: `/api/projects/${p.id}/versions/${original}/restore`,
      payload: { paths: ['pipelines/none.json'] },
    });
    expect(badPath.statusCode).toBe(400);
    expect(badPath.body).toContain('pipelines/none.json');

    // Whole: everything as it was; the history keeps every later version.
    const whole = await json<VersionSummary>(
      f,
      'POST',
      `/api/projects/${p.id}/versions/${original}/restore`,
      {},
    );
    project = await f.server.documents.read(p.id, projectFromDoc);
    expect(project.pipelines.hello!.nodes.find((n) => n.id === 'left')!.attributes.number).toBe(4);
    expect(project.operations.Print!.code).toContain('suffix');
    const list = await json<VersionPage>(f, 'GET', `/api/projects/${p.id}/versions`);
    expect(list.versions[0]!.id).toBe(whole.id);
    expect(list.versions.length).toBeGreaterThanOrEqual(4);
    const same = await json<VersionDiff>(f, 'GET', `/api/projects/${p.id}/diff?from=${original}&to=current`);
    expect(same.files).toEqual([]);
  });

  it('forks a project at a version and at its live state, remembering where it came from', async () => {
    const f = await fixture();
    const p = await f.createProject({ name: 'h', example: 'hello' });
    const v1 = await f.server.history.checkpoint(p.id);
    await edit(f, p.id, (doc) => setNodeAttribute(doc, 'hello', 'left', 'number', 7));
    const fork = await json<ProjectSummary>(f, 'POST', `/api/projects/${p.id}/fork`, {
      name: 'old',
      version: v1,
    });
    expect(fork.forkedFrom).toEqual({ projectId: p.id, version: v1 });
    expect(fork.name).toBe('old');
    const forked = await f.server.documents.read(fork.id, projectFromDoc);
    expect(forked.manifest.name).toBe('old');
    expect(forked.pipelines.hello!.nodes.find((n) => n.id === 'left')!.attributes.number).toBe(4);
    const history = await json<VersionPage>(f, 'GET', `/api/projects/${fork.id}/versions`);
    expect(history.versions[0]).toMatchObject({ kind: 'fork', parentIds: [v1] });
    const listed = await json<{ items: ProjectSummary[] }>(f, 'GET', '/api/projects');
    expect(listed.items.find((x) => x.id === fork.id)!.forkedFrom).toEqual({ projectId: p.id, version: v1 });

    // While it is being edited: the fork takes the live state (a fresh checkpoint).
    await edit(f, p.id, (doc) => setNodeAttribute(doc, 'hello', 'right', 'number', 8));
    const live = await json<ProjectSummary>(f, 'POST', `/api/projects/${p.id}/fork`, { name: 'live' });
    const liveProject = await f.server.documents.read(live.id, projectFromDoc);
    expect(liveProject.pipelines.hello!.nodes.find((n) => n.id === 'right')!.attributes.number).toBe(8);
    expect(live.forkedFrom!.version).toBe(
      (await json<VersionPage>(f, 'GET', `/api/projects/${p.id}/versions`)).versions[0]!.id,
    );
    const bad = await f.server.app.inject({
      method: 'POST',
      url: `/api/projects/${p.id}/fork`,
      payload: { name: 'x', version: 'b'.repeat(40) },
    });
    expect(bad.statusCode).toBe(404);
  });

  it('records the version an execution started from, checkpointing a newer live state first', async () => {
    const f = await fixture();
    const p = await f.createProject({ name: 'h', example: 'hello' });
    await edit(f, p.id, (doc) => setNodeAttribute(doc, 'hello', 'left', 'number', 6));
    const started = await json<ExecutionDetailsDto>(f, 'POST', `/api/projects/${p.id}/executions`, {
      pipeline: 'basic-io',
    });
    const versions = await json<VersionPage>(f, 'GET', `/api/projects/${p.id}/versions`);
    expect(versions.versions[0]!.kind).toBe('checkpoint');
    expect(started.version).toBe(versions.versions[0]!.id);
    const again = await json<ExecutionDetailsDto>(
      f,
      'GET',
      `/api/projects/${p.id}/executions/${started.id}`,
      undefined,
      200,
    );
    expect(again.version).toBe(started.version);
    // "What changed since this run": nothing yet.
    const diff = await json<VersionDiff>(
      f,
      'GET',
      `/api/projects/${p.id}/diff?from=${started.version}&to=current`,
    );
    expect(diff.files).toEqual([]);
    await f.server.engine.getExecution(started.id);
  });

  it('restores while another client edits: their edit survives', async () => {
    const f = await fixture();
    const p = await f.createProject({ name: 'h', example: 'hello' });
    const base = await f.server.listen(0, '127.0.0.1');
    const original = await f.server.history.checkpoint(p.id);
    await edit(f, p.id, (doc) => setNodeAttribute(doc, 'hello', 'left', 'number', 9));
    const doc = new Y.Doc();
    let synced!: () => void;
    const ready = new Promise<void>((r) => (synced = r));
    const socket = new HocuspocusProviderWebsocket({
      url: base.replace('http:', 'ws:') + '/api/collab',
      WebSocketPolyfill: WebSocket,
    });
    const provider = new HocuspocusProvider({
      websocketProvider: socket,
      name: p.id,
      document: doc,
      onSynced: () => synced(),
    });
    provider.attach();
    cleanups.push(() => {
      provider.destroy();
      socket.destroy();
    });
    await ready;
    // The collaborator goes on editing while the restore runs: their edits reach the server after it (offline
    // for the moment, so the two are truly concurrent) and merge with it.
    socket.disconnect();
    operationText(doc, 'Multiply')!.insert(0, '# mine\n');
    setNodeAttribute(doc, 'hello', 'right', 'number', 11);
    await json<VersionSummary>(f, 'POST', `/api/projects/${p.id}/versions/${original}/restore`, {});
    await socket.connect();
    const deadline = Date.now() + 10_000;
    let project = await f.server.documents.read(p.id, projectFromDoc);
    while (!project.operations.Multiply!.code.startsWith('# mine') && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 50));
      project = await f.server.documents.read(p.id, projectFromDoc);
    }
    expect(project.operations.Multiply!.code.startsWith('# mine\n')).toBe(true);
    expect(project.pipelines.hello!.nodes.find((n) => n.id === 'right')!.attributes.number).toBe(11);
    expect(project.pipelines.hello!.nodes.find((n) => n.id === 'left')!.attributes.number).toBe(4);
    // And the collaborator sees the restore.
    const seen = Date.now() + 10_000;
    while (
      projectFromDoc(doc).pipelines.hello!.nodes.find((n) => n.id === 'left')!.attributes.number !== 4 &&
      Date.now() < seen
    ) {
      await new Promise((r) => setTimeout(r, 50));
    }
    expect(projectFromDoc(doc).pipelines.hello!.nodes.find((n) => n.id === 'left')!.attributes.number).toBe(
      4,
    );
  });

  it('makes an automatic checkpoint after N changes', async () => {
    const f = await startFixture({ historyQuietMs: 600_000, historyMaxChanges: 3 });
    cleanups.push(() => f.cleanup());
    const p = await f.createProject({ name: 'h', example: 'hello' });
    for (const n of [1, 2, 3])
      await edit(f, p.id, (doc) => setNodeAttribute(doc, 'hello', 'left', 'number', n));
    const deadline = Date.now() + 10_000;
    let page = await json<VersionPage>(f, 'GET', `/api/projects/${p.id}/versions`);
    while (page.versions[0]!.kind !== 'checkpoint' && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 50));
      page = await json<VersionPage>(f, 'GET', `/api/projects/${p.id}/versions`);
    }
    expect(page.versions[0]).toMatchObject({ kind: 'checkpoint', files: [{ path: 'pipelines/hello.json' }] });
  });
});
