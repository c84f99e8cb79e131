// A warm worker whose interpreter dies under it is worth a warning in the engine's log (jobs then start as new
// interpreters); one stopped on purpose (the engine closing, a retired worker) is not.
import { randomUUID } from 'node:crypto';
import { readFile, readdir } from 'node:fs/promises';
import { describe, expect, it } from 'vitest';
import { TEST_PYTHON } from '../test-support/temp-dir.js';
import { findRuntimeDir } from './python-interpreter.js';
import { WarmWorker } from './warm-worker.js';

/** The pid of the zygote started with `DF_WARM_TEST=<mark>` in its environment, if it runs. */
async function zygoteMarked(mark: string): Promise<number | undefined> {
  for (const name of await readdir('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const args = (await readFile(`/proc/${name}/cmdline`, 'utf8')).split('\0');
      if (!args.includes('deepforge.zygote')) continue;
      const env = (await readFile(`/proc/${name}/environ`, 'utf8')).split('\0');
      if (env.includes(`DF_WARM_TEST=${mark}`)) return Number(name);
    } catch {
      // Gone meanwhile, or not ours to read.
    }
  }
  return undefined;
}

async function until(done: () => Promise<boolean>, ms = 15_000): Promise<void> {
  for (const end = Date.now() + ms; !(await done());) {
    if (Date.now() > end) throw new Error('timed out');
    await new Promise((r) => setTimeout(r, 25));
  }
}

function started(): { worker: WarmWorker; warnings: string[]; mark: string } {
  const warnings: string[] = [];
  const mark = randomUUID();
  const worker = new WarmWorker({
    python: TEST_PYTHON,
    env: { PATH: process.env.PATH ?? '/usr/bin:/bin', DF_WARM_TEST: mark },
    cwd: findRuntimeDir(),
    logger: { warn: (_details, message) => warnings.push(message), debug: () => undefined },
  });
  return { worker, warnings, mark };
}

describe('WarmWorker', () => {
  it('says nothing when it is closed, and warns when its interpreter is killed', async () => {
    const closed = started();
    expect(await closed.worker.ready).toBe(true);
    const closedPid = await zygoteMarked(closed.mark);
    expect(closedPid).toBeDefined();
    closed.worker.close();
    await until(async () => (await zygoteMarked(closed.mark)) === undefined);
    // The exit is handled on the next turns of the event loop.
    await new Promise((r) => setTimeout(r, 100));
    expect(closed.warnings).toEqual([]);

    const killed = started();
    expect(await killed.worker.ready).toBe(true);
    const pid = await zygoteMarked(killed.mark);
    expect(pid).toBeDefined();
    process.kill(pid!, 'SIGKILL');
    await until(async () => killed.warnings.length > 0);
    expect(killed.warnings).toEqual([
      'warm worker exited; jobs start as new interpreters until another one is up',
    ]);
    expect(killed.worker.usable).toBe(false);
    killed.worker.close();
  });
});
