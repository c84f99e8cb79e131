import type { LiveEvent } from '@deepforge/protocol';
import { notifications } from '@mantine/notifications';
import { useQueryClient } from '@tanstack/react-query';
import type { ReactNode } from 'react';
import { createContext, useContext, useEffect, useRef, useState } from 'react';
import type { EventsStatus } from './events-client.js';
import { EventsClient, socketUrl } from './events-client.js';

const EventsContext = createContext<EventsClient | null>(null);

/**
 * The tab's one /api/events connection; after a reconnect every query is refetched (events may be missed). A
 * new `identity` (someone else signed in) opens the socket again, as that user.
 */
export function EventsProvider({ identity, children }: { identity?: string; children: ReactNode }) {
  const queryClient = useQueryClient();
  const [client] = useState(
    () =>
      new EventsClient(socketUrl('/api/events'), {
        onError: (e) => {
          if (e.code === 'client-too-old' || e.code === 'server-too-old') {
            notifications.show({
              id: 'events-version',
              color: 'red',
              autoClose: false,
              title: 'DeepForge was updated',
              message: `${e.message} Reload the page to continue.`,
            });
          }
        },
      }),
  );
  useEffect(() => {
    const offReconnect = client.onReconnect(() => void queryClient.invalidateQueries());
    const online = (): void => client.reconnectNow();
    const visible = (): void => {
      if (document.visibilityState === 'visible') client.reconnectNow();
    };
    window.addEventListener('online', online);
    document.addEventListener('visibilitychange', visible);
    return () => {
      offReconnect();
      window.removeEventListener('online', online);
      document.removeEventListener('visibilitychange', visible);
    };
  }, [client, queryClient]);
  const first = useRef(true);
  useEffect(() => {
    if (first.current) {
      first.current = false;
      return;
    }
    client.restart();
  }, [client, identity]);
  return <EventsContext.Provider value={client}>{children}</EventsContext.Provider>;
}

export function useEventsClient(): EventsClient {
  const c = useContext(EventsContext);
  if (!c) throw new Error('useEventsClient outside EventsProvider');
  return c;
}

export function useEventsStatus(): EventsStatus {
  const client = useEventsClient();
  const [status, setStatus] = useState(client.status);
  useEffect(() => {
    setStatus(client.status);
    return client.onStatus(setStatus);
  }, [client]);
  return status;
}

/**
 * Calls `handler` for every live event of an execution (`'*'`: the status events of all) while mounted. The handler may change
 * between renders without resubscribing.
 */
export function useExecutionEvents(executionId: string | null, handler: (e: LiveEvent) => void): void {
  const client = useEventsClient();
  const ref = useRef(handler);
  useEffect(() => {
    ref.current = handler;
  });
  useEffect(() => {
    if (!executionId) return;
    return client.subscribe(executionId, (e) => ref.current(e));
  }, [client, executionId]);
}

/** Runs `handler` after the events socket came back, to refetch what the view shows. */
export function useOnEventsReconnect(handler: () => void): void {
  const client = useEventsClient();
  const ref = useRef(handler);
  useEffect(() => {
    ref.current = handler;
  });
  useEffect(() => client.onReconnect(() => ref.current()), [client]);
}
