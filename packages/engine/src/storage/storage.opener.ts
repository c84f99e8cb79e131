import { assertNever } from '@deepforge/core';
import { SettingsError } from '../errors.js';
import type { Env, SettingsValues } from '../settings.js';
import type { ArtifactStorage, CorruptBlobReport } from './artifact.storage.js';
import { LocalBlobStorage } from './local-blob.storage.js';

/** What the engine uses of a storage adapter beyond the port: housekeeping at open, and closing. */
export interface OpenedArtifactStorage extends ArtifactStorage {
  /** Removes leftovers of writes cut short by a crash (older than `maxAgeMs`); returns how many. */
  sweep(maxAgeMs: number): Promise<number>;
  close?(): Promise<void>;
}

export type StorageSettings = Pick<
  SettingsValues,
  | 'blob.dir'
  | 'storage.backend'
  | 'storage.s3.bucket'
  | 'storage.s3.prefix'
  | 'storage.s3.endpoint'
  | 'storage.s3.region'
  | 'storage.s3.forcePathStyle'
>;

export interface OpenArtifactStorageOptions {
  /** Where S3 credentials are read from (the standard AWS variables); `process.env` by default. */
  env?: Env;
  /** Told about every blob found corrupt and quarantined. */
  onCorrupt?: (report: CorruptBlobReport) => void;
}

/**
 * Opens the artifact storage the settings choose: `local` is blob.dir; `s3` the bucket of storage.s3.*, with
 * blob.dir kept for what is local by nature (staging dirs of job outputs, spooled uploads). Checks it can be used
 * before anything runs: a missing bucket or refused credentials fail here, naming the bucket and the endpoint.
 */
export async function openArtifactStorage(
  settings: { values: StorageSettings },
  options: OpenArtifactStorageOptions = {},
): Promise<OpenedArtifactStorage> {
  const v = settings.values;
  const backend = v['storage.backend'];
  switch (backend) {
    case 'local': {
      const storage = new LocalBlobStorage(v['blob.dir'], { onCorrupt: options.onCorrupt });
      await storage.init();
      return storage;
    }
    case 's3': {
      const bucket = v['storage.s3.bucket'];
      if (bucket === undefined) {
        throw new SettingsError(
          'storage.backend is `s3` but no bucket is set: set storage.s3.bucket (DEEPFORGE_S3_BUCKET)',
          'storage.s3.bucket',
        );
      }
      // Loaded when used: the AWS SDK takes a good part of a second to load, and local storage needs none of it.
      const { S3Storage } = await import('./s3.storage.js');
      const storage = new S3Storage({
        bucket,
        prefix: v['storage.s3.prefix'],
        endpoint: v['storage.s3.endpoint'],
        region: v['storage.s3.region'],
        forcePathStyle: v['storage.s3.forcePathStyle'],
        localDir: v['blob.dir'],
        env: options.env,
        onCorrupt: options.onCorrupt,
      });
      try {
        await storage.init();
      } catch (err) {
        await storage.close();
        throw err;
      }
      return storage;
    }
    default:
      return assertNever(backend, 'storage backend');
  }
}
