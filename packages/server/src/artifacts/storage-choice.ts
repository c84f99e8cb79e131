import type { Engine } from '@deepforge/engine';
import type { StorageBackendId, StoragePlatform } from '@deepforge/protocol';
import { badRequest } from '../http/http-error.js';

/**
 * The storage backends as GET /api/platforms shows them (docs/adr/0012). One engine stores in one backend, the
 * one `storage.backend` chose: it is listed, available when it can be used now; `local` is listed as well when
 * another backend is configured, unavailable and saying why, so that the dialogs show what there is and offer
 * only what a request may name.
 */
export async function storagePlatforms(engine: Engine): Promise<StoragePlatform[]> {
  const status = await engine.storageStatus();
  const blobProblem =
    status.blobDir.problem !== undefined
      ? `the blob dir ${status.blobDir.path} (blob.dir) ${status.blobDir.problem}`
      : undefined;
  if (status.backend === 'local') {
    return [
      {
        id: 'local',
        name: 'Local blob store',
        available: blobProblem === undefined,
        ...(blobProblem !== undefined ? { reason: blobProblem } : {}),
      },
    ];
  }
  return [
    {
      id: status.backend,
      name: `S3: ${status.location}`,
      available: blobProblem === undefined,
      // Jobs stage their outputs there before they are uploaded.
      ...(blobProblem !== undefined ? { reason: `${blobProblem}: jobs stage their outputs there` } : {}),
    },
    {
      id: 'local',
      name: 'Local blob store',
      available: false,
      reason: `not configured: this server stores artifacts in ${status.location} (storage.backend = ${status.backend})`,
    },
  ];
}

/**
 * Refuses (400, naming the field) a request that names a storage backend this server is not configured for.
 * Nothing is read or stored before this check.
 */
export async function checkStorageChoice(
  engine: Engine,
  requested: StorageBackendId | undefined,
  field: string,
): Promise<void> {
  if (requested === undefined) return;
  const status = await engine.storageStatus();
  if (requested === status.backend) return;
  throw badRequest(
    field,
    `storage "${requested}" is not configured on this server: it stores artifacts in ${status.location} ` +
      `(storage.backend = ${status.backend}); GET /api/platforms lists the storage it can use`,
  );
}
