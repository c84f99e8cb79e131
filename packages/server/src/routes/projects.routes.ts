import type { FastifyRequest } from 'fastify';
import { z } from 'zod';
import {
  ApiErrorSchema,
  CreateProjectBodySchema,
  ImportProjectQuerySchema,
  ListExamplesResponseSchema,
  ListProjectsResponseSchema,
  ProjectDiagnosticsResponseSchema,
  ProjectParamsSchema,
  ProjectSummarySchema,
  UpdateProjectBodySchema,
} from '@deepforge/protocol';
import { bodyStream, checkDeclaredLength } from '../http/body-stream.js';
import { callerOf, projectRoleOf } from '../auth/request-auth.js';
import { authorOf } from '../history/history.service.js';
import { checkProject } from '../projects/project-validation.js';
import type { ServerContext, ZodApp } from '../server.context.js';
import { artifactNamesOf } from './route-helpers.js';

const tags = ['projects'];
/** The Content-Type of a `git bundle` file. */
export const GIT_BUNDLE_TYPE = 'application/x-git-bundle';
const errors = { 400: ApiErrorSchema, 404: ApiErrorSchema, 409: ApiErrorSchema, 413: ApiErrorSchema };

/** With accounts on, whoever makes a project owns it. */
export async function makeOwner(
  ctx: ServerContext,
  request: FastifyRequest,
  projectId: string,
): Promise<void> {
  const user = callerOf(request.auth);
  if (!user) return;
  await ctx.engine.accounts.setMember(projectId, user, 'owner');
  await ctx.engine.accounts.audit({
    actorId: user.id,
    actorName: user.name,
    action: 'project-create',
    target: projectId,
    detail: null,
    ip: request.ip,
  });
}

export function registerProjectRoutes(app: ZodApp, ctx: ServerContext): void {
  app.get(
    '/api/projects',
    { schema: { tags, summary: 'List projects', response: { 200: ListProjectsResponseSchema } } },
    async (request) => {
      const items = await ctx.projects.list();
      if (request.auth.mode === 'off') return { items };
      // Only the projects the caller may read: others are not there for them.
      const roles = await Promise.all(
        items.map((p) => projectRoleOf(ctx.engine.accounts, request.auth, p.id)),
      );
      return {
        items: items.flatMap((p, i) => {
          const role = roles[i];
          return role === undefined ? [] : [{ ...p, role }];
        }),
      };
    },
  );

  app.get(
    '/api/examples',
    {
      schema: {
        tags,
        summary: 'Example projects to start from',
        response: { 200: ListExamplesResponseSchema },
      },
    },
    async () => ({ items: await ctx.projects.listExamples() }),
  );

  app.post(
    '/api/projects',
    {
      schema: {
        tags,
        summary: 'Create a project, empty or from an example',
        body: CreateProjectBodySchema,
        response: { 201: ProjectSummarySchema, ...errors },
      },
    },
    async (request, reply) => {
      const project = await ctx.projects.create(request.body, authorOf(request.auth));
      await makeOwner(ctx, request, project.id);
      return reply.code(201).send(project);
    },
  );

  app.post(
    '/api/projects/import',
    {
      schema: {
        tags,
        summary: 'Import a zipped project folder (body: application/zip)',
        querystring: ImportProjectQuerySchema,
        response: { 201: ProjectSummarySchema, ...errors },
      },
    },
    async (request, reply) => {
      checkDeclaredLength(request, ctx.uploadLimit);
      // Unpacked as it arrives: the limits hold for what is read and inflated, not for a whole body in memory.
      // A git bundle of a project folder brings its history (docs/adr/0020); anything else is a zip.
      if (request.headers['content-type']?.startsWith(GIT_BUNDLE_TYPE)) {
        const imported = await ctx.projects.importGitBundle(
          bodyStream(request),
          request.query.name,
          authorOf(request.auth),
        );
        await makeOwner(ctx, request, imported.id);
        return reply.code(201).send(imported);
      }
      const project = await ctx.projects.importZip(
        bodyStream(request),
        request.query.name,
        authorOf(request.auth),
      );
      await makeOwner(ctx, request, project.id);
      return reply.code(201).send(project);
    },
  );

  app.get(
    '/api/projects/:projectId',
    {
      schema: {
        tags,
        summary: 'One project',
        params: ProjectParamsSchema,
        response: { 200: ProjectSummarySchema, ...errors },
      },
    },
    async (request) => {
      const summary = await ctx.projects.summary(await ctx.projects.get(request.params.projectId));
      if (request.auth.mode === 'off') return summary;
      const role = await projectRoleOf(ctx.engine.accounts, request.auth, summary.id);
      return role === undefined ? summary : { ...summary, role };
    },
  );

  app.patch(
    '/api/projects/:projectId',
    {
      schema: {
        tags,
        summary: 'Rename or describe a project',
        params: ProjectParamsSchema,
        body: UpdateProjectBodySchema,
        response: { 200: ProjectSummarySchema, ...errors },
      },
    },
    async (request) => ctx.projects.update(request.params.projectId, request.body),
  );

  app.put(
    '/api/projects/:projectId/files',
    {
      config: { projectRole: 'writer' },
      schema: {
        tags,
        summary:
          "Replace the project's content with a zipped project folder (body: application/zip); a version records it",
        params: ProjectParamsSchema,
        response: { 200: ProjectSummarySchema, ...errors },
      },
    },
    async (request) => {
      checkDeclaredLength(request, ctx.uploadLimit);
      // Unpacked as it arrives, with the limits of an import.
      const summary = await ctx.projects.replaceFromZip(
        request.params.projectId,
        bodyStream(request),
        authorOf(request.auth),
      );
      if (request.auth.mode === 'off') return summary;
      const role = await projectRoleOf(ctx.engine.accounts, request.auth, summary.id);
      return role === undefined ? summary : { ...summary, role };
    },
  );

  app.delete(
    '/api/projects/:projectId',
    {
      config: { projectRole: 'owner' },
      schema: {
        tags,
        summary: 'Delete a project with its executions and artifacts',
        params: ProjectParamsSchema,
        response: { 204: z.null(), ...errors },
      },
    },
    async (request, reply) => {
      await ctx.projects.delete(request.params.projectId);
      await ctx.engine.accounts.forgetProject(request.params.projectId);
      return reply.code(204).send(null);
    },
  );

  app.get(
    '/api/projects/:projectId/export',
    {
      schema: {
        tags,
        summary: 'The project folder as a zip',
        params: ProjectParamsSchema,
        produces: ['application/zip'],
      },
    },
    async (request, reply) => {
      const { fileName, data } = await ctx.projects.exportZip(request.params.projectId);
      return reply
        .type('application/zip')
        .header('content-disposition', `attachment; filename="${fileName}"`)
        .send(Buffer.from(data));
    },
  );

  app.get(
    '/api/projects/:projectId/diagnostics',
    {
      schema: {
        tags,
        summary: 'Every problem in the project: operations and pipelines',
        params: ProjectParamsSchema,
        response: { 200: ProjectDiagnosticsResponseSchema, ...errors },
      },
    },
    async (request) => {
      const { projectId } = request.params;
      const project = await ctx.projects.project(projectId);
      const check = await checkProject(
        ctx.engine.operationReader,
        project,
        await artifactNamesOf(ctx, projectId, project),
      );
      const diagnostics = [
        ...Object.values(check.operationDiagnostics).flat(),
        ...Object.keys(project.pipelines)
          .sort()
          .flatMap((name) => check.pipeline(name)),
      ];
      // An operation's own problems are listed once, not again under every pipeline using it.
      const seen = new Set<string>();
      return {
        diagnostics: diagnostics.filter((d) => {
          const key = JSON.stringify(d);
          if (seen.has(key)) return false;
          seen.add(key);
          return true;
        }),
      };
    },
  );
}
