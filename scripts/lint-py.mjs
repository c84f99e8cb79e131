#!/usr/bin/env node
// Lints the Python (the runtime and its tests, the operations of the examples and extensions, the benchmarks'
// Python) for the interpreter operations use (Debian's; scripts/setup.mjs installs python3-flake8 and
// python3-mypy): flake8 (what it checks: .flake8), then mypy's type check (mypy.ini; docs/adr/0030). Fails when
// either finds a problem.
//   node scripts/lint-py.mjs            everything the two configurations name
//   node scripts/lint-py.mjs FILE|DIR…  only these, with the same settings
import { spawnSync } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const python = process.env.DEEPFORGE_PYTHON || '/usr/bin/python3';
const paths = process.argv.slice(2);

/** Runs `python -m <tool> …args` in the repository root; true when it passed. */
function check(tool, args) {
  const r = spawnSync(python, ['-m', tool, ...args], {
    cwd: root,
    stdio: 'inherit',
    env: { ...process.env, PYTHONDONTWRITEBYTECODE: '1' },
  });
  if (r.error || r.status === null) {
    console.error(
      `lint:py: could not run ${python} -m ${tool} (${r.error?.message ?? r.signal}); run npm run setup`,
    );
    return false;
  }
  return r.status === 0;
}

const flake8 = check('flake8', paths.length > 0 ? paths : ['python', 'examples', 'extensions', 'bench']);
// Paths given replace mypy.ini's `files`; its other settings (search path, strictness) stay.
const mypy = check('mypy', ['--config-file', join(root, 'mypy.ini'), ...paths]);
process.exit(flake8 && mypy ? 0 : 1);
