import { useTestDatabase } from '../test-support/postgres-server.js';
import type { DatabaseStores } from './database.store.js';
import { describeDocumentStoreConformance } from './document.store.conformance.js';
import { openPostgresStores } from './postgres.store.js';

const database = useTestDatabase('docstore');

describeDocumentStoreConformance('PostgreSQL', async () => {
  const url = await database.fresh();
  let stores: DatabaseStores = await openPostgresStores(url);
  return {
    store: stores.documents,
    reopen: async () => {
      await stores.close();
      stores = await openPostgresStores(url);
      return stores.documents;
    },
    cleanup: () => stores.close(),
  };
});
