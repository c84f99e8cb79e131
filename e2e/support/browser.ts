import { existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { chromium } from 'playwright-core';
import { ROOT } from './server.js';

/** Debian's Chromium; never a downloaded one (`npx playwright install` is not used here). */
export const CHROMIUM = process.env.DEEPFORGE_CHROMIUM ?? '/usr/bin/chromium';

export const CHROMIUM_ARGS = [
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];

/**
 * One headless Chromium. Playwright's `launch` gives every launch a fresh temporary user-data-dir (deleted on
 * close), so no profile, cache or localStorage leaks from one run into the next; contexts are isolated too.
 */
export async function launchBrowser(): Promise<Browser> {
  if (!existsSync(CHROMIUM))
    throw new Error(`${CHROMIUM} is missing: install Debian's Chromium (apt-get install -y chromium)`);
  return chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS, headless: true });
}

/** What went wrong inside a page: uncaught exceptions and console errors. */
export interface PageProblems {
  pageErrors: string[];
  consoleErrors: string[];
}

export interface TestPage {
  context: BrowserContext;
  page: Page;
  problems: PageProblems;
}

/** A fresh context (its own storage) and page on `baseURL`, recording uncaught errors and console errors. */
export async function openPage(browser: Browser, baseURL: string): Promise<TestPage> {
  const context = await browser.newContext({ baseURL, viewport: { width: 1440, height: 900 } });
  context.setDefaultTimeout(15_000);
  const page = await context.newPage();
  const problems: PageProblems = { pageErrors: [], consoleErrors: [] };
  page.on('pageerror', (e) => problems.pageErrors.push(`${e.name}: ${e.message}`));
  page.on('console', (m) => {
    // With the URL it is about ("Failed to load resource" names no URL in its text).
    if (m.type() === 'error') {
      const url = m.location().url;
      problems.consoleErrors.push(url ? `${m.text()} (${url})` : m.text());
    }
  });
  return { context, page, problems };
}

/** `test-results/e2e/<test>/<step>.png`: what the user saw at that step. */
export async function snap(page: Page, test: string, step: string): Promise<string> {
  const dir = join(ROOT, 'test-results', 'e2e', test);
  mkdirSync(dir, { recursive: true });
  const path = join(dir, `${step}.png`);
  await page.screenshot({ path });
  return path;
}
