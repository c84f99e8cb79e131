import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { RunnerStore } from './runner.store.js';
import type { StoreHarness } from './store.harness.js';

/** The behaviour every RunnerStore adapter must have. Call it in a test file with the adapter's harness. */
export function describeRunnerStoreConformance(name: string, create: () => Promise<StoreHarness>): void {
  describe(`RunnerStore conformance: ${name}`, () => {
    let h: StoreHarness;
    let runners: RunnerStore;
    beforeEach(async () => {
      h = await create();
      runners = h.stores.runners;
    });
    afterEach(async () => {
      await h.cleanup();
    });

    it('registers runners and their heartbeats', async () => {
      await runners.registerRunner({ id: 'r1', pid: 42, host: 'h', startedAt: 1, heartbeatAt: 1 });
      expect(await runners.heartbeatRunner('r1', 7)).toBe(true);
      expect(await runners.listRunners()).toEqual([
        { id: 'r1', pid: 42, host: 'h', startedAt: 1, heartbeatAt: 7 },
      ]);
      await runners.removeRunner('r1');
      expect(await runners.heartbeatRunner('r1', 8)).toBe(false);
      expect(await runners.listRunners()).toEqual([]);
    });

    it('refuses a second runner under the same id, and keeps runners across a reopen', async () => {
      await runners.registerRunner({ id: 'r1', pid: 42, host: 'h', startedAt: 1, heartbeatAt: 1 });
      await expect(
        runners.registerRunner({ id: 'r1', pid: 43, host: 'h', startedAt: 2, heartbeatAt: 2 }),
      ).rejects.toThrow();
      await runners.registerRunner({ id: 'r0', pid: 41, host: 'g', startedAt: 0, heartbeatAt: 5 });
      await runners.removeRunner('nobody');
      runners = (await h.reopen()).runners;
      expect((await runners.listRunners()).map((r) => [r.id, r.pid])).toEqual([
        ['r0', 41],
        ['r1', 42],
      ]);
    });
  });
}
