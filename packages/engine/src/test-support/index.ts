/**
 * Helpers for tests of the engine and of the packages built on it (CLI, server): temp data dirs, project folders
 * written as a user would have them, a clean environment. Exported as `@deepforge/engine/test-support`.
 */
export { makeTempDir, removeTree, TEST_PYTHON } from './temp-dir.js';
export { chain, cleanEnv, py, writeProjectFolder } from './project-files.js';
export type { TestProjectFiles } from './project-files.js';
export {
  createTestDatabase,
  emptyTestDatabase,
  findPostgresBin,
  startTestPostgres,
  useTestDatabase,
} from './postgres-server.js';
export type { FileTestDatabase, TestDatabase, TestPostgresServer } from './postgres-server.js';
