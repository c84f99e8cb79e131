import { describe, expect, it } from 'vitest';
import { cleanEnv } from '@deepforge/engine/test-support';
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
});
