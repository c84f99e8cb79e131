import type { ArtifactDto, ExecutionDetailsDto } from '@deepforge/protocol';
import type { Page } from 'playwright-core';
import { describe, expect, it } from 'vitest';
import { snap } from './support/browser.js';
import { keepEvidence } from './support/evidence.js';
import { browserSession } from './support/session.js';
import {
  background,
  editorNode,
  executeFromEditor,
  STATUS_FILL,
  traceNode,
  waitForSuccess,
} from './support/ui.js';

const TEST = 'fashion-mnist';
const CLASSES = [
  'T-shirt/top',
  'Trouser',
  'Pullover',
  'Dress',
  'Coat',
  'Sandal',
  'Shirt',
  'Sneaker',
  'Bag',
  'Ankle boot',
];
// Training on 2 loaded cores: a job's Python start, torch's import and one epoch on 9,000 images.
const RUN_TIMEOUT = 150_000;

/** Types a value into a node's attribute field in the side panel and presses Enter, as a user sets it. */
async function setAttribute(page: Page, node: string, attr: string, value: string): Promise<void> {
  await editorNode(page, node).click();
  const field = page.getByTestId('node-panel').getByTestId(`attr-${attr}`);
  await field.fill(value);
  await field.press('Enter');
}

/** Turns a bool attribute's switch on or off in the side panel. */
async function setSwitch(page: Page, node: string, attr: string, on: boolean): Promise<void> {
  await editorNode(page, node).click();
  const field = page.getByTestId('node-panel').getByTestId(`attr-${attr}`);
  // The switch's input is drawn as its track: click that, as a user does.
  if ((await field.isChecked()) !== on) await field.locator('xpath=..').click();
  await expect.poll(() => field.isChecked()).toBe(on);
}

function escape(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&');
}

describe('the Fashion-MNIST example, run in the browser', () => {
  const session = browserSession();

  it('downloads and normalises a subset, trains one epoch with live metrics, and tests above 75 %', async () => {
    const { server, rest, tab } = session;
    keepEvidence(TEST, { tab }, () => server);
    const { page, problems } = tab;

    /** Opens a pipeline from the project's Pipelines list; waits for its nodes and a clean validation. */
    const openFromList = async (name: string, nodes: readonly string[]): Promise<void> => {
      await page.getByTestId('nav-pipelines').click();
      await page.locator(`[data-testid=pipeline-row][data-pipeline="${name}"]`).click();
      await page.getByTestId('pipeline-title').filter({ hasText: name }).waitFor();
      for (const id of nodes) await editorNode(page, id).waitFor();
      await expect.poll(() => page.getByTestId('validation-badge').getAttribute('data-errors')).toBe('0');
    };
    /** Execute → the execution view; resolves when the server and the page both say it succeeded. */
    const execute = async (runName: string): Promise<string> => {
      const id = await executeFromEditor(page, runName);
      await page.getByTestId('tray-execution').filter({ hasText: runName }).click();
      await page.waitForURL(`**/executions/${id}**`);
      return id;
    };
    const finish = async (id: string): Promise<ExecutionDetailsDto> => {
      const done = await rest.waitForExecution(projectId, id, RUN_TIMEOUT);
      expect(done.status, JSON.stringify(done.failure)).toBe('success');
      await waitForSuccess(page, rest, projectId, id);
      for (const job of done.jobs) {
        await expect.poll(() => traceNode(page, job.node).getAttribute('data-status')).toBe('success');
        expect(await background(traceNode(page, job.node))).toBe(STATUS_FILL.success);
      }
      return done;
    };
    const openJob = async (node: string): Promise<void> => {
      await traceNode(page, node).click();
      await page.locator(`[data-testid=job-panel][data-node="${node}"]`).waitFor();
    };
    /** The job's Outputs tab counts what it produced: the view has read the finished job back. */
    const outputsShown = (count: number): Promise<void> =>
      expect
        .poll(() => page.getByTestId('tab-outputs').innerText())
        .toMatch(new RegExp(`Outputs\\s*${count}$`));
    const consoleText = (): Promise<string> => page.getByRole('log', { name: /Console of/ }).innerText();

    // ── Projects → New project → start from "fashion-mnist".
    await page.goto('/');
    await page.getByTestId('new-project').click();
    await page.getByTestId('project-example-select').click();
    await page.getByRole('option', { name: 'fashion-mnist', exact: true }).click();
    await expect.poll(() => page.getByTestId('project-name-input').inputValue()).toBe('fashion-mnist');
    await page.getByTestId('project-name-input').fill('Fashion in the browser');
    await snap(page, TEST, '01-new-project');
    await page.getByTestId('create-project').click();
    await page.getByTestId('pipelines-table').waitFor();
    const projectId = /\/projects\/([0-9a-z]+)\//.exec(page.url())?.[1] ?? '';
    expect(projectId).not.toBe('');
    expect(
      await page.getByTestId('pipeline-row').evaluateAll((rows) => rows.map((r) => r.dataset.pipeline)),
    ).toEqual(['download-normalize', 'test', 'train', 'train-vgg']);
    await snap(page, TEST, '02-pipelines');

    // ── download-normalize, on the first 10,000 training and 2,000 test images, without the preview plot.
    await openFromList('download-normalize', [
      'download',
      'save_training_data',
      'save_testing_data',
      'save_class_labels',
    ]);
    await setAttribute(page, 'download', 'train_limit', '10000');
    await setAttribute(page, 'download', 'test_limit', '2000');
    await setSwitch(page, 'download', 'preview', false);
    await expect
      .poll(async () =>
        (await rest.pipeline(projectId, 'download-normalize')).pipeline.nodes.find(
          (n) => n.id === 'download',
        ),
      )
      .toMatchObject({ attributes: { train_limit: 10000, test_limit: 2000, preview: false } });
    await snap(page, TEST, '03-download-attributes');
    const prepareId = await execute('prepare subset');
    const prepared = await finish(prepareId);
    await openJob('download');
    await outputsShown(3);
    await expect.poll(consoleText).toContain('train: 10000 images, test: 2000 images, 10 classes');
    await snap(page, TEST, '04-download-succeeded');

    // ── train: one epoch, batches of 64, 1,000 images held out, no augmentation, one thread.
    await openFromList('train', ['training_data', 'train', 'save_model']);
    await setAttribute(page, 'train', 'epochs', '1');
    await setAttribute(page, 'train', 'batch_size', '64');
    await setAttribute(page, 'train', 'validation', '1000');
    await setSwitch(page, 'train', 'augment', false);
    await setAttribute(page, 'train', 'threads', '1');
    await expect
      .poll(async () =>
        (await rest.pipeline(projectId, 'train')).pipeline.nodes.find((n) => n.id === 'train'),
      )
      .toMatchObject({ attributes: { epochs: 1, batch_size: 64, validation: 1000, threads: 1 } });
    await snap(page, TEST, '05-train-attributes');
    const trainId = await execute('one epoch');
    // Watch Train while it runs: the loss and accuracy charts fill in live (a value every 10 batches).
    await openJob('train');
    await page.getByTestId('tab-metrics').click();
    await page.getByTestId('metric-chart').first().waitFor({ timeout: RUN_TIMEOUT });
    // A chart per metric, its name and latest value on top: the first is the loss.
    const lossCard = page.getByTestId('job-metrics').locator('.mantine-Card-root').first();
    const latestLoss = (): Promise<string[]> => lossCard.locator('p').allInnerTexts();
    const [lossName, firstLoss] = await latestLoss();
    expect(lossName).toBe('loss');
    await expect.poll(async () => (await latestLoss())[1], { timeout: 60_000 }).not.toBe(firstLoss);
    const liveStatus = await traceNode(page, 'train').getAttribute('data-status');
    await snap(page, TEST, '06-train-live-metrics');
    expect(liveStatus, 'the loss was not seen changing while Train ran').toBe('running');
    const trained = await finish(trainId);
    await openJob('train');
    await outputsShown(1);
    await page.getByTestId('tab-metrics').click();
    // One card per metric, its name first.
    const metricNames = (
      await page.getByTestId('job-metrics').locator('.mantine-Card-root').allInnerTexts()
    ).map((t) => t.split('\n')[0]);
    expect(metricNames).toEqual(expect.arrayContaining(['loss', 'accuracy', 'val_loss', 'val_accuracy']));
    await snap(page, TEST, '07-train-metrics');
    await page.getByTestId('tab-plots').click();
    const lossPlot = page.getByTestId('plot-card').filter({ hasText: 'FashionCNN' }).first();
    await lossPlot.waitFor();
    await snap(page, TEST, '08-train-plot');

    // ── test: overall and per-class accuracy on the console, the confusion matrix in Plots.
    await openFromList('test', ['testing_data', 'model_to_test', 'class_labels', 'test', 'save_report']);
    await snap(page, TEST, '09-test-pipeline');
    const testId = await execute('evaluate');
    const tested = await finish(testId);
    await openJob('test');
    await outputsShown(1);
    await expect.poll(consoleText).toMatch(/correctly classified \d+ of 2000 images/);
    const text = await consoleText();
    const overall = /correctly classified (\d+) of (\d+) images \((\d+\.\d\d) %\)/.exec(text);
    expect(overall, text).not.toBeNull();
    const [, correct, count, percent] = overall!;
    expect(Number(count)).toBe(2000);
    expect(Number(percent)).toBeCloseTo((100 * Number(correct)) / 2000, 2);
    expect(Number(percent)).toBeGreaterThan(75);
    for (const name of CLASSES) expect(text).toMatch(new RegExp(`^${escape(name)}\\s+\\d+\\.\\d %$`, 'm'));
    await snap(page, TEST, '10-test-console');
    await page.getByTestId('tab-plots').click();
    const matrix = page.getByTestId('plot-card').filter({ hasText: 'Fashion-MNIST test set' });
    await matrix.waitFor();
    const image = matrix.getByRole('img');
    await image.waitFor();
    await expect
      .poll(() => image.evaluate((img) => (img as HTMLImageElement).naturalWidth))
      .toBeGreaterThan(100);
    await snap(page, TEST, '11-confusion-matrix');

    // ── What the server recorded agrees: three successful executions, with the attributes set in the editor,
    // and every Output's artifact made by its execution.
    expect(prepared.pipelineSnapshot.nodes.find((n) => n.id === 'download')?.attributes).toMatchObject({
      train_limit: 10000,
      test_limit: 2000,
      preview: false,
    });
    expect(trained.pipelineSnapshot.nodes.find((n) => n.id === 'train')?.attributes).toMatchObject({
      epochs: 1,
      batch_size: 64,
      validation: 1000,
      threads: 1,
    });
    for (const e of [prepared, trained, tested])
      expect(e.jobs.filter((j) => j.status !== 'success').map((j) => j.node)).toEqual([]);
    const outputs: [ExecutionDetailsDto, string][] = [
      [prepared, 'fashion-train'],
      [prepared, 'fashion-test'],
      [prepared, 'fashion-classes'],
      [trained, 'fashion-model'],
      [tested, 'fashion-test-report'],
    ];
    for (const [execution, name] of outputs) {
      const saved = await rest.get<{ items: ArtifactDto[] }>(
        `/api/projects/${projectId}/artifacts?name=${name}`,
      );
      expect(saved.items, name).toHaveLength(1);
      expect(saved.items[0]?.provenance).toMatchObject({ kind: 'execution', executionId: execution.id });
      expect(saved.items[0]?.size).toBeGreaterThan(0);
    }
    const testMetrics = await rest.get<{ items: { name: string; value: number }[] }>(
      `/api/projects/${projectId}/executions/${testId}/jobs/test/metrics`,
    );
    const accuracy = testMetrics.items.find((m) => m.name === 'test_accuracy')?.value;
    expect(accuracy).toBeCloseTo(Number(percent) / 100, 4);

    expect(problems.pageErrors).toEqual([]);
    expect(problems.consoleErrors).toEqual([]);
  }, 240_000);
});
