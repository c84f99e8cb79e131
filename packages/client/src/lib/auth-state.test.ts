import type { AuthStatus } from '@deepforge/protocol';
import { describe, expect, it } from 'vitest';
import type { AuthEvent, AuthState } from './auth-state.js';
import { appOpen, authReducer, identityKey, initialAuthState, userOf } from './auth-state.js';

const alice = { name: 'alice', admin: false };
const status = (s: Partial<AuthStatus>): AuthEvent => ({
  type: 'status',
  status: { enabled: true, user: null, needsFirstUser: false, ...s },
});
const run = (events: AuthEvent[], from: AuthState = initialAuthState): AuthState =>
  events.reduce(authReducer, from);

describe('authReducer', () => {
  it('starts loading and opens the app when accounts are off', () => {
    expect(initialAuthState).toEqual({ phase: 'loading' });
    const off = run([status({ enabled: false })]);
    expect(off).toEqual({ phase: 'off' });
    expect(appOpen(off)).toBe(true);
    expect(userOf(off)).toBeNull();
  });

  it('is signed in when the status names a user, signed out otherwise', () => {
    expect(run([status({ user: alice })])).toEqual({ phase: 'signed-in', user: alice });
    const out = run([status({})]);
    expect(out).toEqual({ phase: 'signed-out', needsFirstUser: false, reason: 'start' });
    expect(appOpen(out)).toBe(false);
    expect(run([status({ needsFirstUser: true })])).toMatchObject({ needsFirstUser: true });
  });

  it('signs in and out', () => {
    const inState = run([status({}), { type: 'signed-in', user: alice }]);
    expect(userOf(inState)).toEqual(alice);
    expect(authReducer(inState, { type: 'signed-out', reason: 'signed-out' })).toEqual({
      phase: 'signed-out',
      needsFirstUser: false,
      reason: 'signed-out',
    });
    expect(authReducer(inState, { type: 'signed-out', reason: 'password-changed' })).toEqual({
      phase: 'signed-out',
      needsFirstUser: false,
      reason: 'password-changed',
      lastName: 'alice',
    });
  });

  it('turns a 401 while signed in into a signed-out state that says the session ended', () => {
    const ended = run([status({ user: alice }), { type: 'unauthorized' }]);
    expect(ended).toEqual({
      phase: 'signed-out',
      needsFirstUser: false,
      reason: 'session-ended',
      lastName: 'alice',
    });
    // More 401s from requests still under way change nothing.
    expect(authReducer(ended, { type: 'unauthorized' })).toBe(ended);
  });

  it('reads the status again after a 401 with accounts off (the server turned them on)', () => {
    expect(run([status({ enabled: false }), { type: 'unauthorized' }])).toEqual({ phase: 'loading' });
  });

  it('keeps why the sign-in page shows when a re-check finds nobody signed in', () => {
    const rechecked = run([status({ user: alice }), { type: 'unauthorized' }, { type: 'recheck' }]);
    expect(rechecked).toEqual({ phase: 'loading' });
    // From loading the reason is gone, as after a page load: the page then just asks to sign in.
    expect(authReducer(rechecked, status({}))).toEqual({
      phase: 'signed-out',
      needsFirstUser: false,
      reason: 'start',
    });
    const out: AuthState = { phase: 'signed-out', needsFirstUser: true, reason: 'session-ended' };
    expect(authReducer(out, status({ needsFirstUser: false }))).toEqual({
      phase: 'signed-out',
      needsFirstUser: false,
      reason: 'session-ended',
    });
  });

  it('says the server is unreachable when the status fails, and tries again on request', () => {
    const down = run([{ type: 'status-failed', message: 'cannot reach the DeepForge server' }]);
    expect(down).toEqual({ phase: 'unreachable', message: 'cannot reach the DeepForge server' });
    expect(authReducer(down, { type: 'recheck' })).toEqual({ phase: 'loading' });
    // A late failure does not undo a state that is known.
    const signedIn = run([status({ user: alice })]);
    expect(authReducer(signedIn, { type: 'status-failed', message: 'x' })).toBe(signedIn);
    expect(authReducer(signedIn, { type: 'recheck' })).toBe(signedIn);
  });

  it('gives each identity its own key', () => {
    expect(identityKey({ phase: 'off' })).toBe('off');
    expect(identityKey({ phase: 'signed-in', user: alice })).toBe('user:alice');
    expect(identityKey({ phase: 'signed-in', user: { name: 'bob', admin: true } })).toBe('user:bob');
    expect(identityKey({ phase: 'signed-out', needsFirstUser: false, reason: 'start' })).toBe('none');
  });
});
