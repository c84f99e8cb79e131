import type { Readable } from 'node:stream';
import type { ContentHash } from '@deepforge/core';
import { StorageError } from '../errors.js';

/**
 * A content id as stored and shown everywhere: `sha256:<64 hex>` up to 8 MiB, `sha256t:<64 hex>` (the block tree)
 * above (docs/adr/0006; core's content-hash.ts).
 */
export type { ContentHash } from '@deepforge/core';
export { CONTENT_HASH_PATTERN as HASH_PATTERN, isContentHash } from '@deepforge/core';

export interface StoredBlob {
  hash: ContentHash;
  size: number;
}

export interface PutFileOptions {
  /**
   * Move the file into the store instead of copying it: a rename when it is on the same filesystem, which is how
   * job outputs get in without their bytes being copied. The source is gone afterwards.
   */
  move?: boolean;
  /**
   * The content id the file's writer computed from the bytes as it wrote them (the harness's `output` event), in
   * the scheme for the size it wrote (`sha256:` up to 8 MiB, `sha256t:` above). An adapter may then store the
   * file under it at once, without reading it first, and check it afterwards: the result carries `verified`.
   * Adapters that check it before storing (or files too small to be worth the wait, or whose size on disk does
   * not fit the id's scheme) reject a mismatch with CorruptBlobError and store nothing.
   */
  expectedHash?: ContentHash;
}

/** A file's bytes do not hash to what its writer said they would: nothing was stored. */
export class CorruptBlobError extends StorageError {
  constructor(
    readonly expected: ContentHash,
    readonly actual: ContentHash,
  ) {
    super(`its bytes hash to ${actual}, not to ${expected} as its writer computed: the file is corrupt`);
    this.name = 'CorruptBlobError';
  }
}

/** How the check of a blob stored under its writer's hash came out. */
export type BlobVerification =
  | { ok: true }
  | {
      ok: false;
      /** The hash of the bytes that were found, when they could be read. */
      actual: ContentHash | null;
      /** One line: what was expected, what was found, where the bytes went. */
      message: string;
    };

/** A blob found corrupt (its bytes do not hash to its name) and taken out of the store. */
export interface CorruptBlobReport {
  hash: ContentHash;
  actual: ContentHash | null;
  /** Where the bytes were moved (a path, or `s3://bucket/key`), or null when there was nothing left to move. */
  quarantinedTo: string | null;
  message: string;
  /**
   * Found by a check that an earlier process stored the blob for and did not finish (redone when the storage
   * opened): no execution of this process waits for it, so whoever made the blob must be told apart.
   */
  resumed?: boolean;
}

export interface PutResult extends StoredBlob {
  /**
   * Present when the blob was stored under `expectedHash` before its bytes were read. Settles (never rejects)
   * once they have been hashed; on a mismatch the blob has already been taken out of the store (quarantined),
   * so `has(hash)` is false from then on.
   */
  verified?: Promise<BlobVerification>;
  /**
   * True when the storage read every byte of the given file as it stored it and they hash to `hash` (an upload):
   * the file is then a checked copy of the blob. Absent when it took the file unread (a rename, or a blob it had
   * already, which the file's bytes were not compared with).
   */
  readFile?: boolean;
}

/**
 * The artifact storage port: immutable, content-addressed blobs. Adapters: a local directory (LocalBlobStorage),
 * an S3 bucket (S3Storage, docs/adr/0012).
 * Same bytes → same hash → one blob, however often they are put.
 */
export interface ArtifactStorage {
  /**
   * Stores a file and returns its hash, computed from the bytes as they lie in the store (not from what the
   * caller believes it wrote), or, with `expectedHash`, the writer's hash, checked against those bytes later
   * (see PutResult.verified). Once this resolves, the blob survives a crash.
   */
  putFile(path: string, options?: PutFileOptions): Promise<PutResult>;
  putStream(stream: Readable | AsyncIterable<Uint8Array>): Promise<StoredBlob>;
  /**
   * Stores bytes held in memory (a small job output that came in its event, docs/adr/0035), hashed here: the
   * bytes hashed are the bytes stored. Once this resolves, the blob survives a crash.
   */
  putBytes(data: Uint8Array): Promise<StoredBlob>;
  has(hash: string): Promise<boolean>;
  /** Size in bytes, or undefined when the blob is not there. */
  size(hash: string): Promise<number | undefined>;
  /**
   * A local path the blob can be read from in place (the harness reads inputs there without a copy), or
   * undefined for stores that have no local file (the caller then streams with openRead).
   */
  path(hash: string): string | undefined;
  openRead(hash: string): Promise<Readable>;
  /** Removes a blob; removing one that is not there is not an error. */
  delete(hash: string): Promise<void>;
  /**
   * A fresh, empty directory for files that will be put with `{ move: true }`: on the store's own filesystem
   * when it has one, so the move is a rename.
   */
  createStagingDir(label: string): Promise<string>;
  /**
   * For adapters that check blobs in the background (PutResult.verified): stop those checks without waiting for
   * them; each is redone when the storage is opened again, and its `verified` never settles. Only when closing.
   */
  leaveChecks?(): void;
}
