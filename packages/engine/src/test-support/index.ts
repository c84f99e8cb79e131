/**
 * Helpers for tests of the engine and of the packages built on it (CLI, server): temp data dirs, project folders
 * written as a user would have them, a clean environment. Exported as `@deepforge/engine/test-support`.
 */
export { makeTempDir, removeTree, TEST_PYTHON } from './temp-dir.js';
export { chain, cleanEnv, py, REPORTING_CHAIN, writeProjectFolder } from './project-files.js';
export type { TestProjectFiles } from './project-files.js';
export {
  createTestDatabase,
  emptyTestDatabase,
  findPostgresBin,
  startTestPostgres,
  useTestDatabase,
} from './postgres-server.js';
export type {
  FileTestDatabase,
  TestDatabase,
  TestPostgresOptions,
  TestPostgresServer,
} from './postgres-server.js';
export {
  createTestBucket,
  listTestKeys,
  startFlakyProxy,
  startTestS3,
  testS3Client,
  testS3Endpoint,
  testS3Env,
  useTestBucket,
  TEST_S3_CREDENTIALS,
} from './s3-server.js';
export type { FlakyProxy, TestBucket, TestS3Server } from './s3-server.js';
export { slurmInstalled, startTestSlurm, testSlurmConf } from './slurm-server.js';
export type { TestSlurmCluster } from './slurm-server.js';
export { describeComputeConformance } from '../compute/compute.conformance.js';
export type { ComputeConformanceOptions } from '../compute/compute.conformance.js';
export { buildTestWheel } from './test-wheel.js';
