import {
  BUILT_IN_INTERFACES,
  validatePipeline,
  type Diagnostic,
  type OperationInterface,
  type Project,
} from '@deepforge/core';
import type { OperationReader } from '@deepforge/engine';

export interface ProjectCheck {
  interfaces: Record<string, OperationInterface | null>;
  /** Diagnostics of each operation's code, by operation. */
  operationDiagnostics: Record<string, Diagnostic[]>;
  /** Diagnostics of a pipeline: its own and those of the operations it uses. */
  pipeline(name: string): Diagnostic[];
}

/**
 * Parses a project's operations once and validates pipelines against them, as the engine does before it runs
 * one (so the editor shows the errors an execution would be refused for). `artifactNames` are the artifacts the
 * project can read: its references and its stored artifacts. The operations are read by the engine's
 * OperationReader: on worker threads, with a deadline, cached by code, never on the event loop.
 */
export async function checkProject(
  reader: OperationReader,
  project: Project,
  artifactNames: ReadonlySet<string>,
): Promise<ProjectCheck> {
  const { interfaces, diagnostics } = await reader.readProject(project);
  const operationDiagnostics: Record<string, Diagnostic[]> = {};
  for (const name of Object.keys(project.operations)) operationDiagnostics[name] = [];
  for (const d of diagnostics) if (d.operation !== undefined) operationDiagnostics[d.operation]?.push(d);
  return {
    interfaces,
    operationDiagnostics,
    pipeline(name) {
      const pipeline = project.pipelines[name];
      if (!pipeline) return [];
      const used = new Set(pipeline.nodes.map((n) => n.operation));
      return [
        ...diagnostics.filter((d) => d.operation !== undefined && used.has(d.operation)),
        ...validatePipeline(pipeline, interfaces, { artifactNames, resources: project.resources ?? {} }),
      ];
    },
  };
}

/** The interface of an operation a node runs: a built-in's, a parsed one, or undefined when unknown. */
export function interfaceOf(
  operation: string,
  interfaces: Readonly<Record<string, OperationInterface | null>>,
): OperationInterface | undefined {
  if (Object.hasOwn(BUILT_IN_INTERFACES, operation)) return BUILT_IN_INTERFACES[operation];
  return (Object.hasOwn(interfaces, operation) ? interfaces[operation] : undefined) ?? undefined;
}
