#!/usr/bin/env node
// Lints the Python (the runtime and its tests, the operations of the examples and extensions, the benchmarks'
// Python) with flake8 for the interpreter operations use (Debian's; scripts/setup.mjs installs python3-flake8).
// What it checks: .flake8.
import { spawnSync } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const python = process.env.DEEPFORGE_PYTHON || '/usr/bin/python3';
const r = spawnSync(
  python,
  ['-m', 'flake8', 'python', 'examples', 'extensions', 'bench', ...process.argv.slice(2)],
  {
    cwd: root,
    stdio: 'inherit',
    env: { ...process.env, PYTHONDONTWRITEBYTECODE: '1' },
  },
);
if (r.error || r.status === null) {
  console.error(
    `lint:py: could not run ${python} -m flake8 (${r.error?.message ?? r.signal}); run npm run setup`,
  );
}
process.exit(r.status ?? 1);
