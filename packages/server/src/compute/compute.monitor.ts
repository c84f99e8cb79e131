import { hostname } from 'node:os';
import type { Logger } from 'pino';
import type { Engine, Env } from '@deepforge/engine';
import type { ComputeJobDto, ComputeStateDto, ComputeWorkerDto, SystemStats } from '@deepforge/protocol';
import { detectGpus, type GpuInfo } from '../workers/gpu-detect.js';
import { SystemSampler } from '../workers/system-stats.js';

/** Whether the caller may read a project (its role there, or accounts off). */
export type ProjectReadCheck = (projectId: string) => Promise<boolean>;

/** How often watchers get the state again (only sent when it changed). */
const WATCH_INTERVAL_MS = 1000;
/** How often the server's own machine is sampled while someone watches. */
const LOCAL_SAMPLE_MS = 2000;
/** Execution → project lookups kept; more are forgotten at once (a lookup is one indexed read). */
const MAX_PROJECT_CACHE = 10_000;

/** Job ids are `<execution id>.<node>` (the engine's execution-files.ts). */
function splitJobId(jobId: string): { executionId: string; node: string } | undefined {
  const dot = jobId.indexOf('.');
  if (dot <= 0) return undefined;
  return { executionId: jobId.slice(0, dot), node: jobId.slice(dot + 1) };
}

interface Watcher {
  send(state: ComputeStateDto): void;
  canRead: ProjectReadCheck;
  last: string | undefined;
}

export interface ComputeMonitorOptions {
  /** `local`: this server runs jobs itself (`deepforge start`) and shows as a worker; `workers`: `--server`. */
  mode: 'local' | 'workers';
  env: Env;
  logger: Logger;
  now?: () => number;
}

/**
 * What the Compute view shows: every machine that runs this server's jobs (the remote workers, and the server's
 * own machine under `deepforge start`) with its state, labels, slots, running jobs and load, and the jobs waiting
 * for a worker with why. Built from memory (the remote compute's workers, the engine's job events) and, for the
 * server's own machine, a sample of its load taken only while somebody watches.
 */
export class ComputeMonitor {
  private readonly localRunning = new Map<string, { executionId: string; node: string }>();
  private readonly projectOf = new Map<string, string>();
  private readonly watchers = new Set<Watcher>();
  /** The server machine's sampler, once its GPUs are known (nvidia-smi is asked once, on first use). */
  private local: Promise<{ sampler: SystemSampler; gpus: GpuInfo[] }> | undefined;
  private localGpus: GpuInfo[] = [];
  private readonly now: () => number;
  private readonly startedAt: number;
  private localStats: SystemStats | undefined;
  private localStatsAt: number | undefined;
  private lastSample = 0;
  private sampling: Promise<void> | undefined;
  private timer: NodeJS.Timeout | undefined;
  private ticking = false;
  private readonly unsubscribe: () => void;

  constructor(
    private readonly engine: Engine,
    private readonly options: ComputeMonitorOptions,
  ) {
    this.now = options.now ?? Date.now;
    this.startedAt = this.now();
    // Which jobs run on this machine now: the engine says each job's status as it changes.
    this.unsubscribe = engine.subscribe('*', (event) => {
      if (event.type === 'execution.status' && event.projectId !== undefined) {
        this.rememberProject(event.executionId, event.projectId);
      }
      if (event.type !== 'job.status') return;
      if (event.status === 'running') {
        this.localRunning.set(event.jobId, { executionId: event.executionId, node: event.node });
      } else {
        this.localRunning.delete(event.jobId);
      }
    });
  }

  /** The state as the caller may see it: jobs of projects it may not read show as taken slots only. */
  async state(canRead: ProjectReadCheck): Promise<ComputeStateDto> {
    const workers: ComputeWorkerDto[] = [];
    const remote = this.engine.remoteCompute;
    if (this.options.mode === 'local' && this.engine.computeBackend === 'local') {
      await this.sampleLocal();
      const slots = this.engine.settings.values['executions.concurrency'];
      workers.push({
        id: 'local',
        name: `${hostname()} (this server)`,
        kind: 'local',
        state: 'connected',
        labels: [],
        slots,
        slotsUsed: this.localRunning.size,
        gpus: this.localGpus,
        gpusInUse: this.engine.localGpusInUse(),
        running: await this.jobs([...this.localRunning.keys()], canRead),
        connectedAt: this.startedAt,
        stats: this.localStats ?? null,
        statsAt: this.localStatsAt ?? null,
      });
    }
    for (const w of remote?.listWorkers() ?? []) {
      workers.push({
        id: w.workerId,
        name: w.name,
        kind: 'remote',
        state: w.state,
        labels: w.labels,
        slots: w.slots,
        slotsUsed: w.running.length,
        gpus: w.gpus,
        gpusInUse: w.gpusInUse,
        running: await this.jobs(
          w.running.map((r) => r.jobId),
          canRead,
        ),
        connectedAt: w.connectedAt,
        stats: w.stats,
        statsAt: w.statsAt,
      });
    }
    const waiting: ComputeStateDto['waiting'] = [];
    for (const w of remote?.listWaiting() ?? []) {
      const [job] = await this.jobs([w.jobId], canRead);
      // A waiting job of a project the caller may not read is not its business.
      if (job?.executionId !== undefined) waiting.push({ ...job, reason: w.reason });
    }
    return {
      mode:
        this.engine.computeBackend === 'slurm'
          ? 'slurm'
          : this.options.mode === 'local' && this.engine.computeBackend === 'local'
            ? 'local'
            : 'workers',
      workers,
      waiting,
      at: this.now(),
    };
  }

  /**
   * Sends the state to `send` at once and whenever it changes (checked every second), until the returned function
   * is called. The server's own machine is sampled at most every two seconds, and only while somebody asks.
   */
  watch(send: (state: ComputeStateDto) => void, canRead: ProjectReadCheck): () => void {
    const watcher: Watcher = { send, canRead, last: undefined };
    this.watchers.add(watcher);
    if (!this.timer) {
      this.timer = setInterval(() => void this.tick(), WATCH_INTERVAL_MS);
      this.timer.unref();
    }
    void this.tick();
    return () => {
      this.watchers.delete(watcher);
      if (this.watchers.size === 0 && this.timer) {
        clearInterval(this.timer);
        this.timer = undefined;
      }
    };
  }

  close(): void {
    this.unsubscribe();
    this.watchers.clear();
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
  }

  private async tick(): Promise<void> {
    if (this.ticking) return;
    this.ticking = true;
    try {
      for (const w of [...this.watchers]) {
        const state = await this.state(w.canRead);
        // `at` moves every time: only a change of anything else is news.
        const key = JSON.stringify({ ...state, at: 0 });
        if (key === w.last) continue;
        w.last = key;
        w.send(state);
      }
    } catch (err) {
      this.options.logger.warn({ err }, 'could not make the Compute view state');
    } finally {
      this.ticking = false;
    }
  }

  /** The server's own machine's load, sampled again when the last sample is two seconds old. */
  private async sampleLocal(): Promise<void> {
    if (this.sampling) return this.sampling;
    if (this.now() - this.lastSample < LOCAL_SAMPLE_MS) return;
    this.lastSample = this.now();
    this.local ??= detectGpus(this.options.env).then((gpus) => ({
      gpus,
      sampler: new SystemSampler({ env: this.options.env, gpus: gpus.length > 0 }),
    }));
    this.sampling = this.local
      .then(({ sampler, gpus }) => {
        this.localGpus = gpus;
        return sampler.sample();
      })
      .then((stats) => {
        this.localStats = stats;
        this.localStatsAt = this.now();
      })
      .catch((err: unknown) => this.options.logger.warn({ err }, 'could not sample the system load'))
      .finally(() => (this.sampling = undefined));
    return this.sampling;
  }

  private rememberProject(executionId: string, projectId: string): void {
    if (this.projectOf.size >= MAX_PROJECT_CACHE) this.projectOf.clear();
    this.projectOf.set(executionId, projectId);
  }

  private async projectIdOf(executionId: string): Promise<string | undefined> {
    const known = this.projectOf.get(executionId);
    if (known !== undefined) return known;
    try {
      const execution = await this.engine.getExecution(executionId);
      if (execution.id !== executionId) return undefined;
      this.rememberProject(executionId, execution.projectId);
      return execution.projectId;
    } catch {
      return undefined;
    }
  }

  private async jobs(jobIds: readonly string[], canRead: ProjectReadCheck): Promise<ComputeJobDto[]> {
    const out: ComputeJobDto[] = [];
    for (const jobId of jobIds) {
      const where = splitJobId(jobId);
      const projectId = where ? await this.projectIdOf(where.executionId) : undefined;
      if (!where || projectId === undefined || !(await canRead(projectId).catch(() => false))) {
        out.push({ jobId: 'hidden' });
        continue;
      }
      out.push({ jobId, executionId: where.executionId, projectId, node: where.node });
    }
    return out;
  }
}
