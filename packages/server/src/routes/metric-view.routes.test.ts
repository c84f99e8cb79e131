import type { InjectOptions } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  decodeFloat64,
  MAX_METRIC_VIEW_WIDTH,
  type ApiError,
  type ExecutionDetailsDto,
  type MetricSeriesInfoDto,
  type MetricViewResponse,
  type ProjectSummary,
} from '@deepforge/protocol';
import { startFixture, type ServerFixture } from '../test-support/server-fixture.js';

/** 5,000 points of `loss` (a spike at step 2,500), a few without a step, and a name that needs CSV quoting. */
const LOGGER = `import deepforge


class Logger:
    def execute(self):
        for i in range(5000):
            deepforge.log(step=i, loss=1000.0 if i == 2500 else 1.0 / (i + 1))
        for i in range(3):
            deepforge.log(**{"acc, top-1": 0.5 + i / 10})
        done = 1
        return done
`;

let f: ServerFixture;
let project: ProjectSummary;
let jobBase: string;
beforeAll(async () => {
  f = await startFixture();
  project = await f.createProject({ name: 'metric views' });
  const base = `/api/projects/${project.id}`;
  const ok = async (opts: InjectOptions, status = 201) => {
    const res = await f.server.app.inject(opts);
    expect(res.statusCode, res.body).toBe(status);
    return res;
  };
  await ok({ method: 'POST', url: `${base}/operations`, payload: { name: 'Logger', code: LOGGER } });
  await ok({
    method: 'POST',
    url: `${base}/pipelines`,
    payload: {
      name: 'logs',
      nodes: [{ id: 'log', operation: 'Logger', attributes: {}, references: {}, position: { x: 0, y: 0 } }],
      connections: [],
    },
  });
  const started = (
    await ok({ method: 'POST', url: `${base}/executions`, payload: { pipeline: 'logs' } })
  ).json() as ExecutionDetailsDto;
  await f.server.engine.waitForExecution(started.id);
  jobBase = `${base}/executions/${started.id}/jobs/log/metrics`;
});
afterAll(() => f.cleanup());

const get = (url: string) => f.server.app.inject({ url });

async function view(query: string): Promise<MetricViewResponse> {
  const res = await get(`${jobBase}/view?${query}`);
  expect(res.statusCode, res.body).toBe(200);
  return res.json() as MetricViewResponse;
}

describe('metric series over REST', () => {
  it('lists the series in the order first logged, with their size, step range and last value', async () => {
    const res = await get(`${jobBase}/series`);
    expect(res.statusCode, res.body).toBe(200);
    expect((res.json() as { items: MetricSeriesInfoDto[] }).items).toEqual([
      { name: 'loss', count: 5000, minX: 0, maxX: 4999, lastX: 4999, lastY: 1 / 5000, sorted: true },
      { name: 'acc, top-1', count: 3, minX: 0, maxX: 2, lastX: 2, lastY: 0.7, sorted: true },
    ]);
  });

  it('answers a wide range per column without losing the spike, and a narrow one with exact points', async () => {
    const wide = await view('name=loss&width=100');
    expect(wide).toMatchObject({ name: 'loss', count: 5000, from: 0, to: 4999, width: 100, inRange: 5000 });
    expect(wide.points).toBeUndefined();
    const n = decodeFloat64(wide.columns!.n);
    expect(n.length).toBeLessThanOrEqual(100);
    expect(n.reduce((a, b) => a + b, 0)).toBe(5000);
    expect(Math.max(...decodeFloat64(wide.columns!.maxY))).toBe(1000);
    expect(decodeFloat64(wide.columns!.firstX)[0]).toBe(0);
    expect(decodeFloat64(wide.columns!.firstY)[0]).toBe(1);

    const narrow = await view('name=loss&from=2490&to=2510.5&width=800');
    expect(narrow.inRange).toBe(21);
    expect([...decodeFloat64(narrow.points!.x)]).toEqual([...Array(21).keys()].map((i) => 2490 + i));
    expect(decodeFloat64(narrow.points!.y)[10]).toBe(1000);
  });

  it('caps a huge width, and answers 400 or 404 in the API error shape for what it cannot answer', async () => {
    expect((await view('name=loss&from=0&to=10&width=1000000')).width).toBe(MAX_METRIC_VIEW_WIDTH);
    for (const [query, field] of [
      ['name=loss&width=0', 'query.width'],
      ['name=loss&width=-3', 'query.width'],
      ['name=loss&width=1.5', 'query.width'],
      ['name=loss', 'query.width'],
      ['width=100', 'query.name'],
      ['name=loss&width=100&from=10&to=5', 'query.from'],
      ['name=loss&width=100&from=abc', 'query.from'],
      ['name=loss&width=100&to=Infinity', 'query.to'],
      ['name=loss&width=100&bogus=1', 'query'],
    ] as const) {
      const res = await get(`${jobBase}/view?${query}`);
      expect(res.statusCode, `${query}: ${res.body}`).toBe(400);
      const body = res.json() as ApiError;
      expect(body.error).toBe('bad-request');
      expect(body.field, query).toContain(field);
    }
    const missing = await get(`${jobBase}/view?name=nope&width=10`);
    expect(missing.statusCode).toBe(404);
    expect(missing.json()).toMatchObject({ error: 'not-found', message: expect.stringContaining('"nope"') });
    const noJob = await get(jobBase.replace('/jobs/log/', '/jobs/other/') + '/view?name=loss&width=10');
    expect(noJob.statusCode).toBe(404);
    expect((await get(`${jobBase}/download?name=nope`)).statusCode).toBe(404);
    expect((await get(`${jobBase}/download?format=xml`)).statusCode).toBe(400);
  });

  it('documents the view in the OpenAPI description: its query and the f64le-base64 arrays', async () => {
    const doc = await get('/api/docs/json');
    expect(doc.statusCode).toBe(200);
    const text = doc.body;
    const paths = (
      JSON.parse(text) as { paths: Record<string, Record<string, { parameters?: { name: string }[] }>> }
    ).paths;
    const view = paths['/api/projects/{projectId}/executions/{executionId}/jobs/{node}/metrics/view']?.get;
    expect(view?.parameters?.map((p) => p.name)).toEqual(
      expect.arrayContaining(['name', 'from', 'to', 'width', 'projectId', 'executionId', 'node']),
    );
    expect(text).toContain('f64le-base64');
    expect(Object.keys(paths)).toEqual(
      expect.arrayContaining([
        '/api/projects/{projectId}/executions/{executionId}/jobs/{node}/metrics/series',
        '/api/projects/{projectId}/executions/{executionId}/jobs/{node}/metrics/download',
      ]),
    );
  });

  it('lists every value (GET …/metrics) series by series, steps as logged', async () => {
    const res = await get(jobBase);
    expect(res.statusCode, res.body).toBe(200);
    expect(res.headers['content-type']).toMatch(/^application\/json/);
    const { items } = res.json() as {
      items: { step: number | null; name: string; value: number; t: number }[];
    };
    expect(items).toHaveLength(5003);
    expect(items[2500]).toMatchObject({ step: 2500, name: 'loss', value: 1000 });
    expect(items.slice(-3).map((m) => [m.step, m.name, m.value])).toEqual([
      [null, 'acc, top-1', 0.5],
      [null, 'acc, top-1', 0.6],
      [null, 'acc, top-1', 0.7],
    ]);
  });

  it('streams every point as CSV and as JSON lines', async () => {
    const csv = await get(`${jobBase}/download?format=csv&name=loss`);
    expect(csv.statusCode).toBe(200);
    expect(csv.headers['content-type']).toMatch(/^text\/csv/);
    expect(csv.headers['content-disposition']).toMatch(/attachment; filename=".*-log-loss\.csv"/);
    const lines = csv.body.trimEnd().split('\n');
    expect(lines[0]).toBe('name,step,value,t');
    expect(lines).toHaveLength(5001);
    expect(lines[2501]).toMatch(/^loss,2500,1000,\d+$/);

    const all = await get(`${jobBase}/download?format=jsonl`);
    expect(all.statusCode).toBe(200);
    expect(all.headers['content-type']).toMatch(/^application\/x-ndjson/);
    const rows = all.body
      .trimEnd()
      .split('\n')
      .map((l) => JSON.parse(l) as { name: string; step: number; value: number; t: number });
    expect(rows).toHaveLength(5003);
    expect(rows.slice(-3).map((r) => [r.name, r.step, r.value])).toEqual([
      ['acc, top-1', 0, 0.5],
      ['acc, top-1', 1, 0.6],
      ['acc, top-1', 2, 0.7],
    ]);
    const quoted = await get(`${jobBase}/download?name=${encodeURIComponent('acc, top-1')}`);
    expect(quoted.body.split('\n')[1]).toMatch(/^"acc, top-1",0,0\.5,\d+$/);
  });
});
