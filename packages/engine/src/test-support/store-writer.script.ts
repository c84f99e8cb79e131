// A second process writing to the same SQLite file: `store-writer.script.ts <db file> <id prefix> <count>`.
import { openSqliteStores } from '../store/sqlite.store.js';

const [file, prefix, count] = process.argv.slice(2);
const stores = await openSqliteStores(file!);
for (let i = 0; i < Number(count); i++) {
  const id = `${prefix}${i}`;
  await stores.executions.insertExecution(
    {
      id,
      name: id,
      project: 'p',
      pipeline: 'q',
      status: 'pending',
      createdAt: Date.now(),
      options: {},
      snapshot: {},
    },
    [{ id: `${id}.n`, executionId: id, node: 'n', operation: 'Op' }],
  );
  await stores.executions.completeJob(`${id}.n`, 'cached', [
    { name: 'o', hash: `sha256:${'0'.repeat(64)}`, size: 1, serializer: 'pickle', pyType: 'int' },
  ]);
  await stores.telemetry.appendMetrics([{ jobId: `${id}.n`, step: i, name: 'm', value: i, t: Date.now() }]);
}
await stores.close();
