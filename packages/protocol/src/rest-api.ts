import { z } from 'zod';
import {
  ArtifactFileSchema,
  ArtifactRefSchema,
  ConnectionSchema,
  ContentHashSchema as CoreContentHashSchema,
  EntityNameSchema,
  IdentifierSchema,
  PythonNameSchema,
  JsonValueSchema,
  PipelineNodeSchema,
  PipelineSchema,
  PositionSchema,
} from '@deepforge/core';
import { ExecutionStatusSchema, JobErrorSchema, JobStatusSchema } from './execution-events.js';
import { JobUsageSchema, PlotAxesSchema } from './runtime-events.js';
import { SlurmJobOptionsSchema } from './slurm-options.js';
import { WorkerLabelSchema } from './worker-messages.js';

/**
 * The web server's REST API: every route's params, query, body and response as zod schemas. The server validates
 * requests with them (a 400 names the field) and builds its OpenAPI document (`/api/docs`) from them; the client
 * imports the same schemas and types. Every object is strict: unknown fields are a 400.
 *
 * Live data is not here: project content is synced as a Yjs document over `/api/collab` (Hocuspocus, document
 * name = project id), execution events arrive over `/api/events` (see execution-events.ts: `hello`, then
 * ExecutionCommand / ExecutionEvent).
 *
 * Bump REST_API_VERSION on any change an older client would misread.
 */
export const REST_API_VERSION = 1;
export const API_PREFIX = '/api';

// ── shared pieces ─────────────────────────────────────────────────────────────────────────────────────────

/** Project ids are made by the server: lowercase letters and digits. */
export const ProjectIdSchema = z
  .string()
  .regex(/^[0-9a-z]{1,64}$/, 'must be a project id (lowercase letters and digits)');
export const ExecutionIdSchema = z
  .string()
  .regex(/^[0-9a-z]{1,64}$/, 'must be an execution id (lowercase letters and digits)');
export const ArtifactIdSchema = z
  .string()
  .regex(/^[0-9a-z]{1,64}$/, 'must be an artifact id (lowercase letters and digits)');
/** A content id: `sha256:<hex>` (content up to 8 MiB) or `sha256t:<hex>` (more; docs/adr/0006). */
export const ContentHashSchema = CoreContentHashSchema;

/**
 * An artifact name: also a file name in the project folder, so no path separators, no `..`, no control
 * characters (EntityNameSchema allows only letters, digits, space, `_`, `-`, `.`).
 */
export const ArtifactNameSchema = EntityNameSchema;
export const PipelineNameSchema = EntityNameSchema;
export const OperationNameSchema = PythonNameSchema;
/** Utils are imported as `utils.<name>`; serializers are `serializers/<name>.py`. */
export const ModuleNameSchema = PythonNameSchema;
/**
 * A name in a URL that must name something that exists: checked by looking it up, not by the naming rules, so a
 * name stored before a rule was tightened can still be read, renamed and deleted.
 */
export const ExistingNameParamSchema = z.string().min(1).max(1000);

export const DiagnosticSchema = z.strictObject({
  severity: z.enum(['error', 'warning']),
  code: z.string(),
  message: z.string(),
  pipeline: z.string().optional(),
  node: z.string().optional(),
  port: z.string().optional(),
  operation: z.string().optional(),
  /** An architecture (resources/) and its layer. */
  resource: z.string().optional(),
  layer: z.string().optional(),
  file: z.string().optional(),
  line: z.number().int().optional(),
  column: z.number().int().optional(),
});
export type DiagnosticDto = z.infer<typeof DiagnosticSchema>;

/**
 * Every 4xx/5xx answer. `error` is a stable code, `message` one line for people. `field` names the offending
 * request field (`body.name`, `query.limit`, `params.projectId`) when one is to blame.
 */
export const ErrorCodeSchema = z.enum([
  'bad-request',
  'not-found',
  'conflict',
  'payload-too-large',
  'invalid-pipeline',
  'no-compute',
  'forbidden',
  'uri-too-long',
  'unsupported-media-type',
  'unauthorized',
  'too-many-requests',
  'internal',
]);
export type ErrorCode = z.infer<typeof ErrorCodeSchema>;

export const ApiErrorSchema = z.strictObject({
  error: ErrorCodeSchema,
  message: z.string(),
  field: z.string().optional(),
  /** For `invalid-pipeline` (422): every error and warning of the pipeline. */
  diagnostics: z.array(DiagnosticSchema).optional(),
  /** For deleting an operation still in use (409): the nodes that use it. */
  uses: z.array(z.strictObject({ pipeline: z.string(), node: z.string() })).optional(),
});
export type ApiError = z.infer<typeof ApiErrorSchema>;

/** Paged lists: `total` counts every match, `items` is one page of them. */
export function pageOf<T extends z.ZodType>(item: T) {
  return z.strictObject({ items: z.array(item), total: z.number().int() });
}
/** Short lists that are never paged. */
export function listOf<T extends z.ZodType>(item: T) {
  return z.strictObject({ items: z.array(item) });
}

const limitQuery = (max: number, dflt: number) => z.coerce.number().int().min(1).max(max).default(dflt);
const offsetQuery = z.coerce.number().int().min(0).default(0);
/** Query booleans: `?force=true`, `?force=1`. */
const booleanQuery = z.enum(['true', 'false', '1', '0']).transform((v) => v === 'true' || v === '1');

// ── health and platforms ──────────────────────────────────────────────────────────────────────────────────

/** GET /api/health */
export const HealthResponseSchema = z.strictObject({
  status: z.literal('ok'),
  version: z.string(),
  restApiVersion: z.number().int(),
  executionEventsVersion: z.number().int(),
  /** `local`: this server runs operations; `none`: started with `--server`, executions need a worker. */
  compute: z.enum(['local', 'none']),
  /** The interface it listens on (127.0.0.1 until there are accounts). */
  host: z.string(),
});
export type HealthResponse = z.infer<typeof HealthResponseSchema>;

/**
 * Where artifact contents are stored (the engine's `storage.backend`, docs/adr/0012): `local` (the blob dir) or
 * `s3` (a bucket). One server stores in one of them.
 */
export const STORAGE_BACKENDS = ['local', 's3'] as const;
export const StorageBackendSchema = z.enum(STORAGE_BACKENDS);
export type StorageBackendId = z.infer<typeof StorageBackendSchema>;

/** A compute or storage platform. `available`: a request may name it; else `reason` says why not. */
export const PlatformSchema = z.strictObject({
  id: z.string(),
  name: z.string(),
  available: z.boolean(),
  reason: z.string().optional(),
  /** Compute `slurm`: the options every job gets unless its execution or node says otherwise (compute.slurm.*). */
  slurm: SlurmJobOptionsSchema.optional(),
});
export type Platform = z.infer<typeof PlatformSchema>;
export const StoragePlatformSchema = PlatformSchema.extend({ id: StorageBackendSchema });
export type StoragePlatform = z.infer<typeof StoragePlatformSchema>;
/**
 * GET /api/platforms: what the execute, upload and import dialogs offer. `storage` lists the configured backend
 * (available when it can be used), and `local`, unavailable with its reason, when another one is configured: a
 * request naming a backend that is not available is refused (400).
 */
export const PlatformsResponseSchema = z.strictObject({
  compute: z.array(PlatformSchema),
  storage: z.array(StoragePlatformSchema),
});
export type PlatformsResponse = z.infer<typeof PlatformsResponseSchema>;

// ── projects ──────────────────────────────────────────────────────────────────────────────────────────────

export const ProjectParamsSchema = z.strictObject({ projectId: ProjectIdSchema });

/** The project and version a fork was made from (docs/adr/0020). */
export const ForkedFromSchema = z.strictObject({ projectId: z.string(), version: z.string() });
export type ForkedFrom = z.infer<typeof ForkedFromSchema>;

export const ProjectSummarySchema = z.strictObject({
  id: ProjectIdSchema,
  name: z.string(),
  description: z.string().optional(),
  createdAt: z.number(),
  updatedAt: z.number(),
  /** How many of each the project holds now. */
  counts: z.strictObject({
    pipelines: z.number().int(),
    operations: z.number().int(),
    executions: z.number().int(),
    artifacts: z.number().int(),
  }),
  /** The caller's role in it, when accounts are on (ADR 0009). */
  role: z.enum(['owner', 'writer', 'reader']).optional(),
  /** Set on a project made by POST /api/projects/:projectId/fork. */
  forkedFrom: ForkedFromSchema.optional(),
  /**
   * A folder project (docs/adr/0028): the project folder `deepforge run` registered it for. Its content here is
   * the folder's as of the last run; edits here do not change the folder.
   */
  folder: z.string().optional(),
});
export type ProjectSummary = z.infer<typeof ProjectSummarySchema>;

/** GET /api/projects */
export const ListProjectsResponseSchema = listOf(ProjectSummarySchema);

/** GET /api/examples: example projects a new project can start from. */
export const ExampleSchema = z.strictObject({
  /** An extension's example is named `<extension>/<example>`. */
  name: z.string(),
  description: z.string().optional(),
  pipelines: z.array(z.string()),
  /** The installed extension it comes from (docs/extensions.md); none for DeepForge's own examples. */
  extension: z.string().optional(),
});
export const ListExamplesResponseSchema = listOf(ExampleSchema);
export type Example = z.infer<typeof ExampleSchema>;

const ProjectNameSchema = z.string().trim().min(1, 'must not be empty').max(200);

/** POST /api/projects: an empty project, or a copy of an example (`example` = its name in GET /api/examples). */
export const CreateProjectBodySchema = z.strictObject({
  name: ProjectNameSchema,
  description: z.string().max(10_000).optional(),
  example: z.string().min(1).optional(),
});
export type CreateProjectBody = z.infer<typeof CreateProjectBodySchema>;

/** PATCH /api/projects/:projectId */
export const UpdateProjectBodySchema = z.strictObject({
  name: ProjectNameSchema.optional(),
  /** null removes it. */
  description: z.string().max(10_000).nullable().optional(),
});
export type UpdateProjectBody = z.infer<typeof UpdateProjectBodySchema>;

/**
 * POST /api/projects/import — body: a zip (`application/zip`) of a project folder (deepforge.json at the top or
 * in one top-level folder). Query `name` renames it. Answers 201 ProjectSummary.
 * GET /api/projects/:projectId/export — answers the zip (`<name>.zip`), importable again unchanged.
 */
export const ImportProjectQuerySchema = z.strictObject({ name: ProjectNameSchema.optional() });

/** GET /api/projects/:projectId/diagnostics: every problem in the project (operations and all pipelines). */
export const ProjectDiagnosticsResponseSchema = z.strictObject({ diagnostics: z.array(DiagnosticSchema) });

// ── pipelines ─────────────────────────────────────────────────────────────────────────────────────────────

export const PipelineParamsSchema = z.strictObject({
  projectId: ProjectIdSchema,
  pipeline: PipelineNameSchema,
});
export const NodeParamsSchema = z.strictObject({
  projectId: ProjectIdSchema,
  pipeline: PipelineNameSchema,
  node: IdentifierSchema,
});

export const PipelineSummarySchema = z.strictObject({
  name: z.string(),
  description: z.string().optional(),
  nodes: z.number().int(),
  connections: z.number().int(),
  errors: z.number().int(),
  warnings: z.number().int(),
});
export type PipelineSummary = z.infer<typeof PipelineSummarySchema>;
/** GET /api/projects/:projectId/pipelines */
export const ListPipelinesResponseSchema = listOf(PipelineSummarySchema);

/** GET /api/projects/:projectId/pipelines/:pipeline — the pipeline and what validation says about it. */
export const PipelineResponseSchema = z.strictObject({
  pipeline: PipelineSchema,
  diagnostics: z.array(DiagnosticSchema),
});
export type PipelineResponse = z.infer<typeof PipelineResponseSchema>;

/** POST /api/projects/:projectId/pipelines: an empty pipeline unless nodes and connections are given. */
export const CreatePipelineBodySchema = z.strictObject({
  name: PipelineNameSchema,
  description: z.string().optional(),
  nodes: z.array(PipelineNodeSchema).optional(),
  connections: z.array(ConnectionSchema).optional(),
});
export type CreatePipelineBody = z.input<typeof CreatePipelineBodySchema>;

/** PATCH /api/projects/:projectId/pipelines/:pipeline: rename and/or describe. */
export const UpdatePipelineBodySchema = z.strictObject({
  name: PipelineNameSchema.optional(),
  description: z.string().nullable().optional(),
});
export type UpdatePipelineBody = z.infer<typeof UpdatePipelineBodySchema>;

/** GET /api/projects/:projectId/pipelines/:pipeline/validate */
export const ValidateResponseSchema = z.strictObject({
  valid: z.boolean(),
  diagnostics: z.array(DiagnosticSchema),
});
export type ValidateResponse = z.infer<typeof ValidateResponseSchema>;

/**
 * POST /api/projects/:projectId/pipelines/:pipeline/nodes — `id` defaults to the operation's name in snake case
 * with a number when taken. Answers 201 with the node as stored.
 */
export const AddNodeBodySchema = z.strictObject({
  id: IdentifierSchema.optional(),
  operation: IdentifierSchema,
  attributes: z.record(z.string(), JsonValueSchema).optional(),
  references: z.record(z.string(), ArtifactNameSchema).optional(),
  position: PositionSchema.optional(),
});
export type AddNodeBody = z.infer<typeof AddNodeBodySchema>;
export const NodeResponseSchema = PipelineNodeSchema;

/**
 * PATCH /api/projects/:projectId/pipelines/:pipeline/nodes/:node — move it, set attributes (null: back to the
 * operation's default) and references (null: unset). Attribute names and value types are checked against the
 * operation's interface (400 naming `body.attributes.<name>`).
 */
export const UpdateNodeBodySchema = z.strictObject({
  /** A new id for the node (connections and --set keys follow); checked by core, with a message naming why. */
  id: z.string().max(1000).optional(),
  position: PositionSchema.optional(),
  attributes: z.record(z.string(), JsonValueSchema.nullable()).optional(),
  references: z.record(z.string(), ArtifactNameSchema.nullable()).optional(),
});
export type UpdateNodeBody = z.infer<typeof UpdateNodeBodySchema>;

/**
 * POST /api/projects/:projectId/pipelines/:pipeline/connections (body: a Connection) — 201; 409 when it would
 * make a cycle or the input is connected already, 400 when a node or port does not exist.
 * DELETE …/connections with the same four values as query parameters — 204.
 */
export const AddConnectionBodySchema = ConnectionSchema;
export const RemoveConnectionQuerySchema = z.strictObject({
  fromNode: IdentifierSchema,
  fromPort: IdentifierSchema,
  toNode: IdentifierSchema,
  toPort: IdentifierSchema,
});
export type RemoveConnectionQuery = z.infer<typeof RemoveConnectionQuerySchema>;

// ── operations ────────────────────────────────────────────────────────────────────────────────────────────

export const OperationParamsSchema = z.strictObject({
  projectId: ProjectIdSchema,
  operation: ExistingNameParamSchema,
});

const SourceRangeSchema = z.strictObject({
  from: z.number().int(),
  to: z.number().int(),
  line: z.number().int(),
  column: z.number().int(),
});
export const PortSpecSchema = z.strictObject({
  name: z.string(),
  type: z.string().optional(),
  range: SourceRangeSchema.optional(),
});
export const AttributeSpecSchema = z.strictObject({
  name: z.string(),
  type: z.enum(['int', 'float', 'str', 'bool', 'list', 'dict', 'none', 'any']),
  /** Absent when the default is an expression that cannot be evaluated. */
  default: JsonValueSchema.optional(),
  defaultSource: z.string(),
  hint: z.string().optional(),
  range: SourceRangeSchema.optional(),
});
export const OperationInterfaceSchema = z.strictObject({
  className: z.string(),
  inputs: z.array(PortSpecSchema),
  outputs: z.array(PortSpecSchema),
  attributes: z.array(AttributeSpecSchema),
  references: z.array(PortSpecSchema),
});

export const OperationUseSchema = z.strictObject({ pipeline: z.string(), node: z.string() });

export const OperationSummarySchema = z.strictObject({
  name: z.string(),
  /** Parsed from the code; null when there is no operation class to read. */
  interface: OperationInterfaceSchema.nullable(),
  diagnostics: z.array(DiagnosticSchema),
  /** Pipeline nodes that run it. */
  uses: z.array(OperationUseSchema),
});
export type OperationSummary = z.infer<typeof OperationSummarySchema>;
/** GET /api/projects/:projectId/operations (built-ins Input and Output included, with `builtIn: true`). */
export const ListOperationsResponseSchema = z.strictObject({
  items: z.array(OperationSummarySchema),
  builtIns: z.array(z.strictObject({ name: z.string(), interface: OperationInterfaceSchema })),
});

/** GET /api/projects/:projectId/operations/:operation */
export const OperationResponseSchema = OperationSummarySchema.extend({
  code: z.string(),
  /** Conda environment file; '' when none. */
  dependencies: z.string(),
});
export type OperationResponse = z.infer<typeof OperationResponseSchema>;

/** POST /api/projects/:projectId/operations — without `code`, the skeleton of a new operation named `name`. */
export const CreateOperationBodySchema = z.strictObject({
  name: OperationNameSchema,
  code: z.string().optional(),
  dependencies: z.string().optional(),
});
export type CreateOperationBody = z.infer<typeof CreateOperationBodySchema>;

/** PUT /api/projects/:projectId/operations/:operation — replace the code (and the dependencies when given). */
export const UpdateOperationBodySchema = z.strictObject({
  code: z.string(),
  dependencies: z.string().optional(),
});
export type UpdateOperationBody = z.infer<typeof UpdateOperationBodySchema>;

/** PATCH /api/projects/:projectId/operations/:operation — rename: file, class name in the code, every node. */
export const RenameOperationBodySchema = z.strictObject({ name: OperationNameSchema });

/**
 * DELETE /api/projects/:projectId/operations/:operation — 409 listing `uses` while pipelines use it, unless
 * `?force=true` (those pipelines then show an `unknown-operation` error).
 */
export const DeleteOperationQuerySchema = z.strictObject({ force: booleanQuery.optional() });

// ── extensions ────────────────────────────────────────────────────────────────────────────────────────────

/** An installed extension (docs/extensions.md): what it provides, or why it cannot be used. */
export const ExtensionSummarySchema = z.strictObject({
  name: z.string(),
  version: z.string().optional(),
  description: z.string().optional(),
  /** The DeepForge versions it fits. */
  deepforge: z.string().optional(),
  /** Set when its manifest is missing or broken or it does not fit this DeepForge; it provides nothing then. */
  problem: z.string().optional(),
  operations: z.array(
    z.strictObject({
      name: z.string(),
      description: z.string().optional(),
      /** Read from its code like a project operation's. */
      interface: OperationInterfaceSchema.nullable(),
      /** The project files adding it copies in: the operation and what it needs. */
      files: z.array(z.string()),
    }),
  ),
  resources: z.array(z.string()),
  examples: z.array(z.string()),
});
export type ExtensionSummary = z.infer<typeof ExtensionSummarySchema>;

/** GET /api/extensions */
export const ListExtensionsResponseSchema = listOf(ExtensionSummarySchema);

/** POST /api/projects/:projectId/extension-operations: copy an extension's operation into the project. */
export const AddExtensionOperationBodySchema = z.strictObject({
  extension: z.string().min(1).max(64),
  operation: z.string().min(1).max(100),
});
export type AddExtensionOperationBody = z.infer<typeof AddExtensionOperationBodySchema>;

export const AddExtensionOperationResponseSchema = z.strictObject({
  operation: z.string(),
  /** Files written into the project. */
  copied: z.array(z.string()),
  /** Files the project had already with the same content. */
  unchanged: z.array(z.string()),
});
export type AddExtensionOperationResponse = z.infer<typeof AddExtensionOperationResponseSchema>;

// ── utils and serializers ─────────────────────────────────────────────────────────────────────────────────

export const MODULE_KINDS = ['utils', 'serializers'] as const;
export const ModuleKindSchema = z.enum(MODULE_KINDS);
export type ModuleKind = z.infer<typeof ModuleKindSchema>;

/** GET/PUT/DELETE /api/projects/:projectId/{utils|serializers}/:name (a PUT that creates checks ModuleNameSchema) */
export const ModuleParamsSchema = z.strictObject({
  projectId: ProjectIdSchema,
  name: ExistingNameParamSchema,
});
export const ModuleSummarySchema = z.strictObject({ name: z.string(), size: z.number().int() });
/** GET /api/projects/:projectId/{utils|serializers} */
export const ListModulesResponseSchema = listOf(ModuleSummarySchema);
export const ModuleResponseSchema = z.strictObject({ name: z.string(), code: z.string() });
export type ModuleResponse = z.infer<typeof ModuleResponseSchema>;
/** PUT answers 201 when it created the module, 200 when it replaced it. */
export const PutModuleBodySchema = z.strictObject({ code: z.string() });

// ── artifact references (project content, in the project document) ───────────────────────────────────────

/** GET /api/projects/:projectId/artifact-refs — `artifacts/<name>.json` of the project folder. */
export const ListArtifactRefsResponseSchema = listOf(ArtifactRefSchema);
export const ArtifactRefParamsSchema = z.strictObject({
  projectId: ProjectIdSchema,
  name: ArtifactNameSchema,
});
/** PUT /api/projects/:projectId/artifact-refs/:name — the reference without its name (it is in the path). */
export const PutArtifactRefBodySchema = z
  .strictObject({
    /** Relative to the project's artifacts/ folder and inside it (artifactFileProblem). */
    file: ArtifactFileSchema.optional(),
    hash: ContentHashSchema.optional(),
    serializer: z.string().optional(),
    type: z.string().optional(),
    description: z.string().optional(),
  })
  .refine((a) => (a.file === undefined) !== (a.hash === undefined), {
    message: 'an artifact reference needs exactly one of `file` or `hash`',
    path: ['hash'],
  });

// ── executions ────────────────────────────────────────────────────────────────────────────────────────────

export const ExecutionParamsSchema = z.strictObject({
  projectId: ProjectIdSchema,
  executionId: ExecutionIdSchema,
});
export const JobParamsSchema = z.strictObject({
  projectId: ProjectIdSchema,
  executionId: ExecutionIdSchema,
  node: IdentifierSchema,
});

/**
 * POST /api/projects/:projectId/executions — runs the pipeline as the project document holds it now.
 * 201 ExecutionDetails; 422 `invalid-pipeline` with every diagnostic when it has errors (nothing stored);
 * 409 `no-compute` when the server was started without local compute.
 */
export const StartExecutionBodySchema = z.strictObject({
  pipeline: PipelineNameSchema,
  name: z.string().trim().min(1).max(200).optional(),
  /** node id → attribute → value, for this run only (like `--set node.attr=value`). */
  attributes: z.record(IdentifierSchema, z.record(IdentifierSchema, JsonValueSchema)).optional(),
  cache: z.boolean().optional(),
  concurrency: z.number().int().min(1).max(1024).optional(),
  /** Where the operations run: the server's compute (GET /api/platforms), else 400. Absent: the server's. */
  compute: z.enum(['local', 'workers', 'slurm']).optional(),
  /** Where its inputs are read from and its outputs stored: the configured backend (else 400). */
  storage: StorageBackendSchema.optional(),
  /** Labels a remote worker must have to run its operations (`deepforge worker --labels`), all or per node. */
  labels: z.array(WorkerLabelSchema).max(64).optional(),
  nodeLabels: z.record(IdentifierSchema, z.array(WorkerLabelSchema).max(64)).optional(),
  /** GPUs each operation needs (a node gets the larger of `gpus` and its own `nodeGpus`); docs/web-server.md. */
  gpus: z.number().int().min(0).max(64).optional(),
  nodeGpus: z.record(IdentifierSchema, z.number().int().min(0).max(64)).optional(),
  /** Slurm options (`compute.backend = slurm`) of every job, and of some nodes' (winning key by key). */
  slurm: SlurmJobOptionsSchema.optional(),
  nodeSlurm: z.record(IdentifierSchema, SlurmJobOptionsSchema).optional(),
});
export type StartExecutionBody = z.infer<typeof StartExecutionBodySchema>;

export const EXECUTION_SORT_KEYS = ['created', 'started', 'duration', 'name', 'status'] as const;
export const ExecutionSortSchema = z.enum(EXECUTION_SORT_KEYS);
export type ExecutionSort = z.infer<typeof ExecutionSortSchema>;
export const SortOrderSchema = z.enum(['asc', 'desc']);
export type SortOrder = z.infer<typeof SortOrderSchema>;

/**
 * GET /api/projects/:projectId/executions — `search` matches name or pipeline (case-insensitive substring),
 * `status` is one status or a comma list (`failed,canceled`), paged on the server.
 */
export const ListExecutionsQuerySchema = z.strictObject({
  search: z.string().max(200).optional(),
  status: z
    .string()
    .transform((s) => s.split(',').filter(Boolean))
    .pipe(z.array(ExecutionStatusSchema))
    .optional(),
  pipeline: PipelineNameSchema.optional(),
  sort: ExecutionSortSchema.default('created'),
  order: SortOrderSchema.default('desc'),
  limit: limitQuery(500, 50),
  offset: offsetQuery,
});
export type ListExecutionsQuery = z.input<typeof ListExecutionsQuerySchema>;

export const JobCountsSchema = z.partialRecord(JobStatusSchema, z.number().int());

export const ExecutionSummarySchema = z.strictObject({
  id: z.string(),
  name: z.string(),
  projectId: z.string(),
  pipeline: z.string(),
  status: ExecutionStatusSchema,
  createdAt: z.number(),
  startedAt: z.number().nullable(),
  endedAt: z.number().nullable(),
  durationMs: z.number().nullable(),
  jobCounts: JobCountsSchema,
  /** The project version (commit id, docs/adr/0020) the run started from; absent on runs older than history. */
  version: z.string().optional(),
});
export type ExecutionSummaryDto = z.infer<typeof ExecutionSummarySchema>;
export const ListExecutionsResponseSchema = pageOf(ExecutionSummarySchema);

export const JobOutputSchema = z.strictObject({
  name: z.string(),
  hash: z.string(),
  size: z.number(),
  serializer: z.string(),
  pyType: z.string(),
});

export const JobSchema = z.strictObject({
  id: z.string(),
  node: z.string(),
  operation: z.string(),
  status: JobStatusSchema,
  attempt: z.number().int(),
  startedAt: z.number().nullable(),
  endedAt: z.number().nullable(),
  durationMs: z.number().nullable(),
  exitCode: z.number().int().nullable(),
  error: JobErrorSchema.nullable(),
  cachedFrom: z.string().nullable(),
  outputs: z.array(JobOutputSchema),
  /** What it used (CPU time, peak memory, peak GPU memory), once it ended and when its process said. */
  usage: JobUsageSchema.nullable().optional(),
});
export type JobDto = z.infer<typeof JobSchema>;

/** GET /api/projects/:projectId/executions/:executionId */
export const ExecutionDetailsSchema = ExecutionSummarySchema.extend({
  options: z.strictObject({
    cache: z.boolean(),
    concurrency: z.number().int(),
    overrides: z.array(z.string()),
  }),
  /** The pipeline as it ran (attribute overrides applied): the execution view draws it. */
  pipelineSnapshot: PipelineSchema,
  /** Who started it, when accounts are on. */
  startedBy: z.string().nullable(),
  /** The failed execution this one resumed with the project's current code (docs/adr/0021). */
  resumedFrom: z.string().nullable().optional(),
  jobs: z.array(JobSchema),
  failure: z.strictObject({ node: z.string(), error: JobErrorSchema }).nullable(),
});
export type ExecutionDetailsDto = z.infer<typeof ExecutionDetailsSchema>;

/** POST …/executions/:executionId/cancel — 200 with the execution once stopped; 409 when it is not running. */
/** POST …/executions/:executionId/rerun — the same snapshot as a new execution: 201 ExecutionDetails. */
export const RerunExecutionBodySchema = z.strictObject({
  name: z.string().trim().min(1).max(200).optional(),
  cache: z.boolean().optional(),
  concurrency: z.number().int().min(1).max(1024).optional(),
});
/** POST …/executions/:executionId/resume — re-runs what failed or was canceled: 200 ExecutionDetails. */
export const ResumeExecutionBodySchema = z.strictObject({
  cache: z.boolean().optional(),
  concurrency: z.number().int().min(1).max(1024).optional(),
});
/**
 * POST …/executions/:executionId/resume-current — a new execution of the failed one's pipeline with the project's
 * current operations and attributes; unchanged upstream jobs reuse their outputs: 201 ExecutionDetails.
 */
export const ResumeCurrentExecutionBodySchema = z.strictObject({
  name: z.string().trim().min(1).max(200).optional(),
  concurrency: z.number().int().min(1).max(1024).optional(),
});
export type ResumeCurrentExecutionBody = z.infer<typeof ResumeCurrentExecutionBodySchema>;
/** GET …/executions/:executionId/download — a zip: code snapshot, pipeline.json, execution.json, logs/<node>.log. */

/** GET …/executions/:executionId/jobs/:node/log?offset=&limit= — console log by byte range. */
export const JobLogQuerySchema = z.strictObject({
  offset: offsetQuery,
  limit: limitQuery(16 * 1024 * 1024, 1024 * 1024),
});
export const JobLogResponseSchema = z.strictObject({
  text: z.string(),
  offset: z.number().int(),
  nextOffset: z.number().int(),
  size: z.number().int(),
  /** The job has ended: nothing more will be written. */
  complete: z.boolean(),
});
export type JobLogResponse = z.infer<typeof JobLogResponseSchema>;

/** GET …/jobs/:node/plots — the latest snapshot of each figure. */
export const PlotSchema = z.strictObject({
  figure: z.number().int(),
  seq: z.number().int(),
  title: z.string().optional(),
  svg: z.string().optional(),
  png: z.string().optional(),
  axes: z.array(PlotAxesSchema),
  t: z.number(),
});
export const ListPlotsResponseSchema = listOf(PlotSchema);
/** GET …/jobs/:node/metrics */
export const MetricSchema = z.strictObject({
  step: z.number().nullable(),
  name: z.string(),
  value: z.number(),
  t: z.number(),
});
export const ListMetricsResponseSchema = listOf(MetricSchema);
/** GET …/jobs/:node/progress — the latest state of each progress bar. */
export const ProgressSchema = z.strictObject({
  bar: z.string(),
  desc: z.string().optional(),
  n: z.number(),
  total: z.number().nullable(),
  unit: z.string().optional(),
  rate: z.number().nullable().optional(),
  done: z.boolean().optional(),
  t: z.number(),
});
export const ListProgressResponseSchema = listOf(ProgressSchema);

// ── artifacts (stored data, per project) ──────────────────────────────────────────────────────────────────

export const ArtifactParamsSchema = z.strictObject({
  projectId: ProjectIdSchema,
  artifactId: ArtifactIdSchema,
});

export const ProvenanceSchema = z.discriminatedUnion('kind', [
  z.strictObject({
    kind: z.literal('execution'),
    executionId: z.string(),
    jobId: z.string(),
    node: z.string(),
    output: z.string(),
  }),
  z.strictObject({ kind: z.literal('upload') }),
  z.strictObject({ kind: z.literal('import'), source: z.string() }),
]);
export type Provenance = z.infer<typeof ProvenanceSchema>;

export const ArtifactSchema = z.strictObject({
  id: z.string(),
  name: z.string(),
  hash: z.string(),
  size: z.number(),
  serializer: z.string(),
  pyType: z.string().nullable(),
  createdAt: z.number(),
  provenance: ProvenanceSchema,
});
export type ArtifactDto = z.infer<typeof ArtifactSchema>;

/** GET /api/projects/:projectId/artifacts — newest first; `name` = exactly that name, `search` = substring. */
export const ListArtifactsQuerySchema = z.strictObject({
  name: ArtifactNameSchema.optional(),
  search: z.string().max(200).optional(),
  limit: limitQuery(1000, 100),
  offset: offsetQuery,
});
export const ListArtifactsResponseSchema = pageOf(ArtifactSchema);

/**
 * POST /api/projects/:projectId/artifacts?name=…&serializer=…&pyType=… — body: the raw bytes
 * (`application/octet-stream`), streamed to the blob store. 201 Artifact; 413 over `server.uploadLimit`
 * (nothing stored); 400 for a bad name.
 */
export const UploadArtifactQuerySchema = z.strictObject({
  name: ArtifactNameSchema,
  serializer: z.string().min(1).max(200).optional(),
  pyType: z.string().min(1).max(200).optional(),
  /** Where it is stored: the configured backend (else 400, nothing read or stored). */
  storage: StorageBackendSchema.optional(),
});

/**
 * POST /api/projects/:projectId/artifacts/import — data already on the server machine (`path`) or already in the
 * data store (`hash`), recorded as an artifact of the project. 201 Artifact. A `path` must lie inside a folder of
 * the `artifacts.importRoots` setting once symbolic links are resolved, else 403.
 */
export const ImportArtifactBodySchema = z
  .strictObject({
    name: ArtifactNameSchema,
    path: z.string().min(1).optional(),
    hash: ContentHashSchema.optional(),
    serializer: z.string().min(1).max(200).optional(),
    pyType: z.string().min(1).max(200).optional(),
    /** Where it is stored: the configured backend (else 400). */
    storage: StorageBackendSchema.optional(),
  })
  .refine((b) => (b.path === undefined) !== (b.hash === undefined), {
    message: 'give exactly one of `path` or `hash`',
    path: ['path'],
  });
export type ImportArtifactBody = z.infer<typeof ImportArtifactBodySchema>;

/**
 * GET …/artifacts/:artifactId — the artifact with its provenance. GET …/artifacts/:artifactId/content — the
 * bytes, streamed. DELETE …/artifacts/:artifactId — 204; the bytes go only when nothing else uses them.
 * GET …/artifacts/:artifactId/preview — what the data looks like, read by Python.
 */
export { ArtifactPreviewSchema, type ArtifactPreview } from './artifact-preview.js';
