// Start-up benchmark (issue 13): `node bench/startup/run.mjs [--rounds N] [--cli PATH] [--no-write] [--smoke]`.
//
// How long the built CLI takes for `deepforge --version` and for a whole one-operation `deepforge run` (a data dir
// that has run before, so the interpreter check is cached: docs/adr/0023), against `node -e 0` measured in the same
// rounds (the ratio is what the targets are stated in, so that a loaded machine moves both sides). `python3 -c
// pass` is shown beside. Each round runs every command once, in turn; the medians over the rounds are reported.
// Unless --no-write, replaces the `## Start-up` section of docs/benchmarks.md. --smoke: 1 round, nothing written:
// checks that it runs. --cli: another entry point (an installed `deepforge`), by default the checkout's build, whose
// program bundle for `deepforge run` (scripts/bundle-cli.mjs, docs/adr/0029) is made from that build first.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { replaceSection, updateDoc } from '../docs-section.mjs';
import { NOT_MEASURED, measuredAt, provenanceLine, uncommittedWarning } from '../provenance.mjs';
import { bundleCli } from '../../scripts/bundle-cli.mjs';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const DOC = join(ROOT, 'docs', 'benchmarks.md');
const PYTHON = '/usr/bin/python3';
const OPEN = '<!-- bench:startup -->';
const CLOSE = '<!-- /bench:startup -->';
/** What the numbers depend on: the CLI and everything it loads, the Python runtime, this bench. */
const MEASURES = [
  'packages/cli/src',
  'packages/core/src',
  'packages/protocol/src',
  'packages/engine/src',
  'python/deepforge',
  'bench/startup',
  'scripts/bundle-cli.mjs',
  ...NOT_MEASURED,
];
/** Issue 13's targets in seconds, with `node -e 0` at 0.06 s on the machine they were set on. */
const TARGETS = { version: 0.15, run: 0.4 };
const NODE_BASE_S = 0.06;

const USAGE = `usage: node bench/startup/run.mjs [--rounds N] [--cli PATH] [--no-write] [--smoke]
  --rounds N   rounds of every command (default 15)
  --cli PATH   the deepforge entry point to time (default: packages/cli/bin/deepforge.js, built by tsc -b)
  --no-write   print only; leave docs/benchmarks.md alone
  --smoke      1 round, nothing written: checks that it runs`;

const CHECKOUT_CLI = join(ROOT, 'packages', 'cli', 'bin', 'deepforge.js');

function parseArgs(argv) {
  const opts = {
    rounds: 15,
    cli: CHECKOUT_CLI,
    write: true,
    smoke: false,
  };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--rounds') {
      opts.rounds = Number(argv[++i]);
      if (!Number.isInteger(opts.rounds) || opts.rounds < 1)
        throw new Error('--rounds needs a whole number ≥ 1');
    } else if (a === '--cli') {
      opts.cli = argv[++i];
      if (!opts.cli) throw new Error('--cli needs a path');
    } else if (a === '--no-write') opts.write = false;
    else if (a === '--smoke') opts.smoke = true;
    else throw new Error(`unknown option ${a}`);
  }
  if (opts.smoke) Object.assign(opts, { rounds: 1, write: false });
  return opts;
}

const load = () =>
  loadavg()
    .map((l) => l.toFixed(2))
    .join(' ');

/** Runs a command to its end; its wall time in seconds. Fails the bench when it fails. */
function timed(label, cmd, args, options) {
  const t0 = process.hrtime.bigint();
  const r = spawnSync(cmd, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], ...options });
  const s = Number(process.hrtime.bigint() - t0) / 1e9;
  if (r.status !== 0) {
    throw new Error(
      `${label} failed (exit ${r.status ?? r.signal}): ${(r.stderr || r.stdout).trim().slice(-800)}`,
    );
  }
  return { s, stdout: r.stdout };
}

const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};
const ms = (s) => `${(s * 1000).toFixed(0)} ms`;

/** A project with one operation that returns a number: the run is start-up, one job and the summary. */
function writeProject(dir) {
  mkdirSync(join(dir, 'operations'), { recursive: true });
  mkdirSync(join(dir, 'pipelines'));
  writeFileSync(join(dir, 'deepforge.json'), JSON.stringify({ name: 'one', formatVersion: 1 }) + '\n');
  writeFileSync(
    join(dir, 'operations', 'One.py'),
    'class One():\n    def execute(self):\n        number = 1\n        return number\n',
  );
  writeFileSync(
    join(dir, 'pipelines', 'one.json'),
    JSON.stringify({
      name: 'one',
      nodes: [{ id: 'one', operation: 'One', position: { x: 0, y: 0 } }],
      connections: [],
    }) + '\n',
  );
}

function markdown(r, facts) {
  const row = (name, key, target) => {
    const ratio = r[key] / r.node;
    const goal = target === undefined ? '' : `≤ ${target} s (≈ ${(target / NODE_BASE_S).toFixed(1)}× node)`;
    const meets = target === undefined ? '' : ratio <= target / NODE_BASE_S ? ' (meets)' : ' (misses)';
    return `| ${name} | ${ms(r[key])} | **${ratio.toFixed(2)}×** | ${goal}${meets} |`;
  };
  return [
    '## Start-up',
    '',
    '`node bench/startup/run.mjs` (options `--rounds N`, `--cli PATH`, `--no-write`, `--smoke`; `npm test` runs ' +
      'it with `--smoke`).',
    '',
    OPEN,
    provenanceLine(facts.at, MEASURES),
    `_Measured ${facts.date} on ${facts.nproc} × ${facts.cpu}, Node ${process.version}, commit ${facts.at.short}` +
      `${facts.at.uncommitted.length > 0 ? ' with uncommitted changes' : ''}; ${facts.rounds} rounds; load ` +
      `average before ${facts.loadBefore}, after ${facts.loadAfter}._`,
    '',
    'Wall time of whole processes, medians over rounds that run every command in turn. The run is a ' +
      "one-operation project on a data dir that has run before (interpreter check cached, the bundle's compiled code kept). Targets (issue 13) are " +
      `seconds on a machine where \`node -e 0\` takes ${NODE_BASE_S} s, compared here as ratios to \`node -e 0\`.`,
    '',
    '| command | median | ÷ `node -e 0` | target |',
    '| --- | --- | --- | --- |',
    `| \`node -e 0\` | ${ms(r.node)} | 1× | |`,
    `| \`${PYTHON} -c pass\` | ${ms(r.python)} | ${(r.python / r.node).toFixed(2)}× | |`,
    row('`deepforge --version`', 'version', TARGETS.version),
    row('`deepforge run one one` (1 operation)', 'run', TARGETS.run),
    CLOSE,
  ].join('\n');
}

async function main() {
  let opts;
  try {
    opts = parseArgs(process.argv.slice(2));
  } catch (err) {
    console.error(`${err.message}\n${USAGE}`);
    process.exit(2);
  }
  if (!existsSync(opts.cli)) {
    console.error(`bench:startup: ${opts.cli} does not exist (build the CLI first: npx tsc -b)`);
    process.exit(1);
  }
  if (opts.cli === CHECKOUT_CLI) await bundleCli({ quiet: true });
  const cpu = cpus()[0]?.model ?? 'unknown CPU';
  const facts = {
    at: measuredAt(ROOT, MEASURES),
    date: new Date().toISOString().slice(0, 10),
    nproc: cpus().length,
    cpu,
    rounds: opts.rounds,
    loadBefore: load(),
  };
  const work = mkdtempSync(join(tmpdir(), 'df-startup-'));
  try {
    const project = join(work, 'one');
    writeProject(project);
    // A clean environment apart from PATH and HOME: nothing of the user's settings, the checkout not on any path.
    const env = {
      PATH: process.env.PATH ?? '/usr/bin:/bin',
      HOME: process.env.HOME ?? work,
      DEEPFORGE_DATA_DIR: join(work, 'data'),
      DEEPFORGE_PYTHON: PYTHON,
      NO_COLOR: '1',
      // The compiled code of the program's bundle (docs/adr/0029) is kept here: the first, unmeasured run makes it.
      XDG_CACHE_HOME: join(work, 'cache'),
    };
    const cliArgs = (...a) => [opts.cli, ...a];
    const version = timed('deepforge --version', process.execPath, cliArgs('--version'), { env, cwd: work });
    if (!/^\d+\.\d+\.\d+/.test(version.stdout))
      throw new Error(`--version printed ${JSON.stringify(version.stdout)}`);
    // The first run checks the interpreter and creates the database: a user's first run, not what is measured.
    timed('the first deepforge run', process.execPath, cliArgs('run', project, 'one'), { env, cwd: work });
    const samples = { node: [], python: [], version: [], run: [] };
    for (let i = 0; i < opts.rounds; i++) {
      samples.node.push(timed('node -e 0', process.execPath, ['-e', '0'], { env, cwd: work }).s);
      samples.python.push(timed('python -c pass', PYTHON, ['-c', 'pass'], { env, cwd: work }).s);
      samples.version.push(
        timed('deepforge --version', process.execPath, cliArgs('--version'), { env, cwd: work }).s,
      );
      samples.run.push(
        timed('deepforge run', process.execPath, cliArgs('run', project, 'one'), { env, cwd: work }).s,
      );
    }
    const r = Object.fromEntries(Object.entries(samples).map(([k, v]) => [k, median(v)]));
    facts.loadAfter = load();
    console.log(
      `start-up${opts.smoke ? ' (smoke)' : ''}, ${opts.rounds} rounds, load average before ${facts.loadBefore}, ` +
        `after ${facts.loadAfter}:\n` +
        `  node -e 0            ${ms(r.node)}\n` +
        `  python3 -c pass      ${ms(r.python)} (${(r.python / r.node).toFixed(2)}× node)\n` +
        `  deepforge --version  ${ms(r.version)} (${(r.version / r.node).toFixed(2)}× node; target ≤ ` +
        `${(TARGETS.version / NODE_BASE_S).toFixed(1)}×)\n` +
        `  deepforge run (1 op) ${ms(r.run)} (${(r.run / r.node).toFixed(2)}× node; target ≤ ` +
        `${(TARGETS.run / NODE_BASE_S).toFixed(1)}×)`,
    );
    const text = markdown(r, facts);
    if (opts.write) {
      const warning = uncommittedWarning('bench:startup', facts.at);
      if (warning) console.warn(warning);
      updateDoc(DOC, (doc) => replaceSection(doc, 'Start-up', text));
      console.log(`wrote the Start-up section of ${DOC}`);
    }
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}

try {
  await main();
} catch (err) {
  console.error(`bench:startup: ${err.message}`);
  process.exit(1);
}
