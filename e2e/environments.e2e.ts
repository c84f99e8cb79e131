import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { launchBrowser, openPage, snap, type TestPage } from './support/browser.js';
import { keepEvidence } from './support/evidence.js';
import { Rest } from './support/rest.js';
import { removeDir, startServer, type RunningServer } from './support/server.js';
import { traceNode } from './support/ui.js';

const TEST = 'environments';

/**
 * The Environment tab of the operation editor and a job whose environment cannot be built (docs/adr/0017). The
 * server's pip looks only in an empty wheel folder: no network, and a missing package fails at once.
 */
describe('operation environments in the browser', () => {
  let server: RunningServer;
  let browser: Browser;
  let tab: TestPage;
  let rest: Rest;
  let wheels: string;

  beforeAll(async () => {
    wheels = await mkdtemp(join(tmpdir(), 'df-e2e-wheels-'));
    [server, browser] = await Promise.all([
      startServer({
        env: {
          DEEPFORGE_ENVIRONMENTS_PIP_ARGS: JSON.stringify([
            '--isolated',
            '--no-index',
            '--find-links',
            wheels,
          ]),
        },
      }),
      launchBrowser(),
    ]);
    rest = new Rest(server.url);
    tab = await openPage(browser, server.url);
  });
  afterAll(async () => {
    await browser?.close();
    await server?.stop();
    if (server) await removeDir(server.dataDir);
    await removeDir(wheels);
  });

  it('says what the file installs or what is wrong with it, and a job pip cannot build fails with its message', async () => {
    keepEvidence(TEST, { tab }, () => server);
    const { page } = tab;
    const project = await rest.createProject('Environments', 'hello');

    await page.goto(`/projects/${project.id}/operations/GetNumber`);
    await page.getByTestId('tab-dependencies').click();
    const summary = page.getByTestId('environment-summary');
    await expect.poll(() => summary.getAttribute('data-kind')).toBe('none');
    await expect.poll(() => summary.innerText()).toMatch(/runs with the machine.s Python/);
    await page.getByTestId('dependencies-template').click();
    await expect.poll(() => summary.getAttribute('data-kind')).toBe('ready');
    await expect.poll(() => summary.innerText()).toMatch(/installs with pip: numpy/);
    await snap(page, TEST, '01-template');

    const editor = page.getByRole('textbox', { name: 'Environment of GetNumber' });
    const replace = async (text: string): Promise<void> => {
      await editor.click();
      await page.keyboard.press('Control+A');
      await page.keyboard.insertText(text);
    };
    await replace('dependencies:\n  - pip:\n    - --index-url http://elsewhere.example/simple\n');
    await expect.poll(() => summary.getAttribute('data-kind')).toBe('problems');
    await expect.poll(() => summary.innerText()).toMatch(/line 3: .*pip options are not accepted/);
    await snap(page, TEST, '02-problem');

    await replace('dependencies:\n  - pip:\n    - dfnowhere==1.0\n');
    await expect.poll(() => summary.innerText()).toMatch(/installs with pip: dfnowhere==1\.0/);
    // The document reaches the server before the execution is started from it.
    await expect
      .poll(
        async () =>
          (await rest.get<{ dependencies: string }>(`/api/projects/${project.id}/operations/GetNumber`))
            .dependencies,
      )
      .toContain('dfnowhere');

    const started = await rest.startExecution(project.id, { pipeline: 'hello' });
    await page.goto(`/projects/${project.id}/executions/${started.id}`);
    await page.locator('[data-testid=execution-view][data-status=failed]').waitFor({ timeout: 60_000 });
    await traceNode(page, 'left').click();
    await page.locator('[data-testid=job-panel][data-node=left]').waitFor();
    // A failed node opens on its Error; pip's own words are in its Console.
    await expect
      .poll(() => page.locator('[data-testid=job-panel][data-node=left]').innerText())
      .toMatch(/pip could not install the environment/);
    await page.getByTestId('tab-console').click();
    const console = page.getByRole('log', { name: /Console of/ });
    await expect.poll(() => console.innerText()).toMatch(/\[deepforge\] preparing environment/);
    await expect
      .poll(() => console.innerText())
      .toMatch(/\[pip\] ERROR: No matching distribution found for dfnowhere==1\.0/);
    await snap(page, TEST, '03-job-failed');
    const execution = await rest.execution(project.id, started.id);
    expect(execution.jobs.find((j) => j.node === 'left')?.error).toMatchObject({ kind: 'environment' });
  });
});
