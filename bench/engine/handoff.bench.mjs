// Data passing: operation A makes a 500 MiB float64 array and returns it, B sums it; against one plain Python
// process that makes the same array, np.save's it, np.load's it back and sums it (same filesystem).
import { existsSync } from 'node:fs';
import { rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { tmpdir } from 'node:os';
import {
  freeBytes,
  loadProject,
  makeTempDir,
  ms,
  printed,
  ratio,
  removeDir,
  runPipeline,
  runPython,
  sec,
  spread,
  statusTime,
  summary,
  table,
  withEngine,
  writeProject,
} from './lib.mjs';

export const name = 'handoff';
export const title = 'Handing a 500 MiB array between operations';

const BIG = (500 * 2 ** 20) / 8; // float64 elements: 500 MiB
/** A smoke run hands over 1 MiB, without the memory warm-up. */
const SMOKE_BIG = 2 ** 20 / 8;
const TINY = 128;
const TARGET = 1.5;
const PREFIX = 'bench-sum ';
/** Space needed at once: the blob, its temp copy while it is stored, the baseline's file, and slack. */
const neededBytes = (big) => 3 * big * 8 + 512 * 2 ** 20;
/**
 * Memory touched and freed by a helper process just before every run, on both sides. This VM's balloon has free
 * page reporting: free memory goes back to the host in 2 MiB blocks, and the first touch of memory handed back
 * (numpy asks for huge pages for big arrays) is ~10× slower, so `np.ones` / `np.load` of 500 MiB swung between
 * ~0.1 and ~1.2 s depending on what the machine had freed shortly before. Touching 1.5 GiB (more than either
 * side needs at once) right before each run gives both sides memory the host has just backed.
 */
const WARM_UP_BYTES = 1.5 * 2 ** 30;
const WARM_UP = `import numpy as np\nnp.ones(${WARM_UP_BYTES / 8})\n`;

const MAKE = `import numpy as np


class MakeArray():
    def __init__(self, n=${TINY}, fill=1.0):
        self.n = n
        self.fill = fill

    def execute(self):
        arr = np.full(self.n, self.fill)
        return arr
`;

const SUM = `class SumArray():
    def execute(self, arr):
        total = float(arr.sum())
        print(${JSON.stringify(PREFIX)} + repr(total))
        return total
`;

/** One process: the same np.full and sum as the operations, with np.save + np.load between them. */
const BASELINE = `import json
import sys
import time

import numpy as np

path, n, fill = sys.argv[1], int(sys.argv[2]), float(sys.argv[3])
t0 = time.perf_counter()
arr = np.full(n, fill)
t1 = time.perf_counter()
np.save(path, arr)
t2 = time.perf_counter()
loaded = np.load(path)
t3 = time.perf_counter()
total = float(loaded.sum())
t4 = time.perf_counter()
print(json.dumps({"total": total, "create": t1 - t0, "save": t2 - t1, "load": t3 - t2, "sum": t4 - t3}))
`;

function pipeline(n) {
  return {
    nodes: [
      { id: 'make', operation: 'MakeArray', attributes: { n } },
      { id: 'use', operation: 'SumArray' },
    ],
    connections: [{ from: { node: 'make', port: 'arr' }, to: { node: 'use', port: 'arr' } }],
  };
}

function jobTimes(run) {
  const job = (node) => run.details.jobs.find((j) => j.node === node);
  const make = job('make');
  const use = job('use');
  const total = printed(run, 'use', PREFIX);
  return {
    total,
    setup: make.startedAt - run.startEpoch,
    makeRun: make.endedAt - make.startedAt,
    makeStore: statusTime(run, 'make', 'success') - make.endedAt,
    gap: use.startedAt - statusTime(run, 'make', 'success'),
    useRun: use.endedAt - use.startedAt,
    useStore: statusTime(run, 'use', 'success') - use.endedAt,
    teardown: run.endEpoch - statusTime(run, 'use', 'success'),
    checkTail: run.checkedMs - run.wallMs,
    blobBytes: make.outputs[0]?.size ?? 0,
  };
}

export async function run({ repeat, log, smoke = false }) {
  const big = smoke ? SMOKE_BIG : BIG;
  const free = await freeBytes(tmpdir());
  log(`  free space in ${tmpdir()}: ${(free / 2 ** 30).toFixed(1)} GiB`);
  if (free < neededBytes(big)) {
    throw new Error(
      `handoff needs ${(neededBytes(big) / 2 ** 30).toFixed(1)} GiB free in ${tmpdir()}, there is ${(free / 2 ** 30).toFixed(1)} GiB`,
    );
  }
  const projectDir = await makeTempDir('handoff-project');
  const npyPath = join(projectDir, 'baseline.npy');
  let dataDirSeen;
  let result;
  try {
    await writeProject(projectDir, {
      name: 'handoff',
      operations: { MakeArray: MAKE, SumArray: SUM },
      pipelines: { big: pipeline(big), tiny: pipeline(TINY) },
    });
    const script = join(projectDir, 'baseline.py');
    await writeFile(script, BASELINE);

    result = await withEngine(async (engine, info) => {
      dataDirSeen = info.dataDir;
      const project = await loadProject(engine, projectDir);
      // Every run, on either side, makes an array of its own (filled with a new value): the same output again
      // would be a blob the store already has (dropped at once, nothing to check), not a handoff.
      let fills = 0;
      const scriptOnce = async (n) => {
        const fill = ++fills;
        const r = await runPython([script, npyPath, String(n), String(fill)], { cwd: projectDir });
        await rm(npyPath, { force: true });
        const inside = JSON.parse(r.stdout);
        if (inside.total !== n * fill)
          throw new Error(`the baseline summed ${inside.total}, expected ${n * fill}`);
        return { wall: r.wallMs, ...inside };
      };
      const pipelineOnce = async (n) => {
        const fill = ++fills;
        const r = await runPipeline(engine, {
          project,
          projectDir,
          pipelineName: n === big ? 'big' : 'tiny',
          concurrency: 1,
          overrides: [`make.fill=${fill}`],
        });
        const times = jobTimes(r);
        if (times.total !== n * fill)
          throw new Error(`the pipeline summed ${times.total}, expected ${n * fill}`);
        return { wall: r.wallMs, ...times };
      };

      const warmUps = [];
      const warm = async () => {
        if (!smoke) warmUps.push((await runPython(['-c', WARM_UP], { cwd: projectDir })).wallMs);
      };

      // Warm-up (not counted).
      if (!smoke) {
        await warm();
        await scriptOnce(big);
        await warm();
        await pipelineOnce(big);
      }

      const rows = [];
      for (let r = 0; r < repeat; r++) {
        const order = r % 2 === 0 ? ['script', 'pipeline'] : ['pipeline', 'script'];
        const row = {};
        for (const side of order) {
          for (const size of ['big', 'tiny']) {
            const n = size === 'big' ? big : TINY;
            await warm();
            row[`${side}_${size}`] = side === 'script' ? await scriptOnce(n) : await pipelineOnce(n);
          }
        }
        rows.push(row);
        log(
          `  run ${r + 1}/${repeat}: pipeline ${ms(row.pipeline_big.wall)} (tiny ${ms(row.pipeline_tiny.wall)}), ` +
            `script ${ms(row.script_big.wall)} (tiny ${ms(row.script_tiny.wall)}; np.save ${ms(row.script_big.save * 1000)}` +
            ` + np.load ${ms(row.script_big.load * 1000)}), end-to-end ratio ` +
            `${ratio(row.pipeline_big.wall / row.script_big.wall)}`,
        );
      }
      return report(rows, warmUps, big);
    });
  } finally {
    await rm(npyPath, { force: true });
    await removeDir(projectDir);
  }
  // withEngine removed the data dir (and the 500 MiB blob in it); make sure nothing big is left behind.
  for (const left of [dataDirSeen, projectDir]) {
    if (left && existsSync(left)) throw new Error(`${left} was not removed`);
  }
  return result;
}

/** np.load this much slower than its fastest run in the same benchmark: fresh memory was slow to touch. */
const SLOW_LOAD_FACTOR = 3;

function report(rows, warmUps, bigElements) {
  const mib = `${(bigElements * 8) / 2 ** 20} MiB`;
  const s = (f) => summary(rows.map(f));
  const big = (side) => (r) => r[`${side}_big`].wall;
  const data = (side) => (r) => r[`${side}_big`].wall - r[`${side}_tiny`].wall;
  const saveLoadOf = (r) => (r.script_big.save + r.script_big.load) * 1000;
  const arrayWorkOf = (r) => (r.script_big.create + r.script_big.sum) * 1000;
  const verdict = (x) => (x <= TARGET ? 'meets' : 'misses');

  /** A row comparing a pipeline quantity with a script one: both spreads, the median of the per-run ratios and
   * the ratio of the best (smallest) runs, which is the least disturbed by the machine's noise. */
  const compare = (label, pf, sf, target) => {
    const p = s(pf);
    const b = s(sf);
    const perRun = s((r) => pf(r) / sf(r));
    const best = p.min / b.min;
    return {
      perRun,
      best,
      cells: [
        label,
        spread(p, sec),
        spread(b, sec),
        `${target ? '**' : ''}${ratio(perRun.median)}${target ? '**' : ''} (${ratio(perRun.min)}–${ratio(perRun.max)})`,
        `${target ? '**' : ''}${ratio(best)}${target ? '**' : ''}`,
        target ? `≤ ${TARGET}×: median ${verdict(perRun.median)}, best ${verdict(best)}` : '',
      ],
    };
  };
  const e2e = compare(`**end-to-end wall, ${mib}**`, big('pipeline'), big('script'), true);
  const tiny = compare(
    'end-to-end wall, 128 elements',
    (r) => r.pipeline_tiny.wall,
    (r) => r.script_tiny.wall,
    false,
  );
  const sameWork = compare(
    `data part: ${mib} wall − 128-element wall`,
    data('pipeline'),
    data('script'),
    false,
  );
  // A diagnostic, not the target: it sets the durable, content-addressed handoff (fsync, hashing, the array
  // work) against the bare page-cache write and read of `np.save` + `np.load`.
  const isolated = compare(
    'isolated handoff: pipeline data part vs `np.save` + `np.load` timed in the script',
    data('pipeline'),
    saveLoadOf,
    false,
  );
  const net = compare(
    'same, minus the array work on the pipeline side (`np.full` + sum, as timed in the script)',
    (r) => data('pipeline')(r) - arrayWorkOf(r),
    saveLoadOf,
    false,
  );
  const fastestLoad = Math.min(...rows.map((r) => r.script_big.load));
  const slowRuns = rows.filter((r) => r.script_big.load > SLOW_LOAD_FACTOR * fastestLoad).length;

  const phase = (key) => [spread(s((r) => r.pipeline_big[key])), spread(s((r) => r.pipeline_tiny[key]))];
  const blobMiB = (rows[0].pipeline_big.blobBytes / 2 ** 20).toFixed(1);

  const summaryLine =
    `end-to-end ${ratio(e2e.perRun.median)} (best runs ${ratio(e2e.best)}), target ≤ ${TARGET}×; ` +
    `isolated handoff ${ms(s(data('pipeline')).median)} vs np.save+np.load ${ms(s(saveLoadOf).median)}: ` +
    `${ratio(isolated.perRun.median)} (best runs ${ratio(isolated.best)}); slow np.load in ${slowRuns}/${rows.length}`;

  const markdown = [
    `Operation A returns \`np.full(${bigElements}, k)\` (${mib} of float64; stored as a ${blobMiB} MiB .npy blob) ` +
      'with a new k in every run, so that each run hands over new content (the same output again would be a ' +
      'blob the store already has), operation B receives it and returns `float(arr.sum())`. Baseline: one ' +
      'plain Python process (same interpreter) doing the same `np.full` and sum with `np.save` + `np.load` of ' +
      'a file in between, on the ' +
      'same filesystem as the engine’s data dir. Every run is repeated with a 128-element array on both sides. ' +
      `${rows.length} runs after one warm-up, the order of the sides alternating; median (min–max). “Ratio” is ` +
      'the median of the per-run ratios; “best runs” divides the fastest pipeline run by the fastest script run. ' +
      `Before every run of either side a helper process touches and frees ${WARM_UP_BYTES / 2 ** 30} GiB ` +
      `(numpy, huge pages; ${spread(summary(warmUps))}, not counted), so that both start from memory the host ` +
      'has just backed (see “Noise” below).',
    '',
    table(
      ['', 'pipeline', 'script', 'ratio', 'best runs', 'target'],
      [e2e.cells, tiny.cells, sameWork.cells, isolated.cells, net.cells],
    ),
    '',
    'The target (≤ 1.5×) is the comparison the foundation issue names: two operations handing over the array ' +
      'against one process doing `np.save` + `np.load`, i.e. the end-to-end row. The isolated rows are ' +
      'diagnostics: they set everything the pipeline does with the big array (fsync, content hashing, the array ' +
      'work) against the bare page-cache write and read of the baseline. ' +
      `What each number includes. *Pipeline data part* (${mib} wall − 128-element wall): making the array, ` +
      'writing it as .npy with fsync and rename while two threads hash its 8 MiB blocks (its `sha256t:` ' +
      'content id, docs/adr/0006; A), the engine renaming it into the blob store under that id, B mapping the ' +
      'file and summing it. The engine’s background check of the blob (a re-read and the same id on one thread, ' +
      'started when A succeeds, overlapping B) may end after the execution (docs/adr/0005, amended): the ' +
      'last row of the job timings says by how much; every run waits for it before the next one starts. ' +
      '*np.save + np.load* (timed inside the ' +
      'script): a write into the page cache without fsync and a full read into fresh memory; it leaves out ' +
      `\`np.full\` and the sum (${spread(s(arrayWorkOf))} together in the script), which the pipeline data part ` +
      'includes: the last row subtracts them. *Script data part*: everything the script does with the big ' +
      'array, the like-for-like of the pipeline data part.',
    '',
    slowRuns > 0
      ? `Noise: in ${slowRuns} of ${rows.length} runs the script’s \`np.load\` took over ${SLOW_LOAD_FACTOR}× its ` +
        `fastest run (${ms(fastestLoad * 1000)}): filling fresh memory (numpy asks for huge pages for big ` +
        'arrays) was much slower in those runs, despite the warm-up. The pipeline fills less fresh memory (B ' +
        'maps the stored file instead of copying it), so it gains when the baseline is slow; the “best runs” ' +
        'column compares the two undisturbed.\n'
      : `Noise: the script’s \`np.load\` stayed within ${SLOW_LOAD_FACTOR}× its fastest run ` +
        `(${ms(fastestLoad * 1000)}) in all ${rows.length} runs. Without the warm-up, filling fresh memory on ` +
        'this VM swung it between ~0.1 and ~1.2 s (free page reporting; see the profiling notes), which made ' +
        'the baseline bimodal and flattered the pipeline (which fills half as much fresh memory).\n',
    'Job timings (engine clock; A = make, B = use):',
    '',
    table(
      ['segment', mib, '128 elements'],
      [
        ['setup: `startExecution` → A started', ...phase('setup')],
        [
          'A started → A ended (process: start, np.full, write + fsync with the block hashes alongside, exit)',
          ...phase('makeRun'),
        ],
        [
          'A ended → A `success` (rename into the blob store under the harness’s content id, fsync, commit)',
          ...phase('makeStore'),
        ],
        ['A `success` → B started', ...phase('gap')],
        ['B started → B ended (process: start, map the input, sum, exit)', ...phase('useRun')],
        ['B ended → B `success`', ...phase('useStore')],
        ['B `success` → `done`', ...phase('teardown')],
        [
          '`done` → `checked` (the rest of the background check of A’s output; not in the walls above)',
          ...phase('checkTail'),
        ],
      ],
    ),
    '',
    `Inside the script (${mib}): ` +
      ['create', 'save', 'load', 'sum']
        .map((k) => `${k} ${spread(s((r) => r.script_big[k] * 1000))}`)
        .join(', ') +
      '.',
  ].join('\n');
  return { summaryLine, markdown };
}
