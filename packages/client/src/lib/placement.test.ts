import { describe, expect, it } from 'vitest';
import { defaultCompute, parseGpus, parseLabels, placementFields } from './placement.js';

describe('placement input', () => {
  it('reads labels separated by commas or spaces, once each, and names the first that is not a label', () => {
    expect(parseLabels(' gpu, a100  zone:eu,gpu ')).toEqual({ ok: true, value: ['gpu', 'a100', 'zone:eu'] });
    expect(parseLabels('')).toEqual({ ok: true, value: [] });
    expect(parseLabels('gpu, GPU')).toEqual({
      ok: false,
      error: '"GPU" is not a label: a label is lowercase letters, digits, ".", "_", "-" or ":"',
    });
    expect(parseLabels('x'.repeat(65))).toMatchObject({
      ok: false,
      error: expect.stringMatching(/at most 64/),
    });
  });

  it('reads a number of GPUs: empty is none asked for, only whole numbers from 0 to 64', () => {
    expect(parseGpus('')).toEqual({ ok: true, value: undefined });
    expect(parseGpus(' 2 ')).toEqual({ ok: true, value: 2 });
    expect(parseGpus(0)).toEqual({ ok: true, value: 0 });
    for (const bad of ['-1', '1.5', '65', 'two', '1e1']) {
      expect(parseGpus(bad), bad).toEqual({ ok: false, error: 'GPUs must be a whole number from 0 to 64' });
    }
  });

  it('starts the execute dialog on the compute the server uses, not always local', () => {
    expect(
      defaultCompute([
        { id: 'local', name: 'This machine', available: false, reason: '--server' },
        { id: 'workers', name: 'Remote workers', available: true },
      ]),
    ).toBe('workers');
    expect(defaultCompute([{ id: 'slurm', name: 'Slurm', available: true }])).toBe('slurm');
    expect(defaultCompute([{ id: 'local', name: 'x', available: false }])).toBeNull();
    expect(defaultCompute(undefined)).toBeNull();
    expect(placementFields('workers')).toEqual({ labels: true, gpus: true });
    expect(placementFields('local')).toEqual({ labels: false, gpus: true });
    // Slurm asks for a job's GPUs as generic resources (--gres=gpu:N) unless a gres option is given.
    expect(placementFields('slurm')).toEqual({ labels: false, gpus: true });
  });
});
