import { spawn } from 'node:child_process';
import { cp, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { snap } from './support/browser.js';
import { keepEvidence } from './support/evidence.js';
import { CLI, ROOT } from './support/server.js';
import { browserSession } from './support/session.js';

const TEST = 'data-scope';

/** `deepforge run` in its own process, on the running server's data dir (docs/adr/0028). */
function deepforgeRun(dataDir: string, folder: string): Promise<{ code: number | null; output: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [CLI, 'run', folder, 'hello'], {
      env: {
        ...process.env,
        DEEPFORGE_DATA_DIR: dataDir,
        DEEPFORGE_PYTHON: '/usr/bin/python3',
        NO_COLOR: '1',
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let output = '';
    child.stdout.on('data', (c: Buffer) => (output += c.toString()));
    child.stderr.on('data', (c: Buffer) => (output += c.toString()));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, output }));
  });
}

describe('One data scope: a folder run by the CLI in the web IDE', () => {
  const session = browserSession();
  let work: string;
  afterAll(async () => {
    if (work) await rm(work, { recursive: true, force: true });
  });

  it('lists the folder project with the CLI run, its console, and a second run live', async () => {
    const { server, tab } = session;
    keepEvidence(TEST, { tab }, () => server);
    const { page, problems } = tab;
    work = await mkdtemp(join(tmpdir(), 'deepforge-e2e-scope-'));
    const folder = join(work, 'my-hello');
    await cp(join(ROOT, 'examples', 'hello'), folder, { recursive: true });

    // The projects page is open before the CLI registers the folder: the new project appears without a reload.
    await page.goto('/');
    await page.getByRole('heading', { name: 'Projects' }).waitFor();
    const first = await deepforgeRun(server.dataDir, folder);
    expect(first.code, first.output).toBe(0);
    const row = page.locator('[data-testid=project-row]', { hasText: 'hello' });
    await row.waitFor({ timeout: 20_000 });
    expect(await row.getByTestId('project-folder').textContent()).toContain(`Folder project · ${folder}`);
    await snap(page, TEST, '01-projects');

    await row.getByRole('link', { name: 'hello' }).click();
    await page.getByTestId('folder-project-badge').waitFor();
    const projectId = /\/projects\/([0-9a-z]+)/.exec(page.url())?.[1] ?? '';
    await page.goto(`/projects/${projectId}/executions`);
    const rows = page.getByTestId('execution-row');
    await rows.first().waitFor();
    expect(await rows.count()).toBe(1);
    expect(await rows.first().getAttribute('data-status')).toBe('success');
    await snap(page, TEST, '02-executions');

    // A second run while the list is open: it appears without a reload (the server follows the CLI's engine).
    const second = await deepforgeRun(server.dataDir, folder);
    expect(second.code, second.output).toBe(0);
    await expect.poll(() => rows.count(), { timeout: 20_000 }).toBe(2);
    await expect
      .poll(() => rows.evaluateAll((r) => r.map((x) => x.getAttribute('data-status'))), { timeout: 20_000 })
      .toEqual(['success', 'success']);
    await snap(page, TEST, '03-live');

    // The run's console, as the CLI printed it.
    await rows.first().click();
    await page.locator('[data-testid=execution-view][data-status=success]').waitFor();
    await page.goto(`${page.url().split('?')[0]}?node=print`);
    await page
      .getByTestId('job-console')
      .getByText('Hello from DeepForge! The product is 16!')
      .waitFor({ timeout: 20_000 });
    await snap(page, TEST, '04-console');
    expect(problems.consoleErrors).toEqual([]);
  });
});
