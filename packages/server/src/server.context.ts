import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import type { FastifyBaseLogger, FastifyInstance } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import type { Engine, ExtensionStore } from '@deepforge/engine';
import type { ComputeMonitor } from './compute/compute.monitor.js';
import type { ProjectDocuments } from './documents/project-documents.js';
import type { HistoryService } from './history/history.service.js';
import type { ProjectService } from './projects/project.service.js';

/** The Fastify instance routes are registered on: zod schemas validate and type every request. */
export type ZodApp = FastifyInstance<
  Server,
  IncomingMessage,
  ServerResponse,
  FastifyBaseLogger,
  ZodTypeProvider
>;

/** `local`: this server runs operations. `none` (`deepforge start --server`): executions need a worker. */
export type ComputeMode = 'local' | 'none';

/** What the routes share. */
export interface ServerContext {
  engine: Engine;
  documents: ProjectDocuments;
  projects: ProjectService;
  /** Installed extensions (`<dataDir>/extensions`, docs/extensions.md). */
  extensions: ExtensionStore;
  /** Project history: versions in a git repository per project (docs/adr/0020). */
  history: HistoryService;
  compute: ComputeMode;
  /** The Compute view's workers, load and waiting jobs. */
  monitor: ComputeMonitor;
  /** The largest artifact upload, in bytes (`server.uploadLimit`). */
  uploadLimit: number;
  version: string;
  /** The interface the server listens on, once it does. */
  host: string;
  /** Accounts on (auth.enabled): every request needs a session or a token. */
  authEnabled: boolean;
  /** server.publicUrl: where people reach the server (https there makes cookies Secure). */
  publicUrl: string | undefined;
}
