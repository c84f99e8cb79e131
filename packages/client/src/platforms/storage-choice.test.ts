import type { StoragePlatform } from '@deepforge/protocol';
import { describe, expect, it } from 'vitest';
import { chosenStorage, noStorageReason, storageOptions } from './storage-choice.js';

const local: StoragePlatform = { id: 'local', name: 'Local blob store', available: true };
const s3: StoragePlatform = { id: 's3', name: 'S3: s3://lab/df', available: true };
const localOff: StoragePlatform = {
  id: 'local',
  name: 'Local blob store',
  available: false,
  reason: 'not configured: this server stores artifacts in s3://lab/df (storage.backend = s3)',
};

describe('storage choice', () => {
  it('offers what the server can use and shows the rest disabled with its reason', () => {
    expect(storageOptions([s3, localOff])).toEqual([
      { value: 's3', label: 'S3: s3://lab/df', disabled: false },
      {
        value: 'local',
        label:
          'Local blob store (not configured: this server stores artifacts in s3://lab/df (storage.backend = s3))',
        disabled: true,
      },
    ]);
  });

  it('sends the configured backend: the one picked while offered, else the first offered, else none', () => {
    expect(chosenStorage([local], null)).toBe('local');
    expect(chosenStorage([s3, localOff], null)).toBe('s3');
    // A pick the server no longer offers (its settings changed) falls back to what it offers.
    expect(chosenStorage([s3, localOff], 'local')).toBe('s3');
    expect(chosenStorage([{ ...local, available: false }], 'local')).toBeNull();
    expect(chosenStorage([], null)).toBeNull();
  });

  it('says why nothing can be chosen', () => {
    expect(noStorageReason([s3, localOff])).toBeNull();
    expect(
      noStorageReason([{ ...local, available: false, reason: 'the blob dir /d (blob.dir) does not exist' }]),
    ).toBe('This server has no storage it can use: the blob dir /d (blob.dir) does not exist');
  });
});
