import { describe, expect, it } from 'vitest';
import { parseNodeSlurm, slurmOptions } from './slurm-fields.js';

describe('slurmOptions', () => {
  it("takes the fields filled in (empty ones are the server's defaults), cpusPerTask as a number", () => {
    expect(slurmOptions({ partition: ' gpu ', time: '', cpusPerTask: '4' })).toEqual({
      ok: true,
      value: { partition: 'gpu', cpusPerTask: 4 },
    });
    expect(slurmOptions({})).toEqual({ ok: true, value: {} });
  });

  it('names the problem of each field sbatch would not take', () => {
    const r = slurmOptions({ partition: 'gpu;rm -rf', time: 'soon', mem: '4G', cpusPerTask: '0' });
    expect(r.ok).toBe(false);
    if (r.ok) return;
    expect(Object.keys(r.errors).sort()).toEqual(['cpusPerTask', 'partition', 'time']);
    expect(r.errors.time).toMatch(/a time limit as sbatch takes it/);
  });
});

describe('parseNodeSlurm', () => {
  it('reads node.key=value per line or word, several options of one node merged', () => {
    expect(parseNodeSlurm('train.gres=gpu:1\ntrain.time=4:00:00  test.partition=short\n')).toEqual({
      ok: true,
      value: { train: { gres: 'gpu:1', time: '4:00:00' }, test: { partition: 'short' } },
    });
    expect(parseNodeSlurm('  ')).toEqual({ ok: true, value: {} });
  });

  it('wants a node on each, and says what is wrong with a key or a value', () => {
    expect(parseNodeSlurm('time=1:00')).toEqual({
      ok: false,
      error: "time=1:00: name the node it is for, as node.time=1:00 (the fields above are every job's)",
    });
    expect(parseNodeSlurm('train.qos=high')).toEqual({
      ok: false,
      error: expect.stringMatching(/^unknown Slurm option "qos"/),
    });
    expect(parseNodeSlurm('train.mem=lots')).toEqual({
      ok: false,
      error: expect.stringMatching(/^train\.mem: an amount of memory/),
    });
  });
});
