/** The sign-in page; `?next=` holds where to go back to afterwards. */
export const SIGN_IN_PATH = '/sign-in';

const MAX_NEXT_LENGTH = 2000;

export interface PlaceInApp {
  pathname: string;
  search?: string;
  hash?: string;
}

/**
 * The sign-in page's address for someone who was at `place`: they come back there after signing in. The start
 * page needs no `next`, nor does the sign-in page itself.
 */
export function signInHref(place: PlaceInApp): string {
  const target = `${place.pathname}${place.search ?? ''}${place.hash ?? ''}`;
  if (place.pathname === '/' && !place.search && !place.hash) return SIGN_IN_PATH;
  if (isSignInPath(place.pathname)) return `${place.pathname}${place.search ?? ''}`;
  return `${SIGN_IN_PATH}?next=${encodeURIComponent(target)}`;
}

function isSignInPath(pathname: string): boolean {
  return pathname === SIGN_IN_PATH || pathname.startsWith(`${SIGN_IN_PATH}/`);
}

/**
 * Where to go after signing in: `next` when it is a path of this app, else the start page. Anything else is
 * refused, so a link to the sign-in page cannot send someone to another site (`//evil.example`, `https://…`,
 * `/\evil.example`, `javascript:`), to the API, or round to the sign-in page again.
 */
export function returnPath(next: string | null | undefined): string {
  if (!next || next.length > MAX_NEXT_LENGTH) return '/';
  if (!next.startsWith('/') || next.startsWith('//')) return '/';
  // Browsers read a backslash as a slash in URLs: `/\evil.example` is another host.
  // eslint-disable-next-line no-control-regex
  if (/[\\\u0000-\u001f\u007f]/.test(next)) return '/';
  let url: URL;
  try {
    url = new URL(next, 'http://app.invalid');
  } catch {
    return '/';
  }
  if (url.origin !== 'http://app.invalid') return '/';
  if (isSignInPath(url.pathname) || url.pathname === '/api' || url.pathname.startsWith('/api/')) return '/';
  return `${url.pathname}${url.search}${url.hash}`;
}
