import type { Architecture, LayerCatalog } from '@deepforge/core';
import type {
  AccessTokenDto,
  ArchitectureCheckResponseSchema,
  ArtifactDto,
  AuditResponse,
  AuthStatus,
  ComputeStateDto,
  CreatedWorkerToken,
  ArtifactPreview,
  CreateProjectBody,
  AddExtensionOperationBody,
  AddExtensionOperationResponse,
  Example,
  ExecutionComparisonDto,
  ExecutionDetailsDto,
  ExecutionPlotDto,
  ExtensionSummary,
  ExecutionSummaryDto,
  HealthResponse,
  ImportArtifactBody,
  JobLogResponse,
  ListMembersResponse,
  ListSecretsResponseSchema,
  ListMetricsResponseSchema,
  ListPlotsResponseSchema,
  ListProgressResponseSchema,
  LoginBody,
  MetricSeriesInfoDto,
  MetricViewResponse,
  CreateAccessTokenBody,
  CreatedAccessToken,
  PlatformsResponse,
  ProjectRoleDto,
  ProjectSummary,
  StartExecutionBody,
  StorageBackendId,
  UpdateProjectBody,
  UserDto,
  WorkerTokenDto,
} from '@deepforge/protocol';
import type { z } from 'zod';
import type { ExecutionListParams } from '../lib/query-params.js';
import { executionListQuery, queryString } from '../lib/query-params.js';
import { api } from './http.js';

export type PlotDto = z.infer<typeof ListPlotsResponseSchema>['items'][number];
export type MetricDto = z.infer<typeof ListMetricsResponseSchema>['items'][number];
export type ProgressDto = z.infer<typeof ListProgressResponseSchema>['items'][number];
export type SecretDto = z.infer<typeof ListSecretsResponseSchema>['items'][number];

const enc = encodeURIComponent;
const project = (id: string): string => `/api/projects/${enc(id)}`;
const execution = (p: string, e: string): string => `${project(p)}/executions/${enc(e)}`;
const job = (p: string, e: string, node: string): string => `${execution(p, e)}/jobs/${enc(node)}`;

// ── server ────────────────────────────────────────────────────────────────────────────────────────────────
export const getHealth = (): Promise<HealthResponse> => api('/api/health');
export const getPlatforms = (): Promise<PlatformsResponse> => api('/api/platforms');
/** The Compute view: workers, their load and jobs, jobs waiting for one. */
export const getCompute = (): Promise<ComputeStateDto> => api('/api/compute');
/** Worker tokens (admins): what `deepforge worker` connects with. */
export const listWorkerTokens = (): Promise<{ items: WorkerTokenDto[] }> => api('/api/workers/tokens');
export const createWorkerToken = (name: string): Promise<CreatedWorkerToken> =>
  api('/api/workers/tokens', { method: 'POST', body: { name } });
export const revokeWorkerToken = (id: string): Promise<WorkerTokenDto> =>
  api(`/api/workers/tokens/${enc(id)}`, { method: 'DELETE' });

// ── projects ──────────────────────────────────────────────────────────────────────────────────────────────
export const listProjects = (): Promise<{ items: ProjectSummary[] }> => api('/api/projects');
export const listExamples = (): Promise<{ items: Example[] }> => api('/api/examples');
export const getProject = (id: string): Promise<ProjectSummary> => api(project(id));
export const createProject = (body: CreateProjectBody): Promise<ProjectSummary> =>
  api('/api/projects', { method: 'POST', body });
export const updateProject = (id: string, body: UpdateProjectBody): Promise<ProjectSummary> =>
  api(project(id), { method: 'PATCH', body });
export const deleteProject = (id: string): Promise<void> => api(project(id), { method: 'DELETE' });
/** A project's .zip, or a git bundle of a project folder (its history comes with it: docs/adr/0020). */
export const importProject = (file: File, name?: string): Promise<ProjectSummary> => {
  const type = importContentType(file.name);
  return api(`/api/projects/import${queryString({ name })}`, {
    method: 'POST',
    body: file.type === type ? file : new Blob([file], { type }),
  });
};

/** How an imported file is sent: a `.bundle` as a git bundle, anything else as a zip (the server says if not). */
export function importContentType(fileName: string): 'application/zip' | 'application/x-git-bundle' {
  return /\.bundle$/i.test(fileName) ? 'application/x-git-bundle' : 'application/zip';
}
export const projectExportUrl = (id: string): string => `${project(id)}/export`;

// ── extensions ────────────────────────────────────────────────────────────────────────────────────────────
/** Installed extensions (`deepforge extensions add`): their operations, architectures and examples. */
export const listExtensions = (): Promise<{ items: ExtensionSummary[] }> => api('/api/extensions');
/** Copies an extension's operation (and the utils, serializers, architectures it needs) into the project. */
export const addExtensionOperation = (
  projectId: string,
  body: AddExtensionOperationBody,
): Promise<AddExtensionOperationResponse> =>
  api(`${project(projectId)}/extension-operations`, { method: 'POST', body });

// ── executions ────────────────────────────────────────────────────────────────────────────────────────────
export const listExecutions = (
  projectId: string,
  params: ExecutionListParams,
  signal?: AbortSignal,
): Promise<{ items: ExecutionSummaryDto[]; total: number }> =>
  api(`${project(projectId)}/executions${executionListQuery(params)}`, signal ? { signal } : {});
export const getExecution = (projectId: string, id: string): Promise<ExecutionDetailsDto> =>
  api(execution(projectId, id));
export const startExecution = (projectId: string, body: StartExecutionBody): Promise<ExecutionDetailsDto> =>
  api(`${project(projectId)}/executions`, { method: 'POST', body });
export const cancelExecution = (projectId: string, id: string): Promise<ExecutionDetailsDto> =>
  api(`${execution(projectId, id)}/cancel`, { method: 'POST', body: {} });
export const rerunExecution = (
  projectId: string,
  id: string,
  body: { name?: string; cache?: boolean } = {},
): Promise<ExecutionDetailsDto> => api(`${execution(projectId, id)}/rerun`, { method: 'POST', body });
export const resumeExecution = (projectId: string, id: string): Promise<ExecutionDetailsDto> =>
  api(`${execution(projectId, id)}/resume`, { method: 'POST', body: {} });
/** A new execution of a failed one with the project's current code; unchanged upstream jobs are cached. */
export const resumeExecutionWithCurrentCode = (
  projectId: string,
  id: string,
  body: { name?: string } = {},
): Promise<ExecutionDetailsDto> =>
  api(`${execution(projectId, id)}/resume-current`, { method: 'POST', body });
export const executionDownloadUrl = (projectId: string, id: string): string =>
  `${execution(projectId, id)}/download`;

export const getJobLog = (
  projectId: string,
  executionId: string,
  node: string,
  offset: number,
  limit: number,
  signal?: AbortSignal,
): Promise<JobLogResponse> =>
  api(`${job(projectId, executionId, node)}/log${queryString({ offset, limit })}`, signal ? { signal } : {});
export const listPlots = (
  projectId: string,
  executionId: string,
  node: string,
): Promise<{ items: PlotDto[] }> => api(`${job(projectId, executionId, node)}/plots`);
/** Every job's figures of one execution (its All plots, and comparing). */
export const listExecutionPlots = (projectId: string, id: string): Promise<{ items: ExecutionPlotDto[] }> =>
  api(`${execution(projectId, id)}/plots`);
/** What comparing 2 to 8 executions needs (outcomes, attributes, the code that differs). */
export const getComparison = (projectId: string, ids: readonly string[]): Promise<ExecutionComparisonDto> =>
  api(`${project(projectId)}/executions/compare${queryString({ ids: ids.join(',') })}`);
export const listMetrics = (
  projectId: string,
  executionId: string,
  node: string,
): Promise<{ items: MetricDto[] }> => api(`${job(projectId, executionId, node)}/metrics`);
export const listMetricSeries = (
  projectId: string,
  executionId: string,
  node: string,
  signal?: AbortSignal,
): Promise<{ items: MetricSeriesInfoDto[] }> =>
  api(`${job(projectId, executionId, node)}/metrics/series`, signal ? { signal } : {});
/** One series drawn for a chart `width` pixels wide (ADR 0014). */
export const getMetricView = (
  projectId: string,
  executionId: string,
  node: string,
  query: { name: string; from?: number | undefined; to?: number | undefined; width: number },
  signal?: AbortSignal,
): Promise<MetricViewResponse> =>
  api(`${job(projectId, executionId, node)}/metrics/view${queryString(query)}`, signal ? { signal } : {});
/** Every point of a series, as a file: CSV or JSON lines. */
export const metricDownloadUrl = (
  projectId: string,
  executionId: string,
  node: string,
  name: string,
  format: 'csv' | 'jsonl',
): string => `${job(projectId, executionId, node)}/metrics/download${queryString({ format, name })}`;
export const listProgress = (
  projectId: string,
  executionId: string,
  node: string,
): Promise<{ items: ProgressDto[] }> => api(`${job(projectId, executionId, node)}/progress`);

// ── artifacts ─────────────────────────────────────────────────────────────────────────────────────────────
export interface ArtifactListParams {
  search?: string;
  name?: string;
  limit?: number;
  offset?: number;
}
export const listArtifacts = (
  projectId: string,
  params: ArtifactListParams = {},
): Promise<{ items: ArtifactDto[]; total: number }> =>
  api(`${project(projectId)}/artifacts${queryString({ ...params })}`);
export const getArtifact = (projectId: string, id: string): Promise<ArtifactDto> =>
  api(`${project(projectId)}/artifacts/${enc(id)}`);
export const deleteArtifact = (projectId: string, id: string): Promise<void> =>
  api(`${project(projectId)}/artifacts/${enc(id)}`, { method: 'DELETE' });
export const importArtifact = (projectId: string, body: ImportArtifactBody): Promise<ArtifactDto> =>
  api(`${project(projectId)}/artifacts/import`, { method: 'POST', body });
export const artifactPreview = (projectId: string, id: string): Promise<ArtifactPreview> =>
  api(`${project(projectId)}/artifacts/${enc(id)}/preview`);
export const artifactContentUrl = (projectId: string, id: string): string =>
  `${project(projectId)}/artifacts/${enc(id)}/content`;
export const artifactUploadUrl = (
  projectId: string,
  q: {
    name: string;
    serializer?: string | undefined;
    pyType?: string | undefined;
    storage?: StorageBackendId | undefined;
  },
): string => `${project(projectId)}/artifacts${queryString(q)}`;

// ── accounts (ADR 0009) ───────────────────────────────────────────────────────────────────────────────────
export const getAuthStatus = (): Promise<AuthStatus> => api('/api/auth/status');
export const signIn = (body: LoginBody): Promise<UserDto> =>
  api('/api/auth/login', { method: 'POST', body, signIn: true });
export const signOut = (): Promise<void> => api('/api/auth/logout', { method: 'POST', body: {} });
/** Every session of the user ends with it: sign in again afterwards. */
export const changePassword = (current: string, password: string): Promise<void> =>
  api('/api/auth/password', { method: 'POST', body: { current, password } });
export const listAccessTokens = (): Promise<{ items: AccessTokenDto[] }> => api('/api/auth/tokens');
export const createAccessToken = (body: CreateAccessTokenBody): Promise<CreatedAccessToken> =>
  api('/api/auth/tokens', { method: 'POST', body });
export const revokeAccessToken = (id: string): Promise<void> =>
  api(`/api/auth/tokens/${enc(id)}`, { method: 'DELETE' });
export const listUsers = (): Promise<{ items: UserDto[] }> => api('/api/users');
export const listMembers = (projectId: string): Promise<ListMembersResponse> =>
  api(`${project(projectId)}/members`);
export const putMember = (projectId: string, user: string, role: ProjectRoleDto): Promise<void> =>
  api(`${project(projectId)}/members/${enc(user)}`, { method: 'PUT', body: { role } });
export const removeMember = (projectId: string, user: string): Promise<void> =>
  api(`${project(projectId)}/members/${enc(user)}`, { method: 'DELETE' });
export const listSecrets = (projectId: string): Promise<{ items: SecretDto[] }> =>
  api(`${project(projectId)}/secrets`);
export const putSecret = (projectId: string, name: string, value: string): Promise<void> =>
  api(`${project(projectId)}/secrets/${enc(name)}`, { method: 'PUT', body: { value } });
export const deleteSecret = (projectId: string, name: string): Promise<void> =>
  api(`${project(projectId)}/secrets/${enc(name)}`, { method: 'DELETE' });
export interface AuditParams {
  limit: number;
  offset: number;
  action?: string | undefined;
  actor?: string | undefined;
}
export const getAudit = (params: AuditParams): Promise<AuditResponse> =>
  api(`/api/admin/audit${queryString({ ...params })}`);

// ── architectures (resources/) ───────────────────────────────────────────────────────────────────────────────
export type ArchitectureCheck = z.infer<typeof ArchitectureCheckResponseSchema>;
/** torch.nn's layers and the project's custom ones (utils/), read by PyTorch on the server. */
export const getLayerCatalog = (projectId: string): Promise<LayerCatalog> =>
  api(`${project(projectId)}/layers`);
/** Shapes and parameters by PyTorch for `architecture` as the editor has it (the server's copy may lag). */
export const checkArchitecture = (
  projectId: string,
  architecture: Architecture,
  signal?: AbortSignal,
): Promise<ArchitectureCheck> =>
  api(`${project(projectId)}/resources/${enc(architecture.name)}/check`, {
    method: 'POST',
    body: { architecture },
    ...(signal ? { signal } : {}),
  });

/** Query keys, in one place so invalidations match what the views fetch. */
export const qk = {
  health: ['health'] as const,
  platforms: ['platforms'] as const,
  projects: ['projects'] as const,
  examples: ['examples'] as const,
  extensions: ['extensions'] as const,
  project: (id: string) => ['project', id] as const,
  executions: (projectId: string) => ['executions', projectId] as const,
  execution: (projectId: string, id: string) => ['execution', projectId, id] as const,
  /** Under the execution's key: what invalidates the execution reads its plots again. */
  executionPlots: (projectId: string, id: string) => ['execution', projectId, id, 'plots'] as const,
  comparison: (projectId: string, ids: readonly string[]) => ['comparison', projectId, ...ids] as const,
  jobData: (projectId: string, id: string) => ['job-data', projectId, id] as const,
  artifacts: (projectId: string) => ['artifacts', projectId] as const,
  artifact: (projectId: string, id: string) => ['artifact', projectId, id] as const,
  accessTokens: ['access-tokens'] as const,
  users: ['users'] as const,
  members: (projectId: string) => ['members', projectId] as const,
  secrets: (projectId: string) => ['secrets', projectId] as const,
  audit: (params: AuditParams) => ['audit', params] as const,
  compute: ['compute'] as const,
  workerTokens: ['worker-tokens'] as const,
  layers: (projectId: string) => ['layers', projectId] as const,
};
