import { useTestDatabase } from '../test-support/postgres-server.js';
import { describeArtifactStoreConformance } from './artifact.store.conformance.js';
import { describeExecutionStoreConformance } from './execution.store.conformance.js';
import { openPostgresStores } from './postgres.store.js';
import { describeRunnerStoreConformance } from './runner.store.conformance.js';
import type { StoreHarness } from './store.harness.js';
import { describeTelemetryStoreConformance } from './telemetry.store.conformance.js';
import { describeWorkerStoreConformance } from './worker.store.conformance.js';

const database = useTestDatabase('store');

async function postgresHarness(): Promise<StoreHarness> {
  const url = await database.fresh();
  let stores = await openPostgresStores(url);
  return {
    stores,
    reopen: async () => {
      await stores.close();
      stores = await openPostgresStores(url);
      return stores;
    },
    cleanup: () => stores.close(),
  };
}

describeExecutionStoreConformance('PostgreSQL', postgresHarness);
describeArtifactStoreConformance('PostgreSQL', postgresHarness);
describeTelemetryStoreConformance('PostgreSQL', postgresHarness);
describeRunnerStoreConformance('PostgreSQL', postgresHarness);
describeWorkerStoreConformance('PostgreSQL', postgresHarness);
