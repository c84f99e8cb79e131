import { resolve } from 'node:path';
import type { Command } from 'commander';
import { InvalidArgumentError } from 'commander';
import {
  DATA_DIR_ENV,
  migrateInstallation,
  resolveDataDir,
  type MigrationEvent,
  type MigrationReport,
} from '@deepforge/engine';
import type { CliContext } from '../cli-context.js';
import { formatBytes, formatDuration, table } from '../render/format.js';

interface MigrateOptions {
  database: string;
  storage?: 's3';
  dataDir?: string;
  restart?: boolean;
}

/** While a table takes longer than this, a line says how far it got. */
const PROGRESS_EVERY_MS = 5000;

function storageOption(value: string): 's3' {
  if (value === 's3') return value;
  throw new InvalidArgumentError(
    `expected "s3" (the bucket of the storage.s3.* settings), got ${JSON.stringify(value)}; without --storage the blobs stay in blob.dir`,
  );
}

export function registerMigrateCommand(program: Command, ctx: CliContext): void {
  program
    .command('migrate')
    .description(
      "copy this data dir's embedded installation (its SQLite database, and with --storage its blobs) into PostgreSQL",
    )
    .requiredOption(
      '--database <url>',
      'the PostgreSQL database to copy into: postgres://user:password@host:5432/database (it must exist)',
    )
    .option(
      '--storage <backend>',
      'also copy the blobs: s3 = the bucket of the storage.s3.* settings',
      storageOption,
    )
    .option('--data-dir <dir>', 'the data dir to migrate (default: DEEPFORGE_DATA_DIR or ~/.deepforge)')
    .option(
      '--restart',
      'empty the destination of an unfinished migration of this installation and start over',
    )
    .addHelpText(
      'after',
      `
The data dir is only read. Stop every DeepForge using it first (a running one is refused). Projects, documents,
executions with their jobs, outputs and telemetry, artifacts and accounts are copied; console logs, code snapshots
and secret.key stay in the data dir, which keeps being used with the new database. Interrupted, it continues where
it stopped when run again; at the end every table is compared (rows and contents) and every copied blob read back
and hashed. Run again after it finished, it checks the copy and changes nothing.

To keep the password out of ps and the shell history, leave it out of the URL and set PGPASSWORD.

Examples:
  deepforge migrate --database postgres://deepforge@db.lab/deepforge
  deepforge migrate --database postgres://deepforge@db.lab/deepforge --storage s3`,
    )
    .action(async (opts: MigrateOptions) => {
      const dataDir = resolveDataDir({
        ...(opts.dataDir !== undefined ? { dataDir: resolve(ctx.cwd, opts.dataDir) } : {}),
        env: ctx.env,
      });
      const out = (line = ''): void => {
        ctx.out.write(`${line}\n`);
      };
      let lastLine = Date.now();
      const onProgress = (e: MigrationEvent): void => {
        switch (e.type) {
          case 'start':
            out(`Migrating ${e.source}`);
            out(`  into ${e.destination}`);
            if (e.storage) out(`  blobs into ${e.storage}`);
            if (e.resumedFrom !== null) {
              out(`  continuing the migration begun ${new Date(e.resumedFrom).toISOString()}`);
            }
            break;
          case 'blobs':
            out(
              `blobs: ${e.referenced} named by artifacts and outputs (${formatBytes(e.bytes)})` +
                (e.missing > 0 ? `, ${e.missing} of them missing` : ''),
            );
            break;
          case 'blob':
            out(
              `  ${blobOutcome(e.outcome).padEnd(14)} ${e.hash}` +
                `${e.size === undefined ? '' : `  ${formatBytes(e.size)}`}  (${e.index}/${e.total})`,
            );
            break;
          case 'rows':
            if (e.done) {
              out(
                `  ${e.table.padEnd(17)} ${String(e.rows).padStart(8)} ${rowsWord(e.rows)}${copiedNote(e.copied, e.rows)}`,
              );
              lastLine = Date.now();
            } else if (Date.now() - lastLine >= PROGRESS_EVERY_MS) {
              out(`  ${e.table.padEnd(17)} ${String(e.rows).padStart(8)} of ${e.total} rows…`);
              lastLine = Date.now();
            }
            break;
          case 'verified':
            out(
              `verified: ${e.tables} tables, ${e.rows} rows (counts and contents compared)` +
                (e.blobs > 0 ? `, ${e.blobs} blobs read back and hashed` : ''),
            );
            break;
          default: {
            const never: never = e;
            return never;
          }
        }
      };
      let rowsHeader = false;
      const report = await migrateInstallation({
        dataDir,
        env: ctx.env,
        databaseUrl: opts.database,
        ...(opts.storage ? { storage: opts.storage } : {}),
        ...(opts.restart ? { restart: true } : {}),
        onProgress: (e) => {
          if (e.type === 'rows' && !rowsHeader) {
            rowsHeader = true;
            out('rows:');
          }
          onProgress(e);
        },
      });
      printSummary(ctx, report, opts.dataDir !== undefined ? dataDir : undefined);
    });
}

function blobOutcome(outcome: Extract<MigrationEvent, { type: 'blob' }>['outcome']): string {
  switch (outcome) {
    case 'copied':
      return 'copied';
    case 'present':
      return 'already there';
    case 'verified-before':
      return 'done before';
    case 'missing':
      return 'MISSING';
    case 'corrupt':
      return 'CORRUPT';
    default: {
      const never: never = outcome;
      return never;
    }
  }
}

function rowsWord(n: number): string {
  return n === 1 ? 'row' : 'rows';
}

function copiedNote(copied: number, rows: number): string {
  if (copied === rows) return '';
  return copied === 0 ? ' (copied before)' : ` (${copied} now, ${rows - copied} before)`;
}

function printSummary(ctx: CliContext, r: MigrationReport, dataDirGiven: string | undefined): void {
  const out = (line = ''): void => {
    ctx.out.write(`${line}\n`);
  };
  if (r.outcome === 'already-migrated') {
    out(`Already migrated: ${r.source} was copied into ${r.destination}`);
    out(`(finished ${new Date(r.finishedAt).toISOString()}); it still matches, nothing was written.`);
    out(
      table(
        r.tables.map((t) => [`  ${t.table}`, `${t.rows} ${rowsWord(t.rows)}`]),
        1,
      ),
    );
  } else {
    out(`Done in ${formatDuration(r.elapsedMs)}.`);
  }
  if (r.blobs.missing.length > 0) {
    ctx.err.write(
      `warning: ${r.blobs.missing.length} blob(s) named by artifacts or outputs are not in ${r.blobsLeftIn ?? 'the blob directory'} ` +
        `(${r.blobs.missing.slice(0, 5).join(', ')}${r.blobs.missing.length > 5 ? ', …' : ''}): their artifacts ` +
        'could not be read before the migration either\n',
    );
  }
  if (r.blobs.corrupt.length > 0) {
    ctx.err.write(
      `warning: ${r.blobs.corrupt.length} blob(s) do not hash to their names and were not copied ` +
        `(${r.blobs.corrupt.slice(0, 5).join(', ')}${r.blobs.corrupt.length > 5 ? ', …' : ''})\n`,
    );
  }
  out();
  out(`Staying in ${r.dataDir}, which the new database keeps using: console logs and code snapshots`);
  out('(executions/), secret.key (it decrypts project secrets), config.json and credentials.json.');
  if (r.blobsLeftIn) out(`The blobs stay in ${r.blobsLeftIn}.`);
  out();
  const prefix = dataDirGiven ? `${DATA_DIR_ENV}=${shellQuote(dataDirGiven)} ` : '';
  out('To use it:');
  out(`  ${prefix}deepforge config database.url ${shellQuote(r.destination)}`);
  if (r.storage && r.storage.startsWith('s3://')) out(`  ${prefix}deepforge config storage.backend s3`);
  if (r.destination.includes(':***@')) {
    out(
      "(put the password in place of ***, or keep it out of config.json: set DEEPFORGE_DATABASE_URL in DeepForge's",
    );
    out('environment instead)');
  }
}

function shellQuote(s: string): string {
  return /^[A-Za-z0-9_./:@%+=,-]+$/.test(s) ? s : `'${s.replace(/'/g, `'\\''`)}'`;
}
