import type { OperationResponse } from '@deepforge/protocol';
import { describe, expect, it } from 'vitest';
import { snap } from './support/browser.js';
import { keepEvidence } from './support/evidence.js';
import { browserSession } from './support/session.js';
import {
  addOperation,
  background,
  dragConnection,
  editorNode,
  executeFromEditor,
  STATUS_FILL,
  traceNode,
  waitForSuccess,
} from './support/ui.js';

const TEST = 'new-operation';

/**
 * What the user types over the skeleton: a new input (`scale`), a new output (`total`), an attribute, a plot.
 * The last line is typed key by key (after Enter, so the editor's auto-indent is exercised too).
 */
const CODE = `import matplotlib.pyplot as plt


class Plotter:
    def __init__(self, title='squares'):
        self.title = title

    def execute(self, data, scale):
        xs = list(range(data))
        ys = [scale * x * x for x in xs]
        plt.plot(xs, ys, label='scaled squares')
        plt.title(self.title)
        plt.show()
        total = sum(ys)
        print(f'total = {total}')`;
const LAST_LINE = 'return total';

describe('a new operation, written in the browser', () => {
  const session = browserSession();

  it('is created from the pipeline, coded, connected, run, and its plot shown in the execution', async () => {
    const { server, rest, tab } = session;
    keepEvidence(TEST, { tab }, () => server);
    const { page, problems } = tab;
    const project = await rest.createProject('Plots from scratch', 'hello');

    // Pipelines → New pipeline.
    await page.goto(`/projects/${project.id}/pipelines`);
    await page.getByTestId('new-pipeline').click();
    await page.getByTestId('name-prompt-input').fill('plotting');
    await page.getByTestId('name-prompt-submit').click();
    await page.getByTestId('pipeline-empty').waitFor();
    await snap(page, TEST, '01-empty-pipeline');

    // Add operation → "New Operation…" → Plotter: created, added to the pipeline, its editor opened.
    await addOperation(page, 'New Operation…');
    await page.getByTestId('name-prompt-input').fill('Plotter');
    await snap(page, TEST, '02-name-operation');
    await page.getByTestId('name-prompt-submit').click();
    await page.waitForURL('**/operations/Plotter?from=plotting');
    const code = page.getByRole('textbox', { name: 'Code of Plotter' });
    await code.waitFor();
    // The skeleton's interface: execute(self, data) → result.
    await page.getByTestId('input-data').waitFor();
    await page.getByTestId('output-result').waitFor();
    await snap(page, TEST, '03-skeleton');

    // Type the code: replace everything, then one more line key by key.
    await code.click();
    await page.keyboard.press('Control+A');
    await page.keyboard.insertText(CODE);
    await page.keyboard.press('End');
    await page.keyboard.press('Enter');
    await page.keyboard.type(LAST_LINE);

    // The interface follows the code: a new input and a new output, the old output gone, an attribute.
    await page.getByTestId('input-scale').waitFor();
    await page.getByTestId('output-total').waitFor();
    await page.getByTestId('output-result').waitFor({ state: 'detached' });
    await page.getByTestId('attribute-title').waitFor();
    await expect.poll(() => page.getByTestId('operation-status').getAttribute('data-errors')).toBe('0');
    await snap(page, TEST, '04-code-and-interface');
    // Auto-indent put the typed line inside execute; the server's copy has the whole code.
    await expect
      .poll(
        async () =>
          (await rest.get<OperationResponse>(`/api/projects/${project.id}/operations/Plotter`)).code,
      )
      .toBe(`${CODE}\n        ${LAST_LINE}`);
    const op = await rest.get<OperationResponse>(`/api/projects/${project.id}/operations/Plotter`);
    expect(op.interface?.inputs.map((p) => p.name)).toEqual(['data', 'scale']);
    expect(op.interface?.outputs.map((p) => p.name)).toEqual(['total']);
    expect(op.interface?.attributes.map((a) => a.name)).toEqual(['title']);

    // Back to the pipeline: the node has the new ports.
    await page.getByTestId('back-to-pipeline').click();
    const plotter = editorNode(page, 'plotter');
    await plotter.waitFor();
    for (const handle of ['handle-in-data', 'handle-in-scale', 'handle-out-total'])
      await plotter.getByTestId(handle).waitFor();
    expect(await plotter.getByTestId('handle-out-result').count()).toBe(0);

    // Add a GetNumber (4) and connect it to both inputs.
    await addOperation(page, 'GetNumber');
    await editorNode(page, 'get_number').waitFor();
    await page.keyboard.press('Escape');
    await dragConnection(page, { node: 'get_number', port: 'number' }, { node: 'plotter', port: 'data' });
    await dragConnection(page, { node: 'get_number', port: 'number' }, { node: 'plotter', port: 'scale' });
    await expect
      .poll(async () => (await rest.pipeline(project.id, 'plotting')).pipeline.connections)
      .toHaveLength(2);
    await expect.poll(() => page.getByTestId('validation-badge').getAttribute('data-errors')).toBe('0');
    await snap(page, TEST, '05-connected');
    const stored = (await rest.pipeline(project.id, 'plotting')).pipeline;
    expect(
      stored.connections.map((c) => `${c.from.node}.${c.from.port}→${c.to.node}.${c.to.port}`).sort(),
    ).toEqual(['get_number.number→plotter.data', 'get_number.number→plotter.scale']);

    // Run it; the trace turns green; the plot is in the execution view.
    const executionId = await executeFromEditor(page, 'plot run');
    await page.getByTestId('tray-execution').filter({ hasText: 'plot run' }).click();
    await page.waitForURL(`**/executions/${executionId}**`);
    await waitForSuccess(page, rest, project.id, executionId);
    for (const id of ['get_number', 'plotter'])
      expect(await background(traceNode(page, id))).toBe(STATUS_FILL.success);
    await traceNode(page, 'plotter').click();
    await page.locator('[data-testid=job-panel][data-node=plotter]').waitFor();
    await expect
      .poll(() => page.getByRole('log', { name: /Console of/ }).innerText())
      .toContain('total = 56'); // 4 · (0 + 1 + 4 + 9)
    await page.getByTestId('tab-plots').click();
    const card = page.getByTestId('plot-card').first();
    await card.waitFor();
    await expect.poll(() => card.textContent()).toContain('squares');
    const image = card.getByRole('img');
    await image.waitFor();
    // The snapshot has loaded and has a size (a broken image has naturalWidth 0).
    await expect
      .poll(() => image.evaluate((img) => (img as HTMLImageElement).naturalWidth))
      .toBeGreaterThan(100);
    await snap(page, TEST, '06-plot');

    expect(problems.pageErrors).toEqual([]);
    expect(problems.consoleErrors).toEqual([]);
  });
});
