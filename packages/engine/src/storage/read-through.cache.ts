import { randomBytes } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { chmod, mkdir, open, readdir, rename, rm, stat, utimes } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { contentHashProblem, splitContentHash } from '@deepforge/core';
import { NotFoundError, StorageError } from '../errors.js';
import {
  isContentHash,
  type ArtifactStorage,
  type ContentHash,
  type PutFileOptions,
  type PutResult,
  type StoredBlob,
} from './artifact.storage.js';

/** A local file holding a blob's bytes, kept for its holder until `release()`. */
export interface BlobLease {
  readonly hash: ContentHash;
  /** Read it; never write it (a cached file is read-only, a storage's own file is the blob itself). */
  readonly path: string;
  readonly size: number;
  /**
   * Where the file came from: the storage's own file (read in place), the cache (fetched before, or by another
   * job at the same time), or a download made for this caller.
   */
  readonly source: 'storage' | 'cache' | 'download';
  /** The cache may remove the file once every lease on it is released. Releasing twice is harmless. */
  release(): void;
}

export interface AcquireOptions {
  /** Stops waiting (the lease is refused with an AbortError); a download nobody waits for any more is stopped. */
  signal?: AbortSignal;
  /** Told when the blob is not in the cache and has to come from the storage (once, before the bytes flow). */
  onDownload?: (size: number) => void;
}

/** Local files for blobs, whatever the storage: what jobs read their inputs through. */
export interface BlobFiles {
  acquire(hash: string, options?: AcquireOptions): Promise<BlobLease>;
}

/** A job's files: its inputs as local files, and its outputs stored. */
export interface JobFiles extends BlobFiles {
  /**
   * Stores a job's output file in the storage (its file is gone afterwards). Where inputs come through the cache,
   * the file becomes the cache's copy of the blob, so the jobs that read it next on this machine find it there.
   */
  putOutput(path: string, options: Pick<PutFileOptions, 'expectedHash'>): Promise<PutResult>;
  /** Stores a small job output that came as bytes in its event (docs/adr/0035), hashed as it is stored. */
  putOutputBytes(data: Uint8Array): Promise<StoredBlob>;
  /**
   * Whether small outputs are better stored from bytes than from files (docs/adr/0035): yes for a storage with
   * local files; another keeps each output's file as the input cache's copy, which bytes would not give.
   */
  readonly inlineOutputs: boolean;
  /**
   * The folder a job writes its outputs into, for `putOutput` to take them from: the job folder's `outputs/` when
   * a rename takes them from there into the storage (a local store on the job folders' filesystem), else a fresh
   * staging folder of the storage's (`temporary`: the caller removes it once the job has ended). `jobDir` exists.
   */
  outputFolder(jobDir: string, label: string): Promise<OutputFolder>;
}

export interface OutputFolder {
  path: string;
  /** Made for this job alone, to be removed once it has ended; otherwise only what is left in it goes. */
  temporary: boolean;
}

export interface ReadThroughCacheOptions {
  /** `worker.cache.dir`: blobs under `<dir>/<scheme>/<2 hex>/<hex>`, downloads in progress under `<dir>/tmp`. */
  dir: string;
  /** `worker.cache.maxBytes`: what the cache keeps at most, blobs in use apart. */
  maxBytes: number;
  now?: () => number;
}

export interface ReadThroughCacheStats {
  /** Leases served from a file already in the cache (or downloaded by another caller at the same time). */
  hits: number;
  /** Blobs fetched from the storage. */
  downloads: number;
  /** Blobs whose local file was taken in when it was stored (a job's output), without a download. */
  adopted: number;
  evictions: number;
  /** Bytes of the blobs the cache holds now, and how many. */
  bytes: number;
  blobs: number;
}

interface Entry {
  hash: ContentHash;
  file: string;
  size: number;
  lastUsed: number;
  /** Leases not yet released: a pinned blob is never evicted. */
  pins: number;
}

interface Waiter {
  /** The download pinned the entry for this waiter when it completed. */
  pinned: boolean;
}

interface Download {
  promise: Promise<Entry>;
  waiters: Set<Waiter>;
  abort: AbortController;
  settled: boolean;
}

/** A well-formed content id, only asked about to learn whether a storage has local files. */
const NO_BLOB = `sha256:${'0'.repeat(64)}`;

/** Part files of a process that is gone, or older than this, are removed when a cache opens. */
const STALE_PART_MS = 24 * 3600 * 1000;

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

function abortError(signal: AbortSignal): Error {
  const reason: unknown = signal.reason;
  if (reason instanceof Error) return reason;
  const err = new Error('the wait for the blob was aborted');
  err.name = 'AbortError';
  return err;
}

/**
 * A local, size-bounded, content-addressed read-through cache of a storage's blobs (docs/adr/0012), for stores
 * that keep no local files (S3): jobs need their inputs as files. A blob is fetched once per cache: through the
 * storage's checked `openRead` into a part file under `<dir>/tmp`, fsynced, made read-only and renamed to
 * `<dir>/<scheme>/<2 hex>/<hex>` once the stream ended without error, so no half-written file is ever under an id
 * (a cut or corrupt download leaves nothing, its part file removed). Callers asking for a blob being downloaded
 * wait for that download. Beyond `maxBytes`, the blobs used least recently are removed, never one that is leased
 * (in use by a running job): leased blobs can take the cache over its bound while they are in use.
 *
 * Files found in the directory when the cache first opens are trusted (only whole, renamed files are there); their
 * modification time is their last use, which each hit moves forward. Several processes may share the directory
 * (renames are atomic and the same id has the same bytes), but each bounds only what it knows of.
 */
export class ReadThroughCache implements BlobFiles {
  private readonly entries = new Map<ContentHash, Entry>();
  private readonly downloads = new Map<ContentHash, Download>();
  private readonly evicting = new Map<ContentHash, Promise<void>>();
  private readonly tmpDir: string;
  private readonly now: () => number;
  private used = 0;
  /** Bytes of downloads in progress: room is made for them before they start. */
  private reserved = 0;
  private opened: Promise<void> | undefined;
  private counters = { hits: 0, downloads: 0, evictions: 0, adopted: 0 };

  constructor(
    private readonly storage: Pick<ArtifactStorage, 'size' | 'openRead'>,
    private readonly options: ReadThroughCacheOptions,
  ) {
    this.tmpDir = join(options.dir, 'tmp');
    this.now = options.now ?? Date.now;
  }

  get stats(): ReadThroughCacheStats {
    return { ...this.counters, bytes: this.used, blobs: this.entries.size };
  }

  /** Where the blob of `hash` lies in the cache (whether it is there or not). */
  fileOf(hash: ContentHash): string {
    const { scheme, hex } = splitContentHash(hash);
    return join(this.options.dir, scheme, hex.slice(0, 2), hex);
  }

  private open(): Promise<void> {
    this.opened ??= this.scan().catch((err: unknown) => {
      this.opened = undefined;
      throw new StorageError(
        `cannot use the input cache ${this.options.dir} (worker.cache.dir): ${(err as Error).message}`,
        { cause: err },
      );
    });
    return this.opened;
  }

  /** Learns what an earlier process left: whole blobs (kept), part files of dead downloads (removed). */
  private async scan(): Promise<void> {
    await mkdir(this.tmpDir, { recursive: true });
    const now = this.now();
    for (const name of await readdir(this.tmpDir)) {
      const pid = Number(name.split('-')[0]);
      const st = await stat(join(this.tmpDir, name)).catch(() => undefined);
      if (!st) continue;
      const dead = !Number.isInteger(pid) || pid <= 0 || (pid !== process.pid && !isAlive(pid));
      if (dead || now - st.mtimeMs > STALE_PART_MS) {
        await rm(join(this.tmpDir, name), { recursive: true, force: true });
      }
    }
    for (const scheme of ['sha256', 'sha256t']) {
      const schemeDir = join(this.options.dir, scheme);
      for (const two of await readdir(schemeDir).catch(() => [] as string[])) {
        for (const hex of await readdir(join(schemeDir, two)).catch(() => [] as string[])) {
          const hash = `${scheme}:${hex}`;
          if (!isContentHash(hash) || hex.slice(0, 2) !== two || this.entries.has(hash)) continue;
          const st = await stat(join(schemeDir, two, hex)).catch(() => undefined);
          if (!st?.isFile()) continue;
          this.add({ hash, file: this.fileOf(hash), size: st.size, lastUsed: st.mtimeMs, pins: 0 });
        }
      }
    }
    this.makeRoom();
  }

  private add(entry: Entry): void {
    this.entries.set(entry.hash, entry);
    this.used += entry.size;
  }

  async acquire(hash: string, options: AcquireOptions = {}): Promise<BlobLease> {
    if (!isContentHash(hash)) {
      throw new StorageError(`not a content hash: ${JSON.stringify(hash)} (${contentHashProblem(hash)})`);
    }
    await this.open();
    for (;;) {
      if (options.signal?.aborted) throw abortError(options.signal);
      const evicting = this.evicting.get(hash);
      if (evicting) {
        await evicting;
        continue;
      }
      const entry = this.entries.get(hash);
      if (entry) {
        entry.pins++;
        if (
          await stat(entry.file).then(
            (s) => s.isFile(),
            () => false,
          )
        ) {
          this.counters.hits++;
          this.touch(entry);
          return this.lease(entry, 'cache');
        }
        // Removed under us (by hand, or by another process sharing the directory): fetch it again.
        entry.pins--;
        if (this.entries.get(hash) === entry) this.forget(entry);
        continue;
      }
      const running = this.downloads.get(hash);
      const download = running ?? this.download(hash, options.onDownload);
      const waiter: Waiter = { pinned: false };
      download.waiters.add(waiter);
      let got: Entry;
      try {
        got = await this.wait(download, options.signal);
      } catch (err) {
        download.waiters.delete(waiter);
        if (waiter.pinned) this.unpin(this.entries.get(hash));
        // Nobody waits for it any more: stop it (its part file is removed), and let a later caller start afresh.
        if (download.waiters.size === 0 && !download.settled) {
          download.abort.abort();
          if (this.downloads.get(hash) === download) this.downloads.delete(hash);
        }
        throw err;
      }
      download.waiters.delete(waiter);
      if (running) this.counters.hits++;
      return this.lease(got, running ? 'cache' : 'download');
    }
  }

  private wait(download: Download, signal: AbortSignal | undefined): Promise<Entry> {
    if (!signal) return download.promise;
    return new Promise<Entry>((resolve, reject) => {
      const onAbort = (): void => reject(abortError(signal));
      signal.addEventListener('abort', onAbort, { once: true });
      download.promise.then(
        (e) => {
          signal.removeEventListener('abort', onAbort);
          resolve(e);
        },
        (err: unknown) => {
          signal.removeEventListener('abort', onAbort);
          reject(err as Error);
        },
      );
    });
  }

  private lease(entry: Entry, source: BlobLease['source']): BlobLease {
    let released = false;
    return {
      hash: entry.hash,
      path: entry.file,
      size: entry.size,
      source,
      release: () => {
        if (released) return;
        released = true;
        this.unpin(entry);
      },
    };
  }

  private unpin(entry: Entry | undefined): void {
    if (!entry) return;
    entry.pins = Math.max(0, entry.pins - 1);
    entry.lastUsed = Math.max(entry.lastUsed, this.now());
    if (entry.pins === 0) this.makeRoom();
  }

  /** The file's time is its last use, for the next process that opens the cache. */
  private touch(entry: Entry): void {
    const now = this.now();
    entry.lastUsed = Math.max(entry.lastUsed, now);
    void utimes(entry.file, now / 1000, now / 1000).catch(() => undefined);
  }

  private download(hash: ContentHash, onDownload: AcquireOptions['onDownload']): Download {
    const abort = new AbortController();
    const waiters = new Set<Waiter>();
    const d: Download = { promise: undefined as unknown as Promise<Entry>, waiters, abort, settled: false };
    d.promise = this.fetch(hash, abort.signal, onDownload).then((entry) => {
      // Pinned for every caller still waiting, before any of them runs again: nothing can evict it between.
      for (const w of waiters) {
        w.pinned = true;
        entry.pins++;
      }
      if (entry.pins === 0) this.makeRoom();
      return entry;
    });
    d.promise
      .finally(() => {
        d.settled = true;
        if (this.downloads.get(hash) === d) this.downloads.delete(hash);
      })
      .catch(() => undefined);
    this.downloads.set(hash, d);
    return d;
  }

  private async fetch(
    hash: ContentHash,
    signal: AbortSignal,
    onDownload: AcquireOptions['onDownload'],
  ): Promise<Entry> {
    const size = await this.storage.size(hash);
    if (size === undefined) throw new NotFoundError(`blob ${hash} is not in the artifact storage`);
    if (size > this.options.maxBytes) {
      throw new StorageError(
        `blob ${hash} is ${size} bytes, more than the input cache may hold (worker.cache.maxBytes = ` +
          `${this.options.maxBytes}): raise worker.cache.maxBytes`,
      );
    }
    this.reserved += size;
    try {
      this.makeRoom();
      onDownload?.(size);
      const part = join(this.tmpDir, `${process.pid}-${randomBytes(8).toString('hex')}.part`);
      const final = this.fileOf(hash);
      try {
        await mkdir(this.tmpDir, { recursive: true });
        const stream = await this.storage.openRead(hash);
        await pipeline(stream, createWriteStream(part, { flags: 'wx', mode: 0o600 }), { signal });
        const fh = await open(part, 'r');
        let got: number;
        try {
          got = (await fh.stat()).size;
          // On disk before its name says it is whole: a crash after the rename must not leave a short file.
          await fh.sync();
        } finally {
          await fh.close();
        }
        if (got !== size) {
          throw new StorageError(`blob ${hash}: ${got} bytes arrived, the storage holds ${size}`);
        }
        await chmod(part, 0o444);
        await mkdir(dirname(final), { recursive: true });
        await rename(part, final);
      } catch (err) {
        await rm(part, { force: true });
        if (signal.aborted) throw abortError(signal);
        throw err;
      }
      this.counters.downloads++;
      const entry: Entry = { hash, file: final, size, lastUsed: this.now(), pins: 0 };
      const previous = this.entries.get(hash);
      if (previous) this.forget(previous);
      this.add(entry);
      return entry;
    } finally {
      this.reserved -= size;
    }
  }

  /**
   * Takes in a file whose bytes are known to hash to `hash` (a job's output, checked on its way into the storage)
   * as the cache's copy of that blob: renamed into place, read-only, without a copy or a download. The file is
   * gone afterwards whatever happens: a blob the cache has already, one bigger than `maxBytes`, or a rename that
   * fails (another filesystem) only remove it. Returns whether it was taken.
   */
  async adopt(path: string, hash: string, size: number): Promise<boolean> {
    let taken = false;
    try {
      if (!isContentHash(hash) || size > this.options.maxBytes) return false;
      await this.open();
      if (this.entries.has(hash) || this.downloads.has(hash) || this.evicting.has(hash)) return false;
      const final = this.fileOf(hash);
      await chmod(path, 0o444);
      await mkdir(dirname(final), { recursive: true });
      await rename(path, final);
      taken = true;
      this.counters.adopted++;
      this.add({ hash, file: final, size, lastUsed: this.now(), pins: 0 });
      this.makeRoom();
      return true;
    } catch {
      return false;
    } finally {
      if (!taken) await rm(path, { force: true });
    }
  }

  private forget(entry: Entry): void {
    this.entries.delete(entry.hash);
    this.used -= entry.size;
  }

  /** Removes unleased blobs, least recently used first, until what is kept and coming fits in `maxBytes`. */
  private makeRoom(): void {
    let over = this.used + this.reserved - this.options.maxBytes;
    if (over <= 0) return;
    const candidates = [...this.entries.values()]
      .filter((e) => e.pins === 0)
      .sort((a, b) => a.lastUsed - b.lastUsed);
    for (const e of candidates) {
      if (over <= 0) break;
      over -= e.size;
      this.evict(e);
    }
  }

  private evict(entry: Entry): void {
    this.forget(entry);
    this.counters.evictions++;
    // Whoever wants it again waits for the removal, so it cannot remove their fresh copy.
    const removal = rm(entry.file, { force: true })
      .catch(() => undefined)
      .finally(() => {
        if (this.evicting.get(entry.hash) === removal) this.evicting.delete(entry.hash);
      });
    this.evicting.set(entry.hash, removal);
  }
}

/**
 * Jobs' inputs as local files: a storage's own file where it has one (the local blob dir: read in place, no copy,
 * no cache), else the read-through cache, made (and its directory created) on first use. Jobs' outputs: renamed
 * into a local storage; uploaded to another, their files then kept as the cache's copies, so that a job reading an
 * output made on the same machine finds it without a download.
 */
export class JobInputFiles implements JobFiles {
  private cached: ReadThroughCache | undefined;
  /** Per folder of job folders: whether outputs written there reach the storage by a rename. */
  private readonly sameFilesystem = new Map<string, Promise<boolean>>();

  constructor(
    private readonly storage: Pick<
      ArtifactStorage,
      'path' | 'size' | 'openRead' | 'putFile' | 'putBytes' | 'createStagingDir'
    >,
    private readonly cacheOptions: ReadThroughCacheOptions,
  ) {}

  /** The cache, once a storage without local files needed it. */
  get cache(): ReadThroughCache | undefined {
    return this.cached;
  }

  /** Whether the storage keeps its blobs as local files (read in place): then there is no cache. */
  private get inPlace(): boolean {
    return this.storage.path(NO_BLOB) !== undefined;
  }

  async outputFolder(jobDir: string, label: string): Promise<OutputFolder> {
    const jobs = dirname(jobDir);
    let same = this.sameFilesystem.get(jobs);
    if (same === undefined) {
      same = this.onStoreFilesystem(jobs);
      // One answer per folder of job folders (an execution's), kept for the few executions open at once.
      if (this.sameFilesystem.size >= 16) this.sameFilesystem.clear();
      this.sameFilesystem.set(jobs, same);
    }
    if (await same) return { path: join(jobDir, 'outputs'), temporary: false };
    return { path: await this.storage.createStagingDir(label), temporary: true };
  }

  /**
   * Whether files in `dir` reach the storage by a rename: it keeps local files, on the same filesystem. No when
   * either cannot be looked at (the staging folder is then the safe choice).
   */
  private async onStoreFilesystem(dir: string): Promise<boolean> {
    const blob = this.storage.path(NO_BLOB);
    if (blob === undefined) return false;
    // <root>/<scheme>/ab/<hex>: the scheme's folder exists once the store has been opened.
    const [store, here] = await Promise.all([
      stat(dirname(dirname(blob))).catch(() => undefined),
      stat(dir).catch(() => undefined),
    ]);
    return store !== undefined && here !== undefined && store.dev === here.dev;
  }

  putOutputBytes(data: Uint8Array): Promise<StoredBlob> {
    return this.storage.putBytes(data);
  }

  get inlineOutputs(): boolean {
    return this.inPlace;
  }

  async putOutput(path: string, options: Pick<PutFileOptions, 'expectedHash'>): Promise<PutResult> {
    // A local store takes the file by a rename; another keeps a copy of the bytes it was sent.
    if (this.inPlace) return this.storage.putFile(path, { ...options, move: true });
    let stored: PutResult;
    try {
      stored = await this.storage.putFile(path, options);
    } catch (err) {
      await rm(path, { force: true });
      throw err;
    }
    // Taken only when the storage read every byte and they hash to the id (S3: checked before the upload's last
    // part): the cache holds checked bytes only. A blob the bucket had already was not compared with the file.
    if (!stored.readFile) await rm(path, { force: true });
    else {
      this.cached ??= new ReadThroughCache(this.storage, this.cacheOptions);
      await this.cached.adopt(path, stored.hash, stored.size);
    }
    return stored;
  }

  async acquire(hash: string, options: AcquireOptions = {}): Promise<BlobLease> {
    const local = this.storage.path(hash);
    if (local === undefined) {
      this.cached ??= new ReadThroughCache(this.storage, this.cacheOptions);
      return this.cached.acquire(hash, options);
    }
    const size = await this.storage.size(hash);
    if (size === undefined) throw new NotFoundError(`blob ${hash} is not in the artifact storage`);
    return { hash: hash as ContentHash, path: local, size, source: 'storage', release: () => undefined };
  }
}
