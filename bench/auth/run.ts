// Accounts benchmarks (issue 8): `npm run bench:auth [-- --only <name>[,<name>…]] [--repeat N] [--clients N]
// [--no-write] [--smoke]`. Each server runs in a process of its own (server-host.ts), the clients here. Each
// benchmark prints its numbers against its baseline measured in the same run and, unless --no-write or --smoke,
// replaces its own block of the `## Accounts` section of docs/benchmarks.md. --smoke: tiny sizes, nothing written,
// a few seconds: it checks that the benchmarks still run.
import { execFileSync, fork, type ChildProcess } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { totalmem } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { coediting } from './coedit.bench.js';
import type { AuthBenchContext, AuthBenchResult } from './context.js';
import type { HostOptions, HostReady, HostStats, Servers } from './host-protocol.js';
import { NOT_MEASURED, measuredAt, uncommittedWarning } from '../provenance.mjs';
import { requestCost } from './requests.bench.js';
import type { MachineFacts, Section } from './report.js';
import { writeSections } from './report.js';

const HERE = dirname(fileURLToPath(import.meta.url));
const ROOT = join(HERE, '..', '..');
const DOC = join(ROOT, 'docs', 'benchmarks.md');
/** The code the accounts numbers depend on (git pathspecs), for the freshness check. */
const MEASURES = [
  'packages/server/src',
  'packages/engine/src',
  'packages/core/src',
  'packages/protocol/src',
  'bench/auth',
  ...NOT_MEASURED,
];

interface Sizes {
  blocks: number;
  rounds: number;
  warmup: number;
}

interface AuthBenchmark {
  name: string;
  title: (clients: number) => string;
  full: Sizes;
  smoke: Sizes;
  run(ctx: AuthBenchContext): Promise<AuthBenchResult>;
}

const BENCHMARKS: AuthBenchmark[] = [
  {
    name: 'requests',
    title: () => 'Cost of authentication per request',
    full: { blocks: 5, rounds: 2000, warmup: 500 },
    smoke: { blocks: 1, rounds: 10, warmup: 3 },
    run: requestCost,
  },
  {
    name: 'coedit',
    title: (clients) => `Co-editing with ${clients} signed-in clients on one document`,
    full: { blocks: 5, rounds: 200, warmup: 20 },
    smoke: { blocks: 2, rounds: 5, warmup: 2 },
    run: coediting,
  },
];

const USAGE = `usage: npm run bench:auth -- [--only <name>[,<name>…]] [--repeat N] [--clients N] [--no-write] [--smoke]
  --only       run only these benchmarks (${BENCHMARKS.map((b) => b.name).join(', ')})
  --repeat N   measured blocks per benchmark (default 5), after a warm-up
  --clients N  co-editing clients, the typist included (default 50)
  --no-write   print only; leave docs/benchmarks.md alone
  --smoke      tiny sizes (3 clients, a few requests and edits), nothing written: checks that they run`;

interface Options {
  only: string[] | null;
  repeat: number | null;
  clients: number | null;
  write: boolean;
  smoke: boolean;
}

function parseArgs(argv: string[]): Options {
  const opts: Options = { only: null, repeat: null, clients: null, write: true, smoke: false };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i] as string;
    const value = (): string => {
      const v = a.includes('=') ? a.slice(a.indexOf('=') + 1) : argv[++i];
      if (v === undefined) throw new Error(`${a.split('=')[0]} needs a value`);
      return v;
    };
    const count = (name: string, min: number): number => {
      const raw = value();
      const n = Number(raw);
      if (!Number.isInteger(n) || n < min) throw new Error(`${name} needs an integer ≥ ${min}, got ${raw}`);
      return n;
    };
    if (a === '--only' || a.startsWith('--only=')) {
      opts.only = value()
        .split(',')
        .map((s) => s.trim())
        .filter(Boolean);
    } else if (a === '--repeat' || a.startsWith('--repeat=')) opts.repeat = count('--repeat', 1);
    else if (a === '--clients' || a.startsWith('--clients=')) opts.clients = count('--clients', 2);
    else if (a === '--no-write') opts.write = false;
    else if (a === '--smoke') opts.smoke = true;
    else if (a === '--help' || a === '-h') {
      console.log(USAGE);
      process.exit(0);
    } else throw new Error(`unknown argument ${a}`);
  }
  const known = new Set(BENCHMARKS.map((b) => b.name));
  const unknown = (opts.only ?? []).filter((n) => !known.has(n));
  if (unknown.length > 0)
    throw new Error(`unknown benchmark ${unknown.join(', ')} (known: ${[...known].join(', ')})`);
  if (opts.smoke) opts.write = false;
  return opts;
}

const loadAverage = (): string => readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ');

function machineFacts(): MachineFacts {
  const cpu =
    /^model name\s*:\s*(.+)$/m.exec(readFileSync('/proc/cpuinfo', 'utf8'))?.[1]?.trim() ?? 'unknown';
  let commit = 'unknown';
  try {
    commit = execFileSync('git', ['rev-parse', '--short', 'HEAD'], { cwd: ROOT, encoding: 'utf8' }).trim();
    // The servers are loaded from the working tree's sources: say when they are not exactly the commit.
    const changed = execFileSync('git', ['status', '--porcelain', '--', 'packages'], {
      cwd: ROOT,
      encoding: 'utf8',
    }).trim();
    if (changed !== '') commit += ' with uncommitted changes in packages/';
  } catch {
    // not a git checkout
  }
  return {
    date: new Date().toISOString().slice(0, 16).replace('T', ' ') + ' UTC',
    cpu,
    nproc: execFileSync('nproc', { encoding: 'utf8' }).trim(),
    memory: `${Math.round(totalmem() / 2 ** 30)} GiB`,
    node: process.version,
    commit,
    loadBefore: loadAverage(),
  };
}

interface Host {
  child: ChildProcess;
  ready: HostReady;
  stats(): Promise<HostStats>;
  stop(): Promise<void>;
}

/** Starts server-host.ts in its own process and waits for what it made. */
function startHost(options: HostOptions): Promise<Host> {
  const child = fork(join(HERE, 'server-host.ts'), [JSON.stringify(options)], {
    cwd: ROOT,
    execArgv: ['--import', 'tsx', '--import', './bench/auth/source-conditions.mjs'],
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const stats = (): Promise<HostStats> =>
    new Promise((resolve) => {
      const onMessage = (m: unknown): void => {
        if ((m as { type?: string }).type !== 'stats') return;
        child.off('message', onMessage);
        resolve((m as { stats: HostStats }).stats);
      };
      child.on('message', onMessage);
      child.send({ type: 'stats' });
    });
  const stop = async (): Promise<void> => {
    if (child.exitCode === null && child.connected) child.send({ type: 'stop' });
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([exited, new Promise((r) => (timer = setTimeout(r, 15_000)))]);
    clearTimeout(timer);
    if (child.exitCode === null) child.kill('SIGKILL');
  };
  return new Promise((resolve, reject) => {
    child.once('message', (m: unknown) => resolve({ child, ready: m as HostReady, stats, stop }));
    child.once('exit', (code) => reject(new Error(`the server host exited (${code}) before it was ready`)));
  });
}

async function main(): Promise<void> {
  let opts: Options;
  try {
    opts = parseArgs(process.argv.slice(2));
  } catch (err) {
    console.error(`${(err as Error).message}\n${USAGE}`);
    process.exit(2);
  }
  if (opts.smoke) {
    // A smoke run that hangs must not hang `npm test`.
    setTimeout(() => {
      console.error('bench:auth --smoke took over 3 minutes: giving up');
      process.exit(1);
    }, 180_000).unref();
  }
  const clients = opts.clients ?? (opts.smoke ? 3 : 50);
  const selected = BENCHMARKS.filter((b) => !opts.only || opts.only.includes(b.name));
  const t0 = Date.now();
  const facts0 = machineFacts();
  const at = measuredAt(ROOT, MEASURES);
  const hosts = await Promise.allSettled([
    startHost({ accounts: false, users: 0, baseline: true }),
    startHost({ accounts: true, users: clients, baseline: false }),
    startHost({ accounts: true, users: 1, baseline: false }),
  ]);
  const started = hosts.flatMap((h) => (h.status === 'fulfilled' ? [h.value] : []));
  const failed = hosts.find((h): h is PromiseRejectedResult => h.status === 'rejected');
  if (failed) {
    await Promise.all(started.map((h) => h.stop()));
    throw failed.reason;
  }
  const [off, on, onToken] = started as [Host, Host, Host];
  const servers: Servers = {
    off: { url: off.ready.url, projectId: off.ready.projectId },
    on: { url: on.ready.url, projectId: on.ready.projectId, cookies: on.ready.cookies },
    onToken: { url: onToken.ready.url, projectId: onToken.ready.projectId, token: onToken.ready.token! },
    baselineCollabUrl: off.ready.baselineCollabUrl!,
  };
  const hostStats = async (): Promise<HostStats> => {
    const [a, b] = await Promise.all([on.stats(), onToken.stats()]);
    return {
      sessionTouches: a.sessionTouches + b.sessionTouches,
      tokenTouches: a.tokenTouches + b.tokenTouches,
      auditRows: a.auditRows + b.auditRows,
    };
  };
  console.log(`servers ready in ${((Date.now() - t0) / 1000).toFixed(1)} s (${clients} users)`);
  const sections: Section[] = [];
  const raw: Record<string, unknown> = {};
  try {
    for (const bench of selected) {
      const sizes = opts.smoke ? bench.smoke : bench.full;
      // The commit the servers were loaded from, even when HEAD moves while they run.
      const facts = { ...machineFacts(), commit: facts0.commit };
      const title = bench.title(clients);
      const blocks = opts.repeat ?? sizes.blocks;
      console.log(`${bench.name}: ${title} (${blocks} blocks; load average ${facts.loadBefore})`);
      const t1 = Date.now();
      const result = await bench.run({
        host: servers,
        hostStats,
        blocks,
        rounds: sizes.rounds,
        warmup: sizes.warmup,
        clients,
        log: (l) => console.log(l),
      });
      facts.loadAfter = loadAverage();
      console.log(`${bench.name}: ${result.summaryLine}  [${((Date.now() - t1) / 1000).toFixed(0)} s]\n`);
      sections.push({ name: bench.name, title, markdown: result.markdown, facts, at, measures: MEASURES });
      raw[bench.name] = result.raw;
    }
  } finally {
    await Promise.all(started.map((h) => h.stop()));
  }
  if (opts.smoke) {
    console.log(`bench:auth smoke run passed in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
    return;
  }
  const results = join(ROOT, 'bench', 'results');
  mkdirSync(results, { recursive: true });
  const rawFile = join(results, `auth-${new Date().toISOString().replace(/[:.]/g, '-')}.json`);
  writeFileSync(rawFile, JSON.stringify(raw));
  console.log(`raw numbers: ${rawFile}`);
  if (opts.write) {
    const warning = uncommittedWarning('bench:auth', at);
    if (warning) console.warn(warning);
    writeSections(DOC, sections);
    console.log(`wrote ${sections.map((s) => s.name).join(', ')} to ${DOC}`);
  }
}

main().then(
  // Sockets of the clients may linger for a moment: the run is over.
  () => process.exit(0),
  (err: unknown) => {
    console.error(err);
    process.exit(1);
  },
);
