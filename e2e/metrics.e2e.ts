import type { ExecutionDetailsDto } from '@deepforge/protocol';
import type { Locator, Page } from 'playwright-core';
import { describe, expect, it } from 'vitest';
import { snap } from './support/browser.js';
import { keepEvidence } from './support/evidence.js';
import { browserSession } from './support/session.js';

const TEST = 'metrics';
const POINTS = 200_000;
/** A long series with one spike, the kind a sampled chart loses; then a short one. */
const LOGGER = `import deepforge


class Logger:
    def execute(self):
        for i in range(${POINTS}):
            deepforge.log(step=i, loss=50.0 if i == 123457 else 1.0 / (1 + i % 1000))
        for i in range(10):
            deepforge.log(step=i, lr=0.1 * (i + 1))
        done = 1
        return done
`;

/**
 * Logs a value every 50 ms for 20 s: the charts of a running job, in its Metrics tab and then in the compare view
 * (opened while it runs, however loaded the machine).
 */
const TICKER = `import time

import deepforge


class Ticker:
    def execute(self):
        for i in range(400):
            deepforge.log(step=i, acc=i / 400)
            time.sleep(0.05)
        done = 1
        return done
`;

/** The chart's test attributes (MetricChart). */
async function chartState(chart: Locator) {
  return chart.evaluate((el: HTMLElement) => ({ ...el.dataset }));
}

/** View requests the page made since `since` (performance entries), with their query. */
async function viewRequests(page: Page, since: number): Promise<URLSearchParams[]> {
  const urls = await page.evaluate(
    (t0) =>
      (performance.getEntriesByType('resource') as PerformanceResourceTiming[])
        .filter((e) => e.startTime >= t0 && e.name.includes('/metrics/view?'))
        .map((e) => e.name),
    since,
  );
  return urls.map((u) => new URL(u).searchParams);
}

describe('metric charts drawn from views', () => {
  const session = browserSession();

  it('draws a 200,000-point series from a view for its width, zooms into exact points and back, and downloads it', async () => {
    const { server, rest, tab } = session;
    keepEvidence(TEST, { tab }, () => server);
    const { page, problems } = tab;

    const project = await rest.createProject('metric views');
    const base = `/api/projects/${project.id}`;
    await rest.ok('POST', `${base}/operations`, { name: 'Logger', code: LOGGER });
    await rest.ok('POST', `${base}/pipelines`, {
      name: 'logs',
      nodes: [{ id: 'log', operation: 'Logger', attributes: {}, references: {}, position: { x: 0, y: 0 } }],
      connections: [],
    });
    const started = await rest.ok<ExecutionDetailsDto>('POST', `${base}/executions`, { pipeline: 'logs' });
    const done = await rest.waitForExecution(project.id, started.id, 110_000);
    expect(done.status).toBe('success');

    await page.goto(`/projects/${project.id}/executions/${started.id}?node=log`);
    const t0 = await page.evaluate(() => performance.now());
    await page.getByTestId('tab-metrics').click();
    const card = page.locator('[data-testid=metric-card][data-name=loss]');
    const chart = card.getByTestId('metric-chart');
    await expect.poll(async () => (await chartState(chart)).state).toBe('drawn');
    expect(await card.getByTestId('metric-latest').textContent()).toBe((1 / 1000).toPrecision(4));
    const first = await chartState(chart);
    // The whole series in columns: a few points per pixel column, not 200,000.
    expect(first.exact).toBe('false');
    const [request] = (await viewRequests(page, t0)).filter((q) => q.get('name') === 'loss');
    const width = Number(request?.get('width'));
    expect(width).toBeGreaterThan(200);
    expect(request?.has('from')).toBe(false);
    expect(Number(first.points)).toBeLessThanOrEqual(4 * width);
    // The spike is drawn.
    expect(first.ymax).toBe('50');
    await snap(page, TEST, '01-whole-series');

    // Drag across a part of the plot: that step range, read again; twice, down to exact points.
    const over = chart.locator('.u-over');
    const box = (await over.boundingBox())!;
    const y = box.y + box.height / 2;
    const drag = async (x0: number, x1: number): Promise<void> => {
      await page.mouse.move(box.x + x0, y);
      await page.mouse.down();
      await page.mouse.move(box.x + x1, y, { steps: 4 });
      await page.mouse.up();
    };
    await drag(box.width * 0.5, box.width * 0.6);
    await expect.poll(async () => (await chartState(chart)).from).not.toBe('');
    await expect.poll(async () => (await chartState(chart)).state).toBe('drawn');
    const part = await chartState(chart);
    expect(Number(part.to) - Number(part.from)).toBeCloseTo(POINTS / 10, -4);
    expect(part.exact).toBe('false');
    const t1 = await page.evaluate(() => performance.now());
    await drag(box.width * 0.5, box.width * 0.52);
    await expect.poll(async () => (await chartState(chart)).exact).toBe('true');
    const zoomed = await chartState(chart);
    const from = Number(zoomed.from);
    const to = Number(zoomed.to);
    expect(to - from).toBeGreaterThan(0);
    expect(to - from).toBeLessThan(width);
    const [zoomQuery] = await viewRequests(page, t1);
    expect(Number(zoomQuery?.get('from'))).toBeCloseTo(from, 6);
    expect(Number(zoomQuery?.get('to'))).toBeCloseTo(to, 6);
    expect(await card.getByTestId('metric-chart-note').textContent()).toMatch(/^Steps /);
    await snap(page, TEST, '02-zoomed');

    // The wheel zooms out around the pointer, and the view is read again for the wider range.
    const views = Number(zoomed.views);
    await page.mouse.move(box.x + box.width * 0.6, y);
    for (let i = 0; i < 3; i++) await page.mouse.wheel(0, 300);
    await expect.poll(async () => Number((await chartState(chart)).views)).toBeGreaterThan(views);
    await expect
      .poll(async () => Number((await chartState(chart)).to) - Number((await chartState(chart)).from))
      .toBeGreaterThan(to - from);

    // Double-click: the whole series again.
    await over.dblclick();
    await expect.poll(async () => (await chartState(chart)).from).toBe('');
    expect((await chartState(chart)).exact).toBe('false');
    // A double-click right after the wheel, before the wheel's range is read: the double-click stays.
    await page.mouse.move(box.x + box.width * 0.6, y);
    await page.mouse.wheel(0, -300);
    await over.dblclick();
    await page.waitForTimeout(500); // past the wheel's rest (120 ms), when its range would have been set
    expect((await chartState(chart)).from).toBe('');

    // Smoothing and the log scale redraw from the same views.
    await page.getByTestId('metric-log').click();
    await expect.poll(async () => (await chartState(chart)).state).toBe('drawn');
    await snap(page, TEST, '03-log-scale');

    // The download link streams every point.
    const href = await card.getByTestId('metric-download-csv').getAttribute('href');
    const csv = await fetch(`${server.url}${href}`);
    expect(csv.status).toBe(200);
    const lines = (await csv.text()).trimEnd().split('\n');
    expect(lines).toHaveLength(POINTS + 1);
    expect(lines[123458]).toMatch(/^loss,123457,50,\d+$/);

    expect(problems.pageErrors).toEqual([]);
    expect(problems.consoleErrors).toEqual([]);
  });
  it('appends the values of a running job to the chart it drew, without reading the view again', async () => {
    const { server, rest, tab } = session;
    keepEvidence(`${TEST}-live`, { tab }, () => server);
    const { page, problems } = tab;
    const project = await rest.createProject('live metrics');
    const base = `/api/projects/${project.id}`;
    await rest.ok('POST', `${base}/operations`, { name: 'Ticker', code: TICKER });
    await rest.ok('POST', `${base}/pipelines`, {
      name: 'ticks',
      nodes: [{ id: 'tick', operation: 'Ticker', attributes: {}, references: {}, position: { x: 0, y: 0 } }],
      connections: [],
    });
    const started = await rest.ok<ExecutionDetailsDto>('POST', `${base}/executions`, { pipeline: 'ticks' });
    await page.goto(`/projects/${project.id}/executions/${started.id}?node=tick&tab=metrics`);
    const chart = page.locator('[data-testid=metric-card][data-name=acc]').getByTestId('metric-chart');
    await expect.poll(async () => (await chartState(chart)).state, { timeout: 30_000 }).toBe('drawn');
    const first = await chartState(chart);
    // More values drawn as they come, from the one view read when the chart opened.
    await expect
      .poll(async () => Number((await chartState(chart)).points), { timeout: 30_000 })
      .toBeGreaterThan(Number(first.points) + 10);
    expect((await chartState(chart)).views).toBe(first.views);
    expect((await rest.execution(project.id, started.id)).status).toBe('running');
    await snap(page, TEST, '04-live');

    // The compare view follows it too: one view read, values appended as they come.
    await page.goto(`/projects/${project.id}/executions`);
    await page
      .locator(`[data-testid=execution-row][data-execution-id="${started.id}"] input[type=checkbox]`)
      .check();
    await page.getByTestId('compare-executions').click();
    const compared = page.getByTestId('compare-chart');
    await expect.poll(async () => (await chartState(compared)).state, { timeout: 30_000 }).toBe('drawn');
    const before = await chartState(compared);
    await expect
      .poll(async () => Number((await chartState(compared)).points), { timeout: 30_000 })
      .toBeGreaterThan(Number(before.points) + 10);
    expect((await chartState(compared)).views).toBe(before.views);
    expect((await rest.execution(project.id, started.id)).status).toBe('running');
    await snap(page, TEST, '05-compare-live');
    const done = await rest.waitForExecution(project.id, started.id, 60_000);
    expect(done.status).toBe('success');
    expect(problems.pageErrors).toEqual([]);
    expect(problems.consoleErrors).toEqual([]);
  });
});
