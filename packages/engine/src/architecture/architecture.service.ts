import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import {
  ArchitectureSchema,
  validateArchitecture,
  type Architecture,
  type ArchitectureShapeReport,
  type Diagnostic,
  type LayerCatalog,
  type Project,
} from '@deepforge/core';
import { codeFiles } from '../code-snapshot.js';
import { findRuntimeDir, pythonEnv } from '../compute/python-interpreter.js';
import type { Env } from '../settings.js';

/** Reading the catalog imports torch and the project's utils: seconds, never minutes. */
export const ARCHITECTURE_PYTHON_TIMEOUT_MS = 60_000;
/** The answer of one request; a catalog is ~200 KiB, a shape report of 5,000 layers a few MiB. */
const MAX_ANSWER_BYTES = 64 * 1024 * 1024;

export interface ArchitectureServiceOptions {
  /** The interpreter with torch (the engine's `python` setting). */
  python: string;
  /** Where the torch part of the catalog is cached, per interpreter and torch version (the data dir's cache). */
  cacheDir?: string;
  runtimeDir?: string;
  env?: Env;
  timeoutMs?: number;
  /**
   * Keep one Python running (`--serve`) and send it every request, so torch is imported once: for a server
   * whose editor asks after every edit. It is stopped after `idleMs` without requests, and after a timeout
   * (the next request starts a new one). Without it each request starts its own Python (the CLI).
   */
  persistent?: boolean;
  /** How long a persistent Python waits for the next request before it is stopped (default 120 s). */
  idleMs?: number;
}

/** The one Python a persistent service sends its requests to. */
interface ServingPython {
  child: ChildProcessWithoutNullStreams;
  /** The answer being waited for (requests go one at a time). */
  waiting: { id: number; resolve: (line: unknown) => void; reject: (err: Error) => void } | null;
  buffer: string;
  stderrTail: string;
}

/** Python could not answer: it is missing, timed out, or the request failed. */
export class ArchitecturePythonError extends Error {
  override readonly name = 'ArchitecturePythonError';
}

export interface ArchitectureCheck {
  /** Problems found without running anything (unknown classes, missing or mistyped arguments, cycles). */
  diagnostics: Diagnostic[];
  /** Shapes and parameters computed by PyTorch; null when the graph cannot run at all (errors above). */
  shapes: ArchitectureShapeReport | null;
  catalog: LayerCatalog;
}

/**
 * The Python side of architectures (python/deepforge/architecture): the layer catalog and shape inference, each
 * a `python -m deepforge.architecture` subprocess (so the event loop only waits), bounded in time and in the
 * size of its answer, killed with its process group when it takes too long.
 */
export class ArchitectureService {
  private readonly runtimeDir: string;
  private readonly catalogs = new Map<string, Promise<LayerCatalog>>();
  private serving: ServingPython | null = null;
  /** Requests to the persistent Python, one after another. */
  private queue: Promise<unknown> = Promise.resolve();
  private nextId = 1;
  private idleTimer: NodeJS.Timeout | undefined;
  /** The code dir a persistent service keeps: the last utils/ code it was given (`withUtils`). */
  private utilsDir: { key: string; dir: Promise<string> } | null = null;

  constructor(private readonly options: ArchitectureServiceOptions) {
    this.runtimeDir = options.runtimeDir ?? findRuntimeDir();
  }

  /**
   * The layers `project` may use: torch.nn's and the nn.Module subclasses of its utils/. Remembered per
   * interpreter and utils code, so only a change of the project's layers reads it again.
   */
  catalog(project: Pick<Project, 'utils'>): Promise<LayerCatalog> {
    const key = this.catalogKey(project);
    let pending = this.catalogs.get(key);
    if (!pending) {
      pending = this.withCode({ ...emptyProject(), utils: project.utils }, (codeDir) =>
        this.ask<LayerCatalog>({ command: 'catalog', cacheDir: this.options.cacheDir ?? null, codeDir }),
      );
      this.remember(key, pending);
    }
    return pending;
  }

  private catalogKey(project: Pick<Project, 'utils'>): string {
    return createHash('sha256')
      .update(this.options.python)
      .update('\0')
      .update(JSON.stringify(Object.entries(project.utils).sort(([a], [b]) => (a < b ? -1 : 1))))
      .digest('hex');
  }

  private remember(key: string, pending: Promise<LayerCatalog>): void {
    this.catalogs.set(key, pending);
    // A failure is not remembered: the next call tries again.
    pending.catch(() => this.catalogs.delete(key));
    if (this.catalogs.size > 32) this.catalogs.delete(this.catalogs.keys().next().value!);
  }

  /**
   * Checks the architecture `name` of `project`: core's validation against the catalog, then, when nothing
   * prevents running it, shape inference by PyTorch on the meta device.
   */
  async check(project: Project, name: string): Promise<ArchitectureCheck> {
    const resources = project.resources ?? {};
    const arch = Object.hasOwn(resources, name) ? resources[name] : undefined;
    if (!arch) throw new ArchitecturePythonError(`there is no architecture "${name}" in resources/`);
    // What stops the graph from running at all is known without PyTorch; then only the catalog is read.
    const structural = validateArchitecture(arch, { resources });
    if (structural.some((d) => d.severity === 'error' && BLOCKING.has(d.code))) {
      const catalog = await this.catalog(project);
      return { diagnostics: validateArchitecture(arch, { resources, catalog }), shapes: null, catalog };
    }
    // Only utils/ is read from the code dir (custom layers); architectures, nested ones too, go as JSON.
    const ask = (withCatalog: boolean) =>
      this.withUtils(project, (codeDir) =>
        this.ask<{ catalog?: LayerCatalog; shapes: ArchitectureShapeReport } | ArchitectureShapeReport>({
          command: 'check',
          codeDir,
          resources,
          name,
          catalog: withCatalog,
          cacheDir: this.options.cacheDir ?? null,
        }),
      );
    // The catalog is asked for once per utils/ code (~100 KiB of JSON): the editor checks after every edit.
    const key = this.catalogKey(project);
    const known = this.catalogs.get(key);
    let catalog: LayerCatalog;
    let shapes: ArchitectureShapeReport;
    if (known) {
      [catalog, shapes] = await Promise.all([known, ask(false) as Promise<ArchitectureShapeReport>]);
    } else {
      // One interpreter start for both: importing torch is most of the time.
      const answer = (await ask(true)) as { catalog: LayerCatalog; shapes: ArchitectureShapeReport };
      ({ catalog, shapes } = answer);
      this.remember(key, Promise.resolve(catalog));
    }
    return { diagnostics: validateArchitecture(arch, { resources, catalog }), shapes, catalog };
  }

  /**
   * A plain nn.Module class of the project (`utils.models.Net`) as an architecture named `name`, traced with
   * torch.fx and checked to compute what the class does; rejects with the reason when it cannot be one.
   */
  async importModule(
    project: Project,
    options: {
      className: string;
      name: string;
      inputShapes: Record<string, (number | string)[]>;
      arguments?: Record<string, unknown>;
    },
  ): Promise<Architecture> {
    const { architecture } = await this.withCode(project, (codeDir) =>
      this.ask<{ architecture: unknown }>({
        command: 'import',
        codeDir,
        className: options.className,
        name: options.name,
        inputShapes: options.inputShapes,
        arguments: options.arguments ?? {},
      }),
    );
    const parsed = ArchitectureSchema.safeParse(architecture);
    if (!parsed.success) {
      throw new ArchitecturePythonError(
        `the imported architecture is not valid: ${parsed.error.issues[0]?.message ?? 'unknown problem'}`,
      );
    }
    return parsed.data;
  }

  private async withCode<T>(project: Project, run: (codeDir: string) => Promise<T>): Promise<T> {
    const dir = await mkdtemp(join(tmpdir(), 'deepforge-architecture-'));
    try {
      await writeCodeFiles(dir, project);
      return await run(dir);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  }

  /**
   * Runs `run` with a code dir holding the project's utils/. A persistent service keeps the dir of the last
   * utils/ code it was given, so the checks after each edit of a graph write nothing; the dir of older code is
   * removed once the requests queued before it have been answered.
   */
  private async withUtils<T>(project: Project, run: (codeDir: string) => Promise<T>): Promise<T> {
    const utilsOnly = { ...emptyProject(), utils: project.utils };
    if (!this.options.persistent) return this.withCode(utilsOnly, run);
    const key = this.catalogKey(project);
    if (this.utilsDir?.key !== key) {
      const previous = this.utilsDir;
      const dir = mkdtemp(join(tmpdir(), 'deepforge-architecture-')).then(async (d) => {
        await writeCodeFiles(d, utilsOnly);
        return d;
      });
      this.utilsDir = { key, dir };
      dir.catch(() => {
        if (this.utilsDir?.dir === dir) this.utilsDir = null;
      });
      if (previous) void this.removeAfterQueue(previous.dir);
    }
    return run(await this.utilsDir.dir);
  }

  private async removeAfterQueue(dir: Promise<string>): Promise<void> {
    await this.queue;
    const path = await dir.catch(() => null);
    if (path) await rm(path, { recursive: true, force: true }).catch(() => undefined);
  }

  /** Stops the persistent Python, if one runs, and removes the code dir it kept. */
  close(): void {
    clearTimeout(this.idleTimer);
    this.stopServing();
    if (this.utilsDir) void this.removeAfterQueue(this.utilsDir.dir);
    this.utilsDir = null;
  }

  private ask<T>(request: Record<string, unknown>): Promise<T> {
    if (!this.options.persistent) return this.askOnce<T>(request);
    const next = this.queue.then(() => this.askServing<T>(request));
    this.queue = next.catch(() => undefined);
    return next;
  }

  private env(): Record<string, string> {
    const env = pythonEnv(this.options.env ?? process.env, this.runtimeDir);
    env.PYTHONDONTWRITEBYTECODE = '1';
    return env;
  }

  private startServing(): ServingPython {
    const child = spawn(this.options.python, ['-m', 'deepforge.architecture', '--serve'], {
      env: this.env(),
      cwd: this.runtimeDir,
      stdio: ['pipe', 'pipe', 'pipe'],
      detached: true,
    });
    const serving: ServingPython = { child, waiting: null, buffer: '', stderrTail: '' };
    child.stdout.on('data', (chunk: Buffer) => {
      serving.buffer += chunk.toString('utf8');
      if (serving.buffer.length > MAX_ANSWER_BYTES) {
        serving.waiting?.reject(
          new ArchitecturePythonError(`the answer is larger than ${MAX_ANSWER_BYTES} bytes`),
        );
        serving.waiting = null;
        this.stopServing();
        return;
      }
      let nl: number;
      while ((nl = serving.buffer.indexOf('\n')) >= 0) {
        const line = serving.buffer.slice(0, nl);
        serving.buffer = serving.buffer.slice(nl + 1);
        const waiting = serving.waiting;
        serving.waiting = null;
        try {
          waiting?.resolve(JSON.parse(line));
        } catch {
          waiting?.reject(new ArchitecturePythonError(`the Python side answered something else than JSON`));
        }
      }
    });
    child.stderr.on('data', (chunk: Buffer) => {
      serving.stderrTail = (serving.stderrTail + chunk.toString('utf8')).slice(-4000);
    });
    const gone = (why: string): void => {
      if (this.serving === serving) this.serving = null;
      serving.waiting?.reject(new ArchitecturePythonError(why));
      serving.waiting = null;
    };
    child.on('error', (err) => gone(`cannot run ${this.options.python}: ${err.message}`));
    child.on('close', (code) => {
      const said = serving.stderrTail.trim().split('\n').slice(-3).join(' ');
      gone(
        `${this.options.python} -m deepforge.architecture --serve exited with ${code}${said ? `: ${said}` : ''}`,
      );
    });
    child.stdin.on('error', () => undefined);
    return serving;
  }

  private stopServing(): void {
    const serving = this.serving;
    this.serving = null;
    if (!serving) return;
    try {
      process.kill(-serving.child.pid!, 'SIGKILL');
    } catch {
      // Already gone.
    }
  }

  private askServing<T>(request: Record<string, unknown>): Promise<T> {
    clearTimeout(this.idleTimer);
    const timeoutMs = this.options.timeoutMs ?? ARCHITECTURE_PYTHON_TIMEOUT_MS;
    this.serving ??= this.startServing();
    const serving = this.serving;
    const id = this.nextId++;
    return new Promise<T>((resolve, reject) => {
      const timer = setTimeout(() => {
        serving.waiting = null;
        this.stopServing();
        reject(new ArchitecturePythonError(`PyTorch did not answer within ${describeMs(timeoutMs)}`));
      }, timeoutMs);
      const done = (): void => {
        clearTimeout(timer);
        this.idleTimer = setTimeout(() => this.stopServing(), this.options.idleMs ?? 120_000);
        // An idle Python must not keep a process that is otherwise done from exiting.
        this.idleTimer.unref();
      };
      serving.waiting = {
        id,
        resolve: (answer) => {
          done();
          if (answer && typeof answer === 'object' && 'error' in answer) {
            reject(new ArchitecturePythonError(String((answer as { error: unknown }).error)));
            return;
          }
          const { id: _, ...rest } = answer as Record<string, unknown>;
          resolve(('answer' in rest ? rest.answer : rest) as T);
        },
        reject: (err) => {
          done();
          reject(err);
        },
      };
      serving.child.stdin.write(`${JSON.stringify({ ...request, id })}\n`);
    });
  }

  private askOnce<T>(request: Record<string, unknown>): Promise<T> {
    const timeoutMs = this.options.timeoutMs ?? ARCHITECTURE_PYTHON_TIMEOUT_MS;
    const env = this.env();
    return new Promise<T>((resolve, reject) => {
      const child = spawn(this.options.python, ['-m', 'deepforge.architecture'], {
        env,
        cwd: this.runtimeDir,
        stdio: ['pipe', 'pipe', 'pipe'],
        // Its own process group: a timeout kills what the project's code started too.
        detached: true,
      });
      const out: Buffer[] = [];
      let outBytes = 0;
      let errTail = '';
      let failure: string | null = null;
      const kill = (why: string): void => {
        failure ??= why;
        try {
          process.kill(-child.pid!, 'SIGKILL');
        } catch {
          // Already gone.
        }
      };
      const timer = setTimeout(
        () => kill(`PyTorch did not answer within ${describeMs(timeoutMs)}`),
        timeoutMs,
      );
      child.stdout.on('data', (chunk: Buffer) => {
        outBytes += chunk.length;
        if (outBytes > MAX_ANSWER_BYTES) kill(`the answer is larger than ${MAX_ANSWER_BYTES} bytes`);
        else out.push(chunk);
      });
      child.stderr.on('data', (chunk: Buffer) => {
        errTail = (errTail + chunk.toString('utf8')).slice(-4000);
      });
      child.on('error', (err) => {
        clearTimeout(timer);
        reject(new ArchitecturePythonError(`cannot run ${this.options.python}: ${err.message}`));
      });
      child.on('close', (code) => {
        clearTimeout(timer);
        if (failure) return reject(new ArchitecturePythonError(failure));
        let answer: unknown;
        try {
          answer = JSON.parse(Buffer.concat(out).toString('utf8'));
        } catch {
          const said = errTail.trim().split('\n').slice(-3).join(' ');
          return reject(
            new ArchitecturePythonError(
              `${this.options.python} -m deepforge.architecture exited with ${code}${said ? `: ${said}` : ''}`,
            ),
          );
        }
        if (answer && typeof answer === 'object' && 'error' in answer) {
          return reject(new ArchitecturePythonError(String((answer as { error: unknown }).error)));
        }
        resolve(answer as T);
      });
      child.stdin.on('error', () => undefined);
      child.stdin.end(JSON.stringify(request));
    });
  }
}

/** Problems that stop the graph from being run at all; the others are shown beside the shapes. */
const BLOCKING: ReadonlySet<string> = new Set([
  'duplicate-layer',
  'reserved-layer-id',
  'unknown-layer',
  'no-input',
  'no-output',
  'unknown-output',
  'cycle',
  'input-shape',
  'input-has-inputs',
  'unknown-resource',
  'resource-cycle',
  'nesting-too-deep',
]);

function describeMs(ms: number): string {
  return ms >= 1000 ? `${Math.round(ms / 1000)} s` : `${ms} ms`;
}

/** The project's utils/ and generated resources/ modules, written under `dir`. */
async function writeCodeFiles(dir: string, project: Project): Promise<void> {
  for (const [rel, content] of codeFiles(project)) {
    if (!rel.startsWith('utils/') && !rel.startsWith('resources/')) continue;
    const file = join(dir, ...rel.split('/'));
    await mkdir(dirname(file), { recursive: true });
    await writeFile(file, content);
  }
}

function emptyProject(): Project {
  return {
    manifest: { name: 'catalog', formatVersion: 1 },
    operations: {},
    pipelines: {},
    utils: {},
    serializers: {},
    artifacts: {},
  };
}
