import { randomBytes } from 'node:crypto';
import {
  chmod,
  mkdir,
  open,
  readdir,
  rename,
  rm,
  stat,
  unlink,
  writeFile,
  type FileHandle,
} from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { Transform, type Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { Worker } from 'node:worker_threads';
import {
  CONTENT_HASH_BLOCK_BYTES,
  contentHashProblem,
  contentHashSchemeFor,
  splitContentHash,
} from '@deepforge/core';
import { NotFoundError, StorageError } from '../errors.js';
import {
  CorruptBlobError,
  isContentHash,
  type ArtifactStorage,
  type BlobVerification,
  type ContentHash,
  type CorruptBlobReport,
  type PutFileOptions,
  type PutResult,
  type StoredBlob,
} from './artifact.storage.js';
import { ContentHasher } from './content-hasher.js';
import { createStagingDir, removeOldEntries } from './local-leftovers.js';

/**
 * Files are hashed in reads this big. Node's default 64 KiB stream chunks made the sha256 of a 500 MiB file take
 * 0.53–0.64 s; 8 MiB reads, the next one in flight while the current one is hashed, about 0.3 s (the CPU's
 * SHA extensions are then the limit). One read is one block of the content id's tree (docs/adr/0006).
 */
export const HASH_CHUNK_BYTES = CONTENT_HASH_BLOCK_BYTES;
/**
 * Files under this size are hashed before they are stored even when their writer gave a hash: one read, cheaper
 * than a background check (the harness does not hash them either).
 */
export const VERIFY_LATER_MIN_BYTES = 1024 * 1024;
/** At most this many blobs wait for their background check; past it a put checks at once (back-pressure). */
export const MAX_PENDING_CHECKS = 32;

export type { CorruptBlobReport } from './artifact.storage.js';

export interface LocalBlobStorageOptions {
  /**
   * Told about every blob that a background check found corrupt, including checks resumed after a restart that
   * no caller waits for. Default: a process warning (stderr), so it is never silent.
   */
  onCorrupt?: (report: CorruptBlobReport) => void;
}

/** For tests only: runs just before a blob stored under its writer's hash is read back (to damage it, say). */
export const blobStorageTestHooks: {
  beforeCheck?: (path: string, hash: ContentHash) => Promise<void> | void;
} = {};

/**
 * Content-addressed blobs in a local directory, one tree per content id scheme (docs/adr/0006):
 *
 *   <root>/sha256/ab/<64 hex>    the blobs of `sha256:ab…` (content up to 8 MiB, and bigger content stored before
 *                                the block tree), read-only (operations read their inputs in place)
 *   <root>/sha256t/ab/<64 hex>   the blobs of `sha256t:ab…` (content over 8 MiB), likewise
 *   <root>/tmp/                  files being written, renamed into place once hashed and synced
 *   <root>/staging/              scratch directories on the store's filesystem: job outputs when the job folders are
 *                                on another one (docs/adr/0034), copies for previews
 *   <root>/unverified/<name>     empty markers: blobs stored under their writer's hash, not yet read back; the
 *                                name is the 64 hex digits for `sha256:`, `sha256t-<64 hex>` for `sha256t:`
 *   <root>/quarantine/           blobs whose bytes turned out not to match their name (`<name>.<ms>`), each
 *                                with a .json why
 *
 * A file put with `expectedHash` (a job output the harness hashed while writing it) is renamed into place under
 * that hash at once, and a marker says it is unverified; a worker thread then reads it back (off the event
 * loop, one at a time) and removes the marker, or moves the blob to quarantine/ when its bytes do not match. An
 * engine that opens the store again resumes the checks that a crash cut short.
 */
export class LocalBlobStorage implements ArtifactStorage {
  readonly root: string;
  private readonly tmpDir: string;
  private readonly stagingRoot: string;
  private readonly unverifiedDir: string;
  private readonly quarantineDir: string;
  /** Checks queued or running, by hash. */
  private readonly pending = new Map<ContentHash, Promise<BlobVerification>>();
  private readonly hasher = new BackgroundHasher();
  private resumed = false;
  /** The folders every put writes into, made once (again only when a put finds one missing). */
  private folders: Promise<void> | undefined;

  constructor(
    root: string,
    private readonly options: LocalBlobStorageOptions = {},
  ) {
    this.root = root;
    this.tmpDir = join(root, 'tmp');
    this.stagingRoot = join(root, 'staging');
    this.unverifiedDir = join(root, 'unverified');
    this.quarantineDir = join(root, 'quarantine');
  }

  async init(): Promise<void> {
    if (!this.folders) {
      const made = (async () => {
        await mkdir(join(this.root, 'sha256'), { recursive: true });
        await mkdir(this.tmpDir, { recursive: true });
        await mkdir(this.stagingRoot, { recursive: true });
        await mkdir(this.unverifiedDir, { recursive: true });
      })();
      this.folders = made;
      // A failure is not kept: the next call tries again.
      made.catch(() => {
        if (this.folders === made) this.folders = undefined;
      });
    }
    await this.folders;
    if (!this.resumed) {
      this.resumed = true;
      await this.resumeChecks();
    }
  }

  path(hash: string): string {
    return this.blobPath(hash);
  }

  private blobPath(hash: string): string {
    if (!isContentHash(hash)) {
      throw new StorageError(`not a content hash: ${JSON.stringify(hash)} (${contentHashProblem(hash)})`);
    }
    const { scheme, hex } = splitContentHash(hash);
    return join(this.root, scheme, hex.slice(0, 2), hex);
  }

  private tempName(): string {
    return join(this.tmpDir, `${process.pid}-${Date.now()}-${randomBytes(6).toString('hex')}`);
  }

  /** Blobs whose background check has not finished yet. */
  get pendingChecks(): number {
    return this.pending.size;
  }

  /**
   * Stops the background checks still running or queued, without waiting for them (a process about to exit that
   * should not spend its last moments re-reading what it has just written): their blobs keep their markers, so the
   * next storage opened on this directory checks them (`init`), and their `verified` promises never settle.
   * The last call on a storage being closed: a blob stored after it would never be checked by this process.
   */
  leaveChecks(): void {
    this.hasher.stop();
  }

  /** Resolves once every background check started so far has finished. */
  async idle(): Promise<void> {
    while (this.pending.size > 0) await Promise.all([...this.pending.values()]);
  }

  async putFile(path: string, options: PutFileOptions = {}): Promise<PutResult> {
    await this.init();
    const tmp = this.tempName();
    let copied: StoredBlob | undefined;
    if (options.move) {
      try {
        await rename(path, tmp).catch(async (err: NodeJS.ErrnoException) => {
          // The store's own folders were removed under it: made again, then one more try.
          if (err.code !== 'ENOENT' || !(await exists(path))) throw err;
          this.folders = undefined;
          await this.init();
          await rename(path, tmp);
        });
      } catch (err) {
        const code = (err as NodeJS.ErrnoException).code;
        if (code === 'ENOENT') throw new StorageError(`cannot store ${path}: no such file`, { cause: err });
        // Another filesystem: fall back to a copy, then remove the source as a move would.
        if (code !== 'EXDEV')
          throw new StorageError(`cannot store ${path}: ${(err as Error).message}`, { cause: err });
        copied = await this.copyInto(path, tmp);
        await rm(path, { force: true });
      }
    } else {
      copied = await this.copyInto(path, tmp);
    }
    if (copied) return this.adopt(tmp, copied, options.expectedHash);
    if (options.expectedHash) return this.adoptUnverified(tmp, options.expectedHash);
    return this.adopt(tmp);
  }

  /** Copies a file into tmp, hashing the bytes on their way: what lands in tmp is exactly what was hashed. */
  private async copyInto(src: string, tmp: string): Promise<StoredBlob> {
    let from: FileHandle | undefined;
    let to: FileHandle | undefined;
    try {
      from = await open(src, 'r');
      to = await open(tmp, 'wx');
      const out = to;
      return await readHashing(from, async (chunk) => {
        let done = 0;
        while (done < chunk.length) done += (await out.write(chunk, done, chunk.length - done)).bytesWritten;
      });
    } catch (err) {
      await rm(tmp, { force: true });
      const code = (err as NodeJS.ErrnoException).code;
      throw new StorageError(
        code === 'ENOENT'
          ? `cannot store ${src}: no such file`
          : `cannot store ${src}: ${(err as Error).message}`,
        { cause: err },
      );
    } finally {
      await from?.close();
      await to?.close();
    }
  }

  async putStream(stream: Readable | AsyncIterable<Uint8Array>): Promise<StoredBlob> {
    await this.init();
    const tmp = this.tempName();
    // Hashed on the way to the file: the bytes written are the bytes hashed, and nothing is read back.
    const h = new ContentHasher();
    const hashing = new Transform({
      transform(chunk: Buffer | string, _encoding, callback) {
        const bytes = typeof chunk === 'string' ? Buffer.from(chunk) : chunk;
        h.update(bytes);
        callback(null, bytes);
      },
    });
    // The file is made before anything is piped: a stream that fails at once cannot have it created after the
    // removal below (a write stream opens its file in the background).
    const file = await open(tmp, 'wx');
    try {
      await pipeline(stream, hashing, file.createWriteStream());
    } catch (err) {
      await rm(tmp, { force: true });
      throw new StorageError(`cannot store stream: ${(err as Error).message}`, { cause: err });
    }
    return this.adopt(tmp, h.digest());
  }

  /**
   * Bytes in memory: hashed here, then nothing more when the store has them (one look at the disk, the common case
   * of a job run again), else written to a temp file created read-only, synced and renamed into place.
   */
  async putBytes(data: Uint8Array): Promise<StoredBlob> {
    await this.init();
    const h = new ContentHasher();
    h.update(data);
    const blob = h.digest();
    const final = this.blobPath(blob.hash);
    const existing = await stat(final).catch(() => undefined);
    // As in adopt: a blob still waiting for its check is replaced by these bytes, which were hashed.
    if (existing && existing.size === blob.size && !this.pending.has(blob.hash)) return blob;
    const tmp = this.tempName();
    try {
      const fh = await open(tmp, 'wx', 0o444);
      try {
        let done = 0;
        while (done < data.length) done += (await fh.write(data, done, data.length - done)).bytesWritten;
        await fh.sync();
      } finally {
        await fh.close();
      }
      await this.place(tmp, final, { readOnly: true });
      return blob;
    } catch (err) {
      await rm(tmp, { force: true });
      if (err instanceof StorageError) throw err;
      throw new StorageError(`cannot store blob: ${(err as Error).message}`, { cause: err });
    }
  }

  /**
   * Makes a temp file durable and renames it to its content address. The hash is `known` when the bytes were
   * hashed on their way into tmp (a copy, a stream); otherwise it is computed here from the bytes on disk, after
   * they are ours (renamed into tmp), so no writer can change them behind it.
   */
  private async adopt(tmp: string, known?: StoredBlob, expected?: ContentHash): Promise<PutResult> {
    try {
      const fh = await open(tmp, 'r+');
      let blob: StoredBlob;
      let final: string;
      try {
        blob = known ?? (await hashHandle(fh));
        if (expected !== undefined && blob.hash !== expected) throw new CorruptBlobError(expected, blob.hash);
        final = this.blobPath(blob.hash);
        const existing = await stat(final).catch(() => undefined);
        // Same bytes already stored: one blob for any number of puts. One still waiting for its check is
        // replaced by these bytes, which were hashed: then the name holds the right bytes whatever the check finds.
        if (existing && existing.size === blob.size && !this.pending.has(blob.hash)) {
          discard(tmp);
          return { hash: blob.hash, size: blob.size };
        }
        await fh.sync();
      } finally {
        await fh.close();
      }
      await this.place(tmp, final);
      return { hash: blob.hash, size: blob.size };
    } catch (err) {
      await rm(tmp, { force: true });
      if (err instanceof StorageError) throw err;
      throw new StorageError(`cannot store blob: ${(err as Error).message}`, { cause: err });
    }
  }

  /**
   * Stores a temp file under the hash its writer computed, without reading it, and starts its background check.
   * Small files, and any file while too many checks wait, are checked at once instead, and so is a file whose
   * size does not fit the hash's scheme (it cannot be what was hashed, and its check must not fall back on the
   * plain sha256 that old `sha256:` ids of big blobs are checked with).
   */
  private async adoptUnverified(tmp: string, hash: ContentHash): Promise<PutResult> {
    try {
      const final = this.blobPath(hash);
      const size = (await stat(tmp)).size;
      if (
        size < VERIFY_LATER_MIN_BYTES ||
        this.pending.size >= MAX_PENDING_CHECKS ||
        splitContentHash(hash).scheme !== contentHashSchemeFor(size)
      ) {
        return await this.adopt(tmp, undefined, hash);
      }
      const existing = await stat(final).catch(() => undefined);
      if (existing && existing.size === size) {
        // Already stored (checked, or being checked: the caller waits on the same check).
        discard(tmp);
        const pending = this.pending.get(hash);
        return pending ? { hash, size, verified: pending } : { hash, size };
      }
      // The harness fsynced it already (cheap then); a foreign writer may not have.
      const fh = await open(tmp, 'r+');
      try {
        await fh.sync();
      } finally {
        await fh.close();
      }
      // The marker is durable before the blob is: after a crash, a blob under this name is either checked or
      // still marked.
      await this.mark(hash);
      await this.place(tmp, final);
      return { hash, size, verified: this.check(hash, final) };
    } catch (err) {
      await rm(tmp, { force: true });
      if (err instanceof StorageError) throw err;
      throw new StorageError(`cannot store blob: ${(err as Error).message}`, { cause: err });
    }
  }

  private async place(tmp: string, final: string, { readOnly = false } = {}): Promise<void> {
    const dir = dirname(final);
    // Read-only: the next operation reads this file in place and must not be able to change it by accident.
    if (!readOnly) await chmod(tmp, 0o444);
    // Its prefix folder is made the first time a blob goes there (one call less for every later blob).
    await rename(tmp, final).catch(async (err: NodeJS.ErrnoException) => {
      if (err.code !== 'ENOENT') throw err;
      await mkdir(dir, { recursive: true });
      await rename(tmp, final);
      // The new folder's own entry is durable too, not only the blob's entry in it.
      await fsyncDir(dirname(dir));
    });
    await fsyncDir(dir);
  }

  private markerOf(hash: ContentHash): string {
    return join(this.unverifiedDir, fileNameOf(hash));
  }

  private async mark(hash: ContentHash): Promise<void> {
    await writeFile(this.markerOf(hash), '');
    await fsyncDir(this.unverifiedDir);
  }

  private async unmark(hash: ContentHash): Promise<void> {
    // Not synced: a marker that comes back after a crash only costs one more check.
    await unlink(this.markerOf(hash)).catch(() => undefined);
  }

  /** Queues the background check of a blob just stored under its writer's hash. */
  private check(hash: ContentHash, final: string, resumed = false): Promise<BlobVerification> {
    const verified: Promise<BlobVerification> = this.runCheck(hash, final, resumed)
      .catch((err: unknown): BlobVerification => ({
        ok: false,
        actual: null,
        message: `its check failed: ${(err as Error).message ?? String(err)}`,
      }))
      .finally(() => {
        if (this.pending.get(hash) === verified) this.pending.delete(hash);
      });
    this.pending.set(hash, verified);
    return verified;
  }

  private async runCheck(hash: ContentHash, final: string, resumed: boolean): Promise<BlobVerification> {
    await blobStorageTestHooks.beforeCheck?.(final, hash);
    let found: HashedFile;
    try {
      // In the scheme the name was made with: a `sha256:` name of a big blob predates the tree (plain sha256).
      found = await this.hasher.hash(final, hash.startsWith('sha256:'));
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') {
        // Deleted meanwhile: nothing is left to vouch for.
        await this.unmark(hash);
        return { ok: true };
      }
      return this.quarantine(hash, final, null, undefined, resumed, (err as Error).message);
    }
    if (found.hash === hash) {
      await this.unmark(hash);
      return { ok: true };
    }
    return this.quarantine(hash, final, found.hash, found.ino, resumed);
  }

  /** Moves a blob whose bytes do not match its name out of the store, and says so loudly. */
  private async quarantine(
    hash: ContentHash,
    final: string,
    actual: ContentHash | null,
    ino: number | undefined,
    resumed: boolean,
    readError?: string,
  ): Promise<BlobVerification> {
    const current = await stat(final).catch(() => undefined);
    if (current && ino !== undefined && current.ino !== ino) {
      // Replaced meanwhile by a put whose bytes were hashed as they were stored: those are right.
      await this.unmark(hash);
      return { ok: true };
    }
    let quarantinedTo: string | null = null;
    if (current) {
      await mkdir(this.quarantineDir, { recursive: true });
      const dest = join(this.quarantineDir, `${fileNameOf(hash)}.${Date.now()}`);
      try {
        await rename(final, dest);
        await fsyncDir(dirname(final));
        quarantinedTo = dest;
      } catch {
        // Gone already (deleted, or another engine's check moved it).
      }
    }
    const found = actual
      ? `its bytes hash to ${actual}, not to ${hash} as they were written`
      : `it could not be read back${readError ? ` (${readError})` : ''}`;
    const message = quarantinedTo
      ? `${found}; the file was moved to ${quarantinedTo}`
      : `${found}; the file is no longer in the store`;
    if (quarantinedTo) {
      const why = { hash, actual, message, at: new Date().toISOString() };
      await writeFile(`${quarantinedTo}.json`, JSON.stringify(why, null, 2) + '\n').catch(() => undefined);
    }
    await this.unmark(hash);
    const report: CorruptBlobReport = {
      hash,
      actual,
      quarantinedTo,
      message,
      ...(resumed ? { resumed } : {}),
    };
    if (this.options.onCorrupt) this.options.onCorrupt(report);
    else process.emitWarning(`corrupt blob ${hash}: ${message}`, { code: 'DEEPFORGE_CORRUPT_BLOB' });
    return { ok: false, actual, message };
  }

  /** Checks the blobs that a previous process stored unverified and did not get to check. */
  private async resumeChecks(): Promise<void> {
    const names = await readdir(this.unverifiedDir).catch(() => [] as string[]);
    for (const name of names) {
      const hash = hashOfFileName(name);
      if (hash === undefined || this.pending.has(hash)) continue;
      const final = this.blobPath(hash);
      // No blob: a put still in progress in another process, or one that died before its rename (swept later).
      if (!(await stat(final).catch(() => undefined))) continue;
      void this.check(hash, final, true);
    }
  }

  async has(hash: string): Promise<boolean> {
    return (await this.size(hash)) !== undefined;
  }

  async size(hash: string): Promise<number | undefined> {
    if (!isContentHash(hash)) return undefined;
    const s = await stat(this.blobPath(hash)).catch(() => undefined);
    return s?.isFile() ? s.size : undefined;
  }

  async openRead(hash: string): Promise<Readable> {
    const file = this.blobPath(hash);
    const fh = await open(file, 'r').catch((err: NodeJS.ErrnoException) => {
      if (err.code === 'ENOENT') throw new NotFoundError(`blob ${hash} is not in the store`);
      throw new StorageError(`cannot read blob ${hash}: ${err.message}`, { cause: err });
    });
    return fh.createReadStream();
  }

  async delete(hash: string): Promise<void> {
    await rm(this.blobPath(hash), { force: true });
  }

  createStagingDir(label: string): Promise<string> {
    return createStagingDir(this.stagingRoot, label);
  }

  /**
   * Removes temp files and staging directories older than `maxAgeMs`, left behind by processes that died, and
   * markers that old whose blob never arrived.
   */
  async sweep(maxAgeMs: number, now = Date.now()): Promise<number> {
    let removed = 0;
    for (const dir of [this.tmpDir, this.stagingRoot]) removed += await removeOldEntries(dir, maxAgeMs, now);
    // A marker stays while its blob is there (or it names none): only markers of blobs that never arrived go.
    removed += await removeOldEntries(this.unverifiedDir, maxAgeMs, now, async (name) => {
      const hash = hashOfFileName(name);
      return hash === undefined || (await this.has(hash));
    });
    return removed;
  }
}

/**
 * The file name of a marker or a quarantined blob: the hex digits alone for `sha256:` (as before the tree, so
 * that older stores' markers are still found), `sha256t-<hex>` for `sha256t:`.
 */
export function fileNameOf(hash: ContentHash): string {
  const { scheme, hex } = splitContentHash(hash);
  return scheme === 'sha256' ? hex : `${scheme}-${hex}`;
}

/** The content id a marker's file name stands for, or undefined for any other name. */
export function hashOfFileName(name: string): ContentHash | undefined {
  const dash = name.indexOf('-');
  const hash = dash < 0 ? `sha256:${name}` : `${name.slice(0, dash)}:${name.slice(dash + 1)}`;
  return isContentHash(hash) && fileNameOf(hash) === name ? hash : undefined;
}

/**
 * Deletes a temp file whose bytes the store already has, without waiting: unlinking a big file takes the kernel
 * a while (0.1–0.2 s for 500 MiB here). Should the process die first, `sweep` removes it later.
 */
function discard(tmp: string): void {
  // unlink, not rm: a temp file is never a folder, and rm would look at it first (one more call per output).
  void unlink(tmp).catch(() => undefined);
}

async function fsyncDir(dir: string): Promise<void> {
  // A rename is only durable once the directory entry is; some filesystems refuse to fsync a directory.
  try {
    const fh = await open(dir, 'r');
    try {
      await fh.sync();
    } finally {
      await fh.close();
    }
  } catch {
    // best effort
  }
}

/**
 * Reads a whole file in HASH_CHUNK_BYTES reads, the next read in flight (on libuv's pool) while the current chunk
 * is hashed and handed to `each` (awaited before its buffer is reused).
 */
async function readHashing(
  fh: FileHandle,
  each?: (chunk: Buffer) => Promise<void>,
  h = new ContentHasher(),
): Promise<StoredBlob> {
  // Small files (most job outputs) get small buffers: one read, and no 16 MiB for the GC to reclaim.
  const stats = await fh.stat();
  const length = Math.min(HASH_CHUNK_BYTES, Math.max(64 * 1024, stats.size + 1));
  // A read of a regular file that does not fill its buffer has reached the end: no read after it to be told so
  // (one call less for every small output). A pipe or a device may answer short at any time: read to the end.
  const shortIsEnd = stats.isFile();
  const buffers = [Buffer.allocUnsafe(length), Buffer.allocUnsafe(length)];
  let size = 0;
  let i = 0;
  let next: Promise<{ bytesRead: number }> | undefined = fh.read(buffers[0]!, 0, length, 0);
  while (next) {
    const { bytesRead }: { bytesRead: number } = await next;
    if (bytesRead === 0) break;
    const chunk = buffers[i]!.subarray(0, bytesRead);
    size += bytesRead;
    i ^= 1;
    next = shortIsEnd && bytesRead < length ? undefined : fh.read(buffers[i]!, 0, length, size);
    h.update(chunk);
    if (each) await each(chunk);
  }
  return h.digest();
}

function hashHandle(fh: FileHandle): Promise<StoredBlob> {
  return readHashing(fh);
}

/** The content id (and size) of a file, without storing it. */
export async function hashFile(path: string): Promise<StoredBlob> {
  const fh = await open(path, 'r');
  try {
    return await hashHandle(fh);
  } finally {
    await fh.close();
  }
}

interface HashedFile extends StoredBlob {
  /** The inode that was read, to tell it from a file renamed over the same name meanwhile. */
  ino: number;
}

async function hashFileWithInode(path: string, plain: boolean): Promise<HashedFile> {
  const fh = await open(path, 'r');
  try {
    const { ino } = await fh.stat();
    return { ...(await readHashing(fh, undefined, new ContentHasher(plain))), ino };
  } finally {
    await fh.close();
  }
}

/**
 * The worker's code (plain JS, evaluated): the same read-ahead loop as readHashing and the same content id as
 * ContentHasher (reads of exactly one block, so a short read only moves where the block ends), off the main
 * thread. `plain`: the sha256 of the whole file, to check a `sha256:` id whatever the size.
 */
const WORKER_SOURCE = `
'use strict';
const { parentPort } = require('node:worker_threads');
const { createHash } = require('node:crypto');
const { open } = require('node:fs/promises');
const BLOCK = ${CONTENT_HASH_BLOCK_BYTES};
const buffers = [Buffer.allocUnsafe(BLOCK), Buffer.allocUnsafe(BLOCK)];
async function hash(path, plain) {
  const fh = await open(path, 'r');
  try {
    const { ino } = await fh.stat();
    const digests = [];
    let block = createHash('sha256');
    let fill = 0;
    let size = 0;
    let i = 0;
    let next = fh.read(buffers[0], 0, BLOCK, 0);
    for (;;) {
      const { bytesRead } = await next;
      if (bytesRead === 0) break;
      const chunk = buffers[i].subarray(0, bytesRead);
      size += bytesRead;
      i ^= 1;
      next = fh.read(buffers[i], 0, BLOCK, size);
      if (plain) {
        block.update(chunk);
        continue;
      }
      let offset = 0;
      while (offset < chunk.length) {
        const take = Math.min(chunk.length - offset, BLOCK - fill);
        block.update(chunk.subarray(offset, offset + take));
        offset += take;
        fill += take;
        if (fill === BLOCK) {
          digests.push(block.digest());
          block = createHash('sha256');
          fill = 0;
        }
      }
    }
    if (plain || size <= BLOCK) {
      const one = digests.length > 0 ? digests[0] : block.digest();
      return { hash: 'sha256:' + one.toString('hex'), size, ino };
    }
    if (fill > 0) digests.push(block.digest());
    const tree = createHash('sha256');
    for (const d of digests) tree.update(d);
    return { hash: 'sha256t:' + tree.digest('hex'), size, ino };
  } finally {
    await fh.close();
  }
}
parentPort.on('message', (m) => {
  hash(m.path, m.plain).then(
    (r) => parentPort.postMessage({ id: m.id, ...r }),
    (e) => parentPort.postMessage({ id: m.id, error: String((e && e.message) || e), code: e && e.code }),
  );
});
`;

interface HashRequest {
  id: number;
  path: string;
  plain: boolean;
  resolve(r: HashedFile): void;
  reject(err: unknown): void;
}

/**
 * Hashes files one at a time on a worker thread, so that checking a 500 MiB blob (~0.3 s of sha256) does not hold
 * up the event loop the engine (and the web server beside it) runs on. The worker is started on first use, and
 * only keeps the process alive while it has work. Should it fail, the file is hashed on the main thread instead.
 */
class BackgroundHasher {
  private worker: Worker | undefined;
  private readonly queue: HashRequest[] = [];
  private current: HashRequest | undefined;
  private nextId = 1;
  private stopped = false;

  /** Drops every hash asked for and not done (their promises never settle) and ends the worker thread. */
  stop(): void {
    this.stopped = true;
    this.queue.length = 0;
    this.current = undefined;
    const worker = this.worker;
    this.worker = undefined;
    void worker?.terminate();
  }

  /** The content id of a file, or with `plain` the `sha256:` of all of it (see ContentHasher). */
  hash(path: string, plain: boolean): Promise<HashedFile> {
    return new Promise<HashedFile>((resolve, reject) => {
      this.queue.push({ id: this.nextId++, path, plain, resolve, reject });
      this.pump();
    });
  }

  private pump(): void {
    if (this.current || this.stopped) return;
    const request = this.queue.shift();
    if (!request) {
      this.worker?.unref();
      return;
    }
    this.current = request;
    try {
      const worker = this.ensureWorker();
      worker.ref();
      worker.postMessage({ id: request.id, path: request.path, plain: request.plain });
    } catch {
      this.onWorkerFailure();
    }
  }

  private ensureWorker(): Worker {
    if (this.worker) return this.worker;
    const worker = new Worker(WORKER_SOURCE, { eval: true });
    worker.on(
      'message',
      (m: { id: number; hash?: ContentHash; size?: number; ino?: number; error?: string; code?: string }) => {
        const request = this.current;
        if (!request || request.id !== m.id) return;
        this.current = undefined;
        if (m.error !== undefined) {
          const err = new Error(m.error) as NodeJS.ErrnoException;
          if (m.code) err.code = m.code;
          request.reject(err);
        } else {
          request.resolve({ hash: m.hash!, size: m.size!, ino: m.ino! });
        }
        this.pump();
      },
    );
    const gone = (): void => {
      if (this.worker !== worker) return;
      this.worker = undefined;
      this.onWorkerFailure();
    };
    worker.on('error', gone);
    worker.on('exit', gone);
    worker.unref();
    this.worker = worker;
    return worker;
  }

  private onWorkerFailure(): void {
    const request = this.current;
    this.current = undefined;
    if (request) hashFileWithInode(request.path, request.plain).then(request.resolve, request.reject);
    this.pump();
  }
}

/** Whether something is at `path` (a file that cannot be looked at counts as there). */
async function exists(path: string): Promise<boolean> {
  try {
    await stat(path);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code !== 'ENOENT';
  }
}
