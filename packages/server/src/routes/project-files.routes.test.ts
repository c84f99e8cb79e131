import { mkdir, readdir, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { strToU8, unzipSync, zipSync } from 'fflate';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { makeTempDir, removeTree } from '@deepforge/engine/test-support';
import type { ApiError, ProjectSummary, VersionPage } from '@deepforge/protocol';
import { rawRequest } from '../test-support/raw-http.js';
import { startFixture, type ServerFixture } from '../test-support/server-fixture.js';
import { zeroBombZip } from '../test-support/zip-bomb.js';

/**
 * PUT /api/projects/:id/files: a zipped project folder replaces a project's content (what `deepforge run
 * --server` sends on each run of one folder). A real server with accounts on, over HTTP.
 */

const PASSWORD = 'a long enough password';
const MiB = 1024 * 1024;
const LIMIT = 16 * MiB;
let f: ServerFixture;
let base: string;
let ada: Record<string, string>;
let bob: Record<string, string>;
let project: ProjectSummary;
let api: string;

async function call<T>(
  method: string,
  path: string,
  auth: Record<string, string>,
  body?: object | Uint8Array,
): Promise<{ status: number; body: T }> {
  const zip = body instanceof Uint8Array;
  const res = await rawRequest(base, {
    method,
    path,
    headers: {
      ...(body !== undefined ? { 'content-type': zip ? 'application/zip' : 'application/json' } : {}),
      ...auth,
    },
    ...(body !== undefined ? { body: zip ? Buffer.from(body) : JSON.stringify(body) } : {}),
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

/** The project folder as the export gives it (from the live document), without the zip's top-level folder. */
async function exported(): Promise<Map<string, string>> {
  const res = await fetch(`${base}${api}/export`, { headers: ada });
  expect(res.status).toBe(200);
  const files = new Map<string, string>();
  for (const [path, bytes] of Object.entries(unzipSync(new Uint8Array(await res.arrayBuffer())))) {
    if (!path.endsWith('/'))
      files.set(path.slice(path.indexOf('/') + 1), Buffer.from(bytes).toString('utf8'));
  }
  return files;
}

const versions = async (): Promise<VersionPage['versions']> =>
  (await call<VersionPage>('GET', `${api}/versions?limit=100`, ada)).body.versions;

const zipOf = (files: Map<string, string>): Uint8Array =>
  zipSync(Object.fromEntries([...files].map(([p, t]) => [`folder/${p}`, strToU8(t)])));

const NEW_MULTIPLY =
  'class Multiply():\n    def execute(self, a, b):\n        twice = a * b * 2\n        return twice\n';

beforeAll(async () => {
  f = await startFixture({ settings: { 'auth.enabled': true, 'server.uploadLimit': LIMIT } });
  base = await f.server.listen(0);
  await f.server.engine.accounts.createUser('ada', PASSWORD);
  await f.server.engine.accounts.createUser('bob', PASSWORD);
  [ada, bob] = await Promise.all([signIn('ada'), signIn('bob')]);
  const created = await call<ProjectSummary>('POST', '/api/projects', ada, {
    name: 'hello',
    example: 'hello',
  });
  expect(created.status).toBe(201);
  project = created.body;
  api = `/api/projects/${project.id}`;
  expect((await call('PUT', `${api}/members/bob`, ada, { role: 'reader' })).status).toBe(204);
}, 60_000);
afterAll(() => f.cleanup());

describe('PUT /api/projects/:id/files', () => {
  it('replaces operations, pipelines and extra files live, after a checkpoint, and records a version', async () => {
    const before = await exported();
    expect(before.has('pipelines/basic-io.json')).toBe(true);
    // A live edit not yet in any version: the update must not lose it (it is checkpointed first).
    const made = await call('POST', `${api}/operations`, ada, { name: 'Extra' });
    expect(made.status, JSON.stringify(made.body)).toBe(201);
    const edited = await exported();
    expect(edited.has('operations/Extra.py')).toBe(true);

    const folder = new Map(before);
    folder.set('operations/Multiply.py', NEW_MULTIPLY);
    folder.delete('pipelines/basic-io.json');
    folder.delete('artifacts/greeting.pkl');
    folder.set('README.md', 'read me\n');
    const res = await call<ProjectSummary>('PUT', `${api}/files`, ada, zipOf(folder));
    expect(res.status, JSON.stringify(res.body)).toBe(200);
    expect(res.body).toMatchObject({ id: project.id, name: 'hello', role: 'owner' });
    expect(res.body.counts.pipelines).toBe(1);

    const after = await exported();
    expect(after.get('operations/Multiply.py')).toBe(NEW_MULTIPLY);
    expect(after.has('pipelines/basic-io.json')).toBe(false);
    expect(after.has('operations/Extra.py')).toBe(false);
    expect(after.get('README.md')).toBe('read me\n');
    // The extra files were swapped whole: the old artifact data file is gone from the project's folder.
    expect(after.has('artifacts/greeting.pkl')).toBe(false);
    expect(await readdir(join(f.dataDir, 'projects', project.id))).toEqual(['README.md']);
    const ops = await call<{ items: { name: string }[] }>('GET', `${api}/operations`, ada);
    expect(ops.body.items.map((o) => o.name)).not.toContain('Extra');

    const list = await versions();
    expect(list[0]).toMatchObject({ kind: 'import', message: 'Updated from a project folder' });
    expect(list[1]).toMatchObject({ kind: 'checkpoint' });
    // The checkpoint holds the live edit, the new version the folder.
    const tree = async (v: string): Promise<string[]> =>
      (await call<{ files: { path: string }[] }>('GET', `${api}/versions/${v}/tree`, ada)).body.files.map(
        (x) => x.path,
      );
    expect(await tree(list[1]!.id)).toContain('operations/Extra.py');
    expect(await tree(list[0]!.id)).toContain('README.md');
    expect(await tree(list[0]!.id)).not.toContain('operations/Extra.py');

    // The same folder again changes nothing and adds no version.
    const again = await call<ProjectSummary>('PUT', `${api}/files`, ada, zipOf(folder));
    expect(again.status).toBe(200);
    expect(await exported()).toEqual(after);
    expect((await versions()).length).toBe(list.length);
  });

  it('refuses a folder that is no project with 400 naming the file, and changes nothing', async () => {
    const before = await exported();
    const count = (await versions()).length;
    const folder = new Map(before);
    folder.set('pipelines/hello.json', '{"name": "hello", "nodes": [], "connections": [], "extra": 1}');
    folder.set('README.md', 'changed\n');
    const res = await call<ApiError>('PUT', `${api}/files`, ada, zipOf(folder));
    expect(res.status).toBe(400);
    expect(res.body.message).toMatch(/pipelines\/hello\.json/);
    expect(res.body.diagnostics?.[0]?.file).toBe('pipelines/hello.json');
    const noManifest = await call<ApiError>('PUT', `${api}/files`, ada, zipSync({ 'a/b.txt': strToU8('x') }));
    expect(noManifest.status).toBe(400);
    expect(noManifest.body.message).toMatch(/deepforge\.json/);
    const notZip = await call<ApiError>('PUT', `${api}/files`, ada, strToU8('hello'));
    expect(notZip.status).toBe(400);
    expect(await exported()).toEqual(before);
    expect((await versions()).length).toBe(count);
  });

  it('needs the writer role: a reader gets 403, an unknown project 404', async () => {
    const before = await exported();
    const zip = zipOf(before);
    const reader = await call<ApiError>('PUT', `${api}/files`, bob, zip);
    expect(reader.status).toBe(403);
    expect(reader.body.message).toMatch(/reader/);
    const unknown = await call<ApiError>('PUT', '/api/projects/nope/files', ada, zip);
    expect(unknown.status).toBe(404);
    const anonymous = await call<ApiError>('PUT', `${api}/files`, {}, zip);
    expect(anonymous.status).toBe(401);
    expect(await exported()).toEqual(before);
  });

  it('refuses a zip bomb and a body over server.uploadLimit with 413, and changes nothing', async () => {
    const before = await exported();
    const count = (await versions()).length;
    const bomb = zeroBombZip([{ name: 'bomb/artifacts/zeros.bin', size: 64 * MiB }]);
    const res = await call<ApiError>('PUT', `${api}/files`, ada, new Uint8Array(bomb));
    expect(res.status).toBe(413);
    const big = zipSync(
      { 'deepforge.json': strToU8('{}'), 'big.bin': new Uint8Array(LIMIT + MiB) },
      { level: 0 },
    );
    const tooBig = await call<ApiError>('PUT', `${api}/files`, ada, big);
    expect(tooBig.status).toBe(413);
    expect(await exported()).toEqual(before);
    expect((await versions()).length).toBe(count);
    expect(await readdir(join(f.dataDir, 'projects', project.id))).toEqual(['README.md']);
  });

  it('is in the OpenAPI document', async () => {
    const doc = await call<{ paths: Record<string, Record<string, unknown>> }>('GET', '/api/docs/json', ada);
    expect(doc.body.paths['/api/projects/{projectId}/files']?.put).toBeDefined();
  });
});

describe('a project folder swap a crash interrupted', () => {
  it('is put right when the server starts: the old folder comes back, or a left-over one goes', async () => {
    const dataDir = await makeTempDir('replaced');
    try {
      let g = await startFixture({ dataDir });
      const a = await g.createProject({ name: 'a' });
      const b = await g.createProject({ name: 'b' });
      await g.cleanup();
      const projects = join(dataDir, 'projects');
      // a: stopped between the renames (its folder moved aside, the new one not yet in place).
      await rm(join(projects, a.id), { recursive: true, force: true });
      await mkdir(join(projects, '.replaced', a.id), { recursive: true });
      await writeFile(join(projects, '.replaced', a.id, 'README.md'), 'old a\n');
      // b: stopped after both renames, before the old folder was removed.
      await mkdir(join(projects, b.id), { recursive: true });
      await writeFile(join(projects, b.id, 'README.md'), 'new b\n');
      await mkdir(join(projects, '.replaced', b.id), { recursive: true });
      await writeFile(join(projects, '.replaced', b.id, 'README.md'), 'old b\n');
      g = await startFixture({ dataDir });
      try {
        expect(await readdir(join(projects, a.id))).toEqual(['README.md']);
        expect(await readdir(join(projects, '.replaced'))).toEqual([]);
        const readme = async (id: string): Promise<string | undefined> => {
          const res = await g.server.app.inject({ url: `/api/projects/${id}/export` });
          const files = unzipSync(new Uint8Array(res.rawPayload));
          const key = Object.keys(files).find((k) => k.endsWith('/README.md'));
          return key === undefined ? undefined : Buffer.from(files[key]!).toString('utf8');
        };
        expect(await readme(a.id)).toBe('old a\n');
        expect(await readme(b.id)).toBe('new b\n');
      } finally {
        await g.cleanup();
      }
    } finally {
      await removeTree(dataDir);
    }
  });
});
