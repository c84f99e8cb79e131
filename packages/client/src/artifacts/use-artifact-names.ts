import { useQuery } from '@tanstack/react-query';
import { useMemo } from 'react';
import { listArtifacts, qk } from '../api/endpoints.js';
import { artifactRefs } from '../collab/doc-read.js';
import { useDocSelector } from '../collab/project-doc.context.js';

/**
 * Names an Input or a reference can read: artifacts in the data store (uploaded, imported, saved by Output
 * nodes) and the project's artifact references. `known` is false until the store's list has arrived, so
 * validation does not flag every name as missing meanwhile (nor when there are more than one request returns).
 * The list is read again whenever a view using it opens, and names count as known only once that read is back:
 * an execution run meanwhile may have saved the artifacts a pipeline reads (download-normalize, then train).
 */
export function useArtifactNames(projectId: string): { names: string[]; known: boolean } {
  const stored = useQuery({
    queryKey: [...qk.artifacts(projectId), 'names'],
    queryFn: () => listArtifacts(projectId, { limit: 1000 }),
    staleTime: 10_000,
    refetchOnMount: 'always',
  });
  const refs = useDocSelector((d) => artifactRefs(d).map((r) => r.name), []);
  const names = useMemo(
    () =>
      [...new Set([...(stored.data?.items.map((a) => a.name) ?? []), ...refs])].sort((a, b) =>
        a.localeCompare(b),
      ),
    [stored.data, refs],
  );
  // With more artifacts than one page holds, some names may be missing: do not flag names as unknown then.
  const complete = stored.data !== undefined && stored.data.total <= stored.data.items.length;
  return { names, known: stored.isSuccess && stored.isFetchedAfterMount && complete };
}
