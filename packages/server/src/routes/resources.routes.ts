import { join } from 'node:path';
import { z } from 'zod';
import {
  ArchitectureCodeError,
  ArchitectureSchema,
  generateArchitectureCode,
  isPythonIdentifier,
  validateArchitecture,
  type Architecture,
  type Project,
} from '@deepforge/core';
import { ArchitecturePythonError, ArchitectureService } from '@deepforge/engine';
import {
  ApiErrorSchema,
  ArchitectureCheckResponseSchema,
  CheckArchitectureBodySchema,
  LayerCatalogResponseSchema,
  ListResourcesResponseSchema,
  ProjectParamsSchema,
  RenameResourceBodySchema,
  ResourceParamsSchema,
  ResourceResponseSchema,
  deleteResource,
  projectFromDoc,
  putResource,
  renameResource,
  sections,
  type ResourceResponse,
} from '@deepforge/protocol';
import { badRequest, conflict, notFound } from '../http/http-error.js';
import type { ServerContext, ZodApp } from '../server.context.js';

const tags = ['resources'];
const errors = { 400: ApiErrorSchema, 404: ApiErrorSchema, 409: ApiErrorSchema };

function responseOf(arch: Architecture, resources: Record<string, Architecture>): ResourceResponse {
  let code: string | null;
  try {
    code = generateArchitectureCode(arch);
  } catch (err) {
    if (!(err instanceof ArchitectureCodeError)) throw err;
    code = null;
  }
  return { architecture: arch, code, diagnostics: validateArchitecture(arch, { resources }) };
}

/**
 * Architectures (resources/<Name>.json): kept in the project document like pipelines (every open tab sees an
 * edit at once), with their generated code and the problems found without PyTorch; the layer catalog and
 * checks by PyTorch (shapes, parameters) run the Python side through the engine's ArchitectureService.
 */
export function registerResourceRoutes(app: ZodApp, ctx: ServerContext): void {
  const docs = ctx.documents;
  let service: Promise<ArchitectureService> | undefined;
  const architectures = (): Promise<ArchitectureService> => {
    service ??= ctx.engine.python().then(
      (python) =>
        // One Python kept for the editor's requests: torch is imported once, not after every edit.
        new ArchitectureService({
          python: python.command,
          cacheDir: join(ctx.engine.dataDir, 'layer-catalog'),
          persistent: true,
        }),
    );
    // A failure (no usable interpreter) is not remembered: the next request tries again.
    service.catch(() => (service = undefined));
    return service;
  };
  app.addHook('onClose', async () => {
    (await service?.catch(() => undefined))?.close();
  });
  const projectOf = (projectId: string): Promise<Project> => docs.read(projectId, projectFromDoc);
  const pythonFailed = (err: unknown): never => {
    if (err instanceof ArchitecturePythonError) throw conflict(`PyTorch could not answer: ${err.message}`);
    throw err;
  };

  app.get(
    '/api/projects/:projectId/resources',
    {
      schema: {
        tags,
        summary: 'List architectures with the problems found without PyTorch',
        params: ProjectParamsSchema,
        response: { 200: ListResourcesResponseSchema, ...errors },
      },
    },
    async (request) => {
      await ctx.projects.get(request.params.projectId);
      const resources = (await projectOf(request.params.projectId)).resources ?? {};
      return {
        items: Object.keys(resources)
          .sort()
          .map((name) => ({
            name,
            layers: resources[name]!.layers.length,
            diagnostics: validateArchitecture(resources[name]!, { resources }),
          })),
      };
    },
  );

  app.get(
    '/api/projects/:projectId/resources/:name',
    {
      schema: {
        tags,
        summary: 'One architecture: the graph, its generated PyTorch code and its problems',
        params: ResourceParamsSchema,
        response: { 200: ResourceResponseSchema, ...errors },
      },
    },
    async (request) => {
      const { projectId, name } = request.params;
      await ctx.projects.get(projectId);
      const resources = (await projectOf(projectId)).resources ?? {};
      const arch = Object.hasOwn(resources, name) ? resources[name] : undefined;
      if (!arch) throw notFound(`project has no architecture "${name}"`);
      return responseOf(arch, resources);
    },
  );

  app.put(
    '/api/projects/:projectId/resources/:name',
    {
      schema: {
        tags,
        summary: 'Create or replace an architecture (the whole graph)',
        params: ResourceParamsSchema,
        body: ArchitectureSchema,
        response: { 200: ResourceResponseSchema, 201: ResourceResponseSchema, ...errors },
      },
    },
    async (request, reply) => {
      const { projectId, name } = request.params;
      await ctx.projects.get(projectId);
      if (!isPythonIdentifier(name))
        throw badRequest('params.name', 'an architecture name must be a Python name');
      if (request.body.name !== name) {
        throw badRequest('body.name', `name "${request.body.name}" must be the architecture's ("${name}")`);
      }
      const created = await docs.edit(projectId, (doc) => {
        const existed = sections.resources(doc).has(name);
        putResource(doc, request.body);
        return !existed;
      });
      await ctx.projects.touch(projectId);
      const resources = (await projectOf(projectId)).resources ?? {};
      return reply.code(created ? 201 : 200).send(responseOf(request.body, resources));
    },
  );

  app.delete(
    '/api/projects/:projectId/resources/:name',
    {
      schema: {
        tags,
        summary: 'Delete an architecture',
        params: ResourceParamsSchema,
        response: { 204: z.null(), ...errors },
      },
    },
    async (request, reply) => {
      const { projectId, name } = request.params;
      await ctx.projects.get(projectId);
      await docs.edit(projectId, (doc) => {
        if (!sections.resources(doc).has(name)) throw notFound(`project has no architecture "${name}"`);
        deleteResource(doc, name);
      });
      await ctx.projects.touch(projectId);
      return reply.code(204).send(null);
    },
  );

  app.post(
    '/api/projects/:projectId/resources/:name/rename',
    {
      schema: {
        tags,
        summary: 'Rename an architecture; pipeline references and architectures using it follow',
        params: ResourceParamsSchema,
        body: RenameResourceBodySchema,
        response: { 200: ResourceResponseSchema, ...errors },
      },
    },
    async (request) => {
      const { projectId, name } = request.params;
      const { to } = request.body;
      await ctx.projects.get(projectId);
      if (!isPythonIdentifier(to)) throw badRequest('body.to', 'an architecture name must be a Python name');
      await docs.edit(projectId, (doc) => {
        if (!sections.resources(doc).has(name)) throw notFound(`project has no architecture "${name}"`);
        if (sections.resources(doc).has(to)) throw conflict(`an architecture "${to}" exists already`);
        renameResource(doc, name, to);
      });
      await ctx.projects.touch(projectId);
      const resources = (await projectOf(projectId)).resources ?? {};
      return responseOf(resources[to]!, resources);
    },
  );

  app.get(
    '/api/projects/:projectId/layers',
    {
      // A GET, but it imports the project's utils/ to find custom layers: running code, writers only.
      config: { projectRole: 'writer' },
      schema: {
        tags,
        summary:
          "The layer catalog: torch.nn's layers and the project's custom ones (utils/), read by PyTorch",
        params: ProjectParamsSchema,
        response: { 200: LayerCatalogResponseSchema, ...errors },
      },
    },
    async (request) => {
      await ctx.projects.get(request.params.projectId);
      const project = await projectOf(request.params.projectId);
      return (await architectures()).catalog(project).catch(pythonFailed);
    },
  );

  app.post(
    '/api/projects/:projectId/resources/:name/check',
    {
      // It imports the project's utils/ (custom layers): running code, which readers may not (docs/security.md).
      config: { projectRole: 'writer' },
      schema: {
        tags,
        summary: 'Check an architecture with PyTorch: layer classes and arguments, shapes and parameters',
        params: ResourceParamsSchema,
        body: CheckArchitectureBodySchema,
        response: { 200: ArchitectureCheckResponseSchema, ...errors },
      },
    },
    async (request) => {
      const { projectId, name } = request.params;
      await ctx.projects.get(projectId);
      const stored = await projectOf(projectId);
      if (!Object.hasOwn(stored.resources ?? {}, name))
        throw notFound(`project has no architecture "${name}"`);
      // The editor sends the graph it shows: its last edit may not have reached the server's document yet.
      const sent = request.body?.architecture;
      if (sent && sent.name !== name)
        throw badRequest(
          'body.architecture.name',
          `name "${sent.name}" must be the architecture's ("${name}")`,
        );
      const project = sent ? { ...stored, resources: { ...stored.resources, [name]: sent } } : stored;
      const { diagnostics, shapes } = await (await architectures()).check(project, name).catch(pythonFailed);
      return { diagnostics, shapes };
    },
  );
}
