import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { CHROMIUM_ARGS } from '../../e2e/support/browser.js';
import type { Rest } from '../../e2e/support/rest.js';
import type { RunningServer } from '../../e2e/support/server.js';
import { ROOT } from '../../e2e/support/server.js';

/** What every UI benchmark gets: one server, one browser, the REST API, and a place for its screenshots. */
export interface BenchContext {
  server: RunningServer;
  rest: Rest;
  browser: Browser;
  /** Measured runs (after a warm-up). */
  repeat: number;
  /** `--smoke`: tiny sizes, no warm-up, no screenshots; checks that the benchmark runs, its numbers are not kept. */
  smoke: boolean;
  log: (line: string) => void;
}

export interface BenchResult {
  /** One line for the terminal. */
  summaryLine: string;
  /** The section's body in docs/benchmarks.md. */
  markdown: string;
  /** Raw numbers, for bench/results/. */
  raw: unknown;
}

export interface UiBenchmark {
  name: string;
  title: string;
  /** The code its numbers depend on, as git pathspecs (docs/benchmarks.md: the freshness check); tests aside. */
  measures: readonly string[];
  run(ctx: BenchContext): Promise<BenchResult>;
}

/** What every UI benchmark measures: the client it loads, the server and engine behind it, how both are started. */
export const UI_MEASURES = [
  'packages/client/src',
  'packages/client/index.html',
  'packages/client/vite.config.ts',
  'packages/server/src',
  'packages/engine/src',
  'packages/core/src',
  'packages/protocol/src',
  'packages/cli/src',
  'bench/ui',
  'e2e/support/server.ts',
  'e2e/support/browser.ts',
] as const;

export { CHROMIUM_ARGS };

/** A fresh context (empty cache and storage: a cold load) and its page, sized like a laptop screen. */
export async function freshPage(
  browser: Browser,
  baseURL: string,
): Promise<{ context: BrowserContext; page: Page }> {
  const context = await browser.newContext({
    baseURL,
    locale: 'en-US',
    viewport: { width: 1440, height: 900 },
  });
  context.setDefaultTimeout(60_000);
  // tsx (esbuild, keepNames) wraps named functions in `__name(…)`: functions sent to the page need it there too.
  await context.addInitScript({ content: 'globalThis.__name = (f) => f;' });
  const page = await context.newPage();
  return { context, page };
}

/** `test-results/bench-ui/<name>.png`, to look at what was measured. */
export async function benchShot(page: Page, name: string): Promise<void> {
  const dir = join(ROOT, 'test-results', 'bench-ui');
  mkdirSync(dir, { recursive: true });
  await page.screenshot({ path: join(dir, `${name}.png`) });
}
