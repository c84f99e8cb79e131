import { z } from 'zod';
import { artifactDownloadName } from '@deepforge/core';
import type { ArtifactInfo } from '@deepforge/engine';
import {
  ApiErrorSchema,
  ArtifactParamsSchema,
  ArtifactPreviewSchema,
  ArtifactSchema,
  ImportArtifactBodySchema,
  ListArtifactsQuerySchema,
  ListArtifactsResponseSchema,
  ProjectParamsSchema,
  UploadArtifactQuerySchema,
  type ArtifactDto,
} from '@deepforge/protocol';
import { importablePath } from '../artifacts/import-roots.js';
import { checkStorageChoice } from '../artifacts/storage-choice.js';
import { bodyStream, byteLimit, checkDeclaredLength } from '../http/body-stream.js';
import { badRequest, notFound } from '../http/http-error.js';
import type { ServerContext, ZodApp } from '../server.context.js';

const tags = ['artifacts'];
/** Uploads up to this size are answered with the type read from their data; larger ones get it in the background. */
const DETECT_TYPE_INLINE_BYTES = 64 * 1024 * 1024;

/** `attachment` with the name as a quoted ASCII fallback and RFC 5987 `filename*` for any other character. */
function contentDisposition(fileName: string): string {
  const ascii = fileName.replace(/[^\x20-\x7e]/g, '_');
  return `attachment; filename="${ascii}"; filename*=UTF-8''${encodeURIComponent(fileName)}`;
}
const errors = {
  400: ApiErrorSchema,
  403: ApiErrorSchema,
  404: ApiErrorSchema,
  409: ApiErrorSchema,
  413: ApiErrorSchema,
};

export function artifactDto(a: ArtifactInfo): ArtifactDto {
  return {
    id: a.id,
    name: a.name,
    hash: a.hash,
    size: a.size,
    serializer: a.serializer,
    pyType: a.pyType,
    createdAt: a.createdAt,
    provenance: a.provenance,
  };
}

export function registerArtifactRoutes(app: ZodApp, ctx: ServerContext): void {
  const engine = ctx.engine;

  /** The artifact, when it is the project's. */
  const artifactOf = async (projectId: string, artifactId: string): Promise<ArtifactInfo> => {
    await ctx.projects.get(projectId);
    const a = await engine.getArtifactById(artifactId).catch(() => undefined);
    if (!a || a.projectId !== projectId) throw notFound(`project has no artifact "${artifactId}"`);
    return a;
  };

  app.get(
    '/api/projects/:projectId/artifacts',
    {
      schema: {
        tags,
        summary: 'Stored artifacts of the project, newest first',
        params: ProjectParamsSchema,
        querystring: ListArtifactsQuerySchema,
        response: { 200: ListArtifactsResponseSchema, ...errors },
      },
    },
    async (request) => {
      const { projectId } = request.params;
      const { name, search, limit, offset } = request.query;
      await ctx.projects.get(projectId);
      const filter = {
        projectId,
        ...(name !== undefined ? { name } : {}),
        ...(search !== undefined ? { search } : {}),
      };
      const [items, total] = await Promise.all([
        engine.listArtifacts({ ...filter, limit, offset }),
        engine.countArtifacts(filter),
      ]);
      return { items: items.map(artifactDto), total };
    },
  );

  app.post(
    '/api/projects/:projectId/artifacts',
    {
      schema: {
        tags,
        summary: 'Upload an artifact: the raw bytes as application/octet-stream, streamed to the store',
        params: ProjectParamsSchema,
        querystring: UploadArtifactQuerySchema,
        consumes: ['application/octet-stream'],
        response: { 201: ArtifactSchema, ...errors },
      },
    },
    async (request, reply) => {
      const { projectId } = request.params;
      const { name, serializer, pyType, storage } = request.query;
      await ctx.projects.get(projectId);
      await checkStorageChoice(engine, storage, 'query.storage');
      checkDeclaredLength(request, ctx.uploadLimit);
      const body = bodyStream(request);
      const limited = body.pipe(byteLimit(ctx.uploadLimit));
      // Over the limit: stop reading what the client still sends; the partial blob is removed by the store.
      limited.on('error', () => {
        body.unpipe(limited);
        body.resume();
      });
      const artifact = await engine.importArtifactStream(limited, name, {
        projectId,
        ...(serializer !== undefined ? { serializer } : {}),
        ...(pyType !== undefined ? { pyType } : {}),
        provenance: { kind: 'upload' },
      });
      if (pyType !== undefined) return reply.code(201).send(artifactDto(artifact));
      // No type given: read it from the data (Python, off the event loop), as the preview does, so the list and
      // downloads know it. A large upload is answered at once and gets its type in the background.
      const detect = ctx.projects
        .project(projectId)
        .then((project) => engine.previewArtifact(artifact.id, { project }));
      if (artifact.size > DETECT_TYPE_INLINE_BYTES) {
        detect.catch((err: unknown) => request.log.warn({ err }, 'could not read the type of an upload'));
        return reply.code(201).send(artifactDto(artifact));
      }
      await detect.catch((err: unknown) => request.log.warn({ err }, 'could not read the type of an upload'));
      return reply.code(201).send(artifactDto(await engine.getArtifactById(artifact.id)));
    },
  );

  app.post(
    '/api/projects/:projectId/artifacts/import',
    {
      schema: {
        tags,
        summary:
          'Record data already on the server machine (path, inside artifacts.importRoots) or in the data store (hash) as an artifact',
        params: ProjectParamsSchema,
        body: ImportArtifactBodySchema,
        response: { 201: ArtifactSchema, ...errors },
      },
    },
    async (request, reply) => {
      const { projectId } = request.params;
      const { name, path, hash, serializer, pyType, storage } = request.body;
      await ctx.projects.get(projectId);
      await checkStorageChoice(engine, storage, 'body.storage');
      const options = {
        projectId,
        ...(serializer !== undefined ? { serializer } : {}),
        ...(pyType !== undefined ? { pyType } : {}),
      };
      let artifact: ArtifactInfo;
      if (path !== undefined) {
        const real = await importablePath(path, engine.settings.values['artifacts.importRoots']);
        artifact = await engine.importArtifact(real, name, options);
      } else {
        artifact = await engine.importArtifactHash(hash!, name, options).catch((err: unknown) => {
          throw badRequest('body.hash', (err as Error).message);
        });
      }
      return reply.code(201).send(artifactDto(artifact));
    },
  );

  app.get(
    '/api/projects/:projectId/artifacts/:artifactId',
    {
      schema: {
        tags,
        summary: 'One artifact with its provenance',
        params: ArtifactParamsSchema,
        response: { 200: ArtifactSchema, ...errors },
      },
    },
    async (request) => artifactDto(await artifactOf(request.params.projectId, request.params.artifactId)),
  );

  app.get(
    '/api/projects/:projectId/artifacts/:artifactId/content',
    {
      schema: {
        tags,
        summary: "Download an artifact's bytes (streamed)",
        params: ArtifactParamsSchema,
        produces: ['application/octet-stream'],
      },
    },
    async (request, reply) => {
      const a = await artifactOf(request.params.projectId, request.params.artifactId);
      const stream = await engine.openArtifact(a.hash);
      return reply
        .type('application/octet-stream')
        .header('content-length', String(a.size))
        .header('content-disposition', contentDisposition(artifactDownloadName(a.name, a.serializer)))
        .send(stream);
    },
  );

  app.get(
    '/api/projects/:projectId/artifacts/:artifactId/preview',
    {
      schema: {
        tags,
        summary: 'What the data looks like (type, shape, range, an image), read by Python',
        params: ArtifactParamsSchema,
        response: { 200: ArtifactPreviewSchema, ...errors },
      },
    },
    async (request) => {
      const a = await artifactOf(request.params.projectId, request.params.artifactId);
      const project = await ctx.projects.project(request.params.projectId);
      return engine.previewArtifact(a.id, { project });
    },
  );

  app.delete(
    '/api/projects/:projectId/artifacts/:artifactId',
    {
      schema: {
        tags,
        summary: 'Delete an artifact (its bytes go when nothing else uses them)',
        params: ArtifactParamsSchema,
        response: { 204: z.null(), ...errors },
      },
    },
    async (request, reply) => {
      const a = await artifactOf(request.params.projectId, request.params.artifactId);
      await engine.deleteArtifact(a.id);
      return reply.code(204).send(null);
    },
  );
}
