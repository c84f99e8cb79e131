import type { AddressInfo } from 'node:net';
import { hostname } from 'node:os';
import { resolve } from 'node:path';
import type { Command } from 'commander';
import { InvalidArgumentError } from 'commander';
import { loadSettings, parseSettingValue, SettingsError } from '@deepforge/engine';
import type { CliContext } from '../cli-context.js';
import { UsageError } from '../usage-error.js';
import { addWorkerOptions, runWorker, serverUrlOption, type WorkerOptions } from './worker.command.js';

export interface StartOptions extends Partial<Omit<WorkerOptions, 'server'>> {
  port?: number;
  host?: string;
  server?: boolean;
  /** A worker instead of a server: the server's URL, or true for this machine's (server.port). */
  worker?: string | true;
  dataDir?: string;
}

/** The options only a worker takes, as their flags say them. */
const WORKER_ONLY = {
  token: '--token',
  labels: '--labels',
  slots: '--slots',
  workDir: '--work-dir',
  name: '--name',
};

/** `deepforge start --worker [url]`: the seeds' spelling of `deepforge worker --server <url>`. */
async function startWorker(opts: StartOptions, ctx: CliContext): Promise<void> {
  const serving = (['server', 'port', 'host'] as const).filter((k) => opts[k] !== undefined);
  if (serving.length > 0) {
    throw new UsageError(
      `--worker starts a worker, not a server: ${serving.map((k) => `--${k}`).join(', ')} cannot go with it`,
    );
  }
  let server: string;
  if (opts.worker === true) {
    // This machine's server, where its settings say it listens.
    const dataDir = opts.dataDir !== undefined ? resolve(ctx.cwd, opts.dataDir) : undefined;
    const settings = await loadSettings({ ...(dataDir !== undefined ? { dataDir } : {}), env: ctx.env });
    const host = settings.values['server.host'];
    const reach = host === '0.0.0.0' || host === '::' ? '127.0.0.1' : host.includes(':') ? `[${host}]` : host;
    server = `http://${reach}:${settings.values['server.port']}`;
  } else {
    server = opts.worker!;
  }
  const { worker: _worker, server: _server, port: _port, host: _host, ...rest } = opts;
  await runWorker({ ...rest, server }, ctx);
}

function hostOption(value: string): string {
  try {
    return parseSettingValue('server.host', value, { dataDir: '', from: '--host' });
  } catch (err) {
    if (err instanceof SettingsError) throw new InvalidArgumentError(err.message);
    throw err;
  }
}

/** Where others reach a server listening on `host`. */
function networkUrl(host: string, port: number): string {
  const name = host === '0.0.0.0' || host === '::' ? hostname() : host.includes(':') ? `[${host}]` : host;
  return `http://${name}:${port}`;
}

export function portOption(value: string): number {
  const n = Number(value);
  if (!/^\d+$/.test(value.trim()) || n > 65535) {
    throw new InvalidArgumentError(
      `--port must be a whole number from 0 to 65535, got ${JSON.stringify(value)}`,
    );
  }
  return n;
}

/**
 * Resolves on the first SIGINT or SIGTERM; another one later leaves at once. Ctrl-C under `npm start` reaches the
 * server twice (from the terminal and forwarded by npm): a second signal within a second is that same one.
 */
function untilStopped(ctx: CliContext): Promise<NodeJS.Signals> {
  return new Promise((resolveSignal) => {
    let first: number | undefined;
    const onSignal = (signal: NodeJS.Signals): void => {
      if (first !== undefined) {
        if (Date.now() - first < 1000) return;
        ctx.err.write('\nStopping at once.\n');
        process.exit(130);
      }
      first = Date.now();
      resolveSignal(signal);
    };
    process.on('SIGINT', onSignal);
    process.on('SIGTERM', onSignal);
  });
}

export function registerStartCommand(program: Command, ctx: CliContext): void {
  const start = program
    .command('start')
    .description(
      'start the web IDE: the server and local compute, on http://localhost:8888 (with --worker: a worker for a server)',
    )
    .option(
      '-p, --port <port>',
      'the port to listen on (default: server.port, 8888; 0 picks a free one)',
      portOption,
    )
    .option(
      '--host <addr>',
      'the address to listen on (default: server.host, 127.0.0.1); 0.0.0.0 or a network address needs accounts',
      hostOption,
    )
    .option(
      '-s, --server',
      'the server only, no local compute: jobs run on remote workers (`deepforge worker`) and wait for one',
    )
    .option(
      '--worker [url]',
      "a worker instead, running jobs of the server at url (as `deepforge worker --server <url>`; default: this machine's, at server.host and server.port)",
      serverUrlOption('--worker'),
    )
    .option(
      '--data-dir <dir>',
      'where projects, executions and artifacts are kept (default: DEEPFORGE_DATA_DIR or ~/.deepforge); a worker takes its settings from here',
    );
  addWorkerOptions(start, ' (with --worker)')
    .addHelpText(
      'after',
      `
By default the server listens on 127.0.0.1: only this machine reaches it. Listening on another address lets other
machines run code as you, so it needs accounts (everyone signs in):
  deepforge config auth.enabled true
  deepforge users add <name> --admin
  deepforge start --host 0.0.0.0
Ctrl-C (or SIGTERM) stops it: running jobs are canceled and every project document is saved.

Examples:
  deepforge start
  deepforge start -p 9000 --data-dir ./deepforge-data
  DEEPFORGE_WORKER_TOKEN=dfw_… deepforge start --worker http://server:8888 --labels gpu`,
    )
    .action(async (opts: StartOptions) => {
      if (opts.worker !== undefined) {
        await startWorker(opts, ctx);
        return;
      }
      const workerOnly = Object.entries(WORKER_ONLY)
        .filter(([k]) => opts[k as keyof typeof WORKER_ONLY] !== undefined)
        .map(([, flag]) => flag);
      if (workerOnly.length > 0) {
        throw new UsageError(
          `${workerOnly.join(', ')} ${workerOnly.length === 1 ? 'is' : 'are'} for --worker only`,
        );
      }
      const dataDir = opts.dataDir !== undefined ? resolve(ctx.cwd, opts.dataDir) : undefined;
      const overrides = opts.host !== undefined ? { 'server.host': opts.host } : {};
      // Refused before anything is opened: no engine, no recovery of jobs, nothing listening.
      const settings = await loadSettings({
        ...(dataDir !== undefined ? { dataDir } : {}),
        env: ctx.env,
        overrides,
      });
      const host = settings.values['server.host'];
      const authEnabled = settings.values['auth.enabled'];
      // The web server is loaded by the commands that serve (start, worker) only: the others start faster.
      const { bindProblem, createServer, isLoopbackHost } = await import('@deepforge/server');
      const refused = bindProblem(host, authEnabled);
      if (refused !== undefined) throw new UsageError(refused);
      const server = await createServer({
        env: ctx.env,
        compute: opts.server ? 'none' : 'local',
        settings: overrides,
        ...(dataDir !== undefined ? { dataDir } : {}),
      });
      const stopped = untilStopped(ctx);
      let url: string;
      const port = opts.port ?? server.engine.settings.values['server.port'];
      try {
        url = await server.listen(port, host);
      } catch (err) {
        await server.close();
        if ((err as NodeJS.ErrnoException).code === 'EADDRINUSE') {
          throw new UsageError(`port ${port} is in use: stop what uses it, or pick another port with --port`);
        }
        if ((err as NodeJS.ErrnoException).code === 'EADDRNOTAVAIL') {
          throw new UsageError(`cannot listen on ${host}: it is no address of this machine`);
        }
        throw err;
      }
      ctx.out.write(`DeepForge is running at ${url}\n`);
      if (isLoopbackHost(host)) {
        ctx.out.write(`  listening on ${host} only: other machines cannot reach it\n`);
      } else {
        const { port: actualPort } = server.app.server.address() as AddressInfo;
        ctx.out.write(`  listening on ${host}: other machines reach it at ${networkUrl(host, actualPort)}\n`);
      }
      ctx.out.write(
        authEnabled
          ? '  accounts are on: everyone signs in\n'
          : '  accounts are off: no sign-in (`deepforge config auth.enabled true` turns them on)\n',
      );
      if (authEnabled && !(await server.engine.accounts.hasUsers())) {
        ctx.out.write(
          '  nobody can sign in yet: create the first user (an admin) with `deepforge users add <name> --admin`\n',
        );
      }
      ctx.out.write(
        opts.server
          ? '  no local compute (--server): jobs wait for remote workers; `deepforge workers token <name>` makes a token for `deepforge worker --server <url>`\n'
          : '  operations run on this machine\n',
      );
      ctx.out.write(`  data: ${server.engine.dataDir}\n  API docs: ${url}/api/docs\n  Ctrl-C stops it\n`);
      const signal = await stopped;
      ctx.out.write(`\n${signal}: stopping (canceling running jobs, saving documents) …\n`);
      await server.close();
      ctx.out.write('Stopped.\n');
      ctx.exitCode = 0;
    });
}
