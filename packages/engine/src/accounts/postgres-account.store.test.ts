import type { DatabaseStores } from '../store/database.store.js';
import { openPostgresStores } from '../store/postgres.store.js';
import { useTestDatabase } from '../test-support/postgres-server.js';
import { describeAccountStoreConformance } from './account.store.conformance.js';

const database = useTestDatabase('accounts');

describeAccountStoreConformance('PostgreSQL', async () => {
  const url = await database.fresh();
  let stores: DatabaseStores = await openPostgresStores(url);
  return {
    store: stores.accounts,
    reopen: async () => {
      await stores.close();
      stores = await openPostgresStores(url);
      return stores.accounts;
    },
    cleanup: () => stores.close(),
  };
});
