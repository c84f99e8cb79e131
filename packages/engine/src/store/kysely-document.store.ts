import type { Kysely } from 'kysely';
import type { DocumentStore, StoredUpdate } from './document.store.js';
import type { Database, KyselyStoreOptions } from './kysely.database.js';

/** The document store on any SQL database Kysely speaks (SQLite, PostgreSQL). */
export class KyselyDocumentStore implements DocumentStore {
  private readonly db: Kysely<Database>;

  constructor(private readonly options: Pick<KyselyStoreOptions, 'db' | 'transaction' | 'lockKey'>) {
    this.db = options.db;
  }

  async loadUpdates(document: string): Promise<StoredUpdate[]> {
    const rows = await this.db
      .selectFrom('document_updates')
      .select(['seq', 'update_data'])
      .where('document', '=', document)
      .orderBy('seq')
      .execute();
    return rows.map((r) => ({
      seq: Number(r.seq),
      update: new Uint8Array(Buffer.from(r.update_data, 'base64')),
    }));
  }

  async appendUpdate(document: string, update: Uint8Array): Promise<number> {
    // Read the last seq and insert in one write transaction, so two writers never take the same seq. On
    // PostgreSQL two transactions would both read the same max (there is no row to lock for a new document, and
    // FOR UPDATE cannot lock an aggregate), so appends to one document take its lock first; the primary key
    // (document, seq) refuses a duplicate whatever happens.
    return this.options.transaction(async (trx) => {
      await this.options.lockKey(trx, `document:${document}`);
      const last = await trx
        .selectFrom('document_updates')
        .select((eb) => eb.fn.max('seq').as('seq'))
        .where('document', '=', document)
        .executeTakeFirst();
      const seq = last?.seq === null || last?.seq === undefined ? 1 : Number(last.seq) + 1;
      await trx
        .insertInto('document_updates')
        .values({
          document,
          seq,
          update_data: Buffer.from(update).toString('base64'),
          created_at: Date.now(),
        })
        .execute();
      return seq;
    });
  }

  async compact(document: string, merged: Uint8Array, upTo: number): Promise<void> {
    await this.options.transaction(async (trx) => {
      await this.options.lockKey(trx, `document:${document}`);
      await trx
        .deleteFrom('document_updates')
        .where('document', '=', document)
        .where('seq', '<=', upTo)
        .execute();
      // The merged update takes the place (and seq) of the last one it replaces, so the order stays right.
      await trx
        .insertInto('document_updates')
        .values({
          document,
          seq: upTo,
          update_data: Buffer.from(merged).toString('base64'),
          created_at: Date.now(),
        })
        .execute();
    });
  }

  async countUpdates(document: string): Promise<number> {
    const row = await this.db
      .selectFrom('document_updates')
      .select((eb) => eb.fn.countAll().as('n'))
      .where('document', '=', document)
      .executeTakeFirstOrThrow();
    return Number(row.n);
  }

  async deleteDocument(document: string): Promise<void> {
    await this.db.deleteFrom('document_updates').where('document', '=', document).execute();
  }

  async listDocuments(): Promise<string[]> {
    const rows = await this.db
      .selectFrom('document_updates')
      .select('document')
      .distinct()
      .orderBy('document')
      .execute();
    return rows.map((r) => r.document);
  }
}
