import type { TestProject } from 'vitest/node';
import { findPostgresBin, startTestPostgres } from '../packages/engine/src/test-support/postgres-server.js';

/**
 * One real PostgreSQL for the whole test run (initdb into a temp dir, 127.0.0.1 and a free port), torn down after
 * it; each test file that needs it creates a database of its own there (createTestDatabase). Without PostgreSQL's
 * binaries nothing starts here, and the files that need it say how to install it when they run.
 */
export default async function setup(project: TestProject): Promise<(() => Promise<void>) | undefined> {
  if (!findPostgresBin()) return undefined;
  const started = Date.now();
  const server = await startTestPostgres();
  project.provide('deepforgePostgresUrl', server.adminUrl);
  if (process.env.DEEPFORGE_TEST_TIMINGS) console.log(`[postgres] started in ${Date.now() - started} ms`);
  return () => server.stop();
}
