/**
 * `@deepforge/protocol/engine`: the protocol's values that the engine and the CLI use while they run, without the
 * REST, auth and worker APIs' schemas. The CLI's program bundle keeps every module behind a lazy wrapper, and a
 * module importing a value from the package's index initialises all of it (~20 ms of zod schemas at every
 * `deepforge run`); what imports from here initialises only these modules (docs/adr/0029). Types still come from
 * the index (`import type`), which loads nothing.
 */
export { WorkerLabelSchema } from '@deepforge/core';
export { ArtifactPreviewSchema } from './artifact-preview.js';
export { EXECUTION_EVENTS_VERSION } from './execution-events-version.js';
export { projectDocumentUpdate } from './project-document-update.js';
export { RUNTIME_PROTOCOL_VERSION, RuntimeEventSchema, outputExpectedHash } from './runtime-events.js';
export { SESSION_COOKIE } from './session-cookie.js';
export {
  SlurmJobOptionsSchema,
  mergeSlurmOptions,
  SLURM_OPTION_KEYS,
  parseSlurmAssignment,
  slurmValueProblem,
} from './slurm-options.js';
