import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { InjectOptions } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ExtensionStore } from '@deepforge/engine';
import type {
  AddExtensionOperationResponse,
  ApiError,
  Example,
  ExecutionDetailsDto,
  ExtensionSummary,
  OperationResponse,
} from '@deepforge/protocol';
import { startFixture, type ServerFixture } from '../test-support/server-fixture.js';
import { SERVER_VERSION } from '../server.app.js';

const SHIPPED = fileURLToPath(new URL('../../../../extensions/image-classification/', import.meta.url));

let f: ServerFixture;
let store: ExtensionStore;
beforeAll(async () => {
  f = await startFixture();
  // Where `deepforge extensions add` puts them for this data dir.
  store = new ExtensionStore({ dir: join(f.dataDir, 'extensions'), deepforgeVersion: SERVER_VERSION });
  await store.add(SHIPPED, process.cwd());
});
afterAll(() => f.cleanup());

const inject = (opts: InjectOptions) => f.server.app.inject(opts);

describe('extensions over REST', () => {
  it('lists installed extensions with their operations read from the code', async () => {
    const res = await inject({ url: '/api/extensions' });
    expect(res.statusCode).toBe(200);
    const [ext, ...more] = res.json<{ items: ExtensionSummary[] }>().items;
    expect(more).toEqual([]);
    expect(ext).toMatchObject({
      name: 'image-classification',
      version: '0.1.0',
      deepforge: '>=0.1.0 <1.0.0',
      resources: ['SmallCNN'],
      examples: ['fashion-classifier'],
    });
    expect(ext!.operations.map((o) => o.name)).toEqual([
      'LoadFashionMNIST',
      'NormalizeImages',
      'TrainClassifier',
      'EvaluateClassifier',
    ]);
    const normalize = ext!.operations.find((o) => o.name === 'NormalizeImages')!;
    expect(normalize.interface?.inputs.map((i) => i.name)).toEqual(['training_data', 'testing_data']);
    expect(normalize.files).toEqual(['operations/NormalizeImages.py', 'utils/image_data.py']);
  });

  it('offers its example projects and creates a project from one', async () => {
    const examples = (await inject({ url: '/api/examples' })).json<{ items: Example[] }>().items;
    expect(examples.find((e) => e.extension === 'image-classification')).toMatchObject({
      name: 'image-classification/fashion-classifier',
      pipelines: ['train-evaluate'],
    });
    const p = await f.createProject({
      name: 'Classifier',
      example: 'image-classification/fashion-classifier',
    });
    const pipelines = await inject({ url: `/api/projects/${p.id}/pipelines` });
    expect(pipelines.json<{ items: { name: string }[] }>().items.map((x) => x.name)).toEqual([
      'train-evaluate',
    ]);
    const diagnostics = await inject({ url: `/api/projects/${p.id}/diagnostics` });
    expect(
      diagnostics
        .json<{ diagnostics: { severity: string }[] }>()
        .diagnostics.filter((d) => d.severity === 'error'),
    ).toEqual([]);

    const missing = await inject({
      method: 'POST',
      url: '/api/projects',
      payload: { name: 'x', example: 'image-classification/nope' },
    });
    expect(missing.statusCode).toBe(400);
    expect(missing.json<ApiError>().message).toContain('there is no example "image-classification/nope"');
  });

  it('copies an operation with what it needs, refuses a clash naming it, and keeps the copy after removal', async () => {
    const p = await f.createProject({ name: 'Uses an extension' });
    const url = `/api/projects/${p.id}/extension-operations`;
    const add = await inject({
      method: 'POST',
      url,
      payload: { extension: 'image-classification', operation: 'NormalizeImages' },
    });
    expect(add.statusCode).toBe(201);
    expect(add.json<AddExtensionOperationResponse>()).toEqual({
      operation: 'NormalizeImages',
      copied: ['operations/NormalizeImages.py', 'utils/image_data.py'],
      unchanged: [],
    });
    const op = await inject({ url: `/api/projects/${p.id}/operations/NormalizeImages` });
    expect(op.json<OperationResponse>().code).toBe(
      await readFile(join(SHIPPED, 'operations', 'NormalizeImages.py'), 'utf8'),
    );
    expect(op.json<OperationResponse>().diagnostics).toEqual([]);

    // A second operation needing the same util finds it there already.
    const load = await inject({
      method: 'POST',
      url,
      payload: { extension: 'image-classification', operation: 'LoadFashionMNIST' },
    });
    expect(load.json<AddExtensionOperationResponse>()).toMatchObject({
      copied: ['operations/LoadFashionMNIST.py'],
      unchanged: ['utils/image_data.py'],
    });
    const train = await inject({
      method: 'POST',
      url,
      payload: { extension: 'image-classification', operation: 'TrainClassifier' },
    });
    expect(train.json<AddExtensionOperationResponse>().copied).toEqual([
      'operations/TrainClassifier.py',
      'resources/SmallCNN.json',
      'serializers/torch_module.py',
    ]);

    const clash = await inject({
      method: 'POST',
      url,
      payload: { extension: 'image-classification', operation: 'NormalizeImages' },
    });
    expect(clash.statusCode).toBe(409);
    expect(clash.json<ApiError>().message).toBe(
      "the project has an operation named NormalizeImages already: rename or delete it to add the extension's NormalizeImages",
    );
    const unknown = await inject({
      method: 'POST',
      url,
      payload: { extension: 'image-classification', operation: 'Nope' },
    });
    expect(unknown.statusCode).toBe(404);
    const noExtension = await inject({ method: 'POST', url, payload: { extension: 'nope', operation: 'X' } });
    expect(noExtension.statusCode).toBe(404);
    expect(noExtension.json<ApiError>().message).toContain('no extension named "nope" is installed');

    await store.remove('image-classification');
    expect((await inject({ url: '/api/extensions' })).json<{ items: unknown[] }>().items).toEqual([]);
    const kept = await inject({ url: `/api/projects/${p.id}/operations` });
    expect(kept.json<{ items: { name: string }[] }>().items.map((o) => o.name)).toEqual([
      'LoadFashionMNIST',
      'NormalizeImages',
      'TrainClassifier',
    ]);

    // And it runs: a job of the copied NormalizeImages on a real Python, with the extension gone.
    await inject({
      method: 'POST',
      url: `/api/projects/${p.id}/operations`,
      payload: {
        name: 'MakeImages',
        code: [
          'import numpy as np',
          '',
          '',
          'class MakeImages():',
          '    def execute(self):',
          '        images = np.arange(32, dtype=np.uint8).reshape(2, 4, 4)',
          '        data = {"images": images, "labels": [0, 1], "classes": ["a", "b"]}',
          '        return data',
          '',
        ].join('\n'),
      },
    });
    const pipeline = await inject({
      method: 'POST',
      url: `/api/projects/${p.id}/pipelines`,
      payload: {
        name: 'normalize',
        nodes: [
          { id: 'make', operation: 'MakeImages' },
          { id: 'normalize', operation: 'NormalizeImages' },
        ],
        connections: [
          { from: { node: 'make', port: 'data' }, to: { node: 'normalize', port: 'training_data' } },
          { from: { node: 'make', port: 'data' }, to: { node: 'normalize', port: 'testing_data' } },
        ],
      },
    });
    expect(pipeline.statusCode, pipeline.body).toBe(201);
    const started = await inject({
      method: 'POST',
      url: `/api/projects/${p.id}/executions`,
      payload: { pipeline: 'normalize' },
    });
    expect(started.statusCode, started.body).toBe(201);
    const id = started.json<ExecutionDetailsDto>().id;
    await f.server.engine.waitForExecution(id);
    const done = (
      await inject({ url: `/api/projects/${p.id}/executions/${id}` })
    ).json<ExecutionDetailsDto>();
    expect(done.status).toBe('success');
    await store.add(SHIPPED, process.cwd());
  });
});

describe('extensions with accounts on', () => {
  let g: ServerFixture;
  beforeAll(async () => {
    g = await startFixture({ settings: { 'auth.enabled': true } });
    await new ExtensionStore({ dir: join(g.dataDir, 'extensions'), deepforgeVersion: SERVER_VERSION }).add(
      SHIPPED,
      process.cwd(),
    );
    await g.server.engine.accounts.createUser('ada', 'correct horse battery');
    await g.server.engine.accounts.createUser('bob', 'correct horse battery');
  }, 60_000);
  afterAll(() => g.cleanup());

  const signIn = async (name: string): Promise<string> => {
    const res = await g.server.app.inject({
      method: 'POST',
      url: '/api/auth/login',
      payload: { name, password: 'correct horse battery' },
    });
    return String(res.headers['set-cookie']).split(';')[0]!;
  };

  it('needs a session to list, and the writer role to copy into a project', async () => {
    expect((await g.server.app.inject({ url: '/api/extensions' })).statusCode).toBe(401);
    const ada = await signIn('ada');
    const bob = await signIn('bob');
    expect((await g.server.app.inject({ url: '/api/extensions', headers: { cookie: bob } })).statusCode).toBe(
      200,
    );
    const created = await g.server.app.inject({
      method: 'POST',
      url: '/api/projects',
      headers: { cookie: ada },
      payload: { name: 'Shared' },
    });
    const id = created.json<{ id: string }>().id;
    await g.server.app.inject({
      method: 'PUT',
      url: `/api/projects/${id}/members/bob`,
      headers: { cookie: ada },
      payload: { role: 'reader' },
    });
    const payload = { extension: 'image-classification', operation: 'NormalizeImages' };
    const url = `/api/projects/${id}/extension-operations`;
    const asReader = await g.server.app.inject({ method: 'POST', url, headers: { cookie: bob }, payload });
    expect(asReader.statusCode).toBe(403);
    const asOwner = await g.server.app.inject({ method: 'POST', url, headers: { cookie: ada }, payload });
    expect(asOwner.statusCode).toBe(201);
  });
});
