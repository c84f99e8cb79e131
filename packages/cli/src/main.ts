import { statSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import type { runCli as RunCli } from './program.js';
import { readCliVersion } from './version.js';

const argv = process.argv.slice(2);

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

async function loadProgram(): Promise<{ runCli: typeof RunCli }> {
  const bundle = bundleFile();
  if (bundle === undefined) return (await import('./program.js')) as { runCli: typeof RunCli };
  const { loadBundle } = await import('./bundle-loader.js');
  return loadBundle(bundle, process.env) as { runCli: typeof RunCli };
}

if (argv.length === 1 && (argv[0] === '--version' || argv[0] === '-v')) {
  // Answered before the program is loaded: the commands' modules import the engine (~600 files).
  process.stdout.write(`${readCliVersion()}\n`);
} else {
  const { runCli } = await loadProgram();
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
  });
}
