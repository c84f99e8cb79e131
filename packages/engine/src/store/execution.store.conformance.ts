import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { IllegalTransitionError } from '../errors.js';
import type { ExecutionStore } from './execution.store.js';
import { jobsFor, newExecution, type StoreHarness } from './store.harness.js';

/** The behaviour every ExecutionStore adapter must have. Call it in a test file with the adapter's harness. */
export function describeExecutionStoreConformance(name: string, create: () => Promise<StoreHarness>): void {
  describe(`ExecutionStore conformance: ${name}`, () => {
    let h: StoreHarness;
    let executions: ExecutionStore;
    beforeEach(async () => {
      h = await create();
      executions = h.stores.executions;
    });
    afterEach(async () => {
      await h.cleanup();
    });

    it('stores an execution with its jobs, pending, in pipeline order', async () => {
      const ex = newExecution();
      const rec = await executions.insertExecution(ex, jobsFor(ex.id, ['c', 'a', 'b']));
      expect(rec).toMatchObject({
        id: ex.id,
        status: 'pending',
        startedAt: null,
        endedAt: null,
        runnerId: null,
      });
      expect(rec.snapshot).toEqual(ex.snapshot);
      expect(rec.options).toEqual({ cache: true });
      const jobs = await executions.listJobs(ex.id);
      expect(jobs.map((j) => j.node)).toEqual(['c', 'a', 'b']);
      expect(jobs.every((j) => j.status === 'pending' && j.attempt === 0 && j.error === null)).toBe(true);
      expect(await executions.getExecution('nope')).toBeUndefined();
    });

    it('keeps the project version an execution started from (migration 0008)', async () => {
      const version = 'c'.repeat(40);
      const ex = newExecution({ version });
      expect((await executions.insertExecution(ex, [])).version).toBe(version);
      expect((await executions.getExecution(ex.id))!.version).toBe(version);
      const old = newExecution();
      expect((await executions.insertExecution(old, [])).version).toBeNull();
    });

    it('inserts nothing when a job cannot be stored', async () => {
      const ex = newExecution();
      const dup = jobsFor(ex.id, ['a', 'a']);
      await expect(executions.insertExecution(ex, dup)).rejects.toThrow();
      expect(await executions.getExecution(ex.id)).toBeUndefined();
    });

    it('lists executions newest first with limit and offset, and finds ids by prefix', async () => {
      const made = [];
      for (let i = 0; i < 5; i++) made.push(await executions.insertExecution(newExecution(), []));
      const page = await executions.listExecutions({ limit: 2, offset: 1 });
      expect(page.map((e) => e.id)).toEqual([made[3]!.id, made[2]!.id]);
      const ids = await executions.findExecutionIds(made[0]!.id.slice(0, 6), 10);
      expect(ids).toContain(made[0]!.id);
      expect(await executions.findExecutionIds('%', 10)).toEqual([]);
      expect((await executions.listExecutionsByStatus(['pending'])).length).toBe(5);
    });

    it('moves jobs only along legal transitions and keeps what came with them', async () => {
      const ex = newExecution();
      await executions.insertExecution(ex, jobsFor(ex.id, ['a']));
      const id = `${ex.id}.a`;
      await executions.transitionJob(id, 'queued', { runnerId: 'r1' });
      const running = await executions.transitionJob(id, 'running', {
        attempt: 1,
        startedAt: 5,
        pid: 123,
        pgid: 123,
      });
      expect(running).toMatchObject({
        status: 'running',
        attempt: 1,
        startedAt: 5,
        pid: 123,
        pgid: 123,
        runnerId: 'r1',
      });
      const failed = await executions.transitionJob(id, 'failed', {
        endedAt: 9,
        exitCode: 1,
        error: { kind: 'exception', message: 'ZeroDivisionError: division by zero', traceback: 'Traceback…' },
      });
      expect(failed.error).toEqual({
        kind: 'exception',
        message: 'ZeroDivisionError: division by zero',
        traceback: 'Traceback…',
      });
      await expect(executions.transitionJob(id, 'success')).rejects.toBeInstanceOf(IllegalTransitionError);
      await expect(executions.transitionJob(id, 'running')).rejects.toThrow(
        /cannot go from failed to running/,
      );
      expect((await executions.getJob(id))!.status).toBe('failed');
      // Resume.
      await executions.transitionJob(id, 'pending', { error: null, exitCode: null });
      expect(await executions.getJob(id)).toMatchObject({
        status: 'pending',
        error: null,
        exitCode: null,
        attempt: 1,
      });
    });

    it('moves several jobs in one call, all or none', async () => {
      const ex = newExecution();
      await executions.insertExecution(ex, jobsFor(ex.id, ['a', 'b', 'c']));
      const [a, b, c] = ['a', 'b', 'c'].map((n) => `${ex.id}.${n}`) as [string, string, string];
      expect(await executions.transitionJobs([])).toEqual([]);
      const moved = await executions.transitionJobs([
        { id: b, to: 'queued', patch: { runnerId: 'r1' } },
        { id: a, to: 'queued' },
      ]);
      expect(moved.map((j) => [j.id, j.status, j.runnerId])).toEqual([
        [b, 'queued', 'r1'],
        [a, 'queued', null],
      ]);
      // One illegal move (c cannot skip to running), or a job that does not exist: nothing moves.
      await expect(
        executions.transitionJobs([
          { id: a, to: 'running', patch: { attempt: 1 } },
          { id: c, to: 'running' },
        ]),
      ).rejects.toBeInstanceOf(IllegalTransitionError);
      await expect(
        executions.transitionJobs([
          { id: c, to: 'queued' },
          { id: 'missing', to: 'queued' },
        ]),
      ).rejects.toThrow(/no job missing/);
      expect(await Promise.all([a, b, c].map(async (id) => (await executions.getJob(id))!.status))).toEqual([
        'queued',
        'queued',
        'pending',
      ]);
      expect((await executions.getJob(a))!.attempt).toBe(0);
    });

    it('rejects skipping states', async () => {
      const ex = newExecution();
      await executions.insertExecution(ex, jobsFor(ex.id, ['a']));
      const id = `${ex.id}.a`;
      await expect(executions.transitionJob(id, 'success')).rejects.toBeInstanceOf(IllegalTransitionError);
      await expect(executions.transitionJob(id, 'running')).rejects.toBeInstanceOf(IllegalTransitionError);
      await expect(executions.transitionJob('missing', 'queued')).rejects.toThrow(/no job missing/);
      await expect(executions.transitionJob(id, 'queued', {}, { from: ['running'] })).rejects.toThrow(
        /expected running/,
      );
    });

    it('lets only one of two concurrent movers win', async () => {
      const ex = newExecution();
      await executions.insertExecution(ex, jobsFor(ex.id, ['a']));
      const id = `${ex.id}.a`;
      await executions.transitionJob(id, 'queued');
      const results = await Promise.allSettled([
        executions.transitionJob(id, 'running', { runnerId: 'r1' }, { from: ['queued'] }),
        executions.transitionJob(id, 'running', { runnerId: 'r2' }, { from: ['queued'] }),
      ]);
      expect(results.filter((r) => r.status === 'fulfilled').length).toBe(1);
    });

    it('completes a job together with its outputs, or not at all', async () => {
      const ex = newExecution();
      await executions.insertExecution(ex, jobsFor(ex.id, ['a', 'b']));
      const a = `${ex.id}.a`;
      await executions.transitionJob(a, 'queued');
      await executions.transitionJob(a, 'running');
      const hash = `sha256:${'ab'.repeat(32)}`;
      const done = await executions.completeJob(
        a,
        'success',
        [{ name: 'x', hash, size: 3, serializer: 'pickle', pyType: 'builtins.int' }],
        { endedAt: 10, exitCode: 0, cacheKey: 'k1' },
      );
      expect(done).toMatchObject({ status: 'success', endedAt: 10, cacheKey: 'k1' });
      expect(await executions.listJobOutputs(a)).toEqual([
        { jobId: a, name: 'x', hash, size: 3, serializer: 'pickle', pyType: 'builtins.int' },
      ]);
      // Success is final: a second completion is refused, and the outputs stay as they were recorded.
      await expect(
        executions.completeJob(a, 'success', [
          { name: 'z', hash, size: 1, serializer: 'pickle', pyType: 'builtins.int' },
        ]),
      ).rejects.toBeInstanceOf(IllegalTransitionError);
      expect((await executions.listJobOutputs(a)).map((o) => o.name)).toEqual(['x']);
      // b is pending: success is not a legal next state, and no outputs may appear.
      const b = `${ex.id}.b`;
      await expect(
        executions.completeJob(b, 'success', [
          { name: 'y', hash, size: 3, serializer: 'pickle', pyType: 'builtins.int' },
        ]),
      ).rejects.toBeInstanceOf(IllegalTransitionError);
      expect(await executions.listJobOutputs(b)).toEqual([]);
      expect((await executions.listExecutionOutputs(ex.id)).map((o) => o.name)).toEqual(['x']);
      // Cached jobs reuse outputs without being cache candidates themselves.
      await executions.completeJob(
        b,
        'cached',
        [{ name: 'x', hash, size: 3, serializer: 'pickle', pyType: 'int' }],
        {
          cacheKey: 'k1',
          cachedFrom: a,
        },
      );
      const hits = await executions.findCacheCandidates('k1', 5, ex.projectId ?? '');
      expect(hits.map((c) => c.job.id)).toEqual([a]);
      expect(hits[0]!.outputs[0]!.hash).toBe(hash);
      expect(await executions.findCacheCandidates('k2', 5, ex.projectId ?? '')).toEqual([]);
      // Another project's jobs are never candidates, whatever their key.
      expect(await executions.findCacheCandidates('k1', 5, 'another-project')).toEqual([]);
    });

    it('completes a job and queues the jobs after it in one transaction, or does neither', async () => {
      const ex = newExecution();
      await executions.insertExecution(ex, jobsFor(ex.id, ['a', 'b', 'c', 'd']));
      const [a, b, c, d] = ['a', 'b', 'c', 'd'].map((n) => `${ex.id}.${n}`) as [
        string,
        string,
        string,
        string,
      ];
      for (const id of [a, d]) {
        await executions.transitionJob(id, 'queued');
        await executions.transitionJob(id, 'running');
      }
      const hash = `sha256:${'cd'.repeat(32)}`;
      const out = { name: 'x', hash, size: 3, serializer: 'pickle', pyType: 'builtins.int' };
      const { job, moved } = await executions.completeJobAndMove(a, 'success', [out], { endedAt: 7 }, [
        { id: b, to: 'queued', patch: { runnerId: 'r1' } },
        { id: c, to: 'queued' },
      ]);
      expect(job).toMatchObject({ id: a, status: 'success', endedAt: 7 });
      expect(moved.map((j) => [j.id, j.status, j.runnerId])).toEqual([
        [b, 'queued', 'r1'],
        [c, 'queued', null],
      ]);
      // A move that is not legal (c is queued: not again) undoes the success and its outputs as well.
      await expect(
        executions.completeJobAndMove(d, 'success', [out], { endedAt: 8 }, [{ id: c, to: 'queued' }]),
      ).rejects.toBeInstanceOf(IllegalTransitionError);
      expect((await executions.getJob(d))!.status).toBe('running');
      expect(await executions.listJobOutputs(d)).toEqual([]);
      expect((await executions.getJob(c))!.status).toBe('queued');
    });

    it("keeps a job's resource usage with it, big numbers exactly, and forgets it when told", async () => {
      const ex = newExecution();
      await executions.insertExecution(ex, jobsFor(ex.id, ['a', 'b', 'c']));
      const [a, b, c] = ['a', 'b', 'c'].map((n) => `${ex.id}.${n}`) as [string, string, string];
      for (const id of [a, b, c]) {
        await executions.transitionJob(id, 'queued');
        await executions.transitionJob(id, 'running');
      }
      expect((await executions.getJob(a))!.usage).toBeNull();
      // 80 GiB of GPU memory and 1 TiB of RSS: past 2^32, stored as bigint (PostgreSQL hands back strings).
      const big = { cpuSeconds: 12345.678, peakRssBytes: 2 ** 40 + 7, peakGpuBytes: 80 * 2 ** 30 };
      await executions.completeJob(a, 'success', [], { endedAt: 5, usage: big });
      expect((await executions.getJob(a))!.usage).toEqual(big);
      // Without a GPU peak: none comes back, not a zero.
      await executions.transitionJob(b, 'failed', { usage: { cpuSeconds: 0.25, peakRssBytes: 1024 } });
      expect((await executions.getJob(b))!.usage).toEqual({ cpuSeconds: 0.25, peakRssBytes: 1024 });
      expect((await executions.listJobs(ex.id)).map((j) => j.usage?.peakRssBytes ?? null)).toEqual([
        big.peakRssBytes,
        1024,
        null,
      ]);
      await executions.updateJob(a, { usage: null });
      expect((await executions.getJob(a))!.usage).toBeNull();
    });

    it('changes executions along legal transitions, optionally only for their runner', async () => {
      const ex = newExecution();
      await executions.insertExecution(ex, []);
      const running = await executions.updateExecution(ex.id, {
        status: 'running',
        startedAt: 3,
        runnerId: 'r1',
      });
      expect(running).toMatchObject({ status: 'running', startedAt: 3, runnerId: 'r1' });
      expect(
        await executions.updateExecution(ex.id, { runnerId: 'r3' }, { expectRunner: 'r2' }),
      ).toBeUndefined();
      expect((await executions.getExecution(ex.id))!.runnerId).toBe('r1');
      const claimed = await executions.updateExecution(ex.id, { runnerId: 'r2' }, { expectRunner: 'r1' });
      expect(claimed!.runnerId).toBe('r2');
      await executions.updateExecution(ex.id, { status: 'failed', endedAt: 4, runnerId: null });
      await expect(executions.updateExecution(ex.id, { status: 'success' })).rejects.toBeInstanceOf(
        IllegalTransitionError,
      );
      const resumed = await executions.updateExecution(ex.id, {
        status: 'running',
        options: { cache: false },
      });
      expect(resumed).toMatchObject({ status: 'running', options: { cache: false } });
      await executions.updateExecution(ex.id, { status: 'success' });
      await expect(executions.updateExecution(ex.id, { status: 'running' })).rejects.toBeInstanceOf(
        IllegalTransitionError,
      );
    });

    it('deletes an execution with its jobs and their outputs', async () => {
      const ex = newExecution({ projectId: 'p9' });
      await executions.insertExecution(ex, jobsFor(ex.id, ['a']));
      expect((await executions.getExecution(ex.id))!.projectId).toBe('p9');
      const h = `sha256:${'3'.repeat(64)}`;
      await executions.transitionJob(`${ex.id}.a`, 'queued');
      await executions.transitionJob(`${ex.id}.a`, 'running');
      await executions.completeJob(`${ex.id}.a`, 'success', [
        { name: 'out', hash: h, size: 1, serializer: 'pickle', pyType: 'int' },
      ]);
      expect(await executions.countOutputsWithHash(h)).toBe(1);
      expect(await executions.listOutputsWithHash(h)).toEqual([
        { jobId: `${ex.id}.a`, name: 'out', hash: h, size: 1, serializer: 'pickle', pyType: 'int' },
      ]);
      expect(await executions.listOutputsWithHash(`sha256:${'4'.repeat(64)}`)).toEqual([]);
      expect((await executions.countJobsByStatus([ex.id])).get(ex.id)).toEqual({ success: 1 });
      expect(await executions.deleteExecution(ex.id)).toBe(true);
      expect(await executions.getExecution(ex.id)).toBeUndefined();
      expect(await executions.listJobs(ex.id)).toEqual([]);
      expect(await executions.countOutputsWithHash(h)).toBe(0);
      expect(await executions.listOutputsWithHash(h)).toEqual([]);
      expect(await executions.deleteExecution(ex.id)).toBe(false);
    });

    it('keeps executions and jobs across a reopen', async () => {
      const ex = newExecution();
      await executions.insertExecution(ex, jobsFor(ex.id, ['a']));
      await executions.transitionJob(`${ex.id}.a`, 'queued');
      executions = (await h.reopen()).executions;
      expect((await executions.getExecution(ex.id))!.snapshot).toEqual(ex.snapshot);
      expect((await executions.getJob(`${ex.id}.a`))!.status).toBe('queued');
      expect((await executions.listJobsByStatus(['queued'])).map((j) => j.id)).toEqual([`${ex.id}.a`]);
    });
  });
}
