import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { openSqliteStores, type MetricRecord } from '@deepforge/engine';
import type { ExecutionDetailsDto } from '@deepforge/protocol';
import type { Page } from 'playwright-core';
import type { BenchContext, BenchResult, UiBenchmark } from './context.js';
import { UI_MEASURES, benchShot, freshPage } from './context.js';
import { median, ms, quantile, ratio, spread, table } from './stats.js';

const FULL = { big: 1_000_000, small: 1_000, zooms: 30 };
/** Smoke: the same steps on series a fiftieth of the size. */
const SMOKE = { big: 20_000, small: 1_000, zooms: 3 };
/** Points written per appendMetrics call, as the engine's telemetry buffer writes a busy job's values. */
const BATCH = 50_000;
const WINDOW = 1_000;

const NOOP = `class Noop:
    def execute(self):
        done = 1
        return done
`;

/** A loss-like curve with noise and a spike now and then (deterministic). */
function value(i: number): number {
  return i % 99_991 === 4_321
    ? 25
    : 1 / (1 + i / 5_000) + 0.02 * Math.sin(i * 0.7) + 0.01 * Math.cos(i * 0.013);
}

/**
 * Runs a one-operation pipeline once per execution wanted (real executions with a real job), then appends
 * `points[i]` values of `loss` to each job straight through the engine's telemetry store port, in the batches
 * the engine writes, into the running server's database.
 */
async function executionsWithSeries(
  ctx: BenchContext,
  projectId: string,
  points: readonly number[],
): Promise<{ ids: string[]; insertMs: number }> {
  const base = `/api/projects/${projectId}`;
  const ids: string[] = [];
  for (let i = 0; i < points.length; i++) {
    const started = await ctx.rest.ok<ExecutionDetailsDto>('POST', `${base}/executions`, {
      pipeline: 'metrics',
      name: `${points[i]!.toLocaleString('en-US')} points #${i + 1}`,
    });
    const done = await ctx.rest.waitForExecution(projectId, started.id);
    if (done.status !== 'success') throw new Error(`the bench execution ${started.id} ended ${done.status}`);
    ids.push(started.id);
  }
  const stores = await openSqliteStores(join(ctx.server.dataDir, 'deepforge.db'));
  const t0 = performance.now();
  try {
    for (let e = 0; e < ids.length; e++) {
      const job = (await stores.executions.listJobs(ids[e]!)).find((j) => j.node === 'log');
      if (!job) throw new Error(`execution ${ids[e]} has no job "log"`);
      const t = Date.now();
      for (let start = 0; start < points[e]!; start += BATCH) {
        const rows: MetricRecord[] = [];
        for (let i = start; i < Math.min(points[e]!, start + BATCH); i++)
          rows.push({
            jobId: job.id,
            step: i,
            name: 'loss',
            value: value(i + e * 7),
            t: t + Math.floor(i / 100),
          });
        await stores.telemetry.appendMetrics(rows);
      }
    }
  } finally {
    await stores.close();
  }
  return { ids, insertMs: performance.now() - t0 };
}

/** The chart's attributes (MetricChart). */
interface ChartMarks {
  /** Click (or zoom event) → the chart drew the answer (ms). */
  shown: number;
  /** The view request: sent and answered (ms from the click), its bytes over the wire. */
  sent: number;
  answered: number;
  bytes: number;
  points: number;
}

/**
 * In the page: clicks `click`, then checks each animation frame until `count` charts matching `chart` have drawn
 * (data-state) with at least `views` views read; resolves to the time in between and the view requests made.
 */
function clickAndDraw(spec: {
  click: string;
  /** Then clicked as soon as it shows, unless it is already the selected tab (the comparison's Metrics tab). */
  then?: string;
  chart: string;
  count: number;
  views: number;
}): Promise<ChartMarks> {
  return new Promise((resolve, reject) => {
    const target = document.querySelector<HTMLElement>(spec.click);
    if (!target) throw new Error(`nothing to click: ${spec.click}`);
    const t0 = performance.now();
    target.click();
    let then = spec.then;
    const frame = (): void => {
      const next = then ? document.querySelector<HTMLElement>(then) : null;
      if (next) {
        if (next.getAttribute('aria-selected') !== 'true') next.click();
        then = undefined;
      }
      const charts = [...document.querySelectorAll<HTMLElement>(spec.chart)];
      const drawn =
        charts.length >= spec.count &&
        charts
          .slice(0, spec.count)
          .every((c) => c.dataset.state === 'drawn' && Number(c.dataset.views) >= spec.views);
      if (drawn) {
        const shown = performance.now() - t0;
        const requests = (performance.getEntriesByType('resource') as PerformanceResourceTiming[]).filter(
          (e) => e.startTime >= t0 && e.name.includes('/metrics/view?'),
        );
        resolve({
          shown,
          sent: requests.length ? Math.min(...requests.map((r) => r.startTime)) - t0 : Number.NaN,
          answered: requests.length ? Math.max(...requests.map((r) => r.responseEnd)) - t0 : Number.NaN,
          bytes: requests.reduce((s, r) => s + r.encodedBodySize, 0),
          points: charts.slice(0, spec.count).reduce((s, c) => s + Number(c.dataset.points), 0),
        });
      } else if (performance.now() - t0 > 60_000)
        reject(new Error(`no chart drawn after 60 s: ${spec.chart}`));
      else requestAnimationFrame(frame);
    };
    requestAnimationFrame(frame);
  });
}

/** In the page: sets the chart's range (its df-zoom event) and waits for it drawn as exact points. */
function zoomAndDraw(spec: { from: number; to: number }): Promise<ChartMarks> {
  return new Promise((resolve, reject) => {
    const chart = document.querySelector<HTMLElement>('[data-testid=metric-chart]');
    if (!chart) throw new Error('no metric chart');
    const before = Number(chart.dataset.views);
    const t0 = performance.now();
    chart.dispatchEvent(new CustomEvent('df-zoom', { detail: { from: spec.from, to: spec.to } }));
    const frame = (): void => {
      const d = chart.dataset;
      if (d.state === 'drawn' && Number(d.views) > before && d.from === String(spec.from)) {
        if (d.exact !== 'true')
          reject(new Error(`the ${spec.to - spec.from + 1}-step window is not exact points`));
        const shown = performance.now() - t0;
        const request = (performance.getEntriesByType('resource') as PerformanceResourceTiming[]).find(
          (e) => e.startTime >= t0 && e.name.includes('/metrics/view?'),
        );
        resolve({
          shown,
          sent: request ? request.startTime - t0 : Number.NaN,
          answered: request ? request.responseEnd - t0 : Number.NaN,
          bytes: request?.encodedBodySize ?? Number.NaN,
          points: Number(d.points),
        });
      } else if (performance.now() - t0 > 30_000) reject(new Error('zoom not drawn after 30 s'));
      else requestAnimationFrame(frame);
    };
    requestAnimationFrame(frame);
  });
}

/** The execution view on the job's console; resolves once its panel is up (the Metrics tab not yet opened). */
async function openJob(page: Page, projectId: string, executionId: string): Promise<void> {
  await page.goto(`/projects/${projectId}/executions/${executionId}?node=log&tab=console`);
  await page.locator('[data-testid=job-panel][data-node=log]').waitFor();
  await page.getByTestId('tab-metrics').waitFor();
}

async function tabRun(
  ctx: BenchContext,
  projectId: string,
  executionId: string,
  shot?: string,
): Promise<ChartMarks> {
  const { context, page } = await freshPage(ctx.browser, ctx.server.url);
  try {
    await openJob(page, projectId, executionId);
    const marks = await page.evaluate(clickAndDraw, {
      click: '[data-testid=tab-metrics]',
      chart: '[data-testid=metric-chart]',
      count: 1,
      views: 1,
    });
    if (shot) await benchShot(page, shot);
    return marks;
  } finally {
    await context.close();
  }
}

async function compareRun(
  ctx: BenchContext,
  projectId: string,
  executionIds: readonly string[],
  shot?: string,
): Promise<ChartMarks> {
  const { context, page } = await freshPage(ctx.browser, ctx.server.url);
  try {
    await page.goto(`/projects/${projectId}/executions`);
    for (const id of executionIds)
      await page
        .locator(`[data-testid=execution-row][data-execution-id="${id}"] input[type=checkbox]`)
        .check();
    const marks = await page.evaluate(clickAndDraw, {
      click: '[data-testid=compare-executions]',
      // Two or more executions open on their outcomes: Metrics is one click further.
      then: '[data-testid=compare-tab-metrics]',
      chart: '[data-testid=compare-chart]',
      count: 1,
      views: executionIds.length,
    });
    if (shot) await benchShot(page, shot);
    return marks;
  } finally {
    await context.close();
  }
}

const kib = (b: number): string => `${(b / 1024).toFixed(0)} KiB`;

export const metrics: UiBenchmark = {
  name: 'metrics',
  title: 'A 1,000,000-point metric series: Metrics tab, zoom, compare',
  measures: UI_MEASURES,
  async run(ctx: BenchContext): Promise<BenchResult> {
    const size = ctx.smoke ? SMOKE : FULL;
    const project = await ctx.rest.createProject('bench metrics');
    const base = `/api/projects/${project.id}`;
    await ctx.rest.ok('POST', `${base}/operations`, { name: 'Noop', code: NOOP });
    await ctx.rest.ok('POST', `${base}/pipelines`, {
      name: 'metrics',
      nodes: [{ id: 'log', operation: 'Noop', attributes: {}, references: {}, position: { x: 0, y: 0 } }],
      connections: [],
    });
    // Four big executions (the first is also the Metrics tab's), one small.
    const { ids, insertMs } = await executionsWithSeries(ctx, project.id, [
      size.big,
      size.big,
      size.big,
      size.big,
      size.small,
    ]);
    const [big, , , , small] = ids as [string, string, string, string, string];
    const bigOnes = ids.slice(0, 4);
    ctx.log(`  stored 4 × ${size.big.toLocaleString('en-US')} + ${size.small} points in ${ms(insertMs)}`);

    // 1. The Metrics tab: click → the chart drawn, the big series against the small one, alternating.
    const tab: Record<'big' | 'small', ChartMarks[]> = { big: [], small: [] };
    if (!ctx.smoke) {
      await tabRun(ctx, project.id, big);
      await tabRun(ctx, project.id, small);
    }
    for (let i = 0; i < ctx.repeat; i++) {
      for (const [key, id] of [
        ['big', big],
        ['small', small],
      ] as const) {
        const m = await tabRun(ctx, project.id, id, i === 0 && !ctx.smoke ? `metrics-tab-${key}` : undefined);
        tab[key].push(m);
        ctx.log(
          `  tab ${key}: ${ms(m.shown)} (view answered ${ms(m.answered)}, ${kib(m.bytes)}, ${m.points} points)`,
        );
      }
    }

    // 2. Zoom into 1,000-step windows of the big series: each read again and drawn as exact points.
    const zooms: ChartMarks[] = [];
    {
      const { context, page } = await freshPage(ctx.browser, ctx.server.url);
      try {
        await openJob(page, project.id, big);
        await page.evaluate(clickAndDraw, {
          click: '[data-testid=tab-metrics]',
          chart: '[data-testid=metric-chart]',
          count: 1,
          views: 1,
        });
        const warmUp = ctx.smoke ? 0 : 3;
        for (let i = 0; i < warmUp + size.zooms; i++) {
          // Spread over the series (a multiplicative walk), so each window is a new range.
          const from = Math.floor((((i * 7919 + 13) % 997) / 997) * (size.big - WINDOW));
          const m = await page.evaluate(zoomAndDraw, { from, to: from + WINDOW - 1 });
          if (i >= warmUp) zooms.push(m);
          if (i === warmUp && !ctx.smoke) await benchShot(page, 'metrics-zoom');
        }
      } finally {
        await context.close();
      }
    }
    const zoomShown = zooms.map((z) => z.shown);
    ctx.log(`  zoom: p50 ${ms(median(zoomShown))}, p95 ${ms(quantile(zoomShown, 0.95))}`);

    // 3. Compare: four big executions overlaid against one of them, alternating.
    const compare: Record<'four' | 'one', ChartMarks[]> = { four: [], one: [] };
    if (!ctx.smoke) {
      await compareRun(ctx, project.id, bigOnes);
      await compareRun(ctx, project.id, [big]);
    }
    for (let i = 0; i < ctx.repeat; i++) {
      for (const [key, list] of [
        ['four', bigOnes],
        ['one', [big]],
      ] as const) {
        const m = await compareRun(
          ctx,
          project.id,
          list,
          i === 0 && !ctx.smoke ? `metrics-compare-${key}` : undefined,
        );
        compare[key].push(m);
        ctx.log(`  compare ${key}: ${ms(m.shown)} (views answered ${ms(m.answered)}, ${kib(m.bytes)})`);
      }
    }

    const shown = (list: ChartMarks[]) => list.map((m) => m.shown);
    const tabRatio = median(shown(tab.big)) / median(shown(tab.small));
    const p95 = quantile(zoomShown, 0.95);
    const compareRatio = median(shown(compare.four)) / median(shown(compare.one));
    const n = size.big.toLocaleString('en-US');
    const markdown = [
      `One execution's job holds a \`loss\` series of ${n} points (steps 0…${(size.big - 1).toLocaleString('en-US')}, a spike every ~100,000), another one of ${size.small.toLocaleString('en-US')}; three more hold ${n} points each for the compare view. The points are appended straight through the engine's telemetry store port in batches of ${BATCH.toLocaleString('en-US')} (as the telemetry buffer writes a busy job's values) to jobs of real executions, in ${ms(insertMs)} for all. Measured in the page (\`performance.now()\`, each animation frame, the chart's \`data-state\`), in a fresh browser context per run (1440×900): ${ctx.repeat} runs of each after one warm-up, alternating; median (min–max).`,
      '',
      table(
        ['', 'baseline', `${n} points`, 'ratio', 'target'],
        [
          [
            '**Metrics tab clicked → chart drawn**',
            `**${spread(shown(tab.small))}** (${size.small.toLocaleString('en-US')} points)`,
            `**${spread(shown(tab.big))}**`,
            `**${tabRatio.toFixed(2)}×**`,
            '≤ 3×',
          ],
          [
            '… its view request answered',
            spread(tab.small.map((m) => m.answered)),
            spread(tab.big.map((m) => m.answered)),
            '',
            '',
          ],
          [
            '… bytes of the view, points drawn',
            `${kib(median(tab.small.map((m) => m.bytes)))}, ${median(tab.small.map((m) => m.points))}`,
            `${kib(median(tab.big.map((m) => m.bytes)))}, ${median(tab.big.map((m) => m.points))}`,
            '',
            '',
          ],
          [
            '**Compare: Compare clicked (then its Metrics tab) → chart drawn**',
            `**${spread(shown(compare.one))}** (one execution)`,
            `**${spread(shown(compare.four))}** (four executions)`,
            `**${compareRatio.toFixed(2)}×**`,
            '≤ 2×',
          ],
        ],
      ),
      '',
      `Zoom into a ${WINDOW.toLocaleString('en-US')}-step window of the ${n}-point series (the chart's \`df-zoom\` event, as a drag does; ${zooms.length} windows spread over the series, after ${ctx.smoke ? 0 : 3} unmeasured), until the chart has drawn it as exact points: p50 ${ms(median(zoomShown))}, **p95 ${ms(p95)}** (target ≤ 150 ms), max ${ms(Math.max(...zoomShown))}; the view answered in ${ms(median(zooms.map((z) => z.answered)))} (median, ${kib(median(zooms.map((z) => z.bytes)))}).`,
    ].join('\n');
    return {
      summaryLine: `Metrics tab ${ratio(median(shown(tab.big)), median(shown(tab.small)))} (${ms(median(shown(tab.big)))} for ${n} points), zoom p95 ${ms(p95)}, compare ×4 ${compareRatio.toFixed(2)}×`,
      markdown,
      raw: { insertMs, tab, zooms, compare },
    };
  },
};
