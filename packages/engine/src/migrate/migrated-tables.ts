import type { Database } from '../store/kysely.database.js';

/** The tables `deepforge migrate` copies: every table of the schema but `runners` and `job_leases`. */
export type MigratedTable = Exclude<keyof Database, 'runners' | 'job_leases'>;

/**
 * Each copied table with its primary key, parents before children (PostgreSQL checks the foreign keys as rows
 * arrive). Typed over the schema: a table added to kysely.database.ts does not compile until it is listed here.
 *
 * `runners` is left out on purpose: its rows are the engine processes of the source machine, not data. A job or an
 * execution that a dead source runner left active names a runner id that nobody registers in the new database,
 * which the first engine opened on it recovers as dead (runner.service.ts), as it would have on the source.
 * `job_leases` likewise: a lease is held by a worker connected to the source's server, which recovery ends.
 */
const TABLE_KEYS: { readonly [T in MigratedTable]: readonly (keyof Database[T] & string)[] } = {
  projects: ['id'],
  document_updates: ['document', 'seq'],
  users: ['id'],
  sessions: ['id_hash'],
  access_tokens: ['id'],
  worker_tokens: ['id'],
  project_members: ['project_id', 'user_id'],
  audit_log: ['id'],
  project_secrets: ['project_id', 'name'],
  executions: ['id'],
  jobs: ['id'],
  job_outputs: ['job_id', 'name'],
  metric_series: ['id'],
  metric_blocks: ['series_id', 'block'],
  metric_buckets: ['series_id', 'level', 'bucket'],
  plots: ['job_id', 'figure'],
  progress: ['job_id', 'bar'],
  artifacts: ['id'],
};

export interface TableSpec {
  table: MigratedTable;
  /** Primary key columns; empty for a table without one. */
  key: readonly string[];
}

/** In copy order (parents first). */
export const MIGRATED_TABLES: readonly TableSpec[] = (Object.keys(TABLE_KEYS) as MigratedTable[]).map(
  (table) => ({ table, key: TABLE_KEYS[table] }),
);
