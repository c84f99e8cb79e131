import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { StoreHarness } from './store.harness.js';
import type { WorkerStore, WorkerTokenRecord } from './worker.store.js';

const TIMEOUT = 1000;

function token(id: string, overrides: Partial<WorkerTokenRecord> = {}): WorkerTokenRecord {
  return {
    id,
    name: `w-${id}`,
    tokenHash: `hash-${id}`,
    prefix: 'dfw_abc',
    createdAt: 1,
    createdBy: 'admin',
    lastUsedAt: null,
    revokedAt: null,
    ...overrides,
  };
}

const gpuWorker = { workerId: 'w-gpu', tokenId: 't1', labels: ['gpu', 'a100'] };
const cpuWorker = { workerId: 'w-cpu', tokenId: 't2', labels: [] };

/** The behaviour every WorkerStore adapter must have. Call it in a test file with the adapter's harness. */
export function describeWorkerStoreConformance(name: string, create: () => Promise<StoreHarness>): void {
  describe(`WorkerStore conformance: ${name}`, () => {
    let h: StoreHarness;
    let workers: WorkerStore;
    beforeEach(async () => {
      h = await create();
      workers = h.stores.workers;
    });
    afterEach(async () => {
      await h.cleanup();
    });

    it('keeps worker tokens by hash, revokes them once, and keeps them across a reopen', async () => {
      await workers.insertWorkerToken(token('t1'));
      await workers.insertWorkerToken(token('t2', { createdAt: 2 }));
      await expect(workers.insertWorkerToken(token('t3', { tokenHash: 'hash-t1' }))).rejects.toThrow();
      expect((await workers.getWorkerTokenByHash('hash-t2'))?.id).toBe('t2');
      expect(await workers.getWorkerTokenByHash('nope')).toBeUndefined();
      await workers.touchWorkerToken('t1', 5);
      expect(await workers.revokeWorkerToken('t2', 9)).toBe(true);
      expect(await workers.revokeWorkerToken('t2', 10)).toBe(false);
      expect(await workers.revokeWorkerToken('nobody', 10)).toBe(false);
      workers = (await h.reopen()).workers;
      expect(await workers.listWorkerTokens()).toEqual([
        token('t1', { lastUsedAt: 5 }),
        token('t2', { createdAt: 2, revokedAt: 9 }),
      ]);
      expect(await workers.getWorkerToken('t2')).toEqual(token('t2', { createdAt: 2, revokedAt: 9 }));
    });

    it('leases the longest-queued job a worker has the labels for, with the next epoch', async () => {
      await workers.enqueueJob('j-gpu', ['gpu'], 1);
      await workers.enqueueJob('j-any', [], 2);
      const a = await workers.leaseNext(cpuWorker, 10, TIMEOUT);
      expect(a).toMatchObject({
        jobId: 'j-any',
        epoch: 1,
        state: 'leased',
        workerId: 'w-cpu',
        expiresAt: 1010,
      });
      expect(await workers.leaseNext(cpuWorker, 10, TIMEOUT)).toBeUndefined();
      const b = await workers.leaseNext(gpuWorker, 11, TIMEOUT);
      expect(b).toMatchObject({ jobId: 'j-gpu', epoch: 1, labels: ['gpu'], tokenId: 't1' });
      expect(await workers.leaseNext(gpuWorker, 11, TIMEOUT)).toBeUndefined();
      // Restricted to some jobs.
      await workers.enqueueJob('j-x', [], 12);
      await workers.enqueueJob('j-y', [], 13);
      expect((await workers.leaseNext(cpuWorker, 14, TIMEOUT, ['j-y']))?.jobId).toBe('j-y');
      expect(await workers.leaseNext(cpuWorker, 14, TIMEOUT, [])).toBeUndefined();
      expect((await workers.listLeases()).map((l) => [l.jobId, l.state])).toEqual([
        ['j-gpu', 'leased'],
        ['j-any', 'leased'],
        ['j-x', 'queued'],
        ['j-y', 'leased'],
      ]);
    });

    it('never leases one job to two workers asking at once', async () => {
      for (let i = 0; i < 20; i++) await workers.enqueueJob(`j${String(i).padStart(2, '0')}`, [], i);
      const askers = Array.from({ length: 8 }, (_, w) => ({ workerId: `w${w}`, tokenId: 't', labels: [] }));
      const got: string[] = [];
      await Promise.all(
        askers.map(async (w) => {
          for (;;) {
            const l = await workers.leaseNext(w, 100, TIMEOUT);
            if (!l) return;
            got.push(l.jobId);
          }
        }),
      );
      expect(got.sort()).toEqual(Array.from({ length: 20 }, (_, i) => `j${String(i).padStart(2, '0')}`));
    });

    it('leases a batch of jobs in one call: queued ones only, each once, to workers with their labels', async () => {
      await workers.enqueueJobs(
        [
          { jobId: 'b1', labels: [] },
          { jobId: 'b2', labels: ['gpu'] },
          { jobId: 'b3', labels: [] },
          { jobId: 'b4', labels: [] },
        ],
        5,
      );
      await workers.enqueueJobs([], 6);
      expect((await workers.listLeases()).map((l) => [l.jobId, l.state, l.queuedAt])).toEqual([
        ['b1', 'queued', 5],
        ['b2', 'queued', 5],
        ['b3', 'queued', 5],
        ['b4', 'queued', 5],
      ]);
      expect(await workers.leaseNext(cpuWorker, 7, TIMEOUT, ['b4'])).toMatchObject({ jobId: 'b4', epoch: 1 });
      const granted = await workers.leaseJobs(
        [
          { jobId: 'b3', candidate: cpuWorker },
          // The CPU worker lacks the label: not leased to it (the GPU worker gets it below).
          { jobId: 'b2', candidate: cpuWorker },
          { jobId: 'b1', candidate: gpuWorker },
          // Named twice: leased once, to the first.
          { jobId: 'b3', candidate: gpuWorker },
          // Leased already, or never queued.
          { jobId: 'b4', candidate: gpuWorker },
          { jobId: 'nope', candidate: cpuWorker },
        ],
        10,
        TIMEOUT,
      );
      expect(granted.map((l) => [l.jobId, l.workerId, l.epoch, l.expiresAt])).toEqual([
        ['b3', 'w-cpu', 1, 1010],
        ['b1', 'w-gpu', 1, 1010],
      ]);
      expect(await workers.leaseJobs([], 11, TIMEOUT)).toEqual([]);
      expect(
        (await workers.leaseJobs([{ jobId: 'b2', candidate: gpuWorker }], 12, TIMEOUT)).map((l) => l.tokenId),
      ).toEqual(['t1']);
      expect((await workers.listLeases()).map((l) => [l.jobId, l.state, l.workerId])).toEqual([
        ['b1', 'leased', 'w-gpu'],
        ['b2', 'leased', 'w-gpu'],
        ['b3', 'leased', 'w-cpu'],
        ['b4', 'leased', 'w-cpu'],
      ]);
      // Completions in one call, each fenced as completeLease is.
      expect(
        await workers.completeLeases([
          { jobId: 'b3', epoch: 1, workerId: 'w-cpu' },
          { jobId: 'b1', epoch: 1, workerId: 'w-cpu' },
          { jobId: 'b2', epoch: 0, workerId: 'w-gpu' },
          { jobId: 'b2', epoch: 1, workerId: 'w-gpu' },
          { jobId: 'b2', epoch: 1, workerId: 'w-gpu' },
        ]),
      ).toEqual([true, false, false, true, false]);
      expect(await workers.completeLeases([])).toEqual([]);
      expect((await workers.listLeases()).map((l) => [l.jobId, l.state])).toEqual([
        ['b1', 'leased'],
        ['b2', 'done'],
        ['b3', 'done'],
        ['b4', 'leased'],
      ]);
    });

    it('writes a round (queue, complete, lease) in one transaction, each part as its batch form', async () => {
      await workers.enqueueJobs(
        [
          { jobId: 'r1', labels: [] },
          { jobId: 'r2', labels: [] },
        ],
        1,
      );
      const first = await workers.leaseJobs(
        [
          { jobId: 'r1', candidate: cpuWorker },
          { jobId: 'r2', candidate: cpuWorker },
        ],
        2,
        TIMEOUT,
      );
      expect(first.map((l) => l.epoch)).toEqual([1, 1]);
      const round = await workers.writeRound(
        {
          // Queued in the round and leased in it; r2 queued again (a new attempt): its lease is fenced out.
          enqueue: [
            { jobId: 'r3', labels: ['gpu'] },
            { jobId: 'r4', labels: [] },
            { jobId: 'r2', labels: [] },
          ],
          complete: [
            { jobId: 'r1', epoch: 1, workerId: 'w-cpu' },
            { jobId: 'r1', epoch: 1, workerId: 'w-cpu' },
            { jobId: 'r2', epoch: 1, workerId: 'w-cpu' },
          ],
          lease: [
            // The CPU worker lacks the label; the GPU worker gets r3 and r2 (under epoch 2); r1 is done.
            { jobId: 'r3', candidate: cpuWorker },
            { jobId: 'r3', candidate: gpuWorker },
            { jobId: 'r2', candidate: gpuWorker },
            { jobId: 'r1', candidate: cpuWorker },
          ],
        },
        10,
        TIMEOUT,
      );
      expect(round.completed).toEqual([true, false, false]);
      expect(round.leases.map((l) => [l.jobId, l.workerId, l.epoch, l.expiresAt])).toEqual([
        ['r3', 'w-gpu', 1, 1010],
        ['r2', 'w-gpu', 2, 1010],
      ]);
      expect((await workers.listLeases()).map((l) => [l.jobId, l.state, l.epoch])).toEqual([
        ['r1', 'done', 1],
        ['r2', 'leased', 2],
        ['r3', 'leased', 1],
        ['r4', 'queued', 0],
      ]);
      expect(await workers.writeRound({ enqueue: [], complete: [], lease: [] }, 11, TIMEOUT)).toEqual({
        completed: [],
        leases: [],
      });
      // A part that fails takes the whole round back: nothing of it is written.
      await expect(
        workers.writeRound(
          {
            enqueue: [{ jobId: 'r5', labels: [] }],
            complete: [{ jobId: 'r2', epoch: 2, workerId: 'w-gpu' }],
            lease: [{ jobId: 'r4', candidate: null as unknown as typeof cpuWorker }],
          },
          12,
          TIMEOUT,
        ),
      ).rejects.toThrow();
      expect((await workers.listLeases()).map((l) => [l.jobId, l.state])).toEqual([
        ['r1', 'done'],
        ['r2', 'leased'],
        ['r3', 'leased'],
        ['r4', 'queued'],
      ]);
    });

    it('never leases one job twice when batches ask for the same jobs at once', async () => {
      const ids = Array.from({ length: 40 }, (_, i) => `c${String(i).padStart(2, '0')}`);
      await workers.enqueueJobs(
        ids.map((jobId) => ({ jobId, labels: [] })),
        1,
      );
      const batch = (candidate: typeof cpuWorker, order: string[]) =>
        workers.leaseJobs(
          order.map((jobId) => ({ jobId, candidate })),
          2,
          TIMEOUT,
        );
      const results = await Promise.all([
        batch(cpuWorker, ids),
        batch({ ...gpuWorker, labels: [] }, [...ids].reverse()),
        batch({ workerId: 'w-3', tokenId: 't3', labels: [] }, ids.slice(10, 30)),
      ]);
      const leased = results.flat().map((l) => l.jobId);
      expect([...leased].sort()).toEqual(ids);
      const leases = await workers.listLeases();
      expect(leases.every((l) => l.state === 'leased' && l.epoch === 1)).toBe(true);
    });

    it('renews leases by heartbeat only for the worker and epoch that hold them', async () => {
      await workers.enqueueJob('j1', [], 1);
      const l = (await workers.leaseNext(cpuWorker, 10, TIMEOUT))!;
      expect(
        await workers.renewLeases(
          'w-cpu',
          [
            { jobId: 'j1', epoch: l.epoch },
            { jobId: 'j1', epoch: l.epoch + 1 },
            { jobId: 'nope', epoch: 1 },
          ],
          500,
          TIMEOUT,
        ),
      ).toEqual([{ jobId: 'j1', epoch: 1 }]);
      expect(await workers.renewLeases('w-other', [{ jobId: 'j1', epoch: 1 }], 600, TIMEOUT)).toEqual([]);
      expect((await workers.getLease('j1'))?.expiresAt).toBe(1500);
      // Renewed in time: not expired at 1200.
      expect(await workers.expireLeases(1200, 'queued')).toEqual([]);
    });

    it('queues a batch again: a leased job goes back to the queue, its epoch kept; a job given twice once', async () => {
      await workers.enqueueJobs([{ jobId: 'r1', labels: ['gpu'] }], 1);
      const held = (await workers.leaseNext(gpuWorker, 2, TIMEOUT))!;
      expect(held).toMatchObject({ jobId: 'r1', epoch: 1, state: 'leased' });
      await workers.enqueueJobs(
        [
          { jobId: 'r2', labels: ['gpu', 'a100', 'gpu'] },
          { jobId: 'r1', labels: ['gpu'] },
          { jobId: 'r2', labels: [] },
        ],
        3,
      );
      expect(await workers.getLeases(['r1', 'r2'])).toEqual([
        expect.objectContaining({ state: 'queued', epoch: 1, queuedAt: 3, workerId: null, expiresAt: null }),
        expect.objectContaining({ state: 'queued', epoch: 0, queuedAt: 3, labels: [] }),
      ]);
      // The worker that held r1 is fenced out; the next lease is newer.
      expect(await workers.completeLease('r1', 1, gpuWorker.workerId)).toBe(false);
      expect((await workers.leaseNext(gpuWorker, 4, TIMEOUT, ['r1']))?.epoch).toBe(2);
    });

    it('reads many leases at once, one answer per id in order (repeats and unknown ids too)', async () => {
      const ids = Array.from({ length: 1203 }, (_, i) => `m${i}`);
      await workers.enqueueJobs(
        ids.map((jobId) => ({ jobId, labels: [] })),
        5,
      );
      const leased = (await workers.leaseNext(cpuWorker, 10, TIMEOUT))!;
      const asked = ['nope', ...ids, leased.jobId, 'm7', 'also-nope'];
      const got = await workers.getLeases(asked);
      expect(got).toHaveLength(asked.length);
      expect(got[0]).toBeUndefined();
      expect(got[got.length - 1]).toBeUndefined();
      for (const [i, id] of asked.entries()) {
        if (!id.startsWith('m')) continue;
        expect(got[i]).toEqual(await workers.getLease(id));
      }
      expect(got.filter((l) => l?.state === 'leased').map((l) => l!.jobId)).toEqual([
        leased.jobId,
        leased.jobId,
      ]);
      expect(await workers.getLeases([])).toEqual([]);
    });

    it('re-queues an expired lease; the next lease fences out the lost worker', async () => {
      await workers.enqueueJob('j1', ['gpu'], 1);
      const first = (await workers.leaseNext(gpuWorker, 10, TIMEOUT))!;
      const expired = await workers.expireLeases(2000, 'queued');
      expect(expired).toEqual([first]);
      expect(await workers.getLease('j1')).toMatchObject({ state: 'queued', epoch: 1, queuedAt: 2000 });
      // The lost worker's heartbeat and result are refused from now on.
      expect(await workers.renewLeases('w-gpu', [{ jobId: 'j1', epoch: 1 }], 2001, TIMEOUT)).toEqual([]);
      expect(await workers.completeLease('j1', 1, 'w-gpu')).toBe(false);
      const other = { workerId: 'w-gpu2', tokenId: 't9', labels: ['gpu'] };
      const second = (await workers.leaseNext(other, 2002, TIMEOUT))!;
      expect(second.epoch).toBe(2);
      // Even once it asks again after the job was leased elsewhere.
      expect(await workers.completeLease('j1', 1, 'w-gpu')).toBe(false);
      expect(await workers.completeLease('j1', 2, 'w-gpu')).toBe(false);
      expect(await workers.completeLease('j1', 2, 'w-gpu2')).toBe(true);
      expect(await workers.getLease('j1')).toMatchObject({ state: 'done', epoch: 2, workerId: 'w-gpu2' });
      expect(await workers.completeLease('j1', 2, 'w-gpu2')).toBe(false);
      // A later attempt of the job (a resume) is leased under a newer epoch still.
      await workers.enqueueJob('j1', ['gpu'], 3000);
      expect((await workers.leaseNext(other, 3001, TIMEOUT))?.epoch).toBe(3);
    });

    it('marks an expired lease lost when jobs are not to run again, and queues a lost job with its epoch', async () => {
      await workers.enqueueJob('j1', [], 1);
      await workers.leaseNext(cpuWorker, 10, TIMEOUT);
      expect((await workers.expireLeases(5000, 'lost')).map((l) => [l.jobId, l.workerId, l.epoch])).toEqual([
        ['j1', 'w-cpu', 1],
      ]);
      expect(await workers.getLease('j1')).toMatchObject({ state: 'lost', epoch: 1 });
      expect(await workers.leaseNext(cpuWorker, 5001, TIMEOUT)).toBeUndefined();
      expect(await workers.completeLease('j1', 1, 'w-cpu')).toBe(false);
      expect(await workers.expireLeases(9000, 'queued')).toEqual([]);
      await workers.enqueueJob('j1', [], 6000);
      expect((await workers.leaseNext(cpuWorker, 6001, TIMEOUT))?.epoch).toBe(2);
    });

    it('queues a job again for a new attempt whatever its state, keeping its epoch to fence out earlier holders', async () => {
      await workers.enqueueJob('j1', ['gpu'], 1);
      expect((await workers.leaseNext(gpuWorker, 2, TIMEOUT))?.epoch).toBe(1);
      // An engine restarted the job while a worker still held lease 1 (a server that died and came back).
      await workers.enqueueJob('j1', [], 3);
      expect(await workers.getLease('j1')).toMatchObject({
        state: 'queued',
        epoch: 1,
        labels: [],
        workerId: null,
      });
      expect(await workers.renewLeases('w-gpu', [{ jobId: 'j1', epoch: 1 }], 4, TIMEOUT)).toEqual([]);
      expect(await workers.completeLease('j1', 1, 'w-gpu')).toBe(false);
      expect((await workers.leaseNext(gpuWorker, 5, TIMEOUT))?.epoch).toBe(2);
      // Queued twice: still one record, the labels of the last call.
      await workers.enqueueJob('j2', ['a'], 6);
      await workers.enqueueJob('j2', ['b'], 7);
      expect((await workers.listLeases()).filter((l) => l.jobId === 'j2').map((l) => l.labels)).toEqual([
        ['b'],
      ]);
    });

    it('keeps leases across a reopen, and removed ones as done with their epoch', async () => {
      await workers.enqueueJob('j1', ['b', 'a', 'a'], 1);
      await workers.enqueueJob('j2', [], 2);
      await workers.leaseNext(cpuWorker, 3, TIMEOUT);
      workers = (await h.reopen()).workers;
      expect(await workers.listLeases()).toEqual([
        {
          jobId: 'j1',
          epoch: 0,
          state: 'queued',
          labels: ['a', 'b'],
          queuedAt: 1,
          workerId: null,
          tokenId: null,
          leasedAt: null,
          expiresAt: null,
        },
        {
          jobId: 'j2',
          epoch: 1,
          state: 'leased',
          labels: [],
          queuedAt: 2,
          workerId: 'w-cpu',
          tokenId: 't2',
          leasedAt: 3,
          expiresAt: 1003,
        },
      ]);
      await workers.removeLease('j2');
      await workers.removeLease('nothing');
      expect((await workers.listLeases()).map((l) => [l.jobId, l.state, l.epoch])).toEqual([
        ['j1', 'queued', 0],
        ['j2', 'done', 1],
      ]);
      expect(await workers.renewLeases('w-cpu', [{ jobId: 'j2', epoch: 1 }], 4, TIMEOUT)).toEqual([]);
      expect(await workers.completeLease('j2', 1, 'w-cpu')).toBe(false);
    });
  });
}
