/**
 * Names and shapes a probe sent (issue 8): keywords and over-long names for operations and modules, attribute
 * values nested 10,000 and 100,000 levels deep, URLs that do not decode or are too long. Each is refused with a
 * clear error in the API's shape, over real HTTP, and nothing is stored. docs/security.md counts them.
 */
import { strToU8, zipSync } from 'fflate';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ApiError, ProjectSummary } from '@deepforge/protocol';
import { rawRequest } from '../test-support/raw-http.js';
import { startFixture, type ServerFixture } from '../test-support/server-fixture.js';

let f: ServerFixture;
let base: string;
let project: ProjectSummary;

beforeAll(async () => {
  f = await startFixture();
  base = await f.server.listen(0);
  project = await f.createProject({ name: 'target', example: 'hello' });
}, 60_000);
afterAll(async () => {
  await f.cleanup();
});

const json = { 'content-type': 'application/json' };

async function send(
  method: string,
  path: string,
  body?: unknown,
): Promise<{ status: number; body: ApiError }> {
  const res = await rawRequest(base, {
    method,
    path,
    headers: body === undefined ? {} : json,
    ...(body === undefined ? {} : { body: typeof body === 'string' ? body : JSON.stringify(body) }),
  });
  return { status: res.status, body: JSON.parse(res.body) as ApiError };
}

async function operationNames(): Promise<string[]> {
  const res = await rawRequest(base, { path: `/api/projects/${project.id}/operations` });
  return (JSON.parse(res.body) as { items: { name: string }[] }).items.map((o) => o.name).sort();
}

/** `[[[…1…]]]`, `depth` levels deep, written without recursion. */
const nested = (depth: number): string => '['.repeat(depth) + '1' + ']'.repeat(depth);

describe('operation and module names', () => {
  it('refuses keywords and names too long for a file system, naming the field, and stores nothing', async () => {
    const before = await operationNames();
    for (const name of ['class', 'None', 'A'.repeat(101), 'B'.repeat(253)]) {
      const res = await send('POST', `/api/projects/${project.id}/operations`, { name });
      expect(res.status, name).toBe(400);
      expect(res.body, name).toMatchObject({ error: 'bad-request', field: 'body.name' });
      expect(res.body.message, name).toMatch(/keyword|at most 100 characters/);
    }
    const rename = await send('PATCH', `/api/projects/${project.id}/operations/Multiply`, { name: 'lambda' });
    expect(rename.status).toBe(400);
    for (const name of ['import', 'C'.repeat(101)]) {
      const res = await send('PUT', `/api/projects/${project.id}/utils/${name}`, { code: 'x = 1\n' });
      expect(res.status, name).toBe(400);
      expect(res.body, name).toMatchObject({ field: 'params.name' });
    }
    expect(await operationNames()).toEqual(before);
  });

  it('answers a long name in a URL in the API shape: 404 for no such name, 414 past 1000 characters', async () => {
    const long = await send('DELETE', `/api/projects/${project.id}/operations/${'A'.repeat(150)}`);
    expect(long).toMatchObject({ status: 404, body: { error: 'not-found' } });
    const huge = await send('GET', `/api/projects/${project.id}/operations/${'A'.repeat(1500)}`);
    expect(huge.status).toBe(414);
    expect(huge.body).toMatchObject({
      error: 'uri-too-long',
      message: expect.stringMatching(/1000 characters/),
    });
    for (const path of ['/api/projects/%', `/api/projects/${project.id}/operations/%E0%A4%A`]) {
      const bad = await send('GET', path);
      expect(bad.status, path).toBe(400);
      expect(bad.body, path).toMatchObject({
        error: 'bad-request',
        message: expect.stringMatching(/does not decode/),
      });
    }
  });

  it('refuses a zipped project whose operation file names are keywords or too long, storing no project', async () => {
    const before = (await rawRequest(base, { path: '/api/projects' })).body;
    for (const stem of ['class', 'D'.repeat(200)]) {
      const zip = zipSync({
        'p/deepforge.json': strToU8(JSON.stringify({ name: 'p', formatVersion: 1 })),
        [`p/operations/${stem}.py`]: strToU8(`class ${stem}:\n    def execute(self):\n        return None\n`),
      });
      const res = await rawRequest(base, {
        method: 'POST',
        path: '/api/projects/import',
        headers: { 'content-type': 'application/zip' },
        body: Buffer.from(zip),
      });
      expect(res.status, `${stem.slice(0, 10)}: ${res.body}`).toBe(400);
      expect(res.body).toMatch(/keyword|at most 100 characters/);
    }
    expect((await rawRequest(base, { path: '/api/projects' })).body).toBe(before);
  });
});

describe('attribute values nested deep', () => {
  it('refuses 10,000 and 100,000 levels with a 400 naming the depth, and the pipeline is unchanged', async () => {
    const pipeline = `/api/projects/${project.id}/pipelines/hello`;
    const before = (await rawRequest(base, { path: pipeline })).body;
    const node = JSON.parse(before) as { pipeline: { nodes: { id: string }[] } };
    const id = node.pipeline.nodes[0]!.id;
    for (const depth of [10_000, 100_000]) {
      const patch = await send('PATCH', `${pipeline}/nodes/${id}`, `{"attributes":{"x":${nested(depth)}}}`);
      expect(patch.status, `${depth}`).toBe(400);
      expect(patch.body.message).toMatch(/nested deeper than 64 levels/);
      const add = await send(
        'POST',
        `${pipeline}/nodes`,
        `{"operation":"Print","attributes":{"x":${nested(depth)}}}`,
      );
      expect(add.status, `${depth}`).toBe(400);
      const run = await send(
        'POST',
        `/api/projects/${project.id}/executions`,
        `{"pipeline":"hello","attributes":{"${id}":{"x":${nested(depth)}}}}`,
      );
      expect(run.status, `${depth}`).toBe(400);
    }
    expect((await rawRequest(base, { path: pipeline })).body).toBe(before);
    expect((await send('GET', '/api/health')).status).toBe(200);
  });
});
