import { constants } from 'node:fs';
import { access, open, rm, stat } from 'node:fs/promises';
import { isAbsolute, join, relative } from 'node:path';
import type { Readable } from 'node:stream';
import { StringDecoder } from 'node:string_decoder';
import pino, { type Logger } from 'pino';
import {
  assertNever,
  canTransitionJob,
  currentNodeId,
  isActiveExecutionStatus,
  isResumableExecutionStatus,
  isTerminalJobStatus,
  renameOverrideKeys,
  type Diagnostic,
  type JsonValue,
  type Project,
} from '@deepforge/core';
import type { ArtifactPreview, SlurmJobOptions } from '@deepforge/protocol';
import { SlurmJobOptionsSchema, WorkerLabelSchema } from '@deepforge/protocol/engine';
import { previewArtifactFile } from './artifact.preview.js';
import { ArtifactService } from './artifact.service.js';
import { withBlobFile } from './blob-file.js';
import { codeFiles, readCodeSnapshot, writeCodeSnapshot } from './code-snapshot.js';
import { MAX_GPUS, type Compute } from './compute/job.compute.js';
import type { PrestartedWarmWorker } from './compute/warm-worker.js';
import {
  PYTHON_CHECKS_FILE,
  findRuntimeDir,
  resolvePython,
  type PythonInfo,
} from './compute/python-interpreter.js';
import {
  EngineError,
  ExecutionStateError,
  AmbiguousError,
  NotFoundError,
  PipelineValidationError,
} from './errors.js';
import { openEngineAdapters, type EngineAdapters, type EngineStorage } from './engine.adapters.js';
import { EventBus, type ExecutionListener } from './event-bus.js';
import { ExecutionRun } from './execution/execution-run.js';
import {
  executionDetails,
  summarize,
  type ExecutionDetails,
  type ExecutionSummary,
} from './execution.views.js';
import {
  effectiveAttributes,
  planExecution,
  preparePipeline,
  type ExecutionPlan,
  type OverrideSpec,
} from './pipeline-plan.js';
import { OperationReader, type OperationReaderOptions } from './operation-reader.js';
import { loadProjectFolder, saveProjectFolder } from './project-folder.js';
import { registerFolderProject, type FolderProjectRegistration } from './folder-project.js';
import { OtherEnginesFollower } from './execution/other-engines.follower.js';
import { Runner, recoverDeadRunners, type RecoveryResult } from './runner.service.js';
import {
  loadSettings,
  type Env,
  type Settings,
  type SettingsValues,
  type StorageBackend,
} from './settings.js';
import { SlotPool } from './slot-pool.js';
import { JobInputFiles } from './storage/read-through.cache.js';
import { codeDirOf, consoleLogOf, executionDir, jobIdOf } from './execution/execution-files.js';
import {
  readExecutionSnapshot,
  readRunOptions,
  type ExecutionRunOptions,
  type ExecutionSnapshot,
} from './execution/execution-snapshot.js';
import type { DocumentStore } from './store/document.store.js';
import type { ArtifactQuery, ArtifactRecord } from './store/artifact.store.js';
import type { DatabaseStores } from './store/database.store.js';
import type { ExecutionQuery, ExecutionStore } from './store/execution.store.js';
import { newId } from './store/new-id.js';
import type { PrestartedRun } from './run-prestart.js';
import type {
  MetricPointRow,
  MetricRecord,
  MetricSeriesInfo,
  MetricView,
  MetricViewQuery,
  PlotRecord,
  ProgressRecord,
} from './store/telemetry.store.js';
import type { ProjectStore } from './store/project.store.js';
import { AccountService } from './accounts/accounts.service.js';
import { SecretBox } from './accounts/secret-box.js';
import { WorkerTokens } from './accounts/worker-tokens.service.js';
import { RemoteCompute } from './compute/remote.compute.js';
import { SlurmCompute } from './compute/slurm.compute.js';

export interface OpenEngineOptions {
  /** Wins over DEEPFORGE_DATA_DIR and `~/.deepforge`. */
  dataDir?: string;
  /** The environment settings are read from and jobs start with; `process.env` when absent. */
  env?: Env;
  /** Setting values that win over the environment and the config file (command-line flags). */
  settings?: Partial<SettingsValues>;
  /** Where engine logs go; by default `<dataDir>/logs/engine.log` (never stdout: the CLI owns it). */
  logger?: Logger;
  /**
   * Which project folders executions of folder projects may read artifact files from: the folder each was
   * started with (`any`, the default: the CLI), or only folders inside the data dir (`data-dir`: the web server,
   * which must not read the folders `deepforge run` registered; it uses what the last CLI run imported, ADR 0028).
   */
  projectFolders?: 'any' | 'data-dir';
  /** Clean up after engines that died (default true). */
  recover?: boolean;
  /** The directory holding the `deepforge` Python package; found above the engine package by default. */
  runtimeDir?: string;
  /** Time between SIGTERM and SIGKILL when a job is stopped (default 2000 ms). */
  killGraceMs?: number;
  /** The worker threads that read operation code: their number, deadline (2 s), cache. */
  operationReader?: OperationReaderOptions;
  /**
   * The stores of one database; absent: opened as `database.url` says (engine.adapters.ts builds every default).
   * Whatever adapter is given, the engine owns it from then on: close() closes it, as does a failed open.
   */
  store?: DatabaseStores;
  /** The artifact storage; absent: the local blob directory `blob.dir`. */
  storage?: EngineStorage;
  /** Where jobs run; absent: local processes (`executions.warmWorker`). */
  compute?: Compute;
  /**
   * When `compute` is absent: `local` processes (the default), or remote `workers` that connect to the web server
   * (`deepforge start --server`, docs/adr/0015).
   */
  computeBackend?: 'local' | 'workers';
  /**
   * The indices of this machine's GPUs (the web server and the CLI ask `nvidia-smi`), asked when the first local
   * job needing GPUs starts; absent: none, and such a job fails at once.
   */
  localGpus?: () => Promise<readonly number[]>;
  /**
   * For a command about to run a pipeline (`deepforge run`): start what its jobs need while the engine opens and
   * reads the project, instead of on the way to the first job: an operation reader's worker thread, the interpreter
   * check and the local warm worker (docs/adr/0029). Nothing it starts outlives close(), or a failed open.
   */
  warmUp?: boolean;
  /**
   * What `deepforge run` started before the engine was loaded (prestartRun): its runner id becomes the engine's,
   * its reader is taken (unless `operationReader` is given), and with `warmUp` its warm worker when it was started
   * with this engine's interpreter and environment. What is not taken is the caller's to discard.
   */
  prestarted?: PrestartedRun;
}

export interface StartExecutionRequest {
  project: Project;
  pipelineName: string;
  /** The folder the project was read from: references to files under artifacts/ are read there. */
  projectDir?: string | null;
  /**
   * `--set` overrides: `node.attribute=value` strings (or core's parsed AttributeOverride), converted to the
   * attribute's type by core.
   */
  overrides?: readonly OverrideSpec[];
  /** Reuse the outputs of earlier identical jobs (off by default). */
  cache?: boolean;
  /** At most this many of its operations at once; `executions.concurrency` by default. */
  concurrency?: number;
  /** A name to show; `<pipeline> <date>` by default. */
  name?: string;
  /** Who starts it (an account name), recorded with it. */
  startedBy?: string;
  /**
   * Labels a remote worker must have to run its operations (docs/adr/0015): all of them (`labels`), or some
   * nodes' (`nodeLabels`). Local compute runs everything.
   */
  labels?: readonly string[];
  nodeLabels?: Readonly<Record<string, readonly string[]>>;
  /**
   * GPUs each operation needs (`gpus`), or some nodes' (`nodeGpus`); a node gets the larger of the two. Without
   * either, a job requiring the label `gpu` needs one. The machine running it gives it that many of its own GPUs
   * (CUDA_VISIBLE_DEVICES), and no other job has them meanwhile.
   */
  gpus?: number;
  nodeGpus?: Readonly<Record<string, number>>;
  /**
   * Where and how long its jobs run on Slurm (`compute.backend = slurm`, docs/adr/0016): every job's options
   * (`slurm`), and some nodes' own (`nodeSlurm`, by node id), which win key by key; both over the compute.slurm.*
   * settings. Checked before anything is stored. Other compute ignores them.
   */
  slurm?: SlurmJobOptions;
  nodeSlurm?: Readonly<Record<string, SlurmJobOptions>>;
  /**
   * The project (web server) it belongs to: artifact names resolve among that project's artifacts, and the
   * artifacts it saves belong to it. '' (the default) is the CLI's unnamed scope.
   */
  projectId?: string;
  /** The failed execution this one resumes with the current code (recorded in its options). */
  resumedFrom?: string;
  /** The project version (git commit id of its history, docs/adr/0020) the project was read from. */
  version?: string;
}

export interface ResumeExecutionOptions {
  cache?: boolean;
  concurrency?: number;
}

/** What "resume with current code" runs: the project as it is now (docs/adr/0021). */
export interface ResumeWithCurrentCodeRequest {
  project: Project;
  /** The folder the project was read from (references to files under artifacts/); the execution's by default. */
  projectDir?: string | null;
  concurrency?: number;
  name?: string;
  /** Who starts the new execution (an account name); whoever started the failed one by default. */
  startedBy?: string;
  /** Nodes renamed since it ran, old id → id now: its overrides and per-node placement follow them. */
  renames?: Readonly<Record<string, string>>;
}

export interface RerunExecutionOptions extends ResumeExecutionOptions {
  name?: string;
  /** Who starts the new execution (an account name). */
  startedBy?: string;
}

export interface ArtifactImportOptions {
  /** '' (the CLI's unnamed scope) by default. */
  projectId?: string;
  serializer?: string;
  pyType?: string;
}

export interface StartedExecution {
  id: string;
  /** Resolves when the execution ends, whatever its status; rejects only when the engine itself failed. */
  done: Promise<ExecutionDetails>;
  /**
   * Resolves after `done`, once the background checks of the execution's outputs have ended too
   * (docs/adr/0005): its details then, `failed` if a check found an output corrupt after the end.
   */
  checked: Promise<ExecutionDetails>;
}

export interface JobLogChunk {
  text: string;
  /** Byte offset the text starts at. */
  offset: number;
  /** Where to continue reading (the text ends at a line or character boundary). */
  nextOffset: number;
  /** The file's size now. */
  size: number;
  /** True when the job has ended and nothing more will be written. */
  complete: boolean;
}

export interface ArtifactInfo extends ArtifactRecord {
  /** A local file holding the content, to read in place; undefined for stores without local files. */
  path: string | undefined;
}

/** The artifact storage in use, as /api/platforms shows it. Never holds a credential. */
export interface StorageStatus {
  /** `storage.backend`. */
  backend: StorageBackend;
  /** Where artifact contents go, for people: the blob dir, or `s3://bucket/prefix` and the endpoint. */
  location: string;
  /**
   * The local blob dir (`blob.dir`): the store itself with `local`, staging for job outputs with every backend.
   * `problem` says why this process cannot use it (missing, not a directory, not writable).
   */
  blobDir: { path: string; problem?: string };
}

export interface JobTelemetry {
  metrics: MetricRecord[];
  plots: PlotRecord[];
  progress: ProgressRecord[];
}

export interface CloseOptions {
  /**
   * Do not wait for the background checks of outputs still running (docs/adr/0005): their blobs keep their
   * markers and are checked when an engine next opens the blob store. For a process that exits once its
   * execution is done (`deepforge run`), so that re-reading what it has just written is not on the path of its
   * exit. Without it, closing waits for them.
   */
  leaveChecks?: boolean;
}

export interface Engine {
  readonly dataDir: string;
  readonly settings: Settings;
  readonly runnerId: string;
  /** What the last recovery at open found and did. */
  readonly recovery: RecoveryResult | undefined;
  /** The web server's project registry and project documents, in the same database. */
  readonly projects: ProjectStore;
  readonly documents: DocumentStore;
  /** Users, sessions, tokens, members, the audit log and project secrets (ADR 0009). */
  readonly accounts: AccountService;
  /** The tokens remote workers connect with (docs/adr/0015). */
  readonly workerTokens: WorkerTokens;
  /** The remote workers' compute, when jobs run on workers (`computeBackend: 'workers'`); the web server connects them. */
  readonly remoteCompute: RemoteCompute | undefined;
  /** What runs this engine's jobs: local processes, remote workers, or Slurm batch jobs (`compute.backend`). */
  readonly computeBackend: 'local' | 'workers' | 'slurm';
  /** Reads operation code on worker threads (with a deadline), for the engine and the web server. */
  readonly operationReader: OperationReader;
  /** The indices of this machine's GPUs that local jobs hold now (local compute; none with workers or Slurm). */
  localGpusInUse(): number[];
  /** Validates (throws PipelineValidationError, nothing stored), stores and starts an execution. */
  startExecution(request: StartExecutionRequest): Promise<StartedExecution>;
  /** Live events of one execution, or of all with `'*'`; returns the unsubscribe function. */
  subscribe(executionId: string, listener: ExecutionListener): () => void;
  cancelExecution(id: string): Promise<void>;
  /** Runs again what failed or was canceled, reusing every output that succeeded, with the original snapshot. */
  resumeExecution(id: string, options?: ResumeExecutionOptions): Promise<StartedExecution>;
  /**
   * A new execution of a failed or canceled one's pipeline with the project's current code and attributes (and
   * the execution's overrides and placement), the job cache on: jobs whose cache key did not change reuse the
   * earlier outputs (`cached`), the rest run. The failed execution stays as it was.
   */
  resumeWithCurrentCode(id: string, request: ResumeWithCurrentCodeRequest): Promise<StartedExecution>;
  /** A new execution with the same snapshot (pipeline, attribute values, code) as an earlier one. */
  rerunExecution(id: string, options?: RerunExecutionOptions): Promise<StartedExecution>;
  /** Forgets an execution that is not running: its records, logs and code snapshot (not its artifacts). */
  deleteExecution(id: string): Promise<void>;
  /** Resolves when an execution running in this engine ends; undefined when none runs here under that id. */
  waitForExecution(id: string): Promise<ExecutionDetails> | undefined;
  listExecutions(options?: { limit?: number; offset?: number }): Promise<ExecutionSummary[]>;
  /** Filtered, sorted and paged by the database, with the number of matches. */
  queryExecutions(query: ExecutionQuery): Promise<{ items: ExecutionSummary[]; total: number }>;
  /** By id or unique id prefix. */
  getExecution(idOrPrefix: string): Promise<ExecutionDetails>;
  readJobLog(
    executionId: string,
    node: string,
    options?: { offset?: number; limit?: number },
  ): Promise<JobLogChunk>;
  /**
   * Everything a job reported; `metrics: false` leaves its metric values out (a plot or progress answer must not
   * read a million points: ADR 0014).
   */
  getJobTelemetry(executionId: string, node: string, options?: { metrics?: boolean }): Promise<JobTelemetry>;
  /** The job's metric series (ADR 0014), in the order each was first logged. */
  listMetricSeries(executionId: string, node: string): Promise<MetricSeriesInfo[]>;
  /** One series for a view of `query.width` columns; NotFoundError when the job has no series of that name. */
  readMetricView(
    executionId: string,
    node: string,
    name: string,
    query: MetricViewQuery,
  ): Promise<MetricView>;
  /** Every point of a series in pages of `pageSize`, in the order logged, each page one bounded query. */
  readMetricPoints(
    executionId: string,
    node: string,
    name: string,
    pageSize?: number,
  ): AsyncIterable<MetricPointRow[]>;
  listArtifacts(options?: ArtifactQuery): Promise<ArtifactInfo[]>;
  countArtifacts(options?: Omit<ArtifactQuery, 'limit' | 'offset'>): Promise<number>;
  /** Names there is a stored artifact of (in that project when given), sorted. */
  listArtifactNames(projectId?: string): Promise<string[]>;
  /** By name (newest version), id prefix or hash prefix. */
  getArtifact(nameOrPrefix: string): Promise<ArtifactInfo>;
  /** By exact id; NotFoundError otherwise. */
  getArtifactById(id: string): Promise<ArtifactInfo>;
  openArtifact(nameOrPrefix: string): Promise<Readable>;
  /**
   * What an artifact's data looks like (type, shape, range, an image), read by Python with the interpreter
   * operations use, with the project's code importable as a job has it (`utils`, `serializers`, generated
   * `resources`) and its `serializers/` registered. Works on every storage: when it keeps no local file, the bytes
   * are fetched to one first. By exact id; NotFoundError otherwise.
   */
  previewArtifact(id: string, options?: { project?: Project }): Promise<ArtifactPreview>;
  importArtifact(file: string, name: string, options?: ArtifactImportOptions): Promise<ArtifactInfo>;
  /** Streams content into the store; when the stream fails nothing is recorded (a partial blob is removed). */
  importArtifactStream(
    stream: Readable,
    name: string,
    options?: ArtifactImportOptions & { provenance?: ArtifactRecord['provenance'] },
  ): Promise<ArtifactInfo>;
  /** Records content already in the data store under a name. */
  importArtifactHash(hash: string, name: string, options?: ArtifactImportOptions): Promise<ArtifactInfo>;
  /** Forgets an artifact; its bytes go only when nothing else uses them. */
  deleteArtifact(id: string): Promise<{ blobRemoved: boolean }>;
  loadProjectFolder(dir: string): Promise<{ project: Project; diagnostics: Diagnostic[] }>;
  saveProjectFolder(dir: string, project: Project): Promise<{ written: string[]; removed: string[] }>;
  /**
   * The folder project of a project folder (docs/adr/0028): registered the first time (found by the folder's real
   * path after), its content in the data dir made the same as the folder's. The folder is only read.
   */
  registerFolderProject(dir: string, project: Project): Promise<FolderProjectRegistration>;
  /**
   * Emits on this engine's bus the status events of executions other engine processes drive in the same
   * database (`deepforge run` beside the web server, docs/adr/0028), read every `everyMs`; returns the stop
   * function.
   */
  followOtherEngines(everyMs: number): () => void;
  /** The interpreter operations run with (checked once, then remembered). */
  python(): Promise<PythonInfo>;
  /** Which artifact storage the settings chose, where it is, and whether the local blob dir can be used now. */
  storageStatus(): Promise<StorageStatus>;
  /** Cancels what runs here, waits for it, and releases the database. */
  /** Stops what runs and closes the adapters; see CloseOptions for the checks of outputs still running. */
  close(options?: CloseOptions): Promise<void>;
}

/** Opens the data store (creating it on first use), registers this process as a runner and recovers. */
export async function openEngine(options: OpenEngineOptions = {}): Promise<Engine> {
  const env = options.env ?? process.env;
  const settings = await loadSettings({ dataDir: options.dataDir, env, overrides: options.settings });
  const logger =
    options.logger ??
    pino(
      { level: env.DEEPFORGE_LOG_LEVEL ?? 'info' },
      pino.destination({ dest: join(settings.dataDir, 'logs', 'engine.log'), mkdir: true, sync: true }),
    );
  const runtimeDir = options.runtimeDir ?? findRuntimeDir();
  const adapters = await openEngineAdapters(
    settings,
    {
      env,
      logger,
      runtimeDir,
      killGraceMs: options.killGraceMs,
      computeBackend: options.computeBackend,
      ...(options.localGpus ? { localGpus: options.localGpus } : {}),
    },
    {
      ...(options.store ? { store: options.store } : {}),
      ...(options.storage ? { storage: options.storage } : {}),
      ...(options.compute ? { compute: options.compute } : {}),
    },
  );
  const engine = new EngineImpl(settings, env, logger, adapters, runtimeDir, options);
  // Its worker thread loads, and the interpreter is checked and its warm worker started, while the engine
  // registers, recovers and reads the project (unreferenced meanwhile; a failed open closes the compute with it).
  if (options.warmUp) {
    if (!engine.readerWarmed) engine.operationReader.warm();
    engine.warmUpJobs(options.prestarted?.warmWorker);
  }
  try {
    await engine.open(options.recover ?? true);
  } catch (err) {
    await engine.abandon();
    await adapters.compute.close().catch(() => undefined);
    await adapters.store.close();
    await adapters.storage.close?.();
    throw err;
  }
  return engine;
}

class EngineImpl implements Engine {
  readonly dataDir: string;
  readonly runnerId: string;
  recovery: RecoveryResult | undefined;
  readonly projects: ProjectStore;
  readonly documents: DocumentStore;
  readonly accounts: AccountService;
  readonly workerTokens: WorkerTokens;
  readonly remoteCompute: RemoteCompute | undefined;
  /** Operations at once over all executions, and an execution's default (see effectiveConcurrency). */
  private readonly concurrency: number;
  readonly computeBackend: 'local' | 'workers' | 'slurm';
  readonly operationReader: OperationReader;
  /** The reader came from prestartRun, which already decided whether its worker starts ahead. */
  readonly readerWarmed: boolean;
  private readonly bus: EventBus;
  private readonly slots: SlotPool;
  private readonly artifacts: ArtifactService;
  private readonly stores: DatabaseStores;
  private readonly storage: EngineStorage;
  private readonly compute: Compute;
  /** Jobs' input files: the storage's own, or the read-through cache of `worker.cache.*` (ADR 0012). */
  private readonly inputFiles: JobInputFiles;
  private readonly runner: Runner;
  private readonly store: ExecutionStore;
  private readonly runs = new Map<string, ExecutionRun>();
  /** Runs whose outputs are still being checked in the background (close waits for them). */
  private readonly checking = new Set<Promise<unknown>>();
  private pythonInfo: Promise<PythonInfo> | undefined;
  private closed = false;
  private readonly projectFolders: 'any' | 'data-dir';
  /** Executions this engine drove (the newest 1,000): their events are on the bus already. */
  private readonly ranHere = new Set<string>();
  private lastTime = 0;

  constructor(
    readonly settings: Settings,
    private readonly env: Env,
    private readonly logger: Logger,
    adapters: EngineAdapters,
    private readonly runtimeDir: string,
    options: OpenEngineOptions,
  ) {
    const stores = adapters.store;
    this.projectFolders = options.projectFolders ?? 'any';
    this.dataDir = settings.dataDir;
    this.stores = stores;
    this.store = stores.executions;
    this.storage = adapters.storage;
    this.compute = adapters.compute;
    this.inputFiles = new JobInputFiles(adapters.storage, {
      dir: settings.values['worker.cache.dir'],
      maxBytes: settings.values['worker.cache.maxBytes'],
    });
    this.projects = stores.projects;
    this.documents = stores.documents;
    this.runnerId = options.prestarted?.runnerId ?? newId();
    const prestartedReader =
      options.operationReader === undefined ? options.prestarted?.takeReader() : undefined;
    // A prestarted reader was started or not by who made it, who knew whether the run's readings were kept.
    this.readerWarmed = prestartedReader !== undefined;
    this.operationReader = prestartedReader ?? new OperationReader(options.operationReader);
    let box: Promise<SecretBox> | undefined;
    this.accounts = new AccountService(
      stores.accounts,
      () => (box ??= SecretBox.open(join(this.dataDir, 'secret.key'))),
    );
    this.bus = new EventBus(logger);
    this.artifacts = new ArtifactService(stores.artifacts, stores.executions, adapters.storage);
    this.runner = new Runner(this.runnerId, stores.runners, logger, () => this.now());
    this.workerTokens = new WorkerTokens(stores.workers);
    this.remoteCompute = adapters.compute instanceof RemoteCompute ? adapters.compute : undefined;
    this.computeBackend =
      adapters.computeBackend ??
      (adapters.compute instanceof SlurmCompute ? 'slurm' : this.remoteCompute ? 'workers' : 'local');
    this.concurrency = effectiveConcurrency(settings, this.computeBackend);
    this.slots = new SlotPool(this.concurrency);
  }

  localGpusInUse(): number[] {
    return this.computeBackend === 'local' ? (this.compute.gpusInUse?.() ?? []) : [];
  }

  /**
   * Wall-clock milliseconds, never earlier than a time this engine handed out before (a clock stepped back by NTP
   * does not make an end come before its start). Equal times are allowed: order among them comes from ids and
   * sequence numbers, never from bending time (a job reporting a million metrics once pushed a strictly
   * increasing clock 1,000 s ahead).
   */
  private now(): number {
    this.lastTime = Math.max(Date.now(), this.lastTime);
    return this.lastTime;
  }

  async open(recover: boolean): Promise<void> {
    await this.runner.register();
    this.logger.info({ runnerId: this.runnerId, dataDir: this.dataDir }, 'engine opened');
    if (recover) {
      this.recovery = await recoverDeadRunners({
        store: this.store,
        runners: this.stores.runners,
        logger: this.logger,
        selfId: this.runnerId,
        now: () => this.now(),
        ...(this.compute.stopOrphan ? { stopOrphan: (job) => this.compute.stopOrphan!(job) } : {}),
      });
      // Leftovers of writes cut short by a crash; a day is far longer than any write in progress.
      await this.storage.sweep?.(24 * 3600 * 1000).catch(() => 0);
      if (this.settings.values['executions.onRestart'] === 'requeue') {
        for (const id of this.recovery.failedExecutions) {
          try {
            await this.resumeExecution(id);
            this.logger.info({ executionId: id }, 'requeued an execution of a dead engine');
          } catch (err) {
            this.logger.error({ err, executionId: id }, 'could not requeue an execution of a dead engine');
          }
        }
      }
    }
  }

  private assertOpen(): void {
    if (this.closed) throw new EngineError('closed', 'the engine is closed');
  }

  /** The interpreter check and the interpreter's warm worker, started now for the first job (see warmUp). */
  warmUpJobs(started?: PrestartedWarmWorker): void {
    const prestart = this.compute.prestart?.bind(this.compute);
    if (!prestart) {
      started?.discard();
      return;
    }
    this.python().then(
      (python) => {
        // After close() no worker may start: nothing would stop it.
        if (!this.closed) prestart(python.command, this.runnerId, started);
        else started?.discard();
      },
      // Not remembered: the run that needs the interpreter checks it again and reports why it cannot be used.
      () => started?.discard(),
    );
  }

  /** After a failed open: nothing starts any more (see warmUpJobs), and the reader's workers stop. */
  async abandon(): Promise<void> {
    this.closed = true;
    await this.operationReader.close();
  }

  python(): Promise<PythonInfo> {
    if (!this.pythonInfo) {
      const p = resolvePython(this.settings.values.python, {
        runtimeDir: this.runtimeDir,
        env: this.env,
        // A passed check is kept by interpreter identity: engines opened later skip the interpreter start.
        cacheFile: join(this.dataDir, PYTHON_CHECKS_FILE),
      });
      this.pythonInfo = p;
      // A failed check is not remembered: the user may fix the interpreter and try again.
      p.catch(() => {
        if (this.pythonInfo === p) this.pythonInfo = undefined;
      });
    }
    return this.pythonInfo;
  }

  async storageStatus(): Promise<StorageStatus> {
    const v = this.settings.values;
    const backend = v['storage.backend'];
    const dir = v['blob.dir'];
    let problem: string | undefined;
    try {
      if (!(await stat(dir)).isDirectory()) problem = 'is not a directory';
      else await access(dir, constants.R_OK | constants.W_OK | constants.X_OK);
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      problem =
        code === 'ENOENT'
          ? 'does not exist'
          : code === 'EACCES' || code === 'EPERM'
            ? 'cannot be written by this server'
            : `cannot be used (${code ?? (err as Error).message})`;
    }
    let location: string;
    switch (backend) {
      case 'local':
        location = dir;
        break;
      case 's3': {
        const prefix = v['storage.s3.prefix'];
        const endpoint = v['storage.s3.endpoint'];
        location =
          `s3://${v['storage.s3.bucket'] ?? ''}${prefix === '' ? '' : `/${prefix}`}` +
          (endpoint !== undefined ? ` at ${endpoint}` : '');
        break;
      }
      default:
        assertNever(backend, 'storage backend');
    }
    return { backend, location, blobDir: { path: dir, ...(problem !== undefined ? { problem } : {}) } };
  }

  // ── executions ────────────────────────────────────────────────────────────────────────────────────────

  async startExecution(request: StartExecutionRequest): Promise<StartedExecution> {
    this.assertOpen();
    const { project, pipelineName } = request;
    const pipeline = project.pipelines[pipelineName];
    if (!pipeline) {
      const known = Object.keys(project.pipelines).sort();
      throw new PipelineValidationError(`cannot run pipeline "${pipelineName}"`, [
        {
          severity: 'error',
          code: 'unknown-pipeline',
          message: `the project has no pipeline "${pipelineName}"${known.length ? ` (it has: ${known.join(', ')})` : ''}`,
          pipeline: pipelineName,
        },
      ]);
    }
    const concurrency = request.concurrency ?? this.concurrency;
    if (!Number.isInteger(concurrency) || concurrency < 1) {
      throw new PipelineValidationError(`cannot run pipeline "${pipelineName}"`, [
        {
          severity: 'error',
          code: 'bad-concurrency',
          message: `concurrency must be an integer ≥ 1, not ${concurrency}`,
        },
      ]);
    }
    const overrides = request.overrides ?? [];
    const projectId = request.projectId ?? '';
    const fallback = await this.fallbackScope(projectId);
    const artifactNames = new Set([
      ...Object.keys(project.artifacts),
      ...(await this.stores.artifacts.listArtifactNames(projectId)),
      ...(fallback !== undefined ? await this.stores.artifacts.listArtifactNames(fallback) : []),
    ]);
    const prepared = preparePipeline(
      project,
      pipeline,
      overrides,
      artifactNames,
      await this.operationReader.readProject(project),
    );
    const errors = prepared.diagnostics.filter((d) => d.severity === 'error');
    if (errors.length > 0) throw new PipelineValidationError(`cannot run pipeline "${pipelineName}"`, errors);
    let code: Map<string, string>;
    try {
      code = codeFiles(project);
    } catch (err) {
      throw new PipelineValidationError(`cannot run pipeline "${pipelineName}"`, [
        { severity: 'error', code: 'bad-project', message: (err as Error).message },
      ]);
    }
    // The interpreter is checked before anything is stored: an execution that cannot start is not recorded.
    const python = await this.python();

    const effective = prepared.pipeline;
    const strangers = unknownNodeOptions(
      request,
      effective.nodes.map((n) => n.id),
      pipelineName,
    );
    if (strangers.length > 0)
      throw new PipelineValidationError(`cannot run pipeline "${pipelineName}"`, strangers);
    const plan = planExecution(effective, prepared.interfaces);
    const snapshot: ExecutionSnapshot = {
      version: 1,
      pipeline: effective,
      plan,
      attributes: Object.fromEntries(effective.nodes.map((n) => [n.id, n.attributes])),
      effectiveAttributes: Object.fromEntries(
        effective.nodes.map((n) => [n.id, effectiveAttributes(n, prepared.interfaces)]),
      ),
      artifacts: project.artifacts,
      projectDir: request.projectDir ?? null,
    };
    const runOptions: ExecutionRunOptions = {
      cache: request.cache ?? false,
      concurrency,
      overrides: overrides.map((o) => (typeof o === 'string' ? o : `${o.node}.${o.attr}=${o.raw}`)),
      ...(request.startedBy !== undefined ? { startedBy: request.startedBy } : {}),
      ...labelOptions(request),
      ...slurmOptions(request),
      ...(request.resumedFrom !== undefined ? { resumedFrom: request.resumedFrom } : {}),
    };
    return this.create(
      {
        projectId,
        project: project.manifest.name,
        pipeline: pipelineName,
        name: request.name,
        plan,
        version: request.version ?? null,
      },
      snapshot,
      runOptions,
      python,
      code,
    );
  }

  /** Stores a new execution (code snapshot first, then the records) and starts it. */
  private async create(
    what: {
      projectId: string;
      project: string;
      pipeline: string;
      name: string | undefined;
      plan: ExecutionPlan;
      version: string | null;
    },
    snapshot: ExecutionSnapshot,
    runOptions: ExecutionRunOptions,
    python: PythonInfo,
    code: ReadonlyMap<string, string>,
  ): Promise<StartedExecution> {
    const { plan } = what;
    const pipelineName = what.pipeline;
    const id = newId();
    const createdAt = this.now();
    const codeDir = codeDirOf(this.dataDir, id);
    await writeCodeSnapshot(codeDir, code);
    try {
      await this.store.insertExecution(
        {
          id,
          projectId: what.projectId,
          name:
            what.name ??
            `${pipelineName} ${new Date(createdAt).toISOString().replace('T', ' ').slice(0, 19)}`,
          project: what.project,
          pipeline: pipelineName,
          status: 'pending',
          createdAt,
          options: runOptions as unknown as Record<string, JsonValue>,
          snapshot: snapshot as unknown as Record<string, JsonValue>,
          runnerId: this.runnerId,
          version: what.version,
        },
        plan.order.map((node) => ({
          id: jobIdOf(id, node),
          executionId: id,
          node,
          operation: plan.nodes[node]!.operation,
        })),
      );
    } catch (err) {
      await rm(executionDir(this.dataDir, id), { recursive: true, force: true }).catch(() => undefined);
      throw err;
    }
    this.logger.info(
      { executionId: id, pipeline: pipelineName, project: what.project, projectId: what.projectId },
      'execution created',
    );
    return this.run(id, snapshot, runOptions, python, code);
  }

  private async run(
    id: string,
    snapshot: ExecutionSnapshot,
    options: ExecutionRunOptions,
    python: PythonInfo,
    code: ReadonlyMap<string, string>,
  ): Promise<StartedExecution> {
    const execution = (await this.store.getExecution(id))!;
    const fallbackProjectId = await this.fallbackScope(execution.projectId);
    const jobs = await this.store.listJobs(id);
    const outputs = await this.store.listExecutionOutputs(id);
    const run = new ExecutionRun(
      {
        dataDir: this.dataDir,
        runnerId: this.runnerId,
        store: this.store,
        telemetry: this.stores.telemetry,
        storage: this.storage,
        blobFiles: this.inputFiles,
        artifacts: this.artifacts,
        compute: this.compute,
        bus: this.bus,
        slots: this.slots,
        logger: this.logger,
        python,
        timeoutMs: this.settings.values['executions.timeout'] * 1000,
        logMaxBytes: this.settings.values['logs.maxBytes'],
        now: () => this.now(),
        secretsFor: (projectId) =>
          projectId === '' ? Promise.resolve({ env: {} }) : this.accounts.jobSecrets(projectId),
        ...(fallbackProjectId !== undefined ? { fallbackProjectId } : {}),
        // A folder project's folder (the web server reads none: what the last CLI run imported stands in).
        ...(this.projectFolders === 'data-dir' &&
        fallbackProjectId !== undefined &&
        snapshot.projectDir !== null &&
        !isWithin(this.dataDir, snapshot.projectDir)
          ? { noProjectFolder: true }
          : {}),
      },
      execution,
      jobs,
      outputs,
      snapshot,
      options,
      code,
    );
    this.runs.set(id, run);
    this.ranHere.add(id);
    // The newest are enough: the follower of other engines only looks at the newest executions.
    if (this.ranHere.size > 1000) this.ranHere.delete(this.ranHere.values().next().value!);
    const forget = (): void => {
      if (this.runs.get(id) === run) this.runs.delete(id);
    };
    run.done.then(forget, forget);
    this.checking.add(run.checked);
    const checked = (): void => void this.checking.delete(run.checked);
    run.checked.then(checked, checked);
    await run.start();
    return { id, done: run.done, checked: run.checked };
  }

  subscribe(executionId: string, listener: ExecutionListener): () => void {
    return this.bus.subscribe(executionId, listener);
  }

  /**
   * The scope a project's executions look in after their own (docs/adr/0028): the CLI's unnamed scope for a
   * folder project, none for a project of the web IDE (its members must not read what the CLI stored).
   */
  private async fallbackScope(projectId: string): Promise<string | undefined> {
    if (projectId === '') return undefined;
    return (await this.stores.projects.getProject(projectId))?.folder ? '' : undefined;
  }

  followOtherEngines(everyMs: number): () => void {
    const follower = new OtherEnginesFollower({
      store: this.store,
      details: (id) => this.getExecution(id),
      selfRunnerId: this.runnerId,
      ranHere: (id) => this.ranHere.has(id),
      emit: (event) => this.bus.emit(event),
      now: () => this.now(),
      logger: this.logger,
    });
    const timer = setInterval(() => {
      if (!this.closed) void follower.poll();
    }, everyMs);
    timer.unref();
    return () => clearInterval(timer);
  }

  async registerFolderProject(dir: string, project: Project): Promise<FolderProjectRegistration> {
    const stores = {
      projects: this.stores.projects,
      documents: this.stores.documents,
      now: () => this.now(),
    };
    return registerFolderProject(stores, dir, project);
  }

  waitForExecution(id: string): Promise<ExecutionDetails> | undefined {
    return this.runs.get(id)?.done;
  }

  private async resolveExecutionId(idOrPrefix: string): Promise<string> {
    if (await this.store.getExecution(idOrPrefix)) return idOrPrefix;
    const ids = await this.store.findExecutionIds(idOrPrefix, 10);
    if (ids.length === 1) return ids[0]!;
    if (ids.length > 1)
      throw new AmbiguousError(`"${idOrPrefix}" matches several executions: ${ids.join(', ')}`, ids);
    throw new NotFoundError(`no execution with id "${idOrPrefix}"`);
  }

  async cancelExecution(idOrPrefix: string): Promise<void> {
    this.assertOpen();
    const id = await this.resolveExecutionId(idOrPrefix);
    const run = this.runs.get(id);
    if (run) {
      run.cancel();
      await run.done.catch(() => undefined);
      return;
    }
    const execution = (await this.store.getExecution(id))!;
    if (isActiveExecutionStatus(execution.status)) {
      throw new ExecutionStateError(
        `execution ${id} is run by another DeepForge process (runner ${execution.runnerId}); cancel it there`,
      );
    }
    throw new ExecutionStateError(`execution ${id} is not running (it is ${execution.status})`);
  }

  async resumeExecution(idOrPrefix: string, options: ResumeExecutionOptions = {}): Promise<StartedExecution> {
    this.assertOpen();
    const id = await this.resolveExecutionId(idOrPrefix);
    const execution = (await this.store.getExecution(id))!;
    if (execution.status === 'success')
      throw new ExecutionStateError(`execution ${id} succeeded: nothing to resume`);
    if (!isResumableExecutionStatus(execution.status)) {
      throw new ExecutionStateError(
        `execution ${id} is ${execution.status}: only failed or canceled executions resume`,
      );
    }
    if (
      options.concurrency !== undefined &&
      (!Number.isInteger(options.concurrency) || options.concurrency < 1)
    ) {
      throw new ExecutionStateError(`concurrency must be an integer ≥ 1, not ${options.concurrency}`);
    }
    const snapshot = readExecutionSnapshot(execution);
    const previous = readRunOptions(execution);
    const python = await this.python();
    const runOptions: ExecutionRunOptions = {
      cache: options.cache ?? previous.cache,
      concurrency: options.concurrency ?? previous.concurrency,
      overrides: previous.overrides,
      ...(previous.startedBy !== undefined ? { startedBy: previous.startedBy } : {}),
      ...labelOptions(previous),
      ...slurmOptions(previous),
    };
    // Claim it first, so two engines resuming at once cannot both run it.
    const claimed = await this.store.updateExecution(
      id,
      {
        status: 'running',
        runnerId: this.runnerId,
        endedAt: null,
        options: runOptions as unknown as Record<string, JsonValue>,
      },
      { expectRunner: null },
    );
    if (!claimed)
      throw new ExecutionStateError(`execution ${id} is being resumed by another DeepForge process`);
    // Every output a job succeeded with must still be there, or the jobs after it cannot run.
    const jobs = await this.store.listJobs(id);
    for (const o of await this.store.listExecutionOutputs(id)) {
      if (!(await this.storage.has(o.hash))) {
        const node = jobs.find((j) => j.id === o.jobId)?.node ?? o.jobId;
        await this.store.updateExecution(id, { status: 'failed', runnerId: null, endedAt: this.now() });
        throw new ExecutionStateError(
          `cannot resume ${id}: output ${o.name} of ${node} (${o.hash}) is no longer in the data store; run the pipeline again`,
        );
      }
    }
    for (const job of jobs) {
      if (canTransitionJob(job.status, 'pending')) {
        await this.store.transitionJob(job.id, 'pending', {
          error: null,
          exitCode: null,
          endedAt: null,
          pid: null,
          pgid: null,
        });
      }
    }
    this.logger.info({ executionId: id }, 'execution resumed');
    return this.run(id, snapshot, runOptions, python, await readCodeSnapshot(codeDirOf(this.dataDir, id)));
  }

  async resumeWithCurrentCode(
    idOrPrefix: string,
    request: ResumeWithCurrentCodeRequest,
  ): Promise<StartedExecution> {
    this.assertOpen();
    const id = await this.resolveExecutionId(idOrPrefix);
    const execution = (await this.store.getExecution(id))!;
    if (execution.status === 'success')
      throw new ExecutionStateError(`execution ${id} succeeded: nothing to resume`);
    if (!isResumableExecutionStatus(execution.status)) {
      throw new ExecutionStateError(
        `execution ${id} is ${execution.status}: only failed or canceled executions resume`,
      );
    }
    const previous = readRunOptions(execution);
    const snapshot = readExecutionSnapshot(execution);
    const name = request.name ?? `${execution.name} (resumed with current code)`;
    const renames = request.renames ?? {};
    const byCurrentId = <T>(byNode: Readonly<Record<string, T>>): Record<string, T> =>
      Object.fromEntries(Object.entries(byNode).map(([node, v]) => [currentNodeId(renames, node), v]));
    this.logger.info({ executionId: id }, 'execution resumed with current code');
    return this.startExecution({
      project: request.project,
      pipelineName: execution.pipeline,
      projectDir: request.projectDir !== undefined ? request.projectDir : snapshot.projectDir,
      projectId: execution.projectId,
      overrides: renameOverrideKeys(previous.overrides, renames),
      // The cache is what reuses the upstream jobs whose code, attributes and inputs are unchanged.
      cache: true,
      concurrency: request.concurrency ?? previous.concurrency,
      name: name.length > 200 ? `${name.slice(0, 199)}…` : name,
      ...(request.startedBy !== undefined
        ? { startedBy: request.startedBy }
        : previous.startedBy !== undefined
          ? { startedBy: previous.startedBy }
          : {}),
      ...(previous.labels !== undefined ? { labels: previous.labels } : {}),
      ...(previous.nodeLabels !== undefined ? { nodeLabels: byCurrentId(previous.nodeLabels) } : {}),
      ...(previous.gpus !== undefined ? { gpus: previous.gpus } : {}),
      ...(previous.nodeGpus !== undefined ? { nodeGpus: byCurrentId(previous.nodeGpus) } : {}),
      ...(previous.slurm !== undefined ? { slurm: previous.slurm } : {}),
      ...(previous.nodeSlurm !== undefined ? { nodeSlurm: byCurrentId(previous.nodeSlurm) } : {}),
      resumedFrom: id,
    });
  }

  async rerunExecution(idOrPrefix: string, options: RerunExecutionOptions = {}): Promise<StartedExecution> {
    this.assertOpen();
    const id = await this.resolveExecutionId(idOrPrefix);
    const execution = (await this.store.getExecution(id))!;
    if (
      options.concurrency !== undefined &&
      (!Number.isInteger(options.concurrency) || options.concurrency < 1)
    ) {
      throw new ExecutionStateError(`concurrency must be an integer ≥ 1, not ${options.concurrency}`);
    }
    const snapshot = readExecutionSnapshot(execution);
    const previous = readRunOptions(execution);
    const python = await this.python();
    const code = await readCodeSnapshot(codeDirOf(this.dataDir, id));
    this.logger.info({ executionId: id }, 'execution re-run');
    return this.create(
      {
        projectId: execution.projectId,
        project: execution.project,
        pipeline: execution.pipeline,
        name: options.name,
        plan: snapshot.plan,
        // The same snapshot: the same version of the project.
        version: execution.version,
      },
      snapshot,
      {
        cache: options.cache ?? previous.cache,
        concurrency: options.concurrency ?? previous.concurrency,
        overrides: previous.overrides,
        ...(options.startedBy !== undefined ? { startedBy: options.startedBy } : {}),
        ...labelOptions(previous),
        ...slurmOptions(previous),
      },
      python,
      code,
    );
  }

  async deleteExecution(idOrPrefix: string): Promise<void> {
    this.assertOpen();
    const id = await this.resolveExecutionId(idOrPrefix);
    const execution = (await this.store.getExecution(id))!;
    if (this.runs.has(id) || isActiveExecutionStatus(execution.status)) {
      throw new ExecutionStateError(`execution ${id} is ${execution.status}: cancel it before deleting it`);
    }
    await this.store.deleteExecution(id);
    await rm(executionDir(this.dataDir, id), { recursive: true, force: true });
    this.logger.info({ executionId: id }, 'execution deleted');
  }

  async queryExecutions(query: ExecutionQuery): Promise<{ items: ExecutionSummary[]; total: number }> {
    const now = Date.now();
    const { items, total } = await this.store.queryExecutions({ ...query, now });
    const counts = await this.store.countJobsByStatus(items.map((e) => e.id));
    return { items: items.map((e) => summarize(e, counts.get(e.id) ?? {}, now)), total };
  }

  async listExecutions(options: { limit?: number; offset?: number } = {}): Promise<ExecutionSummary[]> {
    const list = await this.store.listExecutions({ limit: options.limit ?? 50, offset: options.offset ?? 0 });
    const now = Date.now();
    return Promise.all(list.map(async (e) => summarize(e, await this.store.listJobs(e.id), now)));
  }

  async getExecution(idOrPrefix: string): Promise<ExecutionDetails> {
    const id = await this.resolveExecutionId(idOrPrefix);
    return executionDetails(this.store, this.dataDir, (await this.store.getExecution(id))!, Date.now());
  }

  private async jobOf(executionId: string, node: string) {
    const id = await this.resolveExecutionId(executionId);
    const job = (await this.store.listJobs(id)).find((j) => j.node === node);
    if (!job) throw new NotFoundError(`execution ${id} has no node "${node}"`);
    return { id, job };
  }

  async readJobLog(
    executionId: string,
    node: string,
    options: { offset?: number; limit?: number } = {},
  ): Promise<JobLogChunk> {
    const { id, job } = await this.jobOf(executionId, node);
    const complete = isTerminalJobStatus(job.status);
    const file = consoleLogOf(this.dataDir, id, node);
    const offset = Math.max(0, options.offset ?? 0);
    const limit = Math.max(1, options.limit ?? 1024 * 1024);
    const size = (await stat(file).catch(() => undefined))?.size ?? 0;
    if (offset >= size) return { text: '', offset, nextOffset: offset, size, complete };
    const fh = await open(file, 'r');
    try {
      const buf = Buffer.alloc(Math.min(limit, size - offset));
      const { bytesRead } = await fh.read(buf, 0, buf.length, offset);
      let end = bytesRead;
      if (offset + bytesRead < size) {
        // Stop after the last whole line, or at least at a character boundary.
        const nl = buf.lastIndexOf(10, bytesRead - 1);
        if (nl >= 0) {
          end = nl + 1;
        } else {
          while (end > 0 && (buf[end - 1]! & 0xc0) === 0x80) end--;
          if (end > 0 && buf[end - 1]! >= 0xc0) end--;
          if (end === 0) end = bytesRead;
        }
      }
      const text = new StringDecoder('utf8').end(buf.subarray(0, end));
      return { text, offset, nextOffset: offset + end, size, complete };
    } finally {
      await fh.close();
    }
  }

  async listMetricSeries(executionId: string, node: string): Promise<MetricSeriesInfo[]> {
    const { job } = await this.jobOf(executionId, node);
    return this.stores.telemetry.listMetricSeries(job.id);
  }

  async readMetricView(
    executionId: string,
    node: string,
    name: string,
    query: MetricViewQuery,
  ): Promise<MetricView> {
    const { job } = await this.jobOf(executionId, node);
    const view = await this.stores.telemetry.readMetricView(job.id, name, query);
    if (!view) throw new NotFoundError(`job ${node} of execution ${executionId} has no metric "${name}"`);
    return view;
  }

  async *readMetricPoints(
    executionId: string,
    node: string,
    name: string,
    pageSize = 10_000,
  ): AsyncIterable<MetricPointRow[]> {
    const { job } = await this.jobOf(executionId, node);
    for (let seq = 0; ;) {
      const page = await this.stores.telemetry.readMetricPoints(job.id, name, seq, pageSize);
      if (page.length === 0) return;
      yield page;
      seq = (page[page.length - 1] as MetricPointRow).seq + 1;
    }
  }

  async getJobTelemetry(
    executionId: string,
    node: string,
    options: { metrics?: boolean } = {},
  ): Promise<JobTelemetry> {
    const { job } = await this.jobOf(executionId, node);
    return {
      metrics: options.metrics === false ? [] : await this.stores.telemetry.listMetrics(job.id),
      plots: await this.stores.telemetry.listPlots(job.id),
      progress: await this.stores.telemetry.listProgress(job.id),
    };
  }

  // ── artifacts ─────────────────────────────────────────────────────────────────────────────────────────

  private info(a: ArtifactRecord): ArtifactInfo {
    return { ...a, path: this.storage.path(a.hash) };
  }

  async listArtifacts(options: ArtifactQuery = {}): Promise<ArtifactInfo[]> {
    return (await this.stores.artifacts.listArtifacts(options)).map((a) => this.info(a));
  }

  countArtifacts(options: Omit<ArtifactQuery, 'limit' | 'offset'> = {}): Promise<number> {
    return this.stores.artifacts.countArtifacts(options);
  }

  listArtifactNames(projectId?: string): Promise<string[]> {
    return this.stores.artifacts.listArtifactNames(projectId);
  }

  async getArtifactById(id: string): Promise<ArtifactInfo> {
    const a = await this.stores.artifacts.getArtifact(id);
    if (!a) throw new NotFoundError(`no artifact with id "${id}"`);
    return this.info(a);
  }

  async importArtifactStream(
    stream: Readable,
    name: string,
    options: ArtifactImportOptions & { provenance?: ArtifactRecord['provenance'] } = {},
  ): Promise<ArtifactInfo> {
    this.assertOpen();
    return this.info(
      await this.artifacts.importStream(stream, name, {
        projectId: options.projectId,
        serializer: options.serializer,
        pyType: options.pyType ?? null,
        provenance: options.provenance,
      }),
    );
  }

  async importArtifactHash(
    hash: string,
    name: string,
    options: ArtifactImportOptions = {},
  ): Promise<ArtifactInfo> {
    this.assertOpen();
    return this.info(
      await this.artifacts.importHash(hash, name, {
        projectId: options.projectId,
        serializer: options.serializer,
        pyType: options.pyType ?? null,
      }),
    );
  }

  async deleteArtifact(id: string): Promise<{ blobRemoved: boolean }> {
    this.assertOpen();
    const result = await this.artifacts.delete(id);
    this.logger.info({ artifactId: id, ...result }, 'artifact deleted');
    return result;
  }

  async getArtifact(nameOrPrefix: string): Promise<ArtifactInfo> {
    return this.info(await this.artifacts.get(nameOrPrefix));
  }

  async openArtifact(nameOrPrefix: string): Promise<Readable> {
    const a = await this.artifacts.get(nameOrPrefix);
    return this.storage.openRead(a.hash);
  }

  async previewArtifact(id: string, options: { project?: Project } = {}): Promise<ArtifactPreview> {
    const a = await this.getArtifactById(id);
    if (!(await this.storage.has(a.hash))) {
      return { pyType: a.pyType ?? 'unknown', error: `its content ${a.hash} is no longer in the data store` };
    }
    const python = await this.python();
    const preview = await withBlobFile(this.storage, a.hash, (file) =>
      previewArtifactFile({
        file,
        serializer: a.serializer,
        pyType: a.pyType,
        code: options.project ? codeFiles(options.project) : new Map(),
        python: python.executable,
        runtimeDir: this.runtimeDir,
        env: this.env,
      }),
    );
    // What the preview read is the artifact's type when nobody said (an upload without one): recorded, so the list
    // shows it and downloads get its file extension.
    if (a.pyType === null && preview.error === undefined && preview.pyType !== 'unknown')
      await this.stores.artifacts.setDetectedPyType(a.id, preview.pyType);
    return preview;
  }

  async importArtifact(
    file: string,
    name: string,
    options: ArtifactImportOptions = {},
  ): Promise<ArtifactInfo> {
    this.assertOpen();
    return this.info(
      await this.artifacts.importFile(file, name, {
        projectId: options.projectId,
        serializer: options.serializer,
        pyType: options.pyType ?? null,
      }),
    );
  }

  loadProjectFolder(dir: string): Promise<{ project: Project; diagnostics: Diagnostic[] }> {
    return loadProjectFolder(dir, this.operationReader);
  }

  saveProjectFolder(dir: string, project: Project): Promise<{ written: string[]; removed: string[] }> {
    return saveProjectFolder(dir, project);
  }

  async close(options: CloseOptions = {}): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    const runs = [...this.runs.values()];
    for (const run of runs) run.cancel('canceled: the engine was closed');
    await Promise.all(runs.map((r) => r.done.catch(() => undefined)));
    // Checks of outputs that outlived their execution: waited for, or left to the next open (their blobs keep
    // their markers), whose check cannot mark the execution any more (docs/adr/0005).
    if (options.leaveChecks && this.checking.size > 0) {
      this.logger.info(
        { executions: this.checking.size },
        'closing with output checks still running: they are redone when the blob store is opened again',
      );
      this.storage.leaveChecks?.();
    } else {
      await Promise.all([...this.checking].map((c) => c.catch(() => undefined)));
    }
    await this.compute.close();
    await this.operationReader.close();
    await this.runner.stop();
    await this.stores.close();
    await this.storage.close?.();
    this.logger.info({ runnerId: this.runnerId }, 'engine closed');
    this.logger.flush?.();
  }
}

/**
 * The labels of a run (docs/adr/0015), checked: a label a worker could never have is refused, naming it, before
 * anything is stored.
 */
function labelOptions(from: {
  labels?: readonly string[];
  nodeLabels?: Readonly<Record<string, readonly string[]>>;
  gpus?: number;
  nodeGpus?: Readonly<Record<string, number>>;
}): Pick<ExecutionRunOptions, 'labels' | 'nodeLabels' | 'gpus' | 'nodeGpus'> {
  const check = (labels: readonly string[], where: string): string[] => {
    for (const label of labels) {
      const parsed = WorkerLabelSchema.safeParse(label);
      if (!parsed.success) {
        throw new EngineError(
          'invalid-pipeline',
          `${where}: ${JSON.stringify(label)} is not a label (${parsed.error.issues[0]?.message ?? 'invalid'})`,
        );
      }
    }
    return [...new Set(labels)].sort();
  };
  const gpus = (n: number, where: string): number => {
    if (!Number.isInteger(n) || n < 0 || n > MAX_GPUS) {
      throw new EngineError(
        'invalid-pipeline',
        `${where}: ${JSON.stringify(n)} is not a number of GPUs (a whole number from 0 to ${MAX_GPUS})`,
      );
    }
    return n;
  };
  const out: Pick<ExecutionRunOptions, 'labels' | 'nodeLabels' | 'gpus' | 'nodeGpus'> = {};
  if (from.labels && from.labels.length > 0) out.labels = check(from.labels, 'labels');
  if (from.nodeLabels) {
    const entries = Object.entries(from.nodeLabels).filter(([, l]) => l.length > 0);
    if (entries.length > 0) {
      out.nodeLabels = Object.fromEntries(entries.map(([node, l]) => [node, check(l, `labels of ${node}`)]));
    }
  }
  if (from.gpus !== undefined && gpus(from.gpus, 'gpus') > 0) out.gpus = from.gpus;
  if (from.nodeGpus) {
    const entries = Object.entries(from.nodeGpus).filter(([node, n]) => gpus(n, `gpus of ${node}`) > 0);
    if (entries.length > 0) out.nodeGpus = Object.fromEntries(entries);
  }
  return out;
}

/**
 * Per-node options of a run (labels, GPUs, Slurm options) naming a node the pipeline does not have: a typo there
 * would otherwise be ignored, the job running without what was asked for it.
 */
function unknownNodeOptions(
  request: {
    nodeLabels?: Readonly<Record<string, unknown>>;
    nodeGpus?: Readonly<Record<string, unknown>>;
    nodeSlurm?: Readonly<Record<string, unknown>>;
  },
  nodes: readonly string[],
  pipeline: string,
): Diagnostic[] {
  const known = new Set(nodes);
  const out: Diagnostic[] = [];
  for (const [what, byNode] of [
    ['labels', request.nodeLabels],
    ['GPUs', request.nodeGpus],
    ['Slurm options', request.nodeSlurm],
  ] as const) {
    for (const node of Object.keys(byNode ?? {})) {
      if (known.has(node)) continue;
      out.push({
        severity: 'error',
        code: 'unknown-node',
        message: `${what} are given for node "${node.slice(0, 100)}", which pipeline "${pipeline}" does not have (its nodes: ${[...known].sort().join(', ')})`,
        pipeline,
      });
    }
  }
  return out;
}

/** The Slurm options of a run (docs/adr/0016), checked: a value sbatch would not take is refused, naming it. */
function slurmOptions(from: {
  slurm?: SlurmJobOptions;
  nodeSlurm?: Readonly<Record<string, SlurmJobOptions>>;
}): Pick<ExecutionRunOptions, 'slurm' | 'nodeSlurm'> {
  const check = (options: unknown, where: string): SlurmJobOptions => {
    const parsed = SlurmJobOptionsSchema.safeParse(options);
    if (!parsed.success) {
      const issue = parsed.error.issues[0];
      const field = issue?.path.length ? `.${issue.path.join('.')}` : '';
      throw new EngineError('invalid-pipeline', `${where}${field}: ${issue?.message ?? 'invalid'}`);
    }
    return parsed.data;
  };
  const out: Pick<ExecutionRunOptions, 'slurm' | 'nodeSlurm'> = {};
  if (from.slurm && Object.keys(from.slurm).length > 0) out.slurm = check(from.slurm, 'slurm');
  if (from.nodeSlurm) {
    const entries = Object.entries(from.nodeSlurm).filter(([, o]) => Object.keys(o).length > 0);
    if (entries.length > 0) {
      out.nodeSlurm = Object.fromEntries(
        entries.map(([node, o]) => [node, check(o, `slurm options of ${node}`)]),
      );
    }
  }
  return out;
}

/**
 * Jobs held at once when `executions.concurrency` is not set and jobs run elsewhere (remote workers, Slurm): the
 * workers' slots and the cluster's queue decide what runs; the engine only bounds what it keeps waiting there.
 */
export const REMOTE_DEFAULT_CONCURRENCY = 256;

/**
 * `executions.concurrency`, or when it is not set: this machine's CPUs for local compute, and
 * REMOTE_DEFAULT_CONCURRENCY when jobs run on workers or Slurm (the server's CPUs say nothing about those).
 */
function effectiveConcurrency(
  settings: { values: { 'executions.concurrency': number }; sources: { 'executions.concurrency': string } },
  backend: 'local' | 'workers' | 'slurm',
): number {
  if (backend === 'local' || settings.sources['executions.concurrency'] !== 'default') {
    return settings.values['executions.concurrency'];
  }
  return REMOTE_DEFAULT_CONCURRENCY;
}

/** Whether `path` is `root` or inside it (both absolute). */
function isWithin(root: string, path: string): boolean {
  const rel = relative(root, path);
  return rel === '' || (!isAbsolute(rel) && rel !== '..' && !rel.startsWith('../'));
}
