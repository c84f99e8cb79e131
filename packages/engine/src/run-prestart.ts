import { readdirSync, readFileSync, statSync } from 'node:fs';
import { homedir } from 'node:os';
import { join, resolve } from 'node:path';
import { harnessEnvironment } from './compute/harness-environment.js';
import { cachedPython, findRuntimeDir, PYTHON_CHECKS_FILE } from './compute/python-interpreter.js';
import {
  WarmWorker,
  type PrestartedWarmWorker,
  type WarmWorkerLogger,
  type WarmWorkerWanted,
} from './compute/warm-worker.js';
import type { OperationReader } from './operation-reader.js';
import { loadSettings, type Env } from './settings.js';
import { newId } from './store/new-id.js';

/**
 * What `deepforge run` starts before the program has loaded (docs/adr/0029): the operation reader's worker thread
 * and, when the interpreter's check is remembered, its warm worker. Given to `openEngine({ prestarted })`, which
 * takes what matches its own settings and leaves the rest; `discard()` then stops what nobody took.
 */
export interface PrestartedRun {
  /** The engine's runner id: the warm worker's environment names it, as the engine's own would. */
  readonly runnerId: string;
  /** The started reader, once (then the taker's to close); undefined after that. */
  takeReader(): OperationReader | undefined;
  /** The started warm worker, if any (see PrestartedWarmWorker). */
  readonly warmWorker: PrestartedWarmWorker | undefined;
  /** Stops what was not taken. */
  discard(): Promise<void>;
}

/** Holds what a warm worker reports until someone takes it (at most a few lines: it reports failures). */
class HeldLogger implements WarmWorkerLogger {
  private target: WarmWorkerLogger | undefined;
  private held: ['warn' | 'debug', object, string][] = [];

  warn(details: object, message: string): void {
    this.report('warn', details, message);
  }

  debug(details: object, message: string): void {
    this.report('debug', details, message);
  }

  passTo(target: WarmWorkerLogger): void {
    this.target = target;
    for (const [level, details, message] of this.held.splice(0)) target[level](details, message);
  }

  private report(level: 'warn' | 'debug', details: object, message: string): void {
    if (this.target) this.target[level](details, message);
    else if (this.held.length < 100) this.held.push([level, details, message]);
  }
}

class StartedWarmWorker implements PrestartedWarmWorker {
  private readonly logger = new HeldLogger();
  private readonly worker: WarmWorker;
  private settled = false;

  constructor(
    private readonly python: string,
    private readonly env: Record<string, string>,
    private readonly cwd: string,
  ) {
    this.worker = new WarmWorker({ python, env, cwd, logger: this.logger });
  }

  take(python: string, wanted: WarmWorkerWanted): WarmWorker | undefined {
    if (this.settled) return undefined;
    const same =
      python === this.python &&
      wanted.cwd === this.cwd &&
      wanted.forkTimeoutMs === undefined &&
      sameEnv(wanted.env, this.env);
    if (!same) {
      this.discard();
      return undefined;
    }

    this.settled = true;
    this.logger.passTo(wanted.logger);
    return this.worker;
  }

  discard(): void {
    if (this.settled) return;
    this.settled = true;
    this.worker.close();
  }
}

function sameEnv(a: Record<string, string>, b: Record<string, string>): boolean {
  const keys = Object.keys(a);
  return keys.length === Object.keys(b).length && keys.every((k) => Object.hasOwn(b, k) && a[k] === b[k]);
}

/** Where `deepforge run` keeps operation readings: `$XDG_CACHE_HOME/deepforge/readings` (by default `~/.cache/…`). */
export function readingsFolder(env: Env): string {
  const base =
    env.XDG_CACHE_HOME && env.XDG_CACHE_HOME.startsWith('/') ? env.XDG_CACHE_HOME : join(homedir(), '.cache');
  return join(base, 'deepforge', 'readings');
}

/** More operations than this in a folder are not looked at ahead of the run: the reader's worker is started. */
const AHEAD_OPERATIONS = 200;
const AHEAD_BYTES = 1024 * 1024;

/**
 * The operations (name → code) of the project folder among the command's arguments (the first that holds a
 * deepforge.json), read as the run will read them; undefined when there is none or they are too many or too large to
 * look at here. Only decides whether the reader's worker starts ahead: the run reads the folder itself.
 */
function operationsAhead(args: readonly string[], cwd: string): Record<string, string> | undefined {
  try {
    const dir = args
      .filter((a) => !a.startsWith('-'))
      .map((a) => resolve(cwd, a))
      .find((d) => statSync(join(d, 'deepforge.json'), { throwIfNoEntry: false })?.isFile() === true);
    if (dir === undefined) return undefined;
    const entries = readdirSync(join(dir, 'operations'), { withFileTypes: true }).filter(
      (e) => e.isFile() && e.name.endsWith('.py') && !e.name.startsWith('.'),
    );
    if (entries.length > AHEAD_OPERATIONS) return undefined;
    const operations: Record<string, string> = {};
    let bytes = 0;
    for (const e of entries) {
      const file = join(dir, 'operations', e.name);
      // Sized before it is read: a huge file is the run's to refuse, not read here.
      bytes += statSync(file).size;
      if (bytes > AHEAD_BYTES) return undefined;
      operations[e.name.slice(0, -'.py'.length)] = readFileSync(file, 'utf8');
    }
    return operations;
  } catch {
    return undefined;
  }
}

/**
 * Starts what a local run's first job will wait for, from the settings and the remembered interpreter checks as the
 * engine reads them (loadSettings, cachedPython): never an interpreter check itself. Whatever cannot be read here
 * (a broken config file) is left to the engine, which reports it. `args` are the command's arguments: the project
 * folder among them has its operations' readings taken from the cache folder (readingsFolder) when it holds them,
 * and the reader's worker is started only when it does not.
 */
export async function prestartRun(
  env: Env,
  args: readonly string[] = [],
  cwd = process.cwd(),
): Promise<PrestartedRun> {
  const runnerId = newId();
  // The reader first: its worker takes longest to be ready (a thread loading core's reading bundle), and the run
  // needs it first. Loaded on demand: in the program's bundle, what the reader imports (core) is evaluated here.
  const { OperationReader } = await import('./operation-reader.js');
  let reader: OperationReader | undefined = new OperationReader({ keepIn: readingsFolder(env) });
  const ahead = operationsAhead(args, cwd);
  if (ahead === undefined || !reader.takeKept(ahead)) reader.warm();
  let warmWorker: StartedWarmWorker | undefined;
  try {
    const settings = await loadSettings({ env });
    const v = settings.values;
    if (v['compute.backend'] === 'local' && v['executions.warmWorker']) {
      const runtimeDir = findRuntimeDir();
      const python = await cachedPython(v.python, {
        runtimeDir,
        env,
        cacheFile: join(settings.dataDir, PYTHON_CHECKS_FILE),
      });
      if (python) {
        warmWorker = new StartedWarmWorker(
          python.command,
          harnessEnvironment(env, runtimeDir, { runnerId }),
          runtimeDir,
        );
      }
    }
  } catch {
    // Nothing started: the engine reads the settings again and says what is wrong.
  }
  return {
    runnerId,
    warmWorker,
    takeReader() {
      const taken = reader;
      reader = undefined;
      return taken;
    },
    async discard() {
      warmWorker?.discard();
      const left = reader;
      reader = undefined;
      await left?.close();
    },
  };
}
