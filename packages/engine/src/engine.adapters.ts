import type { Logger } from 'pino';
import type { Compute } from './compute/job.compute.js';
import { LocalCompute } from './compute/local.compute.js';
import { EnvironmentCompute, openEnvironmentCache } from './environments/environment.compute.js';
import { RemoteCompute } from './compute/remote.compute.js';
import { SlurmCompute } from './compute/slurm.compute.js';
import { markCorruptOutputs } from './execution/stored-corruption.js';
import { slurmDefaults, type Env, type Settings } from './settings.js';
import type { ArtifactStorage } from './storage/artifact.storage.js';
import { openArtifactStorage } from './storage/storage.opener.js';
import type { DatabaseStores } from './store/database.store.js';
import { openDatabase } from './store/database.opener.js';

/**
 * Artifact storage as the engine uses it: the port, and the housekeeping an adapter may offer (removing what
 * writes cut short by a crash left behind, older than `maxAgeMs`), which the engine runs when it recovers.
 */
export type EngineStorage = ArtifactStorage & {
  sweep?(maxAgeMs: number): Promise<number>;
  /** Releases what the adapter holds (an S3 client's connections); the engine calls it when it closes. */
  close?(): Promise<void>;
};

/** The adapters an engine runs on; the engine sees only their ports. */
export interface EngineAdapters {
  /** Every store of one database (executions, artifacts, telemetry, runners, accounts, documents, projects). */
  store: DatabaseStores;
  storage: EngineStorage;
  compute: Compute;
  /**
   * What runs the jobs, when the compute was built here from the settings (a given one is the caller's): the
   * compute may be wrapped (EnvironmentCompute), so its class does not tell.
   */
  computeBackend?: 'local' | 'workers' | 'slurm';
}

export interface DefaultAdapterContext {
  env: Env;
  logger: Logger;
  /** The directory holding the `deepforge` Python package. */
  runtimeDir: string;
  /** Time between SIGTERM and SIGKILL when a job is stopped. */
  killGraceMs?: number;
  /** `local` processes (default), or remote `workers` (docs/adr/0015). */
  computeBackend?: 'local' | 'workers';
  /** This machine's GPU indices, for local jobs needing GPUs (LocalComputeOptions.gpus). */
  localGpus?: () => Promise<readonly number[]>;
}

/**
 * The one place the engine's default adapters are built from the settings; `given` ones are used as they are.
 * Store: `database.url` (the SQLite file in the data dir, or PostgreSQL). Storage: `storage.backend`, the local
 * blob directory `blob.dir` or an S3 bucket (storage.s3.*). Compute: local processes, forked from a warm worker
 * when `executions.warmWorker` is on, or remote workers (`computeBackend: 'workers'`, docs/adr/0015), or Slurm
 * batch jobs (`compute.backend = slurm`, docs/adr/0016).
 */
export async function openEngineAdapters(
  settings: Settings,
  context: DefaultAdapterContext,
  given: Partial<EngineAdapters> = {},
): Promise<EngineAdapters> {
  const { logger } = context;
  // The store opens after the storage, whose checks resumed at open may report before it has.
  let storeOpened!: (store: DatabaseStores) => void;
  const storeReady = new Promise<DatabaseStores>((resolve) => (storeOpened = resolve));
  let storage = given.storage;
  if (!storage) {
    // `storage.backend`: the local blob directory, or an S3 bucket (checked here: a missing bucket or refused
    // credentials fail the open, naming the bucket and the endpoint).
    storage = await openArtifactStorage(settings, {
      env: context.env,
      // Every corrupt blob, also those found by checks resumed after a restart that no execution waits for:
      // those mark what made the blob here (a run of this process marks its own).
      onCorrupt: (report) => {
        logger.error(
          { hash: report.hash, actual: report.actual, quarantinedTo: report.quarantinedTo },
          `CORRUPT BLOB ${report.hash}: ${report.message}`,
        );
        if (report.resumed) {
          void storeReady
            .then((store) => markCorruptOutputs(store.executions, report, logger))
            .catch((err: unknown) =>
              logger.error({ err, hash: report.hash }, 'could not mark the outputs of a corrupt blob'),
            );
        }
      },
    });
  }
  const store = given.store ?? (await openDatabase(settings));
  storeOpened(store);
  const compute =
    given.compute ??
    // Batch jobs on a Slurm cluster that shares this filesystem (docs/adr/0016). It wins over remote workers: a
    // server started with --server runs nothing itself either way.
    // Environments are built here, in environments.dir, which the nodes see like the rest (docs/adr/0017).
    (settings.values['compute.backend'] === 'slurm'
      ? new EnvironmentCompute(
          new SlurmCompute({
            runtimeDir: context.runtimeDir,
            env: context.env,
            logger,
            killGraceMs: context.killGraceMs,
            defaults: slurmDefaults(settings.values),
          }),
          openEnvironmentCache(settings, context.env),
        )
      : undefined) ??
    (context.computeBackend === 'workers'
      ? new RemoteCompute({
          store: store.workers,
          storage,
          logger,
          leaseTimeoutMs: Math.round(settings.values['workers.leaseTimeout'] * 1000),
          onLost: settings.values['executions.onRestart'],
          ...(settings.values['storage.backend'] === 's3' &&
          settings.values['storage.s3.bucket'] !== undefined
            ? {
                s3: {
                  kind: 's3' as const,
                  bucket: settings.values['storage.s3.bucket'],
                  prefix: settings.values['storage.s3.prefix'],
                  ...(settings.values['storage.s3.endpoint'] !== undefined
                    ? { endpoint: settings.values['storage.s3.endpoint'] }
                    : {}),
                  ...(settings.values['storage.s3.region'] !== undefined
                    ? { region: settings.values['storage.s3.region'] }
                    : {}),
                  forcePathStyle: settings.values['storage.s3.forcePathStyle'],
                },
              }
            : {}),
        })
      : undefined) ??
    // Jobs of operations with an environment file run in its venv, built on this machine (docs/adr/0017).
    new EnvironmentCompute(
      new LocalCompute({
        runtimeDir: context.runtimeDir,
        env: context.env,
        logger,
        killGraceMs: context.killGraceMs,
        warmWorker: settings.values['executions.warmWorker'],
        ...(context.localGpus ? { gpus: context.localGpus } : {}),
      }),
      openEnvironmentCache(settings, context.env),
    );
  const computeBackend = given.compute
    ? undefined
    : settings.values['compute.backend'] === 'slurm'
      ? 'slurm'
      : context.computeBackend === 'workers'
        ? 'workers'
        : 'local';
  return { store, storage, compute, ...(computeBackend ? { computeBackend } : {}) };
}
