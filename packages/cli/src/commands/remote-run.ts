import { basename, resolve } from 'node:path';
import { resolveDataDir } from '@deepforge/engine';
import type { AttributeOverride, JsonValue } from '@deepforge/core';
import type {
  ExecutionDetailsDto,
  ExecutionEvent,
  ProjectSummary,
  StartExecutionBody,
} from '@deepforge/protocol';
import type { zipProject } from '@deepforge/server';
import type { CliContext } from '../cli-context.js';
import { RunRenderer } from '../render/run.renderer.js';
import { UsageError } from '../usage-error.js';
import { credentialsFilePath, readCredentials } from './credentials-file.js';
import { failure, originOf } from './login.command.js';

const REQUEST_TIMEOUT_MS = 60_000;

export interface RemoteRunOptions {
  server: string;
  token?: string;
  dataDir?: string;
  set: AttributeOverride[];
  cache?: boolean;
  concurrency?: number;
  json?: boolean;
  name?: string;
  color?: boolean;
  labels?: string[];
  slurm?: { all: Record<string, string | number>; nodes: Record<string, Record<string, string | number>> };
}

/** A `--set` value for the server, which takes JSON values: read as JSON when it is JSON, else as text. */
function jsonValueOf(raw: string): JsonValue {
  try {
    return JSON.parse(raw) as JsonValue;
  } catch {
    return raw;
  }
}

/** The token for the server: `--token`, else the one `deepforge login <url>` stored for its origin, else none. */
async function tokenFor(
  ctx: CliContext,
  origin: string,
  opts: RemoteRunOptions,
): Promise<string | undefined> {
  if (opts.token !== undefined) return opts.token;
  const file = credentialsFilePath(
    resolveDataDir({
      ...(opts.dataDir !== undefined ? { dataDir: resolve(ctx.cwd, opts.dataDir) } : {}),
      env: ctx.env,
    }),
  );
  return (await readCredentials(file)).servers[origin]?.token;
}

class ServerApi {
  constructor(
    readonly origin: string,
    readonly token: string | undefined,
  ) {}

  async call<T>(
    method: string,
    path: string,
    body?: { json: unknown } | { zip: Uint8Array },
    expected: readonly number[] = [200, 201],
  ): Promise<T> {
    let res: Response;
    try {
      res = await fetch(`${this.origin}${path}`, {
        method,
        headers: {
          ...(this.token ? { authorization: `Bearer ${this.token}` } : {}),
          ...(body && 'json' in body ? { 'content-type': 'application/json' } : {}),
          ...(body && 'zip' in body ? { 'content-type': 'application/zip' } : {}),
        },
        ...(body ? { body: 'json' in body ? JSON.stringify(body.json) : body.zip } : {}),
        redirect: 'error',
        signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS),
      });
    } catch (err) {
      const cause = (err as { cause?: { code?: string; message?: string } }).cause;
      throw new UsageError(
        `cannot reach ${this.origin}: ${cause?.code ?? cause?.message ?? (err as Error).message}`,
      );
    }
    if (res.status === 401) {
      const why = await failure(this.origin, res);
      throw new UsageError(
        this.token
          ? `${why.message} (the token was refused: give a valid one with --token, or sign in again with deepforge login ${this.origin})`
          : `${why.message} (this server has accounts: sign in with deepforge login ${this.origin}, or give --token)`,
      );
    }
    if (!expected.includes(res.status)) throw await failure(this.origin, res);
    return (await res.json()) as T;
  }
}

/**
 * `deepforge run --server <url> <project-dir> <pipeline>`: imports the project folder into the server as a new
 * project, starts the pipeline there (on its workers, or its own machine) and follows it live over the events
 * socket with the same output and exit code as a local run. Ctrl-C cancels the execution on the server.
 */
export async function runOnServer(
  ctx: CliContext,
  projectDir: string,
  pipeline: string,
  opts: RemoteRunOptions,
): Promise<number> {
  const origin = originOf(opts.server);
  const dir = resolve(ctx.cwd, projectDir);
  const api = new ServerApi(origin, await tokenFor(ctx, origin, opts));
  // The web server's package is loaded by the commands that use it only: a local run does not pay for it.
  const { ExecutionFollower, readFolderFiles, zipProject } = await import('@deepforge/server');
  const files = await readFolderFiles(dir);
  if (!files.has('deepforge.json')) {
    throw new UsageError(`${dir} is not a project folder: it has no deepforge.json`);
  }
  // Checked before anything is sent: the token, and that the server is one.
  await api.call('GET', '/api/projects');

  const json = opts.json === true;
  const color = opts.color !== false && !json && Boolean(ctx.out.isTTY) && !ctx.env.NO_COLOR;
  let renderer: RunRenderer | undefined;
  const early: ExecutionEvent[] = [];
  const onEvent = (event: ExecutionEvent): void => {
    if (json) ctx.out.write(JSON.stringify(event) + '\n');
    else if (renderer) renderer.handle(event);
    else early.push(event);
  };
  // Subscribed before the execution exists: none of its console lines can come before the subscription.
  const follower = await ExecutionFollower.open({
    origin,
    ...(api.token !== undefined ? { token: api.token } : {}),
    onEvent,
  }).catch((err: unknown) => {
    throw new UsageError((err as Error).message);
  });
  try {
    const project = await importProject(api, dir, files, zipProject);
    if (!json) ctx.err.write(`imported ${dir} into ${origin} as project "${project.name}" (${project.id})\n`);
    const body: StartExecutionBody = {
      pipeline,
      ...(opts.name !== undefined ? { name: opts.name } : {}),
      ...(opts.cache !== undefined ? { cache: opts.cache } : {}),
      ...(opts.concurrency !== undefined ? { concurrency: opts.concurrency } : {}),
      ...(opts.labels && opts.labels.length > 0 ? { labels: opts.labels } : {}),
      ...(opts.set.length > 0 ? { attributes: attributesOf(opts.set) } : {}),
      ...(opts.slurm ? { slurm: opts.slurm.all, nodeSlurm: opts.slurm.nodes } : {}),
    };
    const started = await api
      .call<ExecutionDetailsDto>('POST', `/api/projects/${project.id}/executions`, { json: body })
      .catch(async (err: unknown) => {
        // The project was made for this run only: nothing of it stays when its pipeline cannot start.
        await api.call('DELETE', `/api/projects/${project.id}`, undefined, [200, 204]).catch(() => undefined);
        throw err;
      });
    if (!json) {
      renderer = new RunRenderer(
        started.jobs.map((j) => ({ node: j.node, operation: j.operation })),
        { out: ctx.out, live: Boolean(ctx.out.isTTY), color },
      );
    }
    let interrupted = 0;
    const onSigint = (): void => {
      interrupted++;
      if (interrupted > 1) process.exit(130);
      ctx.err.write(`\nCanceling on ${origin} (Ctrl-C again to leave; it then runs on) …\n`);
      void api
        .call('POST', `/api/projects/${project.id}/executions/${started.id}/cancel`, { json: {} })
        .catch((err: unknown) => {
          if (!follower.cancel()) ctx.err.write(`could not cancel: ${(err as Error).message}\n`);
        });
    };
    process.on('SIGINT', onSigint);
    try {
      const done = follower.follow(started.id);
      for (const e of early.splice(0)) renderer?.handle(e);
      await done.catch((err: unknown) => {
        throw new UsageError(`${(err as Error).message}; the execution ${started.id} may still run there`);
      });
    } finally {
      process.off('SIGINT', onSigint);
    }
    const details = await api.call<ExecutionDetailsDto>(
      'GET',
      `/api/projects/${project.id}/executions/${started.id}`,
    );
    if (json) {
      ctx.out.write(
        JSON.stringify({
          type: 'run.result',
          executionId: details.id,
          name: details.name,
          project: project.name,
          projectId: project.id,
          server: origin,
          pipeline: details.pipeline,
          status: details.status,
          durationMs: details.durationMs,
          jobs: details.jobs.map((j) => ({
            node: j.node,
            operation: j.operation,
            status: j.status,
            durationMs: j.durationMs,
            error: j.error,
            outputs: j.outputs,
            cachedFrom: j.cachedFrom,
            ...(j.usage ? { usage: j.usage } : {}),
          })),
        }) + '\n',
      );
    } else {
      renderer!.finish({
        executionId: details.id,
        status: details.status,
        durationMs: details.durationMs,
        pipeline: details.pipeline,
      });
      ctx.out.write(`${origin}/projects/${project.id}/executions/${details.id}\n`);
    }
    return details.status === 'success' ? 0 : 1;
  } finally {
    follower.close();
  }
}

function attributesOf(set: readonly AttributeOverride[]): Record<string, Record<string, JsonValue>> {
  const out: Record<string, Record<string, JsonValue>> = {};
  for (const o of set) (out[o.node] ??= {})[o.attr] = jsonValueOf(o.raw);
  return out;
}

/** Imports the folder as a new project of the server (named as its deepforge.json says). */
function importProject(
  api: ServerApi,
  dir: string,
  files: Map<string, Uint8Array>,
  zip: typeof zipProject,
): Promise<ProjectSummary> {
  return api.call<ProjectSummary>('POST', '/api/projects/import', {
    zip: zip(files, basename(dir) || 'project'),
  });
}
