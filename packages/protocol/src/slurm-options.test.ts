import { describe, expect, it } from 'vitest';
import { parseSlurmAssignment, slurmValueProblem } from './slurm-options.js';

describe('parseSlurmAssignment', () => {
  it("reads an option of every job and one of a node's", () => {
    expect(parseSlurmAssignment('time=2:00:00')).toEqual({ key: 'time', value: '2:00:00' });
    expect(parseSlurmAssignment(' train.gres=gpu:a100:2 ')).toEqual({
      node: 'train',
      key: 'gres',
      value: 'gpu:a100:2',
    });
    expect(parseSlurmAssignment('cpusPerTask=8')).toEqual({ key: 'cpusPerTask', value: 8 });
  });

  it('says what is wrong: the form, the key or the value', () => {
    expect(parseSlurmAssignment('time')).toEqual({
      error: 'expected [node.]key=value, such as time=2:00:00 or train.gres=gpu:1; got "time"',
    });
    expect(parseSlurmAssignment('qos=high')).toEqual({
      error: 'unknown Slurm option "qos"; known: partition, account, time, gres, mem, cpusPerTask',
    });
    expect(parseSlurmAssignment('train.time=soon')).toEqual({
      error: expect.stringMatching(/^train\.time: a time limit as sbatch takes it/),
    });
    // Nothing that could become a second #SBATCH line or a shell command.
    expect(parseSlurmAssignment('partition=gpu --wrap=rm')).toEqual({
      error: expect.stringMatching(/^partition: a partition name/),
    });
    expect(parseSlurmAssignment('cpusPerTask=two')).toEqual({
      error: expect.stringMatching(/^cpusPerTask: /),
    });
  });
});

describe('slurmValueProblem', () => {
  it('takes what sbatch takes and names what it would not', () => {
    expect(slurmValueProblem('mem', '4G')).toBeUndefined();
    expect(slurmValueProblem('mem', 'lots')).toMatch(/an amount of memory such as 4G/);
    expect(slurmValueProblem('cpusPerTask', 0)).toBeDefined();
  });
});
