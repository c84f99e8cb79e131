import { spawn } from 'node:child_process';
import type { Env } from '@deepforge/engine';

export interface GpuInfo {
  index: number;
  /** As nvidia-smi names it (`NVIDIA H200`). */
  name: string;
  memoryMiB: number;
}

/** A label for a GPU model: `gpu:` and the name in label characters (`NVIDIA H200` → `gpu:nvidia-h200`). */
export function gpuModelLabel(name: string): string {
  const slug = name
    .toLowerCase()
    .replace(/[^a-z0-9._-]+/g, '-')
    .replace(/^-+|-+$/g, '')
    .slice(0, 60);
  return `gpu:${slug || 'unknown'}`;
}

/** What a machine with these GPUs offers as labels: `gpu` and each model's label; none without GPUs. */
export function gpuLabels(gpus: readonly GpuInfo[]): string[] {
  if (gpus.length === 0) return [];
  return ['gpu', ...new Set(gpus.map((g) => gpuModelLabel(g.name)))];
}

/** Lines of `nvidia-smi --query-gpu=index,name,memory.total --format=csv,noheader,nounits`. */
export function parseNvidiaSmi(text: string): GpuInfo[] {
  const gpus: GpuInfo[] = [];
  for (const line of text.split('\n')) {
    const parts = line.split(',').map((p) => p.trim());
    if (parts.length < 3) continue;
    const index = Number(parts[0]);
    const memoryMiB = Number(parts[parts.length - 1]);
    const name = parts.slice(1, -1).join(',');
    if (!Number.isInteger(index) || !Number.isFinite(memoryMiB) || name === '') continue;
    gpus.push({ index, name, memoryMiB });
  }
  return gpus;
}

/**
 * The NVIDIA GPUs of this machine, from `nvidia-smi` on PATH; none when it is not there, fails or does not answer
 * within `timeoutMs` (a machine without a driver is a machine without GPUs, not an error).
 */
export function detectGpus(env: Env, timeoutMs = 5000): Promise<GpuInfo[]> {
  return new Promise((resolve) => {
    let out = '';
    let child;
    try {
      child = spawn('nvidia-smi', ['--query-gpu=index,name,memory.total', '--format=csv,noheader,nounits'], {
        env: env as NodeJS.ProcessEnv,
        stdio: ['ignore', 'pipe', 'ignore'],
      });
    } catch {
      resolve([]);
      return;
    }
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.stdout.on('data', (c: Buffer) => (out += c.toString('utf8')));
    child.once('error', () => {
      clearTimeout(timer);
      resolve([]);
    });
    child.once('close', (code) => {
      clearTimeout(timer);
      resolve(code === 0 ? parseNvidiaSmi(out) : []);
    });
  });
}
