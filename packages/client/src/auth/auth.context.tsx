import type { UserDto } from '@deepforge/protocol';
import { useQueryClient } from '@tanstack/react-query';
import type { ReactNode } from 'react';
import { createContext, useCallback, useContext, useEffect, useMemo, useReducer } from 'react';
import { getAuthStatus, signOut as postSignOut } from '../api/endpoints.js';
import { errorMessage, onApiError } from '../api/http.js';
import type { AuthState } from '../lib/auth-state.js';
import { authReducer, initialAuthState, userOf } from '../lib/auth-state.js';

export interface AuthValue {
  state: AuthState;
  /** Accounts are on: there is a sign-in, a user menu, sharing. */
  enabled: boolean;
  user: UserDto | null;
  /** The sign-in page signed someone in. */
  signedIn: (user: UserDto) => void;
  /** Ends the session (POST /api/auth/logout) and shows the sign-in page. */
  signOut: () => Promise<void>;
  /** The password changed: the server ended every session of the user. */
  passwordChanged: () => void;
  /** Reads GET /api/auth/status again. */
  recheck: () => void;
}

const AuthContext = createContext<AuthValue | null>(null);

/**
 * Whether accounts are on and who is signed in (GET /api/auth/status at start). Any API call answering 401
 * afterwards means the session ended: the state turns signed-out and the gate sends the user to the sign-in
 * page, which brings them back where they were.
 */
export function AuthProvider({ children }: { children: ReactNode }) {
  const [state, dispatch] = useReducer(authReducer, initialAuthState);
  const queryClient = useQueryClient();

  useEffect(() => {
    if (state.phase !== 'loading') return;
    let live = true;
    getAuthStatus()
      .then((status) => live && dispatch({ type: 'status', status }))
      .catch((e: unknown) => live && dispatch({ type: 'status-failed', message: errorMessage(e) }));
    return () => {
      live = false;
    };
  }, [state.phase]);

  useEffect(
    () =>
      onApiError((e) => {
        if (e.status === 401) dispatch({ type: 'unauthorized' });
      }),
    [],
  );

  const signedIn = useCallback(
    (user: UserDto) => {
      // Nothing the previous user (or nobody) was shown may linger for this one.
      queryClient.clear();
      dispatch({ type: 'signed-in', user });
    },
    [queryClient],
  );
  const signOut = useCallback(async () => {
    try {
      await postSignOut();
    } finally {
      dispatch({ type: 'signed-out', reason: 'signed-out' });
      queryClient.clear();
    }
  }, [queryClient]);
  const passwordChanged = useCallback(() => {
    dispatch({ type: 'signed-out', reason: 'password-changed' });
    queryClient.clear();
  }, [queryClient]);
  const recheck = useCallback(() => dispatch({ type: 'recheck' }), []);

  const value = useMemo<AuthValue>(
    () => ({
      state,
      enabled: state.phase !== 'off',
      user: userOf(state),
      signedIn,
      signOut,
      passwordChanged,
      recheck,
    }),
    [state, signedIn, signOut, passwordChanged, recheck],
  );
  return <AuthContext.Provider value={value}>{children}</AuthContext.Provider>;
}

export function useAuth(): AuthValue {
  const v = useContext(AuthContext);
  if (!v) throw new Error('useAuth outside AuthProvider');
  return v;
}
