import { chmod, readFile, utimes, writeFile, mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { TEST_PYTHON, cleanEnv, makeTempDir, removeTree } from '../test-support/index.js';
import { findRuntimeDir, probeInterpreter } from './python-interpreter.js';

/**
 * An interpreter that counts its runs: a script that appends a line to `runs` and then runs the real one, so a
 * test sees whether the check was run or answered from the cache.
 */
async function countingPython(dir: string): Promise<{ command: string; runs: () => Promise<number> }> {
  const command = join(dir, 'python');
  const counter = join(dir, 'runs');
  await writeFile(command, `#!/bin/sh\necho run >> '${counter}'\nexec '${TEST_PYTHON}' "$@"\n`);
  await chmod(command, 0o755);
  return {
    command,
    runs: async () => (await readFile(counter, 'utf8').catch(() => '')).split('\n').filter(Boolean).length,
  };
}

describe('probeInterpreter with a cache file', () => {
  let dir: string;
  beforeEach(async () => {
    dir = await makeTempDir('python-check');
  });
  afterEach(async () => {
    await removeTree(dir);
  });

  it('runs the check once, then answers from the cache until something it depends on changes', async () => {
    const py = await countingPython(dir);
    const extra = join(dir, 'site');
    await mkdir(extra);
    const cacheFile = join(dir, 'data', 'python-checks.json');
    const opts = { runtimeDir: findRuntimeDir(), env: { ...cleanEnv(), PYTHONPATH: extra }, cacheFile };

    const first = await probeInterpreter(py.command, opts);
    expect(first).toMatchObject({ ok: true, info: { command: py.command, runtimeVersion: '0.1.0' } });
    expect(await py.runs()).toBe(1);
    const again = await probeInterpreter(py.command, opts);
    expect(again).toEqual(first);
    expect(await py.runs()).toBe(1);

    // A package appears in one of its import directories: checked again.
    await writeFile(join(extra, 'newpkg.py'), '');
    await probeInterpreter(py.command, opts);
    expect(await py.runs()).toBe(2);
    await probeInterpreter(py.command, opts);
    expect(await py.runs()).toBe(2);

    // The interpreter's file changed (reinstalled): checked again.
    await utimes(py.command, new Date(), new Date(Date.now() + 5000));
    await probeInterpreter(py.command, opts);
    expect(await py.runs()).toBe(3);

    // Another variable Python reads at start, or no cache file at all: checked.
    await probeInterpreter(py.command, { ...opts, env: { ...opts.env, PYTHONNOUSERSITE: '1' } });
    expect(await py.runs()).toBe(4);
    await probeInterpreter(py.command, { ...opts, cacheFile: undefined });
    expect(await py.runs()).toBe(5);
  });

  it('never keeps a failed check, and reads past a damaged cache file', async () => {
    const py = await countingPython(dir);
    const blocked = join(dir, 'blocked');
    await mkdir(join(blocked, 'numpy'), { recursive: true });
    await writeFile(
      join(blocked, 'numpy', '__init__.py'),
      "raise ImportError('numpy is blocked for this test')\n",
    );
    const cacheFile = join(dir, 'python-checks.json');
    const bad = { runtimeDir: findRuntimeDir(), env: { ...cleanEnv(), PYTHONPATH: blocked }, cacheFile };
    for (let i = 1; i <= 2; i++) {
      const r = await probeInterpreter(py.command, bad);
      expect(r).toMatchObject({ ok: false, reason: expect.stringContaining('numpy is required') });
      expect(await py.runs()).toBe(i);
    }

    await writeFile(cacheFile, '{not json');
    const good = { ...bad, env: cleanEnv() };
    expect((await probeInterpreter(py.command, good)).ok).toBe(true);
    expect(await py.runs()).toBe(3);
    expect((await probeInterpreter(py.command, good)).ok).toBe(true);
    expect(await py.runs()).toBe(3);
    expect(Object.keys(JSON.parse(await readFile(cacheFile, 'utf8')) as object)).toHaveLength(1);
  });

  it('says what is wrong with an interpreter that does not exist, cache or not', async () => {
    const r = await probeInterpreter(join(dir, 'nope'), {
      runtimeDir: findRuntimeDir(),
      env: cleanEnv(),
      cacheFile: join(dir, 'c.json'),
    });
    expect(r).toEqual({ ok: false, reason: 'no such interpreter' });
  });
});
