export { openEngine } from './engine.js';
export type { FolderProjectRegistration } from './folder-project.js';
export type {
  ArtifactImportOptions,
  ArtifactInfo,
  CloseOptions,
  Engine,
  JobLogChunk,
  JobTelemetry,
  OpenEngineOptions,
  RerunExecutionOptions,
  ResumeWithCurrentCodeRequest,
  ResumeExecutionOptions,
  StartedExecution,
  StartExecutionRequest,
  StorageStatus,
} from './engine.js';
export type { EngineAdapters, EngineStorage } from './engine.adapters.js';
export type { Compute } from './compute/job.compute.js';
export type { ExecutionDetails, ExecutionSummary, JobOutputView, JobView } from './execution.views.js';
export type { ExecutionListener } from './event-bus.js';
export type { OverrideSpec } from './pipeline-plan.js';
export {
  AmbiguousError,
  EngineError,
  EnvironmentError,
  ExecutionStateError,
  IllegalTransitionError,
  InterpreterError,
  NotFoundError,
  PipelineValidationError,
  ProjectFolderError,
  SettingsError,
  StorageError,
  DatabaseError,
  formatDiagnostic,
  formatDiagnostics,
} from './errors.js';
export type { EngineErrorCode } from './errors.js';
export { MissingArtifactError } from './artifact.service.js';
export {
  CONFIG_FILE_NAME,
  DATA_DIR_ENV,
  SETTING_KEYS,
  configFilePath,
  getSetting,
  isSettingKey,
  listSettings,
  loadSettings,
  parseByteSize,
  parseSettingValue,
  resolveDataDir,
  setSetting,
  settingsAsTree,
  slurmDefaults,
  unsetSetting,
  writeFileAtomic,
} from './settings.js';
export { withFileLock } from './file-lock.js';
export type {
  Env,
  LoadSettingsOptions,
  OnRestart,
  SettingEntry,
  SettingKey,
  SettingSource,
  Settings,
  SettingsLocation,
  SettingsValues,
} from './settings.js';
export {
  PYTHON_CANDIDATES,
  PYTHON_CHECKS_FILE,
  findRuntimeDir,
  probeInterpreter,
  pythonEnv,
  resolvePython,
} from './compute/python-interpreter.js';
export type { PythonInfo } from './compute/python-interpreter.js';
export { loadProjectFolder, projectFromFilesWith, saveProjectFolder } from './project-folder.js';
export { ExtensionError, ExtensionStore } from './extensions/extension.store.js';
export type { ExtensionStoreOptions, InstalledExtension } from './extensions/extension.store.js';
export { DEFAULT_TAR_LIMITS, readTarGz, TarArchiveError } from './extensions/tar-archive.js';
export type { TarLimits } from './extensions/tar-archive.js';
export { OPERATION_READ_DEADLINE_MS, OperationReader } from './operation-reader.js';
export type { OperationReaderOptions } from './operation-reader.js';
export type { PrestartedRun } from './run-prestart.js';
export type { RecoveryResult } from './runner.service.js';
export type {
  ExecutionQuery,
  ExecutionRecord,
  ExecutionSortKey,
  ExecutionStore,
  JobOutputRecord,
  JobRecord,
} from './store/execution.store.js';
export type {
  ArtifactProvenance,
  ArtifactQuery,
  ArtifactRecord,
  ArtifactStore,
} from './store/artifact.store.js';
export type {
  MetricPointRow,
  MetricRecord,
  MetricSeriesInfo,
  MetricView,
  MetricViewQuery,
  PlotRecord,
  ProgressRecord,
  TelemetryStore,
} from './store/telemetry.store.js';
export { MetricValueError } from './store/metric-points.writer.js';
export { UNSORTED_VIEW_READ_LIMIT } from './store/kysely-telemetry.store.js';
export type { RunnerRecord, RunnerStore } from './store/runner.store.js';
export { EXECUTION_SORT_KEYS } from './store/execution.store.js';
export type { ArtifactStorage, ContentHash, StoredBlob } from './storage/artifact.storage.js';
export { ContentHasher, contentHashOf } from './storage/content-hasher.js';
export { hashFile } from './storage/local-blob.storage.js';
export type { DocumentStore, StoredUpdate } from './store/document.store.js';
export type { ProjectRecord, ProjectStore, ProjectUpdate } from './store/project.store.js';
export { openSqliteStores } from './store/sqlite.store.js';
export type { SqliteStores } from './store/sqlite.store.js';
export { openDatabase } from './store/database.opener.js';
export type { DatabaseDialect, DatabaseStores, EngineStores } from './store/database.store.js';
export { maskDatabaseUrl } from './store/database-url.js';
export { MIGRATE_BATCH_ROWS, migrateInstallation } from './migrate/installation-migration.js';
export type {
  MigrateInstallationOptions,
  MigrationEvent,
  MigrationReport,
  MigrationStorage,
} from './migrate/installation-migration.js';
export type { BlobOutcome } from './migrate/copy-blobs.js';
export {
  AccountError,
  AccountService,
  PASSWORD_MIN_LENGTH,
  SESSION_IDLE_MS,
  SESSION_MAX_MS,
  TOKEN_MAX_DAYS,
  TOKEN_PREFIX,
  USER_NAME_RULE,
  passwordProblem,
  userNameProblem,
} from './accounts/accounts.service.js';
export type {
  AccountErrorCode,
  Identity,
  NewSession,
  NewToken,
  SecretInfo,
} from './accounts/accounts.service.js';
export { PROJECT_ROLES } from './accounts/account.store.js';
export type {
  AccessTokenRecord,
  AccountStore,
  AuditRecord,
  MemberRecord,
  ProjectRole,
  UserRecord,
} from './accounts/account.store.js';
export { redactor } from './compute/local.compute.js';
export { RemoteCompute } from './compute/remote.compute.js';
export type { RemoteComputeOptions, WorkerLink } from './compute/remote.compute.js';
export { LocalCompute } from './compute/local.compute.js';
export { Gate } from './gate.js';
export { removeCodeSnapshot, writeCodeSnapshot } from './code-snapshot.js';
export { EnvironmentCache } from './environments/environment.cache.js';
export type { EnvironmentCacheOptions } from './environments/environment.cache.js';
export { EnvironmentCompute, openEnvironmentCache } from './environments/environment.compute.js';
export type { ComputeJobRequest, ComputeResult, RunningJob } from './compute/job.compute.js';
export { ReadThroughCache } from './storage/read-through.cache.js';
export { WORKER_TOKEN_PREFIX, WorkerTokens } from './accounts/worker-tokens.service.js';
export type { NewWorkerToken } from './accounts/worker-tokens.service.js';
export type { LeaseRecord, WorkerStore, WorkerTokenRecord } from './store/worker.store.js';
export {
  ARCHITECTURE_PYTHON_TIMEOUT_MS,
  ArchitecturePythonError,
  ArchitectureService,
} from './architecture/architecture.service.js';
export type { ArchitectureCheck, ArchitectureServiceOptions } from './architecture/architecture.service.js';
export { openArtifactStorage } from './storage/storage.opener.js';
// Project history: a bare git repository per project (docs/adr/0020).
export { ProjectHistory, HistoryError, HISTORY_BRANCH, blobId } from './history/project-history.js';
export type {
  Version,
  VersionAuthor,
  VersionFile,
  VersionFiles,
  VersionKind as HistoryVersionKind,
  VersionQuery,
  NewVersion,
} from './history/project-history.js';
export { runGit, gitEnv, GitError } from './history/git.process.js';
