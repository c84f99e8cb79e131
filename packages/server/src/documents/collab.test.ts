import { HocuspocusProvider, HocuspocusProviderWebsocket } from '@hocuspocus/provider';
import { afterEach, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import * as Y from 'yjs';
import { makeTempDir, removeTree } from '@deepforge/engine/test-support';
import {
  operationText,
  putOperation,
  type OperationResponse,
  type ProjectSummary,
} from '@deepforge/protocol';
import { startFixture, type ServerFixture } from '../test-support/server-fixture.js';

const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

/** A browser tab in Node: a real Hocuspocus provider over a real WebSocket, reconnecting quickly. */
function tab(
  baseUrl: string,
  projectId: string,
): { provider: HocuspocusProvider; doc: Y.Doc; synced: Promise<void> } {
  const doc = new Y.Doc();
  let resolveSynced!: () => void;
  const synced = new Promise<void>((r) => (resolveSynced = r));
  const socket = new HocuspocusProviderWebsocket({
    url: baseUrl.replace('http:', 'ws:') + '/api/collab',
    WebSocketPolyfill: WebSocket,
    delay: 50,
    minDelay: 50,
    maxDelay: 200,
    factor: 1.2,
    jitter: false,
  });
  const provider = new HocuspocusProvider({
    websocketProvider: socket,
    name: projectId,
    document: doc,
    onSynced: () => resolveSynced(),
  });
  provider.attach();
  cleanups.push(() => {
    // A reconnect attempt still connecting is aborted by destroy: ws reports that as an 'error' event on the next
    // tick, which nobody listens to any more, and Node would take it for an uncaught exception.
    const ws = (socket as unknown as { webSocket?: { on?: (event: string, fn: () => void) => void } })
      .webSocket;
    ws?.on?.('error', () => undefined);
    provider.destroy();
    socket.destroy();
  });
  return { provider, doc, synced };
}

/** Waits until `check` holds, re-checking on every change of the document. */
function until(doc: Y.Doc, check: () => boolean, timeoutMs = 10_000): Promise<void> {
  if (check()) return Promise.resolve();
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      doc.off('update', onUpdate);
      reject(new Error('the documents did not converge'));
    }, timeoutMs);
    const onUpdate = (): void => {
      if (!check()) return;
      clearTimeout(timer);
      doc.off('update', onUpdate);
      resolve();
    };
    doc.on('update', onUpdate);
  });
}

/** Waits until the server has every change the provider made. */
async function flushed(provider: HocuspocusProvider): Promise<void> {
  const deadline = Date.now() + 10_000;
  while (provider.hasUnsyncedChanges) {
    if (Date.now() > deadline) throw new Error('the server never acknowledged the changes');
    await new Promise((r) => setTimeout(r, 20));
  }
}

const code = (doc: Y.Doc, op: string): string => operationText(doc, op)?.toString() ?? '';

async function readOperation(f: ServerFixture, projectId: string, name: string): Promise<string> {
  const res = await f.server.app.inject({ url: `/api/projects/${projectId}/operations/${name}` });
  return (res.json() as OperationResponse).code;
}

describe('collaboration on /api/collab', () => {
  it('merges concurrent typing in the same code from two tabs, and REST and tabs never disagree', async () => {
    const f = await startFixture();
    cleanups.push(() => f.cleanup());
    const url = await f.server.listen(0);
    const project: ProjectSummary = await f.createProject({ name: 'together', example: 'hello' });
    const a = tab(url, project.id);
    const b = tab(url, project.id);
    await Promise.all([a.synced, b.synced]);
    const original = code(a.doc, 'Multiply');
    expect(original).toMatch(/^class Multiply/);
    expect(code(b.doc, 'Multiply')).toBe(original);

    // Both type before either has seen the other's keystrokes: at the start, at the end, and at the same spot.
    const ta = operationText(a.doc, 'Multiply')!;
    const tb = operationText(b.doc, 'Multiply')!;
    ta.insert(0, '# by A\n');
    tb.insert(tb.length, '# by B\n');
    ta.insert(ta.toString().indexOf('product = '), 'AAA');
    tb.insert(tb.toString().indexOf('product = '), 'BBB');
    const merged = (t: string) =>
      t.startsWith('# by A\n') && t.endsWith('# by B\n') && t.includes('AAA') && t.includes('BBB');
    await until(a.doc, () => merged(code(a.doc, 'Multiply')));
    await until(b.doc, () => merged(code(b.doc, 'Multiply')));
    expect(code(a.doc, 'Multiply')).toBe(code(b.doc, 'Multiply'));

    // What the tabs typed is what REST reads…
    await Promise.all([flushed(a.provider), flushed(b.provider)]);
    expect(await readOperation(f, project.id, 'Multiply')).toBe(code(a.doc, 'Multiply'));
    // …and what REST writes reaches the tabs at once, while a tab keeps typing elsewhere in the same text.
    const viaRest = code(a.doc, 'Multiply').replace('a * b', 'b * a');
    const put = f.server.app.inject({
      method: 'PUT',
      url: `/api/projects/${project.id}/operations/Multiply`,
      payload: { code: viaRest },
    });
    ta.insert(0, '# still typing\n');
    expect((await put).statusCode).toBe(200);
    const both = (t: string) => t.includes('b * a') && t.startsWith('# still typing\n');
    await until(b.doc, () => both(code(b.doc, 'Multiply')));
    await until(a.doc, () => both(code(a.doc, 'Multiply')));
    await flushed(a.provider);
    expect(await readOperation(f, project.id, 'Multiply')).toBe(code(b.doc, 'Multiply'));

    // A tab creating an operation is seen by REST.
    putOperation(
      b.doc,
      'FromTab',
      'class FromTab():\n    def execute(self):\n        x = 1\n        return x\n',
    );
    await flushed(b.provider);
    expect(await readOperation(f, project.id, 'FromTab')).toMatch(/class FromTab/);
  });

  it('keeps a tab’s offline edits when the server restarts, and persists everything', async () => {
    const dataDir = await makeTempDir('collab');
    cleanups.push(() => removeTree(dataDir));
    let f = await startFixture({ dataDir });
    const url = await f.server.listen(0);
    const port = Number(new URL(url).port);
    const project = await f.createProject({ name: 'restart', example: 'hello' });
    const a = tab(url, project.id);
    await a.synced;
    operationText(a.doc, 'Print')!.insert(0, '# before restart\n');
    await flushed(a.provider);

    await f.cleanup();
    // The server is gone; the tab keeps editing.
    operationText(a.doc, 'Print')!.insert(0, '# typed offline\n');
    putOperation(
      a.doc,
      'Offline',
      'class Offline():\n    def execute(self):\n        y = 2\n        return y\n',
    );

    f = await startFixture({ dataDir });
    cleanups.push(() => f.cleanup());
    expect(await f.server.listen(port)).toBe(url);
    // The tab reconnects by itself and sends what the server does not have.
    const deadline = Date.now() + 15_000;
    let text = '';
    while (Date.now() < deadline) {
      text = await readOperation(f, project.id, 'Print');
      if (text.startsWith('# typed offline\n# before restart\n')) break;
      await new Promise((r) => setTimeout(r, 100));
    }
    expect(text.startsWith('# typed offline\n# before restart\n')).toBe(true);
    expect(await readOperation(f, project.id, 'Offline')).toMatch(/class Offline/);

    // A tab opened now gets it all from the server.
    const b = tab(url, project.id);
    await b.synced;
    expect(code(b.doc, 'Print')).toBe(code(a.doc, 'Print'));

    // And it survives another restart with nobody connected: it is in the database.
    a.provider.destroy();
    b.provider.destroy();
    await f.cleanup();
    f = await startFixture({ dataDir });
    cleanups.push(() => f.cleanup());
    expect(
      (await readOperation(f, project.id, 'Print')).startsWith('# typed offline\n# before restart\n'),
    ).toBe(true);
  });

  it('does not create documents for projects that do not exist', async () => {
    const f = await startFixture();
    cleanups.push(() => f.cleanup());
    const url = await f.server.listen(0);
    const t = tab(url, 'nosuchproject');
    t.doc.getMap('project').set('x', 1);
    await new Promise((r) => setTimeout(r, 300));
    expect(await f.server.engine.documents.listDocuments()).toEqual([]);
  });
});

describe('document persistence', () => {
  it('appends each save and compacts, so a long-edited document loads from a few rows', async () => {
    const dataDir = await makeTempDir('compact');
    cleanups.push(() => removeTree(dataDir));
    let f = await startFixture({ dataDir });
    const project = await f.createProject({ name: 'busy', example: 'hello' });
    for (let i = 0; i < 120; i++) {
      const res = await f.server.app.inject({
        method: 'PATCH',
        url: `/api/projects/${project.id}/pipelines/hello/nodes/left`,
        payload: { attributes: { number: i } },
      });
      expect(res.statusCode).toBe(200);
    }
    expect(await f.server.engine.documents.countUpdates(project.id)).toBeLessThan(60);
    await f.cleanup();
    f = await startFixture({ dataDir });
    cleanups.push(() => f.cleanup());
    const res = await f.server.app.inject({ url: `/api/projects/${project.id}/pipelines/hello` });
    expect(
      (res.json() as { pipeline: { nodes: { id: string; attributes: object }[] } }).pipeline.nodes[1],
    ).toMatchObject({
      id: 'left',
      attributes: { number: 119 },
    });
    // Closing saved and compacted the document.
    expect(await f.server.engine.documents.countUpdates(project.id)).toBeLessThanOrEqual(2);
  });
});
