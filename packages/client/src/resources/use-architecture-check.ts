import type { Architecture, LayerCatalog } from '@deepforge/core';
import { useQuery } from '@tanstack/react-query';
import { useEffect, useMemo, useRef, useState } from 'react';
import { CoalescingRequests } from '../lib/coalescing-requests.js';
import type { ArchitectureCheck } from '../api/endpoints.js';
import { checkArchitecture, getLayerCatalog, qk } from '../api/endpoints.js';
import { errorMessage } from '../api/http.js';
import { architectureOf, moduleNames, moduleYText } from '../collab/doc-read.js';
import { useDocSelector, useProjectDoc } from '../collab/project-doc.context.js';

export interface CheckState {
  /** The latest answer for the graph as it is now, or for an earlier version while a newer one is asked. */
  result: ArchitectureCheck | null;
  /** The answer is about the graph as it is now. */
  current: boolean;
  /** PyTorch could not answer (no interpreter with torch, a timeout): the reason. */
  error: string | null;
}

/**
 * Shapes and parameters by PyTorch for the graph as the editor has it, asked again after each edit: one request
 * at a time, edits made meanwhile coalesced into one request for the newest graph (CoalescingRequests), so an
 * older answer never replaces a newer one. The utils code is part of what is checked (custom layers), so
 * editing it asks again too.
 */
export function useArchitectureCheck(
  projectId: string,
  arch: Architecture,
  utilsKey: string,
  enabled: boolean,
): CheckState {
  const { doc } = useProjectDoc();
  const key = useMemo(() => checkKey(arch, utilsKey), [arch, utilsKey]);
  const utilsKeyRef = useRef(utilsKey);
  utilsKeyRef.current = utilsKey;
  const [state, setState] = useState<{
    result: ArchitectureCheck | null;
    error: string | null;
    key: string | null;
  }>({ result: null, error: null, key: null });
  const requests = useRef<CoalescingRequests<{ key: string; arch: Architecture }, ArchitectureCheck> | null>(
    null,
  );
  useEffect(() => {
    const q = new CoalescingRequests<{ key: string; arch: Architecture }, ArchitectureCheck>(
      (v) => checkArchitecture(projectId, v.arch),
      (v, answer) =>
        setState((s) =>
          answer.ok
            ? { result: answer.result, error: null, key: v.key }
            : { ...s, error: errorMessage(answer.error), key: v.key },
        ),
    );
    requests.current = q;
    return () => q.close();
  }, [projectId]);
  // The same graph (a layer moved) is not checked again; a new queue (a new project, or React's second mount in
  // development) asks again for the graph the closed one had been asked.
  useEffect(() => {
    if (!enabled) return;
    requests.current?.requestIfNew(key, { key, arch });
    // eslint-disable-next-line react-hooks/exhaustive-deps -- `key` stands for `arch`
  }, [key, enabled, projectId]);
  // An edit is sent as soon as the document has it, not after React has drawn it: the check and the drawing of
  // the edit overlap. (The effect above covers the first check and a change of utils/.)
  useEffect(() => {
    if (!enabled) return;
    const onUpdate = (): void => {
      const now = architectureOf(doc, arch.name);
      if (!now) return;
      const k = checkKey(now, utilsKeyRef.current);
      requests.current?.requestIfNew(k, { key: k, arch: now });
    };
    doc.on('update', onUpdate);
    return () => doc.off('update', onUpdate);
  }, [doc, arch.name, enabled]);
  return { result: state.result, current: state.key === key, error: state.error };
}

/** What a check depends on: the graph without where its layers are drawn, and the custom layers' code. */
function checkKey(arch: Architecture, utilsKey: string): string {
  return `${JSON.stringify({ ...arch, layers: arch.layers.map((l) => ({ ...l, position: undefined })) })}\n${utilsKey}`;
}

/** A short fingerprint of the project's utils/ code: the catalog and checks depend on it (custom layers). */
export function useUtilsKey(): string {
  return useDocSelector((d) => {
    let h = 2166136261;
    for (const name of moduleNames(d, 'utils')) {
      const text = `${name}\n${moduleYText(d, 'utils', name)?.toString() ?? ''}\n`;
      for (let i = 0; i < text.length; i++) h = Math.imul(h ^ text.charCodeAt(i), 16777619);
    }
    return (h >>> 0).toString(36);
  }, []);
}

/** The layer catalog (torch.nn and the project's custom layers), read again when utils/ changes. */
export function useLayerCatalog(
  projectId: string,
  utilsKey: string,
  enabled: boolean,
): { catalog: LayerCatalog | null; error: string | null } {
  const q = useQuery({
    queryKey: [...qk.layers(projectId), utilsKey],
    queryFn: () => getLayerCatalog(projectId),
    enabled,
    staleTime: Infinity,
    placeholderData: (prev) => prev,
    retry: false,
  });
  return { catalog: q.data ?? null, error: q.error ? errorMessage(q.error) : null };
}
