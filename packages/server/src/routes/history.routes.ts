import {
  ApiErrorSchema,
  CreateVersionBodySchema,
  DeletedItemsResponseSchema,
  ForkProjectBodySchema,
  ListVersionsQuerySchema,
  ProjectParamsSchema,
  ProjectSummarySchema,
  RestoreVersionBodySchema,
  VersionDiffQuerySchema,
  VersionDiffSchema,
  VersionFileQuerySchema,
  VersionPageSchema,
  VersionParamsSchema,
  VersionSummarySchema,
  VersionTreeResponseSchema,
} from '@deepforge/protocol';
import { authorOf } from '../history/history.service.js';
import type { ServerContext, ZodApp } from '../server.context.js';
import { makeOwner } from './projects.routes.js';

const tags = ['history'];
const errors = { 400: ApiErrorSchema, 404: ApiErrorSchema, 409: ApiErrorSchema };

/**
 * Project history (docs/adr/0020): versions, their files and diffs, restore, deleted items and forks. Viewers
 * (readers) read; writing needs a writer (the auth hook's default for POST), except a fork, which only reads
 * this project and makes the caller the owner of the new one.
 */
export function registerHistoryRoutes(app: ZodApp, ctx: ServerContext): void {
  const history = ctx.history;

  /** 404 before anything else for a project that does not exist. */
  const exists = async (projectId: string): Promise<void> => {
    await ctx.projects.get(projectId);
  };

  app.get(
    '/api/projects/:projectId/versions',
    {
      schema: {
        tags,
        summary: 'Versions, newest first (paged: `next` is the cursor of the next page)',
        params: ProjectParamsSchema,
        querystring: ListVersionsQuerySchema,
        response: { 200: VersionPageSchema, ...errors },
      },
    },
    async (request) => {
      await exists(request.params.projectId);
      const { limit, cursor, q, path } = request.query;
      return history.list(request.params.projectId, {
        limit,
        ...(cursor !== undefined ? { cursor } : {}),
        ...(q !== undefined ? { q } : {}),
        ...(path !== undefined ? { path } : {}),
      });
    },
  );

  app.post(
    '/api/projects/:projectId/versions',
    {
      schema: {
        tags,
        summary: 'Make a named version of the current state',
        params: ProjectParamsSchema,
        body: CreateVersionBodySchema,
        response: { 201: VersionSummarySchema, ...errors },
      },
    },
    async (request, reply) => {
      await exists(request.params.projectId);
      const v = await history.named(request.params.projectId, request.body.message, authorOf(request.auth));
      return reply.code(201).send(v);
    },
  );

  app.get(
    '/api/projects/:projectId/versions/:versionId',
    {
      schema: {
        tags,
        summary: 'One version',
        params: VersionParamsSchema,
        response: { 200: VersionSummarySchema, ...errors },
      },
    },
    async (request) => {
      await exists(request.params.projectId);
      return history.get(request.params.projectId, request.params.versionId);
    },
  );

  app.get(
    '/api/projects/:projectId/versions/:versionId/tree',
    {
      schema: {
        tags,
        summary: 'The files of the project as it was at a version',
        params: VersionParamsSchema,
        response: { 200: VersionTreeResponseSchema, ...errors },
      },
    },
    async (request) => {
      await exists(request.params.projectId);
      return history.tree(request.params.projectId, request.params.versionId);
    },
  );

  app.get(
    '/api/projects/:projectId/versions/:versionId/file',
    {
      schema: {
        tags,
        summary: 'One file as it was at a version (text/plain)',
        params: VersionParamsSchema,
        querystring: VersionFileQuerySchema,
        produces: ['text/plain'],
      },
    },
    async (request, reply) => {
      await exists(request.params.projectId);
      const data = await history.file(request.params.projectId, request.params.versionId, request.query.path);
      return reply.type('text/plain; charset=utf-8').send(data);
    },
  );

  app.get(
    '/api/projects/:projectId/diff',
    {
      schema: {
        tags,
        summary: 'What changed between two versions (or `current`); `from` defaults to the parent of `to`',
        params: ProjectParamsSchema,
        querystring: VersionDiffQuerySchema,
        response: { 200: VersionDiffSchema, ...errors },
      },
    },
    async (request) => {
      await exists(request.params.projectId);
      return history.diff(request.params.projectId, request.query.from, request.query.to);
    },
  );

  app.post(
    '/api/projects/:projectId/versions/:versionId/restore',
    {
      schema: {
        tags,
        summary: 'Restore a version (whole, or some of its files) as a new version on top',
        params: VersionParamsSchema,
        body: RestoreVersionBodySchema,
        response: { 201: VersionSummarySchema, ...errors },
      },
    },
    async (request, reply) => {
      await exists(request.params.projectId);
      const v = await history.restore(
        request.params.projectId,
        request.params.versionId,
        request.body.paths,
        authorOf(request.auth),
      );
      return reply.code(201).send(v);
    },
  );

  app.get(
    '/api/projects/:projectId/deleted',
    {
      schema: {
        tags,
        summary:
          'Files an earlier version had and the project lacks now, with the version to restore each from',
        params: ProjectParamsSchema,
        response: { 200: DeletedItemsResponseSchema, ...errors },
      },
    },
    async (request) => {
      await exists(request.params.projectId);
      return { items: await history.deleted(request.params.projectId) };
    },
  );

  app.post(
    '/api/projects/:projectId/fork',
    {
      config: { projectRole: 'reader' },
      schema: {
        tags,
        summary:
          'A new project from a version of this one (or its current state), remembering where it came from',
        params: ProjectParamsSchema,
        body: ForkProjectBodySchema,
        response: { 201: ProjectSummarySchema, ...errors },
      },
    },
    async (request, reply) => {
      const summary = await ctx.projects.fork(request.params.projectId, request.body, authorOf(request.auth));
      await makeOwner(ctx, request, summary.id);
      return reply.code(201).send(summary);
    },
  );
}
