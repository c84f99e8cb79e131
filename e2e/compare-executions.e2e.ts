import type { ExecutionDetailsDto } from '@deepforge/protocol';
import { describe, expect, it } from 'vitest';
import { snap } from './support/browser.js';
import { keepEvidence } from './support/evidence.js';
import { browserSession } from './support/session.js';

const TEST = 'compare-executions';

describe('comparing executions', () => {
  const session = browserSession();
  let projectId = '';
  let runs: ExecutionDetailsDto[] = [];

  it('compares two runs of a plotting pipeline: the attribute and code that differ, both figures, their overlay; then one run’s plots', async () => {
    const { server, rest, tab } = session;
    keepEvidence(TEST, { tab }, () => server);
    const { page, problems } = tab;
    // A one-node pipeline of the plots example: TrainingCurve draws its loss with matplotlib.
    const project = await rest.createProject('Curves compared', 'plots');
    projectId = project.id;
    await rest.ok('POST', `/api/projects/${project.id}/pipelines`, {
      name: 'curve',
      nodes: [{ id: 'curve', operation: 'TrainingCurve', attributes: { epochs: 3 } }],
      connections: [],
    });
    runs = [];
    for (const [name, epochs] of [
      ['three epochs', 3],
      ['six epochs', 6],
    ] as const) {
      if (runs.length === 1) {
        // Before the second run, a change to the operation too: a steeper start of the curve.
        const op = await rest.get<{ code: string }>(`/api/projects/${project.id}/operations/TrainingCurve`);
        const code = op.code.replace('2.0 * math.exp', '2.5 * math.exp');
        expect(code).not.toBe(op.code);
        await rest.ok('PUT', `/api/projects/${project.id}/operations/TrainingCurve`, { code });
      }
      const started = await rest.startExecution(project.id, {
        pipeline: 'curve',
        name,
        attributes: { curve: { epochs } },
      });
      const done = await rest.waitForExecution(project.id, started.id);
      expect(done.status, JSON.stringify(done.failure)).toBe('success');
      runs.push(done);
    }

    // Executions → tick both → Compare.
    await page.goto(`/projects/${project.id}/executions`);
    for (const r of runs) {
      await page
        .locator(`[data-testid=execution-row][data-execution-id="${r.id}"] input[type=checkbox]`)
        .check();
    }
    await page.getByTestId('compare-executions').click();
    const modal = page.getByRole('dialog');
    // Outcomes: both runs, the curve job in each.
    const cells = modal.locator(
      '[data-testid=compare-job-row][data-node=curve] [data-testid=compare-job-cell]',
    );
    await expect
      .poll(() => cells.evaluateAll((els) => els.map((e) => e.dataset.status)))
      .toEqual(['success', 'success']);
    await expect
      .poll(() => modal.getByTestId('compare-run-head').allTextContents())
      .toEqual(['three epochs', 'six epochs']);
    await snap(page, TEST, '01-outcomes');

    // Differences: epochs 3 → 6, the one attribute that differs; the operation's changed line.
    await modal.getByTestId('compare-tab-differences').click();
    const epochs = modal.locator(
      '[data-testid=compare-attribute-row][data-node=curve][data-attribute=epochs]',
    );
    await expect
      .poll(() => epochs.getByTestId('compare-attribute-cell').allTextContents())
      .toEqual(['3', '6']);
    await expect.poll(() => modal.getByTestId('compare-attribute-row').count()).toBe(1);
    const change = modal.locator(
      '[data-testid=compare-code-change][data-path="operations/TrainingCurve.py"]',
    );
    await expect.poll(() => change.textContent()).toMatch(/modified.*operation TrainingCurve.*\+1 −1/s);
    await expect
      .poll(() => change.locator('[data-kind=removed] .df-diff-text').allTextContents())
      .toEqual([expect.stringContaining('2.0 * math.exp')]);
    await expect
      .poll(() => change.locator('[data-kind=added] .df-diff-text').allTextContents())
      .toEqual([expect.stringContaining('2.5 * math.exp')]);
    await snap(page, TEST, '02-differences');

    // Plots: the Training Loss figure of each run side by side, and one chart with both lines, named by run.
    await modal.getByTestId('compare-tab-plots').click();
    const figure = modal.locator('[data-testid=compare-figure][data-node=curve]');
    await expect.poll(() => figure.getAttribute('data-title')).toBe('Training Loss');
    await expect
      .poll(() =>
        figure.getByTestId('compare-figure-cell').evaluateAll((els) => els.map((e) => e.dataset.run)),
      )
      .toEqual(['three epochs', 'six epochs']);
    await expect.poll(() => figure.locator('[data-testid=compare-figure-cell] img').count()).toBe(2);
    const overlay = figure.getByTestId('compare-overlay-chart');
    await overlay.locator('canvas').waitFor();
    await expect
      .poll(() => overlay.locator('.u-legend .u-series .u-label').allTextContents())
      .toEqual(['Epochs', 'three epochs', 'six epochs']);
    await figure.scrollIntoViewIfNeeded();
    await snap(page, TEST, '03-plots-overlaid');
    await page.keyboard.press('Escape');

    // The second run's page: All plots shows its figure, which links to its job's Plots tab.
    await page.goto(`/projects/${project.id}/executions/${runs[1]!.id}`);
    await page.getByTestId('execution-view-switch').getByText('All plots').click();
    const job = page.locator('[data-testid=execution-plots-job][data-node=curve]');
    await expect
      .poll(() => job.getByTestId('execution-plot-link').allTextContents())
      .toEqual(['Training Loss']);
    await job.locator('img').first().waitFor();
    await snap(page, TEST, '04-execution-plots');
    await job.getByTestId('execution-plot-link').click();
    await expect.poll(() => new URL(page.url()).searchParams.get('tab')).toBe('plots');
    expect(new URL(page.url()).searchParams.get('node')).toBe('curve');
    await page.getByTestId('job-plots').waitFor();
    await page.getByTestId('trace-graph').waitFor();

    expect(problems.pageErrors).toEqual([]);
    expect(problems.consoleErrors).toEqual([]);
  });

  it('says what cannot be compared between runs of different pipelines', async () => {
    const { server, rest, tab } = session;
    keepEvidence(`${TEST}-pipelines`, { tab }, () => server);
    const { page, problems } = tab;
    // Another pipeline: random images shown with imshow (no line data).
    await rest.ok('POST', `/api/projects/${projectId}/pipelines`, {
      name: 'pictures',
      nodes: [
        { id: 'images', operation: 'RandomImages', attributes: { count: 2, channels: 3, size: 16 } },
        { id: 'display', operation: 'DisplayImage' },
      ],
      connections: [{ from: { node: 'images', port: 'images' }, to: { node: 'display', port: 'image' } }],
    });
    const started = await rest.startExecution(projectId, { pipeline: 'pictures', name: 'pictures' });
    const pictures = await rest.waitForExecution(projectId, started.id);
    expect(pictures.status, JSON.stringify(pictures.failure)).toBe('success');

    await page.goto(`/projects/${projectId}/executions`);
    for (const id of [runs[0]!.id, pictures.id]) {
      await page
        .locator(`[data-testid=execution-row][data-execution-id="${id}"] input[type=checkbox]`)
        .check();
    }
    await page.getByTestId('compare-executions').click();
    const modal = page.getByRole('dialog');
    await expect
      .poll(() => modal.getByTestId('compare-notes').textContent())
      .toContain('These executions ran different pipelines (curve: three epochs; pictures: pictures)');
    await expect
      .poll(() =>
        modal
          .getByTestId('compare-job-row')
          .evaluateAll((rows) =>
            rows.map((r) => [
              r.dataset.node,
              [...r.querySelectorAll<HTMLElement>('[data-testid=compare-job-cell]')].map(
                (c) => c.dataset.status,
              ),
            ]),
          ),
      )
      .toEqual([
        ['curve', ['success', 'missing']],
        ['images', ['missing', 'success']],
        ['display', ['missing', 'success']],
      ]);
    await snap(page, TEST, '05-different-pipelines');
    await modal.getByTestId('compare-tab-plots').click();
    const shown = modal.locator('[data-testid=compare-figure][data-node=display]');
    await expect
      .poll(() => shown.getByTestId('compare-no-overlay').textContent())
      .toBe('Not overlaid: only one execution has this figure.');
    await expect
      .poll(() => shown.getByTestId('compare-figure-missing').getAttribute('data-run'))
      .toBe('three epochs');
    await snap(page, TEST, '06-different-pipelines-plots');
    expect(problems.pageErrors).toEqual([]);
    expect(problems.consoleErrors).toEqual([]);
  });
});
