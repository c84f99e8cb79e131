import { spawn } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { cpus, freemem, totalmem } from 'node:os';
import type { Env } from '@deepforge/engine';
import { SystemStatsSchema, type GpuStats, type SystemStats } from '@deepforge/protocol';

/**
 * Lines of `nvidia-smi --query-gpu=index,utilization.gpu,memory.used,memory.total --format=csv,noheader,nounits`.
 * A line that is not four numbers (`[N/A]` on some boards) is left out rather than guessed.
 */
export function parseNvidiaSmiStats(text: string): GpuStats[] {
  const gpus: GpuStats[] = [];
  for (const line of text.split('\n').slice(0, 64)) {
    const parts = line.split(',').map((p) => p.trim());
    if (parts.length !== 4 || parts.some((p) => p === '')) continue;
    const [index, util, used, total] = parts.map(Number) as [number, number, number, number];
    if (!Number.isInteger(index) || index < 0) continue;
    if (![util, used, total].every((n) => Number.isFinite(n) && n >= 0)) continue;
    gpus.push({
      index,
      utilPercent: Math.min(100, util),
      memoryUsedMiB: Math.min(used, total),
      memoryTotalMiB: total,
    });
  }
  return gpus;
}

/** `MemAvailable` of /proc/meminfo in bytes (what programs can still get without swapping), if there is one. */
export function parseMemAvailable(meminfo: string): number | undefined {
  const m = /^MemAvailable:\s+(\d+)\s+kB$/m.exec(meminfo);
  return m ? Number(m[1]) * 1024 : undefined;
}

interface CpuTimes {
  busy: number;
  total: number;
}

function cpuTimes(): CpuTimes {
  let busy = 0;
  let total = 0;
  for (const c of cpus()) {
    const t = c.times;
    const all = t.user + t.nice + t.sys + t.idle + t.irq;
    total += all;
    busy += all - t.idle;
  }
  return { busy, total };
}

/** Runs nvidia-smi for the GPUs' load; none when it is not there, fails or does not answer in time. */
function queryGpuStats(env: Env, timeoutMs: number): Promise<GpuStats[]> {
  return new Promise((resolve) => {
    let out = '';
    let child;
    try {
      child = spawn(
        'nvidia-smi',
        ['--query-gpu=index,utilization.gpu,memory.used,memory.total', '--format=csv,noheader,nounits'],
        { env: env as NodeJS.ProcessEnv, stdio: ['ignore', 'pipe', 'ignore'] },
      );
    } catch {
      resolve([]);
      return;
    }
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.stdout.on('data', (c: Buffer) => {
      // A few lines per GPU at most: anything longer is not nvidia-smi's answer.
      if (out.length < 64 * 1024) out += c.toString('utf8');
    });
    child.once('error', () => {
      clearTimeout(timer);
      resolve([]);
    });
    child.once('close', (code) => {
      clearTimeout(timer);
      resolve(code === 0 ? parseNvidiaSmiStats(out) : []);
    });
  });
}

export interface SystemSamplerOptions {
  env: Env;
  /** Ask nvidia-smi for the GPUs' load (only where GPUs were detected: elsewhere it costs a process for nothing). */
  gpus: boolean;
  gpuTimeoutMs?: number;
}

/**
 * Samples this machine's load: CPU % of all cores since the previous sample (the first sample: since boot),
 * memory in use (total − available), and each GPU's utilisation and memory from nvidia-smi.
 */
export class SystemSampler {
  private last: CpuTimes = cpuTimes();

  constructor(private readonly options: SystemSamplerOptions) {}

  async sample(): Promise<SystemStats> {
    const now = cpuTimes();
    const busy = now.busy - this.last.busy;
    const total = now.total - this.last.total;
    this.last = now;
    const cpuPercent = total > 0 ? Math.min(100, Math.max(0, (busy / total) * 100)) : 0;
    const memoryTotalBytes = totalmem();
    const available = parseMemAvailable(await readFile('/proc/meminfo', 'utf8').catch(() => '')) ?? freemem();
    const gpus = this.options.gpus
      ? await queryGpuStats(this.options.env, this.options.gpuTimeoutMs ?? 3000)
      : [];
    // Checked like a worker's report is on the server: what is sent is always valid.
    return SystemStatsSchema.parse({
      cpuPercent: Math.round(cpuPercent * 10) / 10,
      cpuCount: Math.max(1, cpus().length),
      memoryUsedBytes: Math.max(0, Math.min(memoryTotalBytes, memoryTotalBytes - available)),
      memoryTotalBytes,
      ...(gpus.length > 0 ? { gpus } : {}),
    });
  }
}
