import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { parseEnvironmentFile, type EnvironmentPlan } from '@deepforge/core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cleanEnv } from '../test-support/project-files.js';
import { makeTempDir, removeTree, TEST_PYTHON } from '../test-support/temp-dir.js';
import { buildTestWheel } from '../test-support/test-wheel.js';
import { EnvironmentCache, type EnvironmentCacheOptions } from './environment.cache.js';

function plan(text: string): EnvironmentPlan {
  const r = parseEnvironmentFile(text);
  if (!r.ok) throw new Error(JSON.stringify(r.problems));
  return r.plan;
}

describe('EnvironmentCache', () => {
  let root: string;
  let options: EnvironmentCacheOptions;

  beforeAll(async () => {
    root = await makeTempDir('envcache');
    const wheels = join(root, 'wheels');
    await buildTestWheel(wheels, 'dfcache', '1.0', { 'dfcache/__init__.py': 'X = 1\n' });
    options = {
      dir: join(root, 'environments'),
      maxBytes: 1024 ** 3,
      pipArgs: ['--isolated', '--no-index', '--find-links', wheels],
      env: cleanEnv(),
    };
  });
  afterAll(async () => {
    await removeTree(root);
  });

  const envs = async (): Promise<string[]> =>
    (await readdir(join(options.dir, 'envs')).catch(() => [])).sort();

  it('builds a key once across processes: the second waits on the lock, then finds it built', async () => {
    // Two caches are two builders that share nothing but the directory, as two engines on one machine do.
    const a = new EnvironmentCache(options);
    const b = new EnvironmentCache(options);
    const p = plan('dependencies:\n  - pip:\n    - dfcache\n');
    const lines: string[][] = [[], []];
    const [ra, rb] = await Promise.all(
      [a, b].map((c, i) => c.ensure({ python: TEST_PYTHON, plan: p, onLine: (l) => lines[i]!.push(l) })),
    );
    expect([ra!.built, rb!.built].sort()).toEqual([false, true]);
    expect(ra!.key).toBe(rb!.key);
    expect(ra!.python).toBe(join(options.dir, 'envs', ra!.key, 'bin', 'python'));
    const waiter = lines[ra!.built ? 1 : 0]!.join('\n');
    expect(waiter).toMatch(/another process is building it; waiting for it/);
    expect(waiter).toMatch(/built by another process meanwhile/);
    expect(waiter).not.toContain('[pip]');
    ra!.release();
    rb!.release();
    expect(await envs()).toEqual([ra!.key]);
  });

  it('stops a build nobody waits for any more, leaving nothing of it', async () => {
    const c = new EnvironmentCache(options);
    const before = await envs();
    const abort = new AbortController();
    const ensuring = c.ensure({
      python: TEST_PYTHON,
      plan: plan('dependencies:\n  - pip:\n    - dfcache==1.0\n'),
      signal: abort.signal,
      onLine: (l) => {
        if (l.startsWith('[deepforge] pip install')) abort.abort();
      },
    });
    await expect(ensuring).rejects.toMatchObject({ name: 'AbortError' });
    // The build ends (and cleans up) just after the job stopped waiting for it.
    await new Promise((r) => setTimeout(r, 300));
    expect(await envs()).toEqual(before);
  });

  it('removes the least recently used environments beyond maxBytes, never one in use', async () => {
    const c = new EnvironmentCache({ ...options, maxBytes: 1, recentUseMs: 0 });
    const [old] = await envs();
    const inUse = await c.ensure({
      python: TEST_PYTHON,
      plan: plan('dependencies:\n  - pip:\n    - dfcache\n'),
      onLine: () => undefined,
    });
    expect(inUse.key).toBe(old);
    const fresh = await c.ensure({
      python: TEST_PYTHON,
      plan: plan('dependencies:\n  - pip:\n    - dfcache>=1\n'),
      onLine: () => undefined,
    });
    expect(fresh.built).toBe(true);
    // Over the bound, but the one in use stays.
    expect(await envs()).toEqual([old!, fresh.key].sort());
    inUse.release();
    fresh.release();
    const again = await c.ensure({
      python: TEST_PYTHON,
      plan: plan('dependencies:\n  - pip:\n    - dfcache>=0.1\n'),
      onLine: () => undefined,
    });
    again.release();
    expect(await envs()).toEqual([again.key]);
  });
});
