// Per-operation overhead: a chain of 20 trivial operations run by the engine (concurrency 1) against the same
// 20 classes called in sequence by one plain Python script (its interpreter start counted once).
import { spawn } from 'node:child_process';
import { mkdir, readFile, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { findRuntimeDir } from '@deepforge/engine';
import { POSTGRES_LOCAL, POSTGRES_S3, SQLITE_LOCAL, withBackends } from './backends.mjs';
import {
  PYTHON,
  cleanEnv,
  loadProject,
  makeTempDir,
  median,
  ms,
  printed,
  ratio,
  removeDir,
  runPipeline,
  runPython,
  spread,
  statusTime,
  summary,
  table,
  withEngines,
  writeProject,
} from './lib.mjs';

export const name = 'overhead';
export const title = 'Per-operation overhead';

/** Operations in the chain; a smoke run uses 3. */
const N = 20;
const SMOKE_N = 3;
const TARGET_MS = 100;
/** Per-operation overhead on PostgreSQL against SQLite's, measured in the same run (scale-out issue). */
const POSTGRES_TARGET = 1.5;
/** Every run times the chain on each, in an order that rotates; the breakdown and replays are SQLite's. */
const VARIANTS = [SQLITE_LOCAL, POSTGRES_LOCAL, POSTGRES_S3];
const PREFIX = 'bench-timing ';
/** How many times one job's harness is re-run on its own, per repetition (a smoke run: once). */
const REPLAYS = 3;
const pad = (i) => String(i).padStart(2, '0');

/**
 * StepNN: the first makes 1, every other one adds 1 to its input. Each prints when its module was imported and
 * when execute started and ended (a few microseconds, the same on both sides), so the gaps can be placed.
 */
function operationSource(i) {
  const first = i === 1;
  return [
    'import time',
    '',
    '',
    `class Step${pad(i)}():`,
    '    imported = time.time()',
    '',
    first ? '    def execute(self):' : '    def execute(self, value):',
    '        started = time.time()',
    first ? '        value = 1' : '        value = value + 1',
    `        print(${JSON.stringify(PREFIX)} + repr([self.imported, started, time.time(), value]))`,
    '        return value',
    '',
  ].join('\n');
}

function baselineScript(operations, n) {
  const calls = [];
  for (let i = 1; i <= n; i++) {
    calls.push(i === 1 ? `value = Step${pad(i)}().execute()` : `value = Step${pad(i)}().execute(value)`);
  }
  return [...Object.values(operations), ...calls, `assert value == ${n}, value`, ''].join('\n');
}

function pipeline(n) {
  const nodes = [];
  const connections = [];
  for (let i = 1; i <= n; i++) {
    nodes.push({ id: `s${pad(i)}`, operation: `Step${pad(i)}` });
    if (i > 1) {
      connections.push({
        from: { node: `s${pad(i - 1)}`, port: 'value' },
        to: { node: `s${pad(i)}`, port: 'value' },
      });
    }
  }
  return { nodes, connections };
}

/** Where the pipeline's wall time went, from job records, job.status events and the operations' own clock. */
function breakdown(run, n) {
  const jobs = new Map(run.details.jobs.map((j) => [j.node, j]));
  const seg = {
    setup: 0,
    gap: 0,
    start: 0,
    inputs: 0,
    execute: 0,
    exit: 0,
    store: 0,
    teardown: 0,
  };
  let previousSuccess;
  let runningAfter = 0;
  for (let i = 1; i <= n; i++) {
    const node = `s${pad(i)}`;
    const job = jobs.get(node);
    const running = statusTime(run, node, 'running');
    const success = statusTime(run, node, 'success');
    const [imported, started, finished, value] = printed(run, node, PREFIX);
    if (value !== i) throw new Error(`${node} computed ${value}, expected ${i}`);
    if (i === 1) seg.setup += job.startedAt - run.startEpoch;
    else seg.gap += job.startedAt - previousSuccess;
    // `running` is recorded while the job's process starts (the job is handed to a process waiting for it):
    // not a segment of its own, see `runningAfter`.
    runningAfter += running - job.startedAt;
    seg.start += imported * 1000 - job.startedAt;
    seg.inputs += (started - imported) * 1000;
    seg.execute += (finished - started) * 1000;
    seg.exit += job.endedAt - finished * 1000;
    seg.store += success - job.endedAt;
    previousSuccess = success;
  }
  seg.teardown = run.endEpoch - previousSuccess;
  return { seg, runningAfter };
}

/**
 * Runs one job's harness again by itself, from the spec the engine wrote, with its events going to a file:
 * what the Python side costs without the engine around it.
 */
async function replayHarness(specFile, dir, runtimeDir, k) {
  const spec = JSON.parse(await readFile(specFile, 'utf8'));
  delete spec.eventsFd;
  spec.eventsFile = join(dir, `events-${k}.jsonl`);
  spec.outputDir = join(dir, `out-${k}`);
  const file = join(dir, `job-${k}.json`);
  await writeFile(file, JSON.stringify(spec));
  const env = {
    ...cleanEnv(),
    PYTHONPATH: runtimeDir,
    PYTHONUNBUFFERED: '1',
    PYTHONIOENCODING: 'utf-8:backslashreplace',
  };
  const spawned = performance.timeOrigin + performance.now();
  const exited = await new Promise((resolve, reject) => {
    const child = spawn(PYTHON, ['-m', 'deepforge.harness', file], {
      cwd: spec.workDir,
      env,
      stdio: 'ignore',
    });
    child.once('error', reject);
    child.once('close', (code) => {
      if (code !== 0) reject(new Error(`the replayed harness exited with ${code}`));
      else resolve(performance.timeOrigin + performance.now());
    });
  });
  const events = (await readFile(spec.eventsFile, 'utf8'))
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l));
  const at = (pred, what) => {
    const e = events.find(pred);
    if (!e) throw new Error(`the replayed harness sent no ${what} event`);
    return e.t;
  };
  const hello = at((e) => e.type === 'hello', 'hello');
  const loading = at((e) => e.type === 'phase' && e.phase === 'loading-inputs', 'loading-inputs');
  const executing = at((e) => e.type === 'phase' && e.phase === 'executing', 'executing');
  const saving = at((e) => e.type === 'phase' && e.phase === 'saving-outputs', 'saving-outputs');
  const output = at((e) => e.type === 'output', 'output');
  return {
    wall: exited - spawned,
    toHello: hello - spawned,
    setup: loading - hello,
    inputs: executing - loading,
    execute: saving - executing,
    save: output - saving,
    exit: exited - output,
  };
}

/** The project (pipeline `chain`) and, beside it, the baseline script; returns the script's path. */
async function writeChainProject(projectDir, n) {
  const operations = {};
  for (let i = 1; i <= n; i++) operations[`Step${pad(i)}`] = operationSource(i);
  await writeProject(projectDir, { name: 'overhead', operations, pipelines: { chain: pipeline(n) } });
  const script = join(projectDir, 'baseline.py');
  await writeFile(script, baselineScript(operations, n));
  return script;
}

export async function run({ repeat, log, smoke = false }) {
  const n = smoke ? SMOKE_N : N;
  const replays = smoke ? 1 : REPLAYS;
  /** The job whose harness is re-run: the middle of the chain. */
  const replayed = `s${pad(Math.ceil(n / 2))}`;
  const projectDir = await makeTempDir('overhead-project');
  const replayDir = await makeTempDir('overhead-replay');
  try {
    const script = await writeChainProject(projectDir, n);
    const runtimeDir = findRuntimeDir();

    return await withBackends(async (backends) => {
      const configs = [];
      for (const v of VARIANTS) configs.push(await backends.settings(v));
      return withEngines(configs, async (engines, infos) => {
        const [engine] = engines;
        const project = await loadProject(engine, projectDir);
        const once = async () => {
          const scriptRun = await runPython([script], { cwd: projectDir });
          const lines = scriptRun.stdout.split('\n').filter((l) => l.startsWith(PREFIX));
          if (lines.length !== n)
            throw new Error(`the baseline printed ${lines.length} lines, expected ${n}`);
          return scriptRun;
        };
        const pipelineOnce = (e = engine) =>
          runPipeline(e, { project, projectDir, pipelineName: 'chain', concurrency: 1 });

        // Warm-up (not counted): page cache, Node's JIT, each database's first writes.
        if (!smoke) {
          await once();
          for (const e of engines) await pipelineOnce(e);
        }

        const rows = [];
        for (let r = 0; r < repeat; r++) {
          // The script, then each engine, in an order rotating with r, so that a drift in machine load does not
          // always favour one side.
          const sides = ['script', ...VARIANTS.map((v) => v.key)];
          const order = sides.map((_, i) => sides[(i + r) % sides.length]);
          const runs = {};
          for (const side of order) {
            runs[side] =
              side === 'script'
                ? await once()
                : await pipelineOnce(engines[VARIANTS.findIndex((v) => v.key === side)]);
          }
          const scriptRun = runs.script;
          const pipeRun = runs[SQLITE_LOCAL.key];
          const { seg, runningAfter } = breakdown(pipeRun, n);
          for (const v of VARIANTS.slice(1)) breakdown(runs[v.key], n); // checks their values too
          const specFile = join(pipeRun.details.dir, 'jobs', replayed, 'job.json');
          await stat(specFile);
          const replayRuns = [];
          for (let k = 0; k < replays; k++) {
            const dir = join(replayDir, `r${r}`);
            await mkdir(dir, { recursive: true });
            replayRuns.push(await replayHarness(specFile, dir, runtimeDir, k));
            // The floor of a process per operation: the interpreter starting and exiting, nothing imported.
            replayRuns[k].bare = (await runPython(['-c', 'pass'], { cwd: dir })).wallMs;
          }
          const perOp = (pipeRun.wallMs - scriptRun.wallMs) / n;
          const variants = Object.fromEntries(
            VARIANTS.map((v) => [
              v.key,
              { wall: runs[v.key].wallMs, perOp: (runs[v.key].wallMs - scriptRun.wallMs) / n },
            ]),
          );
          rows.push({
            pipeline: pipeRun.wallMs,
            pipelineEpoch: pipeRun.endEpoch - pipeRun.startEpoch,
            script: scriptRun.wallMs,
            perOp,
            seg,
            runningAfter,
            replays: replayRuns,
            variants,
          });
          log(
            `  run ${r + 1}/${repeat}: script ${ms(scriptRun.wallMs)}; overhead per operation ` +
              VARIANTS.map((v) => `${v.key} ${ms(variants[v.key].perOp)}`).join(', ') +
              `; harness alone ${ms(median(replayRuns.map((x) => x.wall)))}`,
          );
        }
        return report(rows, infos, n, replayed, backends);
      });
    });
  } finally {
    await removeDir(projectDir);
    await removeDir(replayDir);
  }
}

/** Segments on the engine's side of each job, and those of the job's own process (the rest). */
const ENGINE_SEGMENTS = ['setup', 'gap', 'store', 'teardown'];
const PROCESS_SEGMENTS = ['start', 'inputs', 'execute', 'exit'];

function report(rows, infos, n, replayed, backends) {
  const info = infos[0];
  const perOp = summary(rows.map((r) => r.perOp));
  const pipelineWall = summary(rows.map((r) => r.pipeline));
  const scriptWall = summary(rows.map((r) => r.script));
  const segNames = [
    ['setup', 'execution setup: `startExecution` → first job started (validation, snapshot, inserts)', 1],
    [
      'gap',
      'scheduler gap: a job stored → the next one started (queued in the same write as the success; below zero: ' +
        'within the records’ millisecond)',
      n - 1,
    ],
    [
      'start',
      'job started → operation module imported (the job handed to a process forked ahead, harness setup; ' +
        '`running` and the pid recorded meanwhile)',
      n,
    ],
    ['inputs', 'operation imported → execute called (load input, instantiate)', n],
    ['execute', 'execute itself', n],
    ['exit', 'execute returned → process exit handled (save output + fsync, interpreter exit, pipes)', n],
    [
      'store',
      'exit → job `success` (small output: hashed, moved into the blob store; job + outputs committed)',
      n,
    ],
    ['teardown', 'last job stored → `done` resolves', 1],
  ];
  const segRows = segNames.map(([key, label, count]) => {
    const totals = rows.map((r) => r.seg[key]);
    const total = median(totals);
    return [label, ms(total), count > 1 ? ms(total / count) : '–'];
  });
  const segSum = median(rows.map((r) => Object.values(r.seg).reduce((a, b) => a + b, 0)));
  segRows.push(['**sum** (vs pipeline wall ' + ms(pipelineWall.median) + ')', ms(segSum), ms(segSum / n)]);
  const runningAfter = median(rows.map((r) => r.runningAfter));
  segRows.push([
    'not in the sum: job started → `running` recorded (while its process starts)',
    ms(runningAfter),
    ms(runningAfter / n),
  ]);

  const replays = rows.flatMap((r) => r.replays);
  const rep = (key) => summary(replays.map((x) => x[key]));
  const replayRows = [
    ['spawn → `hello` (interpreter start, `import deepforge`, spec read)', spread(rep('toHello'))],
    ['`hello` → `loading-inputs` (spec checks, prepare, operation import)', spread(rep('setup'))],
    ['`loading-inputs` → `executing` (unpickle the input)', spread(rep('inputs'))],
    ['`executing` → `saving-outputs` (execute)', spread(rep('execute'))],
    ['`saving-outputs` → `output` (pickle, write, fsync, rename)', spread(rep('save'))],
    [
      '`output` → process gone (exit: threads joined, atexit, open files closed, `os._exit`)',
      spread(rep('exit')),
    ],
    ['**harness wall**', spread(rep('wall'))],
    [`for comparison: \`${PYTHON} -c pass\` (interpreter start + exit only)`, spread(rep('bare'))],
  ];
  const verdict = perOp.median <= TARGET_MS ? 'meets' : 'misses';

  // The breakdown of the overhead, every figure from one run (the one with the median overhead), so that it adds
  // up: the segments telescope to that run's wall on the engine's clock (epoch ms), the overhead uses its
  // monotonic wall; what separates the two clocks is said when it shows.
  const mid = [...rows].sort((a, b) => a.perOp - b.perOp)[Math.floor((rows.length - 1) / 2)];
  const sumOf = (keys) => keys.reduce((a, k) => a + mid.seg[k], 0) / n;
  const engineSide = sumOf(ENGINE_SEGMENTS);
  const processSide = sumOf(PROCESS_SEGMENTS);
  const scriptPerCall = mid.script / n;
  const clocks = (mid.pipeline - mid.pipelineEpoch) / n;
  const which =
    rows.length === 1
      ? 'the one run'
      : `the run with the median overhead${rows.length % 2 === 0 ? ' (the lower of the middle two)' : ''}`;
  const showClocks = Math.abs(clocks) >= 0.005;
  const breakdownLine =
    `Adding up, every figure from one run (${which}: ${ms(mid.perOp)} per operation): per operation, the ` +
    `engine’s side took ${ms(engineSide)} (execution setup, scheduler gaps, storing each result, teardown), ` +
    `each job from its start to its process’s exit ${ms(processSide)} (its process handed the job, imports, ` +
    `input, execute, output, exit; \`running\` recorded meanwhile), and the script ${ms(scriptPerCall)} per ` +
    `call, which the overhead ` +
    `takes off: ${ms(engineSide)} + ${ms(processSide)} − ${ms(scriptPerCall)}` +
    (showClocks ? ` ${clocks < 0 ? '−' : '+'} ${ms(Math.abs(clocks))}` : '') +
    ` = ${ms(engineSide + processSide - scriptPerCall + (showClocks ? clocks : 0))}` +
    (showClocks
      ? ` (the last term: the pipeline wall is timed on the monotonic clock, ${ms(mid.pipeline)}, the ` +
        `segments on the wall clock, ${ms(mid.pipelineEpoch)} in all).`
      : '.') +
    ' The harness re-runs above are separate runs of one job’s process and are not part of this sum.';

  // The same chain on each set of adapters, against the same script run: the ratio of each run's overhead to
  // SQLite's in that run, then the median of those.
  const adapterRows = VARIANTS.map((v, i) => {
    const wall = summary(rows.map((r) => r.variants[v.key].wall));
    const over = summary(rows.map((r) => r.variants[v.key].perOp));
    const toSqlite = summary(rows.map((r) => r.variants[v.key].perOp / r.variants[SQLITE_LOCAL.key].perOp));
    const target = v.key === POSTGRES_LOCAL.key;
    const bold = (x) => (target ? `**${x}**` : x);
    return {
      key: v.key,
      toSqlite,
      cells: [
        v.label,
        spread(wall),
        bold(spread(over)),
        i === 0 ? '1×' : `${bold(ratio(toSqlite.median))} (${ratio(toSqlite.min)}–${ratio(toSqlite.max)})`,
        target
          ? `≤ ${POSTGRES_TARGET}× (${toSqlite.median <= POSTGRES_TARGET ? 'meets' : 'misses'})`
          : i === 0
            ? ''
            : 'reported',
        ms(infos[i].openMs),
      ],
    };
  });
  const pgRatio = adapterRows.find((r) => r.key === POSTGRES_LOCAL.key).toSqlite.median;
  const s3Ratio = adapterRows.find((r) => r.key === POSTGRES_S3.key).toSqlite.median;

  const summaryLine =
    `overhead ${ms(perOp.median)}/operation (min ${ms(perOp.min)}), target ≤ ${TARGET_MS} ms: ` +
    `${ratio(perOp.median / TARGET_MS)} of target (${verdict}); on PostgreSQL ${ratio(pgRatio)} SQLite's ` +
    `(target ≤ ${POSTGRES_TARGET}×), PostgreSQL + S3 ${ratio(s3Ratio)}`;

  const markdown = [
    `${n} trivial operations in a chain (the first returns 1, each next one returns its input + 1), run by the ` +
      'engine at concurrency 1 from a generated project folder, against one plain Python script that defines ' +
      `the same ${n} classes and calls them in sequence (a subprocess of the same \`${PYTHON}\`, so its ` +
      'interpreter start is counted once). Pipeline wall: from `startExecution` to `done`, in an engine that ' +
      'is already open and has checked its interpreter ' +
      `(open ${ms(info.openMs)}, interpreter check ${ms(info.pythonCheckMs)}, once per engine, not counted). ` +
      `Overhead per operation = (pipeline wall − script wall) / ${n}. ` +
      `${rows.length} runs after one warm-up, script and pipeline alternating; median (min–max).`,
    '',
    table(
      ['', 'value', 'target', 'ratio'],
      [
        [`pipeline wall (${n} jobs)`, spread(pipelineWall), '', ''],
        [`script wall (${n} calls, 1 process)`, spread(scriptWall), '', ''],
        [
          '**overhead per operation**',
          `**${spread(perOp)}**`,
          `≤ ${TARGET_MS} ms`,
          `**${ratio(perOp.median / TARGET_MS)}** (${verdict})`,
        ],
      ],
    ),
    '',
    `The same chain on each set of adapters, in the same runs (each run times the script and the ${VARIANTS.length} ` +
      'engines in an order that rotates; every engine is open at once, each on its own data dir, database and ' +
      `bucket). PostgreSQL ${backends.postgresVersion} runs on loopback with its default durability (fsync and ` +
      'synchronous commit on, as the engine’s SQLite is: each commit flushed to the disk before it is answered, docs/adr/0033); the S3 side is s3rver (an ' +
      'emulator in a Node process on loopback, docs/adr/0012), with the engine’s input cache: each output is ' +
      'uploaded and its file kept in the cache, so the next job reads it there. Ratio: each run’s overhead ' +
      'against SQLite’s in the same run, median (min–max). The breakdown and the harness re-runs below are ' +
      'SQLite’s.',
    '',
    table(
      [
        'adapters',
        `pipeline wall (${n} jobs)`,
        'overhead per operation',
        'ratio to SQLite + local',
        'target',
        'engine open',
      ],
      adapterRows.map((r) => r.cells),
    ),
    '',
    'Where the pipeline wall goes (medians over the runs of each segment summed over the jobs; times from job ' +
      'records, `job.status` events and the operations’ own `time.time()`):',
    '',
    table(['segment', 'total', 'per job'], segRows),
    '',
    `The Python side by itself: job ${replayed}’s harness re-run ${replays.length} times from the spec the ` +
      'engine wrote (events to a file), timed from spawn to exit:',
    '',
    table(['harness phase', 'median (min–max)'], replayRows),
    '',
    breakdownLine,
  ].join('\n');

  return { summaryLine, markdown };
}
