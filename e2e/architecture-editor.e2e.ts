import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { TestPage } from './support/browser.js';
import { launchBrowser, openPage, snap } from './support/browser.js';
import { keepEvidence } from './support/evidence.js';
import { Rest } from './support/rest.js';
import type { RunningServer } from './support/server.js';
import { removeDir, startServer } from './support/server.js';
import { editorNode, executeFromEditor, openPipeline } from './support/ui.js';

const TEST = 'architecture-editor';

/** An operation whose `model` (no default) is a reference: it trains what it is given on random images. */
const TRAIN = `import torch


class TrainNet:
    def __init__(self, model, steps=100):
        self.model = model
        self.steps = steps

    def execute(self):
        torch.manual_seed(0)
        opt = torch.optim.SGD(self.model.parameters(), lr=0.01)
        x = torch.randn(32, 1, 28, 28)
        y = torch.randint(0, 10, (32,))
        for step in range(self.steps):
            loss = torch.nn.functional.cross_entropy(self.model(x), y)
            opt.zero_grad()
            loss.backward()
            opt.step()
            print(f"training step {step} loss {loss.item():.4f}", flush=True)
        final = loss.item()
        return final
`;

function layerNode(page: Page, id: string) {
  return page.locator(`[data-testid=architecture-canvas] [data-testid=layer-node][data-layer-id="${id}"]`);
}

function edgeShape(page: Page, from: string, to: string) {
  return page.locator(`[data-testid=edge-shape][data-edge="${from}->${to}"]`);
}

/** Add layer → search the catalog → pick the class; the new layer is selected (its panel open). */
async function addLayer(page: Page, layerClass: string, id: string): Promise<void> {
  await page.getByTestId('add-layer').click();
  const search = page.getByRole('textbox', { name: 'Search layers' });
  await search.fill(layerClass);
  // The first match is the exact name (ranked), even where docs of other layers mention it.
  await page.locator('.mantine-Spotlight-action', { hasText: layerClass }).first().click();
  await search.waitFor({ state: 'hidden' });
  await page.locator('.mantine-Spotlight-overlay').waitFor({ state: 'hidden' });
  await layerNode(page, id).waitFor();
  await page.locator(`[data-testid=layer-panel][data-layer-id="${id}"]`).waitFor();
}

/** Types a constructor argument in the layer panel and presses Enter. */
async function setArgument(page: Page, arg: string, value: string): Promise<void> {
  const field = page.getByTestId('layer-panel').getByTestId(`arg-${arg}`);
  await field.fill(value);
  await field.press('Enter');
}

/** A residual block: x → conv_a → relu → conv_b, then conv_b + x (Add) → out. */
const RESIDUAL = {
  name: 'Residual',
  layers: [
    { id: 'x', layer: 'Input', shape: ['N', 8, 16, 16], attributes: {}, position: { x: 0, y: 0 } },
    {
      id: 'conv_a',
      layer: 'Conv2d',
      attributes: { in_channels: 8, out_channels: 8, kernel_size: 3, padding: 1 },
      position: { x: 0, y: 160 },
    },
    { id: 'relu', layer: 'ReLU', attributes: {}, position: { x: 0, y: 320 } },
    {
      id: 'conv_b',
      layer: 'Conv2d',
      attributes: { in_channels: 8, out_channels: 8, kernel_size: 3, padding: 1 },
      position: { x: 0, y: 480 },
    },
    { id: 'add', layer: 'Add', attributes: {}, position: { x: 120, y: 640 } },
    { id: 'out', layer: 'ReLU', attributes: {}, position: { x: 120, y: 800 } },
  ],
  edges: [
    { from: 'x', to: 'conv_a' },
    { from: 'conv_a', to: 'relu' },
    { from: 'relu', to: 'conv_b' },
    { from: 'conv_b', to: 'add' },
    { from: 'x', to: 'add' },
    { from: 'add', to: 'out' },
  ],
  outputs: ['out'],
};

describe('the architecture editor', () => {
  let server: RunningServer;
  let rest: Rest;
  let browser: Browser;
  let ada: TestPage;
  let alan: TestPage;

  beforeAll(async () => {
    [server, browser] = await Promise.all([startServer(), launchBrowser()]);
    rest = new Rest(server.url);
    [ada, alan] = await Promise.all([openPage(browser, server.url), openPage(browser, server.url)]);
  });

  afterAll(async () => {
    await browser?.close();
    await server?.stop();
    if (server) await removeDir(server.dataDir);
  });

  it('draws a CNN with shapes on its edges, fixes in_features, and trains it from a pipeline', async () => {
    keepEvidence(TEST, { ada, alan }, () => server);
    const { page } = ada;
    const project = await rest.createProject('Nets');
    const base = `/api/projects/${project.id}`;
    await rest.ok('POST', `${base}/operations`, { name: 'TrainNet', code: TRAIN });
    await rest.ok('POST', `${base}/pipelines`, {
      name: 'train',
      nodes: [
        { id: 'train', operation: 'TrainNet', attributes: {}, references: {}, position: { x: 0, y: 0 } },
      ],
      connections: [],
    });

    // Resources: empty; Alan watches the list while Ada creates an architecture.
    await alan.page.goto(`/projects/${project.id}/resources`);
    await alan.page.getByTestId('resources-empty').waitFor();
    await page.goto(`/projects/${project.id}/resources`);
    await page.getByTestId('new-resource').click();
    const nameInput = page.getByTestId('name-prompt-input');
    await nameInput.fill('1net');
    await expect.poll(() => page.getByTestId('name-prompt-submit').isDisabled()).toBe(true);
    await nameInput.fill('Classifier');
    await page.getByTestId('name-prompt-submit').click();
    await page.getByTestId('architecture-title').filter({ hasText: 'Classifier' }).waitFor();
    await alan.page.locator('[data-testid=resource-row][data-resource=Classifier]').waitFor();
    await expect
      .poll(() => layerNode(page, 'x').getByTestId('layer-shape').textContent())
      .toBe('[N, 1, 28, 28]');

    // Conv2d → ReLU → MaxPool2d → Flatten → Linear, each added after the one before.
    await addLayer(page, 'Conv2d', 'conv2d');
    // Required arguments unset are flagged as <none> on the layer.
    await expect.poll(() => layerNode(page, 'conv2d').textContent()).toContain('in_channels=<none>');
    await setArgument(page, 'in_channels', '1');
    await setArgument(page, 'out_channels', '8');
    await setArgument(page, 'kernel_size', "'three'");
    await expect
      .poll(() => page.getByTestId('layer-panel').getByText('must be int or tuple').count())
      .toBeGreaterThan(0);
    await setArgument(page, 'kernel_size', '3');
    await addLayer(page, 'ReLU', 'relu');
    await addLayer(page, 'MaxPool2d', 'maxpool2d');
    await setArgument(page, 'kernel_size', '2');
    await addLayer(page, 'Flatten', 'flatten');
    await addLayer(page, 'Linear', 'linear');
    await setArgument(page, 'in_features', '1352');
    await setArgument(page, 'out_features', '10');

    // Shapes by PyTorch on every edge; parameters on the layers.
    const expected: [string, string, string][] = [
      ['x', 'conv2d', '[N, 1, 28, 28]'],
      ['conv2d', 'relu', '[N, 8, 26, 26]'],
      ['relu', 'maxpool2d', '[N, 8, 26, 26]'],
      ['maxpool2d', 'flatten', '[N, 8, 13, 13]'],
      ['flatten', 'linear', '[N, 1352]'],
    ];
    for (const [from, to, shape] of expected)
      await expect.poll(() => edgeShape(page, from, to).textContent()).toBe(shape);
    await expect
      .poll(() => layerNode(page, 'linear').getByTestId('layer-params').textContent())
      .toBe('13,530 params');
    await expect.poll(() => page.getByTestId('validation-badge').getAttribute('data-errors')).toBe('0');
    // The generated module beside the graph follows the edits.
    await expect
      .poll(() => page.getByTestId('architecture-code-view').textContent())
      .toContain('self.linear = nn.Linear(in_features=1352, out_features=10)');
    await snap(page, TEST, '01-cnn-with-shapes');
    // Alan, in the editor too, sees the same graph and shapes.
    await alan.page.locator('[data-testid=resource-row][data-resource=Classifier]').click();
    await expect.poll(() => edgeShape(alan.page, 'flatten', 'linear').textContent()).toBe('[N, 1352]');

    // Break in_features: PyTorch's message on that layer, and the fix the shapes determine.
    await layerNode(page, 'linear').click();
    await setArgument(page, 'in_features', '100');
    await expect
      .poll(() => layerNode(page, 'linear').getByTestId('layer-error').textContent())
      .toContain('mat1 and mat2 shapes cannot be multiplied (Nx1352 and 100x10)');
    await expect.poll(() => layerNode(page, 'flatten').getAttribute('data-errors')).toBe('0');
    const fix = page.getByTestId('layer-fix');
    await expect.poll(() => fix.textContent()).toBe('Set in_features to 1352');
    await snap(page, TEST, '02-in-features-broken');
    await fix.click();
    await expect.poll(() => layerNode(page, 'linear').getAttribute('data-errors')).toBe('0');
    await expect.poll(() => page.getByTestId('validation-badge').getAttribute('data-errors')).toBe('0');
    // Alan's editor follows.
    await expect.poll(() => layerNode(alan.page, 'linear').textContent()).toContain('in_features=1352');

    // The summary: every layer, its output shape and parameters, and the total.
    await page.getByTestId('architecture-summary').click();
    await page.getByTestId('summary-table').waitFor();
    expect(await page.getByTestId('summary-row').count()).toBe(6);
    await expect
      .poll(() => page.getByTestId('summary-totals').textContent())
      .toContain('Total params: 13,610');
    await snap(page, TEST, '03-summary');
    await page.keyboard.press('Escape');

    // The pipeline: the operation's `model` picks the architecture; execute; training starts.
    await openPipeline(page, project.id, 'train');
    await editorNode(page, 'train').click();
    await page.getByTestId('ref-model').click();
    await page.getByRole('option', { name: 'Classifier' }).click();
    await expect.poll(() => editorNode(page, 'train').textContent()).toContain('model ← Classifier');
    await expect.poll(() => page.getByTestId('validation-badge').getAttribute('data-errors')).toBe('0');
    await snap(page, TEST, '04-reference-picked');
    const executionId = await executeFromEditor(page, 'train the classifier');
    await page.goto(`/projects/${project.id}/executions/${executionId}`);
    await page.locator('[data-testid=trace-graph] [data-testid=graph-node][data-node-id=train]').click();
    const console = page.getByRole('log', { name: /Console of/ });
    await expect.poll(() => console.innerText(), { timeout: 60_000 }).toMatch(/training step \d+ loss/);
    await snap(page, TEST, '05-training');

    // Renaming the architecture: the pipeline's reference follows.
    await page.goto(`/projects/${project.id}/resources`);
    await page
      .locator('[data-testid=resource-row][data-resource=Classifier] [data-testid=resource-actions]')
      .click();
    await page.getByTestId('rename-resource').click();
    await page.getByTestId('name-prompt-input').fill('SmallCNN');
    await page.getByTestId('name-prompt-submit').click();
    await page.locator('[data-testid=resource-row][data-resource=SmallCNN]').waitFor();
    await expect
      .poll(async () => (await rest.pipeline(project.id, 'train')).pipeline.nodes[0]?.references)
      .toEqual({ model: 'SmallCNN' });
    await expect
      .poll(() => page.locator('[data-testid=resource-row][data-resource=SmallCNN]').textContent())
      .toContain('1 node');

    for (const t of [ada, alan]) {
      expect(t.problems.pageErrors).toEqual([]);
      expect(t.problems.consoleErrors).toEqual([]);
    }
  });

  it('draws a residual merge, inserts a layer on an edge, deletes one keeping the chain, flags a wrong merge', async () => {
    keepEvidence(TEST, { ada }, () => server);
    const { page } = ada;
    const project = await rest.createProject('Blocks');
    await rest.ok('PUT', `/api/projects/${project.id}/resources/Residual`, RESIDUAL);
    await page.goto(`/projects/${project.id}/resources/Residual`);
    // Both inputs of the Add are drawn, each with its shape.
    await expect.poll(() => edgeShape(page, 'conv_b', 'add').textContent()).toBe('[N, 8, 16, 16]');
    await expect.poll(() => edgeShape(page, 'x', 'add').textContent()).toBe('[N, 8, 16, 16]');
    await expect
      .poll(() => page.getByTestId('architecture-code-view').textContent())
      .toContain('add = conv_b + x');

    // The Input's shape: a bad one is refused in the field, a new one flows through every edge.
    await layerNode(page, 'x').click();
    const shape = page.getByTestId('input-shape');
    await shape.fill('N x 8');
    await shape.press('Enter');
    await expect
      .poll(() => page.getByTestId('layer-panel').textContent())
      .toContain('is neither a size nor a name');
    await shape.fill('N, 8, 32, 32');
    await shape.press('Enter');
    await expect.poll(() => edgeShape(page, 'x', 'conv_a').textContent()).toBe('[N, 8, 32, 32]');
    await expect.poll(() => edgeShape(page, 'conv_b', 'add').textContent()).toBe('[N, 8, 32, 32]');
    await shape.fill('N, 8, 16, 16');
    await shape.press('Enter');
    await expect.poll(() => edgeShape(page, 'x', 'add').textContent()).toBe('[N, 8, 16, 16]');

    // Select the edge conv_a → relu (its shape label) and add a BatchNorm2d on it.
    await edgeShape(page, 'conv_a', 'relu').click();
    await addLayer(page, 'BatchNorm2d', 'batchnorm2d');
    await setArgument(page, 'num_features', '8');
    await expect.poll(() => edgeShape(page, 'conv_a', 'batchnorm2d').textContent()).toBe('[N, 8, 16, 16]');
    await expect.poll(() => edgeShape(page, 'batchnorm2d', 'relu').textContent()).toBe('[N, 8, 16, 16]');
    await expect.poll(() => edgeShape(page, 'conv_a', 'relu').count()).toBe(0);
    await snap(page, TEST, '06-residual-with-batchnorm');

    // Delete the ReLU: its input takes its place in front of conv_b.
    await layerNode(page, 'relu').click();
    await page.getByTestId('layer-delete').click();
    await expect.poll(() => layerNode(page, 'relu').count()).toBe(0);
    await expect.poll(() => edgeShape(page, 'batchnorm2d', 'conv_b').textContent()).toBe('[N, 8, 16, 16]');

    // A residual that cannot be added (4 channels + 8): PyTorch's message on the Add, not on conv_b.
    await layerNode(page, 'conv_b').click();
    await setArgument(page, 'out_channels', '4');
    await expect
      .poll(() => layerNode(page, 'add').getByTestId('layer-error').textContent())
      .toMatch(/size of tensor a \(4\) must match the size of tensor b \(8\)/);
    await expect.poll(() => layerNode(page, 'conv_b').getAttribute('data-errors')).toBe('0');
    await snap(page, TEST, '07-residual-mismatch');
    await setArgument(page, 'out_channels', '8');
    await expect.poll(() => page.getByTestId('validation-badge').getAttribute('data-errors')).toBe('0');
    expect(ada.problems.pageErrors).toEqual([]);
    expect(ada.problems.consoleErrors).toEqual([]);
  });
});
