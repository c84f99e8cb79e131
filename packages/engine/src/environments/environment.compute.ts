import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import {
  DEPENDENCIES_SUFFIX,
  needsEnvironment,
  parseEnvironmentFile,
  pythonVersionProblem,
} from '@deepforge/core';
import { RUNTIME_PROTOCOL_VERSION } from '@deepforge/protocol/engine';
import { ConsoleLog } from '../compute/console-log.js';
import type { Compute, ComputeHandlers, ComputeJobRequest, RunningJob } from '../compute/job.compute.js';
import type { PrestartedWarmWorker } from '../compute/warm-worker.js';
import { EnvironmentError } from '../errors.js';
import type { Env, Settings } from '../settings.js';
import { EnvironmentCache, type BuildProgress } from './environment.cache.js';

/** The environment cache the settings describe (environments.dir, environments.maxBytes, environments.pipArgs). */
export function openEnvironmentCache(settings: Settings, env: Env): EnvironmentCache {
  return new EnvironmentCache({
    dir: settings.values['environments.dir'],
    maxBytes: settings.values['environments.maxBytes'],
    pipArgs: settings.values['environments.pipArgs'],
    env,
  });
}

/** The progress bar the job panel shows while a job's environment is prepared. */
export const ENVIRONMENT_PROGRESS_BAR = 'environment';

/** How many missing environment files EnvironmentCompute remembers (a few executions' operations). */
const MISSING_KEPT = 512;

/**
 * The environment file of the job's operation, in its code snapshot (`operations/<Name>.environment.yml`, beside
 * `operations/<Name>.py`): the same place on a remote worker, which gets the snapshot with the job.
 */
export function environmentFileOf(request: Pick<ComputeJobRequest, 'spec'>): { path: string; name: string } {
  const name = request.spec.operation.file.replace(/\.py$/, DEPENDENCIES_SUFFIX);
  return { path: join(request.spec.codeDir, name), name };
}

/**
 * Runs each job in its operation's environment (docs/adr/0017): a compute adapter around another, on the machine
 * that runs the job. A job whose operation has an environment file listing packages gets its venv from the cache
 * (built first when this machine does not have it; the build's lines go to the job's console and its steps to a
 * progress bar), and runs with the venv's interpreter; any other job runs as it would without this adapter. A
 * file that does not read, a Python it does not allow, or a build pip fails on, fail the job before it starts,
 * with an EnvironmentError naming the line or pip's message.
 */
export class EnvironmentCompute implements Compute {
  /**
   * Environment files found missing, newest last. A code snapshot does not change once written (an execution's,
   * or a worker's folder per content), so a fan-out's jobs ask the disk once, not once each.
   */
  private readonly missing = new Set<string>();

  constructor(
    private readonly inner: Compute,
    private readonly cache: EnvironmentCache,
  ) {}

  gpusInUse(): number[] {
    return this.inner.gpusInUse?.() ?? [];
  }

  /** As the inner adapter's: a job with an environment runs the same harness on the same machine. */
  get inlineOutputs(): boolean {
    return this.inner.inlineOutputs === true;
  }

  /** The machine's interpreter, made ready as the inner adapter does (a job with an environment starts its own). */
  prestart(python: string, runnerId: string, started?: PrestartedWarmWorker): void {
    if (this.inner.prestart) this.inner.prestart(python, runnerId, started);
    else started?.discard();
  }

  async start(request: ComputeJobRequest, handlers: ComputeHandlers): Promise<RunningJob> {
    const file = environmentFileOf(request);
    if (this.missing.has(file.path)) return this.inner.start(request, handlers);
    let text: string;
    try {
      text = await readFile(file.path, 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') {
        this.missing.add(file.path);
        if (this.missing.size > MISSING_KEPT) this.missing.delete(this.missing.values().next().value!);
        return this.inner.start(request, handlers);
      }
      throw new EnvironmentError(`cannot read ${file.name}: ${(err as Error).message}`);
    }
    const parsed = parseEnvironmentFile(text);
    if (parsed.ok && !needsEnvironment(parsed.plan) && !parsed.plan.python) {
      return this.inner.start(request, handlers);
    }
    // The build's lines go to the job's console log (before the job's own) as well as live.
    const log = await ConsoleLog.open(request.logFile, request.logMaxBytes);
    const line = (text: string): void => {
      log.writeLine(text);
      handlers.onLog({ stream: 'engine', text });
    };
    const fail = (message: string): never => {
      line(`[deepforge] ${message}`);
      throw new EnvironmentError(message);
    };
    let shown = undefined as BuildProgress | undefined;
    const progress = (p: BuildProgress): void =>
      handlers.onEvent({
        v: RUNTIME_PROTOCOL_VERSION,
        t: Date.now(),
        type: 'progress',
        bar: ENVIRONMENT_PROGRESS_BAR,
        desc: p.desc,
        n: p.n,
        total: p.total,
        unit: 'steps',
        ...(p.done ? { done: true } : {}),
      });
    let ready: Awaited<ReturnType<EnvironmentCache['ensure']>> | undefined;
    try {
      if (!parsed.ok) {
        const first = parsed.problems[0]!;
        for (const p of parsed.problems) line(`[deepforge] ${file.name}:${p.line}:${p.column}: ${p.message}`);
        return fail(
          `${file.name} line ${first.line}: ${first.message}` +
            (parsed.problems.length > 1 ? ` (and ${parsed.problems.length - 1} more problems)` : ''),
        );
      }
      const plan = parsed.plan;
      if (plan.python) {
        const identity = await this.cache.interpreter(request.python);
        const problem = pythonVersionProblem(plan.python.constraint, identity.version);
        if (problem) {
          fail(
            `${file.name} line ${plan.python.line}: ${problem} (${identity.executable}); an environment is a venv of the interpreter that runs the job, set with the python setting`,
          );
        }
      }
      if (needsEnvironment(plan)) {
        ready = await this.cache.ensure({
          python: request.python,
          plan,
          ...(request.signal ? { signal: request.signal } : {}),
          onLine: line,
          onProgress: (p) => {
            shown = p;
            progress(p);
          },
        });
      }
    } catch (err) {
      // The job panel's bar goes with the build, however it ended.
      if (shown && !shown.done) progress({ ...shown, done: true });
      const known = err instanceof EnvironmentError || (err as Error).name === 'AbortError';
      if (!known) line(`[deepforge] the environment could not be prepared: ${(err as Error).message}`);
      await log.close();
      if (known) throw err;
      throw new EnvironmentError(`the environment could not be prepared: ${(err as Error).message}`, {
        cause: err,
      });
    }
    await log.close();
    // Only a python constraint, met: the job runs with the machine's Python.
    if (!ready) return this.inner.start(request, handlers);
    const env = ready;
    let running: RunningJob;
    try {
      running = await this.inner.start({ ...request, python: env.python }, handlers);
    } catch (err) {
      env.release();
      throw err;
    }
    void running.result.finally(() => env.release()).catch(() => undefined);
    return running;
  }

  close(): Promise<void> {
    return this.inner.close();
  }

  /** A dead engine's job is stopped where the wrapped compute runs it (Slurm: its batch job is cancelled). */
  stopOrphan(job: { jobId: string; runnerId: string }): Promise<void> {
    return this.inner.stopOrphan?.(job) ?? Promise.resolve();
  }
}
