import { z } from 'zod';
import type { ArtifactRef } from '@deepforge/core';
import {
  ApiErrorSchema,
  ArtifactRefParamsSchema,
  ListArtifactRefsResponseSchema,
  ListModulesResponseSchema,
  MODULE_KINDS,
  ModuleNameSchema,
  ModuleParamsSchema,
  ModuleResponseSchema,
  ProjectParamsSchema,
  PutArtifactRefBodySchema,
  PutModuleBodySchema,
  deleteArtifactRef,
  deleteModule,
  putArtifactRef,
  putModule,
  sections,
} from '@deepforge/protocol';
import { ArtifactRefSchema } from '@deepforge/core';
import { badRequest, notFound } from '../http/http-error.js';
import type { ServerContext, ZodApp } from '../server.context.js';

const errors = { 400: ApiErrorSchema, 404: ApiErrorSchema, 409: ApiErrorSchema };

/** Custom utils (`utils/<name>.py`) and serializers (`serializers/<name>.py`): the same routes for both. */
export function registerModuleRoutes(app: ZodApp, ctx: ServerContext): void {
  const docs = ctx.documents;
  for (const kind of MODULE_KINDS) {
    const tags = [kind];
    const what = kind === 'utils' ? 'util module' : 'serializer';

    app.get(
      `/api/projects/:projectId/${kind}`,
      {
        schema: {
          tags,
          summary: `List ${kind}`,
          params: ProjectParamsSchema,
          response: { 200: ListModulesResponseSchema, ...errors },
        },
      },
      async (request) => {
        await ctx.projects.get(request.params.projectId);
        return docs.read(request.params.projectId, (doc) => ({
          items: [...sections[kind](doc).entries()]
            .map(([name, text]) => ({ name, size: text.length }))
            .sort((a, b) => (a.name < b.name ? -1 : 1)),
        }));
      },
    );

    app.get(
      `/api/projects/:projectId/${kind}/:name`,
      {
        schema: {
          tags,
          summary: `One ${what}`,
          params: ModuleParamsSchema,
          response: { 200: ModuleResponseSchema, ...errors },
        },
      },
      async (request) => {
        const { projectId, name } = request.params;
        await ctx.projects.get(projectId);
        return docs.read(projectId, (doc) => {
          const text = sections[kind](doc).get(name);
          if (!text) throw notFound(`project has no ${what} "${name}"`);
          return { name, code: text.toString() };
        });
      },
    );

    app.put(
      `/api/projects/:projectId/${kind}/:name`,
      {
        schema: {
          tags,
          summary: `Create or replace a ${what}`,
          params: ModuleParamsSchema,
          body: PutModuleBodySchema,
          response: { 200: ModuleResponseSchema, 201: ModuleResponseSchema, ...errors },
        },
      },
      async (request, reply) => {
        const { projectId, name } = request.params;
        await ctx.projects.get(projectId);
        const created = await docs.edit(projectId, (doc) => {
          const existed = sections[kind](doc).has(name);
          if (!existed) {
            const valid = ModuleNameSchema.safeParse(name);
            if (!valid.success) throw badRequest('params.name', valid.error.issues[0]!.message);
          }
          putModule(doc, kind, name, request.body.code);
          return !existed;
        });
        await ctx.projects.touch(projectId);
        return reply.code(created ? 201 : 200).send({ name, code: request.body.code });
      },
    );

    app.delete(
      `/api/projects/:projectId/${kind}/:name`,
      {
        schema: {
          tags,
          summary: `Delete a ${what}`,
          params: ModuleParamsSchema,
          response: { 204: z.null(), ...errors },
        },
      },
      async (request, reply) => {
        const { projectId, name } = request.params;
        await ctx.projects.get(projectId);
        await docs.edit(projectId, (doc) => {
          if (!sections[kind](doc).has(name)) throw notFound(`project has no ${what} "${name}"`);
          deleteModule(doc, kind, name);
        });
        await ctx.projects.touch(projectId);
        return reply.code(204).send(null);
      },
    );
  }

  const tags = ['artifact references'];
  app.get(
    '/api/projects/:projectId/artifact-refs',
    {
      schema: {
        tags,
        summary: "The project's artifact references (artifacts/<name>.json)",
        params: ProjectParamsSchema,
        response: { 200: ListArtifactRefsResponseSchema, ...errors },
      },
    },
    async (request) => {
      await ctx.projects.get(request.params.projectId);
      return docs.read(request.params.projectId, (doc) => ({
        items: [...sections.artifacts(doc).values()]
          .map((r) => ({ ...r }))
          .sort((a, b) => (a.name < b.name ? -1 : 1)),
      }));
    },
  );

  app.put(
    '/api/projects/:projectId/artifact-refs/:name',
    {
      schema: {
        tags,
        summary: 'Create or replace an artifact reference',
        params: ArtifactRefParamsSchema,
        body: PutArtifactRefBodySchema,
        response: { 200: ArtifactRefSchema, 201: ArtifactRefSchema, ...errors },
      },
    },
    async (request, reply) => {
      const { projectId, name } = request.params;
      await ctx.projects.get(projectId);
      const ref: ArtifactRef = ArtifactRefSchema.parse({ name, ...request.body });
      const created = await docs.edit(projectId, (doc) => {
        const existed = sections.artifacts(doc).has(name);
        putArtifactRef(doc, ref);
        return !existed;
      });
      await ctx.projects.touch(projectId);
      return reply.code(created ? 201 : 200).send(ref);
    },
  );

  app.delete(
    '/api/projects/:projectId/artifact-refs/:name',
    {
      schema: {
        tags,
        summary: 'Delete an artifact reference (not the stored data)',
        params: ArtifactRefParamsSchema,
        response: { 204: z.null(), ...errors },
      },
    },
    async (request, reply) => {
      const { projectId, name } = request.params;
      await ctx.projects.get(projectId);
      await docs.edit(projectId, (doc) => {
        if (!sections.artifacts(doc).has(name)) throw notFound(`project has no artifact reference "${name}"`);
        deleteArtifactRef(doc, name);
      });
      await ctx.projects.touch(projectId);
      return reply.code(204).send(null);
    },
  );
}
