import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openSqliteStores, type SqliteStores } from '../store/sqlite.store.js';
import { describeAccountStoreConformance } from './account.store.conformance.js';

describeAccountStoreConformance('SQLite', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'df-accounts-'));
  const file = join(dir, 'deepforge.db');
  let stores: SqliteStores = await openSqliteStores(file);
  return {
    store: stores.accounts,
    reopen: async () => {
      await stores.close();
      stores = await openSqliteStores(file);
      return stores.accounts;
    },
    cleanup: async () => {
      await stores.close();
      await rm(dir, { recursive: true, force: true });
    },
  };
});
