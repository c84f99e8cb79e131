import { describe, expect, it } from 'vitest';
import { GroupCommit } from './group-commit.js';

describe('GroupCommit', () => {
  it('writes a lone item at once, and items submitted meanwhile together in the next batch', async () => {
    const batches: number[][] = [];
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    const gc = new GroupCommit<number, string>(async (items) => {
      batches.push(items);
      if (batches.length === 1) await gate;
      return items.map((i) => `v${i}`);
    });
    const first = gc.submit(1);
    await new Promise((r) => setImmediate(r));
    expect(batches).toEqual([[1]]);
    const rest = [gc.submit(2), gc.submit(3), gc.submit(4)];
    await new Promise((r) => setImmediate(r));
    expect(batches).toEqual([[1]]);
    release();
    expect(await first).toBe('v1');
    expect(await Promise.all(rest)).toEqual(['v2', 'v3', 'v4']);
    expect(batches).toEqual([[1], [2, 3, 4]]);
  });

  it('groups items submitted in the same tick', async () => {
    const batches: number[][] = [];
    const gc = new GroupCommit<number, number>(async (items) => {
      batches.push(items);
      return items.map((i) => i * 2);
    });
    expect(await Promise.all([gc.submit(1), gc.submit(2), gc.submit(3)])).toEqual([2, 4, 6]);
    expect(batches).toEqual([[1, 2, 3]]);
  });

  it('rejects every item of a failed batch with its error, and writes the next batch as usual', async () => {
    let calls = 0;
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    const gc = new GroupCommit<number, number>(async (items) => {
      calls++;
      if (calls === 1) {
        await gate;
        throw new Error('disk full');
      }
      return items;
    });
    const failed = [gc.submit(1), gc.submit(2)];
    await new Promise((r) => setImmediate(r));
    const later = gc.submit(3);
    release();
    for (const f of failed) await expect(f).rejects.toThrow('disk full');
    expect(await later).toBe(3);
  });

  it('rejects a batch whose writer answers the wrong number of values', async () => {
    const gc = new GroupCommit<number, number>(async () => [1]);
    const all = await Promise.allSettled([gc.submit(1), gc.submit(2)]);
    expect(all.map((r) => r.status)).toEqual(['rejected', 'rejected']);
    expect(String((all[0] as PromiseRejectedResult).reason)).toMatch(/answered 1 values for 2 items/);
  });
});
