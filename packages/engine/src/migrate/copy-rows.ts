import { createHash } from 'node:crypto';
import { sql, type Kysely } from 'kysely';
import { DatabaseError } from '../errors.js';
import type { Database, KyselyStoreOptions } from '../store/kysely.database.js';
import type { TableSpec } from './migrated-tables.js';
import { writeTableProgress, type MigrationTables } from './migration-progress.js';

type Row = Record<string, unknown>;
/** The copy is the same code for every table: rows are what the source hands back, column by column. */
type AnyTables = Record<string, Row>;

/** The source's rowid, selected beside the columns to page by it; never copied. */
const ROWID = '__deepforge_rowid';

export interface CopyTableOptions {
  source: Kysely<Database>;
  destination: KyselyStoreOptions;
  spec: TableSpec;
  /** Where an earlier run stopped: the last rowid copied and the rows copied up to it. */
  start: { cursor: number; rows: number };
  batchRows: number;
  /** After each batch is committed: rows of the table copied in all, and by this run. */
  onBatch(rows: number, copiedNow: number): Promise<void>;
  /** Names the destination in error messages (password masked). */
  where: string;
}

/**
 * Copies one table in batches ordered by the source's rowid. Each batch and the new cursor are committed in one
 * destination transaction, so a migrate killed anywhere leaves either both or neither: the next run starts after
 * the last committed row, and no row is copied twice (which matters for a table without a key). Rows
 * are upserted by their primary key all the same, so a row the source changed between two runs is brought up to
 * date rather than refused.
 */
export async function copyTable(options: CopyTableOptions): Promise<{ rows: number; copied: number }> {
  const { source, destination, spec, batchRows } = options;
  let { cursor, rows } = options.start;
  let copied = 0;
  for (;;) {
    const batch = (
      await sql<Row>`select rowid as ${sql.ref(ROWID)}, * from ${sql.table(spec.table)} where rowid > ${cursor} order by rowid limit ${batchRows}`.execute(
        source,
      )
    ).rows;
    if (batch.length === 0) break;
    const last = Number(batch[batch.length - 1]![ROWID]);
    const values = batch.map((row) => {
      const { [ROWID]: _rowid, ...rest } = row;
      return rest;
    });
    try {
      await destination.transaction(async (trx) => {
        await insertRows(trx as unknown as Kysely<AnyTables>, spec, values);
        await writeTableProgress(
          trx as unknown as Kysely<MigrationTables>,
          spec.table,
          last,
          rows + batch.length,
        );
      });
    } catch (err) {
      throw new DatabaseError(
        `copying ${spec.table} (source rows after rowid ${cursor}) into ${options.where} failed: ${(err as Error).message}`,
        { cause: err },
      );
    }
    cursor = last;
    rows += batch.length;
    copied += batch.length;
    await options.onBatch(rows, copied);
  }
  return { rows, copied };
}

async function insertRows(trx: Kysely<AnyTables>, spec: TableSpec, rows: Row[]): Promise<void> {
  const insert = trx.insertInto(spec.table).values(rows);
  if (spec.key.length === 0) {
    await insert.execute();
    return;
  }
  const others = Object.keys(rows[0]!).filter((c) => !spec.key.includes(c));
  await insert
    .onConflict((oc) => {
      const target = oc.columns([...spec.key]);
      return others.length === 0
        ? target.doNothing()
        : target.doUpdateSet(Object.fromEntries(others.map((c) => [c, sql.ref(`excluded.${c}`)])));
    })
    .execute();
}

/**
 * An order-independent digest of a table's rows: the sum (mod 2^128) of the sha256 of each row's canonical form,
 * and their number. The same rows in any order give the same digest, and so do duplicates counted alike, so the
 * source (read by rowid) and PostgreSQL (read by a cursor) can each be read in the order that is cheap for it.
 */
export class RowSetDigest {
  private sum = 0n;
  rows = 0;

  /**
   * `columns`: the table's columns; `integers`: those PostgreSQL keeps as `bigint`, which `pg` hands back as
   * strings and SQLite as numbers.
   */
  constructor(
    private readonly columns: readonly string[],
    private readonly integers: ReadonlySet<string>,
  ) {}

  add(row: Row): void {
    const values = this.columns.map((c) => {
      const v = row[c];
      if (v === null || v === undefined) return null;
      if (this.integers.has(c) || typeof v === 'bigint') return Number(v);
      // A blob (SQLite) or bytea (PostgreSQL): both drivers give a Buffer; its bytes, compactly.
      if (v instanceof Uint8Array)
        return Buffer.from(v.buffer, v.byteOffset, v.byteLength).toString('base64');
      return v;
    });
    const h = createHash('sha256').update(JSON.stringify(values)).digest();
    this.sum = (this.sum + BigInt(`0x${h.subarray(0, 16).toString('hex')}`)) & ((1n << 128n) - 1n);
    this.rows++;
  }

  get value(): string {
    return `${this.rows}:${this.sum.toString(16).padStart(32, '0')}`;
  }
}

/** Reads the source table a page at a time (by rowid) into a digest. */
export async function digestSourceTable(
  source: Kysely<Database>,
  table: string,
  digest: RowSetDigest,
  pageRows: number,
): Promise<void> {
  let cursor = 0;
  for (;;) {
    const page = (
      await sql<Row>`select rowid as ${sql.ref(ROWID)}, * from ${sql.table(table)} where rowid > ${cursor} order by rowid limit ${pageRows}`.execute(
        source,
      )
    ).rows;
    if (page.length === 0) return;
    for (const row of page) digest.add(row);
    cursor = Number(page[page.length - 1]![ROWID]);
  }
}

/** Reads the destination table through a cursor, in one read-only snapshot, into a digest. */
export async function digestDestinationTable(
  db: Kysely<Database>,
  table: string,
  digest: RowSetDigest,
  pageRows: number,
): Promise<void> {
  await db
    .transaction()
    .setIsolationLevel('repeatable read')
    .setAccessMode('read only')
    .execute(async (trx) => {
      await sql`declare migrate_verify no scroll cursor for select * from ${sql.table(table)}`.execute(trx);
      for (;;) {
        const { rows } =
          await sql<Row>`fetch forward ${sql.raw(String(pageRows))} from migrate_verify`.execute(trx);
        if (rows.length === 0) break;
        for (const row of rows) digest.add(row);
      }
      await sql`close migrate_verify`.execute(trx);
    });
}

/** The columns of each copied table in the destination, and which of them are `bigint`. */
export async function destinationColumns(
  db: Kysely<Database>,
): Promise<Map<string, { columns: string[]; integers: Set<string> }>> {
  const { rows } = await sql<{
    table_name: string;
    column_name: string;
    data_type: string;
  }>`select table_name, column_name, data_type from information_schema.columns where table_schema = current_schema()`.execute(
    db,
  );
  const out = new Map<string, { columns: string[]; integers: Set<string> }>();
  for (const r of rows) {
    let t = out.get(r.table_name);
    if (!t) out.set(r.table_name, (t = { columns: [], integers: new Set() }));
    t.columns.push(r.column_name);
    if (r.data_type === 'bigint') t.integers.add(r.column_name);
  }
  for (const t of out.values()) t.columns.sort();
  return out;
}

/** The columns of a source table, sorted. */
export async function sourceColumns(source: Kysely<Database>, table: string): Promise<string[]> {
  const { rows } = await sql<{ name: string }>`select name from pragma_table_info(${table})`.execute(source);
  return rows.map((r) => r.name).sort();
}
