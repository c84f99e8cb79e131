#!/usr/bin/env node
// Makes a fresh machine ready for `npm start` and `npm test`: npm packages and the Debian Python packages that
// operations run with. Only Node built-ins here: this runs before node_modules exists.
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, readdirSync, statSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const quiet = process.argv.includes('--quiet');
const say = (msg) => {
  if (!quiet) console.log(`[setup] ${msg}`);
};

/** Python modules operations need, and the Debian packages that provide them for /usr/bin/python3. */
const PYTHON = process.env.DEEPFORGE_PYTHON || '/usr/bin/python3';
const PYTHON_NEEDS = [
  ['numpy', 'python3-numpy'],
  ['matplotlib', 'python3-matplotlib'],
  ['tqdm', 'python3-tqdm'],
  ['pytest', 'python3-pytest'],
  ['pytest_timeout', 'python3-pytest-timeout'],
  ['torch', 'python3-torch'],
  ['torchvision', 'python3-torchvision'],
  // pip builds operations' environments (venvs over these packages, docs/adr/0017).
  ['pip', 'python3-pip'],
  // The code editors' Python language server (docs/adr/0022): pylsp with Jedi, pyflakes for undefined names.
  ['pylsp', 'python3-pylsp'],
  ['pyflakes', 'python3-pyflakes'],
];
/**
 * Files the examples, their tests and the browser tests need, and the Debian packages that install them: the
 * examples' data, and Debian's Chromium, which the e2e tests drive (playwright-core; no downloaded browsers).
 */
const DATA_NEEDS = [
  ['/usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz', 'dataset-fashion-mnist'],
  // DEEPFORGE_CHROMIUM names another Chromium for the e2e tests: then it is not ours to install.
  ...(process.env.DEEPFORGE_CHROMIUM ? [] : [['/usr/bin/chromium', 'chromium']]),
  // Project history is a git repository per project, written and served by the system git (docs/adr/0020).
  ['/usr/bin/git', 'git'],
];

/**
 * What only the tests and benchmarks use, not DeepForge itself, so `npm start` does not install them: PostgreSQL's
 * server binaries, for the tests that run every store against a real PostgreSQL (the test setup starts a throwaway
 * one; nothing runs as a service), Slurm and munge, for the tests of the Slurm compute (the test setup starts a
 * throwaway single-node cluster the same way), and the peers the compute benchmark runs beside DeepForge (Dask's
 * distributed scheduler, snakemake). Each: [what it is, whether it is there, the Debian package].
 */
const wantTestTools = process.env.npm_lifecycle_event !== 'start';
const TEST_TOOLS = [
  ['PostgreSQL (initdb)', () => postgresInstalled(), 'postgresql'],
  ['dask.distributed', () => pythonHas('distributed'), 'python3-distributed'],
  // `npm run lint` checks the Python with flake8 (.flake8) and type-checks it with mypy (mypy.ini, docs/adr/0030).
  ['flake8', () => pythonHas('flake8'), 'python3-flake8'],
  ['mypy', () => pythonHas('mypy'), 'python3-mypy'],
  ['snakemake', () => existsSync('/usr/bin/snakemake'), 'snakemake'],
  // slurmctld and slurmd depend on munge.
  [
    'Slurm (slurmctld, slurmd, munged)',
    () => ['munged', 'slurmctld', 'slurmd'].every((d) => existsSync(`/usr/sbin/${d}`)),
    'slurm-wlm',
  ],
];

function pythonHas(module) {
  if (!existsSync(PYTHON)) return false;
  const r = spawnSync(PYTHON, [
    '-c',
    `import importlib.util,sys\nsys.exit(importlib.util.find_spec(${JSON.stringify(module)}) is None)`,
  ]);
  return r.status === 0;
}

function missingTestTools() {
  return wantTestTools ? TEST_TOOLS.filter(([, present]) => !present()) : [];
}

function postgresInstalled() {
  if (process.env.DEEPFORGE_PG_BIN) return existsSync(join(process.env.DEEPFORGE_PG_BIN, 'initdb'));
  const debian = '/usr/lib/postgresql';
  if (existsSync(debian) && readdirSync(debian).some((v) => existsSync(join(debian, v, 'bin', 'initdb')))) {
    return true;
  }
  return (process.env.PATH ?? '').split(':').some((d) => d && existsSync(join(d, 'initdb')));
}

function fail(lines) {
  console.error(['', ...lines.map((l) => `[setup] ${l}`), ''].join('\n'));
  process.exit(1);
}

function checkNode() {
  const [major, minor] = process.versions.node.split('.').map(Number);
  if (major < 20 || (major === 20 && minor < 19)) {
    fail([`Node.js ${process.versions.node} is too old: DeepForge needs Node.js 20.19 or newer.`]);
  }
}

function npmPackagesCurrent() {
  const marker = join(root, 'node_modules', '.package-lock.json');
  if (!existsSync(marker)) return false;
  const lock = join(root, 'package-lock.json');
  return !existsSync(lock) || statSync(marker).mtimeMs >= statSync(lock).mtimeMs;
}

function installNpmPackages() {
  if (npmPackagesCurrent()) return;
  const lock = existsSync(join(root, 'package-lock.json'));
  say(`installing npm packages (npm ${lock ? 'ci' : 'install'}) …`);
  const npm = process.platform === 'win32' ? 'npm.cmd' : 'npm';
  const r = spawnSync(npm, [lock ? 'ci' : 'install', '--no-audit', '--no-fund'], {
    cwd: root,
    stdio: 'inherit',
  });
  if (r.status !== 0) fail(['npm could not install the packages (see above).']);
}

function missingPythonModules() {
  if (!existsSync(PYTHON)) return PYTHON_NEEDS;
  const probe = PYTHON_NEEDS.map(([m]) => m);
  const code = `import importlib.util,sys\nprint(' '.join(m for m in sys.argv[1:] if importlib.util.find_spec(m) is None))`;
  const r = spawnSync(PYTHON, ['-c', code, ...probe], { encoding: 'utf8' });
  if (r.status !== 0) return PYTHON_NEEDS;
  const missing = new Set(r.stdout.trim().split(/\s+/).filter(Boolean));
  return PYTHON_NEEDS.filter(([m]) => missing.has(m));
}

function missingData() {
  return DATA_NEEDS.filter(([file]) => !existsSync(file));
}

function installPythonPackages() {
  const missing = missingPythonModules();
  const data = missingData();
  const tools = missingTestTools();
  if (missing.length === 0 && data.length === 0 && tools.length === 0) return;
  const pkgs = [
    ...(missing.length > 0 ? ['python3'] : []),
    ...missing.map(([, p]) => p),
    ...data.map(([, p]) => p),
    ...tools.map(([, , p]) => p),
  ];
  const command = `apt-get install -y ${pkgs.join(' ')}`;
  const isRoot = typeof process.getuid === 'function' && process.getuid() === 0;
  const hasApt = existsSync('/usr/bin/apt-get');
  if (missing.length === 0 && data.length === 0 && (!isRoot || !hasApt)) {
    // Only what the tests use is missing: they say so when they run; DeepForge itself does not need it.
    say(
      `not installed: ${tools.map(([what]) => what).join(', ')}: the tests that use them will fail (sudo ${command})`,
    );
    return;
  }
  if (!isRoot || !hasApt || (PYTHON !== '/usr/bin/python3' && tools.length < pkgs.length)) {
    fail([
      ...(missing.length > 0
        ? [`${PYTHON} lacks the Python modules operations need: ${missing.map(([m]) => m).join(', ')}.`]
        : []),
      ...(data.length > 0 ? [`Missing (examples' data, browser): ${data.map(([f]) => f).join(', ')}.`] : []),
      hasApt
        ? `Install them with:  sudo ${command}`
        : 'Install numpy, matplotlib, tqdm, pytest, torch and torchvision for it (and Chromium),',
      hasApt ? '' : 'or point DEEPFORGE_PYTHON at an interpreter that has them.',
    ]);
  }
  say(`installing Debian packages: ${pkgs.join(' ')} (a few minutes the first time) …`);
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
  execFileSync('apt-get', ['update', '-qq'], { stdio: 'inherit', env });
  execFileSync('apt-get', ['install', '-y', '-qq', '--no-install-recommends', ...pkgs], {
    stdio: 'inherit',
    env,
  });
  const still = [
    ...missingPythonModules().map(([m]) => m),
    ...missingData().map(([f]) => f),
    ...missingTestTools().map(([what]) => what),
  ];
  if (still.length > 0) fail([`still missing after apt-get: ${still.join(', ')}`]);
}

/**
 * Jobs run with the environment they were started from, where PYTHONDONTWRITEBYTECODE=1 is common (the runtime's
 * README recommends it): then no job writes python/deepforge/__pycache__, and every job compiles the runtime from
 * source (~7 ms of each job's start). Compiled here once instead; a .pyc that exists is read whatever that
 * variable says, and one older than its source is simply ignored. Best effort: jobs run without it too.
 */
function compileRuntime() {
  if (!existsSync(PYTHON)) return;
  const env = { ...process.env };
  delete env.PYTHONDONTWRITEBYTECODE;
  const r = spawnSync(PYTHON, ['-m', 'compileall', '-q', join(root, 'python', 'deepforge')], {
    env,
    encoding: 'utf8',
  });
  if (r.status !== 0) {
    say(
      `could not precompile python/deepforge (jobs still run, each a few ms slower): ${(r.stderr || r.stdout || '').trim()}`,
    );
  }
}

checkNode();
installNpmPackages();
installPythonPackages();
compileRuntime();
say('ready');
