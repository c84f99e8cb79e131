import * as Y from 'yjs';
import type { Project } from '@deepforge/core';
import { applyProjectToDoc } from './project-document-apply.js';
import { projectFromDoc, projectToDoc } from './project-document.js';

/**
 * The one Yjs update that makes a stored project document (its updates, in order) hold `project`, changing only
 * what differs (applyProjectToDoc), or null when it holds it already. With no stored updates: the whole new
 * document. For a process that has no live copy of the document (`deepforge run` of a folder project,
 * docs/adr/0028): it appends the update, and a server holding the document live applies it from the store.
 */
export function projectDocumentUpdate(stored: readonly Uint8Array[], project: Project): Uint8Array | null {
  if (stored.length === 0) {
    const doc = projectToDoc(project);
    const update = Y.encodeStateAsUpdate(doc);
    doc.destroy();
    return update;
  }
  const doc = new Y.Doc();
  Y.transact(doc, () => {
    for (const u of stored) Y.applyUpdate(doc, u);
  });
  const vector = Y.encodeStateVector(doc);
  let changed = false;
  doc.on('update', () => (changed = true));
  applyProjectToDoc(doc, project);
  const update = changed ? Y.encodeStateAsUpdate(doc, vector) : null;
  doc.destroy();
  return update;
}

/** The project a stored document's updates (in order) build. */
export function projectFromUpdates(stored: readonly Uint8Array[]): Project {
  const doc = new Y.Doc();
  Y.transact(doc, () => {
    for (const u of stored) Y.applyUpdate(doc, u);
  });
  const project = projectFromDoc(doc);
  doc.destroy();
  return project;
}
