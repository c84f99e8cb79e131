import { MantineProvider } from '@mantine/core';
import { QueryClient, QueryClientProvider } from '@tanstack/react-query';
import { useState } from 'react';
import { RouterProvider } from 'react-router';
import type { ReactNode } from 'react';
import { EventsProvider } from '../api/events.context.js';
import { ApiRequestError } from '../api/http.js';
import { AuthProvider, useAuth } from '../auth/auth.context.js';
import { identityKey } from '../lib/auth-state.js';
import { createAppRouter } from './routes.js';
import { theme } from './theme.js';

export function App() {
  const [queryClient] = useState(
    () =>
      new QueryClient({
        defaultOptions: {
          queries: {
            staleTime: 5_000,
            refetchOnWindowFocus: false,
            // 4xx answers will not change by asking again; the network and 5xx might.
            retry: (count, error) =>
              count < 2 && !(error instanceof ApiRequestError && error.status >= 400 && error.status < 500),
          },
        },
      }),
  );
  const [router] = useState(createAppRouter);
  return (
    <MantineProvider theme={theme} defaultColorScheme="light">
      <QueryClientProvider client={queryClient}>
        <AuthProvider>
          <EventsForUser>
            <RouterProvider router={router} />
          </EventsForUser>
        </AuthProvider>
      </QueryClientProvider>
    </MantineProvider>
  );
}

/** The events socket, opened again whenever someone else signs in (it carries who opened it). */
function EventsForUser({ children }: { children: ReactNode }) {
  const { state } = useAuth();
  return <EventsProvider identity={identityKey(state)}>{children}</EventsProvider>;
}
