import {
  EntityNameSchema,
  INPUT_OPERATION,
  INPUT_PORT,
  MAX_NODE_GPUS,
  OUTPUT_OPERATION,
  OUTPUT_PORT,
  WorkerLabelSchema,
} from './model.js';
import type {
  Architecture,
  AttributeSpec,
  Diagnostic,
  JsonValue,
  OperationInterface,
  Pipeline,
  PipelineNode,
  PortSpec,
} from './model.js';
import { validateArchitecture } from './architecture.validation.js';
import { assertNever } from './assert-never.js';
import { findCycles } from './pipeline.plan.js';

export interface ValidatePipelineOptions {
  /** Artifacts that exist; when given, Input nodes and references must name one of them. */
  artifactNames?: ReadonlySet<string>;
  /**
   * The project's architectures (resources/): a reference naming one gets a fresh module of it, and wins over
   * an artifact of the same name.
   */
  resourceNames?: ReadonlySet<string>;
  /**
   * The project's architectures themselves: a reference to one that cannot be built (a cycle, a missing layer or
   * architecture) is an error on the node, before a run gets there. Their names count as resourceNames.
   */
  resources?: Readonly<Record<string, Architecture>>;
}

/** The attribute of Input naming the artifact it reads, and of Output naming the artifact it writes. */
export const INPUT_ARTIFACT_ATTRIBUTE = 'artifact';
export const OUTPUT_SAVE_NAME_ATTRIBUTE = 'saveName';

/** What a node offers: its operation's ports, attributes and references. */
interface NodeSpec {
  inputs: PortSpec[];
  outputs: PortSpec[];
  attributes: AttributeSpec[];
  references: PortSpec[];
}

const stringAttribute = (name: string): AttributeSpec => ({
  name,
  type: 'str',
  default: undefined,
  defaultSource: '',
});

export const BUILT_IN_INTERFACES: Readonly<Record<string, OperationInterface>> = {
  [INPUT_OPERATION]: {
    className: INPUT_OPERATION,
    inputs: [],
    outputs: [{ name: INPUT_PORT }],
    attributes: [stringAttribute(INPUT_ARTIFACT_ATTRIBUTE)],
    references: [],
  },
  [OUTPUT_OPERATION]: {
    className: OUTPUT_OPERATION,
    inputs: [{ name: OUTPUT_PORT }],
    outputs: [],
    attributes: [stringAttribute(OUTPUT_SAVE_NAME_ATTRIBUTE)],
    references: [],
  },
};

function describeValue(value: JsonValue): string {
  if (value === null) return 'None';
  const text = typeof value === 'string' ? JSON.stringify(value) : JSON.stringify(value);
  const kind = Array.isArray(value) ? 'list ' : typeof value === 'object' ? 'dict ' : '';
  return kind + (text.length > 40 ? `${text.slice(0, 39)}…` : text);
}

/** Whether `value` fits an attribute: ints are floats too, `any` and untyped `None` defaults take anything. */
export function attributeValueFits(spec: AttributeSpec, value: JsonValue): boolean {
  if (value === null) return spec.type === 'any' || spec.type === 'none' || spec.default === null;
  switch (spec.type) {
    case 'any':
    case 'none':
      return true;
    case 'int':
      return typeof value === 'number' && Number.isInteger(value);
    case 'float':
      return typeof value === 'number';
    case 'str':
      return typeof value === 'string';
    case 'bool':
      return typeof value === 'boolean';
    case 'list':
      return Array.isArray(value);
    case 'dict':
      return typeof value === 'object' && !Array.isArray(value);
    default:
      return assertNever(spec.type);
  }
}

const IGNORED_TYPES: ReadonlySet<string> = new Set(['', 'Any', 'object']);

/** A type hint in a form where spelling differences (`numpy.` vs `np.`, `List` vs `list`) do not matter. */
function normalizeType(type: string): string {
  let t = type
    .replace(/\s+/g, '')
    .replace(/\btyping\./g, '')
    .replace(/\bnumpy\./g, 'np.');
  t = t.replace(/\b(List|Dict|Tuple|Set|FrozenSet|Type)\b/g, (m) => m.toLowerCase());
  const optional = /^Optional\[(.*)\]$/.exec(t);
  return optional ? (optional[1] as string) : t;
}

/** Whether an output with type `from` may feed an input with type `to` (both as written in the code). */
export function portTypesCompatible(from: string, to: string): boolean {
  const a = normalizeType(from);
  const b = normalizeType(to);
  if (IGNORED_TYPES.has(a) || IGNORED_TYPES.has(b) || a === b) return true;
  const base = (t: string): string => t.replace(/\[.*$/, '');
  // `list` accepts `list[int]` and the other way round: one side just says less.
  if ((!a.includes('[') || !b.includes('[')) && base(a) === base(b)) return true;
  return a === 'int' && b === 'float';
}

type Severity = Diagnostic['severity'];

/**
 * Why a pipeline cannot be executed before anything else is looked at, or undefined: one without operations has
 * nothing to run (it was recorded as an execution that succeeded at once). Not a validation error of the pipeline
 * itself: a new pipeline starts empty and is not wrong while it is being built.
 */
export function executePipelineProblem(pipeline: Pick<Pipeline, 'name' | 'nodes'>): string | undefined {
  return pipeline.nodes.length === 0
    ? `pipeline "${pipeline.name}" has no operations: add at least one before executing it`
    : undefined;
}

/** Checks a pipeline against its operations' interfaces; every message names the node (and port) concerned. */
export function validatePipeline(
  pipeline: Pipeline,
  operations: Readonly<Record<string, OperationInterface | null>>,
  options: ValidatePipelineOptions = {},
): Diagnostic[] {
  const diagnostics: Diagnostic[] = [];
  const label = (node: PipelineNode): string => `node "${node.id}" (${node.operation})`;
  const add = (
    severity: Severity,
    code: string,
    message: string,
    where: { node?: PipelineNode; nodeId?: string; port?: string } = {},
  ): void => {
    const nodeId = where.node?.id ?? where.nodeId;
    diagnostics.push({
      severity,
      code,
      message,
      pipeline: pipeline.name,
      ...(nodeId !== undefined ? { node: nodeId } : {}),
      ...(where.port !== undefined ? { port: where.port } : {}),
      ...(where.node ? { operation: where.node.operation } : {}),
    });
  };

  // Nodes: the first node with an id is the one connections refer to.
  const nodes = new Map<string, PipelineNode>();
  const counts = new Map<string, number>();
  for (const node of pipeline.nodes) {
    counts.set(node.id, (counts.get(node.id) ?? 0) + 1);
    if (!nodes.has(node.id)) nodes.set(node.id, node);
  }
  for (const [id, count] of counts) {
    if (count > 1)
      add('error', 'duplicate-node', `node "${id}": ${count} nodes have this id; ids must be unique`, {
        nodeId: id,
      });
  }

  const specs = new Map<string, NodeSpec | null>();
  for (const node of nodes.values()) {
    const builtIn = Object.hasOwn(BUILT_IN_INTERFACES, node.operation)
      ? BUILT_IN_INTERFACES[node.operation]
      : undefined;
    if (builtIn) {
      specs.set(node.id, builtIn);
      continue;
    }
    if (!Object.hasOwn(operations, node.operation)) {
      add('error', 'unknown-operation', `${label(node)}: there is no operation named ${node.operation}`, {
        node,
      });
      specs.set(node.id, null);
      continue;
    }
    const iface = operations[node.operation];
    if (!iface) {
      add(
        'error',
        'invalid-operation',
        `${label(node)}: operation ${node.operation} has errors in its code; fix them to use it`,
        { node },
      );
    }
    specs.set(node.id, iface ?? null);
  }

  // Placement: labels and GPUs of operations' jobs. Input and Output run inline on the server: no worker, no GPU.
  for (const node of nodes.values()) {
    const builtIn = node.operation === INPUT_OPERATION || node.operation === OUTPUT_OPERATION;
    if (node.gpus !== undefined) {
      if (!Number.isInteger(node.gpus) || node.gpus < 0 || node.gpus > MAX_NODE_GPUS) {
        add(
          'error',
          'invalid-gpus',
          `${label(node)}: gpus ${JSON.stringify(node.gpus)} is not a number of GPUs (a whole number from 0 to ${MAX_NODE_GPUS})`,
          { node },
        );
      } else if (builtIn && node.gpus > 0) {
        add(
          'error',
          'invalid-gpus',
          `${label(node)}: ${node.operation} nodes run on the server, not on a GPU: remove gpus`,
          { node },
        );
      }
    }
    if (node.labels !== undefined) {
      if (builtIn && node.labels.length > 0) {
        add(
          'error',
          'invalid-labels',
          `${label(node)}: ${node.operation} nodes run on the server, not on a worker: remove labels`,
          { node },
        );
      }
      if (node.labels.length > 64) {
        add('error', 'invalid-labels', `${label(node)}: more than 64 labels`, { node });
      }
      for (const l of node.labels) {
        const parsed = WorkerLabelSchema.safeParse(l);
        if (!parsed.success) {
          add(
            'error',
            'invalid-labels',
            `${label(node)}: ${JSON.stringify(l)} is not a label (${parsed.error.issues[0]?.message ?? 'invalid'})`,
            { node },
          );
        }
      }
    }
  }

  // Attributes and references.
  const saveNames = new Map<string, string[]>();
  for (const node of nodes.values()) {
    const spec = specs.get(node.id);
    if (!spec) continue;
    const declared = new Map(spec.attributes.map((a) => [a.name, a]));
    for (const [name, value] of Object.entries(node.attributes)) {
      const attr = declared.get(name);
      if (!attr) {
        const known = spec.attributes.map((a) => a.name);
        const hint = known.length > 0 ? ` (attributes: ${known.join(', ')})` : ' (it has none)';
        add(
          'error',
          'unknown-attribute',
          `${label(node)}: attribute "${name}" is not declared by ${node.operation}${hint}`,
          {
            node,
            port: name,
          },
        );
      } else if (!attributeValueFits(attr, value)) {
        add(
          'error',
          'attribute-type',
          `${label(node)}: attribute "${name}" expects ${attr.type}, got ${describeValue(value)}`,
          { node, port: name },
        );
      }
    }
    if (node.operation === INPUT_OPERATION) {
      const artifact = node.attributes[INPUT_ARTIFACT_ATTRIBUTE];
      if (typeof artifact !== 'string' || artifact === '') {
        if (artifact === undefined || artifact === '') {
          add(
            'error',
            'missing-artifact',
            `${label(node)}: attribute "artifact" must name the artifact to read`,
            {
              node,
              port: INPUT_ARTIFACT_ATTRIBUTE,
            },
          );
        }
      } else if (options.artifactNames && !options.artifactNames.has(artifact)) {
        add('error', 'unknown-artifact', `${label(node)}: artifact "${artifact}" does not exist`, {
          node,
          port: INPUT_ARTIFACT_ATTRIBUTE,
        });
      }
    }
    if (node.operation === OUTPUT_OPERATION) {
      const saveName = node.attributes[OUTPUT_SAVE_NAME_ATTRIBUTE];
      if (saveName === undefined || saveName === '') {
        add(
          'error',
          'missing-save-name',
          `${label(node)}: attribute "saveName" must name the artifact to write`,
          {
            node,
            port: OUTPUT_SAVE_NAME_ATTRIBUTE,
          },
        );
      } else if (typeof saveName === 'string') {
        const valid = EntityNameSchema.safeParse(saveName);
        if (!valid.success) {
          add(
            'error',
            'invalid-save-name',
            `${label(node)}: attribute "saveName": "${saveName}" ${valid.error.issues[0]?.message ?? 'is not a valid artifact name'}`,
            { node, port: OUTPUT_SAVE_NAME_ATTRIBUTE },
          );
        } else {
          saveNames.set(saveName, [...(saveNames.get(saveName) ?? []), node.id]);
        }
      }
    }
    const references = new Set(spec.references.map((r) => r.name));
    for (const [name, target] of Object.entries(node.references)) {
      if (!references.has(name)) {
        const known = [...references];
        const hint = known.length > 0 ? ` (references: ${known.join(', ')})` : ' (it has none)';
        add(
          'error',
          'unknown-reference',
          `${label(node)}: reference "${name}" is not declared by ${node.operation}${hint}`,
          {
            node,
            port: name,
          },
        );
      } else if (target === '') {
        add('error', 'missing-reference', `${label(node)}: reference "${name}" has no value`, {
          node,
          port: name,
        });
      } else if (options.resources && Object.hasOwn(options.resources, target)) {
        for (const d of validateArchitecture(options.resources[target]!, { resources: options.resources })) {
          if (d.severity !== 'error') continue;
          add('error', d.code, `${label(node)}: reference "${name}": ${d.message}`, { node, port: name });
        }
      } else if (
        options.artifactNames &&
        !options.artifactNames.has(target) &&
        !options.resourceNames?.has(target)
      ) {
        add(
          'error',
          'unknown-artifact',
          options.resources
            ? `${label(node)}: reference "${name}" names "${target}", which is neither an architecture (resources/) nor an artifact of the project`
            : `${label(node)}: reference "${name}" names artifact "${target}", which does not exist`,
          {
            node,
            port: name,
          },
        );
      }
    }
    for (const name of references) {
      if (!Object.hasOwn(node.references, name)) {
        add('error', 'missing-reference', `${label(node)}: reference "${name}" has no value`, {
          node,
          port: name,
        });
      }
    }
  }
  for (const [saveName, ids] of saveNames) {
    if (ids.length < 2) continue;
    for (const id of ids) {
      const node = nodes.get(id) as PipelineNode;
      const others = ids.filter((o) => o !== id).map((o) => `"${o}"`);
      add(
        'error',
        'duplicate-save-name',
        `${label(node)}: saveName "${saveName}" is also written by node ${others.join(', ')}`,
        {
          node,
          port: OUTPUT_SAVE_NAME_ATTRIBUTE,
        },
      );
    }
  }

  // Connections.
  const incoming = new Map<string, string[]>();
  pipeline.connections.forEach((c) => {
    const from = nodes.get(c.from.node);
    const to = nodes.get(c.to.node);
    const text = `${c.from.node}.${c.from.port} → ${c.to.node}.${c.to.port}`;
    if (!from) {
      add('error', 'unknown-node', `connection ${text}: node "${c.from.node}" does not exist`, {
        nodeId: c.from.node,
        port: c.from.port,
      });
    }
    if (!to) {
      add('error', 'unknown-node', `connection ${text}: node "${c.to.node}" does not exist`, {
        nodeId: c.to.node,
        port: c.to.port,
      });
    }
    const fromSpec = from ? specs.get(from.id) : null;
    const toSpec = to ? specs.get(to.id) : null;
    const output = fromSpec?.outputs.find((p) => p.name === c.from.port);
    const input = toSpec?.inputs.find((p) => p.name === c.to.port);
    if (from && fromSpec && !output) {
      const known = fromSpec.outputs.map((p) => p.name);
      const hint = known.length > 0 ? `outputs: ${known.join(', ')}` : 'it has no outputs';
      add(
        'error',
        'unknown-port',
        `${label(from)}: has no output "${c.from.port}" (${hint}; connection ${text})`,
        {
          node: from,
          port: c.from.port,
        },
      );
    }
    if (to && toSpec && !input) {
      const known = toSpec.inputs.map((p) => p.name);
      const hint = known.length > 0 ? `inputs: ${known.join(', ')}` : 'it has no inputs';
      add(
        'error',
        'unknown-port',
        `${label(to)}: has no input "${c.to.port}" (${hint}; connection ${text})`,
        {
          node: to,
          port: c.to.port,
        },
      );
    }
    if (to && (input || !toSpec)) {
      const key = JSON.stringify([to.id, c.to.port]);
      incoming.set(key, [...(incoming.get(key) ?? []), `${c.from.node}.${c.from.port}`]);
    }
    if (from && to && output?.type && input?.type && !portTypesCompatible(output.type, input.type)) {
      add(
        'warning',
        'port-type-mismatch',
        `${label(to)}: input "${c.to.port}" expects ${input.type} but node "${from.id}" output "${c.from.port}" gives ${output.type}`,
        { node: to, port: c.to.port },
      );
    }
  });
  for (const [key, sources] of incoming) {
    if (sources.length < 2) continue;
    const [id, port] = JSON.parse(key) as [string, string];
    const node = nodes.get(id) as PipelineNode;
    add(
      'error',
      'input-connected-twice',
      `${label(node)}: input "${port}" is connected ${sources.length} times (from ${sources.join(', ')}); an input takes one connection`,
      { node, port },
    );
  }
  for (const node of nodes.values()) {
    for (const input of specs.get(node.id)?.inputs ?? []) {
      if (!incoming.has(JSON.stringify([node.id, input.name]))) {
        add('error', 'unconnected-input', `${label(node)}: input "${input.name}" is not connected`, {
          node,
          port: input.name,
        });
      }
    }
  }

  for (const cycle of findCycles(pipeline)) {
    const first = nodes.get(cycle[0] as string) as PipelineNode;
    add('error', 'cycle', `${label(first)}: pipeline has a cycle: ${[...cycle, cycle[0]].join(' → ')}`, {
      node: first,
    });
  }

  return sortDiagnostics(diagnostics, pipeline);
}

function compareStrings(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/** Errors first, then by node (in pipeline order, pipeline-wide problems first), port, code and message. */
function sortDiagnostics(diagnostics: Diagnostic[], pipeline: Pipeline): Diagnostic[] {
  const position = new Map<string, number>();
  pipeline.nodes.forEach((n, i) => {
    if (!position.has(n.id)) position.set(n.id, i);
  });
  const nodeRank = (d: Diagnostic): number =>
    d.node === undefined ? -1 : (position.get(d.node) ?? pipeline.nodes.length);
  return [...diagnostics].sort(
    (a, b) =>
      (a.severity === b.severity ? 0 : a.severity === 'error' ? -1 : 1) ||
      nodeRank(a) - nodeRank(b) ||
      compareStrings(a.node ?? '', b.node ?? '') ||
      compareStrings(a.port ?? '', b.port ?? '') ||
      compareStrings(a.code, b.code) ||
      compareStrings(a.message, b.message),
  );
}
