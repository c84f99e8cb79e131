import type {
  Extension,
  afterUnloadDocumentPayload,
  beforeUnloadDocumentPayload,
  onLoadDocumentPayload,
  onStoreDocumentPayload,
} from '@hocuspocus/server';
import type { Logger } from 'pino';
import * as Y from 'yjs';
import type { DocumentStore } from '@deepforge/engine';

interface LoadedDocument {
  doc: Y.Doc;
  /** Updates since the last save, merged into one row on the next save. */
  pending: Uint8Array[];
  /** Seq of the last row written. */
  lastSeq: number;
  /** Every row up to this seq is in the document (rows of other processes may come between ours). */
  known: number;
  /** Rows the document has in the store, as far as this process knows (its own writes and what it read). */
  rows: number;
  /** Saves run one after another, so rows go in in order and compaction knows what it covers. */
  chain: Promise<void>;
  onUpdate: (update: Uint8Array, origin: unknown) => void;
}

/** The origin of updates read back from the store: already stored, so not saved again. */
const FROM_STORE = Symbol('from-store');

export interface DocumentPersistenceOptions {
  store: DocumentStore;
  /** Whether a document may exist (its project is registered): unknown names are refused, never created. */
  exists(name: string): Promise<boolean>;
  logger: Logger;
  /** Compact once a document has this many rows (default 50), and when it is unloaded with more than one. */
  compactAfter?: number;
  /**
   * How often loaded documents are checked for rows another process appended (`deepforge run` of a folder
   * project, docs/adr/0028), in ms; default 2000, 0 for never.
   */
  refreshMs?: number;
}

/**
 * Hocuspocus persistence on the engine's document store: a document loads from its stored updates, every save
 * (Hocuspocus debounces them while people type; a REST edit saves at once) appends the updates since the last
 * save as one row, and the rows are compacted into one now and then.
 */
export class DocumentPersistence implements Extension {
  readonly extensionName = 'deepforge-document-persistence';
  private readonly loaded = new Map<string, LoadedDocument>();
  /** Documents being deleted: late saves must not bring them back. */
  private readonly deleted = new Set<string>();
  private readonly compactAfter: number;
  private readonly refreshTimer: NodeJS.Timeout | undefined;

  constructor(private readonly options: DocumentPersistenceOptions) {
    this.compactAfter = options.compactAfter ?? 50;
    const every = options.refreshMs ?? 2000;
    if (every > 0) {
      this.refreshTimer = setInterval(() => void this.refreshAll(), every);
      this.refreshTimer.unref();
    }
  }

  /** Stops looking for other processes' rows (at shutdown). */
  stop(): void {
    clearInterval(this.refreshTimer);
  }

  /**
   * Applies to every loaded document the rows another process appended since this one last read or wrote: a
   * row count that differs from what this process knows says there are some. Browsers get them as an edit.
   */
  async refreshAll(): Promise<void> {
    for (const [name, state] of [...this.loaded]) {
      if (this.deleted.has(name)) continue;
      try {
        const rows = await this.options.store.countUpdates(name);
        if (rows !== state.rows) await this.enqueueRefresh(name, state);
      } catch (err) {
        this.options.logger.warn({ err, document: name }, 'could not read a document from the store');
      }
    }
  }

  private enqueueRefresh(name: string, state: LoadedDocument): Promise<void> {
    const run = (): Promise<void> => this.readForeignRows(name, state);
    const next = state.chain.then(run, run);
    state.chain = next.catch(() => undefined);
    return next;
  }

  /**
   * Reads the stored rows after the last this process knows and applies them (Yjs ignores what the document
   * holds already, so its own rows change nothing). Run on the save chain, so it never interleaves a save.
   */
  private async readForeignRows(name: string, state: LoadedDocument): Promise<void> {
    if (this.deleted.has(name)) return;
    const updates = await this.options.store.loadUpdates(name);
    const newer = updates.filter((u) => u.seq > state.known);
    if (newer.length > 0) {
      Y.transact(
        state.doc,
        () => {
          for (const u of newer) Y.applyUpdate(state.doc, u.update, FROM_STORE);
        },
        FROM_STORE,
      );
      state.known = newer.at(-1)!.seq;
      state.lastSeq = Math.max(state.lastSeq, state.known);
      this.options.logger.debug(
        { document: name, rows: newer.length },
        'document rows of another process applied',
      );
    }
    state.rows = updates.length;
  }

  async onLoadDocument({ documentName, document }: onLoadDocumentPayload): Promise<void> {
    if (this.deleted.has(documentName) || !(await this.options.exists(documentName))) {
      throw new Error(`there is no project "${documentName}"`);
    }
    const updates = await this.options.store.loadUpdates(documentName);
    Y.transact(document, () => {
      for (const u of updates) Y.applyUpdate(document, u.update);
    });
    const state: LoadedDocument = {
      doc: document,
      pending: [],
      lastSeq: updates.at(-1)?.seq ?? 0,
      known: updates.at(-1)?.seq ?? 0,
      rows: updates.length,
      chain: Promise.resolve(),
      onUpdate: (update, origin) => {
        if (origin !== FROM_STORE) state.pending.push(update);
      },
    };
    document.on('update', state.onUpdate);
    this.loaded.set(documentName, state);
    if (updates.length > this.compactAfter) await this.enqueue(documentName, state, true);
  }

  async onStoreDocument({ documentName }: onStoreDocumentPayload): Promise<void> {
    await this.save(documentName);
  }

  async beforeUnloadDocument({ documentName }: beforeUnloadDocumentPayload): Promise<void> {
    const state = this.loaded.get(documentName);
    if (state) await this.enqueue(documentName, state, state.rows > 1);
  }

  async afterUnloadDocument({ documentName }: afterUnloadDocumentPayload): Promise<void> {
    const state = this.loaded.get(documentName);
    if (!state) return;
    await state.chain;
    // Updates that came in while unloading still have to be written.
    if (state.pending.length > 0) await this.enqueue(documentName, state, false);
    state.doc.off('update', state.onUpdate);
    this.loaded.delete(documentName);
  }

  /** Writes what changed since the last save; resolves once it is in the store. */
  save(documentName: string): Promise<void> {
    const state = this.loaded.get(documentName);
    return state ? this.enqueue(documentName, state, false) : Promise.resolve();
  }

  /** Saves every loaded document (at shutdown). */
  async flushAll(): Promise<void> {
    await Promise.all([...this.loaded.keys()].map((name) => this.save(name)));
  }

  /** Stops saving a document that is being deleted. */
  forget(documentName: string): void {
    this.deleted.add(documentName);
    const state = this.loaded.get(documentName);
    if (state) state.pending = [];
  }

  private enqueue(name: string, state: LoadedDocument, compact: boolean): Promise<void> {
    const run = async (): Promise<void> => {
      if (this.deleted.has(name)) return;
      if (state.pending.length > 0) {
        const updates = state.pending;
        state.pending = [];
        try {
          state.lastSeq = await this.options.store.appendUpdate(name, Y.mergeUpdates(updates));
          if (state.lastSeq === state.known + 1) state.known = state.lastSeq;
          state.rows++;
        } catch (err) {
          // Put them back: the next save tries again, nothing typed is dropped.
          state.pending = [...updates, ...state.pending];
          throw err;
        }
      }
      if ((compact || state.rows >= this.compactAfter) && state.rows > 1) {
        // Rows another process appended before ours must be in the document before it replaces them.
        await this.readForeignRows(name, state);
        // Everything up to lastSeq is in the document, so its full state replaces those rows.
        await this.options.store.compact(name, Y.encodeStateAsUpdate(state.doc), state.lastSeq);
        state.rows = 1;
        this.options.logger.debug({ document: name }, 'document compacted');
      }
    };
    const next = state.chain.then(run, run);
    state.chain = next.catch((err: unknown) => {
      this.options.logger.error({ err, document: name }, 'could not save a document');
    });
    return next;
  }
}
