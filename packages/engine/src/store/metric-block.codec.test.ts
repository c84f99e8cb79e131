import { describe, expect, it } from 'vitest';
import { DatabaseError } from '../errors.js';
import { decodeBlock, encodeBlock, newBlock, pushPoint, stepAt } from './metric-block.codec.js';

describe('metric blocks (ADR 0014)', () => {
  it('round-trips x, step or none, value and time exactly, as little-endian float64', () => {
    const block = newBlock(16);
    const values = [-0, Number.MIN_VALUE, Number.MAX_VALUE, 0.1 + 0.2, -1e-310];
    values.forEach((v, i) => pushPoint(block, i * 2, i === 3 ? null : i * 2, v, 1_764_900_000_000 + i));
    const { points, no_step } = encodeBlock(block);
    expect(points.byteLength).toBe(5 * 24);
    // x[0…5), then values, then times; byte order fixed whatever the host.
    expect(points.readDoubleLE(8)).toBe(2);
    expect(points.readDoubleLE(5 * 8 + 2 * 8)).toBe(Number.MAX_VALUE);
    expect(points.readDoubleLE(10 * 8)).toBe(1_764_900_000_000);
    expect([...no_step!]).toEqual([0b1000]);
    const back = decodeBlock({ series_id: 1, block: 0, n: 5, points, no_step });
    expect(values.every((v, i) => Object.is(back.y[i], v))).toBe(true);
    expect([0, 1, 2, 3, 4].map((i) => stepAt(back, i))).toEqual([0, 2, 4, null, 8]);
    expect([...back.t]).toEqual([0, 1, 2, 3, 4].map((i) => 1_764_900_000_000 + i));
    // Every point with a step: no bitmap stored.
    const plain = newBlock(4);
    pushPoint(plain, 1, 1, 1, 1);
    expect(encodeBlock(plain).no_step).toBeNull();
  });

  it('names a damaged block instead of reading it', () => {
    const block = newBlock(4);
    pushPoint(block, 0, 0, 1, 2);
    const { points } = encodeBlock(block);
    expect(() => decodeBlock({ series_id: 3, block: 7, n: 2, points, no_step: null })).toThrow(DatabaseError);
    expect(() => decodeBlock({ series_id: 3, block: 7, n: 2, points, no_step: null })).toThrow(
      /block 7 of series 3 is damaged/,
    );
  });
});
