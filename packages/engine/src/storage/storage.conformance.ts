import { createHash } from 'node:crypto';
import { mkdtemp, readFile, rm, stat, utimes, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  CorruptBlobError,
  type ArtifactStorage,
  type BlobVerification,
  type ContentHash,
} from './artifact.storage.js';
import { contentHashOf } from './content-hasher.js';

export interface StorageHarness {
  storage: ArtifactStorage;
  /** Counts the blobs the adapter holds, to check that equal content is stored once. */
  countBlobs(): Promise<number>;
  cleanup(): Promise<void>;
}

/** The content id: sha256 up to 8 MiB, the block tree above (docs/adr/0006). */
function sha(data: string | Buffer): string {
  return contentHashOf(typeof data === 'string' ? Buffer.from(data) : data);
}

async function readAll(stream: Readable): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const c of stream) chunks.push(c as Buffer);
  return Buffer.concat(chunks);
}

/** The behaviour every ArtifactStorage adapter must have. Call it inside a test file with the adapter's factory. */
export function describeArtifactStorageConformance(
  name: string,
  create: () => Promise<StorageHarness>,
): void {
  describe(`ArtifactStorage conformance: ${name}`, () => {
    let h: StorageHarness;
    let scratch: string;

    beforeEach(async () => {
      h = await create();
      scratch = await mkdtemp(join(tmpdir(), 'df-storage-src-'));
    });
    afterEach(async () => {
      await h.cleanup();
      await rm(scratch, { recursive: true, force: true });
    });

    it('stores a copy of a file under its sha256 and leaves the source alone', async () => {
      const src = join(scratch, 'a.bin');
      await writeFile(src, 'hello world');
      const blob = await h.storage.putFile(src);
      expect(blob).toMatchObject({ hash: sha('hello world'), size: 11 });
      expect(await readFile(src, 'utf8')).toBe('hello world');
      expect(await h.storage.has(blob.hash)).toBe(true);
      expect(await h.storage.size(blob.hash)).toBe(11);
      expect((await readAll(await h.storage.openRead(blob.hash))).toString()).toBe('hello world');
    });

    it('moves a file in when asked, and the source is gone', async () => {
      const dir = await h.storage.createStagingDir('job-1');
      const src = join(dir, 'out');
      await writeFile(src, 'moved bytes');
      const blob = await h.storage.putFile(src, { move: true });
      expect(blob.hash).toBe(sha('moved bytes'));
      await expect(stat(src)).rejects.toThrow();
      expect((await readAll(await h.storage.openRead(blob.hash))).toString()).toBe('moved bytes');
    });

    it('stores bytes held in memory under their content id, once however often they are put', async () => {
      const before = await h.countBlobs();
      const data = Buffer.from('bytes from an event');
      const blobs = await Promise.all([h.storage.putBytes(data), h.storage.putBytes(data)]);
      expect(blobs).toEqual([
        { hash: sha(data), size: data.length },
        { hash: sha(data), size: data.length },
      ]);
      expect(await h.storage.putBytes(new Uint8Array(data))).toEqual({ hash: sha(data), size: data.length });
      expect(await h.countBlobs()).toBe(before + 1);
      expect((await readAll(await h.storage.openRead(blobs[0]!.hash))).equals(data)).toBe(true);
      expect(await h.storage.putBytes(new Uint8Array(0))).toEqual({ hash: sha(''), size: 0 });
      expect(await h.storage.size(sha(''))).toBe(0);
    });

    it('keeps one blob for the same bytes put many times, also concurrently', async () => {
      const before = await h.countBlobs();
      const files = await Promise.all(
        Array.from({ length: 8 }, async (_, i) => {
          const f = join(scratch, `same-${i}`);
          await writeFile(f, 'same content');
          return f;
        }),
      );
      const blobs = await Promise.all(files.map((f, i) => h.storage.putFile(f, { move: i % 2 === 0 })));
      expect(new Set(blobs.map((b) => b.hash)).size).toBe(1);
      await h.storage.putStream(Readable.from([Buffer.from('same '), Buffer.from('content')]));
      expect(await h.countBlobs()).toBe(before + 1);
    });

    it('stores streams, including empty and multi-megabyte ones', async () => {
      const empty = await h.storage.putStream(Readable.from([]));
      expect(empty).toEqual({ hash: sha(''), size: 0 });
      const big = Buffer.alloc(5 * 1024 * 1024 + 7, 'x');
      big[12345] = 0xff;
      const blob = await h.storage.putStream(Readable.from([big.subarray(0, 1000), big.subarray(1000)]));
      expect(blob).toEqual({ hash: sha(big), size: big.length });
      expect((await readAll(await h.storage.openRead(blob.hash))).equals(big)).toBe(true);
    });

    it('deletes blobs, and deleting a missing one is fine', async () => {
      const blob = await h.storage.putStream(Readable.from([Buffer.from('to delete')]));
      await h.storage.delete(blob.hash);
      expect(await h.storage.has(blob.hash)).toBe(false);
      expect(await h.storage.size(blob.hash)).toBeUndefined();
      await h.storage.delete(blob.hash);
      await expect(h.storage.openRead(blob.hash)).rejects.toThrow(/not in the store/);
    });

    it('says no for hashes it does not have or that are not hashes', async () => {
      expect(await h.storage.has(sha('never stored'))).toBe(false);
      expect(await h.storage.has('sha256:xyz')).toBe(false);
      expect(await h.storage.has('sha256t:xyz')).toBe(false);
      expect(await h.storage.has(`md5:${'0'.repeat(64)}`)).toBe(false);
      expect(await h.storage.has('../../etc/passwd')).toBe(false);
    });

    it('fails clearly for a file that does not exist', async () => {
      await expect(h.storage.putFile(join(scratch, 'nope'))).rejects.toThrow(/nope.*no such file/);
      await expect(h.storage.putFile(join(scratch, 'nope'), { move: true })).rejects.toThrow(/no such file/);
    });

    it('stores a file under the hash its writer gave, and checks it (at once or in the background)', async () => {
      // 3 MiB: a `sha256:` id; 9 MiB: a `sha256t:` id (docs/adr/0006).
      for (const size of [3 * 1024 * 1024, 9 * 1024 * 1024]) {
        const dir = await h.storage.createStagingDir('job-2');
        const big = Buffer.alloc(size, 'b');
        big[7] = 1;
        big[size - 2] = 2;
        const src = join(dir, 'out');
        await writeFile(src, big);
        const blob = await h.storage.putFile(src, { move: true, expectedHash: sha(big) as ContentHash });
        expect({ hash: blob.hash, size: blob.size }).toEqual({ hash: sha(big), size: big.length });
        expect(blob.hash.startsWith(size > 8 * 1024 * 1024 ? 'sha256t:' : 'sha256:')).toBe(true);
        if (blob.verified) expect(await blob.verified).toEqual({ ok: true });
        expect((await readAll(await h.storage.openRead(blob.hash))).equals(big)).toBe(true);
        // The same bytes again: one blob.
        const again = join(scratch, 'again');
        await writeFile(again, big);
        const second = await h.storage.putFile(again, { move: true, expectedHash: sha(big) as ContentHash });
        if (second.verified) expect(await second.verified).toEqual({ ok: true });
        expect(second.hash).toBe(blob.hash);
      }
    });

    it('never keeps bytes under a hash they do not have', async () => {
      for (const [size, claimed] of [
        [100, sha('not these bytes')],
        [3 * 1024 * 1024, sha('not these bytes either')],
        [9 * 1024 * 1024, sha(Buffer.alloc(9 * 1024 * 1024, 'v'))],
        // The plain sha256 of bytes over 8 MiB is not their id: never stored under it.
        [
          9 * 1024 * 1024,
          `sha256:${createHash('sha256')
            .update(Buffer.alloc(9 * 1024 * 1024, 'w'))
            .digest('hex')}`,
        ],
      ] as const) {
        const src = join(scratch, `wrong-${size}`);
        const bytes = Buffer.alloc(size, 'w');
        await writeFile(src, bytes);
        let verification: BlobVerification | undefined;
        try {
          const blob = await h.storage.putFile(src, { move: true, expectedHash: claimed as ContentHash });
          expect(blob.verified).toBeDefined();
          verification = await blob.verified;
        } catch (err) {
          expect(err).toBeInstanceOf(CorruptBlobError);
          expect((err as CorruptBlobError).actual).toBe(sha(bytes));
        }
        if (verification) {
          expect(verification.ok).toBe(false);
          if (!verification.ok) expect(verification.actual).toBe(sha(bytes));
        }
        expect(await h.storage.has(claimed)).toBe(false);
        expect(await h.storage.has(sha(bytes))).toBe(false);
      }
    });

    it('stores nothing from a stream that fails part way', async () => {
      const before = await h.countBlobs();
      const start = Buffer.alloc(3 * 1024 * 1024, 'f');
      async function* failing(): AsyncGenerator<Buffer> {
        yield start;
        throw new Error('the uploading client went away');
      }
      await expect(h.storage.putStream(Readable.from(failing()))).rejects.toThrow(/client went away/);
      expect(await h.countBlobs()).toBe(before);
      expect(await h.storage.has(sha(start))).toBe(false);
    });

    it('sweeps staging directories left by a process that died, when the adapter sweeps', async () => {
      const sweeper = h.storage as ArtifactStorage & { sweep?(maxAgeMs: number): Promise<number> };
      if (!sweeper.sweep) return;
      const old = await h.storage.createStagingDir('dead-job');
      await writeFile(join(old, 'out'), 'left behind');
      const hourAgo = new Date(Date.now() - 3600 * 1000);
      await utimes(old, hourAgo, hourAgo);
      const fresh = await h.storage.createStagingDir('live-job');
      expect(await sweeper.sweep(60 * 1000)).toBeGreaterThanOrEqual(1);
      await expect(stat(old)).rejects.toThrow();
      expect((await stat(fresh)).isDirectory()).toBe(true);
    });

    it('gives fresh, empty, distinct staging directories', async () => {
      const a = await h.storage.createStagingDir('x/y');
      const b = await h.storage.createStagingDir('x/y');
      expect(a).not.toBe(b);
      await writeFile(join(a, 'f'), '1');
      await writeFile(join(b, 'f'), '2');
    });
  });
}
