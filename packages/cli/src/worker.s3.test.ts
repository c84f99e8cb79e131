import { once } from 'node:events';
import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, beforeEach, expect, it } from 'vitest';
import {
  TEST_PYTHON,
  chain,
  cleanEnv,
  py,
  listTestKeys,
  makeTempDir,
  removeTree,
  testS3Env,
  useTestBucket,
  writeProjectFolder,
} from '@deepforge/engine/test-support';
import { createServer, type DeepForgeServer } from '@deepforge/server';
import { spawnCli } from './test-support/run-cli.js';

/**
 * Remote workers with `storage.backend = s3` (ADR 0015): a worker reads its inputs from the bucket and stores its
 * outputs there itself, with its own credentials; nothing of them goes through the server, which records the
 * outputs once the bucket has them, whole.
 */
const bucket = useTestBucket('workers');

/** Input six → Double → Output `result`. */
const PROJECT = {
  operations: {
    Double: py(
      'class Double():',
      '    def execute(self, x):',
      '        doubled = x * 2',
      '        return doubled',
    ),
  },
  artifacts: { six: { file: 'six.pkl', type: 'builtins.int' } },
  files: { 'artifacts/six.pkl': 'I6\n.' },
  pipelines: {
    main: chain(
      [
        { id: 'six', operation: 'Input', attributes: { artifact: 'six' } },
        { id: 'double', operation: 'Double' },
        { id: 'save', operation: 'Output', attributes: { saveName: 'result' } },
      ],
      [
        ['six.data', 'double.x'],
        ['double.doubled', 'save.data'],
      ],
    ),
  },
};
const s3Env = testS3Env() as Record<string, string>;

let tmp: string;
let server: DeepForgeServer | undefined;
let child: ReturnType<typeof spawnCli> | undefined;

beforeEach(async () => {
  tmp = await makeTempDir('cli-worker-s3');
});
afterEach(async () => {
  if (child && child.exitCode === null && child.signalCode === null) {
    child.kill('SIGKILL');
    await once(child, 'exit');
  }
  await server?.close();
  server = undefined;
  await removeTree(tmp);
});

it('moves a job’s inputs and outputs straight between the worker and the bucket', async () => {
  const prefix = `run-${Date.now()}`;
  server = await createServer({
    dataDir: join(tmp, 'server'),
    env: cleanEnv(s3Env),
    compute: 'none',
    settings: { python: TEST_PYTHON, 'workers.leaseTimeout': 5, ...bucket.current.settings(prefix) },
  });
  const url = await server.listen(0, '127.0.0.1');
  const engine = server.engine;
  // Every request the server gets, beside Fastify's own handling of it.
  const urls: string[] = [];
  server.app.server.on('request', (req: { url?: string }) => urls.push(req.url ?? ''));
  const { token } = await engine.workerTokens.create('s3', 'test');
  let out = '';
  child = spawnCli(
    [
      'worker',
      '--server',
      url,
      '--name',
      's3',
      '--work-dir',
      join(tmp, 'work'),
      '--data-dir',
      join(tmp, 'w'),
    ],
    cleanEnv({
      ...s3Env,
      DEEPFORGE_PYTHON: TEST_PYTHON,
      DEEPFORGE_WORKER_TOKEN: token,
      DEEPFORGE_WARM_WORKER: 'false',
    }),
  );
  child.stdout!.on('data', (c: Buffer) => (out += c.toString()));
  child.stderr!.on('data', (c: Buffer) => (out += c.toString()));
  const dir = await writeProjectFolder(join(tmp, 'project'), PROJECT);
  const { project } = await engine.loadProjectFolder(dir);
  const run = await engine.startExecution({ project, pipelineName: 'main', projectDir: dir });
  const done = await run.done;
  const log = (await engine.readJobLog(run.id, 'double')).text;
  expect(done.status, `${log}\n${out}`).toBe('success');
  expect(log).toMatch(/straight from and to s3:\/\//);
  // The outputs are in the bucket under their content ids, and the saved artifact reads back through the server.
  const keys = await listTestKeys(bucket.current.client, bucket.current.bucket, prefix);
  for (const job of done.jobs.filter((j) => j.node === 'double')) {
    for (const o of job.outputs) expect(keys.some((k) => k.endsWith(o.hash.split(':')[1]!))).toBe(true);
  }
  const chunks: Buffer[] = [];
  for await (const c of await engine.openArtifact('result')) chunks.push(c as Buffer);
  expect(Buffer.concat(chunks).length).toBeGreaterThan(0);
  // The server made no copy of the inputs either (no input cache of its own: the worker reads by content id).
  const cached = await readdir(join(tmp, 'server', 'cache'), { recursive: true, withFileTypes: true }).catch(
    () => [],
  );
  expect(cached.filter((e) => e.isFile()).map((e) => e.name)).toEqual([]);
  // Nothing of them went through the server's worker routes (and the listener does see requests).
  await fetch(`${url}/api/health`);
  expect(urls).toContain('/api/health');
  expect(urls.filter((u) => /^\/api\/workers\/(blobs|jobs)\//.test(u))).toEqual([]);
});
