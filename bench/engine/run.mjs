// Engine benchmarks: `npm run bench:engine [-- --only <name>[,<name>…]] [--repeat N] [--no-write] [--smoke]`.
// Each prints its numbers as ratios against a baseline measured in the same run and, unless --no-write or
// --smoke, replaces its own section of docs/benchmarks.md (under `## Engine`), leaving the other sections alone.
// --smoke: tiny sizes, one run, no warm-up, nothing written: checks that every benchmark still runs (npm test).
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as dispatch from './dispatch.bench.mjs';
import * as fanout from './fanout.bench.mjs';
import * as handoff from './handoff.bench.mjs';
import * as metrics from './metrics.bench.mjs';
import * as overhead from './overhead.bench.mjs';
import * as peers from './peers.bench.mjs';
import * as workers from './workers.bench.mjs';
import { NOT_MEASURED, measuredAt, uncommittedWarning } from '../provenance.mjs';
import { PYTHON } from './lib.mjs';
import { writeSections } from './report.mjs';

const BENCHMARKS = [overhead, handoff, fanout, peers, metrics, dispatch, workers];
const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const DOC = join(ROOT, 'docs', 'benchmarks.md');
/** The code every engine benchmark's numbers depend on (git pathspecs), for the freshness check. */
const MEASURES = [
  'packages/engine/src',
  'packages/core/src',
  'packages/protocol/src',
  'python/deepforge',
  'bench/engine',
  ...NOT_MEASURED,
];

const USAGE = `usage: npm run bench:engine -- [--only <name>[,<name>…]] [--repeat N] [--no-write] [--smoke]
  --only      run only these benchmarks (${BENCHMARKS.map((b) => b.name).join(', ')})
  --repeat N  measured runs per benchmark (default 5, peers 9), after one warm-up
  --no-write  print only; leave docs/benchmarks.md alone
  --smoke     tiny sizes, one run, no warm-up, nothing written: checks that they run`;

const DEFAULT_RUNS = 5;

function parseArgs(argv) {
  const opts = { only: null, repeat: undefined, write: true, smoke: false };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const value = () => {
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
  if (opts.only) {
    const known = new Set(BENCHMARKS.map((b) => b.name));
    const unknown = opts.only.filter((n) => !known.has(n));
    if (unknown.length > 0)
      throw new Error(`unknown benchmark ${unknown.join(', ')} (known: ${[...known].join(', ')})`);
  }
  return opts;
}

function machineFacts() {
  const cpu =
    /^model name\s*:\s*(.+)$/m.exec(readFileSync('/proc/cpuinfo', 'utf8'))?.[1]?.trim() ?? 'unknown';
  const nproc = execFileSync('nproc', { encoding: 'utf8' }).trim();
  const python = execFileSync(
    PYTHON,
    ['-c', 'import platform, numpy; print(platform.python_version(), numpy.__version__)'],
    {
      encoding: 'utf8',
    },
  )
    .trim()
    .split(' ');
  const load = readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ');
  const pycache = existsSync(join(ROOT, 'python', 'deepforge', '__pycache__'));
  const bytecode = process.env.PYTHONDONTWRITEBYTECODE
    ? `PYTHONDONTWRITEBYTECODE=${process.env.PYTHONDONTWRITEBYTECODE}`
    : 'PYTHONDONTWRITEBYTECODE unset';
  return {
    pythonEnv: `${bytecode}, python/deepforge/__pycache__ ${pycache ? 'present' : 'absent'}`,
    nproc,
    cpu,
    node: process.version,
    python: `${PYTHON} ${python[0]} (numpy ${python[1]})`,
    date: new Date().toISOString().slice(0, 16).replace('T', ' ') + ' UTC',
    loadBefore: load,
  };
}

async function main() {
  let opts;
  try {
    opts = parseArgs(process.argv.slice(2));
  } catch (err) {
    console.error(`${err.message}\n${USAGE}`);
    process.exit(2);
  }
  const selected = BENCHMARKS.filter((b) => !opts.only || opts.only.includes(b.name));
  const results = [];
  const started = Date.now();
  for (const bench of selected) {
    // What is measured: HEAD when the bench starts (a commit made meanwhile is not what ran), and the code its
    // numbers depend on: the engine's, and what else it runs (the CLI, for whole commands).
    const measures = bench.measuresAlso
      ? [...MEASURES.filter((m) => !m.startsWith(':!')), ...bench.measuresAlso, ...NOT_MEASURED]
      : MEASURES;
    const facts = { ...machineFacts(), at: measuredAt(ROOT, measures), measures };
    // A bench whose numbers move more between runs than its target's margin takes more runs (`runs`).
    const repeat = opts.repeat ?? bench.runs ?? DEFAULT_RUNS;
    console.log(
      `${bench.name}: ${opts.smoke ? '(smoke) ' : ''}${bench.title} (${repeat} runs; load average ${facts.loadBefore})`,
    );
    const t0 = Date.now();
    const result = await bench.run({
      repeat,
      smoke: opts.smoke,
      log: (line) => console.log(line),
    });
    console.log(`${bench.name}: ${result.summaryLine}  [${((Date.now() - t0) / 1000).toFixed(0)} s]\n`);
    facts.loadAfter = readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ');
    results.push({ bench, result, facts });
  }
  if (opts.smoke) {
    console.log(`bench:engine smoke run passed in ${((Date.now() - started) / 1000).toFixed(1)} s`);
    return;
  }
  if (opts.write) {
    for (const { bench, facts } of results) {
      const warning = uncommittedWarning(`bench:engine ${bench.name}`, facts.at);
      if (warning) console.warn(warning);
    }
    writeSections(
      DOC,
      results.map(({ bench, result, facts }) => ({
        name: bench.name,
        title: bench.title,
        markdown: result.markdown,
        facts,
      })),
    );
    console.log(`wrote ${results.map((r) => r.bench.name).join(', ')} to ${DOC}`);
  }
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
