import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { spawnScript, waitForScript } from '../test-support/node-script.js';
import { describeArtifactStoreConformance } from './artifact.store.conformance.js';
import { describeExecutionStoreConformance } from './execution.store.conformance.js';
import { describeRunnerStoreConformance } from './runner.store.conformance.js';
import { openSqliteStores } from './sqlite.store.js';
import type { StoreHarness } from './store.harness.js';
import { describeTelemetryStoreConformance } from './telemetry.store.conformance.js';
import { describeWorkerStoreConformance } from './worker.store.conformance.js';

async function sqliteHarness(): Promise<StoreHarness> {
  const dir = await mkdtemp(join(tmpdir(), 'df-store-'));
  const file = join(dir, 'deepforge.db');
  let stores = await openSqliteStores(file);
  return {
    stores,
    reopen: async () => {
      await stores.close();
      stores = await openSqliteStores(file);
      return stores;
    },
    cleanup: async () => {
      await stores.close();
      await rm(dir, { recursive: true, force: true });
    },
  };
}

describeExecutionStoreConformance('SQLite', sqliteHarness);
describeArtifactStoreConformance('SQLite', sqliteHarness);
describeTelemetryStoreConformance('SQLite', sqliteHarness);
describeRunnerStoreConformance('SQLite', sqliteHarness);
describeWorkerStoreConformance('SQLite', sqliteHarness);

describe('SQLite store', () => {
  it('takes writes from several processes at once without "database is locked"', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'df-store-'));
    const file = join(dir, 'deepforge.db');
    const stores = await openSqliteStores(file);
    const store = stores.executions;
    try {
      const writers = ['a', 'b', 'c'].map((p) =>
        waitForScript(spawnScript('store-writer.script.ts', [file, p, '40'])),
      );
      const own = (async () => {
        for (let i = 0; i < 40; i++) {
          const id = `main${i}`;
          await store.insertExecution(
            {
              id,
              name: id,
              project: 'p',
              pipeline: 'q',
              status: 'pending',
              createdAt: i,
              options: {},
              snapshot: {},
            },
            [{ id: `${id}.n`, executionId: id, node: 'n', operation: 'Op' }],
          );
          await store.transitionJob(`${id}.n`, 'queued');
        }
      })();
      const results = await Promise.all(writers);
      await own;
      for (const r of results) expect(r.stderr).toBe('');
      expect(results.map((r) => r.code)).toEqual([0, 0, 0]);
      expect((await store.listExecutions({ limit: 1000, offset: 0 })).length).toBe(160);
      expect((await store.listJobsByStatus(['cached'])).length).toBe(120);
    } finally {
      await stores.close();
      await rm(dir, { recursive: true, force: true });
    }
  });
});
