import { describe, expect, it } from 'vitest';
import { returnPath, SIGN_IN_PATH, signInHref } from './return-path.js';

describe('signInHref', () => {
  it('keeps where the user was, query and hash included', () => {
    expect(
      signInHref({ pathname: '/projects/p1/executions/e2', search: '?node=train&tab=plots', hash: '#x' }),
    ).toBe('/sign-in?next=%2Fprojects%2Fp1%2Fexecutions%2Fe2%3Fnode%3Dtrain%26tab%3Dplots%23x');
  });
  it('needs no next for the start page, and never points the sign-in page at itself', () => {
    expect(signInHref({ pathname: '/' })).toBe(SIGN_IN_PATH);
    expect(signInHref({ pathname: '/', search: '', hash: '' })).toBe('/sign-in');
    expect(signInHref({ pathname: '/sign-in', search: '?next=%2Fprofile' })).toBe('/sign-in?next=%2Fprofile');
  });
  it('round-trips through returnPath', () => {
    const place = { pathname: '/projects/a b/pipelines/my pipe', search: '?q=1', hash: '' };
    const href = signInHref(place);
    const next = new URL(href, 'http://x').searchParams.get('next');
    expect(returnPath(next)).toBe('/projects/a%20b/pipelines/my%20pipe?q=1');
  });
});

describe('returnPath', () => {
  it('returns paths of the app', () => {
    expect(returnPath('/projects/p1/pipelines')).toBe('/projects/p1/pipelines');
    expect(returnPath('/profile?x=1#t')).toBe('/profile?x=1#t');
    expect(returnPath('/')).toBe('/');
  });
  it('goes to the start page without a next', () => {
    expect(returnPath(null)).toBe('/');
    expect(returnPath(undefined)).toBe('/');
    expect(returnPath('')).toBe('/');
  });
  it('refuses other sites, however they are spelled', () => {
    for (const next of [
      'https://evil.example/',
      '//evil.example/path',
      '/\\evil.example',
      '\\\\evil.example',
      'javascript:alert(1)',
      ' /projects',
      '/\t/evil.example',
      'evil.example',
      `/${'a'.repeat(3000)}`,
    ])
      expect(returnPath(next), next).toBe('/');
  });
  it('does not go round to the sign-in page or to the API', () => {
    expect(returnPath('/sign-in')).toBe('/');
    expect(returnPath('/sign-in?next=%2Fprofile')).toBe('/');
    expect(returnPath('/api/projects')).toBe('/');
    expect(returnPath('/api')).toBe('/');
    // A path that merely starts alike is the app's.
    expect(returnPath('/sign-in-help')).toBe('/sign-in-help');
    expect(returnPath('/apis')).toBe('/apis');
  });
  it('normalizes dot segments before deciding', () => {
    expect(returnPath('/projects/../sign-in')).toBe('/');
    expect(returnPath('/projects/../api/x')).toBe('/');
    expect(returnPath('/projects/./p1')).toBe('/projects/p1');
  });
});
