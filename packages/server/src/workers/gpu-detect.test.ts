import { chmod, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { makeTempDir, removeTree } from '@deepforge/engine/test-support';
import { detectGpus, gpuLabels, gpuModelLabel, parseNvidiaSmi } from './gpu-detect.js';

let dir: string;
beforeEach(async () => {
  dir = await makeTempDir('gpu-detect');
});
afterEach(async () => {
  await removeTree(dir);
});

/** An `nvidia-smi` on a PATH of its own that prints `text` (this machine has no NVIDIA driver). */
async function fakeNvidiaSmi(script: string): Promise<Record<string, string>> {
  const file = join(dir, 'nvidia-smi');
  await writeFile(file, `#!/bin/sh\n${script}\n`);
  await chmod(file, 0o755);
  return { PATH: `${dir}:/usr/bin:/bin` };
}

describe('GPU detection', () => {
  it('reads count, model and memory from nvidia-smi, and makes labels of them', async () => {
    const env = await fakeNvidiaSmi(
      `[ "$1" = "--query-gpu=index,name,memory.total" ] || exit 9\nprintf '0, NVIDIA H200, 143771\\n1, NVIDIA H200, 143771\\n'`,
    );
    const gpus = await detectGpus(env);
    expect(gpus).toEqual([
      { index: 0, name: 'NVIDIA H200', memoryMiB: 143771 },
      { index: 1, name: 'NVIDIA H200', memoryMiB: 143771 },
    ]);
    expect(gpuLabels(gpus)).toEqual(['gpu', 'gpu:nvidia-h200']);
  });

  it('finds none without nvidia-smi, when it fails, or when it hangs', async () => {
    expect(await detectGpus({ PATH: dir })).toEqual([]);
    expect(await detectGpus(await fakeNvidiaSmi('echo "NVIDIA-SMI has failed" >&2; exit 9'))).toEqual([]);
    expect(await detectGpus(await fakeNvidiaSmi('exec sleep 30'), 300)).toEqual([]);
    expect(gpuLabels([])).toEqual([]);
  });

  it('parses names with commas and skips lines it cannot read', () => {
    expect(parseNvidiaSmi('0, Tesla V100-SXM2-16GB, 16160\n\ngarbage\n1, A, B, 80\n')).toEqual([
      { index: 0, name: 'Tesla V100-SXM2-16GB', memoryMiB: 16160 },
      { index: 1, name: 'A,B', memoryMiB: 80 },
    ]);
    expect(gpuModelLabel('NVIDIA GeForce RTX 4090')).toBe('gpu:nvidia-geforce-rtx-4090');
    expect(gpuModelLabel('???')).toBe('gpu:unknown');
  });
});
