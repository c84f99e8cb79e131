import type { Env } from '../settings.js';
import type { ComputeJobRequest } from './job.compute.js';
import { JOB_ID_ENV, RUNNER_ID_ENV } from './process-tree.js';

/**
 * The environment a harness job runs with, on any machine: `base`, the runtime on PYTHONPATH, unbuffered UTF-8
 * output, the job's marker (process-tree.ts) and its secrets. Without a job id, GPUs or secrets: what a runner's
 * jobs share, which its warm worker starts with (its own module: `deepforge run` computes it before the engine
 * loads, docs/adr/0029).
 */
export function harnessEnvironment(
  base: Env,
  runtimeDir: string,
  request: Pick<ComputeJobRequest, 'runnerId' | 'gpuDevices' | 'secretEnv'> & { jobId?: string },
): Record<string, string> {
  const env: Record<string, string> = {};
  for (const [k, v] of Object.entries(base)) if (v !== undefined) env[k] = v;
  env.PYTHONPATH = [runtimeDir, base.PYTHONPATH].filter(Boolean).join(':');
  env.PYTHONUNBUFFERED = '1';
  env.PYTHONIOENCODING ??= 'utf-8:backslashreplace';
  if (request.jobId !== undefined) env[JOB_ID_ENV] = request.jobId;
  env[RUNNER_ID_ENV] = request.runnerId;
  if (request.gpuDevices) {
    // Exactly the job's GPUs: CUDA numbers them from 0 inside the job, and the NVIDIA container runtime (a job
    // starting containers) reads NVIDIA_VISIBLE_DEVICES. No GPU at all is the empty list, which hides them all.
    env.CUDA_VISIBLE_DEVICES = request.gpuDevices.join(',');
    env.NVIDIA_VISIBLE_DEVICES = request.gpuDevices.length > 0 ? request.gpuDevices.join(',') : 'none';
  }
  Object.assign(env, request.secretEnv);
  return env;
}
