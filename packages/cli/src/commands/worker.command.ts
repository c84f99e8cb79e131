import { resolve } from 'node:path';
import type { Command } from 'commander';
import { InvalidArgumentError } from 'commander';
import pc from 'picocolors';
import {
  AccountService,
  WorkerTokens,
  findRuntimeDir,
  loadSettings,
  openDatabase,
  openEnvironmentCache,
  resolveDataDir,
  resolvePython,
} from '@deepforge/engine';
import { WorkerLabelSchema } from '@deepforge/protocol/engine';
import type { CliContext } from '../cli-context.js';
import { formatTime, table } from '../render/format.js';
import { UsageError } from '../usage-error.js';

/** The variable the token may come in instead of --token (kept out of `ps` and shell history). */
export const WORKER_TOKEN_ENV = 'DEEPFORGE_WORKER_TOKEN';

export interface WorkerOptions {
  server: string;
  token?: string;
  labels?: string[];
  slots?: number;
  workDir?: string;
  name?: string;
  dataDir?: string;
}

export function labelsOption(value: string): string[] {
  const labels = value
    .split(',')
    .map((l) => l.trim())
    .filter((l) => l !== '');
  for (const label of labels) {
    const parsed = WorkerLabelSchema.safeParse(label);
    if (!parsed.success) {
      throw new InvalidArgumentError(
        `${JSON.stringify(label)} is not a label: ${parsed.error.issues[0]?.message ?? 'invalid'}`,
      );
    }
  }
  return [...new Set(labels)];
}

export function slotsOption(value: string): number {
  const n = Number(value);
  if (!/^\d+$/.test(value.trim()) || n < 1 || n > 1024) {
    throw new InvalidArgumentError(
      `--slots must be a whole number from 1 to 1024, got ${JSON.stringify(value)}`,
    );
  }
  return n;
}

/** A parser for a server's URL given with `flag`: its origin. */
export function serverUrlOption(flag: string): (value: string) => string {
  return (value) => {
    let url: URL;
    try {
      url = new URL(value);
    } catch {
      throw new InvalidArgumentError(
        `${flag} must be the server's URL, such as http://gpu-box:8888, not ${JSON.stringify(value)}`,
      );
    }
    if (url.protocol !== 'http:' && url.protocol !== 'https:') {
      throw new InvalidArgumentError(`${flag} must be an http or https URL, not ${JSON.stringify(value)}`);
    }
    return url.origin;
  };
}

/** Stops on the first SIGINT or SIGTERM. */
function onStop(stop: () => void): void {
  const handler = (): void => stop();
  process.once('SIGINT', handler);
  process.once('SIGTERM', handler);
}

/**
 * Runs a worker until it is stopped (SIGINT, SIGTERM) or refused: `deepforge worker`, and `deepforge start --worker`
 * (the seeds' spelling).
 */
export async function runWorker(opts: WorkerOptions, ctx: CliContext): Promise<void> {
  const token = opts.token ?? ctx.env[WORKER_TOKEN_ENV];
  if (!token) throw new UsageError(`a worker token is needed: --token <token> or ${WORKER_TOKEN_ENV}`);
  const dataDir = resolveDataDir({
    ...(opts.dataDir !== undefined ? { dataDir: resolve(ctx.cwd, opts.dataDir) } : {}),
    env: ctx.env,
  });
  const settings = await loadSettings({ dataDir, env: ctx.env });
  const runtimeDir = findRuntimeDir();
  // Checked before connecting: a worker that cannot run operations takes no job.
  const python = await resolvePython(settings.values.python, { runtimeDir, env: ctx.env });
  const workDir = opts.workDir !== undefined ? resolve(ctx.cwd, opts.workDir) : resolve(dataDir, 'worker');
  // Loaded by the commands that need it only (see start.command.ts).
  const { WorkerAgent, detectGpus, gpuLabels } = await import('@deepforge/server');
  // GPUs become labels (`gpu`, `gpu:<model>`) beside those given, and the server lists them.
  const gpus = await detectGpus(ctx.env);
  const labels = [...new Set([...(opts.labels ?? []), ...gpuLabels(gpus)])];
  const agent = new WorkerAgent({
    serverUrl: opts.server,
    token,
    labels,
    gpus,
    slots: opts.slots ?? settings.values['executions.concurrency'],
    workDir,
    ...(opts.name !== undefined ? { name: opts.name } : {}),
    python: python.command,
    runtimeDir,
    env: ctx.env,
    logFile: resolve(dataDir, 'logs', 'worker.log'),
    warmWorker: settings.values['executions.warmWorker'],
    cacheMaxBytes: settings.values['worker.cache.maxBytes'],
    environments: openEnvironmentCache(settings, ctx.env),
    report: (line) => ctx.out.write(`${line}\n`),
  });
  ctx.out.write(
    `worker ${agent.workerId}: Python ${python.version} (${python.command}); work dir ${workDir}\n`,
  );
  ctx.out.write(
    gpus.length > 0
      ? `GPUs: ${gpus.map((g) => `${g.index}: ${g.name} (${g.memoryMiB} MiB)`).join(', ')}\n`
      : 'GPUs: none found (no nvidia-smi, or it found none)\n',
  );
  onStop(() => {
    ctx.out.write('stopping (canceling running jobs) …\n');
    void agent.stop(0);
  });
  agent.start();
  ctx.exitCode = await agent.done;
}

/**
 * The options of a worker beyond its server's URL: `deepforge worker`'s, and `deepforge start --worker`'s (whose
 * help says `when` they apply).
 */
export function addWorkerOptions(command: Command, when = ''): Command {
  return command
    .option(
      '--token <token>',
      `a worker token from \`deepforge workers token\` (or ${WORKER_TOKEN_ENV})${when}`,
    )
    .option(
      '--labels <labels>',
      `labels jobs may require, comma-separated (e.g. gpu,a100)${when}`,
      labelsOption,
    )
    .option('--slots <n>', `jobs it runs at once (default: executions.concurrency)${when}`, slotsOption)
    .option('--work-dir <dir>', `jobs' files and the input cache (default: <data dir>/worker)${when}`)
    .option('--name <name>', `the name the server shows (default: the host name)${when}`);
}

export function registerWorkerCommands(program: Command, ctx: CliContext): void {
  const worker = program
    .command('worker')
    .description(
      'run jobs of a DeepForge server on this machine (the server runs with `deepforge start --server`)',
    )
    .requiredOption(
      '--server <url>',
      "the server's URL; the worker connects out to it (NAT and firewalls are fine)",
      serverUrlOption('--server'),
    );
  addWorkerOptions(worker)
    .option(
      '--data-dir <dir>',
      'settings (python, executions.warmWorker, worker.cache.maxBytes, environments.*) come from here',
    )
    .addHelpText(
      'after',
      `
Jobs run with the same Python runtime as on the server (the python setting, the warm worker); an operation
with an environment file runs in a venv built here once (environments.dir, environments.pipArgs). A job that
requires labels (e.g. gpu) goes only to workers that have all of them. If the worker dies or is cut off for
longer than the server's workers.leaseTimeout, its jobs run elsewhere and what it reports later is refused.

Example:
  deepforge workers token gpu-box          (on the server: prints the token once)
  ${WORKER_TOKEN_ENV}=dfw_… deepforge worker --server http://server:8888 --labels gpu --slots 2`,
    )
    .action((opts: WorkerOptions) => runWorker(opts, ctx));

  const workers = program
    .command('workers')
    .description('manage the tokens remote workers connect with (on the server machine)');

  const withTokens = async <T>(
    opts: { dataDir?: string },
    fn: (tokens: WorkerTokens, accounts: AccountService) => Promise<T>,
  ): Promise<T> => {
    const dataDir = resolveDataDir({
      ...(opts.dataDir !== undefined ? { dataDir: resolve(ctx.cwd, opts.dataDir) } : {}),
      env: ctx.env,
    });
    const stores = await openDatabase(await loadSettings({ dataDir, env: ctx.env }));
    try {
      const accounts = new AccountService(stores.accounts, () =>
        Promise.reject(new Error('deepforge workers does not handle project secrets')),
      );
      return await fn(new WorkerTokens(stores.workers), accounts);
    } finally {
      await stores.close();
    }
  };
  const dataDirHelp = 'the data dir of the server (default: DEEPFORGE_DATA_DIR or ~/.deepforge)';

  workers
    .command('token')
    .description('make a worker token: printed once, only its sha256 is kept')
    .argument('<name>', 'what it is for (the machine or pool), 1 to 100 characters')
    .option('--data-dir <dir>', dataDirHelp)
    .action(async (name: string, opts: { dataDir?: string }) => {
      await withTokens(opts, async (tokens, accounts) => {
        const made = await tokens.create(name, '(cli)');
        await accounts.audit({
          actorId: null,
          actorName: '(cli)',
          action: 'worker-token-create',
          target: made.record.name,
          detail: made.record.prefix,
          ip: null,
        });
        ctx.out.write(`${made.token}\n`);
        ctx.err.write(
          `worker token "${made.record.name}" made; it is shown only now. Start a worker with:\n` +
            `  ${WORKER_TOKEN_ENV}=<token> deepforge worker --server <this server's URL>\n`,
        );
      });
    });

  workers
    .command('tokens')
    .description('list worker tokens')
    .option('--json', 'print JSON')
    .option('--data-dir <dir>', dataDirHelp)
    .action(async (opts: { dataDir?: string; json?: boolean }) => {
      await withTokens(opts, async (tokens) => {
        const list = await tokens.list();
        if (opts.json) {
          ctx.out.write(
            JSON.stringify(
              list.map(({ tokenHash: _hash, ...rest }) => rest),
              null,
              2,
            ) + '\n',
          );
          return;
        }
        if (list.length === 0) {
          ctx.out.write('No worker tokens yet. `deepforge workers token <name>` makes one.\n');
          return;
        }
        const c = pc.createColors(Boolean(ctx.out.isTTY) && !ctx.env.NO_COLOR);
        ctx.out.write(
          table([
            ['ID', 'NAME', 'PREFIX', 'CREATED', 'LAST USED', 'REVOKED'].map((h) => c.bold(h)),
            ...list.map((t) => [
              t.id,
              t.name,
              t.prefix,
              formatTime(t.createdAt),
              t.lastUsedAt === null ? '-' : formatTime(t.lastUsedAt),
              t.revokedAt === null ? '-' : formatTime(t.revokedAt),
            ]),
          ]) + '\n',
        );
      });
    });

  workers
    .command('revoke')
    .description('revoke a worker token: new connections are refused, connected workers are cut off')
    .argument('<token>', 'its id, or the name of a token not revoked')
    .option('--data-dir <dir>', dataDirHelp)
    .action(async (idOrName: string, opts: { dataDir?: string }) => {
      await withTokens(opts, async (tokens, accounts) => {
        const revoked = await tokens.revoke(idOrName);
        await accounts.audit({
          actorId: null,
          actorName: '(cli)',
          action: 'worker-token-revoke',
          target: revoked.name,
          detail: revoked.prefix,
          ip: null,
        });
        ctx.out.write(`revoked worker token "${revoked.name}" (${revoked.prefix}…)\n`);
      });
    });
}
