// DeepForge beside the workflow engines a team might use instead, on this machine, in the same run: Dask
// (dask.distributed with a 2-worker LocalCluster) and snakemake (Debian's python3-distributed and snakemake; `npm
// run setup` installs them). Two shapes: a fan-out of independent trivial operations, timed as whole commands
// (`deepforge run` against a Dask script and a snakemake run, each from its process start, Dask's cluster start
// included), and a chain, timed per step inside each engine (DeepForge's engine already open, Dask's cluster
// already started).
import { spawn } from 'node:child_process';
import { mkdir, writeFile } from 'node:fs/promises';
import { availableParallelism } from 'node:os';
import { dirname, join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import {
  PYTHON,
  cleanEnv,
  loadProject,
  makeTempDir,
  ms,
  ratio,
  removeDir,
  runPipeline,
  runPython,
  sec,
  spread,
  summary,
  table,
  withEngine,
  writeProject,
} from './lib.mjs';

export const name = 'peers';
export const title = 'Beside Dask and snakemake: a 200-operation fan-out and a 20-step chain';
/**
 * Nine runs, not five: on the 2-core VM these were measured on, the fan-out's ratio and the chain's step moved
 * ±15% between runs an hour apart, more than their targets' margins; the median of more interleaved runs moves less.
 */
export const runs = 9;
/** Besides the engine's code, the whole command runs the CLI. */
export const measuresAlso = ['packages/cli/src'];

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const CLI = join(ROOT, 'packages', 'cli', 'dist', 'main.js');
const SNAKEMAKE = '/usr/bin/snakemake';

const FULL = { fanout: 200, chain: 20, snakemakeRuns: 2 };
const SMOKE = { fanout: 6, chain: 3, snakemakeRuns: 1 };
/** The goals: DeepForge's whole command at most Dask's whole script; a chained step ≤ 5 ms in the engine. */
const FANOUT_TARGET = 1.0;
const STEP_TARGET_MS = 5;
const WORKERS = 2;

const TINY = `class Tiny():
    def __init__(self, i=0):
        self.i = i

    def execute(self):
        value = self.i + 1
        return value
`;

const STEP = `class Step():
    def execute(self, value):
        value = value + 1
        return value
`;

const START = `class Start():
    def execute(self):
        value = 0
        return value
`;

function fanoutPipeline(n) {
  return {
    nodes: Array.from({ length: n }, (_, i) => ({ id: `t${i}`, operation: 'Tiny', attributes: { i } })),
    connections: [],
  };
}

function chainPipeline(n) {
  const nodes = [{ id: 's0', operation: 'Start' }];
  const connections = [];
  for (let i = 1; i <= n; i++) {
    nodes.push({ id: `s${i}`, operation: 'Step' });
    connections.push({ from: { node: `s${i - 1}`, port: 'value' }, to: { node: `s${i}`, port: 'value' } });
  }
  return { nodes, connections };
}

/**
 * Dask, as a user would write it: a LocalCluster of 2 worker processes (one thread each, like DeepForge's 2 job
 * slots on 2 CPUs), the fan-out submitted and gathered; then, in the same cluster, a chain of dependent tasks
 * timed from its submission to its result. Prints the inside timings as JSON.
 */
const DASK = `import json
import sys
import time

from dask.distributed import Client, LocalCluster


def tiny(i):
    return i + 1


def start():
    return 0


def step(value):
    return value + 1


if __name__ == "__main__":
    n, chain = int(sys.argv[1]), int(sys.argv[2])
    t0 = time.perf_counter()
    with LocalCluster(n_workers=${WORKERS}, threads_per_worker=1, processes=True, dashboard_address=None) as cluster:
        with Client(cluster) as client:
            t1 = time.perf_counter()
            futures = [client.submit(tiny, i, pure=False) for i in range(n)]
            results = client.gather(futures)
            assert results == [i + 1 for i in range(n)], results
            t2 = time.perf_counter()
            chain_ms = None
            if chain > 0:
                walls = []
                for _ in range(3):
                    c0 = time.perf_counter()
                    f = client.submit(start, pure=False)
                    for _ in range(chain):
                        f = client.submit(step, f, pure=False)
                    assert f.result() == chain
                    walls.append((time.perf_counter() - c0) * 1000)
                chain_ms = sorted(walls)[1]
    t3 = time.perf_counter()
    print(json.dumps({"cluster": (t1 - t0) * 1000, "fanout": (t2 - t1) * 1000, "chain": chain_ms, "close": (t3 - t2) * 1000}))
`;

/** snakemake: one rule per operation, each running the interpreter (a process per job, as DeepForge's). */
function snakefile(n) {
  return [
    `N = ${n}`,
    '',
    'rule all:',
    '    input: expand("out/{i}.txt", i=range(N))',
    '',
    'rule tiny:',
    '    output: "out/{i}.txt"',
    `    shell: "${PYTHON} -c 'import sys; open(sys.argv[1], \\"w\\").write(str(int(sys.argv[2]) + 1))' {output} {wildcards.i}"`,
    '',
  ].join('\n');
}

function timed(command, args, { cwd, env }) {
  return new Promise((resolve, reject) => {
    const t0 = performance.now();
    const child = spawn(command, args, { cwd, env, stdio: ['ignore', 'pipe', 'pipe'] });
    const out = [];
    const err = [];
    child.stdout.on('data', (c) => out.push(c));
    child.stderr.on('data', (c) => err.push(c));
    child.once('error', reject);
    child.once('close', (code, signal) => {
      const wallMs = performance.now() - t0;
      if (code !== 0) {
        reject(
          new Error(
            `${command} ${args.join(' ')} exited with ${code ?? signal}: ${Buffer.concat(err).toString().trim().slice(-2000)}`,
          ),
        );
        return;
      }
      resolve({ wallMs, stdout: Buffer.concat(out).toString() });
    });
  });
}

export async function run({ repeat, log, smoke = false }) {
  const shape = smoke ? SMOKE : FULL;
  const work = await makeTempDir('peers');
  try {
    const projectDir = join(work, 'project');
    await writeProject(projectDir, {
      name: 'peers',
      operations: { Tiny: TINY, Start: START, Step: STEP },
      pipelines: { fanout: fanoutPipeline(shape.fanout), chain: chainPipeline(shape.chain) },
    });
    const daskScript = join(work, 'dask_bench.py');
    await writeFile(daskScript, DASK);
    const snakeDir = join(work, 'snake');
    await mkdir(snakeDir);
    await writeFile(join(snakeDir, 'Snakefile'), snakefile(shape.fanout));

    // One data dir for every run, as a user's: the warm-up creates its database and remembers the interpreter
    // check, as a first run does. No output cache (`--cache` is off by default).
    const dataDir = join(work, 'data');
    const deepforgeOnce = async () => {
      const env = { ...cleanEnv(), DEEPFORGE_DATA_DIR: dataDir, DEEPFORGE_PYTHON: PYTHON };
      const r = await timed(process.execPath, [CLI, 'run', projectDir, 'fanout', '--json'], {
        cwd: work,
        env,
      });
      const result = r.stdout
        .split('\n')
        .filter(Boolean)
        .map((l) => JSON.parse(l))
        .find((e) => e.type === 'run.result');
      if (result?.status !== 'success')
        throw new Error(`deepforge run did not succeed: ${JSON.stringify(result)}`);
      return r.wallMs;
    };
    const daskOnce = async () => {
      const r = await runPython([daskScript, String(shape.fanout), '0'], { cwd: work });
      return { wall: r.wallMs, ...JSON.parse(r.stdout.trim().split('\n').pop()) };
    };
    const snakemakeOnce = async () => {
      await removeDir(join(snakeDir, 'out'));
      await removeDir(join(snakeDir, '.snakemake'));
      const r = await timed(SNAKEMAKE, ['--cores', String(WORKERS), '--quiet'], {
        cwd: snakeDir,
        env: cleanEnv(),
      });
      return r.wallMs;
    };

    // Warm-up (not counted): page cache, bytecode of every side.
    if (!smoke) {
      await deepforgeOnce();
      await daskOnce();
    }
    const rows = [];
    for (let r = 0; r < repeat; r++) {
      const withSnake = r < shape.snakemakeRuns;
      const sides = ['deepforge', 'dask', ...(withSnake ? ['snakemake'] : [])];
      const order = sides.map((_, i) => sides[(i + r) % sides.length]);
      const row = {};
      for (const side of order) {
        if (side === 'deepforge') row.deepforge = await deepforgeOnce();
        else if (side === 'dask') row.dask = await daskOnce();
        else row.snakemake = await snakemakeOnce();
      }
      rows.push(row);
      log(
        `  fan-out run ${r + 1}/${repeat}: deepforge run ${sec(row.deepforge)}, Dask ${sec(row.dask.wall)} ` +
          `(cluster ${ms(row.dask.cluster)}, tasks ${ms(row.dask.fanout)})` +
          (row.snakemake !== undefined ? `, snakemake ${sec(row.snakemake)}` : '') +
          `; ratio to Dask ${ratio(row.deepforge / row.dask.wall)}`,
      );
    }

    // The chain, per step, inside each engine.
    const chain = await withEngine(async (engine) => {
      const project = await loadProject(engine, projectDir);
      const once = () => runPipeline(engine, { project, projectDir, pipelineName: 'chain', concurrency: 1 });
      if (!smoke) await once();
      const deepforge = [];
      const dask = [];
      for (let r = 0; r < repeat; r++) {
        const jobs = shape.chain + 1;
        deepforge.push((await once()).wallMs / jobs);
        const d = await runPython([daskScript, '1', String(shape.chain)], { cwd: work });
        dask.push(JSON.parse(d.stdout.trim().split('\n').pop()).chain / jobs);
        log(`  chain run ${r + 1}/${repeat}: per step DeepForge ${ms(deepforge[r])}, Dask ${ms(dask[r])}`);
      }
      return { deepforge, dask };
    });
    return report(rows, chain, shape);
  } finally {
    await removeDir(work);
  }
}

function report(rows, chain, shape) {
  const df = summary(rows.map((r) => r.deepforge));
  const dask = summary(rows.map((r) => r.dask.wall));
  const cluster = summary(rows.map((r) => r.dask.cluster));
  const tasks = summary(rows.map((r) => r.dask.fanout));
  const perRun = summary(rows.map((r) => r.deepforge / r.dask.wall));
  const snakes = rows.filter((r) => r.snakemake !== undefined);
  const snake = snakes.length > 0 ? summary(snakes.map((r) => r.snakemake)) : null;
  const stepDf = summary(chain.deepforge);
  const stepDask = summary(chain.dask);
  const meets = (x, t) => (x <= t ? 'meets' : 'misses');
  const jobs = shape.chain + 1;

  const summaryLine =
    `${shape.fanout}-operation fan-out: deepforge run ${sec(df.median)} vs Dask ${sec(dask.median)} = ` +
    `${ratio(perRun.median)} (target ≤ ${FANOUT_TARGET}×)` +
    (snake ? `, snakemake ${sec(snake.median)}` : '') +
    `; chain: ${ms(stepDf.median)} per step vs Dask ${ms(stepDask.median)} (target ≤ ${STEP_TARGET_MS} ms)`;

  const markdown = [
    `**Fan-out, whole commands.** ${shape.fanout} independent trivial operations (each returns its attribute + 1, ` +
      `so each stores an output), run by \`deepforge run <project> fanout\` (the built CLI, one data dir for all runs as a user ` +
      `has, its database and interpreter check made by the warm-up; default settings: ${availableParallelism()} jobs at once, each job its own Python process, every ` +
      'state change durable in SQLite) against the same work as a Dask script (dask.distributed ' +
      `${'2022.12'}, a LocalCluster of ${WORKERS} worker processes with one thread each, tasks submitted and ` +
      `gathered, the cluster started and closed inside the script) and a snakemake run (\`--cores ${WORKERS}\`, ` +
      'one rule instance per operation, each running the interpreter). Each timed from its process start to its ' +
      `exit. ${rows.length} runs after a warm-up, the order rotating; snakemake in the first ${snakes.length}. ` +
      'Median (min–max); the ratio is the median of the per-run ratios.',
    '',
    table(
      ['', 'wall', 'ratio to Dask', 'target'],
      [
        [
          '**`deepforge run`**',
          spread(df, sec),
          `**${ratio(perRun.median)}** (${ratio(perRun.min)}–${ratio(perRun.max)})`,
          `≤ ${FANOUT_TARGET}× (${meets(perRun.median, FANOUT_TARGET)})`,
        ],
        [
          'Dask script',
          `${spread(dask, sec)} (cluster start ${spread(cluster)}, the tasks ${spread(tasks)})`,
          '1×',
          '',
        ],
        ...(snake ? [['snakemake', spread(snake, sec), ratio(snake.median / dask.median), '']] : []),
      ],
    ),
    '',
    `**Chain, per step inside the engine.** ${jobs} operations in a chain (the first returns 0, each next one its ` +
      `input + 1): the pipeline wall (\`startExecution\` → \`done\`, an engine already open) divided by ${jobs}, ` +
      `against the same chain of dependent tasks submitted to a running Dask cluster (from the first submit to ` +
      `the result, median of 3 in each script) divided by ${jobs}. ${chain.deepforge.length} runs, alternating.`,
    '',
    table(
      ['', 'per step', 'target'],
      [
        [
          '**DeepForge** (a process per job, durable state)',
          `**${spread(stepDf)}**`,
          `≤ ${STEP_TARGET_MS} ms (${meets(stepDf.median, STEP_TARGET_MS)}; ${ratio(stepDf.median / STEP_TARGET_MS)})`,
        ],
        ['Dask (tasks in 2 running worker processes, in memory)', spread(stepDask), ''],
      ],
    ),
  ].join('\n');
  return { summaryLine, markdown };
}
