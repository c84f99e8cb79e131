import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { readdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import type { InjectOptions } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { makeTempDir, removeTree, TEST_PYTHON } from '@deepforge/engine/test-support';
import type {
  ApiError,
  ArtifactDto,
  ArtifactPreview,
  ProjectSummary,
  ValidateResponse,
} from '@deepforge/protocol';
import { startFixture, type ServerFixture } from '../test-support/server-fixture.js';

const pickled = (expr: string): Buffer =>
  execFileSync(TEST_PYTHON, [
    '-c',
    `import pickle, sys, numpy as np; sys.stdout.buffer.write(pickle.dumps(${expr}))`,
  ]);

let f: ServerFixture;
let project: ProjectSummary;
let base: string;
let dataDir: string;
beforeAll(async () => {
  dataDir = await makeTempDir('server');
  f = await startFixture({
    dataDir,
    // Files the import by path reads lie in the data dir (the hostile suite checks the roots themselves).
    settings: { python: TEST_PYTHON, 'server.uploadLimit': 64 * 1024, 'artifacts.importRoots': [dataDir] },
  });
  project = await f.createProject({ name: 'data', example: 'hello' });
  base = `/api/projects/${project.id}`;
});
afterAll(async () => {
  await f.cleanup();
  await removeTree(dataDir);
});

const inject = (opts: InjectOptions) => f.server.app.inject(opts);
const upload = (query: string, payload: Buffer | Readable) =>
  inject({
    method: 'POST',
    url: `${base}/artifacts?${query}`,
    headers: { 'content-type': 'application/octet-stream' },
    payload,
  });
const total = async (): Promise<number> =>
  ((await inject({ url: `${base}/artifacts` })).json() as { total: number }).total;

async function blobCount(): Promise<number> {
  const root = join(f.dataDir, 'blob');
  let n = 0;
  const walk = async (dir: string): Promise<void> => {
    for (const e of await readdir(dir, { withFileTypes: true }).catch(() => [])) {
      if (e.isDirectory()) await walk(join(dir, e.name));
      else if (/^[0-9a-f]{60,64}$/.test(e.name)) n++;
    }
  };
  await walk(root);
  return n;
}

describe('artifacts', () => {
  let list: ArtifactDto;

  it('uploads by streaming, lists, gets, downloads and previews', async () => {
    const bytes = pickled('[1, 2, 3]');
    const res = await upload('name=numbers&pyType=builtins.list', bytes);
    expect(res.statusCode, res.body).toBe(201);
    list = res.json() as ArtifactDto;
    expect(list).toMatchObject({
      name: 'numbers',
      size: bytes.length,
      serializer: 'pickle',
      pyType: 'builtins.list',
      provenance: { kind: 'upload' },
    });
    expect(list.hash).toMatch(/^sha256:[0-9a-f]{64}$/);
    const page = (await inject({ url: `${base}/artifacts?search=NUM` })).json() as {
      items: ArtifactDto[];
      total: number;
    };
    expect(page).toEqual({ items: [list], total: 1 });
    expect((await inject({ url: `${base}/artifacts/${list.id}` })).json()).toEqual(list);
    const content = await inject({ url: `${base}/artifacts/${list.id}/content` });
    expect(content.statusCode).toBe(200);
    expect(Buffer.compare(content.rawPayload, bytes)).toBe(0);
    const preview = (await inject({ url: `${base}/artifacts/${list.id}/preview` })).json() as ArtifactPreview;
    expect(preview).toEqual({ pyType: 'builtins.list', repr: '[1, 2, 3]', length: 3 });

    const image = await upload('name=image', pickled('np.arange(64, dtype=np.float64).reshape(8, 8)'));
    const imagePreview = (
      await inject({
        url: `${base}/artifacts/${(image.json() as ArtifactDto).id}/preview`,
      })
    ).json() as ArtifactPreview;
    expect(imagePreview).toMatchObject({
      pyType: 'numpy.ndarray',
      shape: [8, 8],
      dtype: 'float64',
      min: 0,
      max: 63,
    });
    expect(imagePreview.png).toMatch(/^iVBORw0KGgo/);
  });

  it('records the type read from an upload that gave none, and downloads it with its extension', async () => {
    // Issue 13: the list showed "–" though the preview knew the type, and downloads had no extension.
    const res = await upload('name=untyped', pickled('{"a": 1}'));
    expect(res.statusCode, res.body).toBe(201);
    const a = res.json() as ArtifactDto;
    expect(a.pyType).toBe('builtins.dict');
    expect((await inject({ url: `${base}/artifacts/${a.id}` })).json()).toMatchObject({
      pyType: 'builtins.dict',
    });
    const content = await inject({ url: `${base}/artifacts/${a.id}/content` });
    expect(content.headers['content-disposition']).toBe(
      `attachment; filename="untyped.pkl"; filename*=UTF-8''untyped.pkl`,
    );
    // A type the uploader gave is kept; data no serializer reads keeps none.
    const said = (await upload('name=said&pyType=my.Type', pickled('[1]'))).json() as ArtifactDto;
    expect(said.pyType).toBe('my.Type');
    const junk = (await upload('name=junk', Buffer.from('not a pickle'))).json() as ArtifactDto;
    expect(junk.pyType).toBeNull();
  });

  it('refuses bad artifact names naming the field, and stores nothing', async () => {
    const before = await total();
    const blobs = await blobCount();
    for (const name of ['a%2Fb', '..', 'x..y', 'a%5Cb', 'bell%07', '.hidden', '']) {
      const res = await upload(`name=${name}`, Buffer.from('x'));
      expect(res.statusCode, name).toBe(400);
      expect((res.json() as ApiError).field, name).toBe('query.name');
    }
    const missing = await upload('', Buffer.from('x'));
    expect((missing.json() as ApiError).field).toBe('query.name');
    const unknown = await upload('name=ok&colour=red', Buffer.from('x'));
    expect((unknown.json() as ApiError).field).toBe('query.colour');
    const json = await inject({ method: 'POST', url: `${base}/artifacts?name=ok`, payload: { a: 1 } });
    expect(json.statusCode).toBe(400);
    expect(await total()).toBe(before);
    expect(await blobCount()).toBe(blobs);
  });

  it('refuses an upload over server.uploadLimit with 413, declared or streamed, and stores nothing', async () => {
    const before = await total();
    const blobs = await blobCount();
    const big = Buffer.alloc(64 * 1024 + 1, 7);
    const declared = await upload('name=big', big);
    expect(declared.statusCode).toBe(413);
    expect((declared.json() as ApiError).message).toMatch(/server\.uploadLimit/);
    // Without a length up front the limit is enforced while streaming.
    const streamed = await upload('name=big', Readable.from([big.subarray(0, 40_000), big.subarray(40_000)]));
    expect(streamed.statusCode).toBe(413);
    expect(await total()).toBe(before);
    expect(await blobCount()).toBe(blobs);
    const tmp = await readdir(join(f.dataDir, 'blob', 'tmp')).catch(() => []);
    expect(tmp).toEqual([]);
  });

  it('imports by reference: a path on the server machine or a hash already stored', async () => {
    const file = join(f.dataDir, 'on-server.pkl');
    await writeFile(file, pickled('"from disk"'));
    const byPath = await inject({
      method: 'POST',
      url: `${base}/artifacts/import`,
      payload: { name: 'disk', path: file },
    });
    expect(byPath.statusCode, byPath.body).toBe(201);
    expect(byPath.json()).toMatchObject({ name: 'disk', provenance: { kind: 'import', source: file } });
    const byHash = await inject({
      method: 'POST',
      url: `${base}/artifacts/import`,
      payload: { name: 'numbers-again', hash: list.hash },
    });
    expect(byHash.statusCode).toBe(201);
    expect(byHash.json()).toMatchObject({ hash: list.hash, size: list.size, pyType: 'builtins.list' });
    for (const [payload, field] of [
      [{ name: 'x', path: 'relative.pkl' }, 'body.path'],
      [{ name: 'x', path: join(f.dataDir, 'nope') }, 'body.path'],
      [{ name: 'x', hash: `sha256:${'0'.repeat(64)}` }, 'body.hash'],
      [{ name: 'x', hash: 'md5:00' }, 'body.hash'],
      [{ name: 'x' }, 'body.path'],
      [{ name: 'a/b', path: file }, 'body.name'],
    ] as const) {
      const res = await inject({ method: 'POST', url: `${base}/artifacts/import`, payload });
      expect(res.statusCode, JSON.stringify(payload)).toBe(400);
      expect((res.json() as ApiError).field, JSON.stringify(payload)).toBe(field);
    }
  });

  it('deletes an artifact, and its bytes only when nothing else uses them', async () => {
    const again = (
      (await inject({ url: `${base}/artifacts?name=numbers-again` })).json() as { items: ArtifactDto[] }
    ).items[0]!;
    const info = await f.server.engine.getArtifactById(list.id);
    expect(info.path && existsSync(info.path)).toBe(true);
    expect((await inject({ method: 'DELETE', url: `${base}/artifacts/${list.id}` })).statusCode).toBe(204);
    expect((await inject({ url: `${base}/artifacts/${list.id}` })).statusCode).toBe(404);
    expect(existsSync(info.path!)).toBe(true);
    expect((await inject({ url: `${base}/artifacts/${again.id}/content` })).statusCode).toBe(200);
    expect((await inject({ method: 'DELETE', url: `${base}/artifacts/${again.id}` })).statusCode).toBe(204);
    expect(existsSync(info.path!)).toBe(false);
  });

  it('records what executions save with their provenance, in the project that ran them', async () => {
    const started = await inject({
      method: 'POST',
      url: `${base}/executions`,
      payload: { pipeline: 'hello' },
    });
    const id = (started.json() as { id: string }).id;
    await f.server.engine.waitForExecution(id);
    const product = (
      (await inject({ url: `${base}/artifacts?name=product` })).json() as { items: ArtifactDto[] }
    ).items[0]!;
    expect(product.provenance).toEqual({
      kind: 'execution',
      executionId: id,
      jobId: `${id}.print`,
      node: 'print',
      output: 'value',
    });
    expect(
      ((await inject({ url: `${base}/artifacts/${product.id}/preview` })).json() as ArtifactPreview).repr,
    ).toBe('16');
    // Stored artifacts belong to their project: another one cannot read "numbers" or "product" by name.
    const other = await f.createProject({ name: 'elsewhere' });
    const otherBase = `/api/projects/${other.id}`;
    await inject({
      method: 'POST',
      url: `${otherBase}/pipelines`,
      payload: {
        name: 'p',
        nodes: [{ id: 'i', operation: 'Input', attributes: { artifact: 'product' } }],
        connections: [],
      },
    });
    const validation = (
      await inject({ url: `${otherBase}/pipelines/p/validate` })
    ).json() as ValidateResponse;
    expect(validation.diagnostics.map((d) => d.code)).toContain('unknown-artifact');
    expect((await inject({ url: `${otherBase}/artifacts/${product.id}` })).statusCode).toBe(404);
    expect(((await inject({ url: `${otherBase}/artifacts` })).json() as { total: number }).total).toBe(0);
  });
});
