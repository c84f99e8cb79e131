import { CONTENT_HASH_BLOCK_BYTES, isContentHash, type ContentHash } from '@deepforge/core';
import { StorageError } from '../errors.js';
import { CorruptBlobError, type ArtifactStorage } from '../storage/artifact.storage.js';
import { ContentHasher } from '../storage/content-hasher.js';

/**
 * What migrate reads of the source blob directory. Nothing of it writes: LocalBlobStorage's `path`, `size` and
 * `openRead` only read (its `init`, which resumes checks and may move files, is never called on the source).
 */
export type BlobSource = Pick<ArtifactStorage, 'path' | 'size' | 'openRead'>;

export interface PlannedBlob {
  hash: string;
  /** Its size in the source blob directory; undefined when it is not there. */
  size: number | undefined;
}

/** Where each referenced blob is in the source (and how big), sorted by hash. */
export async function planBlobs(source: BlobSource, hashes: Iterable<string>): Promise<PlannedBlob[]> {
  const planned: PlannedBlob[] = [];
  for (const hash of [...new Set(hashes)].sort()) {
    planned.push({ hash, size: isContentHash(hash) ? await source.size(hash) : undefined });
  }
  return planned;
}

/**
 * Blobs named by a `sha256:` id of more than 8 MiB: stored before the block tree (docs/adr/0006). A storage
 * stores bytes under the id they hash to, which for that size is `sha256t:`, so these cannot be copied under
 * their names.
 */
export function legacyBlobs(planned: readonly PlannedBlob[]): PlannedBlob[] {
  return planned.filter(
    (b) => b.size !== undefined && b.hash.startsWith('sha256:') && b.size > CONTENT_HASH_BLOCK_BYTES,
  );
}

export type BlobOutcome =
  /** Put into the destination, then read back from it and found right. */
  | 'copied'
  /** Already in the destination (an interrupted run put it there), read back and found right. */
  | 'present'
  /** Read back and recorded by an earlier run. */
  | 'verified-before'
  /** Not in the source blob directory: its artifact or output cannot be read there either. */
  | 'missing'
  /** In the source, but its bytes do not hash to its name: not copied. */
  | 'corrupt';

export interface BlobCopyEvent {
  hash: string;
  size: number | undefined;
  outcome: BlobOutcome;
  /** 1-based position among the referenced blobs, and their number. */
  index: number;
  total: number;
}

export interface BlobCopyResult {
  copied: number;
  present: number;
  verifiedBefore: number;
  bytesCopied: number;
  missing: string[];
  corrupt: string[];
}

export interface CopyBlobsOptions {
  source: BlobSource;
  destination: ArtifactStorage;
  /** Names the destination storage in messages. */
  destinationName: string;
  planned: readonly PlannedBlob[];
  /** Blobs an earlier run read back and recorded. */
  verifiedBefore: ReadonlySet<string>;
  /** Records a blob read back from the destination and found right (so a resumed run skips it). */
  record(hash: string, size: number): Promise<void>;
  onBlob(event: BlobCopyEvent): Promise<void>;
}

/**
 * Copies each blob into the destination storage and reads it back from there, hashed with the scheme of its
 * name (ContentHasher.toCheck); only then is it recorded. Blobs are content-addressed, so a blob put again after
 * an interruption is the same object, and one the destination already has is read back rather than copied.
 */
export async function copyBlobs(options: CopyBlobsOptions): Promise<BlobCopyResult> {
  const { planned } = options;
  const result: BlobCopyResult = {
    copied: 0,
    present: 0,
    verifiedBefore: 0,
    bytesCopied: 0,
    missing: [],
    corrupt: [],
  };
  let index = 0;
  for (const { hash, size } of planned) {
    index++;
    let outcome: BlobOutcome;
    if (options.verifiedBefore.has(hash)) {
      outcome = 'verified-before';
      result.verifiedBefore++;
    } else if (size === undefined || !isContentHash(hash)) {
      outcome = 'missing';
      result.missing.push(hash);
    } else {
      outcome = await copyOne(options, hash, size);
      if (outcome === 'corrupt') result.corrupt.push(hash);
      else {
        if (outcome === 'copied') {
          result.copied++;
          result.bytesCopied += size;
        } else result.present++;
        await options.record(hash, size);
      }
    }
    await options.onBlob({ hash, size, outcome, index, total: planned.length });
  }
  return result;
}

async function copyOne(options: CopyBlobsOptions, hash: ContentHash, size: number): Promise<BlobOutcome> {
  const { destination, destinationName } = options;
  if ((await destination.size(hash)) === size) {
    const found = await readBack(destination, hash);
    if (found.hash === hash && found.size === size) return 'present';
    // Damaged in the destination (or cut short by something else than a put): replaced by a fresh copy.
    await destination.delete(hash);
  }
  try {
    await put(options.source, destination, hash);
  } catch (err) {
    if (err instanceof CorruptBlobError) return 'corrupt';
    throw new StorageError(`copying blob ${hash} to ${destinationName} failed: ${(err as Error).message}`, {
      cause: err,
    });
  }
  const found = await readBack(destination, hash);
  if (found.hash !== hash || found.size !== size) {
    throw new StorageError(
      `blob ${hash} read back from ${destinationName} is not what was copied: ${found.size} bytes hashing to ` +
        `${found.hash}${found.error ? ` (${found.error})` : ''}; it was not recorded, run migrate again`,
    );
  }
  return 'copied';
}

/** Stores the source's bytes under `hash`, refused (CorruptBlobError, nothing stored) when they hash otherwise. */
async function put(source: BlobSource, destination: ArtifactStorage, hash: ContentHash): Promise<void> {
  const path = source.path(hash);
  if (path !== undefined) {
    const stored = await destination.putFile(path, { expectedHash: hash });
    const verification = await stored.verified;
    if (verification && !verification.ok) throw new StorageError(verification.message);
    return;
  }
  const stored = await destination.putStream(await source.openRead(hash));
  if (stored.hash !== hash) {
    await destination.delete(stored.hash);
    throw new CorruptBlobError(hash, stored.hash);
  }
}

/** The id of the bytes the storage hands back for `hash`, in the scheme of `hash`'s name. */
async function readBack(
  storage: ArtifactStorage,
  hash: ContentHash,
): Promise<{ hash: string; size: number; error?: string }> {
  const hasher = ContentHasher.toCheck(hash);
  try {
    for await (const chunk of await storage.openRead(hash)) hasher.update(chunk as Uint8Array);
  } catch (err) {
    // A storage that checks as it reads (S3) fails the read of bytes that do not match their name.
    return { hash: '(unreadable)', size: hasher.digest().size, error: (err as Error).message };
  }
  return hasher.digest();
}
