import { createHash } from 'node:crypto';
import {
  appendFile,
  chmod,
  mkdir,
  mkdtemp,
  open,
  readFile,
  readdir,
  rm,
  stat,
  writeFile,
  type FileHandle,
} from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { CorruptBlobError, type ContentHash } from './artifact.storage.js';
import { contentHashOf } from './content-hasher.js';
import {
  HASH_CHUNK_BYTES,
  LocalBlobStorage,
  blobStorageTestHooks,
  fileNameOf,
  hashFile,
  hashOfFileName,
  type CorruptBlobReport,
} from './local-blob.storage.js';
import { describeArtifactStorageConformance } from './storage.conformance.js';

/** The plain sha256: the content id up to 8 MiB, and what `sha256:` ids made before the tree say. */
function sha(data: Buffer | string): ContentHash {
  return `sha256:${createHash('sha256').update(data).digest('hex')}`;
}

/** 20 MiB + 3 bytes, no two blocks alike: a `sha256t:` id (docs/adr/0006). */
function bigContent(): Buffer {
  const b = Buffer.allocUnsafe(20 * 1024 * 1024 + 3);
  for (let i = 0; i < b.length; i++) b[i] = Math.imul(i, 2654435761) >>> 24;
  return b;
}

/** Flips one byte of a (read-only) blob in place, as a disk or a stray writer might. */
async function flipByte(path: string, at: number): Promise<void> {
  await chmod(path, 0o644);
  const fh = await open(path, 'r+');
  try {
    const b = Buffer.alloc(1);
    await fh.read(b, 0, 1, at);
    b[0] = b[0]! ^ 0xff;
    await fh.write(b, 0, 1, at);
  } finally {
    await fh.close();
  }
  await chmod(path, 0o444);
}

async function countFiles(dir: string): Promise<number> {
  let n = 0;
  for (const sub of await readdir(dir).catch(() => [] as string[])) {
    n += (await readdir(join(dir, sub))).length;
  }
  return n;
}

describeArtifactStorageConformance('local directory', async () => {
  const root = await mkdtemp(join(tmpdir(), 'df-blob-'));
  const storage = new LocalBlobStorage(root);
  await storage.init();
  return {
    storage,
    countBlobs: () => countFiles(join(root, 'sha256')),
    cleanup: () => rm(root, { recursive: true, force: true }),
  };
});

describe('LocalBlobStorage', () => {
  afterEach(() => {
    delete blobStorageTestHooks.beforeCheck;
  });

  it('moves outputs in by renaming (same inode, no copy) into sha256/ab/<hex>, read-only', async () => {
    const root = await mkdtemp(join(tmpdir(), 'df-blob-'));
    try {
      const storage = new LocalBlobStorage(root);
      const staging = await storage.createStagingDir('job');
      expect(staging.startsWith(join(root, 'staging'))).toBe(true);
      const out = join(staging, 'result');
      await writeFile(out, 'abc');
      const ino = (await stat(out)).ino;
      const blob = await storage.putFile(out, { move: true });
      const p = storage.path(blob.hash);
      const hex = blob.hash.slice(7);
      expect(p).toBe(join(root, 'sha256', hex.slice(0, 2), hex));
      const s = await stat(p);
      expect(s.ino).toBe(ino);
      expect(s.mode & 0o222).toBe(0);
      expect(await readdir(join(root, 'tmp'))).toEqual([]);
    } finally {
      await rm(root, { recursive: true, force: true });
    }
  });

  it('makes its folders again when they were removed under it, and a staging folder without its parent', async () => {
    const root = await mkdtemp(join(tmpdir(), 'df-blob-'));
    try {
      const storage = new LocalBlobStorage(root);
      await storage.init();
      const first = join(root, 'first');
      await writeFile(first, 'one');
      await storage.putFile(first, { move: true });
      // Everything but what it stored is gone (a user cleaning up by hand).
      for (const d of ['tmp', 'staging', 'unverified']) await rm(join(root, d), { recursive: true });
      const staging = await storage.createStagingDir('job');
      const out = join(staging, 'result');
      await writeFile(out, 'two');
      const blob = await storage.putFile(out, { move: true });
      expect(await readFile(storage.path(blob.hash), 'utf8')).toBe('two');
      expect(await readdir(join(root, 'tmp'))).toEqual([]);
      // A file that is not there is still named as such.
      await expect(storage.putFile(join(root, 'nothing'), { move: true })).rejects.toThrow(/no such file/);
    } finally {
      await rm(root, { recursive: true, force: true });
    }
  });

  it('replaces a damaged blob (wrong size) when the right bytes come again', async () => {
    const root = await mkdtemp(join(tmpdir(), 'df-blob-'));
    try {
      const storage = new LocalBlobStorage(root);
      const src = join(root, 'src');
      await writeFile(src, 'payload');
      const blob = await storage.putFile(src);
      const p = storage.path(blob.hash);
      await rm(p);
      await writeFile(p, 'pay');
      await appendFile(src, '');
      await storage.putFile(src);
      expect((await stat(p)).size).toBe(7);
    } finally {
      await rm(root, { recursive: true, force: true });
    }
  });

  it('sweeps temp files and staging dirs left by dead processes', async () => {
    const root = await mkdtemp(join(tmpdir(), 'df-blob-'));
    try {
      const storage = new LocalBlobStorage(root);
      await storage.init();
      await writeFile(join(root, 'tmp', 'leftover'), 'x');
      await storage.createStagingDir('old');
      expect(await storage.sweep(60_000, Date.now() + 120_000)).toBe(2);
      expect(await storage.sweep(60_000)).toBe(0);
    } finally {
      await rm(root, { recursive: true, force: true });
    }
  });

  it('hashes files in big reads, across chunk boundaries, when it copies and when it only hashes', async () => {
    const root = await mkdtemp(join(tmpdir(), 'df-blob-'));
    try {
      const storage = new LocalBlobStorage(root);
      for (const size of [0, 1, HASH_CHUNK_BYTES, 2 * HASH_CHUNK_BYTES + 3]) {
        const data = Buffer.alloc(size);
        for (let i = 0; i < size; i += 4096) data[i] = i % 251;
        const src = join(root, `src-${size}`);
        await writeFile(src, data);
        expect(await hashFile(src)).toEqual({ hash: contentHashOf(data), size });
        const blob = await storage.putFile(src);
        expect(blob).toEqual({ hash: contentHashOf(data), size });
        expect((await readFile(storage.path(blob.hash))).equals(data)).toBe(true);
      }
    } finally {
      await rm(root, { recursive: true, force: true });
    }
  });

  it('reads a small file in one read: a short read of a regular file is its end', async () => {
    const root = await mkdtemp(join(tmpdir(), 'df-blob-'));
    const src = join(root, 'small');
    await writeFile(src, 'hello');
    // FileHandle's prototype (node:fs/promises does not export the class), whose reads every hash goes through.
    const probe = await open(src, 'r');
    await probe.close();
    const read = vi.spyOn(Object.getPrototypeOf(probe) as FileHandle, 'read');
    try {
      const storage = new LocalBlobStorage(root);
      expect(await storage.putFile(src, { move: true })).toEqual({ hash: sha('hello'), size: 5 });
      // The one read came back short: the end of a regular file, no read after it to say so.
      expect(read).toHaveBeenCalledTimes(1);
      // (A file filling its buffers is read on until a read finds nothing: the chunk-boundary test below.)
    } finally {
      read.mockRestore();
      await rm(root, { recursive: true, force: true });
    }
  });

  it('stores bytes read-only under their id, and only looks when it has them already', async () => {
    const root = await mkdtemp(join(tmpdir(), 'df-blob-'));
    try {
      const storage = new LocalBlobStorage(root);
      const blob = await storage.putBytes(Buffer.from('inline'));
      expect(blob).toEqual({ hash: sha('inline'), size: 6 });
      const p = storage.path(blob.hash);
      expect(await readFile(p, 'utf8')).toBe('inline');
      expect((await stat(p)).mode & 0o222).toBe(0);
      expect(await readdir(join(root, 'tmp'))).toEqual([]);
      const ino = (await stat(p)).ino;
      // Again: the blob is not written again (same file), nothing is left in tmp/.
      expect(await storage.putBytes(Buffer.from('inline'))).toEqual(blob);
      expect((await stat(p)).ino).toBe(ino);
      expect(await readdir(join(root, 'tmp'))).toEqual([]);
    } finally {
      await rm(root, { recursive: true, force: true });
    }
  });

  it("stores an output under its writer's hash before reading it, then checks it in the background", async () => {
    const root = await mkdtemp(join(tmpdir(), 'df-blob-'));
    try {
      const storage = new LocalBlobStorage(root);
      const staging = await storage.createStagingDir('job');
      const data = Buffer.alloc(3 * 1024 * 1024, 7);
      const out = join(staging, 'arr');
      await writeFile(out, data);
      let release!: () => void;
      const gate = new Promise<void>((r) => (release = r));
      const checked: string[] = [];
      blobStorageTestHooks.beforeCheck = async (path) => {
        checked.push(path);
        await gate;
      };
      const blob = await storage.putFile(out, { move: true, expectedHash: sha(data) });
      // Stored, renamed into place and marked, while its check has not run yet.
      expect(blob.hash).toBe(sha(data));
      expect(blob.verified).toBeDefined();
      const p = storage.path(blob.hash);
      expect((await stat(p)).mode & 0o222).toBe(0);
      expect(await readdir(join(root, 'unverified'))).toEqual([blob.hash.slice(7)]);
      expect(storage.pendingChecks).toBe(1);
      release();
      expect(await blob.verified).toEqual({ ok: true });
      expect(checked).toEqual([p]);
      expect(await readdir(join(root, 'unverified'))).toEqual([]);
      expect(storage.pendingChecks).toBe(0);
      expect(await storage.has(blob.hash)).toBe(true);
    } finally {
      await rm(root, { recursive: true, force: true });
    }
  });

  it('quarantines a blob whose bytes were damaged before its check, and says so', async () => {
    const root = await mkdtemp(join(tmpdir(), 'df-blob-'));
    try {
      const reports: CorruptBlobReport[] = [];
      const storage = new LocalBlobStorage(root, { onCorrupt: (r) => reports.push(r) });
      const data = Buffer.alloc(2 * 1024 * 1024, 1);
      const out = join(await storage.createStagingDir('job'), 'arr');
      await writeFile(out, data);
      blobStorageTestHooks.beforeCheck = (path) => flipByte(path, 12345);
      const blob = await storage.putFile(out, { move: true, expectedHash: sha(data) });
      const result = await blob.verified!;
      const damaged = Buffer.from(data);
      damaged[12345] = damaged[12345]! ^ 0xff;
      expect(result).toMatchObject({ ok: false, actual: sha(damaged) });
      expect(result.ok ? '' : result.message).toMatch(
        /hash to sha256:[0-9a-f]{64}, not to sha256:.*moved to .*quarantine/,
      );
      expect(await storage.has(blob.hash)).toBe(false);
      const quarantined = await readdir(join(root, 'quarantine'));
      expect(quarantined.sort()).toEqual([
        expect.stringMatching(/^[0-9a-f]{64}\.\d+$/),
        expect.stringMatching(/\.json$/),
      ]);
      const why = JSON.parse(
        await readFile(
          join(
            root,
            'quarantine',
            quarantined.find((n) => n.endsWith('.json'))!,
          ),
          'utf8',
        ),
      );
      expect(why).toMatchObject({ hash: blob.hash, actual: sha(damaged) });
      expect(reports).toHaveLength(1);
      expect(reports[0]).toMatchObject({ hash: blob.hash, actual: sha(damaged) });
      expect(await readdir(join(root, 'unverified'))).toEqual([]);
      // The right bytes can be stored again under their name.
      const again = join(root, 'again');
      await writeFile(again, data);
      expect((await storage.putFile(again)).hash).toBe(blob.hash);
      expect(await storage.has(blob.hash)).toBe(true);
    } finally {
      await rm(root, { recursive: true, force: true });
    }
  });

  it('checks small files at once: a wrong hash stores nothing', async () => {
    const root = await mkdtemp(join(tmpdir(), 'df-blob-'));
    try {
      const storage = new LocalBlobStorage(root);
      const src = join(root, 'small');
      await writeFile(src, 'small output');
      await expect(storage.putFile(src, { move: true, expectedHash: sha('other bytes') })).rejects.toThrow(
        CorruptBlobError,
      );
      expect(await countFiles(join(root, 'sha256'))).toBe(0);
      expect(await readdir(join(root, 'tmp'))).toEqual([]);
      await writeFile(src, 'small output');
      const ok = await storage.putFile(src, { move: true, expectedHash: sha('small output') });
      expect(ok).toEqual({ hash: sha('small output'), size: 12 });
    } finally {
      await rm(root, { recursive: true, force: true });
    }
  });

  it('resumes the checks a dead process left behind when the store is opened again', async () => {
    const root = await mkdtemp(join(tmpdir(), 'df-blob-'));
    try {
      const first = new LocalBlobStorage(root);
      await first.init();
      const good = Buffer.alloc(1024, 'g');
      const bad = Buffer.alloc(1024, 'b');
      const claimed = sha('what the writer meant');
      // As a crash would leave them: blobs in place, their markers still there.
      for (const [hash, bytes] of [
        [sha(good), good],
        [claimed, bad],
      ] as const) {
        const p = first.path(hash);
        await rm(join(p, '..'), { recursive: true, force: true });
        await writeFile(join(root, 'unverified', hash.slice(7)), '');
        await import('node:fs/promises').then((fs) => fs.mkdir(join(p, '..'), { recursive: true }));
        await writeFile(p, bytes);
      }
      const reports: CorruptBlobReport[] = [];
      const reopened = new LocalBlobStorage(root, { onCorrupt: (r) => reports.push(r) });
      await reopened.init();
      await reopened.idle();
      expect(await reopened.has(sha(good))).toBe(true);
      expect(await reopened.has(claimed)).toBe(false);
      expect(reports.map((r) => [r.hash, r.actual])).toEqual([[claimed, sha(bad)]]);
      expect(await readdir(join(root, 'unverified'))).toEqual([]);
    } finally {
      await rm(root, { recursive: true, force: true });
    }
  });
  it('checks a big output stored under its sha256t id in the background (the worker computes the tree)', async () => {
    const root = await mkdtemp(join(tmpdir(), 'df-blob-'));
    try {
      const storage = new LocalBlobStorage(root);
      const data = bigContent();
      const id = contentHashOf(data);
      expect(id).toMatch(/^sha256t:[0-9a-f]{64}$/);
      const out = join(await storage.createStagingDir('job'), 'arr');
      await writeFile(out, data);
      let release!: () => void;
      const gate = new Promise<void>((r) => (release = r));
      blobStorageTestHooks.beforeCheck = () => gate;
      const blob = await storage.putFile(out, { move: true, expectedHash: id });
      const hex = id.slice('sha256t:'.length);
      expect(storage.path(id)).toBe(join(root, 'sha256t', hex.slice(0, 2), hex));
      expect(await readdir(join(root, 'unverified'))).toEqual([`sha256t-${hex}`]);
      release();
      expect(await blob.verified).toEqual({ ok: true });
      expect(await readdir(join(root, 'unverified'))).toEqual([]);
      expect(await storage.has(id)).toBe(true);
    } finally {
      await rm(root, { recursive: true, force: true });
    }
  });

  it('quarantines a damaged big blob under its scheme-qualified name, with the tree id it has now', async () => {
    const root = await mkdtemp(join(tmpdir(), 'df-blob-'));
    try {
      const reports: CorruptBlobReport[] = [];
      const storage = new LocalBlobStorage(root, { onCorrupt: (r) => reports.push(r) });
      const data = bigContent();
      const id = contentHashOf(data);
      const out = join(await storage.createStagingDir('job'), 'arr');
      await writeFile(out, data);
      // In the last, short block: a tree that ignored it would not notice.
      const at = data.length - 2;
      blobStorageTestHooks.beforeCheck = (path) => flipByte(path, at);
      const blob = await storage.putFile(out, { move: true, expectedHash: id });
      const damaged = Buffer.from(data);
      damaged[at] = damaged[at]! ^ 0xff;
      const result = await blob.verified!;
      expect(result).toMatchObject({ ok: false, actual: contentHashOf(damaged) });
      expect(result.ok ? '' : result.message).toMatch(/hash to sha256t:[0-9a-f]{64}, not to sha256t:/);
      expect(await storage.has(id)).toBe(false);
      const hex = id.slice('sha256t:'.length);
      expect((await readdir(join(root, 'quarantine'))).sort()).toEqual([
        expect.stringMatching(new RegExp(`^sha256t-${hex}\\.\\d+$`)),
        expect.stringMatching(new RegExp(`^sha256t-${hex}\\.\\d+\\.json$`)),
      ]);
      expect(reports.map((r) => r.hash)).toEqual([id]);
    } finally {
      await rm(root, { recursive: true, force: true });
    }
  });

  it('refuses at once a big file given with a sha256: hash (its id is a sha256t:), storing nothing', async () => {
    const root = await mkdtemp(join(tmpdir(), 'df-blob-'));
    try {
      const storage = new LocalBlobStorage(root);
      const data = bigContent();
      const out = join(await storage.createStagingDir('job'), 'arr');
      await writeFile(out, data);
      const err = await storage
        .putFile(out, { move: true, expectedHash: sha(data) })
        .catch((e: unknown) => e);
      expect(err).toBeInstanceOf(CorruptBlobError);
      expect((err as CorruptBlobError).actual).toBe(contentHashOf(data));
      expect(storage.pendingChecks).toBe(0);
      expect(await countFiles(join(root, 'sha256'))).toBe(0);
      expect(await countFiles(join(root, 'sha256t'))).toBe(0);
      expect(await readdir(join(root, 'unverified'))).toEqual([]);
    } finally {
      await rm(root, { recursive: true, force: true });
    }
  });

  it('keeps serving and checking big blobs stored under their plain sha256 before the tree existed', async () => {
    const root = await mkdtemp(join(tmpdir(), 'df-blob-'));
    try {
      const first = new LocalBlobStorage(root);
      await first.init();
      const data = bigContent();
      const legacy = sha(data);
      const other = Buffer.from(data);
      other[5] = other[5]! ^ 1;
      const wrong = sha('not what is in the file');
      // As an older engine left them, mid-check: blobs under sha256/ab/<hex>, markers named by the hex alone.
      for (const [hash, bytes] of [
        [legacy, data],
        [wrong, other],
      ] as const) {
        const p = first.path(hash);
        await mkdir(dirname(p), { recursive: true });
        await writeFile(p, bytes);
        await writeFile(join(root, 'unverified', hash.slice('sha256:'.length)), '');
      }
      const reports: CorruptBlobReport[] = [];
      const reopened = new LocalBlobStorage(root, { onCorrupt: (r) => reports.push(r) });
      await reopened.init();
      await reopened.idle();
      // Checked with the plain sha256 its name was made with, not with the tree.
      expect(await reopened.has(legacy)).toBe(true);
      expect(await reopened.size(legacy)).toBe(data.length);
      expect(reports.map((r) => [r.hash, r.actual])).toEqual([[wrong, sha(other)]]);
      expect(await readdir(join(root, 'unverified'))).toEqual([]);
      // The same bytes put now get their tree id, and a blob of their own.
      const src = join(root, 'again');
      await writeFile(src, data);
      expect((await reopened.putFile(src)).hash).toBe(contentHashOf(data));
    } finally {
      await rm(root, { recursive: true, force: true });
    }
  });

  it('resumes sha256t checks, sweeps only markers without a blob, and names ids in errors', async () => {
    const root = await mkdtemp(join(tmpdir(), 'df-blob-'));
    try {
      const first = new LocalBlobStorage(root);
      await first.init();
      const data = bigContent();
      const id = contentHashOf(data);
      const p = first.path(id);
      await mkdir(dirname(p), { recursive: true });
      await writeFile(p, data);
      const orphan = contentHashOf(Buffer.concat([data, Buffer.from('x')]));
      for (const name of [fileNameOf(id), fileNameOf(orphan), 'sha256t-xyz', `sha256-${'a'.repeat(64)}`]) {
        await writeFile(join(root, 'unverified', name), '');
      }
      const reopened = new LocalBlobStorage(root, { onCorrupt: () => expect.fail('nothing is corrupt') });
      await reopened.init();
      await reopened.idle();
      expect((await readdir(join(root, 'unverified'))).sort()).toEqual(
        [fileNameOf(orphan), 'sha256t-xyz', `sha256-${'a'.repeat(64)}`].sort(),
      );
      // An old marker with no blob goes; names that are no marker are left alone.
      expect(await reopened.sweep(60_000, Date.now() + 120_000)).toBe(1);
      expect((await readdir(join(root, 'unverified'))).sort()).toEqual([
        `sha256-${'a'.repeat(64)}`,
        'sha256t-xyz',
      ]);
      expect(() => reopened.path('sha256t:xyz')).toThrow(
        /not a content hash: "sha256t:xyz" \(sha256t: must be followed by 64 lowercase hex digits \(0-9, a-f\), not "xyz"\)/,
      );
    } finally {
      await rm(root, { recursive: true, force: true });
    }
  });

  it('names markers after the id, and reads back only names it makes', () => {
    const small = `sha256:${'ab'.repeat(32)}` as const;
    const big = `sha256t:${'cd'.repeat(32)}` as const;
    expect(fileNameOf(small)).toBe('ab'.repeat(32));
    expect(fileNameOf(big)).toBe(`sha256t-${'cd'.repeat(32)}`);
    expect(hashOfFileName(fileNameOf(small))).toBe(small);
    expect(hashOfFileName(fileNameOf(big))).toBe(big);
    for (const junk of [`sha256-${'ab'.repeat(32)}`, 'sha256t-xyz', `md5-${'ab'.repeat(32)}`, '.tmp', '']) {
      expect(hashOfFileName(junk)).toBeUndefined();
    }
  });
});
