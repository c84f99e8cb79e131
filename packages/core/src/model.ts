import { z } from 'zod';
import { JSON_MAX_DEPTH } from './json-limits.js';
import { ContentHashSchema } from './content-hash.js';
import { NAME_MAX_LENGTH, PYTHON_KEYWORDS } from './python-identifier.js';

/** Version of the project folder format written into deepforge.json. */
export const PROJECT_FORMAT_VERSION = 1;

/** Names of the two built-in operations every pipeline may use. */
export const INPUT_OPERATION = 'Input';
export const OUTPUT_OPERATION = 'Output';
/** Port names of the built-ins: Input has one output, Output has one input. */
export const INPUT_PORT = 'data';
export const OUTPUT_PORT = 'data';

export type JsonValue = string | number | boolean | null | JsonValue[] | { [key: string]: JsonValue };

export { JSON_MAX_DEPTH };

/**
 * Why `value` is not a JSON value no deeper than `maxDepth`, with the path to blame, or null. Iterative: a value
 * nested 100,000 levels deep is answered without recursion.
 */
export function jsonValueProblem(value: unknown, maxDepth = JSON_MAX_DEPTH): string | null {
  const stack: { v: unknown; depth: number; path: string }[] = [{ v: value, depth: 0, path: '' }];
  while (stack.length > 0) {
    const { v, depth, path } = stack.pop()!;
    if (v === null || typeof v === 'string' || typeof v === 'boolean') continue;
    if (typeof v === 'number') {
      if (!Number.isFinite(v)) return `${path || 'the value'} is not a finite number`;
      continue;
    }
    if (typeof v !== 'object') return `${path || 'the value'} is not a JSON value`;
    if (depth >= maxDepth) return `${path || 'the value'} is nested deeper than ${maxDepth} levels`;
    if (Array.isArray(v)) {
      for (let i = v.length - 1; i >= 0; i--)
        stack.push({ v: v[i], depth: depth + 1, path: `${path}[${i}]` });
    } else {
      const proto = Object.getPrototypeOf(v) as unknown;
      if (proto !== Object.prototype && proto !== null) return `${path || 'the value'} is not a JSON value`;
      for (const [k, child] of Object.entries(v)) {
        stack.push({
          v: child,
          depth: depth + 1,
          path: `${path}${/^[A-Za-z_]\w*$/.test(k) ? `.${k}` : `[${JSON.stringify(k)}]`}`,
        });
      }
    }
  }
  return null;
}

/** Any JSON value (attribute values), at most JSON_MAX_DEPTH levels deep; checked without recursion. */
export const JsonValueSchema: z.ZodType<JsonValue> = z.unknown().check((ctx) => {
  const problem = jsonValueProblem(ctx.value);
  // The input is left out of the issue: a value nested 100,000 deep must not reach a logger or a serializer.
  if (problem !== null) ctx.issues.push({ code: 'custom', message: problem, input: undefined });
}) as unknown as z.ZodType<JsonValue>;

/** An identifier as Python and our file names accept it. */
export const IdentifierSchema = z
  .string()
  .max(NAME_MAX_LENGTH, `must be at most ${NAME_MAX_LENGTH} characters`)
  .regex(
    /^[A-Za-z_][A-Za-z0-9_]*$/,
    'must be a Python identifier (letters, digits, underscore; not starting with a digit)',
  );

/** A name Python code imports or defines (operations, utils, serializers): an identifier that is no keyword. */
export const PythonNameSchema = IdentifierSchema.check((ctx) => {
  if (PYTHON_KEYWORDS.has(ctx.value)) {
    ctx.issues.push({ code: 'custom', message: `"${ctx.value}" is a Python keyword`, input: ctx.value });
  }
});

/** Names used as file names (pipelines, artifacts): no path separators, no `..`, no leading dot. */
export const EntityNameSchema = z
  .string()
  .min(1, 'must not be empty')
  .max(200, 'must be at most 200 characters')
  .regex(
    /^[A-Za-z0-9_][A-Za-z0-9_.\- ]*$/,
    'may only contain letters, digits, space, `_`, `-` and `.`, and must not start with `.`',
  )
  .refine((s) => !s.includes('..'), 'must not contain `..`');

export const ProjectManifestSchema = z.strictObject({
  name: z.string().min(1),
  formatVersion: z.literal(PROJECT_FORMAT_VERSION),
  description: z.string().optional(),
});
export type ProjectManifest = z.infer<typeof ProjectManifestSchema>;

/** A worker label: lowercase letters, digits, `.`, `_`, `-`, `:` (e.g. `gpu`, `a100`, `zone:eu`). */
export const WorkerLabelSchema = z
  .string()
  .min(1, 'a label must not be empty')
  .max(64, 'a label is at most 64 characters')
  .regex(/^[a-z0-9][a-z0-9._:-]*$/, 'a label is lowercase letters, digits, ".", "_", "-" or ":"');

/** More GPUs than a job may ask for (a machine reports at most 64 in the worker protocol). */
export const MAX_NODE_GPUS = 64;

export const PositionSchema = z.strictObject({ x: z.number(), y: z.number() });

export const PipelineNodeSchema = z.strictObject({
  /** Unique within the pipeline; used by `--set node.attr=value` and by connections. */
  id: IdentifierSchema,
  /** An operation of the project, or the built-ins `Input` / `Output`. */
  operation: IdentifierSchema,
  /**
   * Attribute values. The built-ins use attributes too: Input has `artifact` (the artifact name it reads),
   * Output has `saveName` (the artifact name it writes).
   */
  attributes: z.record(z.string(), JsonValueSchema).default({}),
  /** Reference name → artifact name the reference is loaded from. */
  references: z.record(z.string(), z.string()).default({}),
  /**
   * Labels a worker must have to run the node's job, and the GPUs it needs (docs/project-format.md). Any strings
   * and numbers here: validatePipeline checks them, naming the node, like attribute values.
   */
  labels: z.array(z.string()).optional(),
  gpus: z.number().optional(),
  position: PositionSchema.optional(),
});
export type PipelineNode = z.infer<typeof PipelineNodeSchema>;

export const PortRefSchema = z.strictObject({ node: IdentifierSchema, port: IdentifierSchema });
export type PortRef = z.infer<typeof PortRefSchema>;

export const ConnectionSchema = z.strictObject({ from: PortRefSchema, to: PortRefSchema });
export type Connection = z.infer<typeof ConnectionSchema>;

export const PipelineSchema = z.strictObject({
  name: EntityNameSchema,
  description: z.string().optional(),
  nodes: z.array(PipelineNodeSchema),
  connections: z.array(ConnectionSchema),
});
export type Pipeline = z.infer<typeof PipelineSchema>;

/** A project artifact reference (`artifacts/<name>.json`). */
export const ArtifactRefSchema = z
  .strictObject({
    name: EntityNameSchema,
    /** A file inside the project folder (relative to `artifacts/`), imported into the blob store when used. */
    file: z.string().optional(),
    /** The content id (`sha256:<hex>`, or `sha256t:<hex>` above 8 MiB) of data already in the data store. */
    hash: ContentHashSchema.optional(),
    /** Serializer that reads the bytes; `pickle` when absent. */
    serializer: z.string().optional(),
    /** The Python type name, for display and port type checks. */
    type: z.string().optional(),
    description: z.string().optional(),
  })
  .refine((a) => (a.file === undefined) !== (a.hash === undefined), {
    message: 'an artifact reference needs exactly one of `file` or `hash`',
  });
export type ArtifactRef = z.infer<typeof ArtifactRefSchema>;

/**
 * Bounds of an architecture (`resources/<name>.json`), so that no file, however made, can hold up the server,
 * the editor or the Python side: a ResNet-152 drawn layer by layer has about 500 layers.
 */
export const ARCHITECTURE_LIMITS = {
  layers: 5000,
  edges: 20000,
  outputs: 64,
  /** Dimensions of an Input layer's shape. */
  shapeDims: 8,
  /** The largest concrete size of one dimension. */
  dimSize: 2 ** 31 - 1,
  /** Architectures used as layers inside architectures, nested at most this deep. */
  nesting: 16,
  /** Size of a resources/<name>.json file in bytes (UTF-8). */
  fileBytes: 4 * 1024 * 1024,
  description: 10_000,
} as const;

/** The built-in layers of every architecture: the graph's inputs, the merges of branches, picking a result. */
export const INPUT_LAYER = 'Input';
export const ADD_LAYER = 'Add';
export const CONCAT_LAYER = 'Concat';
/** Picks one result of a layer that returns several (`lstm[0]`), by `index`. */
export const SELECT_LAYER = 'Select';

/**
 * Which class a layer is: a `torch.nn` module by its name (`Conv2d`), a custom layer in the project's utils by
 * its module path (`utils.blocks.Residual`), another architecture of the project (`resources.Encoder`), or a
 * built-in (`Input`, `Add`, `Concat`, `Select`).
 */
export const LayerClassSchema = z
  .string()
  .min(1, 'must not be empty')
  .max(300, 'must be at most 300 characters')
  .regex(
    /^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*$/,
    'must be a class name (`Conv2d`) or a dotted path (`utils.blocks.Residual`, `resources.Encoder`)',
  );

export const ArchitectureLayerSchema = z.strictObject({
  /** Unique within the architecture: the attribute name of the layer in the generated module. */
  id: IdentifierSchema,
  layer: LayerClassSchema,
  /**
   * Input layers only: the shape of the tensor, each dimension a size or a symbolic name (`["N", 1, 28, 28]`).
   * Any JSON here: validation names the layer when it is not a shape.
   */
  shape: JsonValueSchema.optional(),
  /** Constructor arguments by name; missing ones take the class's default. */
  attributes: z.record(IdentifierSchema, JsonValueSchema).default({}),
  position: PositionSchema.optional(),
});
export type ArchitectureLayer = z.infer<typeof ArchitectureLayerSchema>;

/** A tensor flowing from one layer into another. A layer with several inputs takes them in the edges' order. */
export const ArchitectureEdgeSchema = z.strictObject({ from: IdentifierSchema, to: IdentifierSchema });
export type ArchitectureEdge = z.infer<typeof ArchitectureEdgeSchema>;

/** A neural-network architecture: a resource of the project (`resources/<name>.json`). */
export const ArchitectureSchema = z.strictObject({
  /** A Python name: the class of the generated module (`resources.<name>.<name>`). */
  name: PythonNameSchema,
  description: z.string().max(ARCHITECTURE_LIMITS.description).optional(),
  layers: z.array(ArchitectureLayerSchema).max(ARCHITECTURE_LIMITS.layers),
  edges: z.array(ArchitectureEdgeSchema).max(ARCHITECTURE_LIMITS.edges),
  /** The layers whose results forward returns: one gives a tensor, several a tuple in this order. */
  outputs: z.array(IdentifierSchema).max(ARCHITECTURE_LIMITS.outputs),
});
export type Architecture = z.infer<typeof ArchitectureSchema>;

export interface OperationSource {
  /** The operation name: the file name under `operations/` and the Python class name. */
  name: string;
  code: string;
  /** Python dependencies as a conda environment file (`operations/<Name>.environment.yml`); absent when none. */
  dependencies?: string;
}

/** A whole project in memory: what the project folder and, later, the project document hold. */
export interface Project {
  manifest: ProjectManifest;
  operations: Record<string, OperationSource>;
  pipelines: Record<string, Pipeline>;
  /** Module name (as in `import utils.<name>`) → Python source. */
  utils: Record<string, string>;
  /** File stem under `serializers/` → Python source. */
  serializers: Record<string, string>;
  artifacts: Record<string, ArtifactRef>;
  /**
   * Neural-network architectures (`resources/<name>.json`), by name. Optional so that a project written before
   * resources existed is still a project; absent means none.
   */
  resources?: Record<string, Architecture>;
}

/** The types an attribute's default value can give it. */
export type AttributeType = 'int' | 'float' | 'str' | 'bool' | 'list' | 'dict' | 'none' | 'any';

export interface SourceRange {
  from: number;
  to: number;
  line: number;
  column: number;
}

export interface PortSpec {
  name: string;
  /** The type hint as written (`np.ndarray`, `int`), or undefined when there is none. */
  type?: string;
  range?: SourceRange;
}

export interface AttributeSpec {
  name: string;
  type: AttributeType;
  /** The default as a JSON value; `undefined` only when the default is an expression we cannot evaluate. */
  default: JsonValue | undefined;
  /** The default exactly as written in the source. */
  defaultSource: string;
  /** The type hint as written, when present (it wins over the default's type). */
  hint?: string;
  range?: SourceRange;
}

/** The interface of an operation as parsed from its Python source. */
export interface OperationInterface {
  className: string;
  inputs: PortSpec[];
  outputs: PortSpec[];
  attributes: AttributeSpec[];
  /** `__init__` arguments without a default: values chosen from a list of targets (artifacts, resources). */
  references: PortSpec[];
}

export type Severity = 'error' | 'warning';

/** One problem found in a project, pipeline or source file. Messages name the node and port they concern. */
export interface Diagnostic {
  severity: Severity;
  code: string;
  message: string;
  pipeline?: string;
  node?: string;
  port?: string;
  operation?: string;
  /** The architecture (resource) and the layer of it a problem is about. */
  resource?: string;
  layer?: string;
  /** Path inside the project folder, for file-level problems. */
  file?: string;
  line?: number;
  column?: number;
}
