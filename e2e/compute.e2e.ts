import { spawn, type ChildProcess } from 'node:child_process';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { launchBrowser, openPage, snap, type TestPage } from './support/browser.js';
import { keepEvidence } from './support/evidence.js';
import { Rest } from './support/rest.js';
import { editorNode } from './support/ui.js';
import { CLI, ROOT, newDataDir, removeDir, startServer, type RunningServer } from './support/server.js';

const TEST = 'compute';

/**
 * The Compute view (issue 10) with a `deepforge start --server` and a real `deepforge worker` process that
 * connects with a worker token: the worker is listed with its labels and live load, and a job it runs is listed
 * as running, linking to its execution.
 */
describe('the Compute view', () => {
  let server: RunningServer;
  let browser: Browser;
  let tab: TestPage;
  let rest: Rest;
  let worker: ChildProcess | undefined;
  let workerOut = '';
  let workerDir: string;

  beforeAll(async () => {
    workerDir = await newDataDir('deepforge-e2e-worker-');
    [server, browser] = await Promise.all([startServer({ args: ['--server'] }), launchBrowser()]);
    rest = new Rest(server.url);
    tab = await openPage(browser, server.url);
  });
  afterAll(async () => {
    if (worker && worker.exitCode === null) {
      const exited = new Promise((resolve) => worker!.once('exit', resolve));
      worker.kill('SIGTERM');
      await exited;
    }
    await browser?.close();
    await server?.stop();
    if (server) await removeDir(server.dataDir);
    await removeDir(workerDir);
  });

  it('shows a connected worker with its labels and load, and the job it runs', async () => {
    keepEvidence(TEST, { tab }, () => server);
    const { page } = tab;
    await page.goto('/compute');
    await expect.poll(() => page.getByTestId('compute-empty').isVisible()).toBe(true);
    await expect.poll(() => page.getByTestId('compute-mode').innerText()).toMatch(/runs no jobs itself/);

    // The worker's token is made here, shown once with the command that starts a worker with it.
    await page.getByTestId('worker-token-name').fill('e2e');
    await page.getByTestId('create-worker-token').click();
    const token = await page.getByTestId('new-token-value').inputValue();
    expect(token).toMatch(/^dfw_/);
    expect(await page.getByTestId('worker-command').innerText()).toBe(
      `DEEPFORGE_WORKER_TOKEN=${token} deepforge worker --server ${server.url}`,
    );
    await snap(page, TEST, '00-token');
    await page.getByTestId('new-token-done').click();
    const tokenRow = page.locator('[data-testid="worker-token-row"][data-token-name="e2e"]');
    await expect.poll(() => tokenRow.getAttribute('data-state')).toBe('active');
    expect(await page.getByTestId('new-token-value').count()).toBe(0);

    // A run started while no worker is connected: its page says why its jobs wait, and which.
    const early = await rest.createProject('Early', 'hello');
    const waitingRun = await rest.startExecution(early.id, { pipeline: 'hello' });
    await page.goto(`/projects/${early.id}/executions/${waitingRun.id}`);
    await expect
      .poll(() => page.getByTestId('execution-waiting').innerText())
      .toMatch(/(left, right|right, left) wait for a worker: no worker is connected/);
    await snap(page, TEST, '00-waiting');
    await page.goto('/compute');
    // Its machine has two GPUs, by an nvidia-smi that answers what an H200 machine's does (one busy).
    const bin = join(workerDir, 'bin');
    await mkdir(bin, { recursive: true });
    await writeFile(
      join(bin, 'nvidia-smi'),
      [
        '#!/bin/sh',
        'case "$*" in',
        "  *utilization*) printf '0, 87, 101234, 143771\\n1, 3, 1024, 143771\\n' ;;",
        "  *) printf '0, NVIDIA H200, 143771\\n1, NVIDIA H200, 143771\\n' ;;",
        'esac',
        '',
      ].join('\n'),
      { mode: 0o755 },
    );
    worker = spawn(
      process.execPath,
      [
        CLI,
        'worker',
        '--server',
        server.url,
        '--token',
        token,
        '--labels',
        'e2e,zone:lab',
        '--slots',
        '2',
        '--name',
        'e2e-worker',
        '--data-dir',
        workerDir,
        '--work-dir',
        join(workerDir, 'work'),
      ],
      {
        cwd: ROOT,
        env: { ...process.env, DEEPFORGE_LOG_LEVEL: 'warn', PATH: `${bin}:${process.env.PATH ?? ''}` },
        stdio: ['ignore', 'pipe', 'pipe'],
      },
    );
    worker.stdout?.on('data', (c: Buffer) => (workerOut += c.toString()));
    worker.stderr?.on('data', (c: Buffer) => (workerOut += c.toString()));

    // Live: the page was open before the worker connected.
    const row = page.locator('[data-testid="compute-worker"][data-name="e2e-worker"]');
    await expect
      .poll(() => row.count(), { timeout: 30_000, message: `the worker never showed up:\n${workerOut}` })
      .toBe(1);
    await expect.poll(() => row.getByTestId('worker-state').innerText()).toMatch(/^connected$/i);
    await expect.poll(() => row.getByTestId('worker-labels').innerText()).toMatch(/e2e[\s\S]*zone:lab/);
    await expect.poll(() => row.getByTestId('worker-slots').innerText()).toBe('0 / 2');
    await expect.poll(() => row.getByTestId('worker-cpu').innerText()).toMatch(/% of \d+ cores?/);
    await expect.poll(() => row.getByTestId('worker-memory').innerText()).toMatch(/ of \d/);
    // Its GPUs: labels, and their load by index.
    await expect.poll(() => row.getByTestId('worker-labels').innerText()).toMatch(/gpu:nvidia-h200/);
    await expect.poll(() => row.getByTestId('worker-gpus-in-use').innerText()).toBe('0 of 2 in use by jobs');
    await expect
      .poll(() => row.getByTestId('worker-gpu').allInnerTexts())
      .toEqual(['0: NVIDIA H200: 87 % · 99 GiB of 140 GiB', '1: NVIDIA H200: 3 % · 1.0 GiB of 140 GiB']);
    await snap(page, TEST, '01-worker');
    // The run that waited ran on it.
    expect((await rest.waitForExecution(early.id, waitingRun.id)).status).toBe('success');

    // A job that takes a few seconds, on the worker (it needs the worker's label).
    const project = await rest.createProject('Compute', 'hello');
    await rest.ok('PUT', `/api/projects/${project.id}/operations/Multiply`, {
      code: 'import time\n\nclass Multiply():\n    def execute(self, a, b):\n        time.sleep(6)\n        product = a * b\n        return product\n',
    });
    // The node needs the worker's label, set in its panel; the dialog starts on the server's compute (workers).
    await page.goto(`/projects/${project.id}/pipelines/hello`);
    await editorNode(page, 'multiply').click();
    const labels = page.getByTestId('node-panel').getByTestId('node-labels');
    await labels.fill('E2E');
    await expect.poll(() => page.getByTestId('node-panel').innerText()).toMatch(/"E2E" is not a label/);
    await labels.fill('e2e');
    await labels.press('Enter');
    await expect
      .poll(
        async () =>
          (await rest.pipeline(project.id, 'hello')).pipeline.nodes.find((n) => n.id === 'multiply')?.labels,
      )
      .toEqual(['e2e']);
    await page.getByTestId('execute-pipeline').click();
    await expect
      .poll(() => page.getByTestId('execution-compute').inputValue())
      .toBe('Remote workers (1 connected)');
    await page.getByTestId('execution-labels').fill('zone:lab');
    await snap(page, TEST, '02-execute-on-workers');
    await page.getByTestId('execute-submit').click();
    await page.getByTestId('execute-submit').waitFor({ state: 'detached' });
    const list = await rest.get<{ items: { id: string }[] }>(`/api/projects/${project.id}/executions`);
    const started = list.items[0]!;
    // The node's labels are part of the pipeline as it ran.
    const snapshot = (await rest.execution(project.id, started.id)).pipelineSnapshot;
    expect(snapshot.nodes.find((n) => n.id === 'multiply')?.labels).toEqual(['e2e']);
    await page.goto('/compute');
    const job = row.getByTestId('compute-job');
    await expect.poll(() => job.first().innerText(), { timeout: 30_000 }).toMatch(/^multiply · /);
    await expect.poll(() => row.getByTestId('worker-slots').innerText()).toBe('1 / 2');
    await snap(page, TEST, '03-running');

    // The link goes to the execution, with the job's panel open.
    await job.first().click();
    await expect.poll(() => page.url()).toContain(`/projects/${project.id}/executions/${started.id}`);
    await expect.poll(() => page.getByTestId('job-panel').getAttribute('data-node')).toBe('multiply');
    const done = await rest.waitForExecution(project.id, started.id);
    expect(done.status).toBe('success');
    // What the job used is in its panel once it ended.
    await expect.poll(() => page.getByTestId('job-usage').innerText()).toMatch(/^CPU .* · peak \d/);
    await snap(page, TEST, '04-usage');

    await page.goto('/compute');
    await expect.poll(() => row.getByTestId('worker-slots').innerText()).toBe('0 / 2');
    // The token was used; revoked here, it cuts its worker off (at its next heartbeat) and the worker ends.
    await expect.poll(() => tokenRow.locator('td').nth(3).innerText()).not.toBe('never');
    await tokenRow.getByTestId('revoke-worker-token').click();
    await page.getByTestId('confirm-revoke-worker-token').click();
    await expect.poll(() => tokenRow.getAttribute('data-state')).toBe('revoked');
    await expect
      .poll(() => worker!.exitCode, { timeout: 30_000, message: `the worker was not cut off:\n${workerOut}` })
      .toBe(1);
    expect(workerOut).toMatch(/the worker token was revoked/);
    await expect.poll(() => row.count()).toBe(0);
    expect(tab.problems.pageErrors).toEqual([]);
    expect(tab.problems.consoleErrors).toEqual([]);
  });
});
