import { once } from 'node:events';
import { join } from 'node:path';
import { afterEach, beforeEach, expect, it } from 'vitest';
import {
  TEST_PYTHON,
  chain,
  cleanEnv,
  makeTempDir,
  py,
  removeTree,
  useTestDatabase,
  writeProjectFolder,
} from '@deepforge/engine/test-support';
import { createServer, type DeepForgeServer } from '@deepforge/server';
import { spawnCli } from './test-support/run-cli.js';

/**
 * Remote workers with the server on PostgreSQL (ADR 0011): leases, heartbeats and their expiry in the same
 * database as everything else. A job's worker is killed with SIGKILL mid-job; its lease expires in PostgreSQL and
 * a second worker runs the job under lease 2.
 */
const database = useTestDatabase('workers');

let tmp: string;
let server: DeepForgeServer | undefined;
const children: ReturnType<typeof spawnCli>[] = [];

beforeEach(async () => {
  tmp = await makeTempDir('cli-worker-pg');
});
afterEach(async () => {
  for (const c of children.splice(0)) {
    if (c.exitCode === null && c.signalCode === null) {
      c.kill('SIGKILL');
      await once(c, 'exit');
    }
  }
  await server?.close();
  server = undefined;
  await removeTree(tmp);
});

it('runs leased jobs with the server on PostgreSQL, and runs a lost worker’s job again on another', async () => {
  server = await createServer({
    dataDir: join(tmp, 'server'),
    env: cleanEnv(),
    compute: 'none',
    settings: {
      python: TEST_PYTHON,
      'database.url': await database.fresh(),
      'workers.leaseTimeout': 2,
      'executions.onRestart': 'requeue',
    },
  });
  const url = await server.listen(0, '127.0.0.1');
  const engine = server.engine;
  const worker = async (name: string) => {
    const { token } = await engine.workerTokens.create(name, 'test');
    const child = spawnCli(
      [
        'worker',
        '--server',
        url,
        '--name',
        name,
        '--work-dir',
        join(tmp, `work-${name}`),
        '--data-dir',
        join(tmp, name),
      ],
      cleanEnv({
        DEEPFORGE_PYTHON: TEST_PYTHON,
        DEEPFORGE_WORKER_TOKEN: token,
        DEEPFORGE_WARM_WORKER: 'false',
      }),
    );
    children.push(child);
    return child;
  };
  const dir = await writeProjectFolder(join(tmp, 'project'), {
    operations: {
      Slow: py(
        'import time',
        'class Slow():',
        '    def execute(self):',
        '        print("slow started", flush=True)',
        '        time.sleep(3)',
        '        slowed = 7',
        '        return slowed',
      ),
    },
    pipelines: {
      main: chain(
        [
          { id: 'slow', operation: 'Slow' },
          { id: 'save', operation: 'Output', attributes: { saveName: 'seven' } },
        ],
        [['slow.slowed', 'save.data']],
      ),
    },
  });
  const { project } = await engine.loadProjectFolder(dir);
  const run = await engine.startExecution({ project, pipelineName: 'main', projectDir: dir });
  const first = await worker('w1');
  const log = async () => (await engine.readJobLog(run.id, 'slow')).text;
  for (let i = 0; !/slow started/.test(await log()); i++) {
    if (i > 600) throw new Error(`the job never started on w1: ${await log()}`);
    await new Promise((r) => setTimeout(r, 50));
  }
  first.kill('SIGKILL');
  await worker('w2');
  const done = await run.done;
  expect(done.status, await log()).toBe('success');
  expect(await log()).toMatch(/worker w1 was lost[^]*leased to worker w2 \(lease 2\)/);
  expect((await engine.getArtifact('seven')).size).toBeGreaterThan(0);
});
