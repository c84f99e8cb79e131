import { execFileSync } from 'node:child_process';
import { readdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { GetObjectCommand, PutObjectCommand } from '@aws-sdk/client-s3';
import { afterEach, describe, expect, it } from 'vitest';
import { openEngine } from '../engine.js';
import { engineFixture, type EngineFixture } from '../test-support/engine-fixture.js';
import { chain, cleanEnv, py } from '../test-support/project-files.js';
import {
  listTestKeys,
  startFlakyProxy,
  testS3Env,
  useTestBucket,
  type FlakyProxy,
} from '../test-support/s3-server.js';
import { makeTempDir, removeTree, TEST_PYTHON } from '../test-support/temp-dir.js';
import { contentHashOf } from './content-hasher.js';

const bucket = useTestBucket('engine');

/** s3rver checks the access key, not the secret: any secret passes, so one that must never be written anywhere. */
const SECRET = 'never-Written-Anywhere-8f3a1c';
const env = (): Record<string, string | undefined> =>
  cleanEnv(testS3Env({ AWS_SECRET_ACCESS_KEY: SECRET }) as Record<string, string>);

async function readAll(stream: Readable): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const c of stream) chunks.push(c as Buffer);
  return Buffer.concat(chunks);
}

function unpickle(bytes: Buffer): string {
  return execFileSync(TEST_PYTHON, ['-c', 'import pickle,sys;print(repr(pickle.load(sys.stdin.buffer)))'], {
    input: bytes,
    encoding: 'utf8',
  }).trim();
}

/** Every file under a directory. */
async function filesUnder(dir: string): Promise<string[]> {
  const out: string[] = [];
  for (const e of await readdir(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    if (e.isDirectory()) out.push(...(await filesUnder(p)));
    else if (e.isFile()) out.push(p);
  }
  return out;
}

function keyOf(prefix: string, hash: string): string {
  const [scheme, hex] = hash.split(':') as [string, string];
  return `${prefix}/${scheme}/${hex.slice(0, 2)}/${hex}`;
}

describe('engine on S3 storage (storage.backend = s3)', () => {
  let f: EngineFixture | undefined;
  let proxy: FlakyProxy | undefined;
  afterEach(async () => {
    await f?.cleanup();
    f = undefined;
    await proxy?.close();
    proxy = undefined;
  });

  it('runs a pipeline whose inputs are read from the bucket and whose outputs are stored there', async () => {
    const b = bucket.current;
    f = await engineFixture(b.settings('e2e'), { env: env() });
    const { dir, project } = await f.project({
      operations: {
        Make: py(
          'class Make():',
          '    def execute(self):',
          '        made = list(range(5))',
          '        return made',
        ),
      },
      artifacts: { six: { file: 'six.pkl', type: 'builtins.int' } },
      files: { 'artifacts/six.pkl': 'I6\n.' },
      pipelines: {
        main: chain(
          [
            { id: 'six', operation: 'Input', attributes: { artifact: 'six' } },
            { id: 'keep', operation: 'Output', attributes: { saveName: 'six-again' } },
            { id: 'make', operation: 'Make' },
            { id: 'save', operation: 'Output', attributes: { saveName: 'made' } },
          ],
          [
            ['six.data', 'keep.data'],
            ['make.made', 'save.data'],
          ],
        ),
      },
    });
    const started = await f.engine.startExecution({ project, projectDir: dir, pipelineName: 'main' });
    const done = await started.done;
    expect(done.jobs.map((j) => [j.node, j.status])).toEqual([
      ['six', 'success'],
      ['keep', 'success'],
      ['make', 'success'],
      ['save', 'success'],
    ]);
    expect(done.status).toBe('success');

    // Both artifacts are objects in the bucket, under their content ids; no local file stands for them.
    const six = await f.engine.getArtifact('six');
    const made = await f.engine.getArtifact('made');
    expect(six.hash).toBe(contentHashOf(Buffer.from('I6\n.')));
    expect(made.path).toBeUndefined();
    expect(await listTestKeys(b.client, b.bucket, 'e2e/')).toEqual(
      [keyOf('e2e', six.hash), keyOf('e2e', made.hash)].sort(),
    );
    const object = await b.client.send(
      new GetObjectCommand({ Bucket: b.bucket, Key: keyOf('e2e', made.hash) }),
    );
    const stored = Buffer.from(await object.Body!.transformToByteArray());
    expect(contentHashOf(stored)).toBe(made.hash);

    // Read back through the engine: the output, and the input saved again under a second name.
    expect(unpickle(await readAll(await f.engine.openArtifact('made')))).toBe('[0, 1, 2, 3, 4]');
    const again = await f.engine.getArtifact('six-again');
    expect(again.hash).toBe(six.hash);
    expect((await readAll(await f.engine.openArtifact('six-again'))).toString()).toBe('I6\n.');

    // The job's staging dir was emptied into the bucket, and the blob dir holds no blob.
    const blobDir = join(f.dataDir, 'blob');
    expect(await readdir(blobDir)).not.toContain('sha256');
    expect(await filesUnder(blobDir)).toEqual([]);

    // The credentials are in none of the files the engine wrote: database, job specs, logs, snapshots.
    await f.engine.close();
    for (const file of await filesUnder(f.dataDir)) {
      expect((await readFile(file)).includes(SECRET), file).toBe(false);
    }
  });

  /** Two operations reading the same input from the bucket, and their outputs saved. */
  const fanOut = {
    operations: {
      AddOne: py(
        'class AddOne():',
        '    def execute(self, data):',
        '        total = data + 1',
        '        return total',
      ),
      Twice: py(
        'class Twice():',
        '    def execute(self, data):',
        '        doubled = data * 2',
        '        return doubled',
      ),
    },
    pipelines: {
      main: chain(
        [
          { id: 'six', operation: 'Input', attributes: { artifact: 'six' } },
          { id: 'add', operation: 'AddOne' },
          { id: 'twice', operation: 'Twice' },
          { id: 'seven', operation: 'Output', attributes: { saveName: 'seven' } },
          { id: 'twelve', operation: 'Output', attributes: { saveName: 'twelve' } },
        ],
        [
          ['six.data', 'add.data'],
          ['six.data', 'twice.data'],
          ['add.total', 'seven.data'],
          ['twice.doubled', 'twelve.data'],
        ],
      ),
    },
  };

  async function logOf(executionId: string, node: string): Promise<string> {
    return (await f!.engine.readJobLog(executionId, node)).text;
  }

  it('runs operations on an input from the bucket: fetched once into the input cache, read there after', async () => {
    const b = bucket.current;
    f = await engineFixture(b.settings('inputs'), { env: env() });
    const sixFile = join(f.root, 'six.pkl');
    await writeFile(sixFile, 'I6\n.');
    const six = await f.engine.importArtifact(sixFile, 'six');
    const { dir, project } = await f.project(fanOut);

    const first = await (
      await f.engine.startExecution({ project, projectDir: dir, pipelineName: 'main', concurrency: 2 })
    ).done;
    expect(first.status).toBe('success');
    expect(unpickle(await readAll(await f.engine.openArtifact('seven')))).toBe('7');
    expect(unpickle(await readAll(await f.engine.openArtifact('twelve')))).toBe('12');
    // Both jobs wanted it at about the same time: one download, the other job read the same file.
    const logs = [await logOf(first.id, 'add'), await logOf(first.id, 'twice')].join('\n');
    const downloading = `[deepforge] input data (artifact "six", ${six.hash}): downloading 4 bytes from the artifact storage into the input cache`;
    expect(logs.split(downloading)).toHaveLength(2);
    expect(logs).toContain(`[deepforge] input data (artifact "six", ${six.hash}): read from the input cache`);

    // The next execution reads it from the cache: no download at all.
    const second = await (
      await f.engine.startExecution({ project, projectDir: dir, pipelineName: 'main' })
    ).done;
    expect(second.status).toBe('success');
    for (const node of ['add', 'twice']) {
      const log = await logOf(second.id, node);
      expect(log).toContain(`input data (artifact "six", ${six.hash}): read from the input cache`);
      expect(log).not.toContain('downloading');
    }
    // Read-only files under their content ids in <data dir>/cache, nothing half-written beside them: the input,
    // and the outputs of the last jobs, kept there as they were uploaded (the jobs that read them next on this
    // machine need no download).
    const cacheFile = (hash: string): string => {
      const [scheme, hex] = hash.split(':') as [string, string];
      return join(f!.dataDir, 'cache', scheme, hex.slice(0, 2), hex);
    };
    const seven = await f.engine.getArtifact('seven');
    const twelve = await f.engine.getArtifact('twelve');
    expect((await filesUnder(join(f.dataDir, 'cache'))).sort()).toEqual(
      [cacheFile(six.hash), cacheFile(seven.hash), cacheFile(twelve.hash)].sort(),
    );
    expect((await readFile(cacheFile(six.hash))).toString()).toBe('I6\n.');
    expect(unpickle(await readFile(cacheFile(seven.hash)))).toBe('7');
  });

  it('reads an output of the job before from the input cache: kept there as it was uploaded, no download', async () => {
    const b = bucket.current;
    f = await engineFixture(b.settings('handoff'), { env: env() });
    const { dir, project } = await f.project({
      operations: {
        Make: py(
          'class Make():',
          '    def execute(self):',
          '        made = [1, 2, 3]',
          '        return made',
        ),
        Total: py(
          'class Total():',
          '    def execute(self, data):',
          '        total = sum(data)',
          '        return total',
        ),
      },
      pipelines: {
        main: chain(
          [
            { id: 'make', operation: 'Make' },
            { id: 'total', operation: 'Total' },
            { id: 'save', operation: 'Output', attributes: { saveName: 'total' } },
          ],
          [
            ['make.made', 'total.data'],
            ['total.total', 'save.data'],
          ],
        ),
      },
    });
    const done = await (
      await f.engine.startExecution({ project, projectDir: dir, pipelineName: 'main' })
    ).done;
    expect(done.status).toBe('success');
    const made = done.jobs.find((j) => j.node === 'make')!.outputs.find((o) => o.name === 'made')!;
    const log = await logOf(done.id, 'total');
    expect(log).toContain(`read from the input cache`);
    expect(log).not.toContain('downloading');
    // In the bucket all the same, under its content id.
    expect(await listTestKeys(b.client, b.bucket, keyOf('handoff', made.hash))).toEqual([
      keyOf('handoff', made.hash),
    ]);
    expect(unpickle(await readAll(await f.engine.openArtifact('total')))).toBe('6');
  });

  it('fails only the job whose input is corrupt in the bucket, naming it; the object is quarantined', async () => {
    const b = bucket.current;
    f = await engineFixture(b.settings('corrupt'), { env: env() });
    const sixFile = join(f.root, 'six.pkl');
    await writeFile(sixFile, 'I6\n.');
    const six = await f.engine.importArtifact(sixFile, 'six');
    // Same length, other bytes: a stray writer or a failing server.
    await b.client.send(
      new PutObjectCommand({ Bucket: b.bucket, Key: keyOf('corrupt', six.hash), Body: 'I7\n.' }),
    );
    const { dir, project } = await f.project({
      operations: {
        ...fanOut.operations,
        Make: py('class Make():', '    def execute(self):', '        made = 5', '        return made'),
      },
      pipelines: {
        main: chain(
          [
            { id: 'six', operation: 'Input', attributes: { artifact: 'six' } },
            { id: 'add', operation: 'AddOne' },
            { id: 'seven', operation: 'Output', attributes: { saveName: 'seven' } },
            { id: 'make', operation: 'Make' },
            { id: 'save', operation: 'Output', attributes: { saveName: 'made' } },
          ],
          [
            ['six.data', 'add.data'],
            ['add.total', 'seven.data'],
            ['make.made', 'save.data'],
          ],
        ),
      },
    });
    const done = await (
      await f.engine.startExecution({ project, projectDir: dir, pipelineName: 'main' })
    ).done;
    expect(done.status).toBe('failed');
    const status = Object.fromEntries(done.jobs.map((j) => [j.node, j.status]));
    expect(status).toEqual({
      six: 'success',
      add: 'failed',
      seven: 'canceled',
      make: 'success',
      save: 'success',
    });
    const add = done.jobs.find((j) => j.node === 'add')!;
    expect(add.error?.kind).toBe('engine');
    expect(add.error?.message).toMatch(
      new RegExp(
        `^input data \\(artifact "six", ${six.hash}\\) could not be fetched: blob ${six.hash} is corrupt: ` +
          `its bytes hash to sha256:[0-9a-f]{64}, not to ${six.hash}; the object was moved to s3://`,
      ),
    );
    expect(await logOf(done.id, 'add')).toContain('[deepforge] failed: input data (artifact "six"');
    expect(await listTestKeys(b.client, b.bucket, 'corrupt/quarantine/')).toHaveLength(2);
    expect(await listTestKeys(b.client, b.bucket, keyOf('corrupt', six.hash))).toEqual([]);
    // Nothing of it in the input cache (only the output of make, kept there as it was uploaded).
    const madeHash = (await f.engine.getArtifact('made')).hash.split(':')[1]!;
    expect(await filesUnder(join(f.dataDir, 'cache'))).toEqual([
      join(f.dataDir, 'cache', 'sha256', madeHash.slice(0, 2), madeHash),
    ]);
  });

  it('refuses to open on a bucket that does not exist, naming the bucket and the endpoint', async () => {
    const root = await makeTempDir('engine-s3');
    try {
      const opening = openEngine({
        dataDir: join(root, 'data'),
        env: env(),
        settings: {
          ...bucket.current.settings(),
          'storage.s3.bucket': 'no-such-bucket',
          python: TEST_PYTHON,
        },
      });
      await expect(opening).rejects.toThrow(
        `the S3 bucket "no-such-bucket" does not exist at ${bucket.current.endpoint}`,
      );
      // Without a bucket at all, the setting is named.
      await expect(
        openEngine({
          dataDir: join(root, 'data'),
          env: env(),
          settings: { 'storage.backend': 's3', python: TEST_PYTHON },
        }),
      ).rejects.toThrow(/storage.s3.bucket/);
    } finally {
      await removeTree(root);
    }
  });

  it('records no artifact when the object store goes away mid-upload, and a retry succeeds', async () => {
    const b = bucket.current;
    proxy = await startFlakyProxy(Number(new URL(b.endpoint).port));
    f = await engineFixture({ ...b.settings('cut'), 'storage.s3.endpoint': proxy.endpoint }, { env: env() });
    const bytes = Buffer.alloc(20 * 1024 * 1024, 'd');
    bytes.write('a header', 0);
    const file = join(f.root, 'data.bin');
    await writeFile(file, bytes);

    const cut = proxy.cutAfter({ up: 12 * 1024 * 1024 });
    await expect(f.engine.importArtifact(file, 'dataset')).rejects.toThrow(
      /cannot (upload|store).*the server cannot be reached/,
    );
    await cut;
    await proxy.restore();
    expect(await f.engine.listArtifacts()).toEqual([]);
    expect(await listTestKeys(b.client, b.bucket, 'cut/')).toEqual([]);

    const imported = await f.engine.importArtifact(file, 'dataset');
    expect(imported.hash).toBe(contentHashOf(bytes));
    expect((await f.engine.listArtifacts()).map((a) => a.name)).toEqual(['dataset']);
    expect((await readAll(await f.engine.openArtifact('dataset'))).equals(bytes)).toBe(true);
  });
});
