import type { AccessTokenDto } from '@deepforge/protocol';
import { describe, expect, it } from 'vitest';
import {
  expiresInDays,
  formatWait,
  passwordProblem,
  repeatProblem,
  secretNameProblem,
  TOKEN_EXPIRY_CHOICES,
  tokenState,
} from './account-rules.js';

describe('passwordProblem', () => {
  it('asks for 8 characters to 1024 bytes', () => {
    expect(passwordProblem('short')).toMatch(/at least 8/);
    expect(passwordProblem('long enough')).toBeNull();
    expect(passwordProblem('x'.repeat(1024))).toBeNull();
    expect(passwordProblem('x'.repeat(1025))).toMatch(/1024 bytes/);
    // Bytes, not characters: 400 three-byte characters are 1200 bytes.
    expect(passwordProblem('€'.repeat(400))).toMatch(/1024 bytes/);
  });
  it('checks the repeat only once typed', () => {
    expect(repeatProblem('abcdefgh', '')).toBeNull();
    expect(repeatProblem('abcdefgh', 'abcdefgh')).toBeNull();
    expect(repeatProblem('abcdefgh', 'abcdefg')).toMatch(/differ/);
  });
});

describe('secretNameProblem', () => {
  it('takes environment variable names', () => {
    expect(secretNameProblem('WANDB_API_KEY')).toBeNull();
    expect(secretNameProblem('_x1')).toBeNull();
    expect(secretNameProblem('')).toMatch(/needs a name/);
    expect(secretNameProblem('1ABC')).toMatch(/environment variable/);
    expect(secretNameProblem('MY-KEY')).toMatch(/environment variable/);
    expect(secretNameProblem('A'.repeat(129))).toMatch(/environment variable/);
  });
  it('refuses the variables DeepForge and Python set', () => {
    expect(secretNameProblem('PATH')).toMatch(/sets itself/);
    expect(secretNameProblem('HOME')).toMatch(/sets itself/);
    expect(secretNameProblem('DEEPFORGE_JOB')).toMatch(/sets itself/);
    expect(secretNameProblem('PYTHONPATH')).toMatch(/sets itself/);
  });
});

describe('tokens', () => {
  const token = (t: Partial<AccessTokenDto>): AccessTokenDto => ({
    id: 't',
    name: 'cli',
    prefix: 'dfp_abcd',
    createdAt: 0,
    expiresAt: null,
    lastUsedAt: null,
    revokedAt: null,
    ...t,
  });
  it('maps the expiry choices to days', () => {
    expect(TOKEN_EXPIRY_CHOICES.map((c) => expiresInDays(c.value))).toEqual([30, 90, 365, null]);
  });
  it('says whether a token is active, expired or revoked', () => {
    expect(tokenState(token({}), 1000)).toBe('active');
    expect(tokenState(token({ expiresAt: 2000 }), 1000)).toBe('active');
    expect(tokenState(token({ expiresAt: 1000 }), 1000)).toBe('expired');
    expect(tokenState(token({ expiresAt: 500, revokedAt: 400 }), 1000)).toBe('revoked');
  });
});

describe('formatWait', () => {
  it('says a wait in words', () => {
    expect(formatWait(0)).toBe('0 s');
    expect(formatWait(44.2)).toBe('45 s');
    expect(formatWait(60)).toBe('1 min');
    expect(formatWait(61)).toBe('2 min');
    expect(formatWait(900)).toBe('15 min');
    expect(formatWait(3600)).toBe('1 h');
    expect(formatWait(3900)).toBe('1 h 5 min');
  });
});
