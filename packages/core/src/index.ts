// The data model (zod schemas and the types they define).
export {
  ArtifactRefSchema,
  ConnectionSchema,
  EntityNameSchema,
  IdentifierSchema,
  INPUT_OPERATION,
  INPUT_PORT,
  JSON_MAX_DEPTH,
  jsonValueProblem,
  JsonValueSchema,
  OUTPUT_OPERATION,
  OUTPUT_PORT,
  PipelineNodeSchema,
  PipelineSchema,
  PortRefSchema,
  PositionSchema,
  WorkerLabelSchema,
  MAX_NODE_GPUS,
  PROJECT_FORMAT_VERSION,
  ProjectManifestSchema,
  PythonNameSchema,
} from './model.js';
export type {
  ArtifactRef,
  AttributeSpec,
  AttributeType,
  Connection,
  Diagnostic,
  JsonValue,
  OperationInterface,
  OperationSource,
  Pipeline,
  PipelineNode,
  PortRef,
  PortSpec,
  Project,
  ProjectManifest,
  Severity,
  SourceRange,
} from './model.js';

export { assertNever } from './assert-never.js';

// Readable diffs of a project file between two versions (the History view).
export {
  diffProjectFile,
  FILE_DIFF_LIMITS,
  formatDiffValue,
  lineDiff,
  projectFileKind,
} from './project-file.diff.js';
export type {
  DiffHunk,
  DiffLine,
  DiffLineKind,
  FileDiff,
  GraphDiff,
  GraphNodeRef,
  LineDiff,
  NodeChange,
  ProjectFileKind,
  ValueChange,
} from './project-file.diff.js';

// Comparing executions: outcomes, attribute and code differences, figures matched and overlaid (issue 13).
export {
  codeChanges,
  COMPARE_LIMITS,
  compareExecutions,
  compareProblem,
  figureTitle,
  matchFigures,
  operationOfPath,
  overlayFigures,
} from './execution.compare.js';
export type {
  AttributeCell,
  AttributeRow,
  CodeChange,
  CodeFileTexts,
  ComparedFigure,
  CompareJob,
  CompareRun,
  ExecutionComparison,
  FigureAxes,
  FigureGroup,
  FigureLine,
  FigureOverlay,
  JobOutcome,
  OutcomeRow,
  OverlayAxes,
  OverlaySeries,
} from './execution.compare.js';

// Content ids of stored data (sha256, or the block tree above 8 MiB).
export {
  CONTENT_HASH_BLOCK_BYTES,
  CONTENT_HASH_PATTERN,
  CONTENT_HASH_SCHEMES,
  ContentHashSchema,
  contentHashHex,
  contentHashProblem,
  contentHashSchemeFor,
  isContentHash,
  splitContentHash,
} from './content-hash.js';
export type { ContentHash, ContentHashScheme } from './content-hash.js';

// Artifact references: the data file a reference names stays inside the project's artifacts/ folder.
export {
  ARTIFACT_FILE_MAX_LENGTH,
  artifactDownloadName,
  artifactFileProblem,
  ArtifactFileSchema,
} from './artifact-file.js';

// Python source: names, literals, operation interfaces and edits.
export {
  identifierProblem,
  isPythonIdentifier,
  NAME_MAX_LENGTH,
  PYTHON_KEYWORDS,
} from './python-identifier.js';
export { evaluatePythonLiteral, toPythonLiteral } from './python-literal.evaluator.js';
export type { LiteralResult } from './python-literal.evaluator.js';
export {
  attributeTypeOfHint,
  lineColumn,
  OPERATION_MAX_DIAGNOSTICS,
  parseOperationSource,
} from './python-interface.parser.js';
export {
  BRACKET_MAX_DEPTH,
  OPERATION_CODE_MAX_BYTES,
  parsePythonBounded,
  SYNTAX_RECOVERY_MAX_STEPS,
  SYNTAX_TREE_MAX_DEPTH,
} from './python-source.limits.js';
export type { BoundedParse, SourceLimitOptions, SourceProblem } from './python-source.limits.js';
export { LineIndex } from './source-lines.js';
export type { ParseOperationOptions, ParseOperationResult } from './python-interface.parser.js';
export {
  addAttribute,
  addInput,
  addOutput,
  addReference,
  newOperationSource,
  removeAttribute,
  removeInput,
  removeOutput,
  removeReference,
  renameAttribute,
  renameInput,
  renameOutput,
  renameReference,
  setAttributeDefault,
} from './python-interface.edit.js';
export type { EditOptions, EditResult } from './python-interface.edit.js';

// The project folder format.
export {
  ARTIFACTS_DIR,
  DEPENDENCIES_SUFFIX,
  formatIssuePath,
  MANIFEST_FILE,
  OPERATIONS_DIR,
  parseProjectOperations,
  PIPELINES_DIR,
  ProjectFilesError,
  projectFromFiles,
  projectFromFilesUnread,
  projectOperationsOf,
  projectToFiles,
  readOperationFile,
  SERIALIZERS_DIR,
  sortDiagnosticsByFile,
  UTILS_DIR,
} from './project-files.js';
export type {
  OperationReading,
  ProjectFromFilesResult,
  ProjectOperations,
  UnreadProjectFiles,
} from './project-files.js';

// Extensions: the manifest, DeepForge version ranges and reading an extension's files (docs/adr/0025).
export {
  EXTENSION_EXAMPLES_DIR,
  EXTENSION_MANIFEST_FILE,
  extensionOperationFiles,
  ExtensionManifestSchema,
  ExtensionNameSchema,
  ExtensionOperationSchema,
  extensionVersionProblem,
  parseVersion,
  parseVersionRange,
  planExtensionCopy,
  readExtensionFiles,
  readExtensionManifest,
  VERSION_RANGE_MAX_LENGTH,
  versionInRange,
} from './extension-manifest.js';
export type {
  ExtensionContent,
  ExtensionCopyPlan,
  ExtensionManifest,
  ExtensionOperation,
  ExtensionReadResult,
  VersionRange,
} from './extension-manifest.js';

// Operation environments: the conda-style environment file read into pip requirements (docs/adr/0017).
export {
  ENVIRONMENT_FILE_MAX_BYTES,
  ENVIRONMENT_FILE_MAX_LINES,
  ENVIRONMENT_LINE_MAX_CHARS,
  ENVIRONMENT_MAX_PACKAGES,
  environmentMaterial,
  needsEnvironment,
  parseEnvironmentFile,
  pipRequirementProblem,
  pythonVersionProblem,
} from './environment-file.parser.js';
export type {
  EnvironmentFileProblem,
  EnvironmentFileResult,
  EnvironmentPlan,
  EnvironmentRequirement,
} from './environment-file.parser.js';

// Pipelines: validation, planning, job states, `--set` overrides, cache keys.
export {
  attributeValueFits,
  BUILT_IN_INTERFACES,
  INPUT_ARTIFACT_ATTRIBUTE,
  OUTPUT_SAVE_NAME_ATTRIBUTE,
  portTypesCompatible,
  validatePipeline,
  executePipelineProblem,
} from './pipeline.validation.js';
export type { ValidatePipelineOptions } from './pipeline.validation.js';
export {
  descendants,
  findCycle,
  findCycles,
  nextRunnable,
  PipelineCycleError,
  PipelinePlanError,
  planPipeline,
} from './pipeline.plan.js';
export type { PipelinePlan, PipelinePlanErrorKind } from './pipeline.plan.js';
export {
  canTransitionExecution,
  canTransitionJob,
  EXECUTION_STATUSES,
  isActiveExecutionStatus,
  isResumableExecutionStatus,
  isSuccessfulJobStatus,
  isTerminalExecutionStatus,
  isTerminalJobStatus,
  isWaitingJobStatus,
  JOB_STATUSES,
} from './execution-state.machine.js';
export type { ExecutionStatus, JobStatus } from './execution-state.machine.js';
export { applyAttributeOverrides, convertAttributeValue, parseSetOption } from './attribute-overrides.js';
export type { ApplyOverridesResult, AttributeOverride, ConvertResult } from './attribute-overrides.js';
export { CACHE_KEY_VERSION, cacheKeyMaterial, canonicalJson } from './cache-key.js';
export type { CacheKeyParts } from './cache-key.js';

// Metric series drawn at once: min-max summaries, the pyramid's levels, the view plan, smoothing (ADR 0014).
export {
  addPoint,
  bucketPoints,
  bucketSize,
  emptyColumns,
  groupSummaries,
  mergeSummaries,
  planView,
  pushColumn,
  PYRAMID_BASE,
  PYRAMID_LEVELS,
  smoothEma,
} from './metric-summary.js';
export type { PointSummary, SummaryColumns, ViewPlan } from './metric-summary.js';

// Architectures (resources/<name>.json): the layer graph, its validation, the layer catalog's shape, code.
export {
  ADD_LAYER,
  ARCHITECTURE_LIMITS,
  ArchitectureEdgeSchema,
  ArchitectureLayerSchema,
  ArchitectureSchema,
  CONCAT_LAYER,
  INPUT_LAYER,
  LayerClassSchema,
  SELECT_LAYER,
} from './model.js';
export type { Architecture, ArchitectureEdge, ArchitectureLayer } from './model.js';
export { RESOURCES_DIR } from './project-files.js';
export {
  architectureDepth,
  architectureInputCount,
  architectureOrder,
  argumentFits,
  BUILT_IN_LAYERS,
  CUSTOM_LAYER_PREFIX,
  layerInputs,
  parseInputShape,
  RESERVED_LAYER_IDS,
  RESOURCE_LAYER_PREFIX,
  validateArchitecture,
} from './architecture.validation.js';
export type { ArchitectureContext, ShapeDim } from './architecture.validation.js';
export {
  ArchitectureCodeError,
  architectureModulePath,
  generateArchitectureCode,
  pythonLiteral,
} from './architecture.codegen.js';
export type {
  LayerArgument,
  LayerArgumentType,
  LayerCatalog,
  LayerCatalogError,
  LayerClass,
} from './layer-catalog.js';
export { formatArchitectureSummary, formatCount, formatShape } from './architecture.summary.js';
export type { ArchitectureShapeReport, InferredShape, LayerShapeReport } from './architecture.summary.js';
export {
  currentNodeId,
  NodeRenameError,
  nodeRenameProblem,
  recordNodeRename,
  renameNode,
  renameOverrideKeys,
} from './pipeline.rename.js';
