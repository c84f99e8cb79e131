import { createHash, type Hash } from 'node:crypto';
import { CONTENT_HASH_BLOCK_BYTES, type ContentHash } from '@deepforge/core';

/**
 * The content id of bytes handed over in pieces of any size (docs/adr/0006): `sha256:` of the bytes up to
 * CONTENT_HASH_BLOCK_BYTES, above that `sha256t:`, the sha256 of the blocks' concatenated sha256 digests. One
 * thread: the engine hashes off the critical path (imports, uploads, background checks); the harness, which
 * hashes while the producing job waits, spreads the blocks over threads (python/deepforge/content_hash.py).
 *
 * `plain`: the sha256 of all the bytes whatever their size, to check a `sha256:` id: those of content over one
 * block were made before the tree existed, and stay valid names of their blobs.
 */
export class ContentHasher {
  private size = 0;
  private block: Hash | undefined;
  private blockFill = 0;
  private readonly digests: Buffer[] = [];

  constructor(private readonly plain = false) {}

  /** A hasher that computes what `expected` was made with: the plain sha256 for `sha256:`, the id otherwise. */
  static toCheck(expected: ContentHash): ContentHasher {
    return new ContentHasher(expected.startsWith('sha256:'));
  }

  update(bytes: Uint8Array): this {
    this.size += bytes.length;
    if (this.plain) {
      (this.block ??= createHash('sha256')).update(bytes);
      return this;
    }
    let offset = 0;
    while (offset < bytes.length) {
      const take = Math.min(bytes.length - offset, CONTENT_HASH_BLOCK_BYTES - this.blockFill);
      (this.block ??= createHash('sha256')).update(bytes.subarray(offset, offset + take));
      offset += take;
      this.blockFill += take;
      if (this.blockFill === CONTENT_HASH_BLOCK_BYTES) {
        this.digests.push(this.block.digest());
        this.block = undefined;
        this.blockFill = 0;
      }
    }
    return this;
  }

  /** The id (or, `plain`, the `sha256:` of everything) and the number of bytes; the hasher is used up. */
  digest(): { hash: ContentHash; size: number } {
    if (this.plain || this.size <= CONTENT_HASH_BLOCK_BYTES) {
      // At most one block: its digest is the plain sha256 (of nothing, for no bytes at all).
      const one = this.digests[0] ?? (this.block ?? createHash('sha256')).digest();
      return { hash: `sha256:${one.toString('hex')}`, size: this.size };
    }
    if (this.block) this.digests.push(this.block.digest());
    this.block = undefined;
    const tree = createHash('sha256');
    for (const d of this.digests) tree.update(d);
    return { hash: `sha256t:${tree.digest('hex')}`, size: this.size };
  }
}

/** The content id of bytes in memory. */
export function contentHashOf(bytes: Uint8Array): ContentHash {
  return new ContentHasher().update(bytes).digest().hash;
}
