import { HocuspocusProvider } from '@hocuspocus/provider';
import type { ReactNode } from 'react';
import {
  createContext,
  useCallback,
  useContext,
  useEffect,
  useRef,
  useState,
  useSyncExternalStore,
} from 'react';
import * as Y from 'yjs';
import { resolveDuplicateNodeIds } from '@deepforge/protocol';
import { socketUrl } from '../api/events-client.js';
import { localUser } from './local-user.js';
import { jsonEqual } from './json-equal.js';

export type CollabStatus = 'connecting' | 'connected' | 'disconnected';

export interface ProjectDocValue {
  projectId: string;
  doc: Y.Doc;
  provider: HocuspocusProvider;
  status: CollabStatus;
  /** The first sync with the server is done: reads are meaningful and edits may start. */
  synced: boolean;
  /** Local edits the server has not confirmed yet. */
  unsynced: number;
}

const ProjectDocContext = createContext<ProjectDocValue | null>(null);

/**
 * One Yjs document per open project, synced with the server over /api/collab (Hocuspocus; document name = the
 * project id). The provider reconnects by itself after the server restarts and merges what either side changed.
 */
export function ProjectDocProvider({
  projectId,
  accountName = null,
  children,
}: {
  projectId: string;
  /** The signed-in user's name (accounts on): presence and cursors show it. */
  accountName?: string | null;
  children: ReactNode;
}) {
  const [value, setValue] = useState<ProjectDocValue | null>(null);

  useEffect(() => {
    const doc = new Y.Doc();
    let current: ProjectDocValue | null = null;
    const update = (patch: Partial<ProjectDocValue>): void => {
      if (!current) return;
      current = { ...current, ...patch };
      setValue(current);
    };
    const provider = new HocuspocusProvider({
      url: socketUrl('/api/collab'),
      name: projectId,
      document: doc,
      onStatus: ({ status }) => update({ status: status as CollabStatus }),
      onSynced: ({ state }) => update({ synced: state || (current?.synced ?? false) }),
      onUnsyncedChanges: ({ number }) => update({ unsynced: number }),
    });
    // Two tabs adding the same operation before they synced both name the node alike; once the other tab's
    // update arrives, the document layer renames this tab's node if it lost (see resolveDuplicateNodeIds).
    const onRemoteUpdate = (_update: Uint8Array, origin: unknown): void => {
      if (origin === provider) queueMicrotask(() => resolveDuplicateNodeIds(doc));
    };
    doc.on('update', onRemoteUpdate);
    const user = localUser(accountName);
    provider.awareness?.setLocalStateField('user', user);
    current = { projectId, doc, provider, status: 'connecting', synced: false, unsynced: 0 };
    setValue(current);
    return () => {
      current = null;
      doc.off('update', onRemoteUpdate);
      provider.destroy();
      doc.destroy();
    };
  }, [projectId, accountName]);

  if (!value || value.projectId !== projectId) return null;
  return <ProjectDocContext.Provider value={value}>{children}</ProjectDocContext.Provider>;
}

export function useProjectDoc(): ProjectDocValue {
  const v = useContext(ProjectDocContext);
  if (!v) throw new Error('useProjectDoc outside ProjectDocProvider');
  return v;
}

/** The project document of the enclosing project, or null outside one (the connection indicator uses it). */
export function useOptionalProjectDoc(): ProjectDocValue | null {
  return useContext(ProjectDocContext);
}

function sameDeps(a: readonly unknown[] | undefined, b: readonly unknown[]): boolean {
  return a !== undefined && a.length === b.length && a.every((x, i) => Object.is(x, b[i]));
}

/**
 * A value read from the document, re-read after every change to it (local or remote). The component re-renders
 * only when the value differs structurally, so views can select what they show and ignore the rest.
 */
export function useDocSelector<T>(
  select: (doc: Y.Doc) => T,
  deps: readonly unknown[],
  equal: (a: T, b: T) => boolean = jsonEqual,
): T {
  const { doc } = useProjectDoc();
  const state = useRef<{
    dirty: boolean;
    has: boolean;
    value: T | undefined;
    deps?: readonly unknown[];
    doc?: Y.Doc;
  }>({
    dirty: true,
    has: false,
    value: undefined,
  });
  const subscribe = useCallback(
    (notify: () => void) => {
      const onUpdate = (): void => {
        state.current.dirty = true;
        notify();
      };
      doc.on('update', onUpdate);
      return () => doc.off('update', onUpdate);
    },
    [doc],
  );
  const getSnapshot = (): T => {
    const s = state.current;
    if (s.dirty || s.doc !== doc || !sameDeps(s.deps, deps)) {
      const next = select(doc);
      if (!s.has || !equal(s.value as T, next)) {
        s.value = next;
        s.has = true;
      }
      s.dirty = false;
      s.deps = deps;
      s.doc = doc;
    }
    return s.value as T;
  };
  return useSyncExternalStore(subscribe, getSnapshot);
}

export interface Presence {
  clientId: number;
  name: string;
  color: string;
}

/** Who else has this project open (Hocuspocus awareness), for the avatars in the header. */
export function usePresence(): Presence[] {
  const { provider } = useProjectDoc();
  const [people, setPeople] = useState<Presence[]>([]);
  useEffect(() => {
    const awareness = provider.awareness;
    if (!awareness) return;
    const read = (): void => {
      const list: Presence[] = [];
      const me = (awareness.getLocalState() as { user?: { name?: string } } | null)?.user?.name;
      const seen = new Set<string>(me ? [me] : []);
      awareness.getStates().forEach((state, clientId) => {
        const user = (state as { user?: { name?: string; color?: string } }).user;
        // Others only, once each (one person may have several tabs open).
        if (clientId === awareness.clientID || !user?.name || seen.has(user.name)) return;
        seen.add(user.name);
        list.push({ clientId, name: user.name, color: user.color ?? '#868e96' });
      });
      list.sort((a, b) => a.clientId - b.clientId);
      setPeople((prev) => (jsonEqual(prev, list) ? prev : list));
    };
    read();
    awareness.on('change', read);
    return () => awareness.off('change', read);
  }, [provider]);
  return people;
}

export function ProjectDocGate({ children, fallback }: { children: ReactNode; fallback: ReactNode }) {
  const { synced } = useProjectDoc();
  return <>{synced ? children : fallback}</>;
}
