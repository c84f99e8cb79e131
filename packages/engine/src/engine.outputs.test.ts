import { createHash } from 'node:crypto';
import { chmod, open, readFile, readdir } from 'node:fs/promises';
import { join } from 'node:path';
import type { ExecutionEvent } from '@deepforge/protocol';
import { afterEach, describe, expect, it } from 'vitest';
import { blobStorageTestHooks } from './storage/local-blob.storage.js';
import { engineFixture, type EngineFixture } from './test-support/engine-fixture.js';
import { chain, py } from './test-support/project-files.js';

/** 2.4 MB of float64: big enough for the harness to hash it and for the engine to check it in the background. */
const N = 300_000;

const ops = {
  Make: py(
    'import numpy as np',
    'class Make():',
    '    def execute(self):',
    `        arr = np.arange(${N}, dtype=np.float64)`,
    '        return arr',
  ),
  Sum: py(
    'import time',
    'class Sum():',
    '    def __init__(self, sleep=0.0):',
    '        self.sleep = sleep',
    '',
    '    def execute(self, arr):',
    '        time.sleep(self.sleep)',
    '        total = float(arr.sum())',
    '        return total',
  ),
};

const pipelines = {
  // make → fast → save, and make → slow (still running when make's output is found corrupt).
  fan: chain(
    [
      { id: 'make', operation: 'Make' },
      { id: 'fast', operation: 'Sum' },
      { id: 'save', operation: 'Output', attributes: { saveName: 'total' } },
      { id: 'slow', operation: 'Sum', attributes: { sleep: 60 } },
    ],
    [
      ['make.arr', 'fast.arr'],
      ['fast.total', 'save.data'],
      ['make.arr', 'slow.arr'],
    ],
  ),
  pair: chain(
    [
      { id: 'make', operation: 'Make' },
      { id: 'use', operation: 'Sum' },
    ],
    [['make.arr', 'use.arr']],
  ),
};

function statusOf(events: ExecutionEvent[], executionId: string, node: string): string | undefined {
  let last: string | undefined;
  for (const e of events)
    if (e.executionId === executionId && e.type === 'job.status' && e.node === node) last = e.status;
  return last;
}

async function until(what: string, cond: () => boolean, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

async function sha256(path: string): Promise<string> {
  return `sha256:${createHash('sha256')
    .update(await readFile(path))
    .digest('hex')}`;
}

describe('engine: outputs stored under the harness hash, checked in the background', () => {
  let f: EngineFixture;
  afterEach(async () => {
    delete blobStorageTestHooks.beforeCheck;
    await f.cleanup();
  });

  it('starts downstream jobs before the check and ends without waiting for it; `checked` waits', async () => {
    f = await engineFixture({ 'executions.concurrency': 2 });
    const { project } = await f.project({ operations: ops, pipelines });
    let ended = false;
    const checked: string[] = [];
    blobStorageTestHooks.beforeCheck = async (path) => {
      // Hold the check until the execution has ended, its consumer having run on the unchecked blob.
      await until('the execution to end', () => ended);
      checked.push(path);
    };
    const started = await f.engine.startExecution({ project, pipelineName: 'pair' });
    const done = await started.done;
    ended = true;
    expect(done.status).toBe('success');
    expect(checked).toEqual([]);
    expect(done.jobs.find((j) => j.node === 'use')!.status).toBe('success');
    const after = await started.checked;
    expect(after.status).toBe('success');
    expect(after.failure).toBeNull();
    const make = after.jobs.find((j) => j.node === 'make')!;
    const arr = make.outputs[0]!;
    expect(arr.size).toBeGreaterThan(N * 8);
    const blob = join(
      f.engine.settings.values['blob.dir'],
      'sha256',
      arr.hash.slice(7, 9),
      arr.hash.slice(7),
    );
    // The blob was stored under the harness's hash without the engine reading it first, then checked.
    expect(checked).toEqual([blob]);
    expect(await sha256(blob)).toBe(arr.hash);
    expect(make.error).toBeNull();
    expect(await readdir(join(f.engine.settings.values['blob.dir'], 'unverified'))).toEqual([]);
  });

  it('closes without waiting for a check when asked (`deepforge run`): the next engine to open does it', async () => {
    f = await engineFixture({ 'executions.concurrency': 2 });
    const { project } = await f.project({ operations: ops, pipelines });
    const held: string[] = [];
    // The check never gets past its start in this engine.
    blobStorageTestHooks.beforeCheck = (path) => {
      held.push(path);
      return new Promise<void>(() => undefined);
    };
    const started = await f.engine.startExecution({ project, pipelineName: 'pair' });
    const done = await started.done;
    expect(done.status).toBe('success');
    await until('the check to start', () => held.length === 1);
    const unverified = join(f.engine.settings.values['blob.dir'], 'unverified');
    const closing = f.engine.close({ leaveChecks: true });
    const closed = await Promise.race([
      closing.then(() => 'closed'),
      new Promise((r) => setTimeout(() => r('still waiting'), 10_000)),
    ]);
    expect(closed).toBe('closed');
    // The blob keeps its marker: it is still to be checked.
    const hash = done.jobs.find((j) => j.node === 'make')!.outputs[0]!.hash;
    expect(await readdir(unverified)).toEqual([hash.slice('sha256:'.length)]);

    const checked: string[] = [];
    blobStorageTestHooks.beforeCheck = (path) => {
      checked.push(path);
    };
    const engine = await f.reopen();
    await until('the left check to be redone', () => checked.length === 1);
    expect(checked).toEqual(held);
    for (let i = 0; i < 100 && (await readdir(unverified)).length > 0; i++) {
      await new Promise((r) => setTimeout(r, 50));
    }
    expect(await readdir(unverified)).toEqual([]);
    expect(await sha256(held[0]!)).toBe(hash);
    expect((await engine.getExecution(started.id)).status).toBe('success');
  });

  it('a check left at close and failing in the next engine marks the job and fails its execution', async () => {
    f = await engineFixture({ 'executions.concurrency': 2 });
    const { project } = await f.project({ operations: ops, pipelines });
    blobStorageTestHooks.beforeCheck = () => new Promise<void>(() => undefined);
    const started = await f.engine.startExecution({ project, pipelineName: 'pair', cache: true });
    const done = await started.done;
    expect(done.status).toBe('success');
    await f.engine.close({ leaveChecks: true });
    // Between the two processes, a byte of the stored output changes.
    const arr = done.jobs.find((j) => j.node === 'make')!.outputs[0]!;
    const blob = join(f.dataDir, 'blob', 'sha256', arr.hash.slice(7, 9), arr.hash.slice(7));
    await chmod(blob, 0o644);
    const fh = await open(blob, 'r+');
    await fh.write(Buffer.from([0x42]), 0, 1, 1000);
    await fh.close();
    delete blobStorageTestHooks.beforeCheck;

    const engine = await f.reopen();
    let after = await engine.getExecution(started.id);
    for (let i = 0; i < 200 && after.status === 'success'; i++) {
      await new Promise((r) => setTimeout(r, 50));
      after = await engine.getExecution(started.id);
    }
    expect(after.status).toBe('failed');
    const make = after.jobs.find((j) => j.node === 'make')!;
    expect(make.error).toMatchObject({ kind: 'output' });
    expect(make.error!.message).toMatch(
      /^output arr is corrupt: its bytes hash to sha256:[0-9a-f]{64}, not to /,
    );
    expect(make.cacheKey).toBeNull();
    // Quarantined: no longer in the store under its id, and the engine's log says what happened.
    await expect(readFile(blob)).rejects.toThrow(/ENOENT/);
    const log = await readFile(join(f.dataDir, 'logs', 'engine.log'), 'utf8');
    expect(log).toContain(`CORRUPT OUTPUT: make.arr of execution ${started.id}`);
  });

  it('a check failing after the end turns the execution failed and marks what used the output', async () => {
    f = await engineFixture({ 'executions.concurrency': 2 });
    const { project } = await f.project({ operations: ops, pipelines });
    let ended = false;
    blobStorageTestHooks.beforeCheck = async (path) => {
      await until('the execution to end', () => ended);
      await chmod(path, 0o644);
      const fh = await open(path, 'r+');
      await fh.write(Buffer.from([0x42]), 0, 1, 1000);
      await fh.close();
      await chmod(path, 0o444);
    };
    const started = await f.engine.startExecution({ project, pipelineName: 'pair', cache: true });
    const done = await started.done;
    ended = true;
    expect(done.status).toBe('success');
    const after = await started.checked;
    expect(after.status).toBe('failed');
    const byNode = Object.fromEntries(after.jobs.map((j) => [j.node, j]));
    expect(byNode.make!.error!.message).toMatch(/^output arr is corrupt: its bytes hash to sha256:/);
    expect(byNode.make!.cacheKey).toBeNull();
    expect(byNode.use!.status).toBe('success');
    expect(byNode.use!.error).toMatchObject({ kind: 'upstream-failed', upstream: 'make' });
    expect(byNode.use!.cacheKey).toBeNull();
    expect(after.failure).toMatchObject({ node: 'make', error: { kind: 'output' } });
    expect((await f.engine.getExecution(started.id)).status).toBe('failed');
    const statuses = f.events
      .filter((e) => e.executionId === started.id && e.type === 'execution.status')
      .map((e) => (e as { status: string }).status);
    expect(statuses.slice(-2)).toEqual(['success', 'failed']);
    // The engine's log says it too, from the store and from the execution.
    const log = await readFile(join(f.dataDir, 'logs', 'engine.log'), 'utf8');
    expect(log).toContain(`CORRUPT BLOB ${byNode.make!.outputs[0]!.hash}`);
    expect(log).toMatch(/found corrupt after its execution ended/);
  });

  it('quarantines an output damaged before its check; downstream is stopped, marked or not run', async () => {
    f = await engineFixture({ 'executions.concurrency': 4 });
    const { project } = await f.project({ operations: ops, pipelines });
    let executionId = '';
    blobStorageTestHooks.beforeCheck = async (path) => {
      await until(
        'fast and save to succeed while slow runs',
        () =>
          statusOf(f.events, executionId, 'save') === 'success' &&
          statusOf(f.events, executionId, 'slow') === 'running',
      );
      // A byte flips on disk after the harness wrote (and hashed) the file.
      await chmod(path, 0o644);
      const fh = await open(path, 'r+');
      await fh.write(Buffer.from([0x42]), 0, 1, 1000);
      await fh.close();
      await chmod(path, 0o444);
    };
    const started = await f.engine.startExecution({ project, pipelineName: 'fan', cache: true });
    executionId = started.id;
    const done = await started.done;
    expect(done.status).toBe('failed');
    const byNode = Object.fromEntries(done.jobs.map((j) => [j.node, j]));
    const hash = byNode.make!.outputs[0]!.hash;

    expect(byNode.make!.status).toBe('success');
    expect(byNode.make!.error).toMatchObject({ kind: 'output' });
    expect(byNode.make!.error!.message).toMatch(
      new RegExp(`^output arr is corrupt: its bytes hash to sha256:[0-9a-f]{64}, not to ${hash}.*quarantine`),
    );
    expect(byNode.make!.cacheKey).toBeNull();
    expect(done.failure).toMatchObject({ node: 'make', error: { kind: 'output' } });
    // Ran on the bad bytes before the check: kept, but marked.
    for (const node of ['fast', 'save']) {
      expect(byNode[node]!.status).toBe('success');
      expect(byNode[node]!.error).toMatchObject({ kind: 'upstream-failed', upstream: 'make' });
      expect(byNode[node]!.error!.message).toMatch(
        /^ran on a corrupt input: its input make\.arr .* is corrupt/,
      );
    }
    expect(byNode.fast!.cacheKey).toBeNull();
    // Still running: stopped.
    expect(byNode.slow!.status).toBe('canceled');
    expect(byNode.slow!.error).toMatchObject({ kind: 'upstream-failed', upstream: 'make' });
    expect(byNode.slow!.error!.message).toMatch(/^stopped: its input make\.arr/);

    // The blob is out of the store, in quarantine with a note; the console says it loudly.
    const blobs = f.engine.settings.values['blob.dir'];
    expect(await f.engine.getArtifact('total').then((a) => a.hash)).toBe(byNode.fast!.outputs[0]!.hash);
    const quarantine = await readdir(join(blobs, 'quarantine'));
    expect(quarantine.some((n) => n.startsWith(hash.slice(7)) && n.endsWith('.json'))).toBe(true);
    await expect(readFile(join(blobs, 'sha256', hash.slice(7, 9), hash.slice(7)))).rejects.toThrow(/ENOENT/);
    const log = await f.engine.readJobLog(started.id, 'make');
    expect(log.text).toMatch(/\[deepforge\] ERROR: output arr is corrupt/);

    // Resume refuses (the output is gone); running again recomputes it: nothing corrupt came from the cache.
    await expect(f.engine.resumeExecution(started.id)).rejects.toThrow(/no longer in the data store/);
    delete blobStorageTestHooks.beforeCheck;
    const again = await (await f.engine.startExecution({ project, pipelineName: 'pair', cache: true })).done;
    expect(again.status).toBe('success');
    const make2 = again.jobs.find((j) => j.node === 'make')!;
    expect(make2.status).toBe('success');
    expect(make2.cachedFrom).toBeNull();
    expect(make2.outputs[0]!.hash).toBe(hash);
  });
  it('stores an output over 8 MiB under its sha256t id, hashed by the harness on two threads', async () => {
    f = await engineFixture({ 'executions.concurrency': 2 });
    const big = 1_300_000; // 10.4 MB of float64: two blocks of the tree (docs/adr/0006)
    const { project } = await f.project({
      operations: { ...ops, Make: ops.Make.replace(`np.arange(${N}`, `np.arange(${big}`) },
      pipelines,
    });
    const checked: string[] = [];
    blobStorageTestHooks.beforeCheck = (path) => {
      checked.push(path);
    };
    const started = await f.engine.startExecution({ project, pipelineName: 'pair' });
    expect((await started.done).status).toBe('success');
    // The check may end after the execution: `checked` waits for it.
    const done = await started.checked;
    expect(done.status).toBe('success');
    const arr = done.jobs.find((j) => j.node === 'make')!.outputs[0]!;
    expect(arr.hash).toMatch(/^sha256t:[0-9a-f]{64}$/);
    const hex = arr.hash.slice('sha256t:'.length);
    const blob = join(f.engine.settings.values['blob.dir'], 'sha256t', hex.slice(0, 2), hex);
    // Stored under the harness's id without a read first, then checked in the background.
    expect(checked).toEqual([blob]);
    const bytes = await readFile(blob);
    expect(bytes.length).toBe(arr.size);
    const block = 8 * 1024 * 1024;
    const digests = [0, block].map((at) =>
      createHash('sha256')
        .update(bytes.subarray(at, at + block))
        .digest(),
    );
    expect(arr.hash).toBe(`sha256t:${createHash('sha256').update(Buffer.concat(digests)).digest('hex')}`);
    expect(await readdir(join(f.engine.settings.values['blob.dir'], 'unverified'))).toEqual([]);
    expect(done.jobs.find((j) => j.node === 'use')!.status).toBe('success');
  });
});
