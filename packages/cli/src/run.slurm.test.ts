import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  TEST_PYTHON,
  cleanEnv,
  makeTempDir,
  removeTree,
  testSlurmConf,
} from '@deepforge/engine/test-support';
import { cli } from './test-support/run-cli.js';

const EXAMPLES = fileURLToPath(new URL('../../../examples/', import.meta.url));

describe('deepforge run on Slurm (compute.backend = slurm, a real single-node Slurm)', () => {
  let tmp: string;
  let env: Record<string, string | undefined>;
  beforeEach(async () => {
    tmp = await makeTempDir('cli-slurm');
    env = cleanEnv({
      DEEPFORGE_DATA_DIR: join(tmp, 'data'),
      DEEPFORGE_PYTHON: TEST_PYTHON,
      DEEPFORGE_COMPUTE_BACKEND: 'slurm',
      SLURM_CONF: await testSlurmConf(),
      NO_COLOR: '1',
    });
  });
  afterEach(async () => {
    await removeTree(tmp);
  });

  it('runs the hello example as Slurm jobs with --slurm options, every job and one node', async () => {
    const r = await cli(
      ['run', join(EXAMPLES, 'hello'), 'hello', '--slurm', 'time=5:00', '--slurm', 'multiply.time=7:00'],
      env,
    );
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^Print\s+│ Hello from DeepForge! The product is 16!$/m);
    expect(r.stdout).toMatch(/^Multiply\s+│ \[deepforge\] submitted to Slurm as job \d+ \(time 7:00\)$/m);
    expect(r.stdout).toMatch(/^Print\s+│ \[deepforge\] submitted to Slurm as job \d+ \(time 5:00\)$/m);
    expect(r.stdout).toMatch(/✓ hello succeeded in \S+ \(6 success\)/);
  });

  it('refuses a --slurm option it does not know, or a value sbatch would not take, before running anything', async () => {
    const unknown = await cli(['run', join(EXAMPLES, 'hello'), 'hello', '--slurm', 'qos=high'], env);
    expect(unknown.code).not.toBe(0);
    expect(unknown.stderr).toMatch(/unknown Slurm option "qos"; known: partition, account, time, gres/);
    const bad = await cli(['run', join(EXAMPLES, 'hello'), 'hello', '--slurm', 'multiply.time=soon'], env);
    expect(bad.code).not.toBe(0);
    expect(bad.stderr).toMatch(/multiply\.time: a time limit as sbatch takes it/);
    expect((await cli(['executions', 'list'], env)).stdout).not.toMatch(/hello/);
  });
});
