import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { TEST_PYTHON } from '../test-support/temp-dir.js';
import type { ComputeJobRequest } from './job.compute.js';

/** Writes `code` as operations/Op.py (class Op) under `codeDir`; the request that runs it as job `jobId`. */
export async function opJob(p: {
  codeDir: string;
  jobDir: string;
  outputDir: string;
  jobId: string;
  code: string;
  outputs?: string[];
  timeoutMs?: number;
  logMaxBytes?: number;
  python?: string;
  secretEnv?: Record<string, string>;
  /** Ask the harness for its `usage` event. */
  usage?: boolean;
}): Promise<ComputeJobRequest> {
  await mkdir(join(p.codeDir, 'operations'), { recursive: true });
  await writeFile(join(p.codeDir, 'operations', 'Op.py'), p.code);
  return {
    jobId: p.jobId,
    runnerId: 'runner-1',
    spec: {
      v: 1,
      codeDir: p.codeDir,
      operation: { file: 'operations/Op.py', className: 'Op' },
      attributes: {},
      references: {},
      inputs: {},
      outputs: p.outputs ?? [],
      outputDir: p.outputDir,
      workDir: join(p.jobDir, 'work'),
      debug: false,
      ...(p.usage ? { usage: true } : {}),
    },
    jobDir: p.jobDir,
    logFile: join(p.jobDir, 'console.log'),
    logMaxBytes: p.logMaxBytes ?? 1024 * 1024,
    timeoutMs: p.timeoutMs ?? 0,
    python: p.python ?? TEST_PYTHON,
    ...(p.secretEnv ? { secretEnv: p.secretEnv } : {}),
  };
}

/** The two numbers a job writes to `file` ("<pid> <other pid>"), once it has. */
export async function waitForPids(file: string): Promise<number[]> {
  for (let i = 0; i < 200; i++) {
    const text = await readFile(file, 'utf8').catch(() => '');
    if (text.trim().split(' ').length === 2) return text.trim().split(' ').map(Number);
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`${file} never appeared`);
}
