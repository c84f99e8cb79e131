import { createHash } from 'node:crypto';
import { mkdirSync, readFileSync, readdirSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { homedir } from 'node:os';
import { dirname, join } from 'node:path';
import vm from 'node:vm';

/** Compiled code kept per cache folder; the least recently written go first. */
const KEPT = 4;

/**
 * Where the compiled code of a bundle is kept: `$XDG_CACHE_HOME/deepforge/v8` (by default `~/.cache/…`), one
 * file per Node version, architecture and bundle content. V8 checks its own version and flags when it reads the
 * file, but not the source itself (only its length): the content's digest in the name is what keeps a rebuilt
 * bundle from running with another build's code.
 */
export function codeCacheFile(source: Buffer, env: NodeJS.ProcessEnv): string {
  const base =
    env.XDG_CACHE_HOME && env.XDG_CACHE_HOME.startsWith('/') ? env.XDG_CACHE_HOME : join(homedir(), '.cache');
  const digest = createHash('sha256').update(source).digest('hex').slice(0, 32);
  return join(base, 'deepforge', 'v8', `program-${process.version}-${process.arch}-${digest}.cache`);
}

function readCache(file: string): Buffer | undefined {
  try {
    return readFileSync(file);
  } catch {
    return undefined;
  }
}

/**
 * Writes what V8 compiled while the command ran (the functions it called, not only the top level), whole or not
 * at all, and keeps only the newest few in its folder. A cache that cannot be written (a read-only home) costs the
 * next run its compilation, nothing more.
 */
function writeCache(file: string, data: Buffer): void {
  try {
    const dir = dirname(file);
    mkdirSync(dir, { recursive: true });
    const tmp = `${file}.${process.pid}.tmp`;
    writeFileSync(tmp, data);
    renameSync(tmp, file);
    const others = readdirSync(dir)
      .filter((name) => name.endsWith('.cache'))
      .map((name) => ({
        path: join(dir, name),
        at: statSync(join(dir, name), { throwIfNoEntry: false })?.mtimeMs ?? 0,
      }))
      .sort((a, b) => b.at - a.at);
    for (const old of others.slice(KEPT)) rmSync(old.path, { force: true });
  } catch {
    // Not kept: compiled again next time.
  }
}

/**
 * Loads the program's CommonJS bundle (scripts/bundle-cli.mjs) with V8's code cache (docs/adr/0029): compiled as a
 * vm.Script with the code a previous run left, or compiled afresh and its code written when the process exits.
 * Returns the bundle's exports. The bundle runs in this context, with a `require` of its own folder's, and its
 * dynamic `import()`s (of packages left outside it) go to Node's loader as any module's would.
 */
export function loadBundle(file: string, env: NodeJS.ProcessEnv): unknown {
  const source = readFileSync(file);
  const cacheFile = codeCacheFile(source, env);
  const cachedData = readCache(cacheFile);
  const script = new vm.Script(
    `(function (exports, require, module, __filename, __dirname) {${source.toString('utf8')}\n})`,
    {
      filename: file,
      cachedData,
      importModuleDynamically: vm.constants.USE_MAIN_CONTEXT_DEFAULT_LOADER,
    },
  );
  if (cachedData === undefined || script.cachedDataRejected === true) {
    process.once('exit', () => writeCache(cacheFile, script.createCachedData()));
  }
  const module = { exports: {} as unknown };
  const run = script.runInThisContext() as (
    exports: unknown,
    require: NodeJS.Require,
    module: { exports: unknown },
    filename: string,
    dirname: string,
  ) => void;
  run(module.exports, createRequire(file), module, file, dirname(file));
  return module.exports;
}
