import { join } from 'node:path';
import pino from 'pino';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import * as Y from 'yjs';
import { makeTempDir, removeTree } from '@deepforge/engine/test-support';
import { openSqliteStores, type DocumentStore } from '@deepforge/engine';
import type { onLoadDocumentPayload } from '@hocuspocus/server';
import { DocumentPersistence } from './document.persistence.js';

/**
 * Rows another process appends to a document this server holds live (`deepforge run` of a folder project,
 * docs/adr/0028): applied to the live document, never saved again, and never lost to a compaction.
 */

let tmp: string;
let ours: Awaited<ReturnType<typeof openSqliteStores>>;
let theirs: Awaited<ReturnType<typeof openSqliteStores>>;

beforeEach(async () => {
  tmp = await makeTempDir('persistence');
  ours = await openSqliteStores(join(tmp, 'deepforge.db'));
  // A second connection to the same file: what the CLI's process has.
  theirs = await openSqliteStores(join(tmp, 'deepforge.db'));
});
afterEach(async () => {
  await ours.close();
  await theirs.close();
  await removeTree(tmp);
});

/** An update that sets `key` in the document's map `m`, made on a copy of what the store holds (as the CLI does). */
async function appendFromOtherProcess(store: DocumentStore, name: string, key: string): Promise<void> {
  const copy = new Y.Doc();
  for (const u of await store.loadUpdates(name)) Y.applyUpdate(copy, u.update);
  const before = Y.encodeStateVector(copy);
  copy.getMap('m').set(key, 'theirs');
  await store.appendUpdate(name, Y.encodeStateAsUpdate(copy, before));
}

async function load(persistence: DocumentPersistence, name: string): Promise<Y.Doc> {
  const document = new Y.Doc();
  await persistence.onLoadDocument({ documentName: name, document } as unknown as onLoadDocumentPayload);
  return document;
}

function storedState(rows: { update: Uint8Array }[]): Record<string, unknown> {
  const doc = new Y.Doc();
  for (const r of rows) Y.applyUpdate(doc, r.update);
  return doc.getMap('m').toJSON();
}

describe('DocumentPersistence and rows of another process', () => {
  it('applies them to the live document without saving them again, and keeps them through a compaction', async () => {
    const seed = new Y.Doc();
    seed.getMap('m').set('start', 'ours');
    await ours.documents.appendUpdate('p1', Y.encodeStateAsUpdate(seed));
    const persistence = new DocumentPersistence({
      store: ours.documents,
      exists: () => Promise.resolve(true),
      logger: pino({ enabled: false }),
      compactAfter: 4,
      refreshMs: 0,
    });
    const live = await load(persistence, 'p1');

    // Ours and theirs interleave: our edit is not saved yet when theirs is appended, then ours is (a row after).
    live.getMap('m').set('a', 'ours');
    await appendFromOtherProcess(theirs.documents, 'p1', 'x');
    await persistence.save('p1');
    expect(live.getMap('m').get('x')).toBeUndefined();

    // The refresh sees a row count it did not write and applies what it has not seen.
    await persistence.refreshAll();
    expect(live.getMap('m').toJSON()).toEqual({ start: 'ours', a: 'ours', x: 'theirs' });
    const rows = await ours.documents.countUpdates('p1');
    // Applying them wrote nothing back.
    await persistence.save('p1');
    expect(await ours.documents.countUpdates('p1')).toBe(rows);

    // Theirs again, not refreshed yet, then enough of ours to compact: the compaction reads theirs first.
    await appendFromOtherProcess(theirs.documents, 'p1', 'y');
    live.getMap('m').set('b', 'ours');
    await persistence.save('p1');
    live.getMap('m').set('c', 'ours');
    await persistence.save('p1');
    const stored = await ours.documents.loadUpdates('p1');
    expect(stored.length).toBeLessThan(rows + 3);
    expect(storedState(stored)).toEqual({
      start: 'ours',
      a: 'ours',
      x: 'theirs',
      y: 'theirs',
      b: 'ours',
      c: 'ours',
    });
    expect(live.getMap('m').get('y')).toBe('theirs');
    persistence.stop();
  });
});
