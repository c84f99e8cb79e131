import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { promisify } from 'node:util';
import type { OperationResponse } from '@deepforge/protocol';
import { describe, expect, it } from 'vitest';
import { snap } from './support/browser.js';
import { keepEvidence } from './support/evidence.js';
import { CLI, ROOT } from './support/server.js';
import { browserSession } from './support/session.js';
import { addOperation, editorNode, openPipeline } from './support/ui.js';

const TEST = 'extensions';
const run = promisify(execFile);

describe('extensions in the web IDE', () => {
  const session = browserSession();

  it("adds the shipped extension's operation from the spotlight, and starts a project from its example", async () => {
    const { server, rest, tab } = session;
    keepEvidence(TEST, { tab }, () => server);
    const { page } = tab;
    // Installed as a user would, into the running server's data dir: the server reads extensions when asked.
    const added = await run(
      process.execPath,
      [CLI, 'extensions', 'add', join(ROOT, 'extensions', 'image-classification')],
      { env: { ...process.env, DEEPFORGE_DATA_DIR: server.dataDir } },
    );
    expect(added.stdout).toContain('added image-classification 0.1.0');

    const project = await rest.createProject('Uses an extension');
    await rest.ok('POST', `/api/projects/${project.id}/pipelines`, {
      name: 'main',
      nodes: [],
      connections: [],
    });
    await openPipeline(page, project.id, 'main');

    await page.getByTestId('add-operation').click();
    await page.getByRole('textbox', { name: 'Search operations' }).fill('Normalize');
    // Mantine draws a group's label from a CSS variable, so the group is found by the variable.
    const group = page.locator('.mantine-Spotlight-actionsGroup', {
      has: page.locator('.mantine-Spotlight-action', { hasText: 'NormalizeImages' }),
    });
    await group.waitFor();
    expect(await group.evaluate((el) => getComputedStyle(el).getPropertyValue('--spotlight-label'))).toBe(
      "'Extension: image-classification'",
    );
    await snap(page, TEST, '01-spotlight-extension-group');
    await page.keyboard.press('Escape');
    await addOperation(page, 'NormalizeImages');

    // The node shows the copied operation's ports: its interface comes from the project's own copy.
    const node = editorNode(page, 'normalize_images');
    await node.getByTestId('handle-in-training_data').waitFor();
    await node.getByTestId('handle-out-normalized_test').waitFor();
    await snap(page, TEST, '02-node-in-pipeline');
    const op = await rest.get<OperationResponse>(`/api/projects/${project.id}/operations/NormalizeImages`);
    expect(op.code).toContain('class NormalizeImages');
    const util = await rest.request('GET', `/api/projects/${project.id}/utils/image_data`);
    expect(util.status).toBe(200);
    const pipeline = await rest.pipeline(project.id, 'main');
    expect(pipeline.pipeline.nodes.map((n) => n.operation)).toEqual(['NormalizeImages']);

    // New project offers the extension's example project, and makes a copy of it.
    await page.goto('/');
    await page.getByTestId('new-project').click();
    await page.getByTestId('project-example-select').click();
    await page.getByRole('option', { name: 'fashion-classifier', exact: true }).click();
    await expect.poll(() => page.getByTestId('project-name-input').inputValue()).toBe('fashion-classifier');
    await snap(page, TEST, '03-new-project-from-extension-example');
    await page.getByTestId('create-project').click();
    await page.getByTestId('pipelines-table').waitFor();
    expect(
      await page.getByTestId('pipeline-row').evaluateAll((rows) => rows.map((r) => r.dataset.pipeline)),
    ).toEqual(['train-evaluate']);
    expect(tab.problems.pageErrors).toEqual([]);
  });
});
