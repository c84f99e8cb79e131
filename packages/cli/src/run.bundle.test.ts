// The bundle `deepforge run` loads (scripts/bundle-cli.mjs, docs/adr/0029) is the same program: the same console,
// exit codes and stored results as the program's own modules, for a run that succeeds, one whose operation fails
// and one that cannot start.
import { execFile } from 'node:child_process';
import { copyFile, mkdir, mkdtemp, readFile, readdir, rm, stat, utimes, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  TEST_PYTHON,
  chain,
  cleanEnv,
  makeTempDir,
  py,
  removeTree,
  useTestDatabase,
  writeProjectFolder,
} from '@deepforge/engine/test-support';
import { CLI_MAIN, cli } from './test-support/run-cli.js';

const CLI_DIR = fileURLToPath(new URL('../', import.meta.url));
const ROOT = join(CLI_DIR, '..', '..');
const EXAMPLES = join(ROOT, 'examples');

const database = useTestDatabase('cli_bundle');

let tmp: string;
/** A copy of the CLI whose dist/ holds its entry module and the bundle, not the program's modules. */
let copy: string;

beforeAll(async () => {
  tmp = await makeTempDir('bundle');
  // Inside packages/cli, where the bundle finds what it leaves outside (node_modules), the CLI's package.json (its
  // version) and the Python runtime, as it does beside the real dist/.
  copy = await mkdtemp(join(CLI_DIR, '.bundle-test-'));
  await mkdir(join(copy, 'dist'));
  await copyFile(join(CLI_DIR, 'package.json'), join(copy, 'package.json'));
  for (const file of ['main.js', 'version.js', 'bundle-loader.js']) {
    await copyFile(join(CLI_DIR, 'dist', file), join(copy, 'dist', file));
  }
  await promisify(execFile)(process.execPath, [
    join(ROOT, 'scripts', 'bundle-cli.mjs'),
    '--out',
    join(copy, 'dist'),
  ]);
}, 120_000);

afterAll(async () => {
  await removeTree(tmp);
  if (copy) await removeTree(copy);
});

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs `deepforge args…` as a process from `main`, with its own data dir. */
function deepforge(main: string, args: string[], dataDir: string, extra: Record<string, string> = {}) {
  const env = cleanEnv({
    DEEPFORGE_DATA_DIR: dataDir,
    DEEPFORGE_PYTHON: TEST_PYTHON,
    NO_COLOR: '1',
    // The bundle's compiled code (bundle-loader.ts) goes here, not to the home folder.
    XDG_CACHE_HOME: join(tmp, 'code-cache'),
    ...extra,
  });
  return new Promise<Run>((resolve) => {
    execFile(process.execPath, [main, ...args], { env, cwd: tmp }, (err, stdout, stderr) => {
      const code = err ? (typeof err.code === 'number' ? err.code : -1) : 0;
      resolve({ code, stdout, stderr });
    });
  });
}

/** What differs between two runs of the same thing: durations, ids (12 letters and digits), the data dirs. */
const same = (text: string) =>
  text
    .replaceAll(tmp, '<tmp>')
    .replace(/<tmp>\/[a-z]+-(bundled|own)/g, '<data>')
    .replace(/\b\d+(\.\d+)?(ms|s)\b/g, '<time>')
    // An artifact's and an execution's id where they are named (one in 50 has no digit, so the rule below would
    // not take it for one).
    .replace(/(saved artifact "[^"]*" \()[0-9a-z]{12}\)/g, '$1<id>)')
    .replace(/\b(execution|resume) [0-9a-z]{12}\b/g, '$1 <id>')
    .replace(/\b(?=[a-z]*\d)[0-9a-z]{12}\b/g, '<id>');

/** The same command through the bundle (the copy) and through the program's modules (the built CLI). */
async function both(args: string[], name: string): Promise<{ bundled: Run; own: Run }> {
  const bundled = await deepforge(join(copy, 'dist', 'main.js'), args, join(tmp, `${name}-bundled`));
  const own = await deepforge(CLI_MAIN, args, join(tmp, `${name}-own`), { DEEPFORGE_CLI_BUNDLE: '0' });
  return { bundled, own };
}

describe('deepforge run from the bundle', () => {
  it('runs the hello example as the program does: console, exit code, the saved artifact', async () => {
    // The copy has no entry.js or program.js: had its entry not taken the bundle, the run would fail to load.
    const { bundled, own } = await both(['run', join(EXAMPLES, 'hello'), 'hello'], 'hello');
    expect(own.stderr).toBe('');
    expect(own.code).toBe(0);
    expect(bundled.stderr).toBe('');
    expect(bundled.code).toBe(0);
    // The two GetNumber jobs run at once: their lines come in either order.
    const lines = (text: string) => same(text).split('\n').sort();
    expect(lines(bundled.stdout)).toEqual(lines(own.stdout));
    expect(bundled.stdout).toMatch(/^Print\s+│ Hello from DeepForge! The product is 16!$/m);
    for (const side of ['bundled', 'own']) {
      const env = cleanEnv({ DEEPFORGE_DATA_DIR: join(tmp, `hello-${side}`), NO_COLOR: '1' });
      const list = await cli(['artifacts', 'list'], env);
      expect(list.stdout).toMatch(/^product\s+builtins\.int\s+\d+ B/m);
    }
  });

  it('fails as the program does: an operation that raises, a pipeline that does not exist', async () => {
    const dir = join(tmp, 'failing');
    await writeProjectFolder(dir, {
      operations: {
        Fails: py(
          'class Fails():',
          '    def execute(self):',
          '        raise ValueError("no luck")',
          '        return 1',
        ),
      },
      pipelines: { p: chain([{ id: 'a', operation: 'Fails' }], []) },
    });
    const failed = await both(['run', dir, 'p'], 'fails');
    expect(failed.own.code).toBe(1);
    expect(failed.bundled.code).toBe(1);
    expect(failed.own.stdout).toMatch(/ValueError: no luck/);
    expect(same(failed.bundled.stdout)).toBe(same(failed.own.stdout));
    expect(same(failed.bundled.stderr)).toBe(same(failed.own.stderr));

    const missing = await both(['run', dir, 'nope'], 'missing');
    expect(missing.own.code).toBe(1);
    expect(missing.own.stderr).toContain('has no pipeline "nope"');
    expect(missing.bundled.code).toBe(1);
    expect(same(missing.bundled.stderr)).toBe(same(missing.own.stderr));
    expect(missing.bundled.stdout).toBe(missing.own.stdout);
  });

  it('runs on PostgreSQL, whose client the bundle loads only for a postgres:// database', async () => {
    const url = await database.fresh();
    const run = await deepforge(
      join(copy, 'dist', 'main.js'),
      ['run', join(EXAMPLES, 'hello'), 'hello'],
      join(tmp, 'pg'),
      {
        DEEPFORGE_DATABASE_URL: url,
      },
    );
    expect(run.stderr).toBe('');
    expect(run.code).toBe(0);
    expect(run.stdout).toMatch(/^Print\s+│ Hello from DeepForge! The product is 16!$/m);
    const env = cleanEnv({ DEEPFORGE_DATA_DIR: join(tmp, 'pg'), DEEPFORGE_DATABASE_URL: url, NO_COLOR: '1' });
    expect((await cli(['executions'], env)).stdout).toMatch(/hello.*success/);
  });

  it("keeps the bundle's compiled code: written by the first run, read by the next, rewritten when damaged", async () => {
    const cacheHome = join(tmp, 'kept-code');
    const folder = join(cacheHome, 'deepforge', 'v8');
    const run = (name: string) =>
      deepforge(join(copy, 'dist', 'main.js'), ['run', join(EXAMPLES, 'hello'), 'hello'], join(tmp, name), {
        XDG_CACHE_HOME: cacheHome,
      });
    const first = await run('kept-1');
    expect(first.code).toBe(0);
    const files = await readdir(folder);
    expect(files).toEqual([expect.stringMatching(/^program-v\d+\.\d+\.\d+-[a-z0-9]+-[0-9a-f]{32}\.cache$/)]);
    const file = join(folder, files[0]!);
    expect((await stat(file)).size).toBeGreaterThan(100_000);
    const made = (await stat(file)).mtimeMs;
    // Read, not written again: V8 took it.
    const second = await run('kept-2');
    expect(second.code).toBe(0);
    expect((await stat(file)).mtimeMs).toBe(made);
    expect(same(second.stdout).split('\n').sort()).toEqual(same(first.stdout).split('\n').sort());
    // Damaged: V8 refuses it, the program compiles as if there were none, and writes it anew.
    await writeFile(file, Buffer.alloc(4096, 7));
    const third = await run('kept-3');
    expect(third.code).toBe(0);
    expect(third.stderr).toBe('');
    expect(same(third.stdout).split('\n').sort()).toEqual(same(first.stdout).split('\n').sort());
    expect((await stat(file)).size).toBeGreaterThan(100_000);
    expect(await readdir(folder)).toEqual(files);
  });

  it('is taken only for a local run, while newer than the build', async () => {
    // The copy has no entry.js (nor program.js): a command that does not take the bundle fails to load it.
    const main = join(copy, 'dist', 'main.js');
    const data = join(tmp, 'routing');
    const notBundled = (r: Run) => {
      expect(r.code).toBe(1);
      expect(r.stderr).toMatch(/entry\.js/);
    };
    notBundled(await deepforge(main, ['executions'], data));
    notBundled(await deepforge(main, ['run', '--server=http://127.0.0.1:9', 'x', 'y'], data));
    notBundled(await deepforge(main, ['run', 'x', 'y'], data, { DEEPFORGE_CLI_BUNDLE: '0' }));
    const taken = await deepforge(main, ['run', join(tmp, 'none'), 'y'], data);
    expect(taken.code).toBe(1);
    expect(taken.stderr).toMatch(/^error: .*none/);
    // A tsc -b build after the bundle was made: the bundle is stale.
    const info = join(copy, 'dist', '.tsbuildinfo');
    await writeFile(info, '{}');
    const later = new Date(Date.now() + 60_000);
    await utimes(info, later, later);
    notBundled(await deepforge(main, ['run', 'x', 'y'], data));
    await rm(info);
  });

  it("loads no value from protocol's index, whose API schemas would all be built at every run", async () => {
    // In the bundle a module importing any value from a package's index initialises every module of it: the engine
    // and the CLI take protocol's values from @deepforge/protocol/engine (their compiled modules keep value imports
    // only; `import type` leaves nothing).
    const offenders: string[] = [];
    for (const pkg of ['engine', 'cli']) {
      const dist = join(ROOT, 'packages', pkg, 'dist');
      for (const file of await readdir(dist, { recursive: true })) {
        if (!file.endsWith('.js') || file.endsWith('.test.js') || file.includes('test-support')) continue;
        const text = await readFile(join(dist, file), 'utf8');
        if (/^import[^;]*from '@deepforge\/protocol';/m.test(text)) offenders.push(`${pkg}/dist/${file}`);
      }
    }
    expect(offenders).toEqual([]);
    const bundle = await readFile(join(CLI_DIR, 'dist', 'program.bundle.cjs'), 'utf8');
    expect(bundle).toContain('packages/protocol/dist/engine.js');
  });

  it('is the operation reader bundle core reads with', async () => {
    const core = await import('@deepforge/core');
    const bundle = join(ROOT, 'packages', 'core', 'dist', 'operation-reading.bundle.cjs');
    const reader = (await import(bundle)) as Pick<typeof core, 'readOperationFile'>;
    const code = await readFile(join(EXAMPLES, 'hello', 'operations', 'Multiply.py'), 'utf8');
    expect(reader.readOperationFile('Multiply', code)).toEqual(core.readOperationFile('Multiply', code));
    const broken = 'class Multiply(:\n';
    expect(reader.readOperationFile('Multiply', broken)).toEqual(core.readOperationFile('Multiply', broken));
  });
});
