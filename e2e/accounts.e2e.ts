import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ProjectSummary } from '@deepforge/protocol';
import type { TestPage } from './support/browser.js';
import { launchBrowser, openPage, snap } from './support/browser.js';
import { keepEvidence } from './support/evidence.js';
import type { RunningServer } from './support/server.js';
import { ROOT, removeDir, startServer } from './support/server.js';
import { editorNode, openPipeline, waitForNodeCount } from './support/ui.js';

const TEST = 'accounts';
const PASSWORD = 'correct horse battery';
const CLI = join(ROOT, 'packages', 'cli', 'dist', 'main.js');

/** `deepforge users add`, the password piped on stdin, as an admin would make accounts. */
function addUser(dataDir: string, name: string, admin = false): void {
  const r = spawnSync(
    process.execPath,
    [CLI, 'users', 'add', name, ...(admin ? ['--admin'] : []), '--data-dir', dataDir],
    { input: `${PASSWORD}\n${PASSWORD}\n`, encoding: 'utf8' },
  );
  if (r.status !== 0) throw new Error(`users add ${name}: ${r.stderr}`);
}

/** Signs in through the sign-in page, as a person would. */
async function signIn(page: Page, name: string): Promise<void> {
  await page.goto('/');
  await page.waitForURL('**/sign-in**');
  await page.getByTestId('sign-in-name').fill(name);
  await page.getByTestId('sign-in-password').fill(PASSWORD);
  await page.getByTestId('sign-in-submit').click();
  await page
    .getByTestId('user-menu')
    .and(page.locator(`[data-user="${name}"]`))
    .waitFor();
}

/** A request with the cookies of a browser context: what the signed-in person's browser would send. */
async function api<T = Record<string, unknown>>(
  t: TestPage,
  method: string,
  path: string,
  body?: unknown,
): Promise<{ status: number; body: T }> {
  const res = await t.context.request.fetch(path, {
    method,
    headers: {
      origin: new URL(t.page.url()).origin,
      ...(body !== undefined ? { 'content-type': 'application/json' } : {}),
    },
    ...(body !== undefined ? { data: JSON.stringify(body) } : {}),
  });
  const text = await res.text();
  return { status: res.status(), body: (text ? JSON.parse(text) : undefined) as T };
}

describe('accounts: a writer and a reader on one project, in two browsers', () => {
  let server: RunningServer;
  let browser: Browser;
  let ada: TestPage;
  let bob: TestPage;
  let project: ProjectSummary;

  beforeAll(async () => {
    [server, browser] = await Promise.all([
      startServer({ env: { DEEPFORGE_AUTH: 'true' } }),
      launchBrowser(),
    ]);
    addUser(server.dataDir, 'ada', true);
    addUser(server.dataDir, 'bob');
    [ada, bob] = await Promise.all([openPage(browser, server.url), openPage(browser, server.url)]);
  });

  afterAll(async () => {
    await browser?.close();
    await server?.stop();
    if (server) await removeDir(server.dataDir);
  });

  it("shares a project: the reader's edits do not happen, the writer's appear live for both", async () => {
    keepEvidence(TEST, { ada, bob }, () => server);
    await Promise.all([signIn(ada.page, 'ada'), signIn(bob.page, 'bob')]);
    await snap(ada.page, TEST, '01-ada-signed-in');

    // Ada makes a project and shares it with Bob as a reader, in the Share dialog.
    const made = await api(ada, 'POST', '/api/projects', { name: 'Shared', example: 'hello' });
    expect(made.status).toBe(201);
    project = made.body as unknown as ProjectSummary;
    // Bob is no member yet: the project is not there for him.
    expect((await api(bob, 'GET', `/api/projects/${project.id}`)).status).toBe(404);
    await ada.page.goto(`/projects/${project.id}`);
    await ada.page.getByTestId('share-button').click();
    const dialog = ada.page.getByRole('dialog', { name: 'Share Shared' });
    await dialog.waitFor();
    await dialog.getByTestId('share-user-select').click();
    await ada.page.getByRole('option', { name: 'bob' }).click();
    await dialog.getByTestId('share-role-select').click();
    await ada.page.getByRole('option', { name: 'reader' }).click();
    await dialog.getByTestId('share-add').click();
    await dialog.locator('[data-testid="member-row"][data-member="bob"][data-role="reader"]').waitFor();
    await snap(ada.page, TEST, '02-shared-with-bob');
    await ada.page.keyboard.press('Escape');

    // Both open the pipeline; each sees the other's name.
    await Promise.all([
      openPipeline(ada.page, project.id, 'hello'),
      openPipeline(bob.page, project.id, 'hello'),
    ]);
    await Promise.all([ada, bob].map((t) => waitForNodeCount(t.page, 'pipeline-canvas', 6)));
    await bob.page.getByTestId('read-only-badge').waitFor();
    await expect.poll(() => bob.page.getByTestId('presence').textContent()).toMatch(/ada|AD/i);
    expect(await bob.page.getByTestId('execute-pipeline').getAttribute('aria-disabled')).toBe('true');

    // Bob tries to change the operation's code: his editor does not take it, and the server has Ada's code.
    const before = (await api(ada, 'GET', `/api/projects/${project.id}/operations/Multiply`)).body
      .code as string;
    await bob.page.goto(`/projects/${project.id}/operations/Multiply`);
    const bobCode = bob.page.locator('[data-testid="operation-code"] .cm-content');
    await bobCode.waitFor();
    expect(await bobCode.getAttribute('contenteditable')).toBe('false');
    await bobCode.click();
    await bob.page.keyboard.type('import os  # bob was here\n');
    // And over REST, his writes are refused.
    const write = await api(bob, 'PUT', `/api/projects/${project.id}/operations/Multiply`, {
      code: `${before}\n# bob\n`,
    });
    expect(write.status).toBe(403);
    await snap(bob.page, TEST, '03-bob-read-only-code');

    // Ada edits the same code: it appears in Bob's (read-only) editor live.
    await ada.page.goto(`/projects/${project.id}/operations/Multiply`);
    const adaCode = ada.page.locator('[data-testid="operation-code"] .cm-content');
    await adaCode.waitFor();
    await adaCode.click();
    await ada.page.keyboard.press('Control+End');
    await ada.page.keyboard.type('\n# ada was here\n');
    await expect.poll(() => bobCode.textContent()).toContain('# ada was here');
    await expect
      .poll(async () => (await api(ada, 'GET', `/api/projects/${project.id}/operations/Multiply`)).body.code)
      .toContain('# ada was here');
    const after = (await api(ada, 'GET', `/api/projects/${project.id}/operations/Multiply`)).body
      .code as string;
    expect(after).not.toContain('bob was here');
    expect(after).not.toContain('# bob');
    expect(await bobCode.textContent()).not.toContain('bob was here');
    await snap(bob.page, TEST, '04-bob-sees-ada-live');

    // Back on the pipeline, Ada moves on; Bob's graph shows her new node, and he can add none.
    await openPipeline(bob.page, project.id, 'hello');
    await waitForNodeCount(bob.page, 'pipeline-canvas', 6);
    const added = await api(ada, 'POST', `/api/projects/${project.id}/pipelines/hello/nodes`, {
      operation: 'Multiply',
    });
    expect(added.status).toBe(201);
    await waitForNodeCount(bob.page, 'pipeline-canvas', 7);
    await editorNode(bob.page, added.body.id as string).waitFor();

    for (const t of [ada, bob]) {
      expect(t.problems.pageErrors).toEqual([]);
      // A reader's refused write is an expected 403 in the console; nothing else.
      expect(t.problems.consoleErrors.filter((e) => !/403/.test(e))).toEqual([]);
    }
  });

  it('signs out, and refuses a token once it is revoked', async () => {
    // Ada makes a token on her profile page; it works until she revokes it there.
    await ada.page.goto('/');
    await ada.page.getByTestId('user-menu').click();
    await ada.page.getByTestId('user-menu-profile').click();
    await ada.page.getByTestId('token-name').fill('e2e script');
    await ada.page.getByTestId('create-token').click();
    const token = await ada.page.getByTestId('new-token-value').inputValue();
    expect(token).toMatch(/^dfp_/);
    await snap(ada.page, TEST, '05-token-shown-once');
    const withToken = async (): Promise<number> =>
      (await fetch(`${server.url}/api/projects`, { headers: { authorization: `Bearer ${token}` } })).status;
    expect(await withToken()).toBe(200);
    await ada.page.keyboard.press('Escape');
    const row = ada.page.locator('[data-testid="token-row"][data-token-name="e2e script"]');
    await row.getByTestId('revoke-token').click();
    await ada.page.getByTestId('confirm-revoke-token').click();
    await ada.page
      .locator('[data-testid="token-row"][data-token-name="e2e script"][data-state="revoked"]')
      .waitFor();
    expect(await withToken()).toBe(401);

    // Bob signs out: back to the sign-in page, and his old cookie opens nothing.
    await bob.page.getByTestId('user-menu').click();
    await bob.page.getByTestId('sign-out').click();
    await bob.page.waitForURL('**/sign-in**');
    await bob.page.getByTestId('sign-in-form').waitFor();
    expect((await api(bob, 'GET', '/api/projects')).status).toBe(401);
    await snap(bob.page, TEST, '06-bob-signed-out');
  });
});
