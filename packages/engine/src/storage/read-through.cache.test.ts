import { randomBytes } from 'node:crypto';
import { mkdir, mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { PutObjectCommand } from '@aws-sdk/client-s3';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { NotFoundError } from '../errors.js';
import {
  listTestKeys,
  startFlakyProxy,
  testS3Env,
  useTestBucket,
  type FlakyProxy,
} from '../test-support/s3-server.js';
import type { ContentHash, CorruptBlobReport } from './artifact.storage.js';
import { contentHashOf } from './content-hasher.js';
import { LocalBlobStorage } from './local-blob.storage.js';
import { JobInputFiles, ReadThroughCache, type BlobLease } from './read-through.cache.js';
import { S3Storage, type S3StorageOptions } from './s3.storage.js';

const bucket = useTestBucket('cache');
const MiB = 1024 * 1024;

/** Bytes with no two 8 MiB blocks alike. */
function content(size: number, seed = 1): Buffer {
  const b = Buffer.allocUnsafe(size);
  for (let i = 0; i < size; i++) b[i] = (Math.imul(i + seed, 2654435761) >>> 24) & 0xff;
  return b;
}

/** Every file under a directory, relative to it. */
async function filesUnder(dir: string, rel = ''): Promise<string[]> {
  const out: string[] = [];
  for (const e of await readdir(join(dir, rel), { withFileTypes: true }).catch(() => [])) {
    const p = rel === '' ? e.name : `${rel}/${e.name}`;
    if (e.isDirectory()) out.push(...(await filesUnder(dir, p)));
    else out.push(p);
  }
  return out.sort();
}

function cacheFileOf(hash: string): string {
  const [scheme, hex] = hash.split(':') as [string, string];
  return `${scheme}/${hex.slice(0, 2)}/${hex}`;
}

describe('ReadThroughCache on S3 storage', () => {
  let root: string;
  let cacheDir: string;
  let s3: S3Storage;
  let prefix: string;
  /** The storage as the cache sees it, counting the downloads it starts. */
  let counted: { size: S3Storage['size']; openRead: S3Storage['openRead']; reads: number };
  const reports: CorruptBlobReport[] = [];

  const openS3 = (options: Partial<S3StorageOptions> = {}): S3Storage =>
    new S3Storage({
      bucket: bucket.current.bucket,
      endpoint: bucket.current.endpoint,
      region: 'us-east-1',
      forcePathStyle: true,
      prefix,
      localDir: join(root, 'local'),
      env: testS3Env(),
      onCorrupt: (r) => reports.push(r),
      ...options,
    });
  const countReads = (storage: S3Storage): typeof counted => {
    const c = {
      reads: 0,
      size: (hash: string) => storage.size(hash),
      openRead: (hash: string) => {
        c.reads++;
        return storage.openRead(hash);
      },
    };
    return c;
  };
  const put = async (bytes: Buffer): Promise<ContentHash> =>
    (await s3.putStream(Readable.from([bytes]))).hash;

  beforeEach(async () => {
    root = await mkdtemp(join(tmpdir(), 'df-cache-'));
    cacheDir = join(root, 'cache');
    prefix = `c-${randomBytes(4).toString('hex')}`;
    s3 = openS3();
    await s3.init();
    counted = countReads(s3);
    reports.length = 0;
  });
  afterEach(async () => {
    await s3.close();
    await rm(root, { recursive: true, force: true });
  });

  it('fetches a blob once: callers at the same time share one download, later ones hit the file', async () => {
    const bytes = content(3 * MiB + 17, 2);
    const hash = await put(bytes);
    const cache = new ReadThroughCache(counted, { dir: cacheDir, maxBytes: 100 * MiB });
    const downloads: number[] = [];
    const [a, b] = await Promise.all([
      cache.acquire(hash, { onDownload: (size) => downloads.push(size) }),
      cache.acquire(hash, { onDownload: (size) => downloads.push(size) }),
    ]);
    expect(counted.reads).toBe(1);
    expect(downloads).toEqual([bytes.length]);
    expect([a.source, b.source].sort()).toEqual(['cache', 'download']);
    expect(a.path).toBe(join(cacheDir, cacheFileOf(hash)));
    expect(b.path).toBe(a.path);
    expect(a.size).toBe(bytes.length);
    expect((await readFile(a.path)).equals(bytes)).toBe(true);
    // Read-only, and nothing else in the cache: the download's part file was renamed into place.
    expect((await stat(a.path)).mode & 0o222).toBe(0);
    expect(await filesUnder(cacheDir)).toEqual([cacheFileOf(hash)]);
    a.release();
    b.release();

    const again = await cache.acquire(hash);
    expect(again.source).toBe('cache');
    expect(counted.reads).toBe(1);
    expect(cache.stats).toMatchObject({ downloads: 1, hits: 2, bytes: bytes.length, blobs: 1 });
    again.release();

    // A cache opened on the same directory later (the next engine process) finds it there.
    const reopened = new ReadThroughCache(counted, { dir: cacheDir, maxBytes: 100 * MiB });
    const third = await reopened.acquire(hash);
    expect(third.source).toBe('cache');
    expect(counted.reads).toBe(1);
    third.release();
  });

  it("keeps a job's output it stored as the cache's copy: read there next, no download", async () => {
    const files = new JobInputFiles(s3, { dir: cacheDir, maxBytes: 10 * MiB });
    const staged = join(root, 'out.bin');
    const bytes = content(MiB + 5, 7);
    await writeFile(staged, bytes);
    const stored = await files.putOutput(staged, { expectedHash: contentHashOf(bytes) });
    expect(stored).toMatchObject({ hash: contentHashOf(bytes), size: bytes.length, readFile: true });
    // In the bucket, and the staged file became the cache's read-only copy (nothing left where it was).
    expect(await s3.size(stored.hash)).toBe(bytes.length);
    await expect(stat(staged)).rejects.toThrow(/ENOENT/);
    expect(await filesUnder(cacheDir)).toEqual([cacheFileOf(stored.hash)]);
    const lease = await files.acquire(stored.hash, { onDownload: () => expect.unreachable('a download') });
    expect(lease.source).toBe('cache');
    expect((await readFile(lease.path)).equals(bytes)).toBe(true);
    expect((await stat(lease.path)).mode & 0o222).toBe(0);
    expect(files.cache!.stats).toMatchObject({ adopted: 1, downloads: 0, hits: 1, blobs: 1 });
    lease.release();

    // The same bytes again: the bucket has them, the file was not compared with them, so it is only removed.
    await writeFile(staged, bytes);
    const again = await files.putOutput(staged, { expectedHash: stored.hash });
    expect(again.readFile).toBeUndefined();
    await expect(stat(staged)).rejects.toThrow(/ENOENT/);
    expect(files.cache!.stats).toMatchObject({ adopted: 1, blobs: 1 });

    // Bigger than the cache may hold: stored, the file removed, nothing kept.
    const small = new JobInputFiles(s3, { dir: join(root, 'small'), maxBytes: 1024 });
    const big = content(4096, 8);
    await writeFile(staged, big);
    const bigStored = await small.putOutput(staged, { expectedHash: contentHashOf(big) });
    expect(await s3.size(bigStored.hash)).toBe(4096);
    await expect(stat(staged)).rejects.toThrow(/ENOENT/);
    expect(await filesUnder(join(root, 'small'))).toEqual([]);
  });

  it('keeps nothing of an output whose bytes are not what its writer said, and stores nothing', async () => {
    const files = new JobInputFiles(s3, { dir: cacheDir, maxBytes: 10 * MiB });
    const staged = join(root, 'out.bin');
    await writeFile(staged, content(2048, 9));
    await expect(files.putOutput(staged, { expectedHash: contentHashOf(content(2048, 10)) })).rejects.toThrow(
      /hash to sha256:[0-9a-f]{64}, not to/,
    );
    await expect(stat(staged)).rejects.toThrow(/ENOENT/);
    expect(await filesUnder(cacheDir)).toEqual([]);
    expect(await s3.has(contentHashOf(content(2048, 10)))).toBe(false);
  });

  it('evicts the least recently used blobs beyond maxBytes, never one that is leased', async () => {
    const blobs = await Promise.all([1, 2, 3, 4, 5].map((seed) => put(content(100, seed))));
    const [A, B, C, D, E] = blobs as [ContentHash, ContentHash, ContentHash, ContentHash, ContentHash];
    let tick = 0;
    const cache = new ReadThroughCache(counted, { dir: cacheDir, maxBytes: 250, now: () => ++tick });
    const present = async (): Promise<string[]> =>
      (await filesUnder(cacheDir)).filter((f) => !f.startsWith('tmp/'));
    (await cache.acquire(B)).release();
    (await cache.acquire(C)).release();
    (await cache.acquire(B)).release(); // B used last: C is the least recently used now
    const a = await cache.acquire(A); // leased from here on; room for it is made from C
    expect(await present()).toEqual([A, B].map(cacheFileOf).sort());
    const d = await cache.acquire(D); // room from B, the only blob not leased
    expect(await present()).toEqual([A, D].map(cacheFileOf).sort());
    expect(cache.stats).toMatchObject({ evictions: 2, bytes: 200, hits: 1, downloads: 4 });

    // Leased blobs may take it over its bound while they are in use; released, it shrinks back.
    const e = await cache.acquire(E);
    expect(await present()).toEqual([A, D, E].map(cacheFileOf).sort());
    expect(cache.stats.bytes).toBe(300);
    expect((await readFile(a.path)).equals(content(100, 1))).toBe(true);
    d.release();
    e.release();
    a.release();
    await expect.poll(present).toEqual([A, E].map(cacheFileOf).sort());
    expect(cache.stats.bytes).toBe(200);

    // A blob the cache could never hold is refused, naming the setting.
    const big = await put(content(300, 6));
    await expect(cache.acquire(big)).rejects.toThrow(
      /blob sha256:[0-9a-f]{64} is 300 bytes, more than the input cache may hold \(worker.cache.maxBytes = 250\)/,
    );
    expect(counted.reads).toBe(5);
  });

  it('refuses a corrupt object with a clear error: quarantined in the bucket, nothing kept in the cache', async () => {
    const good = content(2 * MiB, 7);
    const hash = await put(good);
    const bad = Buffer.from(good);
    bad[MiB] = bad[MiB]! ^ 0xff;
    const key = s3.keyOf(hash);
    const b = bucket.current;
    await b.client.send(new PutObjectCommand({ Bucket: b.bucket, Key: key, Body: bad }));

    const cache = new ReadThroughCache(counted, { dir: cacheDir, maxBytes: 100 * MiB });
    await expect(cache.acquire(hash)).rejects.toThrow(
      new RegExp(`blob ${hash} is corrupt: its bytes hash to ${contentHashOf(bad)}, not to ${hash}`),
    );
    expect(reports.map((r) => r.hash)).toEqual([hash]);
    expect(await listTestKeys(b.client, b.bucket, `${prefix}/quarantine/`)).toHaveLength(2);
    expect(await s3.has(hash)).toBe(false);
    expect(await filesUnder(cacheDir)).toEqual([]);
    expect(cache.stats).toMatchObject({ downloads: 0, bytes: 0, blobs: 0 });

    // Gone from the storage: a later job is told it is missing.
    await expect(cache.acquire(hash)).rejects.toThrow(NotFoundError);
  });

  it('stops a download nobody waits for any more, leaving no part file', async () => {
    const hash = await put(content(MiB, 8));
    const cache = new ReadThroughCache(counted, { dir: cacheDir, maxBytes: 100 * MiB });
    const abort = new AbortController();
    await expect(
      cache.acquire(hash, { signal: abort.signal, onDownload: () => abort.abort() }),
    ).rejects.toThrow(/abort/i);
    await expect.poll(() => filesUnder(cacheDir)).toEqual([]);
    const lease = await cache.acquire(hash);
    expect(lease.source).toBe('download');
    lease.release();
  });

  it('removes part files of processes that are gone when it opens', async () => {
    await mkdir(join(cacheDir, 'tmp'), { recursive: true });
    await writeFile(join(cacheDir, 'tmp', '999999999-0123456789abcdef.part'), 'half a blob');
    await writeFile(join(cacheDir, 'tmp', `${process.pid}-0123456789abcdef.part`), 'ours, in progress');
    const hash = await put(Buffer.from('a blob'));
    const cache = new ReadThroughCache(counted, { dir: cacheDir, maxBytes: 100 * MiB });
    (await cache.acquire(hash)).release();
    expect(await filesUnder(cacheDir)).toEqual(
      [cacheFileOf(hash), `tmp/${process.pid}-0123456789abcdef.part`].sort(),
    );
  });

  describe('when the connection is cut', () => {
    let proxy: FlakyProxy;
    beforeEach(async () => {
      proxy = await startFlakyProxy(Number(new URL(bucket.current.endpoint).port));
    });
    afterEach(async () => {
      await proxy.close();
    });

    it('keeps no partial file in the cache, and the next try fetches the blob whole', async () => {
      const bytes = content(12 * MiB + 3, 9);
      const hash = await put(bytes);
      const viaProxy = openS3({ endpoint: proxy.endpoint, maxAttempts: 2 });
      const cache = new ReadThroughCache(countReads(viaProxy), { dir: cacheDir, maxBytes: 100 * MiB });
      try {
        // Gone 5 MiB into the download, new connections refused: the resumed reads fail too.
        const cut = proxy.cutAfter({ down: 5 * MiB });
        await expect(cache.acquire(hash)).rejects.toThrow(new RegExp(`cannot read ${hash}`));
        await cut;
        expect(await filesUnder(cacheDir)).toEqual([]);
        expect(cache.stats).toMatchObject({ downloads: 0, bytes: 0 });

        await proxy.restore();
        const lease: BlobLease = await cache.acquire(hash);
        expect(lease.source).toBe('download');
        expect((await readFile(lease.path)).equals(bytes)).toBe(true);
        expect(await filesUnder(cacheDir)).toEqual([cacheFileOf(hash)]);
        lease.release();
      } finally {
        await viaProxy.close();
      }
    });
  });
});

describe('JobInputFiles', () => {
  let root: string;
  beforeEach(async () => {
    root = await mkdtemp(join(tmpdir(), 'df-input-files-'));
  });
  afterEach(async () => {
    await rm(root, { recursive: true, force: true });
  });

  it('reads a local storage in place: no copy, no cache directory', async () => {
    const storage = new LocalBlobStorage(join(root, 'blob'));
    await storage.init();
    const blob = await storage.putStream(Readable.from([Buffer.from('in place')]));
    const files = new JobInputFiles(storage, { dir: join(root, 'cache'), maxBytes: 1024 });
    const lease = await files.acquire(blob.hash);
    expect(lease).toMatchObject({ path: storage.path(blob.hash), source: 'storage', size: 8 });
    lease.release();
    expect(files.cache).toBeUndefined();
    expect(await readdir(root)).toEqual(['blob']);
    await expect(files.acquire(contentHashOf(Buffer.from('never stored')))).rejects.toThrow(
      /blob sha256:[0-9a-f]{64} is not in the artifact storage/,
    );
  });

  it("moves a job's output into a local storage: a rename, no cache", async () => {
    const storage = new LocalBlobStorage(join(root, 'blob'));
    await storage.init();
    const files = new JobInputFiles(storage, { dir: join(root, 'cache'), maxBytes: 1024 });
    const staged = join(await storage.createStagingDir('job'), 'out.bin');
    await writeFile(staged, 'made by a job');
    const stored = await files.putOutput(staged, {});
    expect(stored.hash).toBe(contentHashOf(Buffer.from('made by a job')));
    expect((await readFile(storage.path(stored.hash))).toString()).toBe('made by a job');
    await expect(stat(staged)).rejects.toThrow(/ENOENT/);
    expect(files.cache).toBeUndefined();
    expect(await readdir(root)).toEqual(['blob']);
  });
});
