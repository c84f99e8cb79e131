import type { AuthStatus, UserDto } from '@deepforge/protocol';

/** Why the sign-in page shows: it says so above the form. */
export type SignedOutReason = 'start' | 'signed-out' | 'session-ended' | 'password-changed';

/**
 * Where this tab stands with the server's accounts (ADR 0009):
 * - `loading`: GET /api/auth/status is on its way (at start, after a retry, after a 401 with accounts off);
 * - `unreachable`: that request failed (the page offers to try again);
 * - `off`: accounts are off, the app is open to whoever reaches it (as before accounts existed);
 * - `signed-out`: accounts are on and this tab has no session;
 * - `signed-in`: a session, for `user`.
 */
export type AuthState =
  | { phase: 'loading' }
  | { phase: 'unreachable'; message: string }
  | { phase: 'off' }
  | {
      phase: 'signed-out';
      needsFirstUser: boolean;
      reason: SignedOutReason;
      /** Who was signed in when the session ended (the form starts with that name). */
      lastName?: string;
    }
  | { phase: 'signed-in'; user: UserDto };

export type AuthEvent =
  /** GET /api/auth/status answered. */
  | { type: 'status'; status: AuthStatus }
  | { type: 'status-failed'; message: string }
  /** Read the status again (the "try again" of the unreachable page, "check again" for a first user). */
  | { type: 'recheck' }
  | { type: 'signed-in'; user: UserDto }
  /** Signed out on purpose, or every session ended with a password change. */
  | { type: 'signed-out'; reason: 'signed-out' | 'password-changed' }
  /** An API call answered 401: the session ended (expired, revoked) or accounts were turned on meanwhile. */
  | { type: 'unauthorized' };

export const initialAuthState: AuthState = { phase: 'loading' };

export function authReducer(state: AuthState, event: AuthEvent): AuthState {
  switch (event.type) {
    case 'status': {
      const { enabled, user, needsFirstUser } = event.status;
      if (!enabled) return { phase: 'off' };
      if (user) return { phase: 'signed-in', user };
      // Keep the reason a re-check found still true (the sign-in page keeps saying why it is shown).
      if (state.phase === 'signed-out') return { ...state, needsFirstUser };
      return { phase: 'signed-out', needsFirstUser, reason: 'start' };
    }
    case 'status-failed':
      return state.phase === 'loading' ? { phase: 'unreachable', message: event.message } : state;
    case 'recheck':
      return state.phase === 'unreachable' || state.phase === 'signed-out' ? { phase: 'loading' } : state;
    case 'signed-in':
      return { phase: 'signed-in', user: event.user };
    case 'signed-out':
      return event.reason === 'password-changed' && state.phase === 'signed-in'
        ? { phase: 'signed-out', needsFirstUser: false, reason: event.reason, lastName: state.user.name }
        : { phase: 'signed-out', needsFirstUser: false, reason: event.reason };
    case 'unauthorized':
      if (state.phase === 'signed-in')
        return {
          phase: 'signed-out',
          needsFirstUser: false,
          reason: 'session-ended',
          lastName: state.user.name,
        };
      // Accounts were off when the tab started: the server restarted with them on; ask again.
      if (state.phase === 'off') return { phase: 'loading' };
      return state;
  }
}

/** The app's pages may show: accounts are off, or someone is signed in. */
export function appOpen(state: AuthState): boolean {
  return state.phase === 'off' || state.phase === 'signed-in';
}

/** The signed-in user, or null (signed out, or accounts off). */
export function userOf(state: AuthState): UserDto | null {
  return state.phase === 'signed-in' ? state.user : null;
}

/**
 * Who the tab is to the server, as a key that changes whenever that changes: connections opened for one
 * identity (the events socket) must be opened again for another.
 */
export function identityKey(state: AuthState): string {
  switch (state.phase) {
    case 'off':
      return 'off';
    case 'signed-in':
      return `user:${state.user.name}`;
    case 'loading':
    case 'unreachable':
    case 'signed-out':
      return 'none';
  }
}
