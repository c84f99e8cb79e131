import { join } from 'node:path';

/**
 * Where an execution's files live in the data dir: `executions/<id>/code` (the code snapshot) and
 * `executions/<id>/jobs/<node>` (each job's spec, work dir and console log).
 */
export function executionDir(dataDir: string, id: string): string {
  return join(dataDir, 'executions', id);
}

export function codeDirOf(dataDir: string, id: string): string {
  return join(executionDir(dataDir, id), 'code');
}

export function jobDirOf(dataDir: string, id: string, node: string): string {
  return join(executionDir(dataDir, id), 'jobs', node);
}

export function consoleLogOf(dataDir: string, id: string, node: string): string {
  return join(jobDirOf(dataDir, id, node), 'console.log');
}

export function jobIdOf(executionId: string, node: string): string {
  return `${executionId}.${node}`;
}
