// Fan-out: 8 independent operations that each sleep 1 s, at concurrency 4: ideally 2 s of wall.
import { availableParallelism } from 'node:os';
import { POSTGRES_S3, withBackends } from './backends.mjs';
import {
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

export const name = 'fanout';
export const title = 'Fan-out: 8 × sleep(1) at concurrency 4';

const FULL = { jobs: 8, concurrency: 4, sleepS: 1 };
/** A smoke run: 4 × sleep(0.2) at concurrency 2. */
const SMOKE = { jobs: 4, concurrency: 2, sleepS: 0.2 };
const idealMs = (shape) => (shape.jobs / shape.concurrency) * shape.sleepS * 1000;

const NAP = `import time


class Nap():
    def __init__(self, seconds=1.0):
        self.seconds = seconds

    def execute(self):
        time.sleep(self.seconds)
`;

function pipeline(shape) {
  return {
    nodes: Array.from({ length: shape.jobs }, (_, i) => ({
      id: `nap${i + 1}`,
      operation: 'Nap',
      attributes: { seconds: shape.sleepS },
    })),
    connections: [],
  };
}

/** The most jobs running at the same time, from their start and end times (an end before a start at a tie). */
function maxRunning(jobs) {
  const points = jobs.flatMap((j) => [
    [j.startedAt, 1],
    [j.endedAt, -1],
  ]);
  points.sort((a, b) => a[0] - b[0] || a[1] - b[1]);
  let now = 0;
  let most = 0;
  for (const [, d] of points) {
    now += d;
    most = Math.max(most, now);
  }
  return most;
}

/**
 * Three engines: one with the engine-wide limit (`executions.concurrency`) set to 4, one with its default (the
 * number of CPUs), to show whether an execution's own `concurrency: 4` gets past a smaller default, and the first
 * again on PostgreSQL + S3 (started for the run: bench/engine/backends.mjs).
 */
const variants = (shape) => [
  {
    key: 'set',
    label: `\`executions.concurrency\` = ${shape.concurrency}`,
    settings: { 'executions.concurrency': shape.concurrency },
  },
  {
    key: 'default',
    label: `\`executions.concurrency\` default (${availableParallelism()} = CPUs)`,
    settings: {},
  },
  {
    key: 'postgres-s3',
    label: `\`executions.concurrency\` = ${shape.concurrency}, on ${POSTGRES_S3.label}`,
    settings: { 'executions.concurrency': shape.concurrency },
    backend: POSTGRES_S3,
  },
];

export async function run({ repeat, log, smoke = false }) {
  const shape = smoke ? SMOKE : FULL;
  const ideal = idealMs(shape);
  const projectDir = await makeTempDir('fanout-project');
  try {
    await writeProject(projectDir, {
      name: 'fanout',
      operations: { Nap: NAP },
      pipelines: { fanout: pipeline(shape) },
    });
    const results = {};
    await withBackends(async (backends) => {
      for (const variant of variants(shape)) {
        const backend = variant.backend
          ? await backends.settings(variant.backend)
          : { settings: {}, env: undefined };
        results[variant.key] = await withEngine(
          async (engine) => {
            const project = await loadProject(engine, projectDir);
            const once = async () => {
              const r = await runPipeline(engine, {
                project,
                projectDir,
                pipelineName: 'fanout',
                concurrency: shape.concurrency,
              });
              const jobs = r.details.jobs;
              const firstStart = Math.min(...jobs.map((j) => j.startedAt));
              const lastEnd = Math.max(...jobs.map((j) => j.endedAt));
              return {
                wall: r.wallMs,
                maxRunning: maxRunning(jobs),
                jobMs: jobs.map((j) => j.endedAt - j.startedAt),
                span: lastEnd - firstStart,
              };
            };
            if (!smoke) await once(); // warm-up, not counted
            const rows = [];
            for (let i = 0; i < repeat; i++) {
              const row = await once();
              rows.push(row);
              log(
                `  ${variant.key} ${i + 1}/${repeat}: wall ${ms(row.wall)} (${ratio(row.wall / ideal)} of ${ideal / 1000} s), ` +
                  `at most ${row.maxRunning} running at once`,
              );
            }
            return rows;
          },
          {
            settings: { ...backend.settings, ...variant.settings },
            ...(backend.env ? { env: backend.env } : {}),
          },
        );
      }
    });
    return report(results, shape);
  } finally {
    await removeDir(projectDir);
  }
}

function report(results, shape) {
  const ideal = idealMs(shape);
  const { jobs, concurrency, sleepS } = shape;
  const all = variants(shape);
  const line = (variant) => {
    const rows = results[variant.key];
    const wall = summary(rows.map((r) => r.wall));
    const most = rows.map((r) => r.maxRunning);
    const job = summary(rows.flatMap((r) => r.jobMs));
    const r = wall.median / ideal;
    return {
      wall,
      r,
      job,
      most: { min: Math.min(...most), max: Math.max(...most) },
      cells: [
        variant.label,
        spread(wall, sec),
        `**${ratio(r)}** (${ratio(wall.min / ideal)}–${ratio(wall.max / ideal)})`,
        Math.min(...most) === Math.max(...most)
          ? String(most[0])
          : `${Math.min(...most)}–${Math.max(...most)}`,
        spread(job),
      ],
    };
  };
  const set = line(all[0]);
  const deflt = line(all[1]);
  const pg = line(all[2]);
  const summaryLine =
    `wall ${sec(set.wall.median)} = ${ratio(set.r)} of ${ideal / 1000} s (min ${ratio(set.wall.min / ideal)}), ` +
    `at most ${set.most.max} at once; default engine settings ${sec(deflt.wall.median)} = ${ratio(deflt.r)}, ` +
    `at most ${deflt.most.max} at once; on PostgreSQL + S3 ${sec(pg.wall.median)} = ${ratio(pg.r)}`;
  const capped = deflt.most.max < concurrency;
  const markdown = [
    `${jobs} independent operations, each \`time.sleep(${sleepS})\` with no outputs, started with ` +
      `\`concurrency: ${concurrency}\`. Expected: ${jobs / concurrency} waves of ${sleepS} s, about ` +
      `${ideal / 1000} s of wall; ratio = wall / ${ideal / 1000} s. Wall from \`startExecution\` to \`done\`; ` +
      '“at once” is the most jobs whose [startedAt, endedAt] intervals overlap. ' +
      `${results[all[0].key].length} runs per row after one warm-up; median (min–max).`,
    '',
    table(
      ['engine', 'wall', `ratio to ${ideal / 1000} s`, 'at once', 'one job (started → ended)'],
      [set.cells, deflt.cells, pg.cells],
    ),
    '',
    `The ${ms(set.wall.median - ideal)} above ${ideal / 1000} s is mostly each job’s own process cost, paid ` +
      `once per wave: a job takes ${ms(set.job.median - sleepS * 1000)} more than its sleep (start-up, harness, ` +
      `exit; ${concurrency} Python processes starting at once on ${availableParallelism()} CPUs), plus the ` +
      'execution’s setup and the scheduling between waves. ' +
      (capped
        ? `With the default \`executions.concurrency\` (${availableParallelism()}) the engine-wide limit caps the ` +
          `execution’s \`concurrency: ${concurrency}\`: only ${deflt.most.max} ran at once.`
        : `With the default \`executions.concurrency\` (${availableParallelism()}, the CPUs) the execution’s explicit ` +
          `\`concurrency: ${concurrency}\` is honoured too (${deflt.most.max} at once).`) +
      ` The last row is the first engine again on PostgreSQL (durable, on loopback) and S3 (s3rver): these jobs ` +
      `have no outputs, so only where the job records go differs (${ratio(pg.wall.median / set.wall.median)} ` +
      'the first row’s wall).',
  ].join('\n');
  return { summaryLine, markdown };
}
