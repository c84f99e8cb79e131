import type { ExecutionDetailsDto } from '@deepforge/protocol';
import type { Locator } from 'playwright-core';
import { describe, expect, it } from 'vitest';
import { snap } from './support/browser.js';
import { keepEvidence } from './support/evidence.js';
import { browserSession } from './support/session.js';
import {
  addOperation,
  dragConnection,
  editorNode,
  executeFromEditor,
  flowPosition,
  openPipeline,
  traceNode,
  waitForNodeCount,
} from './support/ui.js';

const TEST = 'new-user';

/** Whether two boxes of the page cross. */
function crossing(
  a: { x: number; y: number; width: number; height: number },
  b: { x: number; y: number; width: number; height: number },
): boolean {
  return a.x < b.x + b.width && b.x < a.x + a.width && a.y < b.y + b.height && b.y < a.y + a.height;
}

/** Pixels of the chart's canvas in the first series' colour (#228be6, seriesColor(0)), give or take blending. */
function seriesPixels(chart: Locator): Promise<number> {
  return chart.locator('canvas').evaluate((c: HTMLCanvasElement) => {
    const data = c.getContext('2d')!.getImageData(0, 0, c.width, c.height).data;
    let n = 0;
    for (let i = 0; i < data.length; i += 4) {
      const [r, g, b, a] = [data[i]!, data[i + 1]!, data[i + 2]!, data[i + 3]!];
      if (a > 200 && Math.abs(r - 0x22) < 40 && Math.abs(g - 0x8b) < 40 && Math.abs(b - 0xe6) < 40) n++;
    }
    return n;
  });
}

/** What a new user tripped over (issue 13), each seen in the browser. */
describe('what a new user tripped over', () => {
  const session = browserSession();

  it('opens a pipeline whose nodes lie on top of each other laid out, says so and can put them back', async () => {
    const { server, rest, tab } = session;
    keepEvidence(`${TEST}-overlap`, { tab }, () => server);
    const { page, problems } = tab;
    const project = await rest.createProject('piled up', 'plots');
    // The plots example as it was: nodes 100–150 px apart, narrower than a node.
    const stored = await rest.pipeline(project.id, 'plots');
    const piled = stored.pipeline.nodes.map((n, i) => ({ ...n, position: { x: 100 * i, y: 0 } }));
    await rest.ok('POST', `/api/projects/${project.id}/pipelines`, {
      name: 'piled',
      nodes: piled,
      connections: stored.pipeline.connections,
    });
    await openPipeline(page, project.id, 'piled');
    await waitForNodeCount(page, 'pipeline-canvas', piled.length);
    const note = page.locator('.mantine-Notification-root', { hasText: 'Nodes arranged' });
    await note.waitFor();
    const boxes = await Promise.all(piled.map(async (n) => (await editorNode(page, n.id).boundingBox())!));
    await snap(page, `${TEST}-overlap`, '01-arranged');
    for (const [i, a] of boxes.entries())
      for (const [j, b] of boxes.entries()) if (i < j) expect(crossing(a, b), `${i} and ${j}`).toBe(false);
    // The positions were written (another user sees the same), and the stored ones come back on request.
    await expect
      .poll(async () => (await rest.pipeline(project.id, 'piled')).pipeline.nodes[1]?.position)
      .not.toEqual({ x: 100, y: 0 });
    await note.getByTestId('restore-positions').click();
    await expect
      .poll(async () =>
        (await rest.pipeline(project.id, 'piled')).pipeline.nodes.map((n) => n.position?.x).join(','),
      )
      .toBe(piled.map((n) => n.position.x).join(','));

    // The example itself opens as it is stored: nothing on top of anything, nothing rearranged.
    const example = await rest.createProject('plots as shipped', 'plots');
    const before = (await rest.pipeline(example.id, 'plots')).pipeline.nodes.map((n) => n.position);
    await openPipeline(page, example.id, 'plots');
    await waitForNodeCount(page, 'pipeline-canvas', before.length);
    await page.waitForTimeout(500);
    expect(await page.locator('.mantine-Notification-root', { hasText: 'Nodes arranged' }).count()).toBe(0);
    expect((await rest.pipeline(example.id, 'plots')).pipeline.nodes.map((n) => n.position)).toEqual(before);
    expect(problems.pageErrors).toEqual([]);
    expect(problems.consoleErrors).toEqual([]);
  });

  it('charts every value of a running job, those logged before the Metrics tab opened too, once each', async () => {
    const { server, rest, tab } = session;
    keepEvidence(`${TEST}-live-history`, { tab }, () => server);
    const { page, problems } = tab;
    const project = await rest.createProject('live history');
    const base = `/api/projects/${project.id}`;
    await rest.ok('POST', `${base}/operations`, {
      name: 'Ticker',
      code: 'import time\n\nimport deepforge\n\n\nclass Ticker:\n    def execute(self):\n        for i in range(160):\n            deepforge.log(step=i, acc=i / 160)\n            time.sleep(0.05)\n        done = 1\n        return done\n',
    });
    await rest.ok('POST', `${base}/pipelines`, {
      name: 'ticks',
      nodes: [{ id: 'tick', operation: 'Ticker', attributes: {}, references: {}, position: { x: 0, y: 0 } }],
      connections: [],
    });
    const started = await rest.ok<ExecutionDetailsDto>('POST', `${base}/executions`, { pipeline: 'ticks' });
    // The console first, as a user watches a job start; the Metrics tab once values have come (live, and some
    // of them stored).
    await page.goto(`/projects/${project.id}/executions/${started.id}?node=tick&tab=console`);
    await expect.poll(() => page.getByTestId('tab-metrics').textContent(), { timeout: 30_000 }).toMatch(/1/);
    await page.waitForTimeout(1200);
    await page.getByTestId('tab-metrics').click();
    const chart = page.locator('[data-testid=metric-card][data-name=acc]').getByTestId('metric-chart');
    await expect.poll(() => chart.getAttribute('data-state')).toBe('drawn');
    expect((await rest.waitForExecution(project.id, started.id)).status).toBe('success');
    // Every step drawn once: no gap where the store had not written the last values yet, no value twice.
    await expect.poll(() => chart.getAttribute('data-points')).toBe('160');
    expect(await chart.getAttribute('data-exact')).toBe('true');
    await snap(page, `${TEST}-live-history`, '01-all-values');
    expect(problems.pageErrors).toEqual([]);
    expect(problems.consoleErrors).toEqual([]);
  });

  it('draws a metric logged once as a point on a range around its step', async () => {
    const { server, rest, tab } = session;
    keepEvidence(`${TEST}-one-point`, { tab }, () => server);
    const { page, problems } = tab;
    const project = await rest.createProject('one point');
    const base = `/api/projects/${project.id}`;
    await rest.ok('POST', `${base}/operations`, {
      name: 'Once',
      code: 'import deepforge\n\n\nclass Once:\n    def execute(self):\n        deepforge.log(step=3, acc=0.5)\n        done = 1\n        return done\n',
    });
    await rest.ok('POST', `${base}/pipelines`, {
      name: 'once',
      nodes: [{ id: 'once', operation: 'Once', attributes: {}, references: {}, position: { x: 0, y: 0 } }],
      connections: [],
    });
    const started = await rest.ok<ExecutionDetailsDto>('POST', `${base}/executions`, { pipeline: 'once' });
    expect((await rest.waitForExecution(project.id, started.id)).status).toBe('success');
    await page.goto(`/projects/${project.id}/executions/${started.id}?node=once&tab=metrics`);
    const chart = page.locator('[data-testid=metric-card][data-name=acc]').getByTestId('metric-chart');
    await expect.poll(async () => chart.getAttribute('data-state')).toBe('drawn');
    expect(await chart.getAttribute('data-points')).toBe('1');
    // Around step 3, not a range of width 0 (which drew empty axes).
    expect(Number(await chart.getAttribute('data-xmin'))).toBeLessThan(3);
    expect(Number(await chart.getAttribute('data-xmax'))).toBeGreaterThan(3);
    // The point is on the canvas: a dot of the series' colour, not nothing.
    await expect.poll(() => seriesPixels(chart)).toBeGreaterThan(10);
    await snap(page, `${TEST}-one-point`, '01-one-point');
    expect(problems.pageErrors).toEqual([]);
    expect(problems.consoleErrors).toEqual([]);
  });

  it('does not execute an empty pipeline: Execute is disabled and says why', async () => {
    const { server, rest, tab } = session;
    keepEvidence(`${TEST}-empty`, { tab }, () => server);
    const { page, problems } = tab;
    const project = await rest.createProject('empty pipeline');
    await rest.ok('POST', `/api/projects/${project.id}/pipelines`, { name: 'nothing' });
    await openPipeline(page, project.id, 'nothing');
    const execute = page.getByRole('button', { name: 'Execute' });
    await expect.poll(() => execute.getAttribute('aria-disabled')).toBe('true');
    await execute.hover();
    await expect
      .poll(() => page.getByRole('tooltip').textContent())
      .toBe('pipeline "nothing" has no operations: add at least one before executing it');
    await snap(page, `${TEST}-empty`, '01-execute-disabled');
    await execute.click({ force: true });
    await page.waitForTimeout(300);
    expect(await page.getByTestId('execute-submit').count()).toBe(0);
    // Nothing was recorded either.
    const list = await rest.get<{ total: number }>(`/api/projects/${project.id}/executions`);
    expect(list.total).toBe(0);
    expect(problems.pageErrors).toEqual([]);
    expect(problems.consoleErrors).toEqual([]);
  });

  it('puts a new node connected below the node feeding it under that node', async () => {
    const { server, rest, tab } = session;
    keepEvidence(`${TEST}-placement`, { tab }, () => server);
    const { page, problems } = tab;
    const project = await rest.createProject('placement');
    const base = `/api/projects/${project.id}`;
    await rest.ok('POST', `${base}/operations`, {
      name: 'Gen',
      code: 'class Gen:\n    def execute(self):\n        x = 1\n        return x\n',
    });
    await rest.ok('POST', `${base}/operations`, {
      name: 'Show',
      code: 'class Show:\n    def execute(self, x):\n        print(x)\n',
    });
    await rest.ok('POST', `${base}/pipelines`, {
      name: 'p',
      nodes: [{ id: 'gen', operation: 'Gen', attributes: {}, references: {}, position: { x: 0, y: 400 } }],
      connections: [],
    });
    await openPipeline(page, project.id, 'p');
    await waitForNodeCount(page, 'pipeline-canvas', 1);
    await addOperation(page, 'Show');
    await waitForNodeCount(page, 'pipeline-canvas', 2);
    // Added at the upper third of the view: above Gen, which the view is centred on.
    const added = await flowPosition(page, 'show');
    expect(added.y).toBeLessThan(400);
    await dragConnection(page, { node: 'gen', port: 'x' }, { node: 'show', port: 'x' });
    await expect.poll(async () => (await rest.pipeline(project.id, 'p')).pipeline.connections.length).toBe(1);
    const gen = (await editorNode(page, 'gen').boundingBox())!;
    await expect
      .poll(async () => (await editorNode(page, 'show').boundingBox())!.y)
      .toBeGreaterThan(gen.y + gen.height);
    const stored = (await rest.pipeline(project.id, 'p')).pipeline.nodes.find((n) => n.id === 'show');
    expect(stored?.position?.y).toBeGreaterThan(400);
    await snap(page, `${TEST}-placement`, '01-below-its-source');
    expect(problems.pageErrors).toEqual([]);
    expect(problems.consoleErrors).toEqual([]);
  });

  it('after Execute: a short toast opens the execution, Cancel asks first, a failed node opens on its Error', async () => {
    const { server, rest, tab } = session;
    keepEvidence(`${TEST}-execute`, { tab }, () => server);
    const { page, problems } = tab;
    const project = await rest.createProject('execute flow');
    const base = `/api/projects/${project.id}`;
    await rest.ok('POST', `${base}/operations`, {
      name: 'Slow',
      code: 'import time\n\n\nclass Slow:\n    def execute(self):\n        time.sleep(60)\n        x = 1\n        return x\n',
    });
    await rest.ok('POST', `${base}/operations`, {
      name: 'Broken',
      code: 'class Broken:\n    def execute(self):\n        print("about to fail")\n        raise ValueError("bad value")\n',
    });
    const node = (id: string, operation: string, x: number) => ({
      id,
      operation,
      attributes: {},
      references: {},
      position: { x, y: 0 },
    });
    await rest.ok('POST', `${base}/pipelines`, {
      name: 'slow',
      nodes: [node('slow', 'Slow', 0)],
      connections: [],
    });
    await rest.ok('POST', `${base}/operations`, {
      name: 'Quick',
      code: 'class Quick:\n    def execute(self):\n        x = 1\n        return x\n',
    });
    await rest.ok('POST', `${base}/pipelines`, {
      name: 'broken',
      nodes: [node('ok', 'Quick', 0), node('broken', 'Broken', 300)],
      connections: [],
    });

    await openPipeline(page, project.id, 'slow');
    const id = await executeFromEditor(page, 'slow run');
    const toast = page.locator('.mantine-Notification-root', { hasText: 'Execution started' });
    await toast.waitFor();
    await snap(page, `${TEST}-execute`, '01-started-toast');
    await toast.getByRole('button', { name: 'Open execution' }).click();
    await page.waitForURL(`**/projects/${project.id}/executions/${id}**`);
    // Gone once used, though the pointer is still where it was.
    await toast.waitFor({ state: 'detached', timeout: 3000 });

    // Cancel asks; keeping it running keeps it running.
    await page.locator('[data-testid=execution-view][data-status=running]').waitFor();
    await page.getByRole('button', { name: 'Cancel' }).click();
    const dialog = page.getByRole('dialog', { name: 'Cancel slow run?' });
    await dialog.waitFor();
    await snap(page, `${TEST}-execute`, '02-cancel-asks');
    await dialog.getByRole('button', { name: 'Keep running' }).click();
    await dialog.waitFor({ state: 'detached' });
    expect((await rest.execution(project.id, id)).status).toBe('running');
    await page.getByRole('button', { name: 'Cancel' }).click();
    await page.getByTestId('confirm-cancel-execution').click();
    await page.locator('[data-testid=execution-view][data-status=canceled]').waitFor({ timeout: 30_000 });
    await page.getByTestId('resume-execution').waitFor();

    // A failed node opens on its Error, from the link and from the trace, even after looking at a console.
    const failed = await rest.startExecution(project.id, { pipeline: 'broken' });
    expect((await rest.waitForExecution(project.id, failed.id)).status).toBe('failed');
    await page.goto(`/projects/${project.id}/executions/${failed.id}`);
    await expect.poll(() => page.getByTestId('tab-error').getAttribute('aria-selected')).toBe('true');
    await page.goto(`/projects/${project.id}/executions/${failed.id}?node=ok&tab=console`);
    await page.getByTestId('tab-console').waitFor();
    await traceNode(page, 'broken').click();
    await expect.poll(() => page.getByTestId('tab-error').getAttribute('aria-selected')).toBe('true');
    await expect.poll(() => page.getByRole('tabpanel').textContent()).toContain('bad value');
    await snap(page, `${TEST}-execute`, '03-failed-node-error');
    // A node that did not fail opens on its Console again.
    await traceNode(page, 'ok').click();
    await expect.poll(() => page.getByTestId('tab-console').getAttribute('aria-selected')).toBe('true');
    await page.getByRole('log', { name: /Console of/ }).waitFor();
    expect(problems.pageErrors).toEqual([]);
    expect(problems.consoleErrors).toEqual([]);
  });

  it('a util editor says its edits are saved; an operation opened from an error leads back to it', async () => {
    const { server, rest, tab } = session;
    keepEvidence(`${TEST}-editors`, { tab }, () => server);
    const { page, problems } = tab;
    const project = await rest.createProject('editors');
    const base = `/api/projects/${project.id}`;

    await page.goto(`/projects/${project.id}/utils`);
    await page.getByTestId('new-utils').first().click();
    await page.getByTestId('name-prompt-input').fill('helpers');
    await page.getByTestId('name-prompt-submit').click();
    await page.waitForURL('**/utils/helpers');
    const state = page.getByTestId('module-save-state');
    await expect.poll(() => state.textContent()).toBe('Saved');
    const code = page.getByRole('textbox', { name: 'utils/helpers.py' });
    await code.click();
    await page.keyboard.press('Control+End');
    await page.keyboard.insertText('\nVALUE = 42\n');
    await expect.poll(() => state.getAttribute('data-state')).toBe('saved');
    await snap(page, `${TEST}-editors`, '01-util-saved');
    await page.reload();
    await expect
      .poll(() => page.getByRole('textbox', { name: 'utils/helpers.py' }).textContent())
      .toContain('VALUE = 42');

    await rest.ok('POST', `${base}/operations`, {
      name: 'Broken',
      code: 'class Broken:\n    def execute(self):\n        raise ValueError("bad value")\n',
    });
    await rest.ok('POST', `${base}/pipelines`, {
      name: 'fails',
      nodes: [
        { id: 'broken', operation: 'Broken', attributes: {}, references: {}, position: { x: 0, y: 0 } },
      ],
      connections: [],
    });
    const failed = await rest.startExecution(project.id, { pipeline: 'fails' });
    expect((await rest.waitForExecution(project.id, failed.id)).status).toBe('failed');
    await page.goto(`/projects/${project.id}/executions/${failed.id}?node=broken&tab=error`);
    await page
      .getByTestId('job-error')
      .getByRole('link', { name: /operations\/Broken\.py:\d+/ })
      .click();
    await page.waitForURL(`**/operations/Broken?**`);
    const back = page.getByRole('link', { name: 'Back to the execution' });
    await back.waitFor();
    await snap(page, `${TEST}-editors`, '02-operation-from-error');
    await back.click();
    await page.waitForURL(`**/executions/${failed.id}?node=broken&tab=error`);
    await page.getByTestId('job-error').waitFor();
    expect(problems.pageErrors).toEqual([]);
    expect(problems.consoleErrors).toEqual([]);
  });
});
