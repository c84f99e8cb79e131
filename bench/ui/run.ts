// UI benchmarks: `npm run bench:ui [-- --only <name>[,<name>…]] [--repeat N] [--no-write] [--smoke]`.
// One real server and one Chromium for all of them; each prints its numbers against its baseline and, unless
// --no-write or --smoke, replaces its own block of the `## UI` section of docs/benchmarks.md. --smoke: tiny sizes,
// one run, no warm-up, nothing written (no raw numbers, no screenshots): checks that every benchmark still runs.
import { execFileSync } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { totalmem } from 'node:os';
import { join } from 'node:path';
import { ensureBuilt } from '../../e2e/global-setup.js';
import { launchBrowser } from '../../e2e/support/browser.js';
import { Rest } from '../../e2e/support/rest.js';
import { removeDir, ROOT, startServer } from '../../e2e/support/server.js';
import { NOT_MEASURED, measuredAt, uncommittedWarning } from '../provenance.mjs';
import { architecture } from './architecture.bench.js';
import { completion } from './completion.bench.js';
import { consoleLatency } from './console.bench.js';
import type { MeasuredAt } from '../provenance.mjs';
import type { UiBenchmark } from './context.js';
import { executionsList } from './list.bench.js';
import { load } from './load.bench.js';
import { metrics } from './metrics.bench.js';
import type { MachineFacts, Section } from './report.js';
import { writeSections } from './report.js';

const BENCHMARKS: UiBenchmark[] = [load, consoleLatency, executionsList, metrics, architecture, completion];
const DOC = join(ROOT, 'docs', 'benchmarks.md');

const USAGE = `usage: npm run bench:ui -- [--only <name>[,<name>…]] [--repeat N] [--no-write] [--smoke]
  --only      run only these benchmarks (${BENCHMARKS.map((b) => b.name).join(', ')})
  --repeat N  measured runs per benchmark (default 5), after one warm-up
  --no-write  print only; leave docs/benchmarks.md alone
  --smoke     tiny sizes, one run, no warm-up, nothing written: checks that they run`;

interface Options {
  only: string[] | null;
  repeat: number;
  write: boolean;
  smoke: boolean;
}

function parseArgs(argv: string[]): Options {
  const opts: Options = { only: null, repeat: 5, write: true, smoke: false };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i] as string;
    const value = (): string => {
      const v = a.includes('=') ? a.slice(a.indexOf('=') + 1) : argv[++i];
      if (v === undefined) throw new Error(`${a.split('=')[0]} needs a value`);
      return v;
    };
    if (a === '--only' || a.startsWith('--only=')) {
      opts.only = value()
        .split(',')
        .map((s) => s.trim())
        .filter(Boolean);
    } else if (a === '--repeat' || a.startsWith('--repeat=')) {
      const n = Number(value());
      if (!Number.isInteger(n) || n < 1) throw new Error('--repeat needs an integer ≥ 1');
      opts.repeat = n;
    } else if (a === '--no-write') {
      opts.write = false;
    } else if (a === '--smoke') {
      opts.smoke = true;
    } else if (a === '--help' || a === '-h') {
      console.log(USAGE);
      process.exit(0);
    } else {
      throw new Error(`unknown argument ${a}`);
    }
  }
  if (opts.smoke) {
    opts.repeat = 1;
    opts.write = false;
  }
  const known = new Set(BENCHMARKS.map((b) => b.name));
  const unknown = (opts.only ?? []).filter((n) => !known.has(n));
  if (unknown.length > 0)
    throw new Error(`unknown benchmark ${unknown.join(', ')} (known: ${[...known].join(', ')})`);
  return opts;
}

const loadAverage = (): string => readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ');

function machineFacts(chromium: string): MachineFacts {
  const cpu =
    /^model name\s*:\s*(.+)$/m.exec(readFileSync('/proc/cpuinfo', 'utf8'))?.[1]?.trim() ?? 'unknown';
  return {
    date: new Date().toISOString().slice(0, 16).replace('T', ' ') + ' UTC',
    cpu,
    nproc: execFileSync('nproc', { encoding: 'utf8' }).trim(),
    memory: `${Math.round(totalmem() / 2 ** 30)} GiB`,
    node: process.version,
    chromium: `Chromium ${chromium} (headless)`,
    loadBefore: loadAverage(),
  };
}

async function main(): Promise<void> {
  let opts: Options;
  try {
    opts = parseArgs(process.argv.slice(2));
  } catch (err) {
    console.error(`${(err as Error).message}\n${USAGE}`);
    process.exit(2);
  }
  const selected = BENCHMARKS.filter((b) => !opts.only || opts.only.includes(b.name));
  const started = Date.now();
  ensureBuilt();
  // What is measured: HEAD when the server starts (a commit made meanwhile is not what runs).
  const measures = (bench: UiBenchmark): string[] => [...bench.measures, ...NOT_MEASURED];
  const at = new Map(selected.map((b) => [b.name, measuredAt(ROOT, measures(b))]));
  const [server, browser] = await Promise.all([startServer(), launchBrowser()]);
  const sections: Section[] = [];
  const raw: Record<string, unknown> = {};
  try {
    const rest = new Rest(server.url);
    for (const bench of selected) {
      const facts = machineFacts(browser.version());
      console.log(
        `${bench.name}: ${opts.smoke ? '(smoke) ' : ''}${bench.title} (${opts.repeat} runs; load average ${facts.loadBefore})`,
      );
      const t0 = Date.now();
      const result = await bench.run({
        server,
        rest,
        browser,
        repeat: opts.repeat,
        smoke: opts.smoke,
        log: (l) => console.log(l),
      });
      facts.loadAfter = loadAverage();
      console.log(`${bench.name}: ${result.summaryLine}  [${((Date.now() - t0) / 1000).toFixed(0)} s]\n`);
      sections.push({
        name: bench.name,
        title: bench.title,
        markdown: result.markdown,
        facts,
        at: at.get(bench.name) as MeasuredAt,
        measures: measures(bench),
      });
      raw[bench.name] = result.raw;
    }
  } finally {
    await browser.close();
    await server.stop();
    await removeDir(server.dataDir);
  }
  if (opts.smoke) {
    console.log(`bench:ui smoke run passed in ${((Date.now() - started) / 1000).toFixed(1)} s`);
    return;
  }
  const results = join(ROOT, 'bench', 'results');
  mkdirSync(results, { recursive: true });
  const rawFile = join(results, `ui-${new Date().toISOString().replace(/[:.]/g, '-')}.json`);
  writeFileSync(rawFile, JSON.stringify(raw));
  console.log(`raw numbers: ${rawFile}`);
  if (opts.write) {
    for (const s of sections) {
      const warning = uncommittedWarning(`bench:ui ${s.name}`, s.at);
      if (warning) console.warn(warning);
    }
    writeSections(DOC, sections);
    console.log(`wrote ${sections.map((s) => s.name).join(', ')} to ${DOC}`);
  }
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
