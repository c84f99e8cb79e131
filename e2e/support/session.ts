import type { Browser } from 'playwright-core';
import { afterAll, beforeAll } from 'vitest';
import { launchBrowser, openPage, type TestPage } from './browser.js';
import { Rest } from './rest.js';
import { removeDir, startServer, type RunningServer } from './server.js';

/** A real server on a fresh data dir, Debian's Chromium and one tab on it. */
export interface BrowserSession {
  server: RunningServer;
  rest: Rest;
  browser: Browser;
  tab: TestPage;
}

/**
 * Opens a BrowserSession before the tests of the enclosing describe block and removes it (and its data dir)
 * after them. The fields are set once `beforeAll` has run: read them inside the tests.
 */
export function browserSession(): BrowserSession {
  const session = {} as BrowserSession;
  beforeAll(async () => {
    [session.server, session.browser] = await Promise.all([startServer(), launchBrowser()]);
    session.rest = new Rest(session.server.url);
    session.tab = await openPage(session.browser, session.server.url);
  });
  afterAll(async () => {
    await session.browser?.close();
    await session.server?.stop();
    if (session.server) await removeDir(session.server.dataDir);
  });
  return session;
}
