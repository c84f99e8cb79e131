// A `deepforge start --server` of a test in a process of its own, to be killed with SIGKILL and started again:
// `start <data dir> <project dir> <port>` starts the project's `slow` pipeline and prints `started <id> <url>`;
// `resume <data dir> <execution id> <port>` opens the server again (recovery queues the execution's jobs again)
// and prints `finished <status>` once that execution has ended.
import { createServer } from '@deepforge/server';

const [mode, dataDir, arg, port] = process.argv.slice(2) as [string, string, string, string];
const server = await createServer({
  dataDir,
  env: process.env,
  compute: 'none',
  // Long enough for a server to start again while its worker's lease is live.
  settings: { 'workers.leaseTimeout': 20, 'executions.onRestart': 'requeue' },
});
const url = await server.listen(Number(port), '127.0.0.1');
if (mode === 'start') {
  const { project } = await server.engine.loadProjectFolder(arg);
  const run = await server.engine.startExecution({ project, pipelineName: 'slow', projectDir: arg });
  process.stdout.write(`started ${run.id} ${url}\n`);
} else {
  process.stdout.write(`listening ${url}\n`);
  const done = await (server.engine.waitForExecution(arg) ?? server.engine.getExecution(arg));
  process.stdout.write(`finished ${done.status}\n`);
  process.stdout.write(`${(await server.engine.readJobLog(arg, 'slow')).text}\n--end--\n`);
}
await new Promise(() => undefined);
