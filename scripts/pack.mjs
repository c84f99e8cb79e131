#!/usr/bin/env node
// `npm run pack [-- --out DIR]`: the installable `deepforge` package (docs/adr/0024), from what `tsc -b` and the
// client's Vite build produced. Assembles build/package/ and runs `npm pack` there; prints the tarball's path.
//
// Layout of the package (the CLI is the package's root, its libraries are bundled dependencies):
//   package.json, bin/deepforge.js, dist/           the CLI (packages/cli), with its bundle (scripts/bundle-cli.mjs)
//   node_modules/@deepforge/{core,protocol,engine,server}/{package.json,dist}
//   node_modules/@deepforge/client/{package.json,dist}   the built web client (served by the server)
//   node_modules/…                                  every production dependency, as installed in this checkout
//   python/deepforge, examples/, extensions/        the Python runtime, the example projects, the shipped extensions
// Everything is bundled: `npm install -g <tarball>` fetches nothing and builds nothing (better-sqlite3's native
// module is the one built here, so the tarball fits this platform and Node's ABI: the package says which).
import { execFileSync } from 'node:child_process';
import {
  cpSync,
  existsSync,
  mkdirSync,
  readFileSync,
  readdirSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { dirname, join, relative, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import { bundleCli } from './bundle-cli.mjs';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');
const LIBRARIES = ['core', 'protocol', 'engine', 'server'];

const readJson = (file) => JSON.parse(readFileSync(file, 'utf8'));

function fail(message) {
  console.error(`pack: ${message}`);
  process.exit(1);
}

/**
 * What runs is shipped, not what builds or describes it: no tests, TypeScript (declarations, build info), source
 * maps (their sources are not shipped) or markdown. Every file counts: installing unpacks each one.
 */
const NOT_RUN =
  /\.test\.js$|[\\/]test-support([\\/]|$)|\.tsbuildinfo$|\.d\.[cm]?ts$|\.[cm]?ts$|\.map$|\.md$|\.ya?ml$/i;
const shipped = (src) => !NOT_RUN.test(src);
/**
 * No binding.gyp: for a package that has one, npm runs `node-gyp rebuild` at install even without an install
 * script, rebuilding the native module that is already built here (minutes, and a compiler).
 */
const NOT_REBUILT = /[\\/]binding\.gyp$/;
/** better-sqlite3 as it runs: its JavaScript and the module built here, not the SQLite sources it was built from. */
const SQLITE_BUILD =
  /[\\/]better-sqlite3[\\/](deps|src|build[\\/](?!Release([\\/]better_sqlite3\.node)?$)[^\\/]*)/;

/** Where `name` resolves from `fromDir` (Node's lookup: node_modules folders up to the checkout's root). */
function findPackage(name, fromDir) {
  for (let dir = fromDir; ; dir = dirname(dir)) {
    const candidate = join(dir, 'node_modules', name);
    if (existsSync(join(candidate, 'package.json'))) return candidate;
    if (dir === ROOT || dirname(dir) === dir) return undefined;
  }
}

/**
 * Every third-party package the workspaces need at run time, found as Node would from each requirer, with where
 * it goes in the package: the checkout's node_modules/X → node_modules/X; packages/cli/node_modules/X →
 * node_modules/X (the CLI is the root); packages/<lib>/node_modules/X → node_modules/@deepforge/<lib>/node_modules/X.
 */
function productionTree() {
  const found = new Map(); // source dir → destination (relative to the package)
  const queue = [];
  const enqueue = (fromDir, manifest, optionalToo) => {
    const deps = { ...manifest.dependencies, ...(optionalToo ? manifest.optionalDependencies : {}) };
    for (const name of Object.keys(deps)) {
      if (name.startsWith('@deepforge/')) continue;
      const dir = findPackage(name, fromDir);
      if (!dir) {
        if (manifest.optionalDependencies?.[name] !== undefined) continue; // another platform's
        fail(`${name} (needed by ${manifest.name}) is not installed: run npm install first`);
      }
      queue.push(dir);
    }
    for (const name of Object.keys(manifest.peerDependencies ?? {})) {
      const dir = findPackage(name, fromDir);
      if (dir) queue.push(dir);
      else if (!manifest.peerDependenciesMeta?.[name]?.optional)
        fail(`peer ${name} of ${manifest.name} is missing`);
    }
  };
  for (const w of [...LIBRARIES, 'cli']) {
    const dir = join(ROOT, 'packages', w);
    enqueue(dir, readJson(join(dir, 'package.json')), true);
  }
  while (queue.length > 0) {
    const dir = queue.pop();
    if (found.has(dir)) continue;
    const rel = relative(ROOT, dir).split(sep).join('/');
    let dest;
    if (rel.startsWith('node_modules/')) dest = rel;
    else if (rel.startsWith('packages/cli/node_modules/')) dest = rel.slice('packages/cli/'.length);
    else {
      const m = /^packages\/([^/]+)\/(node_modules\/.+)$/.exec(rel);
      if (!m) fail(`unexpected location of a dependency: ${rel}`);
      dest = `node_modules/@deepforge/${m[1]}/${m[2]}`;
    }
    found.set(dir, dest);
    enqueue(dir, readJson(join(dir, 'package.json')), true);
  }
  const byDest = new Map();
  for (const [src, dest] of found) {
    if (byDest.has(dest)) fail(`${byDest.get(dest)} and ${src} would both go to ${dest}`);
    byDest.set(dest, src);
  }
  return found;
}

async function main() {
  const outArg = process.argv.indexOf('--out');
  const outDir = outArg >= 0 ? process.argv[outArg + 1] : join(ROOT, 'build');
  if (!outDir) fail('--out needs a folder');
  for (const w of [...LIBRARIES, 'cli']) {
    if (!existsSync(join(ROOT, 'packages', w, 'dist', w === 'cli' ? 'main.js' : 'index.js'))) {
      fail(`packages/${w}/dist is missing: build first (npx tsc -b)`);
    }
  }
  if (!existsSync(join(ROOT, 'packages', 'client', 'dist', 'index.html'))) {
    fail('packages/client/dist is missing: build the client first (npm run build -w @deepforge/client)');
  }
  // The program's bundle for `deepforge run` (docs/adr/0029), made from this build: it goes in with dist/.
  await bundleCli({ quiet: true });
  const root = readJson(join(ROOT, 'package.json'));
  const cli = readJson(join(ROOT, 'packages', 'cli', 'package.json'));
  const stage = join(outDir, 'package');
  rmSync(stage, { recursive: true, force: true });
  mkdirSync(stage, { recursive: true });

  const copy = (from, to, filter = shipped) =>
    cpSync(join(ROOT, from), join(stage, to), { recursive: true, filter, dereference: true });
  copy('packages/cli/bin', 'bin');
  copy('packages/cli/dist', 'dist');
  for (const lib of LIBRARIES) {
    const manifest = readJson(join(ROOT, 'packages', lib, 'package.json'));
    delete manifest.devDependencies;
    delete manifest.private;
    mkdirSync(join(stage, 'node_modules', '@deepforge', lib), { recursive: true });
    writeFileSync(
      join(stage, 'node_modules', '@deepforge', lib, 'package.json'),
      JSON.stringify(manifest, null, 2),
    );
    copy(`packages/${lib}/dist`, `node_modules/@deepforge/${lib}/dist`);
  }
  mkdirSync(join(stage, 'node_modules', '@deepforge', 'client'), { recursive: true });
  writeFileSync(
    join(stage, 'node_modules', '@deepforge', 'client', 'package.json'),
    JSON.stringify({ name: '@deepforge/client', version: cli.version, files: ['dist'] }, null, 2),
  );
  copy('packages/client/dist', 'node_modules/@deepforge/client/dist', () => true);
  copy('python/deepforge', 'python/deepforge', (src) => !/__pycache__|\.pyc$/.test(src));
  copy('examples', 'examples', (src) => !/__pycache__|\.pyc$/.test(src));
  // The extensions the repository ships (docs/extensions.md): `deepforge extensions add <package>/extensions/<name>`.
  copy('extensions', 'extensions', (src) => !/__pycache__|\.pyc$/.test(src));
  for (const f of ['README.md']) copy(f, f, () => true);

  const tree = productionTree();
  for (const [src, dest] of tree) {
    // A package's own node_modules are copied as their own entries (or not at all, when they are dev-only).
    cpSync(src, join(stage, dest), {
      recursive: true,
      dereference: true,
      filter: (p) =>
        !relative(src, p).split(sep).includes('node_modules') &&
        shipped(p) &&
        !SQLITE_BUILD.test(p) &&
        !NOT_REBUILT.test(p),
    });
  }
  // Bundled as copied: installing the tarball runs none of their install scripts (better-sqlite3's would build it
  // again), and npm pack keeps all that was copied (a package's `files` list names what it publishes, which is
  // not its built module: better-sqlite3's leaves out build/).
  for (const dest of tree.values()) {
    const file = join(stage, dest, 'package.json');
    const manifest = readJson(file);
    for (const script of ['preinstall', 'install', 'postinstall']) delete manifest.scripts?.[script];
    delete manifest.files;
    writeFileSync(file, JSON.stringify(manifest, null, 2));
  }
  const topLevel = [...tree.values()]
    .filter((d) => /^node_modules\/(@[^/]+\/)?[^/@][^/]*$/.test(d))
    .map((d) => d.slice('node_modules/'.length))
    .sort();
  const bundled = ['@deepforge/client', ...LIBRARIES.map((l) => `@deepforge/${l}`), ...topLevel];
  const versionOf = (name) => readJson(join(stage, 'node_modules', name, 'package.json')).version;
  const manifest = {
    name: 'deepforge',
    version: cli.version,
    description: root.description,
    type: 'module',
    bin: { deepforge: 'bin/deepforge.js' },
    engines: root.engines,
    os: [process.platform],
    cpu: [process.arch],
    // Built here: better-sqlite3's native module fits this Node ABI (process.versions.modules) only.
    deepforge: { packedWith: { node: process.version, modules: process.versions.modules } },
    dependencies: Object.fromEntries(bundled.map((n) => [n, versionOf(n)])),
    bundleDependencies: bundled,
    files: ['bin', 'dist', 'python', 'examples', 'extensions', 'README.md'],
  };
  writeFileSync(join(stage, 'package.json'), JSON.stringify(manifest, null, 2) + '\n');
  const size = (dir) =>
    readdirSync(dir, { withFileTypes: true }).reduce(
      (n, e) => n + (e.isDirectory() ? size(join(dir, e.name)) : statSync(join(dir, e.name)).size),
      0,
    );
  console.log(
    `pack: ${stage}: ${tree.size} dependencies, ${(size(stage) / 1024 / 1024).toFixed(1)} MiB unpacked; npm pack…`,
  );
  const out = execFileSync('npm', ['pack', '--json', '--pack-destination', outDir], {
    cwd: stage,
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'inherit'],
    // The list of every file packed, as JSON: megabytes.
    maxBuffer: 256 * 1024 * 1024,
  });
  const tarball = join(outDir, JSON.parse(out)[0].filename);
  console.log(tarball);
}

await main();
