import type { ExecutionSummaryDto } from '@deepforge/protocol';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { TestPage } from './support/browser.js';
import { launchBrowser, openPage, snap } from './support/browser.js';
import { keepEvidence } from './support/evidence.js';
import { Rest } from './support/rest.js';
import type { RunningServer } from './support/server.js';
import { removeDir, startServer } from './support/server.js';
import {
  dragConnection,
  editorNode,
  executeFromEditor,
  openPipeline,
  STATUS_FILL,
  background,
  traceNode,
  waitForNodeCount,
  waitForSuccess,
} from './support/ui.js';

const TEST = 'bad-input';
type ExecutionPage = { items: ExecutionSummaryDto[]; total: number };

/** The text of the "Cannot connect" notification, once it shows. */
async function refusal(page: Page): Promise<string> {
  const note = page.locator('.mantine-Notification-root', { hasText: 'Cannot connect' }).last();
  await note.waitFor();
  // Fully in (it slides and fades in), for the screenshot.
  await page.waitForTimeout(400);
  return (await note.textContent()) ?? '';
}

async function closeNotifications(page: Page): Promise<void> {
  for (const close of await page.locator('.mantine-Notification-root button').all()) await close.click();
  await page.locator('.mantine-Notification-root').first().waitFor({ state: 'detached' });
}

async function setAttribute(page: Page, node: string, attr: string, value: string): Promise<void> {
  await editorNode(page, node).click();
  const field = page.getByTestId('node-panel').getByTestId(`attr-${attr}`);
  await field.fill(value);
  await field.press('Enter');
}

describe('bad input in the browser', () => {
  let server: RunningServer;
  let rest: Rest;
  let browser: Browser;
  let tab: TestPage;
  let projectId: string;
  const connections = async (): Promise<string[]> =>
    (await rest.pipeline(projectId, 'hello')).pipeline.connections
      .map((c) => `${c.from.node}.${c.from.port}→${c.to.node}.${c.to.port}`)
      .sort();

  beforeAll(async () => {
    [server, browser] = await Promise.all([startServer(), launchBrowser()]);
    rest = new Rest(server.url);
    tab = await openPage(browser, server.url);
    projectId = (await rest.createProject('Mistakes', 'hello')).id;
    // Two more Multiply nodes, m1 → m2, beside the hello graph: material for a cycle.
    const base = `/api/projects/${projectId}/pipelines/hello`;
    await rest.ok('POST', `${base}/nodes`, { id: 'm1', operation: 'Multiply', position: { x: 800, y: 150 } });
    await rest.ok('POST', `${base}/nodes`, { id: 'm2', operation: 'Multiply', position: { x: 800, y: 330 } });
    await rest.ok('POST', `${base}/connections`, {
      from: { node: 'm1', port: 'product' },
      to: { node: 'm2', port: 'a' },
    });
  });

  afterAll(async () => {
    await browser?.close();
    await server?.stop();
    if (server) await removeDir(server.dataDir);
  });

  it('refuses an invalid connection and says why', async () => {
    keepEvidence(TEST, { tab }, () => server);
    const { page } = tab;
    await openPipeline(page, projectId, 'hello');
    await waitForNodeCount(page, 'pipeline-canvas', 8);
    const before = await connections();

    // An input that is taken already.
    await dragConnection(page, { node: 'left', port: 'number' }, { node: 'print', port: 'message' });
    expect(await refusal(page)).toContain(
      'input "message" of "print" is already connected to greeting.data; remove that connection first',
    );
    await snap(page, TEST, '01-input-taken');
    await closeNotifications(page);

    // A cycle.
    await dragConnection(page, { node: 'm2', port: 'product' }, { node: 'm1', port: 'a' });
    expect(await refusal(page)).toContain('this would make a cycle: m1 → m2 → m1');
    await snap(page, TEST, '02-cycle');
    await closeNotifications(page);

    // A node into itself.
    await dragConnection(page, { node: 'm1', port: 'product' }, { node: 'm1', port: 'b' });
    expect(await refusal(page)).toContain('"m1" cannot feed its own input');
    await closeNotifications(page);

    // Nothing was written.
    expect(await connections()).toEqual(before);
    expect(await page.locator('[data-testid=pipeline-canvas] .react-flow__edge').count()).toBe(before.length);
    expect(tab.problems).toEqual({ pageErrors: [], consoleErrors: [] });
  });

  it('refuses to execute a pipeline with errors and lists them', async () => {
    keepEvidence(TEST, { tab }, () => server);
    const { page } = tab;
    // m1.a, m1.b and m2.b are not connected.
    await expect.poll(() => page.getByTestId('validation-badge').getAttribute('data-errors')).toBe('3');
    await page.getByTestId('execute-pipeline').click();
    // The dialog lists them and Execute stays disabled until they are fixed (issue 13: it was clickable).
    const error = page.getByTestId('execute-errors');
    await error.waitFor();
    const items = await error.getByRole('listitem').allTextContents();
    expect(items.sort()).toEqual([
      'node "m1" (Multiply): input "a" is not connected',
      'node "m1" (Multiply): input "b" is not connected',
      'node "m2" (Multiply): input "b" is not connected',
    ]);
    expect(await page.getByTestId('execute-submit').isDisabled()).toBe(true);
    await snap(page, TEST, '03-execute-refused');
    await page.keyboard.press('Escape');
    await page.getByTestId('execute-submit').waitFor({ state: 'detached' });

    // Nothing ran.
    const runs = await rest.get<ExecutionPage>(`/api/projects/${projectId}/executions`);
    expect(runs.total).toBe(0);

    // The badge lists the same problems.
    await page.getByTestId('validation-badge').click();
    await expect
      .poll(() => page.getByTestId('validation-list').textContent())
      .toContain('input "a" is not connected');
    await snap(page, TEST, '04-validation-list');
    await page.keyboard.press('Escape');

    // Clean up for the next test: without m1 and m2 the pipeline is valid again.
    for (const id of ['m1', 'm2'])
      await rest.ok('DELETE', `/api/projects/${projectId}/pipelines/hello/nodes/${id}`);
    await waitForNodeCount(page, 'pipeline-canvas', 6);
    await expect.poll(() => page.getByTestId('validation-badge').getAttribute('data-errors')).toBe('0');

    // No request was made to be refused.
    expect(tab.problems).toEqual({ pageErrors: [], consoleErrors: [] });
  });

  it('a stale tab recovers after the server restarts, and what was edited meanwhile syncs', async () => {
    keepEvidence(TEST, { tab }, () => server);
    const { page } = tab;
    const status = page.getByTestId('connection-status');
    await expect.poll(() => status.getAttribute('data-state')).toBe('ok');

    // The server goes away: the tab says so, and keeps working on its copy.
    await server.stop();
    await expect.poll(() => status.getAttribute('data-state')).toBe('down');
    await setAttribute(page, 'left', 'number', '6');
    await expect.poll(() => editorNode(page, 'left').textContent()).toContain('number = 6');
    await snap(page, TEST, '05-server-down-edited');

    // The same server comes back (same port, same data): the tab reconnects and its edit reaches the server.
    server = await startServer({ dataDir: server.dataDir, port: server.port });
    rest = new Rest(server.url);
    await expect.poll(() => status.getAttribute('data-state'), { timeout: 30_000 }).toBe('ok');
    await expect
      .poll(async () => (await rest.pipeline(projectId, 'hello')).pipeline.nodes.find((n) => n.id === 'left'))
      .toMatchObject({ attributes: { number: 6 } });
    await snap(page, TEST, '06-reconnected');

    // Edits after the reconnect sync too, and live execution events work again: 6 × 3.
    await setAttribute(page, 'right', 'number', '3');
    await expect
      .poll(async () =>
        (await rest.pipeline(projectId, 'hello')).pipeline.nodes.find((n) => n.id === 'right'),
      )
      .toMatchObject({ attributes: { number: 3 } });
    await page.keyboard.press('Escape');
    const executionId = await executeFromEditor(page, 'after restart');
    await page.getByTestId('tray-execution').filter({ hasText: 'after restart' }).click();
    await page.waitForURL(`**/executions/${executionId}**`);
    await waitForSuccess(page, rest, projectId, executionId);
    expect(await background(traceNode(page, 'print'))).toBe(STATUS_FILL.success);
    await traceNode(page, 'print').click();
    await expect
      .poll(() => page.getByRole('log', { name: /Console of/ }).innerText())
      .toContain('Hello from DeepForge! The product is 18!');
    await snap(page, TEST, '07-ran-after-restart');

    expect(tab.problems.pageErrors).toEqual([]);
    // While the server was away the browser logged failed WebSocket connections; nothing else.
    expect(tab.problems.consoleErrors.filter((e) => !/WebSocket connection to .* failed/.test(e))).toEqual(
      [],
    );
  });
});
