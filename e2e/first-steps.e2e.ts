import { join } from 'node:path';
import type { ArtifactDto } from '@deepforge/protocol';
import { describe, expect, it } from 'vitest';
import { snap } from './support/browser.js';
import { keepEvidence } from './support/evidence.js';
import { ROOT } from './support/server.js';
import { browserSession } from './support/session.js';
import {
  background,
  editorNode,
  executeFromEditor,
  STATUS_FILL,
  traceNode,
  waitForSuccess,
} from './support/ui.js';

const TEST = 'first-steps';
const HELLO_NODES = ['greeting', 'left', 'right', 'multiply', 'print', 'result'];

describe('First Steps on the hello example', () => {
  const session = browserSession();

  it('creates a project from the example, sets the Input, runs hello and reads what Print printed', async () => {
    const { server, rest, tab } = session;
    keepEvidence(TEST, { tab }, () => server);
    const { page, problems } = tab;

    // Projects → New project → start from "hello".
    await page.goto('/');
    await page.getByTestId('new-project').click();
    await page.getByTestId('project-example-select').click();
    await page.getByRole('option', { name: 'hello', exact: true }).click();
    // Choosing an example names the project after it when the name is empty.
    await expect.poll(() => page.getByTestId('project-name-input').inputValue()).toBe('hello');
    await page.getByTestId('project-name-input').fill('First steps');
    await snap(page, TEST, '01-new-project');
    await page.getByTestId('create-project').click();
    await page.getByTestId('pipelines-table').waitFor();
    await expect.poll(() => page.getByTestId('project-name').textContent()).toBe('First steps');
    const projectId = /\/projects\/([0-9a-z]+)\//.exec(page.url())?.[1] ?? '';
    expect(projectId).not.toBe('');
    expect(
      await page.getByTestId('pipeline-row').evaluateAll((rows) => rows.map((r) => r.dataset.pipeline)),
    ).toEqual(['basic-io', 'hello']);
    await snap(page, TEST, '02-pipelines');

    // Artifacts → Upload: the greeting Print writes, as the user's own artifact.
    await page.getByTestId('nav-artifacts').click();
    await page.getByTestId('upload-artifact').click();
    const chooser = page.waitForEvent('filechooser');
    await page.getByTestId('upload-file').click();
    await (await chooser).setFiles(join(ROOT, 'examples', 'hello', 'artifacts', 'greeting.pkl'));
    await page.getByTestId('upload-name').fill('my-greeting');
    await snap(page, TEST, '03-upload');
    await page.getByTestId('upload-submit').click();
    await page.locator('[data-testid=artifact-row]', { hasText: 'my-greeting' }).waitFor();
    await snap(page, TEST, '04-artifacts');

    // Pipelines → hello → select the Input → choose the artifact.
    await page.getByTestId('nav-pipelines').click();
    await page.locator('[data-testid=pipeline-row][data-pipeline=hello]').click();
    await page.getByTestId('pipeline-title').filter({ hasText: 'hello' }).waitFor();
    for (const id of HELLO_NODES) await editorNode(page, id).waitFor();
    await expect.poll(() => page.getByTestId('validation-badge').getAttribute('data-errors')).toBe('0');
    await snap(page, TEST, '05-hello-pipeline');
    await editorNode(page, 'greeting').click();
    await page.getByTestId('node-panel').waitFor();
    await page.getByTestId('input-artifact-select').click();
    await page.getByRole('option', { name: 'my-greeting', exact: true }).click();
    await expect.poll(() => editorNode(page, 'greeting').textContent()).toContain('artifact = "my-greeting"');
    await snap(page, TEST, '06-input-artifact-set');
    // The choice is in the project document the server keeps: REST reads it back.
    await expect
      .poll(async () =>
        (await rest.pipeline(projectId, 'hello')).pipeline.nodes.find((n) => n.id === 'greeting'),
      )
      .toMatchObject({ attributes: { artifact: 'my-greeting' } });

    // Execute → the trace: every operation turns green.
    const executionId = await executeFromEditor(page, 'first run');
    await snap(page, TEST, '07-started');
    await page.getByTestId('tray-execution').filter({ hasText: 'first run' }).click();
    await page.waitForURL(`**/executions/${executionId}**`);
    await waitForSuccess(page, rest, projectId, executionId);
    for (const id of HELLO_NODES) {
      await expect.poll(() => traceNode(page, id).getAttribute('data-status')).toBe('success');
      expect(await background(traceNode(page, id))).toBe(STATUS_FILL.success);
    }
    await snap(page, TEST, '08-trace-all-green');

    // Print's console.
    await traceNode(page, 'print').click();
    await page.locator('[data-testid=job-panel][data-node=print]').waitFor();
    const console = page.getByRole('log', { name: /Console of/ });
    await expect.poll(() => console.innerText()).toContain('Hello from DeepForge! The product is 16!');
    await snap(page, TEST, '09-print-console');

    // What the server recorded agrees: six successful jobs, and Output saved `product`.
    const execution = await rest.execution(projectId, executionId);
    expect(execution.status).toBe('success');
    expect(execution.jobs.map((j) => [j.node, j.status]).sort()).toEqual(
      HELLO_NODES.map((n) => [n, 'success']).sort(),
    );
    const saved = await rest.get<{ items: ArtifactDto[] }>(
      `/api/projects/${projectId}/artifacts?name=product`,
    );
    expect(saved.items).toHaveLength(1);
    expect(saved.items[0]?.provenance).toMatchObject({ kind: 'execution', executionId });

    expect(problems.pageErrors).toEqual([]);
    expect(problems.consoleErrors).toEqual([]);
  });
});
