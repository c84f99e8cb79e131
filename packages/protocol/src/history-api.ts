import { z } from 'zod';
import { ProjectIdSchema } from './rest-api.js';

/**
 * Project history (docs/adr/0020, /work HISTORY-API contract): a project's versions are the commits of a git
 * repository of its project folder (docs/project-format.md), newest first. A version id is the full 40-hex commit
 * id; `current` in a diff means the live document.
 */

export const VersionIdSchema = z
  .string()
  .regex(/^[0-9a-f]{40}$/, 'must be a version id (40 hexadecimal digits)');
export const VERSION_KINDS = ['checkpoint', 'named', 'restore', 'push', 'fork', 'import', 'created'] as const;
export const VersionKindSchema = z.enum(VERSION_KINDS);
export type VersionKind = z.infer<typeof VersionKindSchema>;

export const VersionFileChangeSchema = z.strictObject({
  path: z.string(),
  change: z.enum(['added', 'modified', 'deleted', 'renamed']),
  /** The old path of a renamed file. */
  from: z.string().optional(),
});
export type VersionFileChange = z.infer<typeof VersionFileChangeSchema>;

export const VersionSummarySchema = z.strictObject({
  id: VersionIdSchema,
  parentIds: z.array(VersionIdSchema),
  kind: VersionKindSchema,
  /** The first line; checkpoints get a generated one ("3 files changed"). */
  message: z.string(),
  author: z.strictObject({ id: z.string().optional(), name: z.string() }),
  /** ISO 8601 UTC. */
  time: z.string(),
  files: z.array(VersionFileChangeSchema),
});
export type VersionSummary = z.infer<typeof VersionSummarySchema>;

export const VersionPageSchema = z.strictObject({
  versions: z.array(VersionSummarySchema),
  /** The cursor of the next (older) page; absent on the last page. */
  next: z.string().optional(),
});
export type VersionPage = z.infer<typeof VersionPageSchema>;

export const VersionDiffFileSchema = z.strictObject({
  path: z.string(),
  change: VersionFileChangeSchema.shape.change,
  from: z.string().optional(),
  /** UTF-8 text; null when absent (added/deleted) or binary/too large (then `binary: true`). */
  before: z.string().nullable(),
  after: z.string().nullable(),
  binary: z.boolean().optional(),
});
export type VersionDiffFile = z.infer<typeof VersionDiffFileSchema>;

export const VersionDiffSchema = z.strictObject({
  /** A version id or `current`. */
  from: z.string(),
  to: z.string(),
  files: z.array(VersionDiffFileSchema),
});
export type VersionDiff = z.infer<typeof VersionDiffSchema>;

export const DeletedItemSchema = z.strictObject({
  path: z.string(),
  kind: z.enum(['pipeline', 'operation', 'util', 'serializer', 'resource', 'other']),
  name: z.string(),
  /** The version that deleted it. */
  deletedIn: VersionIdSchema,
  /** The last version that had it (restore `path` from this one to bring it back). */
  lastVersion: VersionIdSchema,
});
export type DeletedItem = z.infer<typeof DeletedItemSchema>;
export const DeletedItemsResponseSchema = z.strictObject({ items: z.array(DeletedItemSchema) });
export type DeletedItemsResponse = z.infer<typeof DeletedItemsResponseSchema>;

/** A file path inside the project folder: relative, `/`-separated, no `..`, no control characters. */
export const ProjectFilePathSchema = z
  .string()
  .min(1)
  .max(1000)
  .refine(
    (p) =>
      // eslint-disable-next-line no-control-regex
      !/[\u0000-\u001f\\]/.test(p) &&
      !p.startsWith('/') &&
      p.split('/').every((s) => s !== '' && s !== '.' && s !== '..'),
    'must be a relative path inside the project folder (no `..`, no leading `/`)',
  );

export const VersionParamsSchema = z.strictObject({
  projectId: ProjectIdSchema,
  versionId: z.string().max(200),
});

/** GET /api/projects/:projectId/versions */
export const ListVersionsQuerySchema = z.strictObject({
  limit: z.coerce.number().int().min(1).max(500).default(50),
  cursor: z.string().max(200).optional(),
  q: z.string().max(200).optional(),
  path: ProjectFilePathSchema.optional(),
});
export type ListVersionsQuery = z.input<typeof ListVersionsQuerySchema>;

/** POST /api/projects/:projectId/versions: a named version of the live state (201 VersionSummary). */
export const CreateVersionBodySchema = z.strictObject({
  message: z.string().trim().min(1, 'must not be empty').max(10_000),
});
export type CreateVersionBody = z.infer<typeof CreateVersionBodySchema>;

/** GET /api/projects/:projectId/versions/:versionId/tree */
export const VersionTreeResponseSchema = z.strictObject({
  files: z.array(z.strictObject({ path: z.string(), size: z.number().int() })),
});
export type VersionTreeResponse = z.infer<typeof VersionTreeResponseSchema>;

/** GET /api/projects/:projectId/versions/:versionId/file?path= (text/plain). */
export const VersionFileQuerySchema = z.strictObject({ path: ProjectFilePathSchema });

/** GET /api/projects/:projectId/diff?from=&to= (`from` defaults to the parent of `to`; `to` defaults to current). */
export const VersionDiffQuerySchema = z.strictObject({
  from: z.string().max(200).optional(),
  to: z.string().max(200).default('current'),
});

/** POST /api/projects/:projectId/versions/:versionId/restore: 201 VersionSummary (the new `restore` version). */
export const RestoreVersionBodySchema = z.strictObject({
  paths: z.array(ProjectFilePathSchema).min(1).max(10_000).optional(),
});
export type RestoreVersionBody = z.infer<typeof RestoreVersionBodySchema>;

/** POST /api/projects/:projectId/fork: 201 ProjectSummary (with `forkedFrom`). */
export const ForkProjectBodySchema = z.strictObject({
  name: z.string().trim().min(1, 'must not be empty').max(200),
  version: VersionIdSchema.optional(),
});
export type ForkProjectBody = z.infer<typeof ForkProjectBodySchema>;
