import { join } from 'node:path';
import type { SettingsValues } from '../settings.js';
import type { DatabaseStores } from './database.store.js';
import { openSqliteStores } from './sqlite.store.js';

/** The database file of the embedded store, in the data dir. */
export const SQLITE_FILE_NAME = 'deepforge.db';

/**
 * Opens the database the settings choose: `database.url` unset is the embedded SQLite file in the data dir, a
 * `postgres://` URL that PostgreSQL database. Either way the schema is brought up to date first, and a schema
 * written by a newer DeepForge is refused.
 */
export async function openDatabase(settings: {
  dataDir: string;
  values: Pick<SettingsValues, 'database.url'>;
}): Promise<DatabaseStores> {
  const url = settings.values['database.url'];
  if (url === undefined) return openSqliteStores(join(settings.dataDir, SQLITE_FILE_NAME));
  // Loaded when used: an engine on SQLite (every `deepforge run` by default) does not load PostgreSQL's driver.
  const { openPostgresStores } = await import('./postgres.store.js');
  return openPostgresStores(url);
}
