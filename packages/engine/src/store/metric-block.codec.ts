import { DatabaseError } from '../errors.js';
import type { MetricBlocksTable } from './kysely.database.js';

/**
 * Points per block (ADR 0014): a series' points `block · 1024 …` are one row. Small enough that rewriting the
 * partial last block at each telemetry batch costs little (24 KiB at most), large enough that a row's own overhead
 * (a few dozen bytes, more in PostgreSQL) is a small share of its 24 KiB of numbers.
 */
export const BLOCK_POINTS = 1024;

/** Bytes per point in `points`: x, value and time as little-endian float64. */
const POINT_BYTES = 24;

/**
 * A block's points, decoded. `x` is where a point is drawn (its step, or the previous x + 1 when logged without
 * one); `noStep` marks the points logged without a step (bit i of byte i >> 3), null when every point had one.
 */
export interface MetricBlock {
  n: number;
  x: Float64Array;
  y: Float64Array;
  t: Float64Array;
  noStep: Uint8Array | null;
}

/** The step a point was logged with: its x, or null for a value logged without one. */
export function stepAt(block: MetricBlock, i: number): number | null {
  return block.noStep !== null && ((block.noStep[i >> 3] as number) & (1 << (i & 7))) !== 0
    ? null
    : (block.x[i] as number);
}

const LITTLE_ENDIAN_HOST = new Uint8Array(new Float64Array([1]).buffer)[7] === 0x3f;

/**
 * The stored form of a block: `points` = x[0…n), value[0…n), t[0…n) as little-endian float64 (exact for every
 * number JavaScript holds, ms times included), `no_step` = the bitmap of points without a step, or null.
 */
export function encodeBlock(block: MetricBlock): { points: Buffer; no_step: Buffer | null } {
  const { n } = block;
  const out = new Uint8Array(n * POINT_BYTES);
  const arrays = [block.x, block.y, block.t];
  if (LITTLE_ENDIAN_HOST) {
    const f = new Float64Array(out.buffer);
    arrays.forEach((a, k) => f.set(a.subarray(0, n), k * n));
  } else {
    const view = new DataView(out.buffer);
    arrays.forEach((a, k) => {
      for (let i = 0; i < n; i++) view.setFloat64((k * n + i) * 8, a[i] as number, true);
    });
  }
  let noStep: Buffer | null = null;
  if (block.noStep !== null) {
    // Bits past n in the last byte stay clear, so a block's bytes depend on its points only.
    const bits = Buffer.from(block.noStep.subarray(0, Math.ceil(n / 8)));
    if (n % 8 !== 0) bits[bits.length - 1]! &= (1 << (n % 8)) - 1;
    if (bits.some((b) => b !== 0)) noStep = bits;
  }
  // Buffer, not Uint8Array: what better-sqlite3 binds as a blob and pg as bytea.
  return { points: Buffer.from(out.buffer, out.byteOffset, out.byteLength), no_step: noStep };
}

/** A stored block back into numbers; a blob of the wrong size is named, never read as garbage. */
export function decodeBlock(row: {
  series_id: number;
  block: number;
  n: number | string | bigint;
  points: Uint8Array;
  no_step: Uint8Array | null;
}): MetricBlock {
  const n = Number(row.n);
  if (
    row.points.byteLength !== n * POINT_BYTES ||
    (row.no_step !== null && row.no_step.byteLength !== Math.ceil(n / 8))
  )
    throw new DatabaseError(
      `metric block ${row.block} of series ${row.series_id} is damaged: ${row.points.byteLength} bytes of points for ${n} points`,
    );
  // A copy: the driver's buffer may sit at an offset that is not a multiple of 8 (Node pools small buffers).
  const bytes = new Uint8Array(n * POINT_BYTES);
  bytes.set(row.points);
  let all: Float64Array;
  if (LITTLE_ENDIAN_HOST) all = new Float64Array(bytes.buffer);
  else {
    all = new Float64Array(3 * n);
    const view = new DataView(bytes.buffer);
    for (let i = 0; i < 3 * n; i++) all[i] = view.getFloat64(i * 8, true);
  }
  return {
    n,
    x: all.subarray(0, n),
    y: all.subarray(n, 2 * n),
    t: all.subarray(2 * n, 3 * n),
    noStep: row.no_step === null ? null : Uint8Array.from(row.no_step),
  };
}

/** An empty block with room for `capacity` points, to be filled from index 0. */
export function newBlock(capacity: number): MetricBlock {
  return {
    n: 0,
    x: new Float64Array(capacity),
    y: new Float64Array(capacity),
    t: new Float64Array(capacity),
    noStep: null,
  };
}

/** Appends one point (the block must have room). */
export function pushPoint(block: MetricBlock, x: number, step: number | null, y: number, t: number): void {
  const i = block.n++;
  block.x[i] = x;
  block.y[i] = y;
  block.t[i] = t;
  if (step === null) {
    block.noStep ??= new Uint8Array(Math.ceil(block.x.length / 8));
    block.noStep[i >> 3]! |= 1 << (i & 7);
  }
}

/** A block as the row that stores it: its x range beside the encoded points. */
export function blockToRow(seriesId: number, index: number, block: MetricBlock): MetricBlocksTable {
  let minX = Infinity;
  let maxX = -Infinity;
  for (let i = 0; i < block.n; i++) {
    const x = block.x[i] as number;
    if (x < minX) minX = x;
    if (x > maxX) maxX = x;
  }
  const { points, no_step } = encodeBlock(block);
  return { series_id: seriesId, block: index, n: block.n, min_x: minX, max_x: maxX, no_step, points };
}
