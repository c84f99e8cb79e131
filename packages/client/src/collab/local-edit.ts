import * as Y from 'yjs';

/**
 * The transaction origin of every edit this tab makes to a pipeline. Remote updates arrive with the provider as
 * their origin and the duplicate-id fix-up runs with none, so an undo manager that tracks only this origin undoes
 * what this user did and never what a collaborator (or the document layer) did.
 */
export const LOCAL_EDIT: unique symbol = Symbol('deepforge local edit');

/** Runs `edit` as one transaction with the local origin: one undo step, one update to sync. */
export function localEdit<T>(doc: Y.Doc, edit: () => T): T {
  let result: T | undefined;
  doc.transact(() => {
    result = edit();
  }, LOCAL_EDIT);
  return result as T;
}

/**
 * Edits closer together than this are one undo step (a burst of attribute typing, a multi-node move); anything
 * that must stay its own step calls `stopCapturing()`.
 */
export const UNDO_CAPTURE_MS = 400;

/**
 * An undo manager for one pipeline: its scope is that pipeline's map (nodes, their attributes and positions, the
 * connections), it tracks only this tab's local edits (docs/adr/0021-undo-per-user.md).
 */
export function pipelineUndoManager(pipeline: Y.Map<unknown>): Y.UndoManager {
  return new Y.UndoManager(pipeline, {
    trackedOrigins: new Set([LOCAL_EDIT]),
    captureTimeout: UNDO_CAPTURE_MS,
  });
}
