import { join } from 'node:path';
import type { Logger } from 'pino';
import type { Project } from '@deepforge/core';
import { LanguageServerProcess } from './language-server.process.js';
import { materializeWorkspace } from './lsp-workspace.js';

export interface LanguageServersOptions {
  /** `<data dir>/lsp`: one workspace folder per project below it. */
  dir: string;
  runtimeDir: string;
  /** The interpreter that runs the jobs (asked when the first server starts). */
  python: () => Promise<string>;
  /** The project as its document holds it now. */
  project: (projectId: string) => Promise<Project>;
  env: NodeJS.ProcessEnv;
  logger: Logger;
  /** How many language servers may run at once (each holds ~150–300 MB once torch is inferred). */
  maxProcesses?: number;
  /** How long a server with no open editor is kept. */
  idleMs?: number;
  maxMessageBytes?: number;
}

/** Every project's server is busy with open editors and no more may start. */
export class LanguageServersBusyError extends Error {
  override readonly name = 'LanguageServersBusyError';
}

interface Entry {
  process: LanguageServerProcess;
  idleTimer: NodeJS.Timeout | undefined;
  lastUsed: number;
}

/**
 * The language server processes: one per project with an open code editor, started when the first editor
 * connects, stopped after `idleMs` without editors, at most `maxProcesses` at once (an idle one is stopped to make
 * room). A process that crashes is forgotten; the editors it served reconnect and start a new one.
 */
export class LanguageServers {
  private readonly entries = new Map<string, Entry>();
  private closed = false;
  private queue: Promise<unknown> = Promise.resolve();
  readonly maxProcesses: number;
  readonly maxMessageBytes: number;
  private readonly idleMs: number;

  constructor(private readonly options: LanguageServersOptions) {
    this.maxProcesses = options.maxProcesses ?? 4;
    this.idleMs = options.idleMs ?? 120_000;
    this.maxMessageBytes = options.maxMessageBytes ?? 4 * 1024 * 1024;
  }

  workspaceOf(projectId: string): string {
    return join(this.options.dir, projectId);
  }

  /** The project's process, when one runs. */
  running(projectId: string): LanguageServerProcess | undefined {
    return this.entries.get(projectId)?.process;
  }

  /** How many processes run now. */
  get size(): number {
    return this.entries.size;
  }

  /**
   * The project's language server (started if needed), its workspace folder written from the project document
   * first. Throws LanguageServersBusyError when the limit is reached and no server is idle.
   */
  acquire(projectId: string): Promise<LanguageServerProcess> {
    // One at a time: two editors opening together must not start two servers for one project.
    const next = this.queue.then(() => this.acquireNow(projectId));
    this.queue = next.catch(() => undefined);
    return next;
  }

  private async acquireNow(projectId: string): Promise<LanguageServerProcess> {
    if (this.closed) throw new LanguageServersBusyError('the server is shutting down');
    const root = this.workspaceOf(projectId);
    await materializeWorkspace(root, await this.options.project(projectId));
    let entry = this.entries.get(projectId);
    if (!entry || !entry.process.alive) {
      await this.makeRoom();
      const process = new LanguageServerProcess({
        python: await this.options.python(),
        runtimeDir: this.options.runtimeDir,
        root,
        env: this.options.env,
        logger: this.options.logger.child({ languageServer: projectId }),
        maxMessageBytes: this.maxMessageBytes,
      });
      const created: Entry = { process, idleTimer: undefined, lastUsed: Date.now() };
      process.onExit = (reason) => {
        clearTimeout(created.idleTimer);
        if (this.entries.get(projectId) === created) this.entries.delete(projectId);
        this.options.logger.info({ projectId, reason }, 'language server gone');
      };
      this.entries.set(projectId, created);
      entry = created;
    }
    clearTimeout(entry.idleTimer);
    entry.idleTimer = undefined;
    entry.lastUsed = Date.now();
    return entry.process;
  }

  /** Called when an editor of the project disconnects: a server without editors is stopped after idleMs. */
  released(projectId: string): void {
    const entry = this.entries.get(projectId);
    if (!entry || entry.process.peerCount > 0) return;
    entry.lastUsed = Date.now();
    clearTimeout(entry.idleTimer);
    entry.idleTimer = setTimeout(() => {
      if (entry.process.peerCount === 0) void this.stop(projectId);
    }, this.idleMs);
    entry.idleTimer.unref();
  }

  private async makeRoom(): Promise<void> {
    if (this.entries.size < this.maxProcesses) return;
    const idle = [...this.entries.entries()]
      .filter(([, e]) => e.process.peerCount === 0)
      .sort((a, b) => a[1].lastUsed - b[1].lastUsed)[0];
    if (!idle) {
      throw new LanguageServersBusyError(
        `${this.maxProcesses} projects have code editors open, the most language servers that may run at once: close an editor of another project or try again later`,
      );
    }
    await this.stop(idle[0]);
  }

  private async stop(projectId: string): Promise<void> {
    const entry = this.entries.get(projectId);
    if (!entry) return;
    clearTimeout(entry.idleTimer);
    this.entries.delete(projectId);
    await entry.process.stop();
  }

  async close(): Promise<void> {
    this.closed = true;
    await Promise.all([...this.entries.keys()].map((id) => this.stop(id)));
  }
}
