import type { AccountStore } from '../accounts/account.store.js';
import type { DocumentStore } from './document.store.js';
import type { KyselyExecutionStore } from './kysely.store.js';
import type { ProjectStore } from './project.store.js';

/** The SQL dialects DeepForge's stores run on (ADR 0010). */
export type DatabaseDialect = 'sqlite' | 'postgres';

/** Every store of one database, sharing its connection (SQLite) or pool (PostgreSQL); `close` closes them all. */
export interface DatabaseStores {
  dialect: DatabaseDialect;
  executions: KyselyExecutionStore;
  accounts: AccountStore;
  documents: DocumentStore;
  projects: ProjectStore;
  close(): Promise<void>;
}
