import { Center, Loader } from '@mantine/core';
import { Navigate, Outlet, useLocation } from 'react-router';
import { SIGN_IN_PATH, signInHref } from '../lib/return-path.js';
import { useAuth } from './auth.context.js';
import { ServerUnreachable } from './sign-in.page.js';

/**
 * The app's pages, for whoever may see them: everyone when accounts are off, the signed-in otherwise. Signed out,
 * the sign-in page shows instead, with the address it was at, to come back to it.
 */
export function AuthGate() {
  const { state, recheck } = useAuth();
  const location = useLocation();
  switch (state.phase) {
    case 'loading':
      return (
        <Center h="100vh">
          <Loader size="sm" />
        </Center>
      );
    case 'unreachable':
      return <ServerUnreachable message={state.message} onRetry={recheck} />;
    case 'signed-out':
      // Signed out on purpose: the next person to sign in starts at the projects, not at this one's page.
      return <Navigate to={state.reason === 'signed-out' ? SIGN_IN_PATH : signInHref(location)} replace />;
    case 'off':
    case 'signed-in':
      return <Outlet />;
  }
}
