import type { ComputeStateDto } from '@deepforge/protocol';
import { useQuery, useQueryClient } from '@tanstack/react-query';
import { useEffect } from 'react';
import { getCompute, qk } from '../api/endpoints.js';
import { useEventsClient } from '../api/events.context.js';

/**
 * The Compute view's state: fetched once over REST, then kept current by the `compute` messages of the events
 * socket while the view is open (the server sends one whenever something changed, at most about every second).
 */
export function useComputeState() {
  const client = useEventsClient();
  const queryClient = useQueryClient();
  const query = useQuery({ queryKey: qk.compute, queryFn: getCompute });
  useEffect(
    () =>
      client.watchCompute((state: ComputeStateDto) => {
        queryClient.setQueryData(qk.compute, state);
      }),
    [client, queryClient],
  );
  return query;
}

/** A percentage for a bar: 0–100, one decimal. */
export function percent(used: number, total: number): number {
  if (!(total > 0) || !Number.isFinite(used)) return 0;
  return Math.round(Math.min(100, Math.max(0, (used / total) * 100)) * 10) / 10;
}

/** The colour of a load bar: calm, busy, full. */
export function loadColor(pct: number): string {
  return pct >= 90 ? 'red' : pct >= 70 ? 'orange' : 'teal';
}
