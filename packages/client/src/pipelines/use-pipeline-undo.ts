import { sections } from '@deepforge/protocol';
import { useCallback, useEffect, useRef, useState } from 'react';
import type * as Y from 'yjs';
import { localEdit, pipelineUndoManager } from '../collab/local-edit.js';

export interface PipelineUndo {
  /** Makes a local edit of the pipeline: one transaction, one undo step of its own. */
  edit: (change: () => void) => void;
  undo: () => void;
  redo: () => void;
  canUndo: boolean;
  canRedo: boolean;
}

/**
 * Undo and redo of this user's edits of one pipeline. The manager follows the pipeline's map: when the map is
 * replaced (the pipeline was renamed, or restored whole), the history starts again, since its steps point into
 * the old map.
 */
export function usePipelineUndo(doc: Y.Doc, name: string): PipelineUndo {
  const [map, setMap] = useState<Y.Map<unknown> | undefined>(() => sections.pipelines(doc).get(name));
  useEffect(() => {
    const read = (): void => setMap(sections.pipelines(doc).get(name));
    read();
    doc.on('update', read);
    return () => doc.off('update', read);
  }, [doc, name]);

  const manager = useRef<Y.UndoManager | null>(null);
  const [state, setState] = useState({ canUndo: false, canRedo: false });
  useEffect(() => {
    if (!map) return;
    const um = pipelineUndoManager(map);
    manager.current = um;
    const sync = (): void => setState({ canUndo: um.undoStack.length > 0, canRedo: um.redoStack.length > 0 });
    sync();
    um.on('stack-item-added', sync);
    um.on('stack-item-popped', sync);
    um.on('stack-cleared', sync);
    return () => {
      if (manager.current === um) manager.current = null;
      um.destroy();
      setState({ canUndo: false, canRedo: false });
    };
  }, [map]);

  const edit = useCallback(
    (change: () => void): void => {
      // A user action is a step of its own even when the next one follows within the capture timeout.
      const um = manager.current;
      um?.stopCapturing();
      localEdit(doc, change);
      um?.stopCapturing();
    },
    [doc],
  );
  const undo = useCallback(() => void manager.current?.undo(), []);
  const redo = useCallback(() => void manager.current?.redo(), []);
  return { edit, undo, redo, ...state };
}
