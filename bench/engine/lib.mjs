// Shared pieces of the engine benchmarks: temp folders, project folders, timed Python runs, one engine per
// benchmark in a fresh data dir, and the statistics every benchmark prints.
import { spawn } from 'node:child_process';
import { chmod, mkdir, mkdtemp, readdir, rm, stat, statfs, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { openEngine } from '@deepforge/engine';

/** Operations run with Debian's interpreter (DEVELOPERS.md); so do the baselines. */
export const PYTHON = '/usr/bin/python3';

/** The environment jobs and baselines start from: ours, without DEEPFORGE_* settings that would leak in. */
export function cleanEnv() {
  const env = {};
  for (const [k, v] of Object.entries(process.env)) {
    if (v !== undefined && !k.startsWith('DEEPFORGE_')) env[k] = v;
  }
  return env;
}

export async function makeTempDir(label) {
  return mkdtemp(join(tmpdir(), `deepforge-bench-${label}-`));
}

/** rm -rf that also gets through the read-only folders the engine makes (code snapshots, blobs). */
export async function removeDir(dir) {
  try {
    await rm(dir, { recursive: true, force: true });
    return;
  } catch (err) {
    if (err.code !== 'EACCES' && err.code !== 'EPERM') throw err;
  }
  const makeWritable = async (p) => {
    const s = await stat(p).catch(() => undefined);
    if (!s?.isDirectory()) return;
    await chmod(p, 0o755);
    for (const name of await readdir(p)) await makeWritable(join(p, name));
  };
  await makeWritable(dir);
  await rm(dir, { recursive: true, force: true });
}

/** Bytes free for us on the filesystem holding `dir`. */
export async function freeBytes(dir) {
  const s = await statfs(dir);
  return s.bavail * s.bsize;
}

/**
 * Writes a project folder in the project format (docs/project-format.md).
 * operations: { Name: python source }; pipelines: { name: { nodes, connections } }.
 */
export async function writeProject(dir, { name, operations, pipelines }) {
  await mkdir(join(dir, 'operations'), { recursive: true });
  await mkdir(join(dir, 'pipelines'), { recursive: true });
  await writeFile(join(dir, 'deepforge.json'), JSON.stringify({ name, formatVersion: 1 }, null, 2) + '\n');
  for (const [op, source] of Object.entries(operations)) {
    await writeFile(join(dir, 'operations', `${op}.py`), source);
  }
  for (const [pipeline, body] of Object.entries(pipelines)) {
    await writeFile(
      join(dir, 'pipelines', `${pipeline}.json`),
      JSON.stringify({ name: pipeline, ...body }, null, 2) + '\n',
    );
  }
}

/**
 * Runs the interpreter as a subprocess and times it from just before the spawn to its exit (the whole
 * process: start, imports, work, exit). Rejects when it fails.
 */
export function runPython(args, { cwd, env = cleanEnv() } = {}) {
  return new Promise((resolve, reject) => {
    const t0 = performance.now();
    const child = spawn(PYTHON, args, { cwd, env, stdio: ['ignore', 'pipe', 'pipe'] });
    const out = [];
    const err = [];
    child.stdout.on('data', (c) => out.push(c));
    child.stderr.on('data', (c) => err.push(c));
    child.once('error', reject);
    child.once('close', (code, signal) => {
      const wallMs = performance.now() - t0;
      const stdout = Buffer.concat(out).toString('utf8');
      const stderr = Buffer.concat(err).toString('utf8');
      if (code !== 0) {
        reject(new Error(`${PYTHON} ${args.join(' ')} exited with ${code ?? signal}: ${stderr.trim()}`));
        return;
      }
      resolve({ wallMs, stdout, stderr });
    });
  });
}

/**
 * Opens an engine on a fresh temp data dir, checks the interpreter once (timed: a per-engine cost, not a
 * per-execution one), runs `fn`, then closes the engine and deletes the data dir whatever happened.
 */
export async function withEngine(fn, { settings = {}, env = cleanEnv() } = {}) {
  const dataDir = await makeTempDir('data');
  let engine;
  try {
    const t0 = performance.now();
    engine = await openEngine({ dataDir, env, settings: { python: PYTHON, ...settings } });
    const openMs = performance.now() - t0;
    const t1 = performance.now();
    await engine.python();
    const pythonCheckMs = performance.now() - t1;
    return await fn(engine, { dataDir, openMs, pythonCheckMs });
  } finally {
    if (engine) await engine.close();
    await removeDir(dataDir);
  }
}

/**
 * Opens one engine per config (`{ settings, env }`, see withEngine), all at once, and runs `fn(engines, infos)`
 * with them in the same order; closes them all (and deletes their data dirs) afterwards.
 */
export async function withEngines(configs, fn, engines = [], infos = []) {
  if (engines.length === configs.length) return fn(engines, infos);
  return withEngine(
    (engine, info) => withEngines(configs, fn, [...engines, engine], [...infos, info]),
    configs[engines.length],
  );
}

/**
 * Runs one pipeline to the end and collects what tells where the time went: the wall time from the call to
 * `startExecution` to `done`, then to `checked` (the background checks of its outputs ended too; the next run
 * does not start before), the job records, every job.status event (engine time, ms) and every console line.
 */
export async function runPipeline(engine, { project, projectDir, pipelineName, concurrency, overrides }) {
  const events = [];
  const unsubscribe = engine.subscribe('*', (e) => {
    if (e.type === 'job.status')
      events.push({ executionId: e.executionId, node: e.node, status: e.status, t: e.t });
    else if (e.type === 'job.log')
      events.push({ executionId: e.executionId, node: e.node, log: e.text, t: e.t });
  });
  try {
    const startEpoch = Date.now();
    const t0 = performance.now();
    const started = await engine.startExecution({
      project,
      pipelineName,
      projectDir,
      cache: false,
      concurrency,
      ...(overrides ? { overrides } : {}),
    });
    const done = await started.done;
    const wallMs = performance.now() - t0;
    const endEpoch = Date.now();
    const details = await started.checked;
    const checkedMs = performance.now() - t0;
    if (done.status !== 'success' || details.status !== 'success') {
      const why = details.failure
        ? `${details.failure.node}: ${details.failure.error.message}`
        : details.status;
      throw new Error(`pipeline ${pipelineName} did not succeed (${why})`);
    }
    const mine = events.filter((e) => e.executionId === started.id);
    return {
      wallMs,
      checkedMs,
      startEpoch,
      endEpoch,
      details,
      status: mine.filter((e) => e.status !== undefined),
      logs: mine.filter((e) => e.log !== undefined),
    };
  } finally {
    unsubscribe();
  }
}

export async function loadProject(engine, dir) {
  const { project, diagnostics } = await engine.loadProjectFolder(dir);
  const errors = diagnostics.filter((d) => d.severity === 'error');
  if (errors.length > 0)
    throw new Error(`the generated project has errors: ${errors.map((d) => d.message).join('; ')}`);
  return project;
}

/** The t of the first job.status event of `node` with `status`. */
export function statusTime(run, node, status) {
  const e = run.status.find((s) => s.node === node && s.status === status);
  if (!e) throw new Error(`no ${status} event for ${node}`);
  return e.t;
}

/** The JSON a job printed on a line starting with `prefix`. */
export function printed(run, node, prefix) {
  const line = run.logs.find((l) => l.node === node && l.log.startsWith(prefix));
  if (!line) throw new Error(`${node} printed no "${prefix}" line`);
  return JSON.parse(line.log.slice(prefix.length));
}

// ── statistics and formatting ─────────────────────────────────────────────────────────────────────────────

export function median(xs) {
  const s = [...xs].sort((a, b) => a - b);
  const n = s.length;
  if (n === 0) return NaN;
  return n % 2 ? s[(n - 1) / 2] : (s[n / 2 - 1] + s[n / 2]) / 2;
}

export function summary(xs) {
  return { median: median(xs), min: Math.min(...xs), max: Math.max(...xs), n: xs.length };
}

/** Milliseconds with a sensible precision. */
export function ms(x) {
  if (!Number.isFinite(x)) return '–';
  const a = Math.abs(x);
  return a >= 100 ? `${x.toFixed(0)} ms` : a >= 10 ? `${x.toFixed(1)} ms` : `${x.toFixed(2)} ms`;
}

export function sec(x) {
  return Number.isFinite(x) ? `${(x / 1000).toFixed(3)} s` : '–';
}

export function ratio(x) {
  return Number.isFinite(x) ? `${x.toFixed(2)}×` : '–';
}

/** "median (min–max)" of a summary, formatted with `fmt`. */
export function spread(s, fmt = ms) {
  return `${fmt(s.median)} (${fmt(s.min)}–${fmt(s.max)})`;
}

export function table(header, rows) {
  const line = (cells) => `| ${cells.join(' | ')} |`;
  return [line(header), line(header.map(() => '---')), ...rows.map(line)].join('\n');
}
