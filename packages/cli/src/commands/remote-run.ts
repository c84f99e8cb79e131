import { realpath } from 'node:fs/promises';
import { basename, resolve } from 'node:path';
import { resolveDataDir } from '@deepforge/engine';
import type { AttributeOverride, JsonValue } from '@deepforge/core';
import type {
  ExecutionDetailsDto,
  ExecutionEvent,
  ProjectSummary,
  StartExecutionBody,
} from '@deepforge/protocol';
import type { CliContext } from '../cli-context.js';
import { openRunRenderer, type RunRenderer } from '../render/run.renderer.js';
import { UsageError } from '../usage-error.js';
import { credentialsFilePath, readCredentials } from './credentials-file.js';
import { failure, originOf } from './login.command.js';
import { readServerProjects, rememberServerProject, serverProjectsFilePath } from './server-projects-file.js';

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
  /** Import the folder as a new project even when an earlier run made one for it on this server. */
  newProject?: boolean;
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

/** The CLI's data dir, where the per-server files are. */
function dataDirOf(ctx: CliContext, opts: RemoteRunOptions): string {
  return resolveDataDir({
    ...(opts.dataDir !== undefined ? { dataDir: resolve(ctx.cwd, opts.dataDir) } : {}),
    env: ctx.env,
  });
}

/** The token for the server: `--token`, else the one `deepforge login <url>` stored for its origin, else none. */
async function tokenFor(
  ctx: CliContext,
  origin: string,
  opts: RemoteRunOptions,
): Promise<string | undefined> {
  if (opts.token !== undefined) return opts.token;
  const file = credentialsFilePath(dataDirOf(ctx, opts));
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
    return (await this.send<T>(method, path, body, expected)).body;
  }

  /** The answer with its status, for the statuses expected (others throw, saying what the server said). */
  async send<T>(
    method: string,
    path: string,
    body?: { json: unknown } | { zip: Uint8Array },
    expected: readonly number[] = [200, 201],
  ): Promise<{ status: number; body: T }> {
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
    return { status: res.status, body: (await res.json()) as T };
  }
}

/**
 * `deepforge run --server <url> <project-dir> <pipeline>`: brings the project folder to the server (the project
 * an earlier run of the folder made there, updated to the folder; else a new project it imports), starts the pipeline there (on its workers, or its own machine) and follows it live over the events
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
  // Said here, as a local run says it, before anything is sent (pipelines/<name>.json, the name its file's).
  const known = [...files.keys()]
    .map((path) => /^pipelines\/([^/]+)\.json$/.exec(path)?.[1])
    .filter((name): name is string => name !== undefined)
    .sort();
  if (!known.includes(pipeline)) {
    throw new UsageError(
      `${dir} has no pipeline "${pipeline}"; ${known.length ? `its pipelines are: ${known.join(', ')}` : 'it has no pipelines'}`,
    );
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
    const memory = serverProjectsFilePath(dataDirOf(ctx, opts));
    const folder = await realpath(dir).catch(() => dir);
    const zip = zipProject(files, basename(dir) || 'project');
    const reused =
      opts.newProject === true
        ? undefined
        : await updateKnownProject(ctx, api, memory, folder, dir, files, zip, json);
    const project = reused ?? (await api.call<ProjectSummary>('POST', '/api/projects/import', { zip }));
    if (!json && !reused) {
      ctx.err.write(`imported ${dir} into ${origin} as project "${project.name}" (${project.id})\n`);
    }
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
        // A project made for this run only: nothing of it stays when its pipeline cannot start. One an earlier
        // run made (updated now) is the user's project, kept.
        if (!reused) {
          await api
            .call('DELETE', `/api/projects/${project.id}`, undefined, [200, 204])
            .catch(() => undefined);
        }
        throw err;
      });
    // The next run of this folder on this server updates this project. The run is under way: a file that cannot
    // be written is said, not fatal.
    await rememberServerProject(memory, origin, folder, {
      projectId: project.id,
      name: project.name,
      usedAt: Date.now(),
    }).catch((err: unknown) => {
      ctx.err.write(`could not remember the project for the next run: ${(err as Error).message}\n`);
    });
    if (!json) {
      renderer = await openRunRenderer(
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

/** The project name deepforge.json gives, if it reads as one (the server says what is wrong otherwise). */
function manifestName(files: Map<string, Uint8Array>): string | undefined {
  try {
    const name = (
      JSON.parse(Buffer.from(files.get('deepforge.json')!).toString('utf8')) as { name?: unknown }
    ).name;
    return typeof name === 'string' ? name : undefined;
  } catch {
    return undefined;
  }
}

/**
 * The project an earlier run of this folder made on the server, replaced by the folder's content now
 * (PUT …/files, a version in its history); undefined when there is none to update: none remembered, deleted
 * there (or no longer shared with the caller: the server answers 404 alike), or renamed away from the name
 * deepforge.json gives. A project the caller may only read is an error: another copy is made only when asked
 * (--new-project).
 */
async function updateKnownProject(
  ctx: CliContext,
  api: ServerApi,
  memory: string,
  folder: string,
  dir: string,
  files: Map<string, Uint8Array>,
  zip: Uint8Array,
  json: boolean,
): Promise<ProjectSummary | undefined> {
  const known = (await readServerProjects(memory)).servers[api.origin]?.[folder];
  if (!known) return undefined;
  const path = `/api/projects/${encodeURIComponent(known.projectId)}`;
  const found = await api.send<ProjectSummary>('GET', path, undefined, [200, 404]);
  if (found.status === 404) {
    if (!json) {
      ctx.err.write(
        `project "${known.name}" (${known.projectId}) that an earlier run made on ${api.origin} is gone there\n`,
      );
    }
    return undefined;
  }
  const name = manifestName(files);
  if (name !== undefined && found.body.name !== name) {
    if (!json) {
      ctx.err.write(
        `project ${known.projectId} on ${api.origin} is named "${found.body.name}", not "${name}" as ${dir}/deepforge.json says: importing the folder as a new project\n`,
      );
    }
    return undefined;
  }
  const refuse = (role: string): never => {
    throw new UsageError(
      `you may not change project "${found.body.name}" (${known.projectId}) on ${api.origin}, which an earlier run of ${dir} made (your role there: ${role}); run with --new-project to import the folder as a new project`,
    );
  };
  if (found.body.role === 'reader') refuse('reader');
  const updated = await api.send<ProjectSummary>('PUT', `${path}/files`, { zip }, [200, 403, 404]);
  if (updated.status === 403) refuse('reader');
  if (updated.status === 404) return undefined;
  if (!json) {
    ctx.err.write(
      `updated project "${updated.body.name}" (${updated.body.id}) on ${api.origin} from ${dir}\n`,
    );
  }
  return updated.body;
}
