import { rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { InjectOptions } from 'fastify';
import { unzipSync } from 'fflate';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type {
  ApiError,
  ExecutionDetailsDto,
  ExecutionSummaryDto,
  JobLogResponse,
  ProjectSummary,
} from '@deepforge/protocol';
import { TEST_PYTHON } from '@deepforge/engine/test-support';
import { startFixture, type ServerFixture } from '../test-support/server-fixture.js';

let f: ServerFixture;
let project: ProjectSummary;
let base: string;
beforeAll(async () => {
  f = await startFixture();
  project = await f.createProject({ name: 'runs', example: 'hello' });
  base = `/api/projects/${project.id}`;
});
afterAll(() => f.cleanup());

const inject = (opts: InjectOptions) => f.server.app.inject(opts);

async function start(payload: object): Promise<ExecutionDetailsDto> {
  const res = await inject({ method: 'POST', url: `${base}/executions`, payload });
  expect(res.statusCode, res.body).toBe(201);
  return res.json() as ExecutionDetailsDto;
}

/** Waits for an execution this server runs, then reads it over REST. */
async function finished(id: string): Promise<ExecutionDetailsDto> {
  await f.server.engine.waitForExecution(id);
  const res = await inject({ url: `${base}/executions/${id}` });
  expect(res.statusCode).toBe(200);
  return res.json() as ExecutionDetailsDto;
}

async function count(query = ''): Promise<number> {
  return ((await inject({ url: `${base}/executions${query}` })).json() as { total: number }).total;
}

describe('executions', () => {
  let first: ExecutionDetailsDto;

  it('runs the pipeline as the document holds it, with attribute overrides, and reads its console by range', async () => {
    // An edit made a moment before the run is what runs.
    await inject({
      method: 'PATCH',
      url: `${base}/pipelines/hello/nodes/print`,
      payload: { attributes: { suffix: '?' } },
    });
    const started = await start({ pipeline: 'hello', name: 'six', attributes: { left: { number: 6 } } });
    expect(started).toMatchObject({ name: 'six', pipeline: 'hello', projectId: project.id });
    expect(started.options.overrides).toEqual(['left.number=6']);
    first = await finished(started.id);
    expect(first.status).toBe('success');
    expect(first.jobs.map((j) => [j.node, j.status])).toEqual([
      ['greeting', 'success'],
      ['left', 'success'],
      ['right', 'success'],
      ['multiply', 'success'],
      ['print', 'success'],
      ['result', 'success'],
    ]);
    expect(first.pipelineSnapshot.nodes.find((n) => n.id === 'left')?.attributes).toEqual({ number: 6 });
    const log = (
      await inject({ url: `${base}/executions/${first.id}/jobs/print/log` })
    ).json() as JobLogResponse;
    expect(log.text).toMatch(/ 24\?\n/);
    expect(log.complete).toBe(true);
    const tail = (
      await inject({
        url: `${base}/executions/${first.id}/jobs/print/log?offset=${log.size - 4}&limit=100`,
      })
    ).json() as JobLogResponse;
    expect(tail).toMatchObject({ text: '24?\n', offset: log.size - 4, nextOffset: log.size });
    const badRange = await inject({ url: `${base}/executions/${first.id}/jobs/print/log?offset=-1` });
    expect((badRange.json() as ApiError).field).toBe('query.offset');
    expect((await inject({ url: `${base}/executions/${first.id}/jobs/ghost/log` })).statusCode).toBe(404);
    for (const what of ['plots', 'metrics', 'progress']) {
      const res = await inject({ url: `${base}/executions/${first.id}/jobs/print/${what}` });
      expect(res.json()).toEqual({ items: [] });
    }
  });

  it('refuses a pipeline with errors with 422 and every diagnostic, storing nothing', async () => {
    await inject({ method: 'POST', url: `${base}/pipelines`, payload: { name: 'broken' } });
    await inject({
      method: 'POST',
      url: `${base}/pipelines/broken/nodes`,
      payload: { id: 'm', operation: 'Multiply' },
    });
    const before = await count();
    const res = await inject({ method: 'POST', url: `${base}/executions`, payload: { pipeline: 'broken' } });
    expect(res.statusCode).toBe(422);
    const body = res.json() as ApiError;
    expect(body.error).toBe('invalid-pipeline');
    expect(body.diagnostics?.map((d) => [d.code, d.node, d.port])).toEqual([
      ['unconnected-input', 'm', 'a'],
      ['unconnected-input', 'm', 'b'],
    ]);
    // An empty pipeline has nothing to run: refused (it was recorded as an execution that succeeded at once).
    await inject({ method: 'POST', url: `${base}/pipelines`, payload: { name: 'empty' } });
    const empty = await inject({ method: 'POST', url: `${base}/executions`, payload: { pipeline: 'empty' } });
    expect(empty.statusCode).toBe(422);
    expect((empty.json() as ApiError).diagnostics?.map((d) => [d.code, d.message])).toEqual([
      ['empty-pipeline', 'pipeline "empty" has no operations: add at least one before executing it'],
    ]);
    expect(await count()).toBe(before);
    const badOverride = await inject({
      method: 'POST',
      url: `${base}/executions`,
      payload: { pipeline: 'hello', attributes: { left: { number: 'many' } } },
    });
    expect(badOverride.statusCode).toBe(422);
    const unknown = await inject({
      method: 'POST',
      url: `${base}/executions`,
      payload: { pipeline: 'nope' },
    });
    expect((unknown.json() as ApiError).field).toBe('body.pipeline');
    const badConcurrency = await inject({
      method: 'POST',
      url: `${base}/executions`,
      payload: { pipeline: 'hello', concurrency: 0 },
    });
    expect((badConcurrency.json() as ApiError).field).toBe('body.concurrency');
    const badCompute = await inject({
      method: 'POST',
      url: `${base}/executions`,
      payload: { pipeline: 'hello', compute: 'slurm' },
    });
    expect((badCompute.json() as ApiError).field).toBe('body.compute');
    expect(await count()).toBe(before);
  });

  it('re-runs the same snapshot as a new execution, and downloads what ran', async () => {
    // The project changes after the first run; the re-run still runs what the first one ran.
    await inject({
      method: 'PATCH',
      url: `${base}/pipelines/hello/nodes/print`,
      payload: { attributes: { suffix: '!' } },
    });
    const rerun = await inject({
      method: 'POST',
      url: `${base}/executions/${first.id}/rerun`,
      payload: { name: 'again' },
    });
    expect(rerun.statusCode).toBe(201);
    const again = await finished((rerun.json() as ExecutionDetailsDto).id);
    expect(again.id).not.toBe(first.id);
    expect(again).toMatchObject({ name: 'again', status: 'success' });
    expect(again.pipelineSnapshot).toEqual(first.pipelineSnapshot);
    const log = (
      await inject({ url: `${base}/executions/${again.id}/jobs/print/log` })
    ).json() as JobLogResponse;
    expect(log.text).toMatch(/ 24\?\n/);

    const zip = await inject({ url: `${base}/executions/${first.id}/download` });
    expect(zip.statusCode).toBe(200);
    expect(zip.headers['content-type']).toBe('application/zip');
    const files = unzipSync(zip.rawPayload);
    const names = Object.keys(files).map((p) => p.slice(p.indexOf('/') + 1));
    expect(names).toEqual(
      expect.arrayContaining([
        'execution.json',
        'pipeline.json',
        'code/operations/Multiply.py',
        'logs/print.log',
      ]),
    );
    const printLog = Object.entries(files).find(([p]) => p.endsWith('logs/print.log'))![1];
    expect(Buffer.from(printLog).toString()).toMatch(/24\?/);
  });

  it('resumes a failed execution, re-running only what failed', async () => {
    const flag = join(f.dataDir, 'flaky-flag');
    await rm(flag, { force: true });
    const code = `import os\n\nclass Flaky():\n    def __init__(self, flag=${JSON.stringify(flag)}):\n        self.flag = flag\n\n    def execute(self):\n        if not os.path.exists(self.flag):\n            raise RuntimeError('not yet')\n        done = 1\n        return done\n`;
    await inject({ method: 'POST', url: `${base}/operations`, payload: { name: 'Flaky', code } });
    await inject({
      method: 'POST',
      url: `${base}/pipelines`,
      payload: {
        name: 'flaky',
        nodes: [
          { id: 'n', operation: 'GetNumber' },
          { id: 'f', operation: 'Flaky' },
        ],
        connections: [],
      },
    });
    const failed = await finished((await start({ pipeline: 'flaky' })).id);
    expect(failed.status).toBe('failed');
    expect(failed.failure).toMatchObject({ node: 'f', error: { message: expect.stringMatching(/not yet/) } });
    await writeFile(flag, '');
    const resumed = await inject({
      method: 'POST',
      url: `${base}/executions/${failed.id}/resume`,
      payload: {},
    });
    expect(resumed.statusCode).toBe(200);
    const done = await finished(failed.id);
    expect(done.status).toBe('success');
    expect(done.jobs.map((j) => [j.node, j.attempt])).toEqual([
      ['n', 1],
      ['f', 2],
    ]);
    const twice = await inject({
      method: 'POST',
      url: `${base}/executions/${failed.id}/resume`,
      payload: {},
    });
    expect(twice.statusCode).toBe(409);
  });

  it('cancels a running execution', async () => {
    const code =
      'import time\n\nclass Sleep():\n    def execute(self):\n        time.sleep(60)\n        done = 1\n        return done\n';
    await inject({ method: 'POST', url: `${base}/operations`, payload: { name: 'Sleep', code } });
    await inject({
      method: 'POST',
      url: `${base}/pipelines`,
      payload: { name: 'sleepy', nodes: [{ id: 's', operation: 'Sleep' }], connections: [] },
    });
    const running = new Promise<void>((resolve) => {
      const off = f.server.engine.subscribe('*', (e) => {
        if (e.type === 'job.status' && e.node === 's' && e.status === 'running') {
          off();
          resolve();
        }
      });
    });
    const started = await start({ pipeline: 'sleepy' });
    await running;
    const canceled = await inject({ method: 'POST', url: `${base}/executions/${started.id}/cancel` });
    expect(canceled.statusCode).toBe(200);
    expect(canceled.json()).toMatchObject({ status: 'canceled', jobs: [{ node: 's', status: 'canceled' }] });
    const again = await inject({ method: 'POST', url: `${base}/executions/${started.id}/cancel` });
    expect(again.statusCode).toBe(409);
  });

  it('lists with search, status filter, sort and server-side paging', async () => {
    const all = (await inject({ url: `${base}/executions?limit=500` })).json() as {
      items: ExecutionSummaryDto[];
      total: number;
    };
    expect(all.total).toBe(all.items.length);
    expect(all.total).toBe(4);
    const byName = (await inject({ url: `${base}/executions?search=SIX` })).json() as {
      items: ExecutionSummaryDto[];
    };
    expect(byName.items.map((e) => e.id)).toEqual([first.id]);
    const byPipeline = (await inject({ url: `${base}/executions?search=flak` })).json() as { total: number };
    expect(byPipeline.total).toBe(1);
    const ok = (
      await inject({ url: `${base}/executions?status=success,canceled&sort=name&order=asc` })
    ).json() as {
      items: ExecutionSummaryDto[];
    };
    expect(ok.items.every((e) => e.status === 'success' || e.status === 'canceled')).toBe(true);
    const names = ok.items.map((e) => e.name);
    expect(names).toEqual([...names].sort());
    const page = (
      await inject({ url: `${base}/executions?limit=2&offset=1&sort=created&order=desc` })
    ).json() as {
      items: ExecutionSummaryDto[];
      total: number;
    };
    expect(page.total).toBe(all.total);
    expect(page.items.map((e) => e.id)).toEqual(all.items.slice(1, 3).map((e) => e.id));
    for (const [query, field] of [
      ['status=done', 'query.status.0'],
      ['sort=size', 'query.sort'],
      ['limit=0', 'query.limit'],
      ['order=up', 'query.order'],
      ['page=2', 'query.page'],
    ]) {
      const res = await inject({ url: `${base}/executions?${query}` });
      expect(res.statusCode, query).toBe(400);
      expect((res.json() as ApiError).field, query).toBe(field);
    }
    // Another project sees none of them.
    const other = await f.createProject({ name: 'other' });
    expect(
      ((await inject({ url: `/api/projects/${other.id}/executions` })).json() as { total: number }).total,
    ).toBe(0);
    expect((await inject({ url: `/api/projects/${other.id}/executions/${first.id}` })).statusCode).toBe(404);
  });
});

describe('a server started with --server', () => {
  it('lists Slurm as the compute when compute.backend is slurm, with --server too, and its defaults', async () => {
    for (const compute of ['local', 'none'] as const) {
      const g = await startFixture({
        compute,
        settings: {
          python: TEST_PYTHON,
          'compute.backend': 'slurm',
          'compute.slurm.partition': 'gpu',
          'compute.slurm.time': '1:00:00',
        },
      });
      try {
        expect((await g.server.app.inject({ url: '/api/platforms' })).json()).toMatchObject({
          compute: [{ id: 'slurm', available: true, slurm: { partition: 'gpu', time: '1:00:00' } }],
        });
        expect(g.server.engine.computeBackend).toBe('slurm');
      } finally {
        await g.cleanup();
      }
    }
  });

  it('takes executions whose jobs wait for a remote worker, and says so in their console', async () => {
    const g = await startFixture({ compute: 'none' });
    try {
      const p = await g.createProject({ name: 'x', example: 'hello' });
      const res = await g.server.app.inject({
        method: 'POST',
        url: `/api/projects/${p.id}/executions`,
        payload: { pipeline: 'hello' },
      });
      expect(res.statusCode, res.body).toBe(201);
      const { id } = res.json() as ExecutionDetailsDto;
      const engine = g.server.engine;
      const deadline = Date.now() + 20_000;
      let waiting = '';
      while (Date.now() < deadline) {
        const execution = await engine.getExecution(id);
        const queued = execution.jobs.find((j) => j.status === 'queued');
        if (queued) {
          waiting = (await engine.readJobLog(id, queued.node)).text;
          if (waiting.includes('waiting for a worker')) break;
        }
        await new Promise((r) => setTimeout(r, 50));
      }
      expect(waiting).toMatch(/waiting for a worker: no worker is connected/);
      expect((await g.server.app.inject({ url: '/api/health' })).json()).toMatchObject({ compute: 'none' });
      expect((await g.server.app.inject({ url: '/api/platforms' })).json()).toMatchObject({
        compute: [
          { id: 'local', available: false },
          { id: 'workers', name: 'Remote workers (0 connected)', available: true },
        ],
      });
      // Labels an execution requires are labels: anything else is a 400 naming the field.
      const bad = await g.server.app.inject({
        method: 'POST',
        url: `/api/projects/${p.id}/executions`,
        payload: { pipeline: 'hello', labels: ['GPU'] },
      });
      expect(bad.statusCode).toBe(400);
      expect(bad.json()).toMatchObject({ field: expect.stringMatching(/labels/) });
      const labeled = await g.server.app.inject({
        method: 'POST',
        url: `/api/projects/${p.id}/executions`,
        payload: { pipeline: 'hello', labels: ['gpu'], nodeLabels: { multiply: ['a100'] } },
      });
      expect(labeled.statusCode, labeled.body).toBe(201);
      await engine.cancelExecution((labeled.json() as ExecutionDetailsDto).id);
      // GPUs are whole numbers from 0 to 64, for the execution and per node: a 400 naming the field otherwise.
      for (const payload of [{ gpus: -1 }, { gpus: 1.5 }, { gpus: 65 }, { nodeGpus: { multiply: -2 } }]) {
        const badGpus = await g.server.app.inject({
          method: 'POST',
          url: `/api/projects/${p.id}/executions`,
          payload: { pipeline: 'hello', ...payload },
        });
        expect(badGpus.statusCode, JSON.stringify(payload)).toBe(400);
        expect(badGpus.json()).toMatchObject({ field: expect.stringMatching(/gpus|nodeGpus/i) });
      }
      const gpus = await g.server.app.inject({
        method: 'POST',
        url: `/api/projects/${p.id}/executions`,
        payload: { pipeline: 'hello', compute: 'workers', gpus: 1, nodeGpus: { multiply: 2 } },
      });
      expect(gpus.statusCode, gpus.body).toBe(201);
      const gpusId = (gpus.json() as ExecutionDetailsDto).id;
      expect((await engine.getExecution(gpusId)).options).toMatchObject({
        gpus: 1,
        nodeGpus: { multiply: 2 },
      });
      await engine.cancelExecution(gpusId);
      // Compute the server does not use is refused, naming what it uses.
      const local = await g.server.app.inject({
        method: 'POST',
        url: `/api/projects/${p.id}/executions`,
        payload: { pipeline: 'hello', compute: 'local' },
      });
      expect(local.statusCode).toBe(400);
      expect(local.json()).toMatchObject({
        field: 'body.compute',
        message: expect.stringMatching(/runs operations on remote workers, not on its own machine/),
      });
      // Slurm options too: one sbatch word each, a 400 naming the field otherwise; kept with the execution.
      const badSlurm = await g.server.app.inject({
        method: 'POST',
        url: `/api/projects/${p.id}/executions`,
        payload: { pipeline: 'hello', nodeSlurm: { multiply: { partition: 'gpu --wrap=id' } } },
      });
      expect(badSlurm.statusCode).toBe(400);
      expect(badSlurm.json()).toMatchObject({ field: expect.stringMatching(/nodeSlurm/) });
      const slurm = await g.server.app.inject({
        method: 'POST',
        url: `/api/projects/${p.id}/executions`,
        payload: {
          pipeline: 'hello',
          slurm: { partition: 'gpu', time: '1:00:00' },
          nodeSlurm: { multiply: { gres: 'gpu:1' } },
        },
      });
      expect(slurm.statusCode, slurm.body).toBe(201);
      const slurmId = (slurm.json() as ExecutionDetailsDto).id;
      expect((await engine.getExecution(slurmId)).options).toMatchObject({
        slurm: { partition: 'gpu', time: '1:00:00' },
        nodeSlurm: { multiply: { gres: 'gpu:1' } },
      });
      await engine.cancelExecution(slurmId);
      await engine.cancelExecution(id);
      // Stopping a job that waits for a worker ends it at once: nothing of it ran.
      await engine.waitForExecution(id);
      const canceled = await engine.getExecution(id);
      expect(canceled.status).toBe('canceled');
      expect(canceled.jobs.map((j) => j.status)).not.toContain('running');
    } finally {
      await g.cleanup();
    }
  });
});

describe('resume with current code (a project of its own: the listing above counts its executions)', () => {
  let own: string;
  beforeAll(async () => {
    own = `/api/projects/${(await f.createProject({ name: 'fixes', example: 'hello' })).id}`;
  });
  async function startIn(payload: object): Promise<ExecutionDetailsDto> {
    const res = await inject({ method: 'POST', url: `${own}/executions`, payload });
    expect(res.statusCode, res.body).toBe(201);
    return res.json() as ExecutionDetailsDto;
  }
  async function finished(id: string): Promise<ExecutionDetailsDto> {
    await f.server.engine.waitForExecution(id);
    return (await inject({ url: `${own}/executions/${id}` })).json() as ExecutionDetailsDto;
  }

  it('resumes a failed execution with the current code: the fixed operation runs, the unchanged one is reused', async () => {
    const buggy = (body: string) =>
      `class Fixable():\n    def execute(self, value):\n        ${body}\n        result = value * 2\n        return result\n`;
    await inject({
      method: 'POST',
      url: `${own}/operations`,
      payload: { name: 'Fixable', code: buggy('raise RuntimeError("bug")') },
    });
    await inject({
      method: 'POST',
      url: `${own}/pipelines`,
      payload: {
        name: 'fixable',
        nodes: [
          { id: 'n', operation: 'GetNumber', attributes: { number: 21 } },
          { id: 'x', operation: 'Fixable' },
        ],
        connections: [{ from: { node: 'n', port: 'number' }, to: { node: 'x', port: 'value' } }],
      },
    });
    const failed = await finished((await startIn({ pipeline: 'fixable' })).id);
    expect(failed.jobs.map((j) => [j.node, j.status])).toEqual([
      ['n', 'success'],
      ['x', 'failed'],
    ]);
    const fixed = await inject({
      method: 'PUT',
      url: `${own}/operations/Fixable`,
      payload: { code: buggy('print("fixed")') },
    });
    expect(fixed.statusCode, fixed.body).toBe(200);

    const res = await inject({
      method: 'POST',
      url: `${own}/executions/${failed.id}/resume-current`,
      payload: {},
    });
    expect(res.statusCode, res.body).toBe(201);
    const started = res.json() as ExecutionDetailsDto;
    expect(started.id).not.toBe(failed.id);
    expect(started.resumedFrom).toBe(failed.id);
    const done = await finished(started.id);
    expect(done.status).toBe('success');
    expect(done.jobs.map((j) => [j.node, j.status, j.cachedFrom])).toEqual([
      ['n', 'cached', failed.jobs[0]!.id],
      ['x', 'success', null],
    ]);
    const log = (await inject({ url: `${own}/executions/${done.id}/jobs/x/log` })).json() as JobLogResponse;
    expect(log.text).toMatch(/fixed/);
    // The failed one is as it was; it ran the old code.
    expect((await finished(failed.id)).status).toBe('failed');

    const bad = await inject({
      method: 'POST',
      url: `${own}/executions/${failed.id}/resume-current`,
      payload: { cache: false },
    });
    expect(bad.statusCode).toBe(400);
    const twice = await inject({
      method: 'POST',
      url: `${own}/executions/${done.id}/resume-current`,
      payload: {},
    });
    expect(twice.statusCode).toBe(409);
    expect((twice.json() as ApiError).message).toMatch(/nothing to resume/);
    const missing = await inject({
      method: 'POST',
      url: `${own}/executions/nope/resume-current`,
      payload: {},
    });
    expect(missing.statusCode).toBe(404);
  });

  it('renames a node (bad ids refused, nothing changed); resume with current code follows the rename', async () => {
    const code = (line: string) =>
      `class Breaks():\n    def execute(self, value):\n        ${line}\n        out = value\n        return out\n`;
    await inject({
      method: 'POST',
      url: `${own}/operations`,
      payload: { name: 'Breaks', code: code('raise ValueError("x")') },
    });
    await inject({
      method: 'POST',
      url: `${own}/pipelines`,
      payload: {
        name: 'renaming',
        nodes: [
          { id: 'n', operation: 'GetNumber' },
          { id: 'b', operation: 'Breaks' },
        ],
        connections: [{ from: { node: 'n', port: 'number' }, to: { node: 'b', port: 'value' } }],
      },
    });
    const failed = await finished(
      (await startIn({ pipeline: 'renaming', attributes: { n: { number: 7 } } })).id,
    );
    expect(failed.status).toBe('failed');
    const pipelineNow = async () =>
      (
        (await inject({ url: `${own}/pipelines/renaming` })).json() as {
          pipeline: { nodes: { id: string }[]; connections: unknown[] };
        }
      ).pipeline;
    const before = await pipelineNow();
    for (const [id, message] of [
      ['b', /has a node "b" already/],
      ['', /must not be empty/],
      ['1st', /not a valid node id/],
      ['z'.repeat(101), /at most 100 characters/],
    ] as const) {
      const res = await inject({
        method: 'PATCH',
        url: `${own}/pipelines/renaming/nodes/n`,
        payload: { id, position: { x: 500, y: 500 } },
      });
      expect(res.statusCode, id).toBe(400);
      expect((res.json() as ApiError).message).toMatch(message);
      expect(await pipelineNow()).toEqual(before);
    }
    const renamed = await inject({
      method: 'PATCH',
      url: `${own}/pipelines/renaming/nodes/n`,
      payload: { id: 'source' },
    });
    expect(renamed.statusCode, renamed.body).toBe(200);
    expect(renamed.json()).toMatchObject({ id: 'source', operation: 'GetNumber' });
    expect((await pipelineNow()).connections).toEqual([
      { from: { node: 'source', port: 'number' }, to: { node: 'b', port: 'value' } },
    ]);

    await inject({ method: 'PUT', url: `${own}/operations/Breaks`, payload: { code: code('pass') } });
    const res = await inject({
      method: 'POST',
      url: `${own}/executions/${failed.id}/resume-current`,
      payload: {},
    });
    expect(res.statusCode, res.body).toBe(201);
    const done = await finished((res.json() as ExecutionDetailsDto).id);
    expect(done.options.overrides).toEqual(['source.number=7']);
    expect(done.jobs.map((j) => [j.node, j.status])).toEqual([
      ['source', 'cached'],
      ['b', 'success'],
    ]);
  });
});
