import type { JobError } from '@deepforge/protocol';
import { MissingArtifactError } from '../artifact.service.js';

/** Why a job could not be prepared or run, from what was thrown: a missing artifact, else an engine error. */
export function jobErrorOf(err: unknown, what: string): JobError {
  if (err instanceof MissingArtifactError) return { kind: 'missing-artifact', message: err.message };
  return { kind: 'engine', message: `${what}: ${(err as Error).message ?? String(err)}` };
}
