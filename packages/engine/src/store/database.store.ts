import type { AccountStore } from '../accounts/account.store.js';
import type { ArtifactStore } from './artifact.store.js';
import type { DocumentStore } from './document.store.js';
import type { ExecutionStore } from './execution.store.js';
import type { ProjectStore } from './project.store.js';
import type { RunnerStore } from './runner.store.js';
import type { TelemetryStore } from './telemetry.store.js';
import type { WorkerStore } from './worker.store.js';

/** The SQL dialects DeepForge's stores run on (ADR 0010). */
export type DatabaseDialect = 'sqlite' | 'postgres';

/** What the engine keeps about executions, on one database: the ports its scheduler and services use. */
export interface EngineStores {
  executions: ExecutionStore;
  artifacts: ArtifactStore;
  telemetry: TelemetryStore;
  runners: RunnerStore;
  /** Worker tokens and the leases of jobs on remote workers (docs/adr/0015). */
  workers: WorkerStore;
}

/** Every store of one database, sharing its connection (SQLite) or pool (PostgreSQL); `close` closes them all. */
export interface DatabaseStores extends EngineStores {
  dialect: DatabaseDialect;
  accounts: AccountStore;
  documents: DocumentStore;
  projects: ProjectStore;
  close(): Promise<void>;
}
