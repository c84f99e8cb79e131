import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { IllegalTransitionError } from '../errors.js';
import type { ExecutionStore, NewExecution, NewJob } from './execution.store.js';

export interface StoreHarness {
  store: ExecutionStore;
  /** Closes the store and opens the same database again, to check what survives. */
  reopen(): Promise<ExecutionStore>;
  cleanup(): Promise<void>;
}

let counter = 0;
function execution(overrides: Partial<NewExecution> = {}): NewExecution {
  counter++;
  return {
    id: `ex${String(counter).padStart(4, '0')}${Math.random().toString(36).slice(2, 8)}`,
    name: `run ${counter}`,
    project: 'proj',
    pipeline: 'pipe',
    status: 'pending',
    createdAt: 1_700_000_000_000 + counter,
    options: { cache: true },
    snapshot: { pipeline: { name: 'pipe', nodes: [] }, attributes: { a: { x: 1 } } },
    ...overrides,
  };
}

function jobsFor(executionId: string, nodes: string[]): NewJob[] {
  return nodes.map((node) => ({ id: `${executionId}.${node}`, executionId, node, operation: `Op_${node}` }));
}

/** The behaviour every ExecutionStore adapter must have. Call it in a test file with the adapter's factory. */
export function describeExecutionStoreConformance(name: string, create: () => Promise<StoreHarness>): void {
  describe(`ExecutionStore conformance: ${name}`, () => {
    let h: StoreHarness;
    let store: ExecutionStore;
    beforeEach(async () => {
      h = await create();
      store = h.store;
    });
    afterEach(async () => {
      await h.cleanup();
    });

    it('stores an execution with its jobs, pending, in pipeline order', async () => {
      const ex = execution();
      const rec = await store.insertExecution(ex, jobsFor(ex.id, ['c', 'a', 'b']));
      expect(rec).toMatchObject({
        id: ex.id,
        status: 'pending',
        startedAt: null,
        endedAt: null,
        runnerId: null,
      });
      expect(rec.snapshot).toEqual(ex.snapshot);
      expect(rec.options).toEqual({ cache: true });
      const jobs = await store.listJobs(ex.id);
      expect(jobs.map((j) => j.node)).toEqual(['c', 'a', 'b']);
      expect(jobs.every((j) => j.status === 'pending' && j.attempt === 0 && j.error === null)).toBe(true);
      expect(await store.getExecution('nope')).toBeUndefined();
    });

    it('inserts nothing when a job cannot be stored', async () => {
      const ex = execution();
      const dup = jobsFor(ex.id, ['a', 'a']);
      await expect(store.insertExecution(ex, dup)).rejects.toThrow();
      expect(await store.getExecution(ex.id)).toBeUndefined();
    });

    it('lists executions newest first with limit and offset, and finds ids by prefix', async () => {
      const made = [];
      for (let i = 0; i < 5; i++) made.push(await store.insertExecution(execution(), []));
      const page = await store.listExecutions({ limit: 2, offset: 1 });
      expect(page.map((e) => e.id)).toEqual([made[3]!.id, made[2]!.id]);
      const ids = await store.findExecutionIds(made[0]!.id.slice(0, 6), 10);
      expect(ids).toContain(made[0]!.id);
      expect(await store.findExecutionIds('%', 10)).toEqual([]);
      expect((await store.listExecutionsByStatus(['pending'])).length).toBe(5);
    });

    it('moves jobs only along legal transitions and keeps what came with them', async () => {
      const ex = execution();
      await store.insertExecution(ex, jobsFor(ex.id, ['a']));
      const id = `${ex.id}.a`;
      await store.transitionJob(id, 'queued', { runnerId: 'r1' });
      const running = await store.transitionJob(id, 'running', {
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
      const failed = await store.transitionJob(id, 'failed', {
        endedAt: 9,
        exitCode: 1,
        error: { kind: 'exception', message: 'ZeroDivisionError: division by zero', traceback: 'Traceback…' },
      });
      expect(failed.error).toEqual({
        kind: 'exception',
        message: 'ZeroDivisionError: division by zero',
        traceback: 'Traceback…',
      });
      await expect(store.transitionJob(id, 'success')).rejects.toBeInstanceOf(IllegalTransitionError);
      await expect(store.transitionJob(id, 'running')).rejects.toThrow(/cannot go from failed to running/);
      expect((await store.getJob(id))!.status).toBe('failed');
      // Resume.
      await store.transitionJob(id, 'pending', { error: null, exitCode: null });
      expect(await store.getJob(id)).toMatchObject({
        status: 'pending',
        error: null,
        exitCode: null,
        attempt: 1,
      });
    });

    it('rejects skipping states', async () => {
      const ex = execution();
      await store.insertExecution(ex, jobsFor(ex.id, ['a']));
      const id = `${ex.id}.a`;
      await expect(store.transitionJob(id, 'success')).rejects.toBeInstanceOf(IllegalTransitionError);
      await expect(store.transitionJob(id, 'running')).rejects.toBeInstanceOf(IllegalTransitionError);
      await expect(store.transitionJob('missing', 'queued')).rejects.toThrow(/no job missing/);
      await expect(store.transitionJob(id, 'queued', {}, { from: ['running'] })).rejects.toThrow(
        /expected running/,
      );
    });

    it('lets only one of two concurrent movers win', async () => {
      const ex = execution();
      await store.insertExecution(ex, jobsFor(ex.id, ['a']));
      const id = `${ex.id}.a`;
      await store.transitionJob(id, 'queued');
      const results = await Promise.allSettled([
        store.transitionJob(id, 'running', { runnerId: 'r1' }, { from: ['queued'] }),
        store.transitionJob(id, 'running', { runnerId: 'r2' }, { from: ['queued'] }),
      ]);
      expect(results.filter((r) => r.status === 'fulfilled').length).toBe(1);
    });

    it('completes a job together with its outputs, or not at all', async () => {
      const ex = execution();
      await store.insertExecution(ex, jobsFor(ex.id, ['a', 'b']));
      const a = `${ex.id}.a`;
      await store.transitionJob(a, 'queued');
      await store.transitionJob(a, 'running');
      const hash = `sha256:${'ab'.repeat(32)}`;
      const done = await store.completeJob(
        a,
        'success',
        [{ name: 'x', hash, size: 3, serializer: 'pickle', pyType: 'builtins.int' }],
        { endedAt: 10, exitCode: 0, cacheKey: 'k1' },
      );
      expect(done).toMatchObject({ status: 'success', endedAt: 10, cacheKey: 'k1' });
      expect(await store.listJobOutputs(a)).toEqual([
        { jobId: a, name: 'x', hash, size: 3, serializer: 'pickle', pyType: 'builtins.int' },
      ]);
      // b is pending: success is not a legal next state, and no outputs may appear.
      const b = `${ex.id}.b`;
      await expect(
        store.completeJob(b, 'success', [
          { name: 'y', hash, size: 3, serializer: 'pickle', pyType: 'builtins.int' },
        ]),
      ).rejects.toBeInstanceOf(IllegalTransitionError);
      expect(await store.listJobOutputs(b)).toEqual([]);
      expect((await store.listExecutionOutputs(ex.id)).map((o) => o.name)).toEqual(['x']);
      // Cached jobs reuse outputs without being cache candidates themselves.
      await store.completeJob(
        b,
        'cached',
        [{ name: 'x', hash, size: 3, serializer: 'pickle', pyType: 'int' }],
        {
          cacheKey: 'k1',
          cachedFrom: a,
        },
      );
      const hits = await store.findCacheCandidates('k1', 5);
      expect(hits.map((c) => c.job.id)).toEqual([a]);
      expect(hits[0]!.outputs[0]!.hash).toBe(hash);
      expect(await store.findCacheCandidates('k2', 5)).toEqual([]);
    });

    it('changes executions along legal transitions, optionally only for their runner', async () => {
      const ex = execution();
      await store.insertExecution(ex, []);
      const running = await store.updateExecution(ex.id, { status: 'running', startedAt: 3, runnerId: 'r1' });
      expect(running).toMatchObject({ status: 'running', startedAt: 3, runnerId: 'r1' });
      expect(await store.updateExecution(ex.id, { runnerId: 'r3' }, { expectRunner: 'r2' })).toBeUndefined();
      expect((await store.getExecution(ex.id))!.runnerId).toBe('r1');
      const claimed = await store.updateExecution(ex.id, { runnerId: 'r2' }, { expectRunner: 'r1' });
      expect(claimed!.runnerId).toBe('r2');
      await store.updateExecution(ex.id, { status: 'failed', endedAt: 4, runnerId: null });
      await expect(store.updateExecution(ex.id, { status: 'success' })).rejects.toBeInstanceOf(
        IllegalTransitionError,
      );
      const resumed = await store.updateExecution(ex.id, { status: 'running', options: { cache: false } });
      expect(resumed).toMatchObject({ status: 'running', options: { cache: false } });
      await store.updateExecution(ex.id, { status: 'success' });
      await expect(store.updateExecution(ex.id, { status: 'running' })).rejects.toBeInstanceOf(
        IllegalTransitionError,
      );
    });

    it('keeps artifacts with provenance and finds them by name, hash prefix and id prefix', async () => {
      const h1 = `sha256:${'1'.repeat(64)}`;
      const h2 = `sha256:${'2'.repeat(64)}`;
      const first = await store.insertArtifact({
        name: 'data',
        hash: h1,
        size: 10,
        serializer: 'pickle',
        pyType: 'numpy.ndarray',
        createdAt: 100,
        provenance: { kind: 'import', source: '/tmp/data.pkl' },
      });
      const second = await store.insertArtifact({
        name: 'data',
        hash: h2,
        size: 20,
        serializer: 'pickle',
        pyType: null,
        createdAt: 200,
        provenance: { kind: 'execution', executionId: 'e1', jobId: 'e1.n', node: 'n', output: 'out' },
      });
      await store.insertArtifact({
        name: 'other',
        hash: h1,
        size: 10,
        serializer: 'pickle',
        pyType: null,
        createdAt: 150,
        provenance: { kind: 'upload' },
      });
      expect((await store.getLatestArtifact('data'))!.id).toBe(second.id);
      expect(await store.listArtifactNames()).toEqual(['data', 'other']);
      expect(await store.getLatestArtifact('nothing')).toBeUndefined();
      expect((await store.listArtifacts()).map((a) => a.createdAt)).toEqual([200, 150, 100]);
      expect((await store.listArtifacts({ name: 'data' })).map((a) => a.id)).toEqual([second.id, first.id]);
      expect((await store.findArtifactsByHashPrefix('111', 10)).map((a) => a.name)).toEqual([
        'other',
        'data',
      ]);
      expect(await store.findArtifactsByHashPrefix('_', 10)).toEqual([]);
      // Content over 8 MiB has a sha256t: id (docs/adr/0006): a bare hex prefix finds both schemes.
      const h3 = `sha256t:${'1'.repeat(64)}`;
      await store.insertArtifact({
        name: 'big',
        hash: h3,
        size: 9 << 20,
        serializer: 'numpy.ndarray',
        pyType: null,
        createdAt: 300,
        provenance: { kind: 'upload' },
      });
      const names = async (prefix: string): Promise<string[]> =>
        (await store.findArtifactsByHashPrefix(prefix, 10)).map((a) => a.name);
      expect(await names('111')).toEqual(['big', 'other', 'data']);
      expect(await names('sha256:111')).toEqual(['other', 'data']);
      expect(await names('sha256t:111')).toEqual(['big']);
      expect(await names(h3)).toEqual(['big']);
      expect(await names(h1)).toEqual(['other', 'data']);
      expect(await names('sha256t:222')).toEqual([]);
      expect(await names('md5:111')).toEqual([]);
      expect(await names('sha256t:1%')).toEqual([]);
      expect((await store.findArtifactsByIdPrefix(first.id.slice(0, 8), 10))[0]!.id).toBe(first.id);
      expect((await store.getArtifact(second.id))!.provenance).toEqual({
        kind: 'execution',
        executionId: 'e1',
        jobId: 'e1.n',
        node: 'n',
        output: 'out',
      });
    });

    it('scopes artifacts by project, counts hash uses and forgets artifacts', async () => {
      const h = `sha256:${'2'.repeat(64)}`;
      const base = {
        hash: h,
        size: 5,
        serializer: 'pickle',
        pyType: null,
        provenance: { kind: 'upload' } as const,
      };
      const cli = await store.insertArtifact({ ...base, name: 'data', createdAt: 10 });
      const p1 = await store.insertArtifact({ ...base, name: 'data', projectId: 'p1', createdAt: 20 });
      await store.insertArtifact({ ...base, name: 'Other_%', projectId: 'p1', createdAt: 30 });
      expect(cli.projectId).toBe('');
      expect((await store.getLatestArtifact('data', ''))!.id).toBe(cli.id);
      expect((await store.getLatestArtifact('data', 'p1'))!.id).toBe(p1.id);
      expect((await store.getLatestArtifact('data'))!.id).toBe(p1.id);
      expect(await store.getLatestArtifact('data', 'p2')).toBeUndefined();
      expect(await store.listArtifactNames('p1')).toEqual(['Other_%', 'data']);
      expect(await store.countArtifacts({ projectId: 'p1' })).toBe(2);
      expect(await store.countArtifacts({ projectId: 'p1', search: 'other_%' })).toBe(1);
      expect(await store.countArtifacts({ search: '_%' })).toBe(1);
      expect((await store.listArtifacts({ projectId: 'p1', limit: 1, offset: 1 })).map((a) => a.id)).toEqual([
        p1.id,
      ]);
      expect(await store.countHashUses(h)).toBe(3);
      expect(await store.deleteArtifact(cli.id)).toBe(true);
      expect(await store.deleteArtifact(cli.id)).toBe(false);
      expect(await store.countHashUses(h)).toBe(2);
    });

    it('deletes an execution with its jobs and their outputs', async () => {
      const ex = execution({ projectId: 'p9' });
      await store.insertExecution(ex, jobsFor(ex.id, ['a']));
      expect((await store.getExecution(ex.id))!.projectId).toBe('p9');
      const h = `sha256:${'3'.repeat(64)}`;
      await store.transitionJob(`${ex.id}.a`, 'queued');
      await store.transitionJob(`${ex.id}.a`, 'running');
      await store.completeJob(`${ex.id}.a`, 'success', [
        { name: 'out', hash: h, size: 1, serializer: 'pickle', pyType: 'int' },
      ]);
      expect(await store.countHashUses(h)).toBe(1);
      expect((await store.countJobsByStatus([ex.id])).get(ex.id)).toEqual({ success: 1 });
      expect(await store.deleteExecution(ex.id)).toBe(true);
      expect(await store.getExecution(ex.id)).toBeUndefined();
      expect(await store.listJobs(ex.id)).toEqual([]);
      expect(await store.countHashUses(h)).toBe(0);
      expect(await store.deleteExecution(ex.id)).toBe(false);
    });

    it('keeps metrics, the latest plot per figure and the latest progress per bar', async () => {
      const ex = execution();
      await store.insertExecution(ex, jobsFor(ex.id, ['a']));
      const job = `${ex.id}.a`;
      await store.appendMetrics([
        { jobId: job, step: 0, name: 'loss', value: 1.5, t: 1 },
        { jobId: job, step: 1, name: 'loss', value: 0.5, t: 2 },
        { jobId: job, step: null, name: 'acc', value: 0.9, t: 3 },
      ]);
      expect((await store.listMetrics(job)).map((m) => [m.name, m.step, m.value])).toEqual([
        ['loss', 0, 1.5],
        ['loss', 1, 0.5],
        ['acc', null, 0.9],
      ]);
      await store.upsertPlots([{ jobId: job, figure: 1, seq: 1, payload: { title: 'one' }, t: 1 }]);
      await store.upsertPlots([
        { jobId: job, figure: 1, seq: 3, payload: { title: 'three' }, t: 3 },
        { jobId: job, figure: 2, seq: 1, payload: { title: 'other' }, t: 3 },
      ]);
      await store.upsertPlots([{ jobId: job, figure: 1, seq: 2, payload: { title: 'late two' }, t: 4 }]);
      expect((await store.listPlots(job)).map((p) => [p.figure, p.seq, p.payload.title])).toEqual([
        [1, 3, 'three'],
        [2, 1, 'other'],
      ]);
      await store.upsertProgress([{ jobId: job, bar: 'b', payload: { n: 1, total: 10 }, t: 1 }]);
      await store.upsertProgress([{ jobId: job, bar: 'b', payload: { n: 5, total: 10 }, t: 2 }]);
      expect((await store.listProgress(job)).map((p) => p.payload)).toEqual([{ n: 5, total: 10 }]);
      await store.clearTelemetry(job);
      expect(await store.listMetrics(job)).toEqual([]);
      expect(await store.listPlots(job)).toEqual([]);
      expect(await store.listProgress(job)).toEqual([]);
    });

    it('registers runners and their heartbeats', async () => {
      await store.registerRunner({ id: 'r1', pid: 42, host: 'h', startedAt: 1, heartbeatAt: 1 });
      expect(await store.heartbeatRunner('r1', 7)).toBe(true);
      expect(await store.listRunners()).toEqual([
        { id: 'r1', pid: 42, host: 'h', startedAt: 1, heartbeatAt: 7 },
      ]);
      await store.removeRunner('r1');
      expect(await store.heartbeatRunner('r1', 8)).toBe(false);
      expect(await store.listRunners()).toEqual([]);
    });

    it('keeps everything across a reopen', async () => {
      const ex = execution();
      await store.insertExecution(ex, jobsFor(ex.id, ['a']));
      await store.transitionJob(`${ex.id}.a`, 'queued');
      store = await h.reopen();
      expect((await store.getExecution(ex.id))!.snapshot).toEqual(ex.snapshot);
      expect((await store.getJob(`${ex.id}.a`))!.status).toBe('queued');
      expect((await store.listJobsByStatus(['queued'])).map((j) => j.id)).toEqual([`${ex.id}.a`]);
    });
  });
}
