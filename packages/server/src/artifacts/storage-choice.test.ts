import { chmod, readdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { InjectOptions } from 'fastify';
import { afterEach, describe, expect, it } from 'vitest';
import {
  cleanEnv,
  listTestKeys,
  makeTempDir,
  removeTree,
  TEST_PYTHON,
  testS3Env,
  useTestBucket,
} from '@deepforge/engine/test-support';
import type { ApiError, ArtifactDto, ExecutionDetailsDto, PlatformsResponse } from '@deepforge/protocol';
import { startFixture, type ServerFixture } from '../test-support/server-fixture.js';

const bucket = useTestBucket('server');

describe('storage backends: what /api/platforms says, and requests naming one', () => {
  let f: ServerFixture | undefined;
  let dataDir: string | undefined;
  afterEach(async () => {
    await f?.cleanup();
    f = undefined;
    if (dataDir) await removeTree(dataDir);
    dataDir = undefined;
  });

  const inject = (opts: InjectOptions) => f!.server.app.inject(opts);
  const upload = (base: string, query: string, body: string) =>
    inject({
      method: 'POST',
      url: `${base}/artifacts?${query}`,
      headers: { 'content-type': 'application/octet-stream' },
      payload: Buffer.from(body),
    });
  const count = async (base: string): Promise<number> =>
    ((await inject({ url: `${base}/artifacts` })).json() as { total: number }).total;

  it('local storage: offered while the blob dir can be used; s3 named in a request is refused with 400', async () => {
    dataDir = await makeTempDir('server-storage');
    f = await startFixture({
      dataDir,
      settings: { python: TEST_PYTHON, 'artifacts.importRoots': [dataDir] },
    });
    expect((await inject({ url: '/api/platforms' })).json()).toEqual({
      compute: [{ id: 'local', name: 'This machine', available: true }],
      storage: [{ id: 'local', name: 'Local blob store', available: true }],
    });
    const p = await f.createProject({ name: 'local', example: 'hello' });
    const base = `/api/projects/${p.id}`;

    // Naming the configured backend is what the dialogs do; the other one is refused before anything is stored.
    const ok = await upload(base, 'name=numbers&storage=local', 'I6\n.');
    expect(ok.statusCode, ok.body).toBe(201);
    const refused = await upload(base, 'name=elsewhere&storage=s3', 'I7\n.');
    expect(refused.statusCode).toBe(400);
    expect(refused.json<ApiError>()).toMatchObject({
      error: 'bad-request',
      field: 'query.storage',
      message: expect.stringMatching(
        /^query.storage: storage "s3" is not configured on this server: it stores artifacts in .*blob \(storage.backend = local\)/,
      ),
    });
    const notAnId = await upload(base, 'name=elsewhere&storage=gcs', 'I7\n.');
    expect(notAnId.statusCode).toBe(400);
    expect(await count(base)).toBe(1);

    const file = join(dataDir, 'data.pkl');
    await writeFile(file, 'I8\n.');
    const imported = await inject({
      method: 'POST',
      url: `${base}/artifacts/import`,
      payload: { name: 'from-disk', path: file, storage: 's3' },
    });
    expect(imported.statusCode).toBe(400);
    expect(imported.json<ApiError>().message).toMatch(/^body.storage: storage "s3" is not configured/);
    expect(
      (
        await inject({
          method: 'POST',
          url: `${base}/artifacts/import`,
          payload: { name: 'from-disk', path: file, storage: 'local' },
        })
      ).statusCode,
    ).toBe(201);

    const run = await inject({
      method: 'POST',
      url: `${base}/executions`,
      payload: { pipeline: 'hello', storage: 's3' },
    });
    expect(run.statusCode).toBe(400);
    expect(run.json<ApiError>().message).toMatch(/^body.storage: storage "s3" is not configured/);
    expect(((await inject({ url: `${base}/executions` })).json() as { total: number }).total).toBe(0);
    const started = await inject({
      method: 'POST',
      url: `${base}/executions`,
      payload: { pipeline: 'hello', storage: 'local' },
    });
    expect(started.statusCode, started.body).toBe(201);
    await f.server.engine.waitForExecution(started.json<ExecutionDetailsDto>().id);

    // A blob dir this server cannot write is shown as such.
    if (process.getuid?.() !== 0) {
      await chmod(join(dataDir, 'blob'), 0o500);
      try {
        expect((await inject({ url: '/api/platforms' })).json<PlatformsResponse>().storage).toEqual([
          {
            id: 'local',
            name: 'Local blob store',
            available: false,
            reason: `the blob dir ${join(dataDir, 'blob')} (blob.dir) cannot be written by this server`,
          },
        ]);
      } finally {
        await chmod(join(dataDir, 'blob'), 0o700);
      }
    }
  });

  it('S3 storage: the bucket is offered, local is listed as not configured and refused; a pipeline runs there', async () => {
    const b = bucket.current;
    f = await startFixture({
      env: cleanEnv({ DEEPFORGE_LOG_LEVEL: 'warn', ...(testS3Env() as Record<string, string>) }),
      settings: { python: TEST_PYTHON, 'executions.concurrency': 4, ...b.settings('srv') },
    });
    const platforms = (await inject({ url: '/api/platforms' })).json<PlatformsResponse>();
    expect(platforms.storage).toEqual([
      { id: 's3', name: `S3: s3://${b.bucket}/srv at ${b.endpoint}`, available: true },
      {
        id: 'local',
        name: 'Local blob store',
        available: false,
        reason: `not configured: this server stores artifacts in s3://${b.bucket}/srv at ${b.endpoint} (storage.backend = s3)`,
      },
    ]);
    const p = await f.createProject({ name: 'on s3', example: 'hello' });
    const base = `/api/projects/${p.id}`;

    const refused = await upload(base, 'name=numbers&storage=local', 'I6\n.');
    expect(refused.statusCode).toBe(400);
    expect(refused.json<ApiError>().message).toMatch(
      /^query.storage: storage "local" is not configured on this server: it stores artifacts in s3:\/\//,
    );
    const stored = await upload(base, 'name=numbers&storage=s3', 'I6\n.');
    expect(stored.statusCode, stored.body).toBe(201);
    const hash = stored.json<ArtifactDto>().hash;
    const hex = hash.slice('sha256:'.length);
    expect(await listTestKeys(b.client, b.bucket, 'srv/')).toEqual([`srv/sha256/${hex.slice(0, 2)}/${hex}`]);

    expect(
      (
        await inject({
          method: 'POST',
          url: `${base}/executions`,
          payload: { pipeline: 'hello', storage: 'local' },
        })
      ).statusCode,
    ).toBe(400);
    // The example's operations read their inputs from the bucket, through the input cache.
    const started = await inject({
      method: 'POST',
      url: `${base}/executions`,
      payload: { pipeline: 'hello', storage: 's3' },
    });
    expect(started.statusCode, started.body).toBe(201);
    const done = await f.server.engine.waitForExecution(started.json<ExecutionDetailsDto>().id);
    expect(done?.status, JSON.stringify(done?.jobs.map((j) => [j.node, j.status, j.error]))).toBe('success');
    expect((await readdir(join(f.dataDir, 'cache', 'sha256'))).length).toBeGreaterThan(0);
  });
});
