import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { jobsFor, newExecution, type StoreHarness } from './store.harness.js';
import type { TelemetryStore } from './telemetry.store.js';

/** The behaviour every TelemetryStore adapter must have. Call it in a test file with the adapter's harness. */
export function describeTelemetryStoreConformance(name: string, create: () => Promise<StoreHarness>): void {
  describe(`TelemetryStore conformance: ${name}`, () => {
    let h: StoreHarness;
    let telemetry: TelemetryStore;
    /** Telemetry belongs to a job: one of a new execution. */
    const newJob = async (): Promise<string> => {
      const ex = newExecution();
      await h.stores.executions.insertExecution(ex, jobsFor(ex.id, ['a']));
      return `${ex.id}.a`;
    };
    beforeEach(async () => {
      h = await create();
      telemetry = h.stores.telemetry;
    });
    afterEach(async () => {
      await h.cleanup();
    });

    it('keeps metrics, the latest plot per figure and the latest progress per bar', async () => {
      const job = await newJob();
      await telemetry.appendMetrics([
        { jobId: job, step: 0, name: 'loss', value: 1.5, t: 1 },
        { jobId: job, step: 1, name: 'loss', value: 0.5, t: 2 },
        { jobId: job, step: null, name: 'acc', value: 0.9, t: 3 },
      ]);
      expect((await telemetry.listMetrics(job)).map((m) => [m.name, m.step, m.value])).toEqual([
        ['loss', 0, 1.5],
        ['loss', 1, 0.5],
        ['acc', null, 0.9],
      ]);
      await telemetry.upsertPlots([{ jobId: job, figure: 1, seq: 1, payload: { title: 'one' }, t: 1 }]);
      await telemetry.upsertPlots([
        { jobId: job, figure: 1, seq: 3, payload: { title: 'three' }, t: 3 },
        { jobId: job, figure: 2, seq: 1, payload: { title: 'other' }, t: 3 },
      ]);
      await telemetry.upsertPlots([{ jobId: job, figure: 1, seq: 2, payload: { title: 'late two' }, t: 4 }]);
      expect((await telemetry.listPlots(job)).map((p) => [p.figure, p.seq, p.payload.title])).toEqual([
        [1, 3, 'three'],
        [2, 1, 'other'],
      ]);
      await telemetry.upsertProgress([{ jobId: job, bar: 'b', payload: { n: 1, total: 10 }, t: 1 }]);
      await telemetry.upsertProgress([{ jobId: job, bar: 'b', payload: { n: 5, total: 10 }, t: 2 }]);
      expect((await telemetry.listProgress(job)).map((p) => p.payload)).toEqual([{ n: 5, total: 10 }]);
      await telemetry.clearTelemetry(job);
      expect(await telemetry.listMetrics(job)).toEqual([]);
      expect(await telemetry.listPlots(job)).toEqual([]);
      expect(await telemetry.listProgress(job)).toEqual([]);
    });

    it('refuses rows for a job that does not exist, and writes nothing of that batch', async () => {
      const job = await newJob();
      await expect(
        telemetry.appendMetrics([
          { jobId: job, step: 0, name: 'loss', value: 1, t: 1 },
          { jobId: 'no-such-job', step: 0, name: 'loss', value: 1, t: 1 },
        ]),
      ).rejects.toThrow();
      expect(await telemetry.listMetrics(job)).toEqual([]);
      await expect(
        telemetry.upsertPlots([{ jobId: 'no-such-job', figure: 1, seq: 1, payload: {}, t: 1 }]),
      ).rejects.toThrow();
      await expect(
        telemetry.upsertProgress([{ jobId: 'no-such-job', bar: 'b', payload: {}, t: 1 }]),
      ).rejects.toThrow();
    });

    it("forgets a job's telemetry with its execution", async () => {
      const job = await newJob();
      await telemetry.appendMetrics([{ jobId: job, step: 0, name: 'loss', value: 1, t: 1 }]);
      await telemetry.upsertPlots([{ jobId: job, figure: 1, seq: 1, payload: { title: 't' }, t: 1 }]);
      await telemetry.upsertProgress([{ jobId: job, bar: 'b', payload: { n: 1 }, t: 1 }]);
      expect(await h.stores.executions.deleteExecution(job.slice(0, job.indexOf('.')))).toBe(true);
      expect(await telemetry.listMetrics(job)).toEqual([]);
      expect(await telemetry.listPlots(job)).toEqual([]);
      expect(await telemetry.listProgress(job)).toEqual([]);
    });

    it('keeps telemetry across a reopen', async () => {
      const job = await newJob();
      await telemetry.appendMetrics([{ jobId: job, step: 3, name: 'acc', value: 0.25, t: 9 }]);
      telemetry = (await h.reopen()).telemetry;
      expect(await telemetry.listMetrics(job)).toEqual([
        { jobId: job, step: 3, name: 'acc', value: 0.25, t: 9 },
      ]);
    });
  });
}
