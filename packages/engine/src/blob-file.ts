import { createWriteStream } from 'node:fs';
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import type { ArtifactStorage } from './storage/artifact.storage.js';

/**
 * Runs `fn` with a local file holding a blob's bytes, for readers that need a path (Python's preview): the
 * storage's own file when it has one, else a copy streamed from `openRead` into one of its scratch directories,
 * removed once `fn` has settled (a crash leaves it to the storage's sweep). Works for every storage adapter.
 */
export async function withBlobFile<T>(
  storage: ArtifactStorage,
  hash: string,
  fn: (file: string) => Promise<T>,
): Promise<T> {
  const local = storage.path(hash);
  if (local !== undefined) return fn(local);
  const dir = await storage.createStagingDir('read');
  try {
    const file = join(dir, 'blob');
    await pipeline(await storage.openRead(hash), createWriteStream(file, { mode: 0o600 }));
    return await fn(file);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}
