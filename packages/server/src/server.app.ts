import { existsSync } from 'node:fs';
import type { IncomingMessage } from 'node:http';
import type { AddressInfo } from 'node:net';
import { dirname, join } from 'node:path';
import type { Duplex } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { fastifyCookie } from '@fastify/cookie';
import fastifyHelmet from '@fastify/helmet';
import fastifyStatic from '@fastify/static';
import fastifySwagger from '@fastify/swagger';
import fastifySwaggerUi from '@fastify/swagger-ui';
import { Hocuspocus } from '@hocuspocus/server';
import Fastify from 'fastify';
import {
  jsonSchemaTransform,
  serializerCompiler,
  validatorCompiler,
  type ZodTypeProvider,
} from 'fastify-type-provider-zod';
import pino, { type Logger } from 'pino';
import { WebSocketServer, type WebSocket } from 'ws';
import {
  ExtensionStore,
  findRuntimeDir,
  openEngine,
  type Engine,
  type Env,
  type OperationReaderOptions,
  type SettingsValues,
} from '@deepforge/engine';
import { projectFromDoc, REST_API_VERSION } from '@deepforge/protocol';
import { CollabAccess, type CollabContext } from './documents/collab-access.js';
import { detectGpus } from './workers/gpu-detect.js';
import { DocumentPersistence } from './documents/document.persistence.js';
import { ProjectDocuments } from './documents/project-documents.js';
import { ComputeMonitor } from './compute/compute.monitor.js';
import { handleEventsSocket, type EventsAccess } from './events/events.socket.js';
import { registerComputeRoutes } from './routes/compute.routes.js';
import { LanguageServers, LanguageServersBusyError } from './lsp/language-servers.js';
import { handleLspSocket } from './lsp/lsp.socket.js';
import { handleWorkerSocket } from './workers/workers.socket.js';
import { bearerOf, registerWorkerRoutes } from './routes/workers.routes.js';
import { installStreamParsers } from './http/body-stream.js';
import { answerFrameworkError, installErrorHandler } from './http/error.handler.js';
import { installRequestGuard, refuseUpgrade } from './http/request-guard.hook.js';
import { installAuth } from './auth/auth.hook.js';
import { authenticate, projectRoleOf, roleAtLeast, type RequestAuth } from './auth/request-auth.js';
import { registerAuthRoutes } from './routes/auth.routes.js';
import { registerMemberRoutes } from './routes/members.routes.js';
import { ProjectService } from './projects/project.service.js';
import { HistoryRecorder } from './history/history.recorder.js';
import { HistoryService } from './history/history.service.js';
import { registerArtifactRoutes } from './routes/artifacts.routes.js';
import { registerClientRoutes } from './routes/client.routes.js';
import { registerExecutionRoutes } from './routes/executions.routes.js';
import { registerHealthRoutes } from './routes/health.routes.js';
import { registerModuleRoutes } from './routes/modules.routes.js';
import { registerOperationRoutes } from './routes/operations.routes.js';
import { registerResourceRoutes } from './routes/resources.routes.js';
import { registerPipelineRoutes } from './routes/pipelines.routes.js';
import { registerProjectRoutes } from './routes/projects.routes.js';
import { registerHistoryRoutes } from './routes/history.routes.js';
import { registerExtensionRoutes } from './routes/extensions.routes.js';
import { registerGitRoutes } from './routes/git-http.routes.js';
import type { ComputeMode, ServerContext, ZodApp } from './server.context.js';

export const SERVER_VERSION = '0.1.0';
/** The default address: this machine only. Others need accounts (auth.enabled) and `--host`. */
export const SERVER_HOST = '127.0.0.1';

/** Whether an address serves this machine only. */
export function isLoopbackHost(host: string): boolean {
  const h = host.toLowerCase().replace(/^\[|\]$/g, '');
  return h === 'localhost' || h === '::1' || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(h);
}

/** Why binding `host` is refused, or undefined when it may be bound. */
export function bindProblem(host: string, authEnabled: boolean): string | undefined {
  if (isLoopbackHost(host) || authEnabled) return undefined;
  return (
    `listening on ${host} would let other machines run code as you, and accounts are off. Turn them on first: ` +
    '`deepforge config auth.enabled true`, then `deepforge users add <name> --admin`'
  );
}
export const COLLAB_PATH = '/api/collab';
export const EVENTS_PATH = '/api/events';
export const WORKERS_PATH = '/api/workers/connect';
/** The Python language server of a project (`?project=<id>`): LSP JSON-RPC, one message per text frame. */
export const LSP_PATH = '/api/lsp';

export interface ServerOptions {
  /** Wins over DEEPFORGE_DATA_DIR and `~/.deepforge`. */
  dataDir?: string;
  env?: Env;
  /** Setting values that win over the environment and the config file. */
  settings?: Partial<SettingsValues>;
  /** `none` (`--server`): no local compute, executions are refused until workers exist. */
  compute?: ComputeMode;
  /** Example projects; by default the examples/ folder beside the Python runtime (python/). */
  examplesDir?: string;
  /** Installed extensions; by default `<dataDir>/extensions`, where `deepforge extensions add` puts them. */
  extensionsDir?: string;
  /** The built web client; packages/client/dist by default. */
  clientDir?: string;
  /** How long the server keeps a project document open after its last REST use (default 30 s). */
  /** How often executions other engine processes drive are read for their status (ms, default 1000). */
  otherEnginesPollMs?: number;
  documentIdleMs?: number;
  /** Where request logs go; `<dataDir>/logs/server.log` by default. */
  logger?: Logger;
  /** Language servers (docs/adr/0022): how many may run, how long an idle one is kept. */
  languageServers?: { maxProcesses?: number; idleMs?: number };
  /** The worker threads that read operation code (tests shorten the 2 s deadline). */
  operationReader?: OperationReaderOptions;
  /** Project history (docs/adr/0020): a checkpoint after this long without edits (default 30 s)… */
  historyQuietMs?: number;
  /** …or after this many document changes (default 200). */
  historyMaxChanges?: number;
}

export interface DeepForgeServer {
  readonly app: ZodApp;
  readonly engine: Engine;
  readonly documents: ProjectDocuments;
  /** Project history (docs/adr/0020). */
  readonly history: HistoryService;
  readonly languageServers: LanguageServers;
  /**
   * Listens on `host` (default: server.host, 127.0.0.1; port 0: a free one) and resolves to the base URL. An
   * address other than loopback is refused unless accounts are on.
   */
  listen(port: number, host?: string): Promise<string>;
  /** Stops taking requests, closes sockets, saves documents, cancels running jobs and closes the database. */
  close(): Promise<void>;
}

/**
 * Headers for every answer: a CSP without inline or eval'd script (styles may be inline: Mantine and CodeMirror
 * write style elements), no framing, no MIME sniffing, no referrer to other sites. HSTS belongs to the TLS proxy
 * of a network deployment, not to a server that may be plain http on loopback.
 */
const SECURITY_HEADERS = {
  contentSecurityPolicy: {
    useDefaults: false,
    directives: {
      defaultSrc: ["'self'"],
      scriptSrc: ["'self'"],
      styleSrc: ["'self'", "'unsafe-inline'"],
      imgSrc: ["'self'", 'data:', 'blob:'],
      fontSrc: ["'self'", 'data:'],
      connectSrc: ["'self'"],
      workerSrc: ["'self'", 'blob:'],
      objectSrc: ["'none'"],
      baseUri: ["'self'"],
      formAction: ["'self'"],
      frameAncestors: ["'none'"],
    },
  },
  crossOriginEmbedderPolicy: false,
  strictTransportSecurity: false,
  referrerPolicy: { policy: 'same-origin' as const },
  frameguard: { action: 'deny' as const },
};

function defaultDir(relative: string): string {
  return fileURLToPath(new URL(relative, import.meta.url));
}

/** A bind the settings do not allow (a network address without accounts). */
export class BindRefusedError extends Error {
  override readonly name = 'BindRefusedError';
}

/** What the client of an events socket may see and cancel: by the role in each execution's project. */
function executionAccess(engine: Engine, auth: RequestAuth): EventsAccess {
  const role = async (executionId: string) => {
    const execution = await engine.getExecution(executionId);
    if (execution.id !== executionId) return undefined;
    return projectRoleOf(engine.accounts, auth, execution.projectId);
  };
  return {
    canRead: async (id) => (await role(id)) !== undefined,
    canCancel: async (id) => roleAtLeast(await role(id), 'writer'),
  };
}

/** Waits for sockets to close, then cuts the ones still open. */
async function closeSockets(sockets: WebSocket[], graceMs: number): Promise<void> {
  const open = sockets.filter((ws) => ws.readyState !== ws.CLOSED);
  if (open.length === 0) return;
  let timer: NodeJS.Timeout | undefined;
  await Promise.race([
    Promise.all(open.map((ws) => new Promise((resolve) => ws.once('close', resolve)))),
    new Promise((resolve) => (timer = setTimeout(resolve, graceMs))),
  ]);
  clearTimeout(timer);
  for (const ws of open) if (ws.readyState !== ws.CLOSED) ws.terminate();
}

/** The web server: REST API, `/api/events`, `/api/collab`, the OpenAPI docs and the client, on one port. */
export async function createServer(options: ServerOptions = {}): Promise<DeepForgeServer> {
  const engine = await openEngine({
    ...(options.dataDir !== undefined ? { dataDir: options.dataDir } : {}),
    ...(options.env !== undefined ? { env: options.env } : {}),
    ...(options.settings !== undefined ? { settings: options.settings } : {}),
    ...(options.operationReader !== undefined ? { operationReader: options.operationReader } : {}),
    // --server: no local compute, jobs run on the remote workers that connect (docs/adr/0015).
    computeBackend: options.compute === 'none' ? 'workers' : 'local',
    // The folders `deepforge run` registered are not read by the server (docs/adr/0028).
    projectFolders: 'data-dir',
    // Local jobs needing GPUs get this machine's, found like a worker's (asked once, when the first such job starts).
    localGpus: async () => (await detectGpus((options.env ?? process.env) as Env)).map((g) => g.index),
  });
  const logger =
    options.logger ??
    pino(
      { level: options.env?.DEEPFORGE_LOG_LEVEL ?? process.env.DEEPFORGE_LOG_LEVEL ?? 'info' },
      pino.destination({ dest: join(engine.dataDir, 'logs', 'server.log'), mkdir: true, sync: false }),
    );
  try {
    return await assemble(engine, logger, options);
  } catch (err) {
    await engine.close();
    throw err;
  }
}

async function assemble(engine: Engine, logger: Logger, options: ServerOptions): Promise<DeepForgeServer> {
  const persistence = new DocumentPersistence({
    store: engine.documents,
    exists: async (name) => (await engine.projects.getProject(name)) !== undefined,
    logger,
  });
  const recorder = new HistoryRecorder();
  // Executions `deepforge run` drives beside this server (docs/adr/0028): their status events on this bus.
  const stopFollowing = engine.followOtherEngines(options.otherEnginesPollMs ?? 1000);
  const hocuspocus = new Hocuspocus({
    name: 'deepforge',
    // Access first: a connection refused there never loads the document.
    extensions: [new CollabAccess(engine.accounts), persistence, recorder],
    // Saves while people type come at most every second, and at least every 5 s.
    debounce: 1000,
    maxDebounce: 5000,
    quiet: true,
  });
  const documents = new ProjectDocuments(
    hocuspocus,
    engine.documents,
    persistence,
    logger,
    options.documentIdleMs,
  );
  const history = new HistoryService({
    engine,
    documents,
    logger,
    ...(options.historyQuietMs !== undefined ? { quietMs: options.historyQuietMs } : {}),
    ...(options.historyMaxChanges !== undefined ? { maxChanges: options.historyMaxChanges } : {}),
  });
  recorder.history = history;

  const app = Fastify({
    loggerInstance: logger,
    // Route params like pipeline names may hold spaces and dots; bodies are small JSON except streamed uploads.
    bodyLimit: 16 * 1024 * 1024,
    return503OnClosing: true,
    // Names are at most 200 characters; longer path segments still reach the routes, which answer in the API's
    // error shape (the default of 100 made names of 101 characters unreachable, even to delete them).
    routerOptions: { maxParamLength: 1000 },
    frameworkErrors: answerFrameworkError,
    // X-Forwarded-* count only from the proxies named in server.trustProxy (request.ip, request.protocol).
    trustProxy: engine.settings.values['server.trustProxy'],
  }).withTypeProvider<ZodTypeProvider>() as unknown as ZodApp;
  app.setValidatorCompiler(validatorCompiler);
  app.setSerializerCompiler(serializerCompiler);
  const settings = engine.settings.values;
  const publicUrl = settings['server.publicUrl'];
  const allowedHosts = [
    ...settings['server.allowedHosts'],
    ...(publicUrl !== undefined ? [new URL(publicUrl).hostname] : []),
  ];
  const authEnabled = settings['auth.enabled'];
  // First of all hooks: a refused request is answered before anything reads its body.
  installRequestGuard(app, allowedHosts);
  await app.register(fastifyCookie);
  // Then who is asking, and whether they may (ADR 0009); still before the body is read.
  installAuth(app, { enabled: authEnabled, accounts: engine.accounts });
  await app.register(fastifyHelmet, SECURITY_HEADERS);
  installErrorHandler(app);
  installStreamParsers(app);

  // Installed with `deepforge extensions add`; read when asked, so an extension added while the server runs shows.
  const extensions = new ExtensionStore({
    dir: options.extensionsDir ?? join(engine.dataDir, 'extensions'),
    deepforgeVersion: SERVER_VERSION,
  });
  const ctx: ServerContext = {
    engine,
    documents,
    extensions,
    projects: new ProjectService({
      extensions,
      engine,
      documents,
      // Beside the Python runtime, in a checkout and in the installed package alike (docs/adr/0024).
      examplesDir: options.examplesDir ?? join(dirname(findRuntimeDir()), 'examples'),
      logger,
      maxImportBytes: engine.settings.values['server.uploadLimit'],
      history,
    }),
    history,
    compute: options.compute ?? 'local',
    monitor: new ComputeMonitor(engine, {
      mode: options.compute === 'none' ? 'workers' : 'local',
      env: options.env ?? process.env,
      logger,
    }),
    uploadLimit: engine.settings.values['server.uploadLimit'],
    version: SERVER_VERSION,
    host: settings['server.host'],
    authEnabled,
    publicUrl,
  };
  // A project folder swap a crash interrupted (PUT …/files) is put right before any request reads the folder.
  await ctx.projects.recoverReplaced();

  await app.register(fastifySwagger, {
    openapi: {
      info: {
        title: 'DeepForge',
        description: `The DeepForge web server's REST API (version ${REST_API_VERSION}). Live data: WebSocket ${EVENTS_PATH} (execution events), ${COLLAB_PATH} (Hocuspocus, one Yjs document per project).`,
        version: SERVER_VERSION,
      },
    },
    transform: jsonSchemaTransform,
  });
  await app.register(fastifySwaggerUi, { routePrefix: '/api/docs' });

  registerHealthRoutes(app, ctx);
  registerAuthRoutes(app, ctx);
  registerMemberRoutes(app, ctx);
  registerProjectRoutes(app, ctx);
  registerHistoryRoutes(app, ctx);
  registerGitRoutes(app, ctx);
  registerPipelineRoutes(app, ctx);
  registerOperationRoutes(app, ctx);
  registerModuleRoutes(app, ctx);
  registerResourceRoutes(app, ctx);
  registerExtensionRoutes(app, ctx);
  registerExecutionRoutes(app, ctx);
  registerArtifactRoutes(app, ctx);
  registerWorkerRoutes(app, ctx);
  registerComputeRoutes(app, ctx);
  // The client's package beside this one: packages/client in a checkout, node_modules/@deepforge/client once
  // installed (docs/adr/0024).
  const clientDir = options.clientDir ?? defaultDir('../../client/dist');
  if (existsSync(join(clientDir, 'index.html'))) {
    await app.register(fastifyStatic, { root: clientDir, wildcard: false, index: ['index.html'] });
  }
  registerClientRoutes(app, clientDir);

  // WebSockets share the HTTP port: upgrades are routed by path, before Fastify sees them.
  const wss = new WebSocketServer({ noServer: true, maxPayload: 16 * 1024 * 1024 });
  const eventSockets = new Set<WebSocket>();
  let closing = false;
  const env = (options.env ?? process.env) as NodeJS.ProcessEnv;
  const languageServers = new LanguageServers({
    dir: join(engine.dataDir, 'lsp'),
    runtimeDir: findRuntimeDir(),
    python: async () => (await engine.python()).executable,
    project: (projectId) => documents.read(projectId, (doc) => projectFromDoc(doc)),
    env,
    logger,
    ...options.languageServers,
  });
  // Its own limit: an LSP message is a file's text at most, far below the other sockets' 16 MiB.
  const lspWss = new WebSocketServer({ noServer: true, maxPayload: languageServers.maxMessageBytes });
  const refuseSocket = (socket: Duplex, status: string, message: string): void => {
    const body = Buffer.from(`${message}\n`);
    socket.end(
      `HTTP/1.1 ${status}\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: ${body.length}\r\nConnection: close\r\n\r\n${body.toString()}`,
    );
  };
  /** After the caller is known: members of the project only (any role: readers get completions too). */
  const upgradeLsp = async (
    request: IncomingMessage,
    socket: Duplex,
    head: Buffer,
    auth: RequestAuth,
  ): Promise<void> => {
    const projectId = new URL(request.url ?? '/', 'http://localhost').searchParams.get('project') ?? '';
    if (!/^[0-9a-z]{1,64}$/.test(projectId)) {
      refuseSocket(socket, '400 Bad Request', 'name the project: /api/lsp?project=<project id>');
      return;
    }
    const role = await projectRoleOf(engine.accounts, auth, projectId);
    // Not a member: the same answer as for a project that does not exist, so ids cannot be probed.
    if (role === undefined || (await engine.projects.getProject(projectId)) === undefined) {
      refuseSocket(socket, '404 Not Found', `there is no project ${projectId}`);
      return;
    }
    let server;
    try {
      server = await languageServers.acquire(projectId);
    } catch (err) {
      if (err instanceof LanguageServersBusyError) {
        refuseSocket(socket, '503 Service Unavailable', err.message);
        return;
      }
      throw err;
    }
    lspWss.handleUpgrade(request, socket, head, (ws) => {
      handleLspSocket(
        ws,
        server,
        languageServers.workspaceOf(projectId),
        roleAtLeast(role, 'writer'),
        logger,
        () => languageServers.released(projectId),
      );
    });
  };
  // A worker has no account: its worker token is its only credential, checked before the upgrade.
  const upgradeWorker = (request: IncomingMessage, socket: Duplex, head: Buffer): void => {
    const refuse = (status: string, message: string): void => {
      const body = Buffer.from(`${message}\n`);
      socket.end(
        `HTTP/1.1 ${status}\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: ${body.length}\r\nConnection: close\r\n\r\n${body.toString()}`,
      );
    };
    void (async () => {
      const compute = engine.remoteCompute;
      if (!compute) {
        refuse('409 Conflict', 'this server runs jobs itself: start it with --server to attach workers');
        return;
      }
      const bearer = bearerOf(request.headers.authorization);
      const token = bearer === undefined ? undefined : await engine.workerTokens.resolve(bearer);
      if (!token) {
        refuse(
          '401 Unauthorized',
          'a valid worker token is needed (Authorization: Bearer dfw_…): unknown or revoked',
        );
        return;
      }
      wss.handleUpgrade(request, socket, head, (ws) => {
        handleWorkerSocket(ws, compute, engine.workerTokens, token, logger);
      });
    })().catch((err: unknown) => {
      logger.error({ err }, 'worker WebSocket upgrade failed');
      socket.destroy();
    });
  };
  app.server.on('upgrade', (request: IncomingMessage, socket: Duplex, head: Buffer) => {
    if (refuseUpgrade(request, socket, allowedHosts)) return;
    const path = new URL(request.url ?? '/', 'http://localhost').pathname;
    if (path === WORKERS_PATH && !closing) {
      upgradeWorker(request, socket, head);
      return;
    }
    if (closing || (path !== COLLAB_PATH && path !== EVENTS_PATH && path !== LSP_PATH)) {
      socket.end(closing ? 'HTTP/1.1 503 Service Unavailable\r\n\r\n' : 'HTTP/1.1 404 Not Found\r\n\r\n');
      return;
    }
    void (async () => {
      let auth: RequestAuth = { mode: 'off' };
      if (authEnabled) {
        const { identity, problem } = await authenticate(engine.accounts, request);
        if (!identity) {
          const body = Buffer.from(`${problem ?? 'sign in first'}\n`);
          socket.end(
            `HTTP/1.1 401 Unauthorized\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: ${body.length}\r\nConnection: close\r\n\r\n${body.toString()}`,
          );
          return;
        }
        auth = { mode: 'on', identity };
      }
      if (path === LSP_PATH) {
        await upgradeLsp(request, socket, head, auth);
        return;
      }
      wss.handleUpgrade(request, socket, head, (ws) => {
        if (path === COLLAB_PATH) {
          hocuspocus.handleConnection(ws, request, { auth } satisfies CollabContext);
          return;
        }
        eventSockets.add(ws);
        ws.on('close', () => eventSockets.delete(ws));
        handleEventsSocket(
          ws,
          engine,
          logger,
          `deepforge-server ${SERVER_VERSION}`,
          auth.mode === 'off' ? undefined : executionAccess(engine, auth),
          {
            watch: (send) =>
              ctx.monitor.watch(send, async (projectId) =>
                auth.mode === 'off'
                  ? true
                  : (await projectRoleOf(engine.accounts, auth, projectId)) !== undefined,
              ),
          },
        );
      });
    })().catch((err: unknown) => {
      logger.error({ err }, 'WebSocket upgrade failed');
      socket.destroy();
    });
  });

  await app.ready();

  let closed: Promise<void> | undefined;
  return {
    app,
    engine,
    documents,
    history,
    languageServers,
    async listen(port: number, host = settings['server.host']): Promise<string> {
      const problem = bindProblem(host, authEnabled);
      if (problem !== undefined) throw new BindRefusedError(problem);
      await app.listen({ port, host });
      const address = app.server.address() as AddressInfo;
      ctx.host = host;
      if (publicUrl !== undefined) return publicUrl;
      const local = isLoopbackHost(host) || host === '0.0.0.0' || host === '::';
      return `http://${local ? 'localhost' : host.includes(':') ? `[${host}]` : host}:${address.port}`;
    },
    close(): Promise<void> {
      closed ??= (async () => {
        closing = true;
        stopFollowing();
        ctx.monitor.close();
        for (const ws of eventSockets) ws.close(1001, 'the server is shutting down');
        hocuspocus.closeConnections();
        // Upgraded sockets keep the HTTP server from closing: give them a moment for the close handshake.
        for (const ws of lspWss.clients) ws.close(1001, 'the server is shutting down');
        await closeSockets([...wss.clients, ...lspWss.clients], 1000);
        await languageServers.close();
        await app.close();
        // Pending checkpoints read the documents: before those close.
        await history.close();
        await documents.close();
        wss.close();
        lspWss.close();
        await engine.close();
        logger.info('server closed');
        logger.flush?.();
      })();
      return closed;
    },
  };
}
