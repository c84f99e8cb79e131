import { z } from 'zod';

/**
 * Metric series drawn for a view (ADR 0014): `GET …/jobs/:node/metrics/series` lists a job's series,
 * `GET …/jobs/:node/metrics/view?name=&from=&to=&width=` answers one series for a chart `width` pixels wide, and
 * `GET …/jobs/:node/metrics/download?format=csv|jsonl[&name=]` streams every point.
 *
 * Number arrays travel as base64 of little-endian IEEE 754 doubles (`f64le-base64`): 8 bytes a number before
 * base64, a third less than JSON text for typical values, and decoded without parsing a number at a time.
 */

/** Views are capped at this many columns: wider asks are answered at this width (a 4K screen's pixels). */
export const MAX_METRIC_VIEW_WIDTH = 4096;

export const MetricSeriesInfoSchema = z.strictObject({
  name: z.string(),
  /** Points stored. */
  count: z.number().int(),
  /** Smallest and largest step; null while the series is empty. */
  minX: z.number().nullable(),
  maxX: z.number().nullable(),
  /** The last point logged. */
  lastX: z.number().nullable(),
  lastY: z.number().nullable(),
  /** The step never went down from one point to the next (else views are drawn from at most 100,000 points). */
  sorted: z.boolean(),
});
export type MetricSeriesInfoDto = z.infer<typeof MetricSeriesInfoSchema>;
export const ListMetricSeriesResponseSchema = z.strictObject({ items: z.array(MetricSeriesInfoSchema) });

const finiteQuery = z.coerce
  .number({ error: 'must be a number' })
  .refine((v) => Number.isFinite(v), { message: 'must be a finite number' });

export const MetricViewQuerySchema = z
  .strictObject({
    /** The metric's name. */
    name: z.string().min(1).max(1000),
    /** Step range, both ends included; the series' whole range when left out. */
    from: finiteQuery.optional(),
    to: finiteQuery.optional(),
    /** The chart's width in pixels: at most this many columns (capped at MAX_METRIC_VIEW_WIDTH). */
    width: z.coerce
      .number()
      .int()
      .min(1)
      .transform((w) => Math.min(w, MAX_METRIC_VIEW_WIDTH)),
  })
  .refine((q) => q.from === undefined || q.to === undefined || q.from <= q.to, {
    message: '"from" must not be greater than "to"',
    path: ['from'],
  });

const f64 = z.string().describe('f64le-base64: base64 of little-endian float64 values');

export const MetricViewResponseSchema = z.strictObject({
  name: z.string(),
  /** Points in the whole series. */
  count: z.number().int(),
  /** The step range answered (the query's, or the series' own). */
  from: z.number(),
  to: z.number(),
  /** The width answered (the query's, capped). */
  width: z.number().int(),
  /** Points with a step in [from, to]. */
  inRange: z.number().int(),
  encoding: z.literal('f64le-base64'),
  /** The range holds at most `width` points: every one of them, in order. */
  points: z.strictObject({ x: f64, y: f64 }).optional(),
  /**
   * Otherwise one entry per non-empty column: how many points, the first and the last (step and value), the
   * smallest and the largest value. A column is `columnSize` consecutive points aligned on multiples of it (the
   * first and last column may reach past the range); for a series whose step went down, an equal step width.
   */
  columns: z
    .strictObject({
      n: f64,
      firstX: f64,
      firstY: f64,
      lastX: f64,
      lastY: f64,
      minY: f64,
      maxY: f64,
    })
    .optional(),
  columnSize: z.number().optional(),
  /**
   * Only for a series whose step went down: the range held more points than a view reads; it shows those logged
   * first.
   */
  partial: z.boolean(),
});
export type MetricViewResponse = z.infer<typeof MetricViewResponseSchema>;

export const MetricDownloadQuerySchema = z.strictObject({
  format: z.enum(['csv', 'jsonl']).default('csv'),
  /** One series; every series of the job (by name) when left out. */
  name: z.string().min(1).max(1000).optional(),
});

const CHUNK = 0x8000;

/** Numbers as `f64le-base64`. */
export function encodeFloat64(values: ArrayLike<number>): string {
  const bytes = new Uint8Array(values.length * 8);
  const view = new DataView(bytes.buffer);
  for (let i = 0; i < values.length; i++) view.setFloat64(i * 8, values[i] as number, true);
  let binary = '';
  for (let i = 0; i < bytes.length; i += CHUNK)
    binary += String.fromCharCode(...bytes.subarray(i, i + CHUNK));
  return btoa(binary);
}

/** `f64le-base64` back to numbers; throws on text that is not whole doubles. */
export function decodeFloat64(text: string): Float64Array {
  const binary = atob(text);
  if (binary.length % 8 !== 0) throw new Error(`f64le-base64 of ${binary.length} bytes is not whole doubles`);
  const view = new DataView(new ArrayBuffer(binary.length));
  for (let i = 0; i < binary.length; i++) view.setUint8(i, binary.charCodeAt(i));
  const out = new Float64Array(binary.length / 8);
  for (let i = 0; i < out.length; i++) out[i] = view.getFloat64(i * 8, true);
  return out;
}
