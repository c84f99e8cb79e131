import { join } from 'node:path';
import type { ArtifactRef, JsonValue, Pipeline } from '@deepforge/core';
import type { ExecutionPlan } from './pipeline-plan.js';

/**
 * What an execution runs, fixed at creation and stored with it (the code itself is in `code/` beside it):
 * resume and restart run exactly this, whatever happened to the project since.
 */
export interface ExecutionSnapshot {
  version: 1;
  /** The pipeline with the overrides applied. */
  pipeline: Pipeline;
  plan: ExecutionPlan;
  /** Node → the attribute values passed to the operation (the node's own, with overrides). */
  attributes: Record<string, Record<string, JsonValue>>;
  /** Node → every attribute's value, defaults included (what the job ran with; part of its cache key). */
  effectiveAttributes: Record<string, Record<string, JsonValue>>;
  /** The project's artifact references, by name. */
  artifacts: Record<string, ArtifactRef>;
  /** The project folder references to files are read from; null when the project did not come from one. */
  projectDir: string | null;
}

/** How an execution runs; may change on resume. */
export interface ExecutionRunOptions {
  cache: boolean;
  /** At most this many of its operations at once (the engine-wide limit applies too). */
  concurrency: number;
  /** The `--set` overrides it was created with (`node.attr=value`), for display. */
  overrides: string[];
  /** Who started it (an account name), when accounts are on. */
  startedBy?: string;
}

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
