#!/usr/bin/env node
// `node scripts/bundle-cli.mjs [--out DIR]`: the CLI's program as one JavaScript bundle (docs/adr/0029), from what `tsc -b`
// built. Writes packages/cli/dist/program.bundle.cjs (from entry.js), one CommonJS file that the CLI compiles with V8's code cache
// (packages/cli/src/bundle-loader.ts). `npm run build`, `npm run pack` and `bench:startup` run it after tsc.
//
// Why: a one-operation `deepforge run` spent most of its time loading ~600 ES modules (kysely alone 262, zod 198);
// one file loads in a fraction of that. bin/deepforge.js uses the bundle for `deepforge run` (not `--server`) while
// it is newer than every build it was made from, and the program's own files otherwise (packages/cli/src/main.ts).
//
// What stays outside, loaded from node_modules as before:
// - @node-rs/argon2: its loader looks for its .node file by path (better-sqlite3 is inside: the engine names its
//   addon's file to it, packages/engine/src/store/sqlite-database.ts);
// - @deepforge/server: `start`, `worker` and `run --server` pass the engine and errors to it, so it must share one
//   copy of the engine, protocol, zod and Yjs with what loaded it; those commands never use the bundle, and the
//   bundle imports the server only for a job that asks for GPUs (plain numbers come back);
// - pg and the AWS SDK: loaded only for a postgres:// database or S3 storage, big, and with files of their own.
import { build } from 'esbuild';
import { existsSync, mkdirSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');
const DIST = join(ROOT, 'packages', 'cli', 'dist');
const CORE_DIST = join(ROOT, 'packages', 'core', 'dist');

export const EXTERNAL = ['@node-rs/argon2', '@deepforge/server', 'pg', 'pg-*', '@aws-sdk/*', '@smithy/*'];

/**
 * What the engine's operation reader loads in its worker threads (packages/engine/src/operation-reader.ts): core's
 * readOperationFile and what it uses, one file beside core's dist/index.js, so that a worker loads one file instead
 * of core's, zod's and Lezer's modules on the way to a run's first job.
 */
export async function bundleOperationReading({ coreDist = CORE_DIST, quiet = false } = {}) {
  const out = join(coreDist, READER_BUNDLE);
  const result = await build({
    stdin: {
      contents: "export { readOperationFile } from './operation-file.reader.js';",
      resolveDir: coreDist,
      sourcefile: 'operation-reading.entry.js',
      loader: 'js',
    },
    outfile: out,
    write: false,
    ...COMMON,
    // CommonJS: a worker require()s it, which spares each worker thread starting Node's ES module loader.
    format: 'cjs',
    logLevel: quiet ? 'error' : 'warning',
  });
  writeWhole(out, result.outputFiles[0].contents);
  // What earlier builds made (an ES module) would only be a stale file beside it.
  rmSync(join(coreDist, 'operation-reading.bundle.js'), { force: true });
  return out;
}

const READER_BUNDLE = 'operation-reading.bundle.cjs';

const COMMON = {
  bundle: true,
  format: 'esm',
  platform: 'node',
  target: 'node20',
  // Whitespace only: names stay, so that an unexpected error's stack still reads.
  minifyWhitespace: true,
  legalComments: 'none',
};

/**
 * Written beside, then renamed: a `deepforge run` (or a test's engine) starting meanwhile loads the old file or the
 * new one, never half of one.
 */
function writeWhole(file, contents) {
  const tmp = `${file}.${process.pid}.tmp`;
  writeFileSync(tmp, contents);
  renameSync(tmp, file);
}

/** The program's bundle in the CLI's dist/ (loaded by packages/cli/src/bundle-loader.ts). */
export const PROGRAM_BUNDLE = 'program.bundle.cjs';

/**
 * Builds the program's bundle from `from` (the CLI's dist/, holding entry.js and program.js) into `outdir` (the
 * same by default): one CommonJS file, program.bundle.cjs, which the CLI compiles with V8's code cache
 * (docs/adr/0029); and the operation reader's bundle beside core's build (`reader`). Returns the bundle's path.
 *
 * Its entry is entry.js, which imports the program with `import()`: esbuild then keeps the program's modules behind
 * lazy wrappers, evaluated when the entry module asks for the program, after `deepforge run` has started its
 * workers (prestartRun). A module importing a value from a package's index initialises every module of that index:
 * the engine and the CLI take protocol's values from `@deepforge/protocol/engine` (and the settings their Slurm
 * schema from `@deepforge/protocol/slurm-options`), so that the REST, auth and worker APIs' schemas are not built
 * at every run (docs/adr/0029).
 */
export async function bundleCli({ from = DIST, outdir = from, reader = true, quiet = false } = {}) {
  const entry = join(from, 'entry.js');
  if (!existsSync(entry)) throw new Error(`${entry} is missing: build first (npx tsc -b)`);
  const result = await build({
    entryPoints: [entry],
    outfile: join(outdir, PROGRAM_BUNDLE),
    write: false,
    ...COMMON,
    // CommonJS, so that it can be compiled as a vm.Script with cached data: Node 20 has no compile cache for ES
    // modules. What it imports on demand (the PostgreSQL store, S3) stays behind a function until called.
    format: 'cjs',
    external: EXTERNAL,
    // The bundled modules find their files (the Python runtime, core's reader bundle) from import.meta.url: the
    // bundle's own location, as it was for the ES module bundle.
    define: { 'import.meta.url': '__deepforgeBundleUrl' },
    banner: { js: "var __deepforgeBundleUrl = require('node:url').pathToFileURL(__filename).href;" },
    logLevel: quiet ? 'error' : 'warning',
    metafile: true,
  });
  const out = join(outdir, PROGRAM_BUNDLE);
  mkdirSync(outdir, { recursive: true });
  writeWhole(out, result.outputFiles[0].contents);
  // What earlier builds made (an ES module bundle and its chunks) would only be stale files in the package.
  rmSync(join(outdir, 'program.bundle.js'), { force: true });
  rmSync(join(outdir, 'chunks'), { recursive: true, force: true });
  const reading = reader ? await bundleOperationReading({ quiet }) : undefined;
  if (!quiet) {
    const bytes = result.outputFiles[0].contents.length;
    const inputs = Object.keys(result.metafile.inputs).length;
    console.log(
      `bundle-cli: ${out}: ${inputs} modules, ${(bytes / 1024).toFixed(0)} KiB` +
        (reading ? `; ${reading}` : ''),
    );
  }
  return out;
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  // --out DIR: the program's bundle goes there instead of beside dist/program.js (a test's copy of the CLI).
  const out = process.argv.indexOf('--out');
  try {
    if (out >= 0 && !process.argv[out + 1]) throw new Error('--out needs a folder');
    await bundleCli(out >= 0 ? { outdir: process.argv[out + 1] } : {});
  } catch (err) {
    console.error(`bundle-cli: ${err.message}`);
    process.exit(1);
  }
}
