import { createWriteStream } from 'node:fs';
import { mkdir, rename, rm } from 'node:fs/promises';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import type { FastifyRequest } from 'fastify';
import { z } from 'zod';
import type { RemoteCompute, WorkerTokenRecord } from '@deepforge/engine';
import {
  ApiErrorSchema,
  ContentHashSchema,
  CreateWorkerTokenBodySchema,
  CreateWorkerTokenResponseSchema,
  ListWorkersResponseSchema,
  OUTPUT_FILE_NAME,
  WorkerTokenSummarySchema,
} from '@deepforge/protocol';
import { callerOf } from '../auth/request-auth.js';
import { bodyStream } from '../http/body-stream.js';
import { HttpError, notFound } from '../http/http-error.js';
import type { ServerContext, ZodApp } from '../server.context.js';

const tags = ['workers'];
const errors = { 400: ApiErrorSchema, 401: ApiErrorSchema, 403: ApiErrorSchema, 404: ApiErrorSchema };

/** An output's file name as the harness writes it: the output's name, nothing that could leave the folder. */

const LeaseQuerySchema = z.strictObject({
  job: z.string().min(1).max(200),
  epoch: z.coerce.number().int().min(1),
});

function summary(t: WorkerTokenRecord): z.infer<typeof WorkerTokenSummarySchema> {
  return {
    id: t.id,
    name: t.name,
    prefix: t.prefix,
    createdAt: t.createdAt,
    lastUsedAt: t.lastUsedAt,
    revokedAt: t.revokedAt,
  };
}

/** The bearer token of a request, when it is one. */
export function bearerOf(header: string | string[] | undefined): string | undefined {
  const value = Array.isArray(header) ? header[0] : header;
  const m = /^Bearer\s+(\S+)$/i.exec(value ?? '');
  return m?.[1];
}

/**
 * The worker token of a worker route: 401 without a valid one. Worker routes are public to the accounts hook
 * (a worker has no account); this is their only door.
 */
async function workerToken(ctx: ServerContext, request: FastifyRequest): Promise<WorkerTokenRecord> {
  const token = bearerOf(request.headers.authorization);
  const record = token === undefined ? undefined : await ctx.engine.workerTokens.resolve(token);
  if (!record) {
    throw new HttpError(401, 'unauthorized', 'a valid worker token is needed (Authorization: Bearer dfw_…)');
  }
  return record;
}

function remoteCompute(ctx: ServerContext): RemoteCompute {
  const compute = ctx.engine.remoteCompute;
  if (!compute) {
    throw new HttpError(
      409,
      'no-compute',
      'this server runs jobs itself: start it with --server to use workers',
    );
  }
  return compute;
}

/** Not the worker's job (any more): the same answer whether the job exists or not, so ids cannot be probed. */
function notLeased(jobId: string, epoch: number): HttpError {
  return new HttpError(
    403,
    'forbidden',
    `job ${jobId.slice(0, 200)} is not leased to this worker under lease ${epoch} (it may have been lost and leased again)`,
  );
}

/**
 * Remote workers (docs/adr/0015). Admins make and revoke worker tokens and see the connected workers; a worker,
 * with its token, reads the inputs of the jobs leased to it and stores their outputs, nothing else.
 */
export function registerWorkerRoutes(app: ZodApp, ctx: ServerContext): void {
  app.post(
    '/api/workers/tokens',
    {
      config: { admin: true },
      schema: {
        tags,
        summary: 'Make a worker token (admins): shown once, stored as its sha256',
        body: CreateWorkerTokenBodySchema,
        response: { 201: CreateWorkerTokenResponseSchema, ...errors, 409: ApiErrorSchema },
      },
    },
    async (request, reply) => {
      const by = callerOf(request.auth)?.name ?? '(local)';
      const made = await ctx.engine.workerTokens.create(request.body.name, by);
      await ctx.engine.accounts.audit({
        actorId: callerOf(request.auth)?.id ?? null,
        actorName: by,
        action: 'worker-token-create',
        target: made.record.name,
        detail: made.record.prefix,
        ip: request.ip,
      });
      return reply.code(201).send({ token: made.token, record: summary(made.record) });
    },
  );

  app.get(
    '/api/workers/tokens',
    {
      config: { admin: true },
      schema: {
        tags,
        summary: 'Worker tokens (admins), revoked ones included',
        response: { 200: z.strictObject({ items: z.array(WorkerTokenSummarySchema) }), ...errors },
      },
    },
    async () => ({ items: (await ctx.engine.workerTokens.list()).map(summary) }),
  );

  app.delete(
    '/api/workers/tokens/:id',
    {
      config: { admin: true },
      schema: {
        tags,
        summary: 'Revoke a worker token (admins): its workers are cut off at their next heartbeat',
        params: z.strictObject({ id: z.string().min(1).max(200) }),
        response: { 200: WorkerTokenSummarySchema, ...errors },
      },
    },
    async (request) => {
      const revoked = await ctx.engine.workerTokens.revoke(request.params.id);
      await ctx.engine.accounts.audit({
        actorId: callerOf(request.auth)?.id ?? null,
        actorName: callerOf(request.auth)?.name ?? '(local)',
        action: 'worker-token-revoke',
        target: revoked.name,
        detail: revoked.prefix,
        ip: request.ip,
      });
      return summary(revoked);
    },
  );

  app.get(
    '/api/workers',
    {
      config: { admin: true },
      schema: {
        tags,
        summary: 'The connected workers: labels, slots, the jobs they hold (admins)',
        response: { 200: ListWorkersResponseSchema, ...errors },
      },
    },
    async () => ({ items: ctx.engine.remoteCompute?.listWorkers() ?? [] }),
  );

  app.get(
    '/api/workers/blobs/:hash',
    {
      config: { auth: 'public' },
      schema: {
        tags,
        summary: 'An input of a job leased to the calling worker (worker token), by content id',
        params: z.strictObject({ hash: ContentHashSchema }),
        querystring: LeaseQuerySchema,
        produces: ['application/octet-stream'],
      },
    },
    async (request, reply) => {
      const token = await workerToken(ctx, request);
      const { job, epoch } = request.query;
      const blob = await remoteCompute(ctx).openInput(token.id, job, epoch, request.params.hash);
      if (!blob) throw notLeased(job, epoch);
      return reply
        .type('application/octet-stream')
        .header('content-length', String(blob.size))
        .send(await blob.stream());
    },
  );

  app.put(
    '/api/workers/jobs/:jobId/outputs/:file',
    {
      config: { auth: 'public' },
      schema: {
        tags,
        summary:
          'An output file of a job leased to the calling worker (worker token), before it says it finished',
        params: z.strictObject({ jobId: z.string().min(1).max(200), file: z.string().min(1).max(200) }),
        querystring: z.strictObject({ epoch: z.coerce.number().int().min(1) }),
        response: { 204: z.null(), ...errors },
      },
    },
    async (request, reply) => {
      const token = await workerToken(ctx, request);
      const { jobId, file } = request.params;
      const { epoch } = request.query;
      if (!OUTPUT_FILE_NAME.test(file)) throw notFound(`there is no output file ${JSON.stringify(file)}`);
      const compute = remoteCompute(ctx);
      const dir = compute.outputDirFor(token.id, jobId, epoch);
      if (dir === undefined) throw notLeased(jobId, epoch);
      // Written beside its final name and renamed only if the lease is still this worker's once every byte is
      // there: a worker lost in the middle of an upload leaves nothing the job's next worker could trip on.
      const part = join(dir, `.${file}.${randomBytes(6).toString('hex')}.part`);
      try {
        // The job's output folder is made by the first file that comes (most outputs come in their events).
        await mkdir(dir, { recursive: true });
        await pipeline(bodyStream(request), createWriteStream(part));
        if (compute.outputDirFor(token.id, jobId, epoch) !== dir) throw notLeased(jobId, epoch);
        await rename(part, join(dir, file));
      } finally {
        await rm(part, { force: true });
      }
      return reply.code(204).send(null);
    },
  );
}
