// `deepforge run` opens its engine with warmUp (docs/adr/0029): the interpreter's warm worker starts while the
// engine opens and the project is read, not when the first job asks for it.
import { readFile, readdir } from 'node:fs/promises';
import { randomUUID } from 'node:crypto';
import { afterEach, describe, expect, it } from 'vitest';
import { engineFixture, type EngineFixture } from './test-support/engine-fixture.js';
import { cleanEnv } from './test-support/project-files.js';

let fixture: EngineFixture | undefined;

afterEach(async () => {
  await fixture?.cleanup();
  fixture = undefined;
});

/** Processes running `python -m deepforge.zygote` with `MARK=<mark>` in their environment. */
async function zygotesMarked(mark: string): Promise<number[]> {
  const found: number[] = [];
  for (const name of await readdir('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const args = (await readFile(`/proc/${name}/cmdline`, 'utf8')).split('\0');
      if (!args.includes('deepforge.zygote')) continue;
      const env = (await readFile(`/proc/${name}/environ`, 'utf8')).split('\0');
      if (env.includes(`DF_WARM_UP_TEST=${mark}`)) found.push(Number(name));
    } catch {
      // Gone meanwhile, or not ours to read.
    }
  }
  return found;
}

async function waitFor<T>(what: () => Promise<T>, done: (v: T) => boolean, ms: number): Promise<T> {
  const until = Date.now() + ms;
  let value = await what();
  while (!done(value) && Date.now() < until) {
    await new Promise((r) => setTimeout(r, 50));
    value = await what();
  }
  return value;
}

describe('an engine opened with warmUp', () => {
  it("starts the interpreter's warm worker before any job, and stops it on close", async () => {
    const mark = randomUUID();
    fixture = await engineFixture({}, { warmUp: true, env: cleanEnv({ DF_WARM_UP_TEST: mark }) });
    const started = await waitFor(
      () => zygotesMarked(mark),
      (z) => z.length > 0,
      15_000,
    );
    expect(started).toHaveLength(1);
    await fixture.engine.close();
    expect(
      await waitFor(
        () => zygotesMarked(mark),
        (z) => z.length === 0,
        10_000,
      ),
    ).toEqual([]);
  });

  it('starts none without it', async () => {
    const mark = randomUUID();
    fixture = await engineFixture({}, { env: cleanEnv({ DF_WARM_UP_TEST: mark }) });
    // The interpreter check is what the warm worker waits for: once it is done, a warm-up would have begun.
    await fixture.engine.python();
    await new Promise((r) => setTimeout(r, 300));
    expect(await zygotesMarked(mark)).toEqual([]);
  });
});
