import type { Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { slurmInstalled, startTestSlurm, type TestSlurmCluster } from '@deepforge/engine/test-support';
import { launchBrowser, openPage, snap, type TestPage } from './support/browser.js';
import { keepEvidence } from './support/evidence.js';
import { Rest } from './support/rest.js';
import { removeDir, startServer, type RunningServer } from './support/server.js';

const TEST = 'slurm';

/**
 * Executing on Slurm from the web IDE (issue 10): a server with `compute.backend = slurm` on a real single-node
 * Slurm (Debian's slurm-wlm, started for the test); the execute dialog offers the options of every job, with the
 * server's defaults, and of some nodes, checked as sbatch would take them; the jobs are submitted with them.
 */
describe.runIf(slurmInstalled())('executing on Slurm', () => {
  let server: RunningServer;
  let browser: Browser;
  let tab: TestPage;
  let rest: Rest;
  let cluster: TestSlurmCluster;

  beforeAll(async () => {
    cluster = await startTestSlurm();
    [server, browser] = await Promise.all([
      startServer({
        env: { DEEPFORGE_COMPUTE_BACKEND: 'slurm', DEEPFORGE_SLURM_TIME: '9:00', SLURM_CONF: cluster.conf },
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
    await cluster?.stop();
  });

  it('submits each job with the options of every job and of its node, as the dialog says', async () => {
    keepEvidence(TEST, { tab }, () => server);
    const { page } = tab;
    const project = await rest.createProject('Slurm', 'hello');
    await page.goto(`/projects/${project.id}/pipelines/hello`);
    await page.getByTestId('execute-pipeline').click();
    await expect.poll(() => page.getByTestId('execution-compute').inputValue()).toMatch(/^Slurm/);
    const time = page.getByTestId('slurm-time');
    // Empty fields are the server's defaults (compute.slurm.*), which the field shows.
    expect(await time.getAttribute('placeholder')).toBe("9:00 (the server's)");
    expect(await page.getByTestId('slurm-partition').getAttribute('placeholder')).toMatch(/^none, e\.g\. /);

    await time.fill('soon');
    await expect
      .poll(() => page.getByTestId('execution-slurm').innerText())
      .toMatch(/a time limit as sbatch takes it/);
    await expect.poll(() => page.getByTestId('execute-submit').isDisabled()).toBe(true);
    await time.fill('5:00');
    const nodes = page.getByTestId('execution-node-slurm');
    await nodes.fill('time=7:00');
    await expect
      .poll(() => page.getByTestId('execution-slurm').innerText())
      .toMatch(/time=7:00: name the node it is for/);
    // A node the pipeline does not have: the server refuses the run, naming it, and nothing is stored.
    await nodes.fill('multipy.time=7:00');
    await page.getByTestId('execute-submit').click();
    await expect
      .poll(() => page.getByTestId('execute-error').innerText())
      .toMatch(/Slurm options are given for node "multipy", which pipeline "hello" does not have/);
    await nodes.fill('multiply.time=7:00');
    await expect.poll(() => page.getByTestId('execute-submit').isDisabled()).toBe(false);
    await snap(page, TEST, '01-options');
    await page.getByTestId('execute-submit').click();
    await page.getByTestId('execute-submit').waitFor({ state: 'detached' });

    const list = await rest.get<{ items: { id: string }[] }>(`/api/projects/${project.id}/executions`);
    expect(list.items).toHaveLength(1);
    const done = await rest.waitForExecution(project.id, list.items[0]!.id, 120_000);
    expect(done.status).toBe('success');
    const log = async (node: string): Promise<string> =>
      (await rest.get<{ text: string }>(`/api/projects/${project.id}/executions/${done.id}/jobs/${node}/log`))
        .text;
    expect(await log('multiply')).toMatch(/submitted to Slurm as job \d+ \(time 7:00\)/);
    expect(await log('print')).toMatch(/submitted to Slurm as job \d+ \(time 5:00\)/);
    expect(await log('print')).toMatch(/Hello from DeepForge! The product is 16!/);
    // The Compute view says where jobs run here: no worker to wait for, no worker token to make.
    await page.goto('/compute');
    await expect
      .poll(() => page.getByTestId('compute-mode').innerText())
      .toMatch(/^Jobs run as Slurm batch jobs/);
    expect(await page.getByTestId('compute-empty').count()).toBe(0);
    expect(await page.getByTestId('worker-tokens').count()).toBe(0);
    expect(tab.problems.pageErrors).toEqual([]);
    // The one refusal the step above asked for.
    expect(tab.problems.consoleErrors).toEqual([expect.stringMatching(/status of 422 .*\/executions\)$/)]);
  });
});
