// Metrics: deepforge.log in a tight loop against a plain Python loop appending to a list (the ratio), the end-to-end
// rate until every point is stored, and what a point costs on disk in SQLite and PostgreSQL (ADR 0014).
import { existsSync, statSync } from 'node:fs';
import { join } from 'node:path';
import BetterSqlite3 from 'better-sqlite3';
import pg from 'pg';
import { POSTGRES_LOCAL, SQLITE_LOCAL, withBackends } from './backends.mjs';
import {
  loadProject,
  makeTempDir,
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

export const name = 'metrics';
export const title = 'Metrics: deepforge.log throughput and bytes per point';

const FULL = { points: 1_000_000 };
/** A smoke run: 20,000 points. */
const SMOKE = { points: 20_000 };
/** What a point holds: step, value and time, 8 bytes each. */
const NUMBERS_BYTES = 24;

// The same loop twice: the baseline keeps (step, value) in a list, the measured one logs it. Both timed inside the
// job with perf_counter; the engine stores every point (checked after the run).
const LOGGER = `import json
import time

import deepforge


class Logger():
    def __init__(self, n=1000):
        self.n = n

    def execute(self):
        n = self.n
        kept = []
        t0 = time.perf_counter()
        for i in range(n):
            kept.append((i, 1.0 / (i + 1)))
        t1 = time.perf_counter()
        for i in range(n):
            deepforge.log(step=i, loss=1.0 / (i + 1))
        t2 = time.perf_counter()
        print("BENCH " + json.dumps({"listS": t1 - t0, "logS": t2 - t1}), flush=True)
        done = len(kept)
        return done
`;

/** SQLite: the file's size with the WAL checkpointed into it, and each table's share with its indexes (dbstat). */
function sqliteSize(dataDir) {
  const file = join(dataDir, 'deepforge.db');
  const db = new BetterSqlite3(file);
  try {
    db.pragma('wal_checkpoint(TRUNCATE)');
    let tables = {};
    try {
      // Each table with its indexes (dbstat names b-trees: the table's and each index's).
      const query = `select m.tbl_name as name, sum(s.pgsize) as bytes from dbstat s
        join sqlite_master m on m.name = s.name group by m.tbl_name`;
      for (const r of db.prepare(query).all()) tables[r.name] = r.bytes;
    } catch {
      tables = {};
    }
    const wal = `${file}-wal`;
    return { total: statSync(file).size + (existsSync(wal) ? statSync(wal).size : 0), tables };
  } finally {
    db.close();
  }
}

const METRIC_RELATIONS = ['metric_series', 'metric_blocks', 'metric_buckets'];

/** PostgreSQL: the metric tables with their indexes and TOAST (pg_total_relation_size), after VACUUM. */
async function postgresSize(url) {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    await client.query('vacuum analyze');
    const tables = {};
    for (const t of METRIC_RELATIONS) {
      const { rows } = await client.query('select pg_total_relation_size($1::regclass) as bytes', [t]);
      tables[t] = Number(rows[0].bytes);
    }
    const { rows } = await client.query('select pg_database_size(current_database()) as bytes');
    return { total: Number(rows[0].bytes), tables };
  } finally {
    await client.end();
  }
}

const metricBytes = (tables) => METRIC_RELATIONS.reduce((s, t) => s + (tables[t] ?? 0), 0);

export async function run({ repeat, log, smoke = false }) {
  const shape = smoke ? SMOKE : FULL;
  const n = shape.points;
  const projectDir = await makeTempDir('metrics-project');
  try {
    await writeProject(projectDir, {
      name: 'metrics',
      operations: { Logger: LOGGER },
      pipelines: {
        log: { nodes: [{ id: 'log', operation: 'Logger', attributes: { n } }], connections: [] },
      },
    });
    const results = {};
    await withBackends(async (backends) => {
      for (const variant of [SQLITE_LOCAL, POSTGRES_LOCAL]) {
        const backend = await backends.settings(variant);
        results[variant.key] = await withEngine(async (engine, { dataDir }) => {
          const project = await loadProject(engine, projectDir);
          const runs = [];
          // Each run is a new execution: its points are added to what the earlier runs stored.
          for (let i = 0; i < (smoke ? 1 : repeat + 1); i++) {
            const r = await runPipeline(engine, { project, projectDir, pipelineName: 'log' });
            const [series] = await engine.listMetricSeries(r.details.id, 'log');
            if (series?.count !== n) throw new Error(`stored ${series?.count} points of ${n}`);
            const line = r.logs.find((l) => l.log.startsWith('BENCH '));
            if (!line) throw new Error('the logger printed no BENCH line');
            const { listS, logS } = JSON.parse(line.log.slice('BENCH '.length));
            const job = r.details.jobs[0];
            // Until stored: from the job's start to the end of its execution (the telemetry is flushed first).
            const storedS = (r.endEpoch - job.startedAt) / 1000;
            const m = { listS, logS, ratio: logS / listS, storedS };
            if (i > 0 || smoke) runs.push(m);
            log(
              `  ${variant.key}${i === 0 && !smoke ? ' (warm-up)' : ''}: log ${sec(logS * 1000)} vs list ${sec(listS * 1000)} (${ratio(logS / listS)}); ${Math.round(n / logS).toLocaleString('en-US')} points/s in the job, stored after ${sec(storedS * 1000)}`,
            );
          }
          const points = n * (smoke ? 1 : repeat + 1);
          const size =
            variant.key === SQLITE_LOCAL.key
              ? sqliteSize(dataDir)
              : await postgresSize(backend.settings['database.url']);
          return { runs, points, size };
        }, backend);
      }
    });
    const rows = [];
    const bytes = {};
    for (const variant of [SQLITE_LOCAL, POSTGRES_LOCAL]) {
      const { runs, points, size } = results[variant.key];
      const of = (k) => runs.map((r) => r[k]);
      const metric = metricBytes(size.tables);
      bytes[variant.key] = { perPoint: metric / points, total: size.total, tables: size.tables, points };
      rows.push([
        variant.label,
        spread(summary(of('listS').map((s) => s * 1000)), sec),
        spread(summary(of('logS').map((s) => s * 1000)), sec),
        `**${ratio(summary(of('ratio')).median)}**`,
        `${Math.round(n / summary(of('logS')).median).toLocaleString('en-US')}/s`,
        `${Math.round(n / summary(of('storedS')).median).toLocaleString('en-US')}/s`,
        metric > 0 ? `**${(metric / points).toFixed(1)} B**` : '–',
      ]);
    }
    const sqlite = bytes[SQLITE_LOCAL.key];
    const postgres = bytes[POSTGRES_LOCAL.key];
    const ratioMedian = summary(results[SQLITE_LOCAL.key].runs.map((r) => r.ratio)).median;
    const share = (b) =>
      METRIC_RELATIONS.map((t) => `${t} ${((b.tables[t] ?? 0) / b.points).toFixed(1)} B`).join(', ');
    log(`  bytes per point: SQLite: ${share(sqlite)}; PostgreSQL: ${share(postgres)}`);
    const markdown = [
      `One operation logs ${n.toLocaleString('en-US')} values of one metric in a tight loop, \`deepforge.log(step=i, loss=1.0 / (i + 1))\`, after the same loop keeping \`(i, 1.0 / (i + 1))\` in a list (the baseline), both timed in the job with \`time.perf_counter()\`; every value is stored (checked after the run). ${smoke ? 1 : repeat} runs per database after one warm-up, each a new execution; median (min–max). "Stored" is the rate from the job's start to the end of its execution, by which time the engine has written every point (batched every 500 ms, ADR 0014).`,
      '',
      table(
        [
          'database',
          'list.append loop',
          'deepforge.log loop',
          'ratio',
          'logged',
          'stored (end to end)',
          'bytes per point',
        ],
        rows,
      ),
      '',
      `Bytes per point: the metric tables with their indexes (SQLite: \`dbstat\` after a WAL checkpoint; PostgreSQL: \`pg_total_relation_size\` after VACUUM) over the ${sqlite.points.toLocaleString('en-US')} points stored in the run; the numbers themselves are ${NUMBERS_BYTES} B (step, value and time as 8-byte numbers). SQLite: ${share(sqlite)}. PostgreSQL: ${share(postgres)}.`,
    ].join('\n');
    return {
      summaryLine: `deepforge.log ${ratio(ratioMedian)} a list.append loop; ${sqlite.perPoint.toFixed(1)} B/point in SQLite, ${postgres.perPoint.toFixed(1)} B/point in PostgreSQL`,
      markdown,
    };
  } finally {
    await removeDir(projectDir);
  }
}
