import { fstatSync } from 'node:fs';
import { open, type FileHandle } from 'node:fs/promises';
import { dirname } from 'node:path';

/**
 * Flushes SQLite's write-ahead log to the disk from libuv's threads, the flushes asked for meanwhile sharing one
 * (group commit; docs/adr/0033). The database runs with `synchronous = NORMAL`, so a commit writes its frames into
 * the log without waiting for the disk; a commit is reported done only once a flush that began after it has ended,
 * which makes it as durable as `synchronous = FULL` would, without holding the event loop or the write lock while
 * the disk works.
 *
 * SQLite never removes or replaces the log while a connection to the database is open (ours is), and syncs it
 * itself before a checkpoint copies it into the database and when it starts reusing it. Each flush checks that the
 * file is still there all the same (one removed by hand fails every write from then on, with a message saying so),
 * and the log's folder is synced once, for a log file created since the database was opened.
 */
export class WalSync {
  private handle: Promise<FileHandle> | undefined;
  private folderSynced = false;
  private running: Promise<void> | undefined;
  private waiting: Promise<void> | undefined;
  private closed = false;
  /** Flushes begun so far (for tests and traces). */
  flushes = 0;

  constructor(private readonly walPath: string) {}

  /**
   * Resolves once everything committed before this call is on the disk: joins the next flush when one is under
   * way (it may have begun before the commit), starts one otherwise.
   */
  sync(): Promise<void> {
    if (this.closed) return Promise.reject(new Error('the database is closed'));
    if (!this.running) return this.start();
    this.waiting ??= this.running
      .catch(() => undefined)
      .then(() => {
        this.waiting = undefined;
        return this.start();
      });
    return this.waiting;
  }

  /** Waits for the flushes under way, then lets the log's handle go. */
  async close(): Promise<void> {
    this.closed = true;
    await Promise.allSettled([this.running, this.waiting]);
    const handle = this.handle;
    this.handle = undefined;
    await handle?.then((h) => h.close()).catch(() => undefined);
  }

  private start(): Promise<void> {
    const flush = this.flush().finally(() => {
      if (this.running === flush) this.running = undefined;
    });
    this.running = flush;
    return flush;
  }

  private open(): Promise<FileHandle> {
    const opening = open(this.walPath, 'r');
    // A failed open is tried again by the next flush.
    opening.catch(() => {
      if (this.handle === opening) this.handle = undefined;
    });
    return opening;
  }

  private async flush(): Promise<void> {
    this.flushes++;
    try {
      const handle = await (this.handle ??= this.open());
      await handle.datasync();
      // SQLite keeps writing into the file it has open: a log removed under it can no longer be made durable.
      // Asked of the open file itself, on this thread: the answer is the inode the kernel holds in memory (no
      // disk read), cheaper than a trip to libuv's threads for every commit.
      if (fstatSync(handle.fd).nlink === 0)
        throw new Error('the file was removed while the database was open');
      if (!this.folderSynced) {
        const folder = await open(dirname(this.walPath), 'r');
        try {
          await folder.sync();
        } finally {
          await folder.close();
        }
        this.folderSynced = true;
      }
    } catch (err) {
      throw new Error(
        `the database's write-ahead log (${this.walPath}) could not be flushed to the disk: ${(err as Error).message}; ` +
          'the change is in the database but may not survive a power cut',
        { cause: err },
      );
    }
  }
}
