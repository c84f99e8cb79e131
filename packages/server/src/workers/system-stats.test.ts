import { chmod, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { cleanEnv, makeTempDir, removeTree } from '@deepforge/engine/test-support';
import { SystemStatsSchema } from '@deepforge/protocol';
import { SystemSampler, parseMemAvailable, parseNvidiaSmiStats } from './system-stats.js';

describe('system load', () => {
  it("reads each GPU's utilisation and memory from nvidia-smi, leaving out lines it cannot read", () => {
    const text = '0, 87, 40210, 81559\n1, 0, 3, 81559\n2, [N/A], 1, 81559\ngarbage\n3, 101, 90000, 81559\n';
    expect(parseNvidiaSmiStats(text)).toEqual([
      { index: 0, utilPercent: 87, memoryUsedMiB: 40210, memoryTotalMiB: 81559 },
      { index: 1, utilPercent: 0, memoryUsedMiB: 3, memoryTotalMiB: 81559 },
      // A reading past its bounds is clamped rather than refused by the server's schema.
      { index: 3, utilPercent: 100, memoryUsedMiB: 81559, memoryTotalMiB: 81559 },
    ]);
    expect(parseNvidiaSmiStats('')).toEqual([]);
  });

  it('reads MemAvailable from /proc/meminfo', () => {
    expect(parseMemAvailable('MemTotal:       24000000 kB\nMemAvailable:   1000 kB\n')).toBe(1024000);
    expect(parseMemAvailable('MemTotal: 1 kB\n')).toBeUndefined();
  });

  it("samples this machine's CPU and memory into stats the protocol accepts (no GPU here: none)", async () => {
    const sampler = new SystemSampler({ env: cleanEnv(), gpus: true });
    const end = Date.now() + 200;
    while (Date.now() < end) Math.sqrt(Math.random());
    const stats = await sampler.sample();
    expect(SystemStatsSchema.parse(stats)).toEqual(stats);
    expect(stats.cpuPercent).toBeGreaterThan(0);
    expect(stats.memoryUsedBytes).toBeGreaterThan(0);
    expect(stats.gpus).toBeUndefined();
  });

  it("asks nvidia-smi for the GPUs' load where there are GPUs, and gives none when it fails or hangs", async () => {
    const dir = await makeTempDir('system-stats');
    try {
      const smi = join(dir, 'nvidia-smi');
      const PATH = `${dir}:/usr/bin:/bin`;
      await writeFile(
        smi,
        `#!/bin/sh\n[ "$1" = "--query-gpu=index,utilization.gpu,memory.used,memory.total" ] || exit 9\nprintf '0, 93, 70000, 143771\\n'\n`,
      );
      await chmod(smi, 0o755);
      const stats = await new SystemSampler({ env: cleanEnv({ PATH }), gpus: true }).sample();
      expect(stats.gpus).toEqual([
        { index: 0, utilPercent: 93, memoryUsedMiB: 70000, memoryTotalMiB: 143771 },
      ]);

      await writeFile(smi, '#!/bin/sh\nexit 3\n');
      expect(
        (await new SystemSampler({ env: cleanEnv({ PATH }), gpus: true }).sample()).gpus,
      ).toBeUndefined();
      await writeFile(smi, '#!/bin/sh\nexec sleep 30\n');
      const hung = new SystemSampler({ env: cleanEnv({ PATH }), gpus: true, gpuTimeoutMs: 200 });
      expect((await hung.sample()).gpus).toBeUndefined();
    } finally {
      await removeTree(dir);
    }
  });
});
