/**
 * The runner store port: the engine processes driving executions on this database, each with a heartbeat, so
 * that another engine can tell when one died (runner.service.ts). Every adapter passes runner.store.conformance.ts;
 * adapter: kysely-runner.store.ts on SQLite and PostgreSQL.
 */

export interface RunnerRecord {
  id: string;
  pid: number;
  host: string;
  startedAt: number;
  heartbeatAt: number;
}

export interface RunnerStore {
  /** Fails when a runner with that id is registered already. */
  registerRunner(runner: RunnerRecord): Promise<void>;
  /** False when the runner's record is gone (another engine declared it dead). */
  heartbeatRunner(id: string, t: number): Promise<boolean>;
  /** Oldest first. */
  listRunners(): Promise<RunnerRecord[]>;
  /** Removing one that is not there is not an error. */
  removeRunner(id: string): Promise<void>;
}
