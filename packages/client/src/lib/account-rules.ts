import type { AccessTokenDto } from '@deepforge/protocol';

/*
 * The server's account rules (packages/engine accounts.service.ts), checked as the user types so the form can
 * say what is wrong before sending it. The server checks them again and its word is final.
 */

export const PASSWORD_MIN_LENGTH = 8;
export const PASSWORD_MAX_BYTES = 1024;

export function passwordProblem(password: string): string | null {
  if (password.length < PASSWORD_MIN_LENGTH)
    return `a password needs at least ${PASSWORD_MIN_LENGTH} characters`;
  if (new TextEncoder().encode(password).length > PASSWORD_MAX_BYTES)
    return `a password may have at most ${PASSWORD_MAX_BYTES} bytes`;
  return null;
}

/** The new password twice, as the form asks for it: what to say under the second field, if anything. */
export function repeatProblem(password: string, repeat: string): string | null {
  return repeat !== '' && repeat !== password ? 'the two new passwords differ' : null;
}

const SECRET_NAME_RULE = /^[A-Za-z_][A-Za-z0-9_]{0,127}$/;

/** Secrets reach jobs as environment variables: POSIX names, not one DeepForge or Python sets itself. */
export function secretNameProblem(name: string): string | null {
  if (name === '') return 'a secret needs a name';
  if (!SECRET_NAME_RULE.test(name))
    return 'an environment variable name: letters, digits and "_", not starting with a digit (at most 128)';
  if (/^(DEEPFORGE_|PYTHON)/.test(name) || name === 'PATH' || name === 'HOME')
    return `${name} is a variable DeepForge or Python sets itself`;
  return null;
}

/** The expiry choices of a new token, as the Select shows them; the value is days, or `never`. */
export const TOKEN_EXPIRY_CHOICES = [
  { value: '30', label: '30 days' },
  { value: '90', label: '90 days' },
  { value: '365', label: '365 days' },
  { value: 'never', label: 'Never' },
] as const;
export type TokenExpiryChoice = (typeof TOKEN_EXPIRY_CHOICES)[number]['value'];
export const DEFAULT_TOKEN_EXPIRY: TokenExpiryChoice = '90';

/** `expiresInDays` for POST /api/auth/tokens: null is "never". */
export function expiresInDays(choice: TokenExpiryChoice): number | null {
  return choice === 'never' ? null : Number(choice);
}

export type TokenState = 'active' | 'expired' | 'revoked';

export function tokenState(token: AccessTokenDto, now: number): TokenState {
  if (token.revokedAt !== null) return 'revoked';
  if (token.expiresAt !== null && token.expiresAt <= now) return 'expired';
  return 'active';
}

/** A wait the server asked for (429 Retry-After), in words: "45 s", "3 min", "1 h 5 min". */
export function formatWait(seconds: number): string {
  const s = Math.max(0, Math.ceil(seconds));
  if (s < 60) return `${s} s`;
  const minutes = Math.ceil(s / 60);
  if (minutes < 60) return `${minutes} min`;
  const h = Math.floor(minutes / 60);
  const m = minutes % 60;
  return m === 0 ? `${h} h` : `${h} h ${m} min`;
}
