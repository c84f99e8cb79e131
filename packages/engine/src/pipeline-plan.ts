import { createHash } from 'node:crypto';
import {
  BUILT_IN_INTERFACES,
  INPUT_OPERATION,
  OUTPUT_OPERATION,
  applyAttributeOverrides,
  cacheKeyMaterial,
  executePipelineProblem,
  parseProjectOperations,
  parseSetOption,
  planPipeline,
  validatePipeline,
  type AttributeOverride,
  type CacheKeyParts,
  type Diagnostic,
  type JsonValue,
  type OperationInterface,
  type Pipeline,
  type PortRef,
  type Project,
  type ProjectOperations,
} from '@deepforge/core';

/**
 * What the scheduler needs to know about a pipeline, worked out once by core (validation, planning, overrides)
 * when an execution is created and kept in its snapshot.
 */
export type NodeKind = 'input' | 'output' | 'operation';

export interface PlannedNode {
  id: string;
  operation: string;
  kind: NodeKind;
  /** Input port → the output it is connected to. */
  inputs: Record<string, PortRef>;
  /** Output names, in the order `execute` returns them. */
  outputs: string[];
  /** Nodes this one takes inputs from. */
  upstream: string[];
  /** Nodes that take its outputs. */
  downstream: string[];
}

export interface ExecutionPlan {
  /** Topological order (ties in pipeline order). */
  order: string[];
  nodes: Record<string, PlannedNode>;
}

export function nodeKind(operation: string): NodeKind {
  if (operation === INPUT_OPERATION) return 'input';
  if (operation === OUTPUT_OPERATION) return 'output';
  return 'operation';
}

/** An override as the CLI's `--set node.attr=value` gives it, or already parsed by core's parseSetOption. */
export type OverrideSpec = string | AttributeOverride;

export interface PreparedPipeline {
  /** The pipeline with overrides applied. */
  pipeline: Pipeline;
  interfaces: Record<string, OperationInterface | null>;
  /** Errors and warnings; the pipeline can run only when there is no error. */
  diagnostics: Diagnostic[];
}

/**
 * `--set` values are parsed on the event loop (strictly, so each costs what correct code costs): their total
 * size is bounded so that a request listing many cannot hold it up for long.
 */
export const OVERRIDES_MAX_BYTES = 256 * 1024;

/**
 * Parses the project's operations (unless `operations` already has them, read off the event loop), applies
 * `--set` overrides and validates the pipeline with core. Diagnostics of operations the pipeline does not use
 * are left out: a broken operation elsewhere does not stop a run.
 */
export function preparePipeline(
  project: Project,
  pipeline: Pipeline,
  overrides: readonly OverrideSpec[],
  artifactNames: ReadonlySet<string>,
  operations: ProjectOperations = parseProjectOperations(project),
): PreparedPipeline {
  const { interfaces, diagnostics: codeDiagnostics } = operations;
  const used = new Set(pipeline.nodes.map((n) => n.operation));
  const diagnostics: Diagnostic[] = codeDiagnostics.filter(
    (d) => d.operation === undefined || used.has(d.operation),
  );
  const nothingToRun = executePipelineProblem(pipeline);
  if (nothingToRun)
    diagnostics.push({
      severity: 'error',
      code: 'empty-pipeline',
      message: nothingToRun,
      pipeline: pipeline.name,
    });
  const parsed: AttributeOverride[] = [];
  const overrideBytes = overrides.reduce(
    (sum, o) => sum + Buffer.byteLength(typeof o === 'string' ? o : o.raw),
    0,
  );
  if (overrideBytes > OVERRIDES_MAX_BYTES) {
    diagnostics.push({
      severity: 'error',
      code: 'bad-override',
      message: `the --set values total ${Math.ceil(overrideBytes / 1024)} KiB, more than the ${OVERRIDES_MAX_BYTES / 1024} KiB allowed`,
      pipeline: pipeline.name,
    });
    return { pipeline, interfaces, diagnostics };
  }
  for (const o of overrides) {
    if (typeof o !== 'string') {
      parsed.push(o);
      continue;
    }
    const p = parseSetOption(o);
    if ('error' in p)
      diagnostics.push({
        severity: 'error',
        code: 'bad-override',
        message: p.error,
        pipeline: pipeline.name,
      });
    else parsed.push(p);
  }
  const applied = applyAttributeOverrides(pipeline, parsed, interfaces);
  diagnostics.push(...applied.diagnostics);
  diagnostics.push(
    ...validatePipeline(applied.pipeline, interfaces, { artifactNames, resources: project.resources ?? {} }),
  );
  return { pipeline: applied.pipeline, interfaces, diagnostics };
}

function interfaceOf(
  operation: string,
  interfaces: Readonly<Record<string, OperationInterface | null>>,
): OperationInterface | undefined {
  if (Object.hasOwn(BUILT_IN_INTERFACES, operation)) return BUILT_IN_INTERFACES[operation];
  return (Object.hasOwn(interfaces, operation) ? interfaces[operation] : undefined) ?? undefined;
}

/** The plan of a valid pipeline (validated first). */
export function planExecution(
  pipeline: Pipeline,
  interfaces: Readonly<Record<string, OperationInterface | null>>,
): ExecutionPlan {
  const plan = planPipeline(pipeline);
  const nodes: Record<string, PlannedNode> = {};
  for (const n of pipeline.nodes) {
    nodes[n.id] = {
      id: n.id,
      operation: n.operation,
      kind: nodeKind(n.operation),
      inputs: {},
      outputs: interfaceOf(n.operation, interfaces)?.outputs.map((p) => p.name) ?? [],
      upstream: plan.upstream[n.id] ?? [],
      downstream: plan.downstream[n.id] ?? [],
    };
  }
  for (const c of pipeline.connections)
    nodes[c.to.node]!.inputs[c.to.port] = { node: c.from.node, port: c.from.port };
  return { order: plan.order, nodes };
}

/** The attribute values a node runs with: the operation's defaults, then the node's own values. */
export function effectiveAttributes(
  node: Pipeline['nodes'][number],
  interfaces: Readonly<Record<string, OperationInterface | null>>,
): Record<string, JsonValue> {
  const values: Record<string, JsonValue> = {};
  for (const a of interfaceOf(node.operation, interfaces)?.attributes ?? []) {
    if (a.default !== undefined) values[a.name] = a.default;
  }
  return { ...values, ...node.attributes };
}

export function sha256Hex(text: string): string {
  return createHash('sha256').update(text).digest('hex');
}

/**
 * The cache key of a job: the sha256 of core's cache key material. Equal keys mean the job would compute the
 * same outputs (for deterministic operations), so a successful job's outputs can stand in for another's.
 */
export function cacheKey(parts: CacheKeyParts): string {
  return sha256Hex(cacheKeyMaterial(parts));
}
