// Real jobs on remote workers (issue 10): a 200-operation fan-out through 2 `deepforge worker` processes on this
// machine against the same pipeline on local compute, in the same run; and how long a job whose worker is killed
// takes to run again on another worker, against the lease timeout.
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { createServer } from '@deepforge/server';
import {
  PYTHON,
  cleanEnv,
  loadProject,
  makeTempDir,
  ms,
  ratio,
  removeDir,
  runPipeline,
  sec,
  spread,
  summary,
  table,
  withEngine,
  writeProject,
} from './lib.mjs';

export const name = 'workers';
export const title = 'Remote workers: a 200-operation fan-out through 2 workers, and a lost worker’s job';
/** The server's worker socket and the `deepforge worker` command are on the paths measured. */
export const measuresAlso = ['packages/server/src', 'packages/cli/src'];

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const CLI = join(ROOT, 'packages', 'cli', 'dist', 'main.js');

const FULL = { fanout: 200, leaseTimeoutS: 5, expiryRuns: 3 };
const SMOKE = { fanout: 6, leaseTimeoutS: 2, expiryRuns: 1 };
const FANOUT_TARGET = 1.2;
const EXPIRY_SLACK_MS = 2000;
const WORKERS = 2;

const TINY = `class Tiny():
    def __init__(self, i=0):
        self.i = i

    def execute(self):
        value = self.i + 1
        return value
`;

const LONG = `import time


class Long():
    def execute(self):
        time.sleep(120)
`;

function fanoutPipeline(n) {
  return {
    nodes: Array.from({ length: n }, (_, i) => ({ id: `t${i}`, operation: 'Tiny', attributes: { i } })),
    connections: [],
  };
}

/** A `deepforge worker` process with one slot; resolves once it is connected. */
async function startWorker(server, url, token, dir, name) {
  const child = spawn(
    process.execPath,
    [CLI, 'worker', '--server', url, '--token', token, '--slots', '1', '--work-dir', dir, '--name', name],
    { env: { ...cleanEnv(), DEEPFORGE_PYTHON: PYTHON }, stdio: ['ignore', 'ignore', 'pipe'] },
  );
  const err = [];
  child.stderr.on('data', (c) => err.push(c));
  const compute = server.engine.remoteCompute;
  for (let i = 0; !compute.listWorkers().some((w) => w.name === name); i++) {
    if (child.exitCode !== null || i > 600) {
      child.kill('SIGKILL');
      throw new Error(`worker ${name} did not connect: ${Buffer.concat(err).toString().slice(-2000)}`);
    }
    await new Promise((r) => setTimeout(r, 25));
  }
  return child;
}

/**
 * CPU-seconds the whole machine has spent busy so far (/proc/stat: user, nice, system, irq, softirq): every
 * process of a run is counted, the server, the workers and the jobs' interpreters alike.
 */
function machineBusySeconds() {
  const fields = readFileSync('/proc/stat', 'utf8').split('\n')[0].trim().split(/\s+/).slice(1).map(Number);
  const [user, nice, system, , , irq, softirq] = fields;
  return (user + nice + system + irq + softirq) / CLOCK_TICKS;
}

/** The kernel's clock ticks per second (USER_HZ): 100 on Linux. */
const CLOCK_TICKS = 100;

/** A run's wall (ms) and the machine's busy CPU-seconds during it. */
async function measured(fn) {
  const cpu0 = machineBusySeconds();
  const wall = await fn();
  return { wall, cpu: machineBusySeconds() - cpu0 };
}

function stop(child) {
  return new Promise((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) return resolve();
    child.once('exit', resolve);
    child.kill('SIGTERM');
  });
}

/** A `--server` server with its workers; fn(server, url, token) runs while they are up. */
async function withServer(work, settings, fn) {
  const dataDir = join(work, `server-${Date.now()}`);
  const server = await createServer({
    dataDir,
    env: cleanEnv(),
    compute: 'none',
    settings: { python: PYTHON, ...settings },
  });
  try {
    const url = await server.listen(0, '127.0.0.1');
    const { token } = await server.engine.workerTokens.create('bench', 'bench');
    return await fn(server, url, token);
  } finally {
    await server.close();
    await removeDir(dataDir);
  }
}

export async function run({ repeat, log, smoke = false }) {
  const shape = smoke ? SMOKE : FULL;
  const runs = smoke ? 1 : repeat;
  const work = await makeTempDir('workers');
  try {
    const projectDir = join(work, 'project');
    await writeProject(projectDir, {
      name: 'workers',
      operations: { Tiny: TINY, Long: LONG },
      pipelines: {
        fanout: fanoutPipeline(shape.fanout),
        long: { nodes: [{ id: 'long', operation: 'Long' }], connections: [] },
      },
    });

    // ── the fan-out: local compute against 2 workers, alternating ──
    const local = [];
    const remote = [];
    await withEngine(async (engine) => {
      const project = await loadProject(engine, projectDir);
      const once = async () =>
        (await runPipeline(engine, { project, projectDir, pipelineName: 'fanout' })).wallMs;
      await withServer(work, {}, async (server, url, token) => {
        const workers = [];
        try {
          for (let w = 0; w < WORKERS; w++) {
            workers.push(await startWorker(server, url, token, join(work, `worker-${w}`), `bench-${w}`));
          }
          const serverProject = await loadProject(server.engine, projectDir);
          const remoteOnce = async () =>
            (
              await runPipeline(server.engine, {
                project: serverProject,
                projectDir,
                pipelineName: 'fanout',
              })
            ).wallMs;
          if (!smoke) {
            await once();
            await remoteOnce();
          }
          for (let r = 0; r < runs; r++) {
            const pair = r % 2 === 0 ? [once, remoteOnce] : [remoteOnce, once];
            const a = await measured(pair[0]);
            const b = await measured(pair[1]);
            const [l, rm] = r % 2 === 0 ? [a, b] : [b, a];
            local.push(l);
            remote.push(rm);
            log(
              `  fan-out run ${r + 1}/${runs}: local ${sec(l.wall)} (${l.cpu.toFixed(2)} CPU-s), ` +
                `2 workers ${sec(rm.wall)} (${rm.cpu.toFixed(2)} CPU-s) (${ratio(rm.wall / l.wall)})`,
            );
          }
        } finally {
          await Promise.all(workers.map(stop));
        }
      });
    });

    // ── a lost worker: its job runs again on the other one ──
    const expiry = [];
    for (let r = 0; r < shape.expiryRuns; r++) {
      await withServer(
        work,
        { 'workers.leaseTimeout': shape.leaseTimeoutS, 'executions.onRestart': 'requeue' },
        async (server, url, token) => {
          const compute = server.engine.remoteCompute;
          const a = await startWorker(server, url, token, join(work, `lost-a-${r}`), 'doomed');
          let b;
          try {
            const project = await loadProject(server.engine, projectDir);
            const started = await server.engine.startExecution({
              project,
              pipelineName: 'long',
              projectDir,
              cache: false,
            });
            const holder = (name) =>
              compute.listWorkers().find((w) => w.name === name && w.running.length > 0)?.running[0];
            for (let i = 0; !holder('doomed'); i++) {
              if (i > 2000) throw new Error('the job never ran on the first worker');
              await new Promise((res) => setTimeout(res, 10));
            }
            b = await startWorker(server, url, token, join(work, `lost-b-${r}`), 'spare');
            const t0 = performance.now();
            a.kill('SIGKILL');
            for (let i = 0; !holder('spare'); i++) {
              if (i > 6000) throw new Error('the job never ran again on the second worker');
              await new Promise((res) => setTimeout(res, 10));
            }
            const again = performance.now() - t0;
            expiry.push(again);
            log(`  lost worker ${r + 1}/${shape.expiryRuns}: running again on the other after ${ms(again)}`);
            await server.engine.cancelExecution(started.id);
            await started.done;
          } finally {
            a.kill('SIGKILL');
            if (b) await stop(b);
          }
        },
      );
    }
    return report(shape, local, remote, expiry, runs);
  } finally {
    await removeDir(work);
  }
}

function report(shape, local, remote, expiry, runs) {
  const l = summary(local.map((x) => x.wall));
  const r = summary(remote.map((x) => x.wall));
  const ratios = summary(remote.map((x, i) => x.wall / local[i].wall));
  const lc = summary(local.map((x) => x.cpu));
  const rc = summary(remote.map((x) => x.cpu));
  const cpuRatios = summary(remote.map((x, i) => x.cpu / local[i].cpu));
  const cpuSec = (x) => `${x.toFixed(2)} CPU-s`;
  const e = summary(expiry);
  const limitMs = shape.leaseTimeoutS * 1000 + EXPIRY_SLACK_MS;
  const meets = (ok) => (ok ? 'meets' : 'misses');
  const summaryLine =
    `${shape.fanout} operations through ${WORKERS} workers ${sec(r.median)} = ${ratio(ratios.median)} local ` +
    `compute (≤ ${FANOUT_TARGET}×: ${meets(ratios.median <= FANOUT_TARGET)}; the machine’s CPU ` +
    `${ratio(cpuRatios.median)}); a killed worker’s job runs ` +
    `again after ${sec(e.median)} (lease ${shape.leaseTimeoutS} s; ≤ ${sec(limitMs)}: ${meets(e.max <= limitMs)})`;
  const markdown = [
    `**Fan-out through workers.** ${shape.fanout} independent trivial operations (each returns its attribute + 1, ` +
      'so each stores an output), run with default settings by one engine with local compute (as many jobs at ' +
      'once as CPUs) and by a web server ' +
      `started with \`compute: none\` whose jobs go to ${WORKERS} \`deepforge worker\` processes on this machine ` +
      '(the built CLI, one slot each, their own warm worker and input cache; small outputs sent to the server in their events, worker protocol 3). ' +
      'Wall from `startExecution` to `done`, each side’s engine already open and its workers connected. ' +
      `${runs} runs after a warm-up, alternating; median (min–max). CPU: what the whole machine spent busy ` +
      'during the run (/proc/stat: the server or engine, the workers and every job’s interpreter), and its ratio ' +
      'in each pair.',
    '',
    table(
      ['', 'wall', 'ratio to local', 'target', 'CPU of the machine', 'CPU ratio to local'],
      [
        ['local compute', spread(l, sec), '1×', '', spread(lc, cpuSec), '1×'],
        [
          `**${WORKERS} workers**`,
          spread(r, sec),
          `**${ratio(ratios.median)}** (${ratio(ratios.min)}–${ratio(ratios.max)})`,
          `≤ ${FANOUT_TARGET}× (${meets(ratios.median <= FANOUT_TARGET)})`,
          spread(rc, cpuSec),
          `${ratio(cpuRatios.median)} (${ratio(cpuRatios.min)}–${ratio(cpuRatios.max)})`,
        ],
      ],
    ),
    '',
    `**A lost worker.** A server with \`workers.leaseTimeout = ${shape.leaseTimeoutS}\` s, a worker running a job ` +
      'that sleeps, a second worker connected idle; the first is killed with SIGKILL. Time from the kill to the ' +
      'job running on the second worker (its lease expired, it was queued again and leased under the next ' +
      `epoch; \`executions.onRestart = requeue\`), ${shape.expiryRuns} runs.`,
    '',
    table(
      ['', 'time', 'target'],
      [
        [
          'kill → running on the other worker',
          spread(e, sec),
          `≤ lease timeout + 2 s = ${sec(limitMs)} (${meets(e.max <= limitMs)})`,
        ],
      ],
    ),
  ].join('\n');
  return { summaryLine, markdown };
}
