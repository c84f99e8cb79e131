#!/usr/bin/env node
// `node scripts/bundle-cli.mjs [--out DIR]`: the CLI's program as one JavaScript bundle (docs/adr/0029), from what `tsc -b`
// built. Writes packages/cli/dist/program.bundle.js and its chunks (dist/chunks/, for what the program imports
// only when it needs it). `npm run build`, `npm run pack` and `bench:startup` run it after tsc.
//
// Why: a one-operation `deepforge run` spent most of its time loading ~600 ES modules (kysely alone 262, zod 198);
// one file loads in a fraction of that. bin/deepforge.js uses the bundle for `deepforge run` (not `--server`) while
// it is newer than every build it was made from, and the program's own files otherwise (packages/cli/src/main.ts).
//
// What stays outside, loaded from node_modules as before:
// - native modules (better-sqlite3, @node-rs/argon2): they load their .node file by path;
// - @deepforge/server: `start`, `worker` and `run --server` pass the engine and errors to it, so it must share one
//   copy of the engine, protocol, zod and Yjs with what loaded it; those commands never use the bundle, and the
//   bundle imports the server only for a job that asks for GPUs (plain numbers come back);
// - pg and the AWS SDK: loaded only for a postgres:// database or S3 storage, big, and with files of their own.
import { build } from 'esbuild';
import { existsSync, mkdirSync, readdirSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');
const DIST = join(ROOT, 'packages', 'cli', 'dist');
const CORE_DIST = join(ROOT, 'packages', 'core', 'dist');

export const EXTERNAL = [
  'better-sqlite3',
  '@node-rs/argon2',
  '@deepforge/server',
  'pg',
  'pg-*',
  '@aws-sdk/*',
  '@smithy/*',
];

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
    logLevel: quiet ? 'error' : 'warning',
  });
  writeWhole(out, result.outputFiles[0].contents);
  return out;
}

const READER_BUNDLE = 'operation-reading.bundle.js';

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

/**
 * Builds the program's bundle from `from` (the CLI's dist/, holding program.js) into `outdir` (the same by
 * default): program.bundle.js and chunks/; and the operation reader's bundle beside core's build (`reader`).
 * Returns the entry's path.
 */
export async function bundleCli({ from = DIST, outdir = from, reader = true, quiet = false } = {}) {
  const entry = join(from, 'program.js');
  if (!existsSync(entry)) throw new Error(`${entry} is missing: build first (npx tsc -b)`);
  const result = await build({
    entryPoints: [entry],
    outdir,
    entryNames: '[name].bundle',
    chunkNames: 'chunks/[name]-[hash]',
    splitting: true,
    write: false,
    ...COMMON,
    external: EXTERNAL,
    // Bundled CommonJS packages call require() for Node's built-ins and their own files: an ES module has none.
    banner: {
      js: "import { createRequire as __deepforgeCreateRequire } from 'node:module'; const require = __deepforgeCreateRequire(import.meta.url);",
    },
    logLevel: quiet ? 'error' : 'warning',
    metafile: true,
  });
  const out = join(outdir, 'program.bundle.js');
  // Chunks first (named by their content: one already there is the same), the entry that imports them last, then
  // the chunks no entry imports any more.
  mkdirSync(join(outdir, 'chunks'), { recursive: true });
  const chunks = new Set();
  for (const file of result.outputFiles) {
    if (file.path === out) continue;
    chunks.add(basename(file.path));
    if (!existsSync(file.path)) writeWhole(file.path, file.contents);
  }
  writeWhole(out, result.outputFiles.find((f) => f.path === out).contents);
  for (const name of readdirSync(join(outdir, 'chunks'))) {
    if (!chunks.has(name)) rmSync(join(outdir, 'chunks', name), { force: true });
  }
  const reading = reader ? await bundleOperationReading({ quiet }) : undefined;
  if (!quiet) {
    const bytes = result.outputFiles.reduce((n, f) => n + f.contents.length, 0);
    const inputs = Object.keys(result.metafile.inputs).length;
    console.log(
      `bundle-cli: ${out}: ${inputs} modules in ${result.outputFiles.length} files, ${(bytes / 1024).toFixed(0)} KiB` +
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
