import { statSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import type * as Entry from './entry.js';
import { readCliVersion } from './version.js';

const argv = process.argv.slice(2);

/** `deepforge run` on this machine (not `--server`, not asking for help). */
function localRun(): boolean {
  if (argv[0] !== 'run') return false;
  return !argv.some((a) => a === '--server' || a.startsWith('--server=') || a === '--help' || a === '-h');
}

/**
 * The bundle to load the program from (scripts/bundle-cli.mjs, docs/adr/0029) for a local `deepforge run`, while it
 * is newer than every `tsc -b` build of the packages it holds (in a checkout; an installed package has no build
 * info); undefined for the program's own modules. The bundle holds the same program, so the choice changes only how
 * fast it loads. `start`, `worker` and `run --server` load @deepforge/server, which must share the engine's modules
 * with the program that passes it an engine or catches its errors: they never use the bundle.
 */
function bundleFile(): string | undefined {
  if (argv[0] !== 'run' || process.env.DEEPFORGE_CLI_BUNDLE === '0') return undefined;
  if (argv.some((a) => a === '--server' || a.startsWith('--server='))) return undefined;
  const bundle = new URL('./program.bundle.cjs', import.meta.url);
  const built = statSync(bundle, { throwIfNoEntry: false })?.mtimeMs;
  if (built === undefined) return undefined;
  for (const info of [
    './.tsbuildinfo',
    ...['core', 'protocol', 'engine'].map((p) => `../../${p}/dist/.tsbuildinfo`),
  ]) {
    const compiled = statSync(new URL(info, import.meta.url), { throwIfNoEntry: false })?.mtimeMs;
    if (compiled !== undefined && compiled > built) return undefined;
  }
  return fileURLToPath(bundle);
}

async function loadEntry(): Promise<typeof Entry> {
  const bundle = bundleFile();
  if (bundle === undefined) return import('./entry.js');
  const { loadBundle } = await import('./bundle-loader.js');
  return loadBundle(bundle, process.env) as typeof Entry;
}

if (argv.length === 1 && (argv[0] === '--version' || argv[0] === '-v')) {
  // Answered before the program is loaded: the commands' modules import the engine (~600 files).
  process.stdout.write(`${readCliVersion()}\n`);
} else {
  const entry = await loadEntry();
  // The run's reader and warm worker start while the rest of the program loads; the engine takes what matches its
  // settings, and what it does not take is stopped when the command is done.
  const prestarted = localRun() ? await entry.prestartRun(process.env, argv.slice(1)) : undefined;
  const { runCli } = await entry.loadProgram();
  try {
    process.exitCode = await runCli(argv, {
      // Only commands that read it touch process.stdin: creating it opens the terminal or pipe.
      get in() {
        return process.stdin;
      },
      out: process.stdout,
      err: process.stderr,
      env: process.env,
      cwd: process.cwd(),
      exitCode: 0,
      ...(prestarted ? { prestarted } : {}),
    });
  } finally {
    await prestarted?.discard();
  }
}
