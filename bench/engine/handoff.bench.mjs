// Data passing: operation A makes a 500 MiB float64 array and returns it, B sums it; against one plain Python
// process that makes the same array, np.save's it, np.load's it back and sums it (same filesystem).
import { createReadStream, existsSync } from 'node:fs';
import { rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { tmpdir } from 'node:os';
import { performance } from 'node:perf_hooks';
import { Upload } from '@aws-sdk/lib-storage';
import { CONTENT_HASH_BLOCK_BYTES } from '@deepforge/core';
import { POSTGRES_S3, SQLITE_LOCAL, withBackends } from './backends.mjs';
import {
  freeBytes,
  loadProject,
  makeTempDir,
  median,
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
  withEngines,
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
/**
 * Space needed: every run's blob stays in the local blob dir and in the emulator's bucket until the end (the input
 * cache keeps some), the baseline's file, and slack.
 */
const neededBytes = (big) => 16 * big * 8 + 2 ** 30;
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

/**
 * One process: the same np.full and sum as the operations, with np.save, an fsync of the file (the durability the
 * engine gives every output) and np.load between them: the baseline the scale-out issue names.
 */
const BASELINE = `import json
import os
import sys
import time

import numpy as np

path, n, fill = sys.argv[1], int(sys.argv[2]), float(sys.argv[3])
t0 = time.perf_counter()
arr = np.full(n, fill)
t1 = time.perf_counter()
with open(path, "wb") as f:
    np.save(f, arr)
    f.flush()
    t2 = time.perf_counter()
    os.fsync(f.fileno())
t3 = time.perf_counter()
loaded = np.load(path)
t4 = time.perf_counter()
total = float(loaded.sum())
t5 = time.perf_counter()
print(json.dumps({"total": total, "create": t1 - t0, "save": t2 - t1, "fsync": t3 - t2, "load": t4 - t3, "sum": t5 - t4}))
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

/** The same, and the array saved as the artifact `handed` (for the second reader). */
function savedPipeline(n) {
  const p = pipeline(n);
  return {
    nodes: [...p.nodes, { id: 'save', operation: 'Output', attributes: { saveName: 'handed' } }],
    connections: [
      ...p.connections,
      { from: { node: 'make', port: 'arr' }, to: { node: 'save', port: 'data' } },
    ],
  };
}

/** A second job reading the artifact `handed`: what a cache hit (or a download) costs. */
const REREAD = {
  nodes: [
    { id: 'handed', operation: 'Input', attributes: { artifact: 'handed' } },
    { id: 'use', operation: 'SumArray' },
  ],
  connections: [{ from: { node: 'handed', port: 'data' }, to: { node: 'use', port: 'arr' } }],
};

/** Where the input cache of an engine keeps a blob (storage/read-through.cache.ts). */
function cacheFileOf(dataDir, hash) {
  const [scheme, hex] = hash.split(':');
  return join(dataDir, 'cache', scheme, hex.slice(0, 2), hex);
}

const DOWNLOADING = /downloading (\d+) bytes from the artifact storage into the input cache/;

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

/** The sides of a run: the script, the pipeline on each set of adapters. */
const SIDES = ['script', 'pipeline', 's3'];

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
  const dataDirsSeen = [];
  let result;
  try {
    await writeProject(projectDir, {
      name: 'handoff',
      operations: { MakeArray: MAKE, SumArray: SUM },
      pipelines: {
        big: pipeline(big),
        tiny: pipeline(TINY),
        saved: savedPipeline(big),
        reread: REREAD,
      },
    });
    const script = join(projectDir, 'baseline.py');
    await writeFile(script, BASELINE);

    result = await withBackends(async (backends) => {
      const configs = [await backends.settings(SQLITE_LOCAL), await backends.settings(POSTGRES_S3)];
      return withEngines(configs, async ([engine, s3Engine], infos) => {
        dataDirsSeen.push(...infos.map((i) => i.dataDir));
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
        const pipelineOnce = async (e, n, pipelineName = n === big ? 'big' : 'tiny') => {
          const fill = ++fills;
          const r = await runPipeline(e, {
            project,
            projectDir,
            pipelineName,
            concurrency: 1,
            overrides: [`make.fill=${fill}`],
          });
          const times = jobTimes(r);
          if (times.total !== n * fill)
            throw new Error(`the pipeline summed ${times.total}, expected ${n * fill}`);
          return { wall: r.wallMs, fill, ...times };
        };
        const once = (side, n) =>
          side === 'script' ? scriptOnce(n) : pipelineOnce(side === 's3' ? s3Engine : engine, n);

        const warmUps = [];
        const warm = async () => {
          if (!smoke) warmUps.push((await runPython(['-c', WARM_UP], { cwd: projectDir })).wallMs);
        };

        // Warm-up (not counted).
        if (!smoke) {
          for (const side of SIDES) {
            await warm();
            await once(side, big);
          }
        }

        // The emulator's own speed: the SDK uploading a file of the same size to it (the engine's part size and
        // parallelism), with nothing of the engine around it.
        const rawFile = join(projectDir, 'raw.bin');
        const bucket = await backends.s3.bucket();
        let uploads = 0;
        const rawUpload = async (bytes) => {
          await writeFile(rawFile, Buffer.alloc(bytes, ++uploads % 251));
          const t0 = performance.now();
          await new Upload({
            client: backends.s3.client,
            params: {
              Bucket: bucket,
              Key: `raw-${uploads}`,
              Body: createReadStream(rawFile, { highWaterMark: 2 ** 20 }),
            },
            partSize: CONTENT_HASH_BLOCK_BYTES, // the engine's part size (storage/s3.storage.ts)
            queueSize: 4,
          }).done();
          const wall = performance.now() - t0;
          await rm(rawFile, { force: true });
          return wall;
        };

        const rows = [];
        for (let r = 0; r < repeat; r++) {
          const order = SIDES.map((_, i) => SIDES[(i + r) % SIDES.length]);
          const row = {};
          for (const side of order) {
            for (const size of ['big', 'tiny']) {
              const n = size === 'big' ? big : TINY;
              await warm();
              row[`${side}_${size}`] = await once(side, n);
            }
          }
          row.rawUpload = await rawUpload(row.s3_big.blobBytes);
          rows.push(row);
          log(
            `  run ${r + 1}/${repeat}: pipeline ${ms(row.pipeline_big.wall)} (tiny ${ms(row.pipeline_tiny.wall)}), ` +
              `S3 ${ms(row.s3_big.wall)} (tiny ${ms(row.s3_tiny.wall)}), script ${ms(row.script_big.wall)} ` +
              `(tiny ${ms(row.script_tiny.wall)}; np.save ${ms(row.script_big.save * 1000)} + fsync ` +
              `${ms(row.script_big.fsync * 1000)} + np.load ${ms(row.script_big.load * 1000)}); data part ` +
              `${ratio((row.pipeline_big.wall - row.pipeline_tiny.wall) / (row.script_big.wall - row.script_tiny.wall))}`,
          );
        }

        // A second job reading the array on the same machine: from the S3 engine's input cache (where the
        // upload left it), then with that copy gone (another machine, or an evicted blob: a download), and, for
        // comparison, from the local blob dir in place.
        const rereads = { local: [], hit: [], download: [] };
        const rereadOnce = async (e, fill) => {
          const r = await runPipeline(e, { project, projectDir, pipelineName: 'reread', concurrency: 1 });
          const total = printed(r, 'use', PREFIX);
          if (total !== big * fill) throw new Error(`the second job summed ${total}, expected ${big * fill}`);
          const use = r.details.jobs.find((j) => j.node === 'use');
          const downloaded = r.logs
            .filter((l) => l.node === 'use')
            .map((l) => DOWNLOADING.exec(l.log))
            .filter(Boolean)
            .reduce((sum, m) => sum + Number(m[1]), 0);
          const fromCache = r.logs.some(
            (l) => l.node === 'use' && l.log.includes('read from the input cache'),
          );
          return { wall: r.wallMs, job: use.endedAt - use.startedAt, downloaded, fromCache };
        };
        const saved = {};
        for (const [key, e] of [
          ['local', engine],
          ['s3', s3Engine],
        ]) {
          await warm();
          saved[key] = await pipelineOnce(e, big, 'saved');
        }
        const handed = await s3Engine.getArtifact('handed');
        const cached = cacheFileOf(infos[1].dataDir, handed.hash);
        for (let r = 0; r < repeat; r++) {
          await warm();
          rereads.local.push(await rereadOnce(engine, saved.local.fill));
          await warm();
          rereads.hit.push(await rereadOnce(s3Engine, saved.s3.fill));
          // The cached copy gone: the engine's cache notices and downloads it again.
          await rm(cached, { force: true });
          await warm();
          rereads.download.push(await rereadOnce(s3Engine, saved.s3.fill));
        }
        log(
          `  second reader: local ${ms(median(rereads.local.map((x) => x.wall)))}, S3 cache hit ` +
            `${ms(median(rereads.hit.map((x) => x.wall)))} (downloaded ${rereads.hit[0].downloaded} bytes), ` +
            `S3 cold ${ms(median(rereads.download.map((x) => x.wall)))} (downloaded ${rereads.download[0].downloaded} bytes)`,
        );
        return report(rows, warmUps, big, rereads, handed.size, backends);
      });
    });
  } finally {
    await rm(npyPath, { force: true });
    await removeDir(projectDir);
  }
  // withEngine removed the data dirs (and the 500 MiB blobs in them); make sure nothing big is left behind.
  for (const left of [...dataDirsSeen, projectDir]) {
    if (left && existsSync(left)) throw new Error(`${left} was not removed`);
  }
  return result;
}

/** np.load this much slower than its fastest run in the same benchmark: fresh memory was slow to touch. */
const SLOW_LOAD_FACTOR = 3;

function report(rows, warmUps, bigElements, rereads, handedBytes, backends) {
  const mib = `${(bigElements * 8) / 2 ** 20} MiB`;
  const s = (f) => summary(rows.map(f));
  const big = (side) => (r) => r[`${side}_big`].wall;
  const data = (side) => (r) => r[`${side}_big`].wall - r[`${side}_tiny`].wall;
  const handoffOf = (r) => (r.script_big.save + r.script_big.fsync + r.script_big.load) * 1000;
  const arrayWorkOf = (r) => (r.script_big.create + r.script_big.sum) * 1000;
  const verdict = (x) => (x <= TARGET ? 'meets' : 'misses');

  /** A row comparing two quantities: both spreads, the median of the per-run ratios and the ratio of the best
   * (smallest) runs, which is the least disturbed by the machine's noise. */
  const compare = (label, pf, sf, target) => {
    const p = s(pf);
    const b = s(sf);
    const perRun = s((r) => pf(r) / sf(r));
    const best = p.min / b.min;
    const bold = (x) => (target ? `**${x}**` : x);
    return {
      perRun,
      best,
      cells: [
        label,
        spread(p, sec),
        spread(b, sec),
        `${bold(ratio(perRun.median))} (${ratio(perRun.min)}–${ratio(perRun.max)})`,
        bold(ratio(best)),
        target ? `≤ ${TARGET}×: median ${verdict(perRun.median)}, best ${verdict(best)}` : '',
      ],
    };
  };
  const dataPart = compare(
    `**data part: ${mib} wall − 128-element wall**`,
    data('pipeline'),
    data('script'),
    true,
  );
  const e2e = compare(`end-to-end wall, ${mib}`, big('pipeline'), big('script'), false);
  const tiny = compare(
    'end-to-end wall, 128 elements',
    (r) => r.pipeline_tiny.wall,
    (r) => r.script_tiny.wall,
    false,
  );
  const isolated = compare(
    'isolated handoff: pipeline data part vs `np.save` + fsync + `np.load` timed in the script',
    data('pipeline'),
    handoffOf,
    false,
  );
  const net = compare(
    'same, minus the array work on the pipeline side (`np.full` + sum, as timed in the script)',
    (r) => data('pipeline')(r) - arrayWorkOf(r),
    handoffOf,
    false,
  );
  const fastestLoad = Math.min(...rows.map((r) => r.script_big.load));
  const slowRuns = rows.filter((r) => r.script_big.load > SLOW_LOAD_FACTOR * fastestLoad).length;

  // Through S3 and the input cache, against the local blob dir, in the same runs.
  const s3Compare = (label, pf, sf, target = false) => {
    const p = s(pf);
    const b = s(sf);
    const perRun = s((r) => pf(r) / sf(r));
    const bold = (x) => (target ? `**${x}**` : x);
    return {
      perRun,
      cells: [
        label,
        spread(b, sec),
        spread(p, sec),
        `${bold(ratio(perRun.median))} (${ratio(perRun.min)}–${ratio(perRun.max)})`,
      ],
    };
  };
  const s3E2e = s3Compare(`**end-to-end wall, ${mib}**`, big('s3'), big('pipeline'), true);
  const s3Data = s3Compare(`data part (${mib} − 128 elements)`, data('s3'), data('pipeline'));
  const s3Tiny = s3Compare(
    'end-to-end wall, 128 elements',
    (r) => r.s3_tiny.wall,
    (r) => r.pipeline_tiny.wall,
  );
  const s3Store = s3Compare(
    'A ended → A `success` (local: a rename; S3: the upload, its file kept in the cache)',
    (r) => r.s3_big.makeStore,
    (r) => r.pipeline_big.makeStore,
  );
  const raw = s((r) => r.rawUpload);
  const s3Read = s3Compare(
    'B started → B ended (local: the blob dir in place; S3: the cached copy)',
    (r) => r.s3_big.useRun,
    (r) => r.pipeline_big.useRun,
  );

  const rr = (key, f) => summary(rereads[key].map(f));
  const downloadedOf = (key) => {
    const all = rereads[key].map((x) => x.downloaded);
    const lo = Math.min(...all);
    const hi = Math.max(...all);
    return lo === hi ? `${lo} bytes` : `${lo}–${hi} bytes`;
  };
  const hitDownloads = rereads.hit.reduce((a, x) => a + x.downloaded, 0);
  const hitsFromCache = rereads.hit.every((x) => x.fromCache);
  const rereadRows = [
    ['SQLite + local blob dir: read in place', 'local'],
    ['PostgreSQL + S3: **cache hit** (the copy the upload left)', 'hit'],
    ['PostgreSQL + S3: cached copy removed: **download** into the cache', 'download'],
  ].map(([label, key]) => [
    label,
    spread(
      rr(key, (x) => x.wall),
      sec,
    ),
    spread(rr(key, (x) => x.job)),
    downloadedOf(key),
  ]);

  const phase = (key) => [
    spread(s((r) => r.pipeline_big[key])),
    spread(s((r) => r.pipeline_tiny[key])),
    spread(s((r) => r.s3_big[key])),
  ];
  const blobMiB = (rows[0].pipeline_big.blobBytes / 2 ** 20).toFixed(1);

  const summaryLine =
    `data part ${ratio(dataPart.perRun.median)} of np.save+fsync+np.load's (best runs ${ratio(dataPart.best)}), ` +
    `target ≤ ${TARGET}×; end-to-end ${ratio(e2e.perRun.median)}; through S3 + cache ${ratio(s3E2e.perRun.median)} ` +
    `the local one end to end; second reader: cache hit ${sec(rr('hit', (x) => x.wall).median)} ` +
    `(${hitDownloads} bytes downloaded), download ${sec(rr('download', (x) => x.wall).median)}`;

  const markdown = [
    `Operation A returns \`np.full(${bigElements}, k)\` (${mib} of float64; stored as a ${blobMiB} MiB .npy blob) ` +
      'with a new k in every run, so that each run hands over new content (the same output again would be a ' +
      'blob the store already has), operation B receives it and returns `float(arr.sum())`. Baseline (the ' +
      'scale-out issue’s): one plain Python process (same interpreter) doing the same `np.full` and sum with ' +
      '`np.save`, an fsync of the file and `np.load` in between, on the same filesystem as the engine’s data ' +
      'dir. Every run is repeated with a 128-element array on each side; the *data part* of a side is its ' +
      `${mib} wall minus its 128-element wall (what the big array costs, without the fixed costs of processes ` +
      `and bookkeeping). ${rows.length} runs after one warm-up; each run times the script, the pipeline on ` +
      'SQLite + the local blob dir and the pipeline on PostgreSQL + S3 in an order that rotates; median ' +
      '(min–max). “Ratio” is the median of the per-run ratios; “best runs” divides the fastest run of one side by ' +
      `the fastest of the other. Before every run of any side a helper process touches and frees ` +
      `${WARM_UP_BYTES / 2 ** 30} GiB (numpy, huge pages; ${spread(summary(warmUps))}, not counted), so that all ` +
      'start from memory the host has just backed (see “Noise” below).',
    '',
    table(
      ['', 'pipeline (SQLite + local)', 'script', 'ratio', 'best runs', 'target'],
      [dataPart.cells, e2e.cells, tiny.cells, isolated.cells, net.cells],
    ),
    '',
    `What each number includes. *Pipeline data part*: making the array, writing it as .npy with fsync and ` +
      'rename while two threads hash its 8 MiB blocks (its `sha256t:` content id, docs/adr/0006; A), the engine ' +
      'renaming it into the blob store under that id, B mapping the file and summing it. The engine’s ' +
      'background check of the blob (a re-read and the same id, started when A succeeds, overlapping B) may end ' +
      'after the execution (docs/adr/0005, amended): the last row of the job timings says by how much; every run ' +
      'waits for it before the next one starts. *Script data part*: the same `np.full` and sum, `np.save` into ' +
      'the page cache, the fsync, and a full read into fresh memory. The isolated rows are diagnostics: the ' +
      'pipeline data part against the script’s save + fsync + load alone (timed inside it), without and then ' +
      `with the array work (\`np.full\` + sum, ${spread(s(arrayWorkOf))} in the script) taken off the pipeline side.`,
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
    `**Through S3 and the input cache.** The same pipeline on an engine with PostgreSQL ${backends.postgresVersion} ` +
      '(durable, on loopback) and S3 storage (s3rver, an emulator in a Node process on loopback, keeping its ' +
      'objects on the same disk; docs/adr/0012), in the same runs. A’s output is uploaded (multipart, its content ' +
      'id checked as the bytes go out) and its file is then kept as the input cache’s copy, so B, on the same ' +
      'machine, reads it there without a download. Ratio: S3 against local, per run.',
    '',
    table(
      ['', 'SQLite + local', 'PostgreSQL + S3 + cache', 'ratio'],
      [
        s3E2e.cells,
        s3Data.cells,
        s3Tiny.cells,
        s3Store.cells,
        s3Read.cells,
        [
          `for comparison: the emulator alone, the SDK’s \`Upload\` of a ${(rows[0].s3_big.blobBytes / 2 ** 20).toFixed(1)} MiB file (same part size, 4 parts at once)`,
          '',
          spread(raw, sec),
          '',
        ],
      ],
    ),
    '',
    `Most of the S3 side’s extra time is the emulator’s: s3rver (one Node process, writing each part and then ` +
      `the whole object to disk) takes ${sec(raw.median)} to receive ${mib} from the SDK alone, against ` +
      `${sec(s((r) => r.s3_big.makeStore).median)} for the engine’s upload (its content id checked on the way, ` +
      'the file kept in the cache); a real object store is a network away instead.',
    '',
    `**A second job reading the same ${(handedBytes / 2 ** 20).toFixed(1)} MiB input on the same machine** (a ` +
      'pipeline Input → SumArray on the artifact a run saved; each engine’s own), ' +
      `${rereads.hit.length} runs each: on S3 it ${hitsFromCache ? 'was read from the input cache every time' : 'was NOT always read from the cache'}, ` +
      `and ${hitDownloads} bytes were downloaded for it; with the cached copy removed (as on another machine, or ` +
      'once evicted) the job downloads it first.',
    '',
    table(['second reader', 'execution wall', 'the job (started → ended)', 'downloaded'], rereadRows),
    '',
    'Job timings (engine clock; A = make, B = use):',
    '',
    table(
      ['segment', `${mib}, local`, '128 elements, local', `${mib}, S3`],
      [
        ['setup: `startExecution` → A started', ...phase('setup')],
        [
          'A started → A ended (process: start, np.full, write + fsync with the block hashes alongside, exit)',
          ...phase('makeRun'),
        ],
        [
          'A ended → A `success` (stored under the harness’s content id; job and outputs committed)',
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
      ['create', 'save', 'fsync', 'load', 'sum']
        .map((k) => `${k} ${spread(s((r) => r.script_big[k] * 1000))}`)
        .join(', ') +
      '.',
  ].join('\n');
  return { summaryLine, markdown };
}
