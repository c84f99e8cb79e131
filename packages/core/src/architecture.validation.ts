import type {
  LayerArgument,
  LayerArgumentType,
  LayerCatalog,
  LayerCatalogError,
  LayerClass,
} from './layer-catalog.js';
import { ADD_LAYER, ARCHITECTURE_LIMITS, CONCAT_LAYER, INPUT_LAYER, SELECT_LAYER } from './model.js';
import type { Architecture, ArchitectureLayer, Diagnostic, JsonValue } from './model.js';
import { PYTHON_KEYWORDS } from './python-identifier.js';

/** Layer classes naming another architecture of the project: `resources.<name>`. */
export const RESOURCE_LAYER_PREFIX = 'resources.';
/** Layer classes naming a custom layer of the project: `utils.<module>.<Class>`. */
export const CUSTOM_LAYER_PREFIX = 'utils.';

/**
 * Names a layer id cannot have: the generated module uses each id as an attribute of an `nn.Module` and as a
 * local variable of `forward`, so it must not hide what either needs.
 */
export const RESERVED_LAYER_IDS: ReadonlySet<string> = new Set([
  'self',
  'torch',
  'nn',
  'utils',
  'resources',
  'super',
  'training',
  'forward',
  'parameters',
  'named_parameters',
  'buffers',
  'named_buffers',
  'children',
  'named_children',
  'modules',
  'named_modules',
  'state_dict',
  'load_state_dict',
  'train',
  'eval',
  'to',
  'cuda',
  'cpu',
  'half',
  'float',
  'double',
  'type',
  'apply',
  'zero_grad',
  'register_buffer',
  'register_parameter',
  'register_module',
  'add_module',
  'get_submodule',
  'get_parameter',
  'get_buffer',
  'extra_repr',
  'requires_grad_',
  'share_memory',
  'get_config',
  'input_shapes',
  'dump_patches',
  'call_super_init',
]);

/** The layers every architecture has besides PyTorch's and the project's. */
export const BUILT_IN_LAYERS: ReadonlySet<string> = new Set([
  INPUT_LAYER,
  ADD_LAYER,
  CONCAT_LAYER,
  SELECT_LAYER,
]);

/** A dimension of an Input layer's shape: a size, or a symbolic name (`N`) for sizes chosen at run time. */
export type ShapeDim = number | string;

/** The shape an Input layer declares, or why it is not one. */
export function parseInputShape(value: JsonValue | undefined): { shape: ShapeDim[] } | { problem: string } {
  if (value === undefined) return { problem: 'has no shape (e.g. ["N", 1, 28, 28])' };
  if (!Array.isArray(value)) {
    return {
      problem: `shape ${short(value)} is not a shape: a list of sizes and names, e.g. ["N", 1, 28, 28]`,
    };
  }
  if (value.length === 0) return { problem: 'shape [] is not a shape: it needs at least one dimension' };
  if (value.length > ARCHITECTURE_LIMITS.shapeDims) {
    return {
      problem: `shape has ${value.length} dimensions, more than the ${ARCHITECTURE_LIMITS.shapeDims} allowed`,
    };
  }
  for (let i = 0; i < value.length; i++) {
    const d = value[i] as JsonValue;
    if (typeof d === 'number') {
      if (!Number.isInteger(d) || d < 1 || d > ARCHITECTURE_LIMITS.dimSize) {
        return {
          problem: `shape ${short(value)}: dimension ${i} (${d}) must be a whole number from 1 to ${ARCHITECTURE_LIMITS.dimSize}, or a name like "N"`,
        };
      }
    } else if (typeof d === 'string') {
      if (!/^[A-Za-z_][A-Za-z0-9_]{0,31}$/.test(d)) {
        return {
          problem: `shape ${short(value)}: dimension ${i} (${JSON.stringify(d)}) must be a size or a name (letters, digits, _; like "N")`,
        };
      }
    } else {
      return {
        problem: `shape ${short(value)}: dimension ${i} is ${short(d)}, not a size or a name like "N"`,
      };
    }
  }
  return { shape: value as ShapeDim[] };
}

function short(value: JsonValue): string {
  const text = JSON.stringify(value);
  return text.length > 60 ? `${text.slice(0, 59)}…` : text;
}

/** The layers each layer takes its inputs from, in the edges' order (also for layers that are not known). */
export function layerInputs(arch: Architecture): Map<string, string[]> {
  const inputs = new Map<string, string[]>();
  for (const layer of arch.layers) inputs.set(layer.id, []);
  for (const e of arch.edges) inputs.get(e.to)?.push(e.from);
  return inputs;
}

/**
 * The layers in the order forward computes them: every layer after the layers it takes inputs from, ties in
 * the order of the file (so the generated code reads like the drawing). Null when the edges make a cycle.
 */
export function architectureOrder(arch: Architecture): string[] | null {
  const ids = new Set(arch.layers.map((l) => l.id));
  const indegree = new Map<string, number>();
  const next = new Map<string, string[]>();
  for (const l of arch.layers) {
    indegree.set(l.id, 0);
    next.set(l.id, []);
  }
  for (const e of arch.edges) {
    if (!ids.has(e.from) || !ids.has(e.to)) continue;
    indegree.set(e.to, (indegree.get(e.to) ?? 0) + 1);
    next.get(e.from)!.push(e.to);
  }
  const position = new Map(arch.layers.map((l, i) => [l.id, i]));
  // A sorted ready list (by file position) keeps the order stable; n log n is plenty for 5,000 layers.
  const ready = arch.layers.filter((l) => indegree.get(l.id) === 0).map((l) => l.id);
  const order: string[] = [];
  const seen = new Set<string>();
  while (ready.length > 0) {
    const id = ready.shift()!;
    if (seen.has(id)) continue;
    seen.add(id);
    order.push(id);
    let added = false;
    for (const to of next.get(id)!) {
      const left = indegree.get(to)! - 1;
      indegree.set(to, left);
      if (left === 0) {
        ready.push(to);
        added = true;
      }
    }
    if (added) ready.sort((a, b) => position.get(a)! - position.get(b)!);
  }
  return order.length === seen.size && seen.size === ids.size ? order : null;
}

/** One layer on a cycle, found by walking backwards from layers left over by the topological sort. */
function layerOnCycle(arch: Architecture): { layer: string; path: string[] } | null {
  const inputs = layerInputs(arch);
  const state = new Map<string, 1 | 2>();
  for (const start of arch.layers.map((l) => l.id)) {
    if (state.has(start)) continue;
    // Iterative DFS over inputs; a grey node met again closes a cycle.
    const stack: { id: string; i: number }[] = [{ id: start, i: 0 }];
    const path: string[] = [start];
    state.set(start, 1);
    while (stack.length > 0) {
      const top = stack[stack.length - 1]!;
      const ins = inputs.get(top.id) ?? [];
      if (top.i >= ins.length) {
        state.set(top.id, 2);
        stack.pop();
        path.pop();
        continue;
      }
      const n = ins[top.i++]!;
      if (!inputs.has(n)) continue;
      const s = state.get(n);
      if (s === 1) {
        const from = path.indexOf(n);
        return { layer: n, path: [...path.slice(from), n].reverse() };
      }
      if (s === undefined) {
        state.set(n, 1);
        stack.push({ id: n, i: 0 });
        path.push(n);
      }
    }
  }
  return null;
}

export interface ArchitectureContext {
  /** Every architecture of the project, by name: layers may use them (`resources.<name>`). */
  resources: Readonly<Record<string, Architecture>>;
  /** The layers PyTorch and the project offer; without it, classes and arguments are not checked. */
  catalog?: LayerCatalog;
}

/** The number of inputs of an architecture used as a layer. */
export function architectureInputCount(arch: Architecture): number {
  return arch.layers.filter((l) => l.layer === INPUT_LAYER).length;
}

/**
 * Everything wrong with an architecture, each problem on the layer it concerns (`resource` and `layer` set;
 * the message starts with `layer "conv1" (Conv2d)`). What PyTorch alone can tell (shapes) is the Python side's.
 */
export function validateArchitecture(arch: Architecture, ctx: ArchitectureContext): Diagnostic[] {
  const out: Diagnostic[] = [];
  const label = (l: ArchitectureLayer): string => `layer "${l.id}" (${l.layer})`;
  const add = (
    code: string,
    message: string,
    layer?: ArchitectureLayer,
    severity: 'error' | 'warning' = 'error',
  ): void => {
    out.push({
      severity,
      code,
      message: `${arch.name}: ${layer ? `${label(layer)}: ` : ''}${message}`,
      resource: arch.name,
      ...(layer ? { layer: layer.id } : {}),
    });
  };

  const byId = new Map<string, ArchitectureLayer>();
  for (const layer of arch.layers) {
    if (byId.has(layer.id)) add('duplicate-layer', `another layer is also named "${layer.id}"`, layer);
    else byId.set(layer.id, layer);
    if (PYTHON_KEYWORDS.has(layer.id) || RESERVED_LAYER_IDS.has(layer.id)) {
      add('reserved-layer-id', `"${layer.id}" cannot be a layer name: the generated module needs it`, layer);
    }
  }
  for (const e of arch.edges) {
    for (const end of [e.from, e.to]) {
      if (!byId.has(end))
        add('unknown-layer', `an edge ${e.from} → ${e.to} names layer "${end}", which does not exist`);
    }
  }
  if (!arch.layers.some((l) => l.layer === INPUT_LAYER)) {
    add('no-input', 'has no Input layer: add one with the shape of the data (e.g. ["N", 1, 28, 28])');
  }
  if (arch.outputs.length === 0)
    add('no-output', 'has no output: choose the layer(s) whose result it returns');
  for (const o of arch.outputs) {
    if (!byId.has(o)) add('unknown-output', `output "${o}" names a layer that does not exist`);
  }

  const inputs = layerInputs(arch);
  const order = architectureOrder(arch);
  if (order === null) {
    const cycle = layerOnCycle(arch);
    const layer = cycle ? byId.get(cycle.layer) : undefined;
    add(
      'cycle',
      `is part of a cycle (${cycle ? cycle.path.join(' → ') : '?'}): a layer cannot feed itself`,
      layer,
    );
  }

  const classOf = (l: ArchitectureLayer): LayerClass | 'resource' | 'builtin' | undefined => {
    if (BUILT_IN_LAYERS.has(l.layer)) return 'builtin';
    if (l.layer.startsWith(RESOURCE_LAYER_PREFIX)) return 'resource';
    return ctx.catalog?.layers[l.layer];
  };

  for (const layer of arch.layers) {
    const ins = inputs.get(layer.id) ?? [];
    const kind = classOf(layer);
    if (layer.layer === INPUT_LAYER) {
      const parsed = parseInputShape(layer.shape);
      if ('problem' in parsed) add('input-shape', parsed.problem, layer);
      if (ins.length > 0)
        add('input-has-inputs', 'an Input layer takes no inputs, but edges lead into it', layer);
      for (const name of Object.keys(layer.attributes)) {
        add('unknown-argument', `Input has no argument "${name}" (its shape is "shape")`, layer);
      }
      continue;
    }
    if (layer.shape !== undefined) add('shape-not-input', 'only Input layers have a shape', layer, 'warning');
    for (const name of Object.keys(layer.attributes)) {
      // The generated code passes arguments by keyword: `class=1` would not even parse.
      if (PYTHON_KEYWORDS.has(name)) add('keyword-argument', `argument "${name}" is a Python keyword`, layer);
    }
    if (ins.length === 0) add('no-inputs', 'takes no input: connect a layer to it', layer);
    if (layer.layer === SELECT_LAYER) {
      if (ins.length > 1) add('input-count', `Select takes 1 input, but ${ins.length} are connected`, layer);
      const index = layer.attributes.index;
      if (index === undefined) add('missing-argument', 'required argument "index" is not set', layer);
      else if (typeof index !== 'number' || !Number.isInteger(index)) {
        add('argument-type', `argument "index" must be an int, not ${describe(index)}`, layer);
      }
      for (const name of Object.keys(layer.attributes)) {
        if (name !== 'index')
          add('unknown-argument', `Select has no argument "${name}" (it has: index)`, layer);
      }
      continue;
    }
    if (layer.layer === ADD_LAYER || layer.layer === CONCAT_LAYER) {
      if (ins.length === 1)
        add('merge-one-input', `${layer.layer} merges several inputs but has one`, layer, 'warning');
      const allowed = layer.layer === CONCAT_LAYER ? ['dim'] : [];
      for (const [name, value] of Object.entries(layer.attributes)) {
        if (!allowed.includes(name)) {
          add(
            'unknown-argument',
            `${layer.layer} has no argument "${name}"${allowed.length ? ` (it has: ${allowed.join(', ')})` : ''}`,
            layer,
          );
        } else if (typeof value !== 'number' || !Number.isInteger(value)) {
          add('argument-type', `argument "dim" must be an int, not ${describe(value)}`, layer);
        }
      }
      continue;
    }
    if (kind === 'resource') {
      const target = layer.layer.slice(RESOURCE_LAYER_PREFIX.length);
      const nested = Object.hasOwn(ctx.resources, target) ? ctx.resources[target] : undefined;
      if (!nested) {
        add('unknown-resource', `uses architecture "${target}", which does not exist in resources/`, layer);
        continue;
      }
      const loop = resourceLoop(target, arch.name, ctx.resources);
      if (loop) add('resource-cycle', `architectures use each other in a loop (${loop.join(' → ')})`, layer);
      else if (architectureDepth(target, ctx.resources) >= ARCHITECTURE_LIMITS.nesting) {
        add(
          'nesting-too-deep',
          `architectures nest deeper than ${ARCHITECTURE_LIMITS.nesting} levels through ${target}`,
          layer,
        );
      }
      const expected = architectureInputCount(nested);
      if (ins.length > 0 && ins.length !== expected) {
        add(
          'input-count',
          `${target} takes ${expected} input${expected === 1 ? '' : 's'}, but ${ins.length} are connected`,
          layer,
        );
      }
      for (const name of Object.keys(layer.attributes)) {
        add('unknown-argument', `architecture ${target} has no arguments ("${name}" is set)`, layer);
      }
      continue;
    }
    if (!ctx.catalog) continue;
    if (kind === undefined || kind === 'builtin') {
      const broken = customLayerFileError(layer.layer, ctx.catalog);
      if (broken) {
        add(
          'custom-layer-error',
          `${broken.file} cannot be imported${broken.line ? ` (line ${broken.line})` : ''}: ${broken.message}`,
          layer,
        );
        continue;
      }
      const where = layer.layer.startsWith(CUSTOM_LAYER_PREFIX)
        ? "no nn.Module subclass of that name in the project's utils/"
        : 'not a torch.nn module in PyTorch ' + ctx.catalog.torchVersion;
      add(
        'unknown-layer-class',
        `unknown layer class "${layer.layer}": ${where}${suggest(layer.layer, ctx.catalog)}`,
        layer,
      );
      continue;
    }
    const cls = kind;
    if (
      ins.length > 0 &&
      (ins.length < cls.inputs.min || (cls.inputs.max !== null && ins.length > cls.inputs.max))
    ) {
      const want =
        cls.inputs.max === cls.inputs.min
          ? `${cls.inputs.min}`
          : cls.inputs.max === null
            ? `at least ${cls.inputs.min}`
            : `${cls.inputs.min} to ${cls.inputs.max}`;
      add(
        'input-count',
        `${cls.name} takes ${want} input${want === '1' ? '' : 's'}, but ${ins.length} are connected`,
        layer,
      );
    }
    const byName = new Map(cls.arguments.map((a) => [a.name, a]));
    for (const [name, value] of Object.entries(layer.attributes)) {
      const arg = byName.get(name);
      if (!arg) {
        if (!cls.extraArguments) {
          const known = cls.arguments.map((a) => a.name).join(', ');
          add(
            'unknown-argument',
            `${cls.name} has no argument "${name}" (it has: ${known || 'none'})`,
            layer,
          );
        }
        continue;
      }
      if (!argumentFits(arg, value)) {
        add(
          'argument-type',
          `argument "${name}" must be ${describeTypes(arg)}, not ${describe(value)}`,
          layer,
        );
      }
    }
    for (const arg of cls.arguments) {
      if (arg.required && !Object.hasOwn(layer.attributes, arg.name)) {
        add('missing-argument', `required argument "${arg.name}" is not set`, layer);
      }
    }
  }
  const fed = new Set(arch.edges.map((e) => e.from));
  for (const layer of arch.layers) {
    if (!fed.has(layer.id) && !arch.outputs.includes(layer.id) && layer.layer !== INPUT_LAYER) {
      add('unused-layer', 'its result is not used: connect it or make it an output', layer, 'warning');
    }
  }
  return out;
}

/** The path of architectures from `start` back to `root` through resource layers, if there is one. */
function resourceLoop(
  start: string,
  root: string,
  resources: Readonly<Record<string, Architecture>>,
): string[] | null {
  const stack: { name: string; path: string[] }[] = [{ name: start, path: [root, start] }];
  const seen = new Set<string>();
  while (stack.length > 0) {
    const { name, path } = stack.pop()!;
    if (name === root) return path;
    if (seen.has(name)) continue;
    seen.add(name);
    const arch = Object.hasOwn(resources, name) ? resources[name] : undefined;
    for (const l of arch?.layers ?? []) {
      if (l.layer.startsWith(RESOURCE_LAYER_PREFIX)) {
        const next = l.layer.slice(RESOURCE_LAYER_PREFIX.length);
        stack.push({ name: next, path: [...path, next] });
      }
    }
  }
  return null;
}

/** How deep architectures nest under `name` (1: it uses none); Infinity on a loop. */
export function architectureDepth(name: string, resources: Readonly<Record<string, Architecture>>): number {
  const memo = new Map<string, number>();
  const visit = (n: string, active: Set<string>): number => {
    if (active.has(n)) return Infinity;
    const known = memo.get(n);
    if (known !== undefined) return known;
    const arch = Object.hasOwn(resources, n) ? resources[n] : undefined;
    active.add(n);
    let depth = 1;
    for (const l of arch?.layers ?? []) {
      if (l.layer.startsWith(RESOURCE_LAYER_PREFIX)) {
        depth = Math.max(depth, 1 + visit(l.layer.slice(RESOURCE_LAYER_PREFIX.length), active));
      }
    }
    active.delete(n);
    memo.set(n, depth);
    return depth;
  };
  return visit(name, new Set());
}

/** The error of the utils file a custom layer class would come from, when that file could not be read. */
function customLayerFileError(name: string, catalog: LayerCatalog): LayerCatalogError | undefined {
  if (!name.startsWith(CUSTOM_LAYER_PREFIX)) return undefined;
  const file = `${name.slice(0, name.lastIndexOf('.')).split('.').join('/')}.py`;
  return catalog.errors.find((e) => e.file === file);
}

function suggest(name: string, catalog: LayerCatalog): string {
  const lower = name.toLowerCase();
  const close = Object.keys(catalog.layers).filter((k) => k.toLowerCase() === lower);
  return close.length > 0 ? ` (did you mean ${close[0]}?)` : '';
}

function valueType(value: JsonValue): LayerArgumentType {
  if (value === null) return 'none';
  if (typeof value === 'boolean') return 'bool';
  if (typeof value === 'number') return Number.isInteger(value) ? 'int' : 'float';
  if (typeof value === 'string') return 'str';
  if (Array.isArray(value)) return 'tuple';
  return 'dict';
}

/** Whether a JSON value fits an argument: ints are floats too, lists are tuples and lists. */
export function argumentFits(arg: LayerArgument, value: JsonValue): boolean {
  const types = new Set(arg.types);
  if (types.has('any')) return true;
  const t = valueType(value);
  if (types.has(t)) return true;
  if (t === 'int' && types.has('float')) return true;
  if (t === 'tuple' && types.has('list')) return true;
  return false;
}

function describeTypes(arg: LayerArgument): string {
  const names = arg.types.map((t) => (t === 'none' ? 'None' : `${t === 'int' ? 'an' : 'a'} ${t}`));
  return names.length === 1 ? names[0]! : `${names.slice(0, -1).join(', ')} or ${names[names.length - 1]}`;
}

function describe(value: JsonValue): string {
  const t = valueType(value);
  const article = t === 'tuple' ? 'a list' : t === 'none' ? 'None' : t === 'int' ? 'an int' : `a ${t}`;
  return `${article} (${short(value)})`;
}
