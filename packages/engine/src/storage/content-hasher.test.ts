import { createHash } from 'node:crypto';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { CONTENT_HASH_BLOCK_BYTES } from '@deepforge/core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ContentHasher, contentHashOf } from './content-hasher.js';
import { LocalBlobStorage, hashFile } from './local-blob.storage.js';

interface Vector {
  size: number;
  id: string;
  sha256: string;
}

/** Shared with python/tests/test_content_hash.py; computed with coreutils and openssl. */
const vectors = JSON.parse(
  await readFile(new URL('../../../protocol/fixtures/content-hash.vectors.json', import.meta.url), 'utf8'),
) as { blockBytes: number; vectors: Vector[] };

/** Byte i is ((i * 2654435761) mod 2^32) >> 24, as the vectors file says. */
function content(size: number): Buffer {
  const b = Buffer.allocUnsafe(size);
  for (let i = 0; i < size; i++) b[i] = Math.imul(i, 2654435761) >>> 24;
  return b;
}

/** The content id the straightforward way: the whole buffer, sliced into blocks. */
function straightforward(data: Buffer): string {
  const block = vectors.blockBytes;
  if (data.length <= block) return `sha256:${createHash('sha256').update(data).digest('hex')}`;
  const digests: Buffer[] = [];
  for (let i = 0; i < data.length; i += block) {
    digests.push(
      createHash('sha256')
        .update(data.subarray(i, i + block))
        .digest(),
    );
  }
  return `sha256t:${createHash('sha256').update(Buffer.concat(digests)).digest('hex')}`;
}

describe('content ids (docs/adr/0006)', () => {
  const biggest = Math.max(...vectors.vectors.map((v) => v.size));
  const all = content(biggest);
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'df-content-hash-'));
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('uses the block size the vectors (and the Python runtime) use', () => {
    expect(CONTENT_HASH_BLOCK_BYTES).toBe(vectors.blockBytes);
    expect(vectors.blockBytes).toBe(8 * 1024 * 1024);
  });

  it.each(vectors.vectors)('gives the shared vector for $size bytes, however the bytes come', async (v) => {
    const data = all.subarray(0, v.size);
    expect(createHash('sha256').update(data).digest('hex')).toBe(v.sha256);
    expect(straightforward(data)).toBe(v.id);
    expect(contentHashOf(data)).toBe(v.id);
    // Pieces that do not line up with the blocks, one of them empty.
    const h = new ContentHasher();
    const step = 3 * 1024 * 1024 + 7;
    h.update(data.subarray(0, 0));
    for (let i = 0; i < data.length; i += step) h.update(data.subarray(i, i + step));
    expect(h.digest()).toEqual({ hash: v.id, size: v.size });
    // Plain: the sha256 of everything, which is what a `sha256:` id made before the tree says.
    expect(new ContentHasher(true).update(data).digest().hash).toBe(`sha256:${v.sha256}`);
    const file = join(dir, `v-${v.size}`);
    await writeFile(file, data);
    expect(await hashFile(file)).toEqual({ hash: v.id, size: v.size });
  });

  it('stores big content under sha256t/ab/<hex>, from a stream and from a file', async () => {
    const storage = new LocalBlobStorage(join(dir, 'store'));
    const v = vectors.vectors.find((x) => x.size === 20 * 1024 * 1024)!;
    const data = all.subarray(0, v.size);
    const streamed = await storage.putStream(Readable.from([data.subarray(0, 5), data.subarray(5)]));
    expect(streamed).toEqual({ hash: v.id, size: v.size });
    const hex = v.id.slice('sha256t:'.length);
    expect(storage.path(v.id)).toBe(join(dir, 'store', 'sha256t', hex.slice(0, 2), hex));
    expect((await readFile(storage.path(v.id))).equals(data)).toBe(true);
    // Plain sha256 of the same bytes names nothing stored: the schemes do not mix.
    expect(await storage.has(`sha256:${v.sha256}`)).toBe(false);
    const src = join(dir, 'src');
    await writeFile(src, data);
    expect(await storage.putFile(src)).toEqual({ hash: v.id, size: v.size });
  });
});
