import { findRuntimeDir } from '@deepforge/engine';
import { cleanEnv, TEST_PYTHON } from '@deepforge/engine/test-support';
import { WorkerAgent, type WorkerAgentOptions } from '../workers/worker.agent.js';

/**
 * A worker in this process, started: Debian's Python, no labels, no warm worker, a 1 GiB input cache, reporting
 * nowhere, unless `options` say otherwise.
 */
export function startTestAgent(
  options: Pick<WorkerAgentOptions, 'serverUrl' | 'token' | 'workDir' | 'slots'> &
    Partial<WorkerAgentOptions>,
): WorkerAgent {
  const agent = new WorkerAgent({
    labels: [],
    python: TEST_PYTHON,
    runtimeDir: findRuntimeDir(),
    env: cleanEnv(),
    warmWorker: false,
    cacheMaxBytes: 1024 ** 3,
    killGraceMs: 500,
    report: () => undefined,
    ...options,
  });
  agent.start();
  return agent;
}
