import { useTestDatabase } from '../test-support/postgres-server.js';
import type { ExecutionStore } from './execution.store.js';
import { openPostgresStores } from './postgres.store.js';
import { describeExecutionStoreConformance } from './store.conformance.js';

const database = useTestDatabase('store');

describeExecutionStoreConformance('PostgreSQL', async () => {
  const url = await database.fresh();
  let store: ExecutionStore = (await openPostgresStores(url)).executions;
  return {
    store,
    reopen: async () => {
      await store.close();
      store = (await openPostgresStores(url)).executions;
      return store;
    },
    cleanup: () => store.close(),
  };
});
