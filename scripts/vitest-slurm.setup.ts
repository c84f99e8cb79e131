import type { TestProject } from 'vitest/node';
import { slurmInstalled, startTestSlurm } from '../packages/engine/src/test-support/slurm-server.js';

/**
 * One real single-node Slurm (munged, slurmctld, slurmd in a temp dir, 127.0.0.1 and free ports) for the whole test
 * run, torn down after it; the Slurm compute tests give its slurm.conf to sbatch and the others as SLURM_CONF.
 * Without Slurm's daemons, or without root, nothing starts here, and the files that need it say why when they run.
 */
export default async function setup(project: TestProject): Promise<(() => Promise<void>) | undefined> {
  if (!slurmInstalled() || process.getuid?.() !== 0) return undefined;
  const started = Date.now();
  let cluster;
  try {
    cluster = await startTestSlurm();
  } catch (err) {
    console.warn(`[slurm] the test Slurm did not start: ${(err as Error).message}`);
    return undefined;
  }
  project.provide('deepforgeSlurmConf', cluster.conf);
  if (process.env.DEEPFORGE_TEST_TIMINGS) console.log(`[slurm] started in ${Date.now() - started} ms`);
  return () => cluster.stop();
}
