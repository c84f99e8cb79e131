// `deepforge run` starts the operation reader's worker and the interpreter's warm worker before the program has
// loaded (prestartRun, docs/adr/0029). The engine takes the warm worker only when it runs the engine's own
// interpreter with the engine's own environment; any other is stopped, and what nobody takes stops on discard().
import { randomUUID } from 'node:crypto';
import { mkdir, readFile, readdir, rm, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { findRuntimeDir, resolvePython, PYTHON_CHECKS_FILE } from './compute/python-interpreter.js';
import { openEngine, type Engine } from './engine.js';
import { prestartRun, type PrestartedRun } from './run-prestart.js';
import { cleanEnv } from './test-support/project-files.js';
import { TEST_PYTHON, makeTempDir, removeTree } from './test-support/temp-dir.js';

interface Zygote {
  pid: number;
  command: string;
  env: string[];
}

/** Processes running `python -m deepforge.zygote` with `DF_PRESTART_TEST=<mark>` in their environment. */
async function zygotesMarked(mark: string): Promise<Zygote[]> {
  const found: Zygote[] = [];
  for (const name of await readdir('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const args = (await readFile(`/proc/${name}/cmdline`, 'utf8')).split('\0');
      if (!args.includes('deepforge.zygote')) continue;
      const env = (await readFile(`/proc/${name}/environ`, 'utf8')).split('\0');
      if (env.includes(`DF_PRESTART_TEST=${mark}`)) found.push({ pid: Number(name), command: args[0]!, env });
    } catch {
      // Gone meanwhile, or not ours to read.
    }
  }
  return found;
}

async function waitFor<T>(what: () => Promise<T>, done: (v: T) => boolean, ms = 15_000): Promise<T> {
  const until = Date.now() + ms;
  let value = await what();
  while (!done(value) && Date.now() < until) {
    await new Promise((r) => setTimeout(r, 50));
    value = await what();
  }
  return value;
}

let root: string;
let mark: string;
let env: Record<string, string | undefined>;
let engine: Engine | undefined;
let prestarted: PrestartedRun | undefined;

/** The interpreter check of `python` remembered in the data dir, as a run before this one left it. */
async function rememberCheck(python: string, e: Record<string, string | undefined> = env): Promise<void> {
  await resolvePython(python, {
    runtimeDir: findRuntimeDir(),
    env: e,
    cacheFile: join(e.DEEPFORGE_DATA_DIR!, PYTHON_CHECKS_FILE),
  });
}

beforeEach(async () => {
  root = await makeTempDir('prestart');
  mark = randomUUID();
  env = cleanEnv({
    DEEPFORGE_DATA_DIR: join(root, 'data'),
    DEEPFORGE_PYTHON: TEST_PYTHON,
    DF_PRESTART_TEST: mark,
    XDG_CACHE_HOME: join(root, 'cache'),
  });
});

afterEach(async () => {
  await engine?.close();
  engine = undefined;
  await prestarted?.discard();
  prestarted = undefined;
  await waitFor(
    () => zygotesMarked(mark),
    (z) => z.length === 0,
  );
  await removeTree(root);
});

describe('prestartRun', () => {
  it("starts the remembered interpreter's warm worker, which the engine takes as its own", async () => {
    await rememberCheck(TEST_PYTHON);
    prestarted = await prestartRun(env);
    expect(prestarted.warmWorker).toBeDefined();
    const early = await waitFor(
      () => zygotesMarked(mark),
      (z) => z.length > 0,
    );
    expect(early).toHaveLength(1);

    engine = await openEngine({ env, warmUp: true, prestarted });
    expect(engine.runnerId).toBe(prestarted.runnerId);
    expect(early[0]!.env).toContain(`DEEPFORGE_RUNNER_ID=${engine.runnerId}`);
    // The engine's interpreter check and warm-up are done; it started no worker of its own.
    await engine.python();
    await new Promise((r) => setTimeout(r, 300));
    expect((await zygotesMarked(mark)).map((z) => z.pid)).toEqual([early[0]!.pid]);
    // Taken: the caller's discard leaves it to the engine, which stops it on close.
    await prestarted.discard();
    expect((await zygotesMarked(mark)).map((z) => z.pid)).toEqual([early[0]!.pid]);
    await engine.close();
    engine = undefined;
    expect(
      await waitFor(
        () => zygotesMarked(mark),
        (z) => z.length === 0,
      ),
    ).toEqual([]);
  });

  it('is stopped when the engine is configured with another interpreter, which the engine starts instead', async () => {
    await rememberCheck(TEST_PYTHON);
    prestarted = await prestartRun(env);
    const early = await waitFor(
      () => zygotesMarked(mark),
      (z) => z.length > 0,
    );
    expect(early.map((z) => z.command)).toEqual([TEST_PYTHON]);

    // The same interpreter under another name: a different `python` setting all the same.
    const other = join(root, 'python-other');
    await symlink(TEST_PYTHON, other);
    engine = await openEngine({ env, warmUp: true, prestarted, settings: { python: other } });
    const after = await waitFor(
      () => zygotesMarked(mark),
      (z) => z.length === 1 && z[0]!.pid !== early[0]!.pid,
    );
    expect(after.map((z) => z.command)).toEqual([other]);
    expect(after[0]!.env).toContain(`DEEPFORGE_RUNNER_ID=${engine.runnerId}`);
  });

  it('is stopped when the environment the engine gives jobs differs', async () => {
    await rememberCheck(TEST_PYTHON);
    prestarted = await prestartRun(env);
    const early = await waitFor(
      () => zygotesMarked(mark),
      (z) => z.length > 0,
    );
    engine = await openEngine({
      env: { ...env, DF_PRESTART_OTHER: '1' },
      warmUp: true,
      prestarted,
    });
    const after = await waitFor(
      () => zygotesMarked(mark),
      (z) => z.length === 1 && z[0]!.pid !== early[0]!.pid,
    );
    expect(after[0]!.env).toContain('DF_PRESTART_OTHER=1');
  });

  it('starts no interpreter whose check is not remembered, and discard() stops what nobody took', async () => {
    prestarted = await prestartRun(env);
    expect(prestarted.warmWorker).toBeUndefined();
    await new Promise((r) => setTimeout(r, 300));
    expect(await zygotesMarked(mark)).toEqual([]);

    await rememberCheck(TEST_PYTHON);
    const second = await prestartRun(env);
    expect(
      await waitFor(
        () => zygotesMarked(mark),
        (z) => z.length > 0,
      ),
    ).toHaveLength(1);
    // Nobody opened an engine (a usage error, say): the worker and the reader stop.
    await second.discard();
    expect(second.takeReader()).toBeUndefined();
    expect(
      await waitFor(
        () => zygotesMarked(mark),
        (z) => z.length === 0,
      ),
    ).toEqual([]);
  });

  it("gives the engine its reader, which reads the project's operations", async () => {
    prestarted = await prestartRun(env);
    engine = await openEngine({ env, warmUp: true, prestarted });
    expect(prestarted.takeReader()).toBeUndefined();
    const read = await engine.operationReader.readProject({
      operations: { Add: { code: 'class Add():\n    def execute(self, a):\n        return a\n' } },
    } as never);
    expect(read.diagnostics).toEqual([]);
  });

  it("starts the reader's worker ahead only when the project's readings are not kept", async () => {
    const project = join(root, 'project');
    await mkdir(join(project, 'operations'), { recursive: true });
    await writeFile(join(project, 'deepforge.json'), '{"name":"p","formatVersion":1}\n');
    const add = 'class Add():\n    def execute(self, a):\n        return a\n';
    await writeFile(join(project, 'operations', 'Add.py'), add);
    const args = ['--quiet', 'not-a-project', 'project', 'main'];

    // Nothing kept yet: the worker starts ahead, and what it reads is kept.
    const first = await prestartRun(env, args, root);
    const reader = first.takeReader()!;
    expect(reader.workersStarted).toBe(1);
    const reading = await reader.read('Add', add);
    expect(reading.interface?.className).toBe('Add');
    await reader.close();
    await first.discard();

    // The next run finds it: no worker, not even once the engine opens with warm-up, and the same reading.
    prestarted = await prestartRun(env, args, root);
    engine = await openEngine({ env, warmUp: true, prestarted });
    expect(await engine.operationReader.read('Add', add)).toEqual(reading);
    expect(engine.operationReader.workersStarted).toBe(0);
    await engine.close();
    engine = undefined;

    // Code too large to look at ahead (over 1 MiB in all): started ahead, nothing of it read here.
    await writeFile(join(project, 'operations', 'Huge.py'), `# ${'x'.repeat(1024 * 1024)}\n`);
    const huge = await prestartRun(env, args, root);
    const hugeReader = huge.takeReader()!;
    expect(hugeReader.workersStarted).toBe(1);
    await hugeReader.close();
    await huge.discard();
    await rm(join(project, 'operations', 'Huge.py'));

    // Changed code is not kept: started ahead again.
    await writeFile(join(project, 'operations', 'Add.py'), add.replace('return a', 'return a + 1'));
    const changed = await prestartRun(env, args, root);
    const again = changed.takeReader()!;
    expect(again.workersStarted).toBe(1);
    await again.close();
    await changed.discard();
  });
});
