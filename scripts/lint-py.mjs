#!/usr/bin/env node
// Lints the Python (the runtime and its tests, the operations of the examples and extensions, the benchmarks'
// Python) for the interpreter operations use (Debian's; scripts/setup.mjs installs python3-flake8 and
// python3-mypy): flake8 (what it checks: .flake8), then mypy's type check (mypy.ini; docs/adr/0030). Fails when
// either finds a problem.
//   node scripts/lint-py.mjs            everything the two configurations name, and each extension
//   node scripts/lint-py.mjs FILE|DIR…  only these, with the same settings
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import { dirname, join, relative, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const python = process.env.DEEPFORGE_PYTHON || '/usr/bin/python3';
const paths = process.argv.slice(2);

/** Runs `python -m <tool> …args` in the repository root; true when it passed. */
function check(tool, args, env = {}) {
  const r = spawnSync(python, ['-m', tool, ...args], {
    cwd: root,
    stdio: 'inherit',
    env: { ...process.env, PYTHONDONTWRITEBYTECODE: '1', ...env },
  });
  if (r.error || r.status === null) {
    console.error(
      `lint:py: could not run ${python} -m ${tool} (${r.error?.message ?? r.signal}); run npm run setup`,
    );
    return false;
  }
  return r.status === 0;
}

/** The extension a path is in (`extensions/<name>`), or undefined. */
function extensionOf(path) {
  const parts = relative(root, resolve(root, path)).split(sep);
  return parts[0] === 'extensions' && parts[1] ? join('extensions', parts[1]) : undefined;
}

const flake8 = check('flake8', paths.length > 0 ? paths : ['python', 'examples', 'extensions', 'bench']);
// Paths given replace mypy.ini's `files`; its other settings (search path, strictness) stay. Each extension is
// checked in a run of its own, with its folder first on the search path: its operations import utils.* and
// serializers.* as a project's do, names the examples use too, which one run cannot hold. (Its example projects
// are copies of its own files.)
const extensions = new Map();
if (paths.length === 0) {
  const dir = join(root, 'extensions');
  if (existsSync(dir)) {
    for (const e of readdirSync(dir, { withFileTypes: true })) {
      if (e.isDirectory()) extensions.set(join('extensions', e.name), [join('extensions', e.name)]);
    }
  }
}
const others = [];
for (const path of paths) {
  const ext = extensionOf(path);
  if (ext) extensions.set(ext, [...(extensions.get(ext) ?? []), path]);
  else others.push(path);
}
const config = ['--config-file', join(root, 'mypy.ini')];
let mypy = paths.length === 0 || others.length > 0 ? check('mypy', [...config, ...others]) : true;
for (const [ext, files] of extensions) {
  const ok = check('mypy', [...config, '--exclude', '^extensions/[^/]+/examples/', ...files], {
    MYPYPATH: ext,
  });
  mypy = mypy && ok;
}
process.exit(flake8 && mypy ? 0 : 1);
