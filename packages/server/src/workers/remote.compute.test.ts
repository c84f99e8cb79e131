import { join } from 'node:path';
import type { Compute } from '@deepforge/engine';
import {
  TEST_PYTHON,
  cleanEnv,
  describeComputeConformance,
  makeTempDir,
  removeTree,
} from '@deepforge/engine/test-support';
import { createServer, type DeepForgeServer } from '../server.app.js';
import type { WorkerAgent } from './worker.agent.js';
import { startTestAgent } from '../test-support/worker-agent.js';

/**
 * RemoteCompute passes the compute port's conformance suite: a `--server` server on loopback, and a worker (in
 * this process, so its jobs' pids and files are visible here) that connects to it with a worker token. Every job
 * of the suite goes through the lease, the socket, the worker's local compute and back.
 */
async function remoteHarness(): Promise<{ server: DeepForgeServer; agent: WorkerAgent; root: string }> {
  const root = await makeTempDir('remote-compute');
  const server = await createServer({
    dataDir: join(root, 'server'),
    env: cleanEnv(),
    compute: 'none',
    settings: { python: TEST_PYTHON, 'workers.leaseTimeout': 10 },
  });
  const url = await server.listen(0, '127.0.0.1');
  const { token } = await server.engine.workerTokens.create('conformance', 'test');
  const agent = startTestAgent({
    serverUrl: url,
    token,
    slots: 4,
    workDir: join(root, 'worker'),
  });
  const compute = server.engine.remoteCompute!;
  for (let i = 0; compute.listWorkers().length === 0; i++) {
    if (i > 400) throw new Error('the worker never connected');
    await new Promise((r) => setTimeout(r, 25));
  }
  return { server, agent, root };
}

describeComputeConformance(
  'RemoteCompute, a worker on loopback',
  (): Compute => {
    const ready = remoteHarness();
    return {
      start: async (request, handlers) => (await ready).server.engine.remoteCompute!.start(request, handlers),
      close: async () => {
        const { server, agent, root } = await ready;
        await agent.stop();
        await server.close();
        await removeTree(root);
      },
    };
  },
  { workerOwnsWorkDirAndPython: true },
);
