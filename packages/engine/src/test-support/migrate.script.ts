// `deepforge migrate` in a process of its own, to be killed: `migrate.script.ts <data dir> <database url>
// <destination blob dir> <pause at>`. Prints each progress event as a JSON line; at the event that `pause at`
// names (`blob:<index>` or `rows:<table>:<rows>`; `-` for none) it prints PAUSED and waits to be killed.
import { migrateInstallation, type MigrationEvent } from '../migrate/installation-migration.js';
import { LocalBlobStorage } from '../storage/local-blob.storage.js';

const [dataDir, databaseUrl, blobDir, pauseAt] = process.argv.slice(2);

function matches(e: MigrationEvent): boolean {
  if (e.type === 'blob') return pauseAt === `blob:${e.index}`;
  if (e.type === 'rows') return pauseAt === `rows:${e.table}:${e.rows}`;
  return false;
}

const storage = new LocalBlobStorage(blobDir!);
await storage.init();
const report = await migrateInstallation({
  dataDir: dataDir!,
  env: process.env,
  databaseUrl: databaseUrl!,
  storage: { storage, description: blobDir! },
  // One row per batch: many commits, so there is a middle of a table to be killed in.
  batchRows: 1,
  onProgress: async (e) => {
    process.stdout.write(`${JSON.stringify(e)}\n`);
    if (matches(e)) {
      process.stdout.write('PAUSED\n');
      setInterval(() => undefined, 1000);
      await new Promise(() => undefined);
    }
  },
});
process.stdout.write(`${JSON.stringify({ type: 'report', report })}\n`);
