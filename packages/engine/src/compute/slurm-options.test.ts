import { describe, expect, it } from 'vitest';
import { sbatchOptions } from './slurm.compute.js';

describe('sbatchOptions', () => {
  it('gives each Slurm option its sbatch argument', () => {
    expect(
      sbatchOptions({ partition: 'gpu', account: 'lab', time: '01:00:00', mem: '8G', cpusPerTask: 4 }),
    ).toEqual(['--partition=gpu', '--account=lab', '--time=01:00:00', '--mem=8G', '--cpus-per-task=4']);
  });

  it('asks for the GPUs a job needs as generic resources', () => {
    expect(sbatchOptions({}, 2)).toEqual(['--gres=gpu:2']);
    expect(sbatchOptions({ partition: 'gpu' }, 1)).toEqual(['--partition=gpu', '--gres=gpu:1']);
    expect(sbatchOptions({}, 0)).toEqual([]);
  });

  it("takes a gres given in the cluster's own words instead of the GPU count", () => {
    expect(sbatchOptions({ gres: 'gpu:a100:2' }, 1)).toEqual(['--gres=gpu:a100:2']);
  });
});
