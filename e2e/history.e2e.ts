import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ProjectSummary, VersionPage } from '@deepforge/protocol';
import { describe, expect, it } from 'vitest';
import { snap } from './support/browser.js';
import { keepEvidence } from './support/evidence.js';
import { browserSession } from './support/session.js';

const TEST = 'history';

describe('History: named versions, a deleted pipeline brought back, a fork', () => {
  const session = browserSession();

  it('names a version, deletes a pipeline, brings it back from History and forks the named version', async () => {
    const { server, rest, tab } = session;
    keepEvidence(TEST, { tab }, () => server);
    const { page, problems } = tab;
    const project = await rest.createProject('History trip', 'hello');
    const base = `/projects/${project.id}`;
    // A run records the version it started from.
    const run = await rest.startExecution(project.id, { pipeline: 'basic-io', name: 'early run' });
    expect(run.version).toMatch(/^[0-9a-f]{40}$/);
    await rest.waitForExecution(project.id, run.id);

    // History → Name this version: the new version heads the list.
    await page.goto(`${base}/pipelines`);
    await page.getByTestId('pipelines-table').waitFor();
    await page.getByTestId('nav-history').click();
    await page.getByTestId('version-list').waitFor();
    await page.getByRole('button', { name: 'Name this version' }).click();
    await page.getByTestId('name-prompt-input').fill('Before cleanup');
    await page.getByTestId('name-prompt-submit').click();
    const firstRow = page.getByTestId('version-row').first();
    await expect.poll(() => firstRow.getByTestId('version-message').textContent()).toBe('Before cleanup');
    const named = (await firstRow.getAttribute('data-version')) ?? '';
    expect(named).toMatch(/^[0-9a-f]{40}$/);
    await snap(page, TEST, '01-named-version');
    // The server has it too, searchable by its message.
    const found = await rest.get<VersionPage>(`/api/projects/${project.id}/versions?q=cleanup`);
    expect(found.versions.map((v) => [v.id, v.kind, v.message])).toEqual([
      [named, 'named', 'Before cleanup'],
    ]);

    // Pipelines → delete basic-io, then record that as a version of its own.
    await page.getByTestId('nav-pipelines').click();
    await page.getByRole('button', { name: 'Actions for pipeline basic-io' }).click();
    await page.getByRole('menuitem', { name: 'Delete…' }).click();
    await page.getByTestId('confirm-delete-pipeline').click();
    await expect
      .poll(() => page.getByTestId('pipeline-row').evaluateAll((rows) => rows.map((r) => r.dataset.pipeline)))
      .toEqual(['hello']);
    await page.getByTestId('nav-history').click();
    await page.getByRole('button', { name: 'Name this version' }).click();
    await page.getByTestId('name-prompt-input').fill('Without basic-io');
    await page.getByTestId('name-prompt-submit').click();
    await expect
      .poll(() => page.getByTestId('version-row').first().getByTestId('version-message').textContent())
      .toBe('Without basic-io');

    // Its diff says what went: the pipeline file, deleted, node by node.
    await page.getByRole('button', { name: 'Show version Without basic-io' }).click();
    const deletedFile = page.locator('[data-testid=diff-file][data-path="pipelines/basic-io.json"]');
    await deletedFile.waitFor();
    await expect.poll(() => deletedFile.textContent()).toMatch(/deleted.*removed/s);
    await snap(page, TEST, '02-deletion-diff');

    // Deleted → Bring back basic-io: confirmed as a new version on top; the pipeline is back for everyone.
    const item = page.getByTestId('deleted-item').filter({ hasText: 'basic-io' });
    await item.waitFor();
    await item.getByRole('button', { name: 'Bring back basic-io' }).click();
    await expect.poll(() => page.getByRole('dialog').textContent()).toContain('new version on top');
    await snap(page, TEST, '03-bring-back-confirm');
    await page.getByTestId('confirm-bring-back').click();
    await expect.poll(() => page.getByTestId('deleted-item').count()).toBe(0);
    await expect
      .poll(() => page.getByTestId('version-row').first().locator('.mantine-Badge-label').textContent())
      .toBe('restore');
    await expect
      .poll(async () => (await rest.pipeline(project.id, 'basic-io')).pipeline.name)
      .toBe('basic-io');
    await page.getByTestId('nav-pipelines').click();
    await expect
      .poll(() => page.getByTestId('pipeline-row').evaluateAll((rows) => rows.map((r) => r.dataset.pipeline)))
      .toEqual(['basic-io', 'hello']);
    await snap(page, TEST, '04-brought-back');

    // History → the named version → Fork from this version: the fork opens and says where it came from.
    await page.getByTestId('nav-history').click();
    await page.getByRole('button', { name: 'Show version Before cleanup' }).click();
    // Open as of this version: the files of then, read-only; basic-io's graph and its nodes in words.
    await page.getByRole('link', { name: 'Open as of this version' }).click();
    await page.getByTestId('version-files-view').waitFor();
    await page.getByTestId('version-file-list').getByText('pipelines/basic-io.json', { exact: true }).click();
    await expect
      .poll(() => page.getByTestId('pipeline-summary').textContent())
      .toContain('3 nodes: gen (GenArray), show (PrintArray), save (Output)');
    await page.getByTestId('version-graph').locator('.react-flow__node').first().waitFor();
    await snap(page, TEST, '05-read-only-version');
    await page.getByRole('link', { name: 'Back to History' }).click();
    await page.getByRole('button', { name: 'Fork from this version' }).click();
    await page.getByTestId('name-prompt-input').fill('History trip fork');
    await page.getByTestId('name-prompt-submit').click();
    await page.waitForURL((url) => !url.pathname.startsWith(base) && /\/projects\/[^/]+/.test(url.pathname));
    await expect.poll(() => page.getByTestId('project-name').textContent()).toBe('History trip fork');
    const forkedFrom = page.getByTestId('forked-from');
    await expect
      .poll(() => forkedFrom.textContent())
      .toBe(`forked from History trip at ${named.slice(0, 7)}`);
    await page.getByTestId('pipelines-table').waitFor();
    await expect
      .poll(() => page.getByTestId('pipeline-row').evaluateAll((rows) => rows.map((r) => r.dataset.pipeline)))
      .toEqual(['basic-io', 'hello']);
    await snap(page, TEST, '06-fork');
    const forkId = /\/projects\/([^/]+)/.exec(new URL(page.url()).pathname)?.[1] ?? '';
    const fork = await rest.get<{ forkedFrom?: { projectId: string; version: string } }>(
      `/api/projects/${forkId}`,
    );
    expect(fork.forkedFrom).toEqual({ projectId: project.id, version: named });
    // The project list says so too.
    await page.goto('/');
    const row = page.locator(`[data-testid=project-row][data-project-id="${forkId}"]`);
    await expect
      .poll(() => row.getByTestId('forked-from').textContent())
      .toContain('forked from History trip');

    // The early run's page links to its version and to what changed since: here, a pipeline added after it.
    await rest.ok('POST', `/api/projects/${project.id}/pipelines`, {
      name: 'later',
      nodes: [],
      connections: [],
    });
    await page.goto(`${base}/executions/${run.id}`);
    const versionLink = page.getByTestId('execution-version');
    await expect.poll(() => versionLink.textContent()).toBe(`version ${(run.version ?? '').slice(0, 7)}`);
    await page.getByTestId('execution-changes-since').click();
    await expect
      .poll(() => page.getByTestId('compare-title').textContent())
      .toBe(`Changes from ${(run.version ?? '').slice(0, 7)} to now`);
    const added = page.locator('[data-testid=diff-file][data-path="pipelines/later.json"]');
    await expect.poll(() => added.textContent()).toContain('An empty pipeline added.');
    await snap(page, TEST, '07-changed-since-run');
    await page.goBack();
    await versionLink.click();
    await expect.poll(() => page.getByTestId('version-panel').getAttribute('data-version')).toBe(run.version);

    expect(problems.pageErrors).toEqual([]);
    expect(problems.consoleErrors).toEqual([]);
  });
  it('imports a git bundle of a project folder from the projects page, with its history', async () => {
    const { server, rest, tab } = session;
    const { page } = tab;
    const source = await rest.createProject('Bundled source', 'hello');
    await rest.ok('POST', `/api/projects/${source.id}/versions`, { message: 'Ready to share' });
    // A user's clone, bundled as git does it.
    const dir = mkdtempSync(join(tmpdir(), 'deepforge-e2e-bundle-'));
    try {
      const env = { ...process.env, GIT_CONFIG_NOSYSTEM: '1', GIT_CONFIG_GLOBAL: '/dev/null' };
      execFileSync('git', ['clone', '-q', `${server.url}/git/${source.id}`, join(dir, 'clone')], { env });
      execFileSync(
        'git',
        ['-C', join(dir, 'clone'), 'bundle', 'create', '-q', join(dir, 'shared.bundle'), '--all'],
        {
          env,
        },
      );
      const before = new Set(
        (await rest.get<{ items: ProjectSummary[] }>('/api/projects')).items.map((p) => p.id),
      );
      await page.goto('/');
      const chooser = page.waitForEvent('filechooser');
      await page.getByTestId('import-project').click();
      await (await chooser).setFiles(join(dir, 'shared.bundle'));
      await page.getByText(/^Imported /).waitFor();
      const made = (await rest.get<{ items: ProjectSummary[] }>('/api/projects')).items.filter(
        (p) => !before.has(p.id),
      );
      expect(made).toHaveLength(1);
      const versions = await rest.get<VersionPage>(`/api/projects/${made[0]!.id}/versions`);
      // The history came with it: the import on top of the versions the source had.
      expect(versions.versions[0]!.kind).toBe('import');
      expect(versions.versions.map((v) => v.message)).toContain('Ready to share');
      expect((await rest.pipeline(made[0]!.id, 'hello')).pipeline.nodes.length).toBeGreaterThan(0);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
