import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { openSqliteStores } from '@deepforge/engine';
import type { ExecutionSummaryDto } from '@deepforge/protocol';
import type { BenchContext, BenchResult, UiBenchmark } from './context.js';
import { UI_MEASURES, benchShot, freshPage } from './context.js';
import { median, ms, ratio, spread, table } from './stats.js';

const FULL = { big: 10_000, small: 100 };
/** Smoke: over a thousand, so that the footer's numbers are formatted ("1,001–1,050") as in the full run. */
const SMOKE = { big: 1_050, small: 20 };
const PAGE = 50;
const STATUSES = ['success', 'failed', 'canceled'] as const;

/**
 * Executions stored straight through the engine's store port (as the engine stores them: one execution and its
 * job per transaction, then its start and end times), into the running server's database.
 */
async function insertExecutions(
  dataDir: string,
  projectId: string,
  count: number,
  prefix: string,
): Promise<number> {
  const stores = await openSqliteStores(join(dataDir, 'deepforge.db'));
  const t0 = performance.now();
  try {
    const created = Date.now() - count * 60_000;
    for (let i = 0; i < count; i++) {
      const id = `${prefix}${String(i).padStart(5, '0')}`;
      const createdAt = created + i * 60_000;
      await stores.executions.insertExecution(
        {
          id,
          projectId,
          project: 'bench list',
          name: `run ${(i * 7919) % count}`,
          pipeline: i % 3 === 0 ? 'train' : 'hello',
          status: STATUSES[i % STATUSES.length] as (typeof STATUSES)[number],
          createdAt,
          options: {},
          snapshot: {},
        },
        [{ id: `${id}a`, executionId: id, node: 'a', operation: 'A' }],
      );
      await stores.executions.updateExecution(id, {
        startedAt: createdAt + 100,
        endedAt: createdAt + 100 + ((i * 104_729) % 3_600_000),
      });
    }
  } finally {
    await stores.close();
  }
  return performance.now() - t0;
}

/** What the list must show for a step to be done (read from the attributes the view exposes for tests). */
interface Until {
  /** The footer's first row number (its `data-first`). */
  first: number;
  rows?: number;
  firstRow?: string;
}

/**
 * In the page: clicks (a pagination page number, or an element), then checks each animation frame until the list
 * shows what `until` says; resolves to the milliseconds in between: what the user waits for the new rows.
 */
function clickAndWait(spec: { click: string; pageNumber?: string; until: Until }): Promise<Step> {
  const shows = (u: Until): boolean => {
    const rows = document.querySelectorAll('[data-testid=execution-row]');
    const first = document.querySelector('[data-testid=executions-total]')?.getAttribute('data-first');
    // While the next page loads, the view keeps the previous rows, dimmed: those do not count.
    const placeholder =
      document.querySelector('[data-testid=executions-table]')?.getAttribute('data-placeholder') !== 'false';
    return (
      !placeholder &&
      first === String(u.first) &&
      (u.rows === undefined || rows.length === u.rows) &&
      (u.firstRow === undefined || rows[0]?.getAttribute('data-execution-id') === u.firstRow)
    );
  };
  return new Promise((resolve, reject) => {
    const target = [...document.querySelectorAll<HTMLElement>(spec.click)].find(
      (el) => spec.pageNumber === undefined || el.textContent === spec.pageNumber,
    );
    if (!target) throw new Error(`nothing to click: ${spec.click} ${spec.pageNumber ?? ''}`);
    const t0 = performance.now();
    target.click();
    const frame = (): void => {
      if (shows(spec.until)) {
        const shown = performance.now() - t0;
        // The list request this click made: when the page sent it and when its answer was in.
        const request = (performance.getEntriesByType('resource') as PerformanceResourceTiming[]).find(
          (e) => e.startTime >= t0 && /\/api\/projects\/[0-9a-z]+\/executions\?/.test(e.name),
        );
        resolve({
          shown,
          sent: request ? request.startTime - t0 : Number.NaN,
          answered: request ? request.responseEnd - t0 : Number.NaN,
        });
      } else if (performance.now() - t0 > 60_000)
        reject(new Error(`not shown after 60 s: ${JSON.stringify(spec.until)}`));
      else requestAnimationFrame(frame);
    };
    requestAnimationFrame(frame);
  });
}

/** Before any page script: notes when the first page of rows and the total (`want`) are on screen. */
function watchList(want: number): void {
  const frame = (): void => {
    const rows = document.querySelectorAll('[data-testid=execution-row]').length;
    const total = document.querySelector('[data-testid=executions-total]')?.getAttribute('data-total');
    if (rows > 0 && total === String(want))
      (window as unknown as { __listShown: number }).__listShown = performance.now();
    else requestAnimationFrame(frame);
  };
  requestAnimationFrame(frame);
}

/** One click: when the new rows were on screen, when the page sent its request and had the answer (ms). */
interface Step {
  shown: number;
  sent: number;
  answered: number;
}

interface ListRun {
  firstRender: number;
  lastPage: number;
  sortName: number;
  sortDuration: number;
}

async function oneRun(
  ctx: BenchContext,
  projectId: string,
  total: number,
  shots: boolean,
  steps: Step[] = [],
): Promise<ListRun> {
  const { context, page } = await freshPage(ctx.browser, ctx.server.url);
  const api = async (q: string) =>
    (
      await ctx.rest.get<{ items: ExecutionSummaryDto[] }>(
        `/api/projects/${projectId}/executions?limit=1&${q}`,
      )
    ).items[0]?.id;
  const lastFirst = await api(`sort=created&order=desc&offset=${(Math.ceil(total / PAGE) - 1) * PAGE}`);
  const byName = await api('sort=name&order=asc');
  const byDuration = await api('sort=duration&order=desc');
  const pages = Math.ceil(total / PAGE);
  try {
    // First render: from navigation start to the first page of rows and the total.
    await page.addInitScript(watchList, total);
    await page.goto(`/projects/${projectId}/executions`);
    await page.waitForFunction(
      () => (window as unknown as { __listShown?: number }).__listShown !== undefined,
      null,
      {
        polling: 100,
      },
    );
    const firstRender = await page.evaluate(() => (window as unknown as { __listShown: number }).__listShown);
    if (shots) await benchShot(page, `list-${total}-first`);

    // Jump to the last page (the pagination's last page number).
    const last = await page.evaluate(clickAndWait, {
      click: '[data-testid=executions-pagination] button',
      pageNumber: String(pages),
      until: {
        first: (pages - 1) * PAGE + 1,
        rows: total - (pages - 1) * PAGE,
        firstRow: lastFirst ?? '',
      },
    });
    if (shots) await benchShot(page, `list-${total}-last-page`);
    // Sort by name, then by duration (each back to page 1).
    const byNameStep = await page.evaluate(clickAndWait, {
      click: '[data-testid=sort-name]',
      until: { first: 1, firstRow: byName ?? '' },
    });
    const byDurationStep = await page.evaluate(clickAndWait, {
      click: '[data-testid=sort-duration]',
      until: { first: 1, firstRow: byDuration ?? '' },
    });
    if (shots) await benchShot(page, `list-${total}-by-duration`);
    steps.push(last, byNameStep, byDurationStep);
    return {
      firstRender,
      lastPage: last.shown,
      sortName: byNameStep.shown,
      sortDuration: byDurationStep.shown,
    };
  } finally {
    await context.close();
  }
}

/** The same REST requests the view makes, timed from Node: the server's share of each step. */
async function restTimes(
  ctx: BenchContext,
  projectId: string,
  total: number,
): Promise<Record<keyof ListRun, number[]>> {
  const last = (Math.ceil(total / PAGE) - 1) * PAGE;
  const queries: Record<keyof ListRun, string> = {
    firstRender: `sort=created&order=desc&limit=${PAGE}&offset=0`,
    lastPage: `sort=created&order=desc&limit=${PAGE}&offset=${last}`,
    sortName: `sort=name&order=asc&limit=${PAGE}&offset=0`,
    sortDuration: `sort=duration&order=desc&limit=${PAGE}&offset=0`,
  };
  const out: Record<keyof ListRun, number[]> = {
    firstRender: [],
    lastPage: [],
    sortName: [],
    sortDuration: [],
  };
  for (let i = 0; i <= ctx.repeat; i++)
    for (const [k, q] of Object.entries(queries) as [keyof ListRun, string][]) {
      const t0 = performance.now();
      await ctx.rest.get(`/api/projects/${projectId}/executions?${q}`);
      if (i > 0) out[k].push(performance.now() - t0);
    }
  return out;
}

export const executionsList: UiBenchmark = {
  name: 'list',
  title: 'The executions list with 10,000 executions',
  measures: UI_MEASURES,
  async run(ctx: BenchContext): Promise<BenchResult> {
    const { big: BIG, small: SMALL } = ctx.smoke ? SMOKE : FULL;
    const big = await ctx.rest.createProject('bench list');
    const small = await ctx.rest.createProject('bench list small');
    const insertMs = await insertExecutions(ctx.server.dataDir, big.id, BIG, 'b');
    await insertExecutions(ctx.server.dataDir, small.id, SMALL, 's');
    ctx.log(`  stored ${BIG} executions in ${ms(insertMs)}`);

    const runs: Record<'big' | 'small', ListRun[]> = { big: [], small: [] };
    /** Every click on the big list, for where its time goes. */
    const steps: Step[] = [];
    const shots = (i: number): boolean => i === 0 && !ctx.smoke;
    if (!ctx.smoke) {
      await oneRun(ctx, small.id, SMALL, false);
      await oneRun(ctx, big.id, BIG, false);
    }
    for (let i = 0; i < ctx.repeat; i++) {
      runs.small.push(await oneRun(ctx, small.id, SMALL, shots(i)));
      const r = await oneRun(ctx, big.id, BIG, shots(i), steps);
      runs.big.push(r);
      ctx.log(
        `  ${BIG.toLocaleString('en-US')}: first render ${ms(r.firstRender)}, last page ${ms(r.lastPage)}, sort by name ${ms(r.sortName)}, by duration ${ms(r.sortDuration)}`,
      );
    }
    const server = await restTimes(ctx, big.id, BIG);
    const col = (k: 'big' | 'small', f: keyof ListRun) => runs[k].map((r) => r[f]);
    const row = (label: string, f: keyof ListRun) => [
      label,
      spread(col('small', f)),
      spread(col('big', f)),
      ratio(median(col('big', f)), median(col('small', f))),
      ms(median(server[f])),
    ];
    const markdown = [
      `A project with ${BIG.toLocaleString('en-US')} finished executions (stored through the engine's store port into the running server's SQLite database, one execution with its job per transaction as the engine stores them: ${ms(insertMs)} on tmpfs), the Executions view opened in a fresh context each run. Paging, sorting and counting happen in the database; the view shows ${PAGE} rows a page. Times in the page (\`performance.now()\`, checked each animation frame): first render from navigation start to the first page of rows with its total; the others from the click to the new rows on screen (a REST request each). Baseline: the same view of a project with ${SMALL} executions (${Math.ceil(SMALL / PAGE)} pages). ${ctx.repeat} runs of each after one warm-up; median (min–max).`,
      '',
      table(
        [
          '',
          `${SMALL} executions (baseline)`,
          `${BIG.toLocaleString('en-US')} executions`,
          'ratio',
          `its REST request alone (${BIG.toLocaleString('en-US')})`,
        ],
        [
          row('**first render** (navigation → rows and total)', 'firstRender'),
          row('jump to the last page', 'lastPage'),
          row('sort by name', 'sortName'),
          row('sort by duration', 'sortDuration'),
        ],
      ),
      '',
      `The last column is the same REST request timed from Node (median of ${ctx.repeat}): the server pages, sorts and counts ${BIG.toLocaleString('en-US')} executions in ${ms(median(Object.values(server).flat()))} (median over all four), so nearly all of each step is the page. Over the ${steps.length} clicks on the ${BIG.toLocaleString('en-US')} list (medians, from the click): the page sends its request after ${ms(median(steps.map((x) => x.sent)))}, has the answer at ${ms(median(steps.map((x) => x.answered)))}, and shows the new rows at ${ms(median(steps.map((x) => x.shown)))}: it re-renders before asking (URL state, the previous rows dimmed) and renders the 50 new rows after.`,
    ].join('\n');
    return {
      summaryLine: `${BIG.toLocaleString('en-US')} executions: first render ${ms(median(col('big', 'firstRender')))} (${ratio(median(col('big', 'firstRender')), median(col('small', 'firstRender')))} of ${SMALL}), last page ${ms(median(col('big', 'lastPage')))}, sort ${ms(median(col('big', 'sortName')))} / ${ms(median(col('big', 'sortDuration')))}`,
      markdown,
      raw: { insertMs, runs, steps, server },
    };
  },
};
