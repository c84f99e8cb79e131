#!/usr/bin/env node
// `npm run bench:smoke` (the last step of `npm test`): every benchmark in its smoke mode (tiny sizes, one run,
// nothing written), one after the other, so that a benchmark that no longer runs fails like any other test.
// Stops at the first failure, naming the bench and the command that shows it alone. Options: `-- --only
// engine,ui,…` to run some of them.
import { spawn } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');
/** DeepForge's packages from their TypeScript sources (no build needed), everything else as published. */
const FROM_SOURCES = ['--import', 'tsx', '--import', './bench/auth/source-conditions.mjs'];

const BENCHES = [
  {
    name: 'engine',
    command: [process.execPath, ...FROM_SOURCES, 'bench/engine/run.mjs', '--smoke'],
    alone: 'npm run bench:engine -- --smoke',
    timeoutS: 180,
  },
  {
    name: 'ui',
    // It builds what it serves when that is missing or older than its sources (the client: a Vite build).
    command: [process.execPath, '--import', 'tsx', 'bench/ui/run.ts', '--smoke'],
    alone: 'npm run bench:ui -- --smoke',
    timeoutS: 420,
  },
  {
    name: 'training',
    command: [process.execPath, 'bench/training/run.mjs', '--smoke'],
    alone: 'npm run bench:training -- --smoke',
    timeoutS: 180,
  },
  {
    name: 'history',
    command: [process.execPath, ...FROM_SOURCES, 'bench/history/run.ts', '--smoke'],
    alone: 'npm run bench:history -- --smoke',
    timeoutS: 180,
  },
  {
    name: 'auth',
    command: [process.execPath, ...FROM_SOURCES, 'bench/auth/run.ts', '--smoke'],
    alone: 'npm run bench:auth -- --smoke',
    timeoutS: 180,
  },
];

/** Ends a bench's process group: the bench and everything it started (server, browser, Python). */
function killGroup(child, signal) {
  try {
    process.kill(-child.pid, signal);
  } catch {
    // already gone
  }
}

/** Runs one bench with its output shown; resolves to why it failed, or null. */
function runBench(bench) {
  return new Promise((resolve) => {
    const [cmd, ...args] = bench.command;
    // Its own process group, so that a bench that hangs is ended with everything it started.
    const child = spawn(cmd, args, { cwd: ROOT, stdio: 'inherit', detached: true });
    // Out of the terminal's process group, it does not get a Ctrl-C: pass it on.
    const interrupted = (signal) => {
      killGroup(child, 'SIGTERM');
      process.exit(signal === 'SIGINT' ? 130 : 143);
    };
    process.once('SIGINT', interrupted);
    process.once('SIGTERM', interrupted);
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      killGroup(child, 'SIGKILL');
    }, bench.timeoutS * 1000);
    const done = (why) => {
      clearTimeout(timer);
      process.off('SIGINT', interrupted);
      process.off('SIGTERM', interrupted);
      resolve(why);
    };
    child.once('error', (err) => done(err.message));
    child.once('exit', (code, signal) => {
      // Whatever it left running (a server, a browser) goes with it.
      killGroup(child, 'SIGKILL');
      done(
        timedOut ? `still running after ${bench.timeoutS} s` : code !== 0 ? `exit ${code ?? signal}` : null,
      );
    });
  });
}

async function main() {
  const onlyArg = process.argv.indexOf('--only');
  const only = onlyArg >= 0 ? (process.argv[onlyArg + 1] ?? '').split(',') : null;
  const unknown = (only ?? []).filter((n) => !BENCHES.some((b) => b.name === n));
  if (unknown.length > 0) {
    console.error(
      `bench:smoke: unknown bench ${unknown.join(', ')} (known: ${BENCHES.map((b) => b.name).join(', ')})`,
    );
    process.exit(2);
  }
  const t0 = Date.now();
  const times = [];
  for (const bench of BENCHES.filter((b) => !only || only.includes(b.name))) {
    console.log(`\n── bench:smoke: ${bench.name} ──`);
    const t1 = Date.now();
    const why = await runBench(bench);
    const s = ((Date.now() - t1) / 1000).toFixed(1);
    if (why !== null) {
      console.error(
        `\nbench:smoke: the ${bench.name} benchmark failed in its smoke mode (${why}, after ${s} s); ` +
          `see its output above, or run it alone: ${bench.alone}`,
      );
      process.exit(1);
    }
    times.push(`${bench.name} ${s} s`);
  }
  console.log(
    `\nbench:smoke: all passed in ${((Date.now() - t0) / 1000).toFixed(1)} s (${times.join(', ')})`,
  );
}

main();
