import { spawn } from 'node:child_process';
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { createGunzip } from 'node:zlib';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { z } from 'zod';
import type { Project } from '@deepforge/core';
import { gitEnv, HISTORY_BRANCH } from '@deepforge/engine';
import { applyProjectToDoc, ProjectParamsSchema } from '@deepforge/protocol';
import { projectRoleOf, roleAtLeast } from '../auth/request-auth.js';
import { installPushHook, PushExchange, type PushVerdict } from '../history/git-push.js';
import { byteLimit, checkDeclaredLength } from '../http/body-stream.js';
import { HttpError, badRequest } from '../http/http-error.js';
import { readProjectFiles } from '../projects/project-folder-files.js';
import { checkProject } from '../projects/project-validation.js';
import type { ServerContext, ZodApp } from '../server.context.js';
import { artifactNamesOf } from './route-helpers.js';

const SERVICES = ['git-upload-pack', 'git-receive-pack'] as const;
type Service = (typeof SERVICES)[number];
const ZERO_ID = '0'.repeat(40);
/** The most bytes a fetch request (the wants and haves) may have. */
const MAX_UPLOAD_REQUEST_BYTES = 16 * 1024 * 1024;
const tags = ['git'];

function pktLine(text: string): string {
  return (text.length + 4).toString(16).padStart(4, '0') + text;
}

/**
 * Git's smart HTTP protocol for each project's history (docs/adr/0020): `git clone <server>/git/<project id>`
 * fetches the project folder with its versions, `git push` of a valid project folder makes a `push` version that
 * is applied to the live document. `git upload-pack` / `git receive-pack --stateless-rpc` do the protocol in
 * child processes; the server checks roles (fetching needs a reader, pushing a writer), bounds request bodies,
 * makes a checkpoint of unsaved live edits before it advertises refs (so a push based on an older version is not
 * a fast-forward) and checks every push in the pre-receive hook with the project folder validation.
 */
export function registerGitRoutes(app: ZodApp, ctx: ServerContext): void {
  app.addContentTypeParser(
    ['application/x-git-upload-pack-request', 'application/x-git-receive-pack-request'],
    (_request, payload, done) => done(null, payload),
  );

  const needWriter = async (request: FastifyRequest, projectId: string): Promise<void> => {
    const role = await projectRoleOf(ctx.engine.accounts, request.auth, projectId);
    if (!roleAtLeast(role, 'writer')) {
      throw new HttpError(
        403,
        'forbidden',
        `pushing needs the writer role in the project (yours: ${role ?? 'none'})`,
      );
    }
  };

  app.get(
    '/git/:projectId/info/refs',
    {
      schema: {
        tags,
        summary: 'git smart HTTP: the refs (clone, fetch, push)',
        params: ProjectParamsSchema,
        querystring: z.object({ service: z.enum(SERVICES) }),
      },
    },
    async (request, reply) => {
      const { projectId } = request.params;
      await ctx.projects.get(projectId);
      const service = request.query.service;
      if (service === 'git-receive-pack') await needWriter(request, projectId);
      // Unsaved live edits become a version first: a clone gets them, a push based on an older one conflicts.
      await ctx.history.checkpoint(projectId);
      const h = ctx.history.history(projectId);
      const out = await h.run([service.slice(4), '--stateless-rpc', '--advertise-refs', h.gitDir]);
      return reply
        .header('content-type', `application/x-${service}-advertisement`)
        .header('cache-control', 'no-cache')
        .send(Buffer.concat([Buffer.from(pktLine(`# service=${service}\n`) + '0000'), out.stdout]));
    },
  );

  const requestBody = (request: FastifyRequest, limit: number): Readable => {
    checkDeclaredLength(request, limit);
    const body = request.body as Readable | undefined;
    if (!body || typeof body.pipe !== 'function') {
      throw badRequest('body', `expected a git request body (Content-Type application/x-git-*-request)`);
    }
    const encoding = request.headers['content-encoding'];
    if (encoding === 'gzip') return body.pipe(createGunzip());
    if (encoding !== undefined && encoding !== 'identity') {
      throw badRequest(
        'headers.content-encoding',
        `unsupported Content-Encoding "${encoding}" (gzip or none)`,
      );
    }
    return body;
  };

  /** Runs a service on the request body; answers its output once it ended. */
  const runService = async (
    service: Service,
    gitDir: string,
    body: Readable,
    limit: number,
    env: Record<string, string> = {},
  ): Promise<{ code: number; stdout: Buffer; stderr: string }> => {
    const child = spawn('git', [service.slice(4), '--stateless-rpc', gitDir], {
      env: gitEnv(env),
      stdio: ['pipe', 'pipe', 'pipe'],
      timeout: 600_000,
    });
    const out: Buffer[] = [];
    let stderr = '';
    child.stdout.on('data', (b: Buffer) => out.push(b));
    child.stderr.on('data', (b: Buffer) => {
      if (stderr.length < 64 * 1024) stderr += b.toString('utf8');
    });
    const exited = new Promise<number>((resolve, reject) => {
      child.on('error', reject);
      child.on('close', (code) => resolve(code ?? -1));
    });
    try {
      await pipeline(body, byteLimit(limit), child.stdin);
    } catch (err) {
      child.kill('SIGKILL');
      await exited.catch(() => undefined);
      throw err;
    }
    const code = await exited;
    return { code, stdout: Buffer.concat(out), stderr };
  };

  app.post(
    '/git/:projectId/git-upload-pack',
    {
      config: { projectRole: 'reader' },
      schema: { tags, summary: 'git smart HTTP: fetch', params: ProjectParamsSchema },
    },
    async (request, reply) => {
      const { projectId } = request.params;
      await ctx.projects.get(projectId);
      const h = ctx.history.history(projectId);
      const result = await runService(
        'git-upload-pack',
        h.gitDir,
        requestBody(request, MAX_UPLOAD_REQUEST_BYTES),
        MAX_UPLOAD_REQUEST_BYTES,
      );
      if (result.code !== 0) request.log.warn({ projectId, stderr: result.stderr }, 'git upload-pack failed');
      return sendResult(reply, 'git-upload-pack', result.stdout);
    },
  );

  app.post(
    '/git/:projectId/git-receive-pack',
    {
      schema: { tags, summary: 'git smart HTTP: push', params: ProjectParamsSchema },
    },
    async (request, reply) => {
      const { projectId } = request.params;
      await ctx.projects.get(projectId);
      const history = ctx.history;
      const h = history.history(projectId);
      await history.ensure(projectId);
      await installPushHook(h.gitDir);
      const before = await h.head();
      const exchange = new PushExchange(h.gitDir);
      await exchange.open();
      let accepted: { project: Project; commit: string } | undefined;
      const check = async (push: {
        objectDir: string;
        alternates: string;
        updates: { old: string; new: string; ref: string }[];
      }): Promise<PushVerdict> => {
        const problems: string[] = [];
        for (const u of push.updates) {
          if (u.ref !== HISTORY_BRANCH) problems.push(`only ${HISTORY_BRANCH} can be pushed, not ${u.ref}`);
          else if (u.new === ZERO_ID) problems.push(`${HISTORY_BRANCH} cannot be deleted`);
        }
        const update = push.updates.find((u) => u.ref === HISTORY_BRANCH);
        if (problems.length > 0 || !update) return { accept: false, messages: problems };
        const env = {
          GIT_OBJECT_DIRECTORY: push.objectDir,
          ...(push.alternates ? { GIT_ALTERNATE_OBJECT_DIRECTORIES: push.alternates } : {}),
        };
        const files = await h.filesAt(update.new, env);
        const read = await readProjectFiles(files, ctx.engine.operationReader);
        const errorsOf = (ds: { severity: string; file?: string; message: string }[]): string[] =>
          ds
            .filter((d) => d.severity === 'error')
            .map((d) => (d.file && !d.message.startsWith(d.file) ? `${d.file}: ${d.message}` : d.message));
        if (!read.ok) {
          return {
            accept: false,
            messages: [
              'DeepForge refused this push: not a valid project folder',
              ...errorsOf(read.diagnostics),
            ],
          };
        }
        const found = errorsOf(read.diagnostics);
        const checked = await checkProject(
          ctx.engine.operationReader,
          read.project,
          await artifactNamesOf(ctx, projectId, read.project),
        );
        for (const name of Object.keys(read.project.pipelines).sort()) {
          for (const message of errorsOf(checked.pipeline(name))) {
            const line = `pipelines/${name}.json: ${message}`;
            if (!found.includes(message) && !found.includes(line)) found.push(line);
          }
        }
        if (found.length > 0) {
          return {
            accept: false,
            messages: ['DeepForge refused this push: the project has errors', ...[...new Set(found)]],
          };
        }
        accepted = { project: read.project, commit: update.new };
        return { accept: true };
      };
      try {
        const served = exchange.serve(check);
        const result = await runService(
          'git-receive-pack',
          h.gitDir,
          requestBody(request, ctx.uploadLimit),
          ctx.uploadLimit,
          exchange.env,
        );
        await exchange.close();
        await served;
        const after = await h.head();
        if (accepted && after === accepted.commit && after !== before) {
          // The push is the newest version: everyone with the project open sees it now.
          const project = accepted.project;
          await ctx.documents.edit(projectId, (doc) => applyProjectToDoc(doc, project));
          await ctx.projects.touch(projectId);
          request.log.info({ projectId, version: after }, 'push applied');
        }
        return sendResult(reply, 'git-receive-pack', result.stdout);
      } finally {
        await exchange.close();
      }
    },
  );
}

function sendResult(reply: FastifyReply, service: Service, body: Buffer): FastifyReply {
  return reply
    .header('content-type', `application/x-${service}-result`)
    .header('cache-control', 'no-cache')
    .send(body);
}
