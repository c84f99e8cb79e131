import { z } from 'zod';
import { JsonValueSchema, type ArtifactRef, type JsonValue, type Pipeline } from '@deepforge/core';
import type { SlurmJobOptions } from '@deepforge/protocol';
import { SlurmJobOptionsSchema } from '@deepforge/protocol/engine';
import { DatabaseError } from '../errors.js';
import type { ExecutionPlan } from '../pipeline-plan.js';
import type { ExecutionRecord } from '../store/execution.store.js';

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
  /** Labels a remote worker needs to run its operations: every node's, and the node's own (docs/adr/0015). */
  labels?: string[];
  nodeLabels?: Record<string, string[]>;
  /** GPUs every operation needs, and some nodes' own (the larger counts; docs/adr/0015). */
  gpus?: number;
  nodeGpus?: Record<string, number>;
  /** Slurm options of every job (`slurm`) and of some nodes' (`nodeSlurm`, winning key by key; docs/adr/0016). */
  slurm?: SlurmJobOptions;
  nodeSlurm?: Record<string, SlurmJobOptions>;
  /** The failed or canceled execution this one resumes with the project's current code (docs/adr/0021). */
  resumedFrom?: string;
}

/*
 * The schemas check the shape the engine reads, not the rules new input must follow (name lengths, keywords):
 * a snapshot that was valid when it was stored stays readable when those rules tighten. Keys they do not know
 * (an older engine's codeHashes) are dropped.
 */
const JsonRecordSchema = z.record(z.string(), JsonValueSchema);
const PortRefSchema = z.object({ node: z.string(), port: z.string() });

const StoredPipelineSchema = z.object({
  name: z.string(),
  description: z.string().optional(),
  nodes: z.array(
    z.object({
      id: z.string(),
      operation: z.string(),
      attributes: JsonRecordSchema.default({}),
      references: z.record(z.string(), z.string()).default({}),
      // Where its job may run (a resumed or rerun execution places its jobs as the first run did).
      labels: z.array(z.string()).optional(),
      gpus: z.number().optional(),
      position: z.object({ x: z.number(), y: z.number() }).optional(),
    }),
  ),
  connections: z.array(z.object({ from: PortRefSchema, to: PortRefSchema })),
});

const ExecutionPlanSchema = z
  .object({
    order: z.array(z.string()),
    nodes: z.record(
      z.string(),
      z.object({
        id: z.string(),
        operation: z.string(),
        kind: z.enum(['input', 'output', 'operation']),
        inputs: z.record(z.string(), PortRefSchema),
        outputs: z.array(z.string()),
        upstream: z.array(z.string()),
        downstream: z.array(z.string()),
      }),
    ),
  })
  .check((ctx) => {
    const missing = ctx.value.order.find((id) => !Object.hasOwn(ctx.value.nodes, id));
    if (missing !== undefined) {
      ctx.issues.push({
        code: 'custom',
        message: `node "${missing}" is in the order but not planned`,
        input: missing,
        path: ['order'],
      });
    }
  });

const StoredArtifactRefSchema = z.object({
  name: z.string(),
  file: z.string().optional(),
  hash: z.string().optional(),
  serializer: z.string().optional(),
  type: z.string().optional(),
  description: z.string().optional(),
});

export const ExecutionSnapshotSchema = z.object({
  version: z.literal(1),
  pipeline: StoredPipelineSchema,
  plan: ExecutionPlanSchema,
  attributes: z.record(z.string(), JsonRecordSchema),
  effectiveAttributes: z.record(z.string(), JsonRecordSchema),
  artifacts: z.record(z.string(), StoredArtifactRefSchema),
  projectDir: z.string().nullable(),
}) satisfies z.ZodType<ExecutionSnapshot>;

export const ExecutionRunOptionsSchema = z.object({
  cache: z.boolean(),
  concurrency: z.number().int().min(1),
  overrides: z.array(z.string()),
  startedBy: z.string().optional(),
  labels: z.array(z.string()).optional(),
  nodeLabels: z.record(z.string(), z.array(z.string())).optional(),
  gpus: z.number().int().min(0).optional(),
  nodeGpus: z.record(z.string(), z.number().int().min(0)).optional(),
  slurm: SlurmJobOptionsSchema.optional(),
  nodeSlurm: z.record(z.string(), SlurmJobOptionsSchema).optional(),
  resumedFrom: z.string().optional(),
}) satisfies z.ZodType<ExecutionRunOptions>;

function parseStored<T>(schema: z.ZodType<T>, value: unknown, what: string, executionId: string): T {
  const parsed = schema.safeParse(value);
  if (parsed.success) return parsed.data;
  const issue = parsed.error.issues[0]!;
  const at = issue.path.length > 0 ? `${issue.path.join('.')}: ` : '';
  throw new DatabaseError(
    `execution ${executionId}: its stored ${what} cannot be read (${at}${issue.message}); the record was damaged or written by another program`,
  );
}

/** The execution's snapshot as stored, checked; DatabaseError naming the execution when it does not parse. */
export function readExecutionSnapshot(
  execution: Pick<ExecutionRecord, 'id' | 'snapshot'>,
): ExecutionSnapshot {
  return parseStored(ExecutionSnapshotSchema, execution.snapshot, 'snapshot', execution.id);
}

/** The execution's run options as stored, checked; DatabaseError naming the execution when they do not parse. */
export function readRunOptions(execution: Pick<ExecutionRecord, 'id' | 'options'>): ExecutionRunOptions {
  return parseStored(ExecutionRunOptionsSchema, execution.options, 'options', execution.id);
}
