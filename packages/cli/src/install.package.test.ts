// The installable package (issue 13, docs/adr/0024): packed as `npm run pack` packs it, installed with
// `npm install -g --prefix <tmp> <tarball>` (offline: everything is bundled), then used the way a user would, from a
// folder outside the checkout, with nothing of the checkout on any path.
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { cp, lstat, readFile, readdir, realpath } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TEST_PYTHON, makeTempDir, removeTree } from '@deepforge/engine/test-support';

const run = promisify(execFile);
const ROOT = fileURLToPath(new URL('../../../', import.meta.url));
/** Packing copies ~8,000 files and npm unpacks them again: minutes on a loaded 2-core machine. */
const SETUP_MS = 15 * 60_000;

let tmp: string;
let prefix: string;
let home: string;
let deepforge: string;
let env: Record<string, string>;

/** Links anywhere in the installed package: none may lead back into the checkout. */
async function linksInto(dir: string, target: string): Promise<string[]> {
  const found: string[] = [];
  for (const e of await readdir(dir, { withFileTypes: true, recursive: true })) {
    const path = join(e.parentPath, e.name);
    if ((await lstat(path)).isSymbolicLink() && (await realpath(path)).startsWith(target)) found.push(path);
  }
  return found;
}

beforeAll(async () => {
  tmp = await makeTempDir('install');
  prefix = join(tmp, 'prefix');
  home = join(tmp, 'home');
  if (!(await lstat(join(ROOT, 'packages/client/dist/index.html')).catch(() => undefined))) {
    // The check chain builds the TypeScript (tsc -b) before the tests; the client's Vite build comes later. Vite
    // builds for the NODE_ENV it finds, and Vitest's is `test`: React's development build would be what the package
    // ships, and what the e2e tests that run after this file find already built (StrictMode's double effects).
    await run('npm', ['run', 'build', '-w', '@deepforge/client'], {
      cwd: ROOT,
      maxBuffer: 64 << 20,
      env: { ...process.env, NODE_ENV: 'production' },
    });
  }
  const packed = await run(process.execPath, [join(ROOT, 'scripts/pack.mjs'), '--out', join(tmp, 'build')], {
    cwd: ROOT,
    maxBuffer: 64 << 20,
  });
  const tarball = packed.stdout.trim().split('\n').pop()!;
  expect(tarball).toMatch(/deepforge-\d+\.\d+\.\d+\.tgz$/);
  // Only Node's and the system's folders on PATH, no NODE_PATH, no DEEPFORGE_*, a home of its own, the temporary
  // folder as working directory: the installed command finds everything in its own package or not at all.
  env = {
    PATH: [join(prefix, 'bin'), dirname(process.execPath), '/usr/bin', '/bin'].join(':'),
    HOME: home,
    DEEPFORGE_DATA_DIR: join(tmp, 'data'),
    DEEPFORGE_PYTHON: TEST_PYTHON,
    NO_COLOR: '1',
    npm_config_cache: join(tmp, 'npm-cache'),
  };
  await run('npm', ['install', '-g', '--prefix', prefix, '--offline', '--no-audit', '--no-fund', tarball], {
    cwd: tmp,
    env,
    maxBuffer: 64 << 20,
  });
  deepforge = join(prefix, 'bin', 'deepforge');
}, SETUP_MS);

afterAll(async () => {
  if (tmp) await removeTree(tmp);
}, 120_000);

/** `deepforge <args>` serving: resolves once it printed where; `stop` ends it with SIGTERM and gives its exit code. */
async function startDeepforge(
  args: string[],
): Promise<{ url: string; stop(): Promise<number | null>; kill(): void }> {
  const child = spawn(deepforge, args, { cwd: tmp, env, stdio: ['ignore', 'pipe', 'pipe'] });
  let said = '';
  child.stderr.on('data', (c: Buffer) => (said += c.toString()));
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  const url = await new Promise<string>((resolve, reject) => {
    child.stdout.on('data', (c: Buffer) => {
      said += c.toString();
      const m = /DeepForge is running at (http:\/\/\S+)/.exec(said);
      if (m) resolve(m[1]!);
    });
    void exited.then((code) => reject(new Error(`deepforge ${args.join(' ')} exited (${code}): ${said}`)));
  });
  return {
    url,
    stop: () => {
      child.kill('SIGTERM');
      return exited;
    },
    kill: () => {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    },
  };
}

describe('npm install -g <tarball>', () => {
  it('installs a deepforge command that owns all it loads: nothing links back into the checkout', async () => {
    const installed = join(prefix, 'lib', 'node_modules', 'deepforge');
    const manifest = JSON.parse(await readFile(join(installed, 'package.json'), 'utf8')) as { name: string };
    expect(manifest.name).toBe('deepforge');
    expect(await linksInto(installed, ROOT)).toEqual([]);
    const { stdout } = await run(deepforge, ['--version'], { cwd: tmp, env });
    const cli = JSON.parse(await readFile(join(ROOT, 'packages/cli/package.json'), 'utf8')) as {
      version: string;
    };
    expect(stdout).toBe(`${cli.version}\n`);
  });

  it('runs an example project copied out of the checkout', async () => {
    await cp(join(ROOT, 'examples', 'hello'), join(tmp, 'hello'), { recursive: true });
    const r = await run(deepforge, ['run', 'hello', 'hello', '--set', 'left.number=6'], { cwd: tmp, env });
    expect(r.stdout).toMatch(/✓ hello succeeded in .* \(6 success\)/);
    const config = await run(deepforge, ['config', 'python'], { cwd: tmp, env });
    expect(config.stdout).toBe(`${TEST_PYTHON}\n`);
  });

  it("ships the repository's extensions: one added from the installed package brings its operations", async () => {
    const shipped = join(prefix, 'lib', 'node_modules', 'deepforge', 'extensions', 'image-classification');
    const add = await run(deepforge, ['extensions', 'add', shipped], { cwd: tmp, env });
    expect(add.stdout).toBe(
      'added image-classification 0.1.0: 4 operations, 1 architecture, 1 example project\n',
    );
    const list = await run(deepforge, ['extensions', 'list'], { cwd: tmp, env });
    expect(list.stdout).toContain(
      '  operations: LoadFashionMNIST, NormalizeImages, TrainClassifier, EvaluateClassifier\n',
    );
  });

  it('starts the web IDE: the page, and an API route listing the examples it ships', async () => {
    const server = await startDeepforge(['start', '--port', '0']);
    try {
      const page = await fetch(server.url);
      expect(page.status).toBe(200);
      expect(await page.text()).toMatch(/<div id="root">/);
      const examples = await fetch(`${server.url}/api/examples`);
      expect(examples.status).toBe(200);
      const body = (await examples.json()) as { items: { name: string }[] };
      expect(body.items.map((e) => e.name)).toEqual(
        expect.arrayContaining(['hello', 'plots', 'fashion-mnist']),
      );
      expect(await server.stop()).toBe(0);
    } finally {
      server.kill();
    }
  });

  it('runs a worker that a server started with --server sees connected', async () => {
    const server = await startDeepforge(['start', '--server', '--port', '0']);
    let worker: ChildProcess | undefined;
    try {
      const token = (await run(deepforge, ['workers', 'token', 'w1'], { cwd: tmp, env })).stdout.trim();
      worker = spawn(
        deepforge,
        [
          'worker',
          '--server',
          server.url,
          '--name',
          'w1',
          '--work-dir',
          join(tmp, 'work'),
          '--data-dir',
          join(tmp, 'worker'),
        ],
        { cwd: tmp, env: { ...env, DEEPFORGE_WORKER_TOKEN: token }, stdio: 'ignore' },
      );
      let seen: { name: string; kind: string; state: string } | undefined;
      for (let i = 0; i < 120 && !seen; i++) {
        const compute = (await (await fetch(`${server.url}/api/compute`)).json()) as {
          workers: { name: string; kind: string; state: string }[];
        };
        seen = compute.workers.find((w) => w.name === 'w1' && w.state === 'connected');
        if (!seen) await new Promise((r) => setTimeout(r, 500));
      }
      expect(seen).toMatchObject({ name: 'w1', kind: 'remote', state: 'connected' });
      expect(await server.stop()).toBe(0);
    } finally {
      worker?.kill('SIGKILL');
      server.kill();
    }
  });
});
