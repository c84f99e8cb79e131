import pino from 'pino';
import { testSlurmConf } from '../test-support/slurm-server.js';
import { describeComputeConformance } from './compute.conformance.js';
import { findRuntimeDir } from './python-interpreter.js';
import { SlurmCompute } from './slurm.compute.js';

const conf = await testSlurmConf();

const slurmCompute = () =>
  new SlurmCompute({
    runtimeDir: findRuntimeDir(),
    env: { ...process.env, SLURM_CONF: conf },
    logger: pino({ enabled: false }),
    pollIntervalMs: 200,
    tailIntervalMs: 50,
    killGraceMs: 500,
  });

describeComputeConformance('SlurmCompute, a real single-node Slurm', slurmCompute);
