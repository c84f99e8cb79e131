/**
 * Comparing executions over REST (issue 13): GET …/executions/compare?ids= and GET …/executions/:id/plots, on a
 * real server with accounts on, real SQLite and real Python drawing with matplotlib.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { codeChanges, compareExecutions, matchFigures, overlayFigures } from '@deepforge/core';
import type {
  ApiError,
  ExecutionComparisonDto,
  ExecutionDetailsDto,
  ExecutionPlotDto,
  ProjectSummary,
} from '@deepforge/protocol';
import { rawRequest } from '../test-support/raw-http.js';
import { startFixture, type ServerFixture } from '../test-support/server-fixture.js';

let f: ServerFixture;
let base: string;
const PASSWORD = 'correct horse battery';
let ada: Record<string, string>;
let bob: Record<string, string>;
let carol: Record<string, string>;

async function call<T = unknown>(
  method: string,
  path: string,
  auth: Record<string, string> | undefined,
  body?: unknown,
): Promise<{ status: number; body: T }> {
  const res = await rawRequest(base, {
    method,
    path,
    headers: { ...(body !== undefined ? { 'content-type': 'application/json' } : {}), ...auth },
    ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
  });
  return { status: res.status, body: (res.body ? JSON.parse(res.body) : undefined) as T };
}

async function signIn(name: string): Promise<Record<string, string>> {
  const res = await rawRequest(base, {
    method: 'POST',
    path: '/api/auth/login',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ name, password: PASSWORD }),
  });
  expect(res.status, res.body).toBe(200);
  return { cookie: String(res.headers['set-cookie']).split(';')[0]! };
}

let project: ProjectSummary;
let api: string;

async function run(body: object): Promise<ExecutionDetailsDto> {
  const started = await call<ExecutionDetailsDto>('POST', `${api}/executions`, ada, body);
  expect(started.status, JSON.stringify(started.body)).toBe(201);
  await f.server.engine.waitForExecution(started.body.id);
  const done = await call<ExecutionDetailsDto>('GET', `${api}/executions/${started.body.id}`, ada);
  expect(done.body.status, JSON.stringify(done.body.failure)).toBe('success');
  return done.body;
}

let three: ExecutionDetailsDto;
let five: ExecutionDetailsDto;
let images: ExecutionDetailsDto;

beforeAll(async () => {
  f = await startFixture({ settings: { 'auth.enabled': true } });
  base = await f.server.listen(0);
  await f.server.engine.accounts.createUser('ada', PASSWORD, { admin: true });
  await f.server.engine.accounts.createUser('bob', PASSWORD);
  await f.server.engine.accounts.createUser('carol', PASSWORD);
  [ada, bob, carol] = await Promise.all([signIn('ada'), signIn('bob'), signIn('carol')]);
  const created = await call<ProjectSummary>('POST', '/api/projects', ada, {
    name: 'curves',
    example: 'plots',
  });
  expect(created.status).toBe(201);
  project = created.body;
  api = `/api/projects/${project.id}`;
  expect((await call('PUT', `${api}/members/bob`, ada, { role: 'reader' })).status).toBe(204);
  const pipeline = (name: string, node: object) =>
    call('POST', `${api}/pipelines`, ada, { name, nodes: [node], connections: [] });
  expect(
    (await pipeline('curve', { id: 'curve', operation: 'TrainingCurve', attributes: { epochs: 3 } })).status,
  ).toBe(201);
  expect(
    (await pipeline('noise', { id: 'images', operation: 'RandomImages', attributes: { count: 2 } })).status,
  ).toBe(201);

  three = await run({ pipeline: 'curve', name: 'three epochs' });
  // The second run: another attribute and a changed operation.
  const op = await call<{ code: string }>('GET', `${api}/operations/TrainingCurve`, ada);
  const changed = op.body.code.replace('2.0 * math.exp', '3.0 * math.exp');
  expect(changed).not.toBe(op.body.code);
  expect((await call('PUT', `${api}/operations/TrainingCurve`, ada, { code: changed })).status).toBe(200);
  five = await run({ pipeline: 'curve', name: 'five epochs', attributes: { curve: { epochs: 5 } } });
  images = await run({ pipeline: 'noise', name: 'noise' });
}, 180_000);
afterAll(() => f?.cleanup());

describe('GET …/executions/compare', () => {
  it('answers a reader with both runs, the attributes they ran with and the code that differs', async () => {
    const res = await call<ExecutionComparisonDto>(
      'GET',
      `${api}/executions/compare?ids=${three.id},${five.id}`,
      bob,
    );
    expect(res.status, JSON.stringify(res.body)).toBe(200);
    const c = res.body;
    expect(c.executions.map((e) => [e.name, e.status])).toEqual([
      ['three epochs', 'success'],
      ['five epochs', 'success'],
    ]);
    expect(c.attributes).toEqual([{ curve: { epochs: 3 } }, { curve: { epochs: 5 } }]);
    expect(c.code.files.map((x) => x.path)).toEqual(['operations/TrainingCurve.py']);
    expect(c.code.files[0]!.texts[0]).toContain('2.0 * math.exp');
    expect(c.code.files[0]!.texts[1]).toContain('3.0 * math.exp');
    // Every other operation of the example is in both snapshots, unchanged.
    expect(c.code.unchanged).toBeGreaterThanOrEqual(6);

    // What the client makes of it with core.
    const runs = c.executions.map((e, i) => ({
      ...e,
      nodes: e.pipelineSnapshot.nodes,
      attributes: c.attributes[i]!,
    }));
    const compared = compareExecutions(runs);
    expect(compared.attributes.map((a) => [a.node, a.attribute, a.cells])).toEqual([
      [
        'curve',
        'epochs',
        [
          { kind: 'value', value: 3 },
          { kind: 'value', value: 5 },
        ],
      ],
    ]);
    const [change] = codeChanges(c.code.files, 0, 1);
    expect(change).toMatchObject({ operation: 'TrainingCurve', change: 'modified', diff: { type: 'lines' } });
  });

  it("returns every job's figures for an execution, and the figures of two runs overlay", async () => {
    const plots = await Promise.all(
      [three, five].map(async (e) => {
        const res = await call<{ items: ExecutionPlotDto[] }>('GET', `${api}/executions/${e.id}/plots`, bob);
        expect(res.status).toBe(200);
        return res.body.items;
      }),
    );
    expect(plots[0]!.map((p) => [p.node, p.operation, p.title ?? p.axes[0]?.title])).toEqual([
      ['curve', 'TrainingCurve', 'Training Loss'],
    ]);
    expect(plots[0]![0]!.svg ?? plots[0]![0]!.png).toBeTruthy();
    expect(plots[0]![0]!.axes[0]!.lines[0]!.x).toEqual([0, 1, 2]);
    expect(plots[1]![0]!.axes[0]!.lines[0]!.x).toEqual([0, 1, 2, 3, 4]);
    const [group] = matchFigures(plots);
    const overlay = overlayFigures(group!, ['three epochs', 'five epochs']);
    expect(
      overlay.kind === 'overlay' && overlay.axes[0]!.series.map((s) => [s.label, s.points.length]),
    ).toEqual([
      ['three epochs', 3],
      ['five epochs', 5],
    ]);
    // A run that drew nothing has no plots.
    const none = await call<{ items: ExecutionPlotDto[] }>(
      'GET',
      `${api}/executions/${images.id}/plots`,
      bob,
    );
    expect(none.body).toEqual({ items: [] });
  });

  it('compares runs of different pipelines, matching what it can', async () => {
    const res = await call<ExecutionComparisonDto>(
      'GET',
      `${api}/executions/compare?ids=${three.id},${images.id}`,
      ada,
    );
    expect(res.status).toBe(200);
    expect(res.body.executions.map((e) => e.pipeline)).toEqual(['curve', 'noise']);
    expect(res.body.attributes[1]).toEqual({ images: { count: 2, size: 28, channels: 1, seed: 0 } });
    const runs = res.body.executions.map((e, i) => ({
      ...e,
      nodes: e.pipelineSnapshot.nodes,
      attributes: res.body.attributes[i]!,
    }));
    expect(compareExecutions(runs).notes[0]).toMatch(/different pipelines/);
  });

  it('refuses too few, too many, the same twice and a bad id, naming the field', async () => {
    const bad = async (ids: string, message: RegExp | string) => {
      const res = await call<ApiError>('GET', `${api}/executions/compare?ids=${ids}`, ada);
      expect(res.status, ids).toBe(400);
      expect(res.body.field, ids).toBe('query.ids');
      expect(res.body.message).toMatch(message);
    };
    await bad(three.id, 'query.ids: select at least 2 executions to compare (got 1)');
    await bad(`${three.id},${three.id}`, `execution "${three.id}" is selected twice`);
    await bad(
      [three.id, five.id, ...'abcdefg'.split('')].join(','),
      'at most 8 executions can be compared at once (got 9)',
    );
    const shape = await call<ApiError>('GET', `${api}/executions/compare?ids=${three.id},NOT-AN-ID`, ada);
    expect(shape.status).toBe(400);
    expect(shape.body.message).toMatch(/execution id/);
    const missing = await call<ApiError>('GET', `${api}/executions/compare?ids=${three.id},nosuchrun`, ada);
    expect(missing.status).toBe(404);
    expect(missing.body.message).toBe('project has no execution "nosuchrun"');
  });

  it('keeps non-members and other projects out', async () => {
    const ids = `${three.id},${five.id}`;
    for (const path of [`${api}/executions/compare?ids=${ids}`, `${api}/executions/${three.id}/plots`]) {
      expect((await call('GET', path, carol)).status, path).toBe(404);
      expect((await call('GET', path, undefined)).status, path).toBe(401);
    }
    const other = await call<ProjectSummary>('POST', '/api/projects', carol, { name: 'carols' });
    const theirs = `/api/projects/${other.body.id}`;
    // Carol's own project does not hold Ada's runs.
    expect((await call('GET', `${theirs}/executions/compare?ids=${ids}`, carol)).status).toBe(404);
    expect((await call('GET', `${theirs}/executions/${three.id}/plots`, carol)).status).toBe(404);
  });
});
