import type { TestProject } from 'vitest/node';
import { startTestS3 } from '../packages/engine/src/test-support/s3-server.js';

/**
 * One S3 emulator (s3rver, a devDependency) for the whole test run, on 127.0.0.1 and a free port, torn down after
 * it; each test file that needs it makes a bucket of its own there (createTestBucket). When it cannot start, the
 * files that need it start their own and say why that fails.
 */
export default async function setup(project: TestProject): Promise<(() => Promise<void>) | undefined> {
  const started = Date.now();
  let server;
  try {
    server = await startTestS3();
  } catch (err) {
    console.warn(`[s3] the S3 emulator did not start: ${(err as Error).message}`);
    return undefined;
  }
  project.provide('deepforgeS3Endpoint', server.endpoint);
  if (process.env.DEEPFORGE_TEST_TIMINGS) console.log(`[s3] started in ${Date.now() - started} ms`);
  return () => server.stop();
}
