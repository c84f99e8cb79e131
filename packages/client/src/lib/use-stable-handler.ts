import { useCallback, useLayoutEffect, useRef } from 'react';

/**
 * A function whose identity never changes and that always calls the latest `handler`. For callbacks given to
 * React Flow: it copies every changed prop into its store, one store update (and a run of every subscribed
 * node's and edge's selectors) per prop, so a new arrow function per render costs a pass over the whole graph.
 * Not for use during render: the latest handler is installed when the render commits.
 */
export function useStableHandler<A extends unknown[], R>(handler: (...args: A) => R): (...args: A) => R {
  const latest = useRef(handler);
  useLayoutEffect(() => {
    latest.current = handler;
  });
  return useCallback((...args: A) => latest.current(...args), []);
}
