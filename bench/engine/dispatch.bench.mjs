// Dispatch through the worker queue (issue 10): a `--server` web server (no local compute, SQLite with its usual
// durability) and 8 workers on loopback that speak the worker protocol over real WebSockets and finish every job
// the moment they get it. Jobs are handed to the server's remote compute all at once; the rate is the jobs leased,
// started, finished and accepted per second, from the first hand-over to the last result. Baseline, in the same
// run: the same number of lease-and-complete cycles on the worker store one at a time (a lease, then its
// completion, each its own transaction), as the dispatcher did before it wrote a round of leases in one
// transaction.
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { WebSocket } from 'ws';
import { openSqliteStores } from '@deepforge/engine';
import { WORKER_FRAME_MAX_MESSAGES, WORKER_PROTOCOL_VERSION } from '@deepforge/protocol';
import { createServer } from '@deepforge/server';
import { PYTHON, cleanEnv, makeTempDir, removeDir, summary, table } from './lib.mjs';

export const name = 'dispatch';
export const title = 'Dispatch: jobs leased per second through the worker queue';
/** The web server's worker socket is on the path measured. */
export const measuresAlso = ['packages/server/src'];

const FULL = { jobs: 4000, workers: 8, slots: 4 };
const SMOKE = { jobs: 40, workers: 2, slots: 2 };
/** The goal. */
const TARGET_PER_S = 1000;

/** A worker that finishes each job it is given at once, as soon as it is given. */
async function fakeWorker(url, token, index, slots) {
  const ws = new WebSocket(`${url.replace(/^http/, 'ws')}/api/workers/connect`, {
    headers: { authorization: `Bearer ${token}` },
  });
  await new Promise((resolve, reject) => {
    ws.once('open', resolve);
    ws.once('error', reject);
  });
  const welcomed = new Promise((resolve, reject) => {
    ws.on('message', (raw) => {
      // A frame holds one message or an array of them (worker protocol 3); what a frame asks is answered in one.
      const parsed = JSON.parse(String(raw));
      const answers = [];
      for (const m of Array.isArray(parsed) ? parsed : [parsed]) {
        if (m.type === 'welcome') resolve();
        else if (m.type === 'refused') reject(new Error(`worker refused: ${JSON.stringify(m)}`));
        else if (m.type === 'job.assign') {
          const ref = { jobId: m.jobId, epoch: m.epoch };
          answers.push(
            { type: 'job.started', ...ref, pid: 1 },
            {
              type: 'job.finished',
              ...ref,
              outcome: 'exited',
              exitCode: 0,
              signal: null,
              stderrTail: [],
              logTruncated: false,
              badEvents: 0,
            },
          );
        }
      }
      for (let i = 0; i < answers.length; i += WORKER_FRAME_MAX_MESSAGES) {
        ws.send(JSON.stringify(answers.slice(i, i + WORKER_FRAME_MAX_MESSAGES)));
      }
    });
  });
  ws.send(
    JSON.stringify({
      type: 'hello',
      v: WORKER_PROTOCOL_VERSION,
      workerId: `bench-${index}`,
      name: `bench-${index}`,
      labels: [],
      slots,
      running: [],
    }),
  );
  await welcomed;
  return ws;
}

function request(root, codeDir, i) {
  const jobDir = join(root, 'jobs', `j${i}`);
  return {
    jobId: `bench.j${i}`,
    runnerId: 'bench',
    spec: {
      v: 1,
      codeDir,
      operation: { file: 'operations/Op.py', className: 'Op' },
      attributes: {},
      references: {},
      inputs: {},
      outputs: [],
      outputDir: join(jobDir, 'out'),
      workDir: join(jobDir, 'work'),
      debug: false,
    },
    jobDir,
    logFile: join(jobDir, 'console.log'),
    logMaxBytes: 1024 * 1024,
    timeoutMs: 0,
    python: PYTHON,
  };
}

/**
 * Folders of finished runs, removed once every run is done: removing thousands of job folders right before the
 * next run slows that run's own folder making (ext4 scans for recently deleted inodes when it allocates new ones).
 */
const leftovers = [];

/** One run through the server: every job handed over at once, timed to the last result. */
async function throughServer(shape) {
  const root = await makeTempDir('dispatch');
  const server = await createServer({
    dataDir: join(root, 'server'),
    env: cleanEnv(),
    compute: 'none',
    settings: { python: PYTHON, 'workers.leaseTimeout': 60 },
  });
  const sockets = [];
  try {
    const url = await server.listen(0, '127.0.0.1');
    const { token } = await server.engine.workerTokens.create('bench', 'bench');
    for (let w = 0; w < shape.workers; w++) sockets.push(await fakeWorker(url, token, w, shape.slots));
    const compute = server.engine.remoteCompute;
    const codeDir = join(root, 'code');
    await mkdir(join(codeDir, 'operations'), { recursive: true });
    await writeFile(
      join(codeDir, 'operations', 'Op.py'),
      'class Op():\n    def execute(self):\n        pass\n',
    );
    const handlers = { onEvent: () => undefined, onLog: () => undefined };
    const requests = Array.from({ length: shape.jobs }, (_, i) => request(root, codeDir, i));
    const t0 = performance.now();
    const results = await Promise.all(
      requests.map(async (r) => (await (await compute.start(r, handlers)).result).outcome),
    );
    const wallMs = performance.now() - t0;
    // A result comes only once the server accepted the job's completion under its lease.
    const bad = results.filter((o) => o !== 'exited').length;
    if (bad > 0) throw new Error(`${bad} of ${shape.jobs} jobs did not end as exited`);
    return { wallMs, perS: (shape.jobs / wallMs) * 1000 };
  } finally {
    for (const ws of sockets) ws.close();
    await server.close();
    leftovers.push(root);
  }
}

/** The baseline: lease-and-complete cycles one at a time on the same kind of store, 8 leasers at once. */
async function oneByOne(shape) {
  const dataDir = await makeTempDir('dispatch-store');
  const stores = await openSqliteStores(join(dataDir, 'deepforge.db'));
  try {
    const store = stores.workers;
    const ids = Array.from({ length: shape.jobs }, (_, i) => `base.j${i}`);
    await store.enqueueJobs(
      ids.map((jobId) => ({ jobId, labels: [] })),
      1,
    );
    const t0 = performance.now();
    await Promise.all(
      Array.from({ length: shape.workers }, async (_, w) => {
        const candidate = { workerId: `w${w}`, tokenId: 't', labels: [] };
        for (;;) {
          const lease = await store.leaseNext(candidate, Date.now(), 60_000);
          if (!lease) return;
          if (!(await store.completeLease(lease.jobId, lease.epoch, candidate.workerId))) {
            throw new Error(`the completion of ${lease.jobId} was refused`);
          }
        }
      }),
    );
    const wallMs = performance.now() - t0;
    return { wallMs, perS: (shape.jobs / wallMs) * 1000 };
  } finally {
    await stores.close();
    await removeDir(dataDir);
  }
}

export async function run(options) {
  try {
    return await measure(options);
  } finally {
    for (const dir of leftovers.splice(0)) await removeDir(dir);
  }
}

async function measure({ repeat, log, smoke = false }) {
  const shape = smoke ? SMOKE : FULL;
  const runs = smoke ? 1 : repeat;
  if (!smoke) {
    log('  warm-up');
    await throughServer(shape);
  }
  const server = [];
  const base = [];
  for (let i = 0; i < runs; i++) {
    // Alternating, so that both see the same machine.
    const a = await throughServer(shape);
    const b = await oneByOne(shape);
    server.push(a);
    base.push(b);
    log(
      `  run ${i + 1}: ${Math.round(a.perS)} jobs/s through the server, ${Math.round(b.perS)}/s one by one`,
    );
  }
  const s = summary(server.map((r) => r.perS));
  const b = summary(base.map((r) => r.perS));
  const ratios = summary(server.map((r, i) => r.perS / base[i].perS));
  const fmt = (x) => `${Math.round(x).toLocaleString('en-US')}/s`;
  const range = (x) => `${fmt(x.median)} (${fmt(x.min)}–${fmt(x.max)})`;
  const meets = s.median >= TARGET_PER_S;
  const summaryLine =
    `${fmt(s.median)} jobs leased and finished through the server with ${shape.workers} workers ` +
    `(≥ ${fmt(TARGET_PER_S)}: ${meets ? 'meets' : 'misses'}), ${ratios.median.toFixed(1)}× one-by-one store cycles`;
  const markdown = [
    `A web server started with \`compute: none\` (as \`deepforge start --server\`; SQLite, each commit flushed to the disk before it is answered, ` +
      `on this machine’s disk) and ${shape.workers} workers on loopback, each a real WebSocket client speaking ` +
      `the worker protocol with ${shape.slots} slots, that reports every job started and finished the moment it ` +
      `is assigned. ${shape.jobs.toLocaleString('en-US')} jobs are handed to the server’s remote compute at ` +
      'once; each is queued in the worker store, leased (a compare-and-set, epoch 1), sent, started, finished ' +
      'and its completion fenced and accepted. Rate = jobs / wall ' +
      'from the first hand-over to the last result. Baseline, in the same run: the same number of jobs leased ' +
      `and completed on the worker store one at a time by ${shape.workers} leasers at once (\`leaseNext\` then ` +
      '`completeLease`, each its own transaction: how the dispatcher wrote them before a round of leases ' +
      `became one transaction). ${runs} runs after a warm-up, alternating; median (min–max).`,
    '',
    table(
      ['', 'jobs per second', 'target'],
      [
        [
          `**through the server, ${shape.workers} workers**`,
          `**${range(s)}**`,
          `≥ ${fmt(TARGET_PER_S)} (${meets ? 'meets' : 'misses'})`,
        ],
        ['one-by-one store cycles (baseline)', range(b), ''],
        ['ratio', `${ratios.median.toFixed(1)}× (${ratios.min.toFixed(1)}×–${ratios.max.toFixed(1)}×)`, ''],
      ],
    ),
  ].join('\n');
  return { summaryLine, markdown };
}
