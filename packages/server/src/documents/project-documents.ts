import type { Hocuspocus } from '@hocuspocus/server';
import type { Logger } from 'pino';
import * as Y from 'yjs';
import type { Project } from '@deepforge/core';
import type { DocumentStore } from '@deepforge/engine';
import { projectToDoc } from '@deepforge/protocol';
import type { DocumentPersistence } from './document.persistence.js';

type DirectConnection = Awaited<ReturnType<Hocuspocus['openDirectConnection']>>;

interface HeldConnection {
  connection: Promise<DirectConnection>;
  timer: NodeJS.Timeout | undefined;
  /** Reads and edits in progress: the connection is not closed under them. */
  busy: number;
}

/**
 * The server's copies of the project documents, the ones Hocuspocus syncs to browsers. REST routes read and
 * edit them here (through Hocuspocus direct connections), so an edit made over REST reaches every open tab at
 * once and a browser's edit is what the next REST read sees. A connection is kept for a while after use, so a
 * burst of requests does not load the document from the database each time.
 */
export class ProjectDocuments {
  private readonly held = new Map<string, HeldConnection>();
  private closed = false;

  constructor(
    private readonly hocuspocus: Hocuspocus,
    private readonly store: DocumentStore,
    private readonly persistence: DocumentPersistence,
    private readonly logger: Logger,
    private readonly idleMs = 30_000,
  ) {}

  /** Stores the first state of a new project's document (before anyone can open it). */
  async create(projectId: string, project: Project): Promise<void> {
    const doc = projectToDoc(project);
    await this.store.appendUpdate(projectId, Y.encodeStateAsUpdate(doc));
    doc.destroy();
  }

  /** Runs `fn` on the live document; what it changes is synced and saved before this resolves. */
  async edit<T>(projectId: string, fn: (doc: Y.Doc) => T): Promise<T> {
    return this.use(projectId, async (connection) => {
      let result: T | undefined;
      let failed: { err: unknown } | undefined;
      await connection.transact((doc) => {
        // One Yjs transaction: browsers get the whole edit as one update, never half of it.
        doc.transact(() => {
          try {
            result = fn(doc);
          } catch (err) {
            failed = { err };
          }
        });
      });
      if (failed) throw failed.err;
      return result as T;
    });
  }

  /** Runs `fn` on the live document without changing it. */
  async read<T>(projectId: string, fn: (doc: Y.Doc) => T): Promise<T> {
    return this.use(projectId, (connection) => fn(connection.document!));
  }

  /** Closes every connection to a project's document (browsers too) and deletes it from the store. */
  async remove(projectId: string): Promise<void> {
    this.persistence.forget(projectId);
    this.hocuspocus.closeConnections(projectId);
    await this.release(projectId);
    await this.store.deleteDocument(projectId);
  }

  /** Saves every document and lets go of them (at shutdown). */
  async close(): Promise<void> {
    this.closed = true;
    this.persistence.stop();
    await this.persistence.flushAll();
    await Promise.all([...this.held.keys()].map((id) => this.release(id)));
    await this.persistence.flushAll();
  }

  private async use<T>(projectId: string, fn: (connection: DirectConnection) => T | Promise<T>): Promise<T> {
    if (this.closed) throw new Error('the server is shutting down');
    let held = this.held.get(projectId);
    if (!held) {
      const connection = this.hocuspocus.openDirectConnection(projectId, { server: true });
      held = { connection, timer: undefined, busy: 0 };
      this.held.set(projectId, held);
      connection.catch(() => {
        if (this.held.get(projectId) === held) this.held.delete(projectId);
      });
    }
    if (held.timer) clearTimeout(held.timer);
    held.timer = undefined;
    held.busy++;
    try {
      return await fn(await held.connection);
    } finally {
      held.busy--;
      if (held.busy === 0 && this.held.get(projectId) === held && !this.closed) {
        const h = held;
        h.timer = setTimeout(() => void this.release(projectId, h), this.idleMs);
        h.timer.unref();
      }
    }
  }

  private async release(projectId: string, only?: HeldConnection): Promise<void> {
    const held = this.held.get(projectId);
    if (!held || (only && held !== only) || (only && held.busy > 0)) return;
    this.held.delete(projectId);
    if (held.timer) clearTimeout(held.timer);
    try {
      await (await held.connection).disconnect();
    } catch (err) {
      this.logger.debug({ err, projectId }, 'document connection closed with an error');
    }
  }
}
