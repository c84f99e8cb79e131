import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { jobsFor, newExecution, type StoreHarness } from './store.harness.js';
import type { MetricRecord, MetricView, TelemetryStore } from './telemetry.store.js';

/** Per column of `size` points (by seq): count, first, last, min, max, worked out one point at a time. */
function bruteColumns(ys: number[], xs: number[], firstSeq: number, lastSeq: number, size: number) {
  const out = { n: [], firstX: [], firstY: [], lastX: [], lastY: [], minY: [], maxY: [] } as Record<
    string,
    number[]
  >;
  for (let c = Math.floor(firstSeq / size); c <= Math.floor(lastSeq / size); c++) {
    const seqs = [];
    for (let i = c * size; i < Math.min(ys.length, (c + 1) * size); i++) seqs.push(i);
    if (seqs.length === 0) continue;
    const values = seqs.map((i) => ys[i] as number);
    out.n!.push(seqs.length);
    out.firstX!.push(xs[seqs[0]!]!);
    out.firstY!.push(values[0]!);
    out.lastX!.push(xs[seqs.at(-1)!]!);
    out.lastY!.push(values.at(-1)!);
    out.minY!.push(Math.min(...values));
    out.maxY!.push(Math.max(...values));
  }
  return out;
}

const exactOf = (v: MetricView | undefined) => ({ x: [...(v?.exact?.x ?? [])], y: [...(v?.exact?.y ?? [])] });

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
      expect(await telemetry.listMetricSeries(job)).toEqual([]);
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
      expect(await telemetry.listMetricSeries(job)).toEqual([]);
      expect(await telemetry.listPlots(job)).toEqual([]);
      expect(await telemetry.listProgress(job)).toEqual([]);
    });

    it('answers a view with exact points while they fit, else per column count, first, last, min and max', async () => {
      const job = await newJob();
      // 20,000 points over steps 0, 2, 4, … with spikes, logged in uneven batches as the buffer writes them.
      const n = 20_000;
      const ys: number[] = [];
      const xs: number[] = [];
      let seed = 7;
      const rand = () => ((seed = (seed * 16807) % 2147483647) - 1) / 2147483646;
      for (let i = 0; i < n; i++) {
        xs.push(2 * i);
        ys.push(i % 997 === 0 ? 1e6 : i % 1009 === 0 ? -1e6 : rand());
      }
      for (const [a, b] of [
        [0, 1],
        [1, 4099],
        [4099, 4100],
        [4100, 17_001],
        [17_001, n],
      ] as const) {
        await telemetry.appendMetrics(
          xs.slice(a, b).map((x, i) => ({ jobId: job, step: x, name: 'loss', value: ys[a + i]!, t: 5 })),
        );
      }
      await telemetry.appendMetrics([{ jobId: job, step: null, name: 'lr', value: 0.1, t: 6 }]);
      expect(await telemetry.listMetricSeries(job)).toEqual([
        {
          name: 'loss',
          count: n,
          minX: 0,
          maxX: 2 * (n - 1),
          lastX: 2 * (n - 1),
          lastY: ys[n - 1],
          sorted: true,
        },
        { name: 'lr', count: 1, minX: 0, maxX: 0, lastX: 0, lastY: 0.1, sorted: true },
      ]);
      expect(await telemetry.readMetricView(job, 'nope', { width: 100 })).toBeUndefined();

      // A window of 1,000 steps holds 501 points: exact, in order.
      const zoom = await telemetry.readMetricView(job, 'loss', { from: 1000, to: 2000, width: 800 });
      expect(zoom).toMatchObject({ count: n, from: 1000, to: 2000, inRange: 501, partial: false });
      expect(exactOf(zoom)).toEqual({ x: xs.slice(500, 1001), y: ys.slice(500, 1001) });

      for (const [from, to, width] of [
        [undefined, undefined, 300],
        [undefined, undefined, 7],
        [1, 39_997, 1000],
        [123, 30_001, 64],
        [10_000, 12_000, 200],
      ] as const) {
        const view = await telemetry.readMetricView(job, 'loss', {
          ...(from !== undefined ? { from } : {}),
          ...(to !== undefined ? { to } : {}),
          width,
        });
        const first = Math.ceil((from ?? 0) / 2);
        const last = Math.floor((to ?? 2 * (n - 1)) / 2);
        expect(view?.inRange).toBe(last - first + 1);
        expect(view?.exact).toBeUndefined();
        expect(view!.columns!.n.length).toBeLessThanOrEqual(width);
        expect(view!.columns).toEqual(bruteColumns(ys, xs, first, last, view!.columnSize!));
      }
      // Nothing in range.
      expect(exactOf(await telemetry.readMetricView(job, 'loss', { from: 1.2, to: 1.8, width: 10 }))).toEqual(
        {
          x: [],
          y: [],
        },
      );
    });

    it('places a value logged without a step after the last one, and reads a series page by page', async () => {
      const job = await newJob();
      await telemetry.appendMetrics([
        { jobId: job, step: null, name: 'acc', value: 0.5, t: 1 },
        { jobId: job, step: null, name: 'acc', value: 0.6, t: 2 },
        { jobId: job, step: 10, name: 'acc', value: 0.7, t: 3 },
      ]);
      await telemetry.appendMetrics([{ jobId: job, step: null, name: 'acc', value: 0.8, t: 4 }]);
      expect(exactOf(await telemetry.readMetricView(job, 'acc', { width: 10 }))).toEqual({
        x: [0, 1, 10, 11],
        y: [0.5, 0.6, 0.7, 0.8],
      });
      expect(await telemetry.readMetricPoints(job, 'acc', 1, 2)).toEqual([
        { seq: 1, x: 1, step: null, value: 0.6, t: 2 },
        { seq: 2, x: 10, step: 10, value: 0.7, t: 3 },
      ]);
      expect(await telemetry.readMetricPoints(job, 'acc', 4, 10)).toEqual([]);
      expect(await telemetry.readMetricPoints(job, 'nope', 0, 10)).toEqual([]);
    });

    it('draws a series whose step went down in x order, in columns of equal x width', async () => {
      const job = await newJob();
      const rows: MetricRecord[] = [];
      for (let i = 0; i < 300; i++)
        rows.push({ jobId: job, step: (i * 37) % 300, name: 'm', value: i, t: i });
      await telemetry.appendMetrics(rows);
      const [info] = await telemetry.listMetricSeries(job);
      expect(info).toMatchObject({ count: 300, minX: 0, maxX: 299, sorted: false });
      const all = await telemetry.readMetricView(job, 'm', { width: 1000 });
      expect(exactOf(all).x).toEqual([...Array(300).keys()]);
      const narrow = await telemetry.readMetricView(job, 'm', { from: 0, to: 300, width: 10 });
      expect(narrow?.columns?.n).toEqual(Array(10).fill(30));
      // Column 0 holds x 0…29; its values are the i with (i·37) mod 300 = x.
      const values = rows.filter((r) => r.step! < 30).map((r) => r.value);
      expect(narrow?.columns?.minY[0]).toBe(Math.min(...values));
      expect(narrow?.columns?.maxY[0]).toBe(Math.max(...values));
    });

    it('reads every point back exactly, whatever the batches and the blocks they fall in', async () => {
      const job = await newJob();
      // Over four blocks of 1,024, in batches that end inside blocks, on their edges and one point long.
      const n = 4100;
      const rows: MetricRecord[] = [];
      for (let i = 0; i < n; i++)
        rows.push({
          jobId: job,
          name: 'bits',
          step: i % 5 === 2 ? null : i * 3 + 0.25,
          value:
            i === 7
              ? -0
              : i === 8
                ? Number.MIN_VALUE
                : i === 9
                  ? Number.MAX_VALUE
                  : i === 10
                    ? -Number.MAX_VALUE
                    : Math.cos(i) * 10 ** ((i % 60) - 30),
          t: 1_764_900_000_000 + i * 7 - (i % 3),
        });
      let from = 0;
      for (const size of [1, 1022, 1, 1, 1, 1023, 1024, 2, 1000, 25]) {
        await telemetry.appendMetrics(rows.slice(from, from + size));
        from += size;
      }
      expect(from).toBe(n);
      const back = [
        ...(await telemetry.readMetricPoints(job, 'bits', 0, 1500)),
        ...(await telemetry.readMetricPoints(job, 'bits', 1500, 10_000)),
      ];
      expect(back.length).toBe(n);
      let x = 0;
      const xs: number[] = [];
      for (let i = 0; i < n; i++) {
        const want = rows[i]!;
        x = want.step ?? x + 1;
        xs.push(x);
        const got = back[i]!;
        const same = [got.seq, got.x, got.step, got.value, got.t].every((v, k) =>
          Object.is(v, [i, x, want.step, want.value, want.t][k]),
        );
        if (!same)
          expect({ ...got, i }).toEqual({ seq: i, x, step: want.step, value: want.value, t: want.t, i });
      }
      // Every point again through the whole-job list (by time, then as logged).
      const listed = await telemetry.listMetrics(job);
      const byTime = rows.map((r, i) => ({ r, i })).sort((a, b) => a.r.t - b.r.t || a.i - b.i);
      expect(listed.length).toBe(n);
      expect(listed.every((m, k) => Object.is(m.value, byTime[k]!.r.value) && m.t === byTime[k]!.r.t)).toBe(
        true,
      );
      // Exact windows across block edges, and columns summarized from the points (finer than the pyramid).
      for (const [a, b] of [
        [1020, 1030],
        [0, 1023],
        [2047, 3073],
      ] as const) {
        const view = await telemetry.readMetricView(job, 'bits', { from: xs[a], to: xs[b], width: 4096 });
        expect(view?.inRange).toBe(b - a + 1);
        const exact = exactOf(view);
        expect(exact.x).toEqual(xs.slice(a, b + 1));
        expect(exact.y.every((v, k) => Object.is(v, rows[a + k]!.value))).toBe(true);
      }
      const ys = rows.map((r) => r.value);
      for (const width of [1000, 300, 20]) {
        const view = await telemetry.readMetricView(job, 'bits', { width });
        expect(view!.columns).toEqual(bruteColumns(ys, xs, 0, n - 1, view!.columnSize!));
      }
    });

    it('draws a long series whose step went down, from the blocks whose x range meets the view', async () => {
      const job = await newJob();
      const rows: MetricRecord[] = [];
      // Three passes over steps 0…1999: every block spans the whole x range.
      for (let i = 0; i < 6000; i++) rows.push({ jobId: job, step: i % 2000, name: 'm', value: i, t: i });
      await telemetry.appendMetrics(rows.slice(0, 3001));
      await telemetry.appendMetrics(rows.slice(3001));
      const window = await telemetry.readMetricView(job, 'm', { from: 100, to: 102, width: 100 });
      expect(exactOf(window)).toEqual({
        x: [100, 100, 100, 101, 101, 101, 102, 102, 102],
        y: [100, 2100, 4100, 101, 2101, 4101, 102, 2102, 4102],
      });
      const columns = await telemetry.readMetricView(job, 'm', { from: 0, to: 2000, width: 10 });
      expect(columns?.inRange).toBe(6000);
      expect(columns?.columns?.n).toEqual(Array(10).fill(600));
      expect(columns?.columns?.minY[3]).toBe(600);
      expect(columns?.columns?.maxY[3]).toBe(4799);
    });

    it('refuses a value or a step that is not a finite number, and writes nothing of that batch', async () => {
      const job = await newJob();
      for (const bad of [
        { step: 1, value: Number.NaN },
        { step: 1, value: Infinity },
        { step: -Infinity, value: 1 },
      ]) {
        await expect(
          telemetry.appendMetrics([
            { jobId: job, step: 0, name: 'loss', value: 1, t: 1 },
            { jobId: job, name: 'loss', t: 2, ...bad },
          ]),
        ).rejects.toThrow(/not a finite number/);
      }
      expect(await telemetry.listMetrics(job)).toEqual([]);
      expect(await telemetry.listMetricSeries(job)).toEqual([]);
    });

    it('keeps telemetry across a reopen', async () => {
      const job = await newJob();
      await telemetry.appendMetrics([{ jobId: job, step: 3, name: 'acc', value: 0.25, t: 9 }]);
      telemetry = (await h.reopen()).telemetry;
      expect(await telemetry.listMetrics(job)).toEqual([
        { jobId: job, step: 3, name: 'acc', value: 0.25, t: 9 },
      ]);
      await telemetry.appendMetrics([{ jobId: job, step: 4, name: 'acc', value: 0.5, t: 10 }]);
      expect(exactOf(await telemetry.readMetricView(job, 'acc', { width: 5 }))).toEqual({
        x: [3, 4],
        y: [0.25, 0.5],
      });
    });
  });
}
