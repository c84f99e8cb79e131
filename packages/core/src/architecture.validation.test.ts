import { describe, expect, it } from 'vitest';
import {
  architectureDepth,
  architectureOrder,
  parseInputShape,
  validateArchitecture,
} from './architecture.validation.js';
import type { LayerCatalog, LayerClass } from './layer-catalog.js';
import { ArchitectureSchema } from './model.js';
import type { Architecture, ArchitectureLayer } from './model.js';

const layerClass = (
  name: string,
  args: LayerClass['arguments'],
  inputs = { min: 1, max: 1 },
): LayerClass => ({
  name,
  source: 'torch',
  doc: '',
  arguments: args,
  extraArguments: false,
  inputs,
});

/** A catalog as the Python side reads it, cut down to what these tests use. */
const CATALOG: LayerCatalog = {
  python: '/usr/bin/python3 3.11.2',
  torchVersion: '1.13.0',
  errors: [],
  layers: {
    Conv2d: layerClass('Conv2d', [
      { name: 'in_channels', types: ['int'], required: true },
      { name: 'out_channels', types: ['int'], required: true },
      { name: 'kernel_size', types: ['int', 'tuple'], required: true },
      { name: 'padding', types: ['int', 'str', 'tuple'], required: false, default: 0 },
    ]),
    ReLU: layerClass('ReLU', [{ name: 'inplace', types: ['bool'], required: false, default: false }]),
    Flatten: layerClass('Flatten', []),
    Linear: layerClass('Linear', [
      { name: 'in_features', types: ['int'], required: true },
      { name: 'out_features', types: ['int'], required: true },
    ]),
    Dropout: layerClass('Dropout', [{ name: 'p', types: ['float'], required: false, default: 0.5 }]),
    Bilinear: layerClass('Bilinear', [], { min: 2, max: 2 }),
  },
};

function layer(id: string, cls: string, attributes: ArchitectureLayer['attributes'] = {}): ArchitectureLayer {
  return { id, layer: cls, attributes };
}

function chain(...layers: ArchitectureLayer[]): Architecture {
  const all = [{ id: 'image', layer: 'Input', shape: ['N', 1, 28, 28], attributes: {} }, ...layers];
  return {
    name: 'Net',
    layers: all,
    edges: all.slice(1).map((l, i) => ({ from: all[i]!.id, to: l.id })),
    outputs: [all[all.length - 1]!.id],
  };
}

const GOOD = chain(
  layer('conv', 'Conv2d', { in_channels: 1, out_channels: 8, kernel_size: 3 }),
  layer('relu', 'ReLU'),
  layer('flat', 'Flatten'),
  layer('fc', 'Linear', { in_features: 5408, out_features: 10 }),
);

function problems(arch: Architecture, resources: Record<string, Architecture> = {}): string[] {
  return validateArchitecture(arch, { resources: { [arch.name]: arch, ...resources }, catalog: CATALOG })
    .filter((d) => d.severity === 'error')
    .map((d) => d.message);
}

describe('validateArchitecture', () => {
  it('accepts a well-formed chain', () => {
    expect(validateArchitecture(GOOD, { resources: {}, catalog: CATALOG })).toEqual([]);
  });

  it('names the layer of an unknown class, suggesting the right case', () => {
    const arch = chain(layer('conv', 'conv2d', { in_channels: 1 }));
    const [d] = validateArchitecture(arch, { resources: {}, catalog: CATALOG });
    expect(d).toMatchObject({
      severity: 'error',
      code: 'unknown-layer-class',
      resource: 'Net',
      layer: 'conv',
    });
    expect(d!.message).toBe(
      'Net: layer "conv" (conv2d): unknown layer class "conv2d": not a torch.nn module in PyTorch 1.13.0 (did you mean Conv2d?)',
    );
    expect(problems(chain(layer('b', 'utils.blocks.Missing')))).toEqual([
      'Net: layer "b" (utils.blocks.Missing): unknown layer class "utils.blocks.Missing": no nn.Module subclass of that name in the project\'s utils/',
    ]);
  });

  it("flags a required argument left unset (the seeds' <none>) on its layer", () => {
    expect(problems(chain(layer('fc', 'Linear', { in_features: 3 })))).toEqual([
      'Net: layer "fc" (Linear): required argument "out_features" is not set',
    ]);
  });

  it('type-checks argument values and refuses unknown ones', () => {
    expect(
      problems(
        chain(
          layer('conv', 'Conv2d', {
            in_channels: '1',
            out_channels: 8.5,
            kernel_size: [3, 3],
            padding: 'same',
          }),
          layer('drop', 'Dropout', { p: 1, rate: 0.2 }),
        ),
      ),
    ).toEqual([
      'Net: layer "conv" (Conv2d): argument "in_channels" must be an int, not a str ("1")',
      'Net: layer "conv" (Conv2d): argument "out_channels" must be an int, not a float (8.5)',
      'Net: layer "drop" (Dropout): Dropout has no argument "rate" (it has: p)',
    ]);
  });

  it('finds a cycle and names a layer on it', () => {
    const arch = { ...GOOD, edges: [...GOOD.edges, { from: 'fc', to: 'relu' }] };
    expect(architectureOrder(arch)).toBeNull();
    const found = problems(arch);
    expect(found[0]).toMatch(
      /^Net: layer "(relu|flat|fc)" \(\w+\): is part of a cycle \((relu|flat|fc) → .*\)/,
    );
    // The edge that closes the loop is a second input of relu, which is flagged too.
    expect(found.slice(1)).toEqual(['Net: layer "relu" (ReLU): ReLU takes 1 input, but 2 are connected']);
  });

  it.each([
    [[], 'shape [] is not a shape: it needs at least one dimension'],
    ['N,1,28,28', 'shape "N,1,28,28" is not a shape: a list of sizes and names, e.g. ["N", 1, 28, 28]'],
    [
      ['N', 0, 28],
      'shape ["N",0,28]: dimension 1 (0) must be a whole number from 1 to 2147483647, or a name like "N"',
    ],
    [
      ['N', 1.5],
      'shape ["N",1.5]: dimension 1 (1.5) must be a whole number from 1 to 2147483647, or a name like "N"',
    ],
    [
      ['N', 'two words'],
      'shape ["N","two words"]: dimension 1 ("two words") must be a size or a name (letters, digits, _; like "N")',
    ],
    [['N', null], 'shape ["N",null]: dimension 1 is null, not a size or a name like "N"'],
    [[1, 2, 3, 4, 5, 6, 7, 8, 9], 'shape has 9 dimensions, more than the 8 allowed'],
  ])('refuses the input shape %j on the Input layer', (shape, message) => {
    const arch = { ...GOOD, layers: [{ ...GOOD.layers[0]!, shape }, ...GOOD.layers.slice(1)] };
    expect(problems(arch)).toEqual([`Net: layer "image" (Input): ${message}`]);
  });

  it('accepts symbolic dimensions', () => {
    expect(parseInputShape(['N', 'T', 16])).toEqual({ shape: ['N', 'T', 16] });
  });

  it('names a layer using an architecture that does not exist', () => {
    expect(problems(chain(layer('enc', 'resources.Encoder')))).toEqual([
      'Net: layer "enc" (resources.Encoder): uses architecture "Encoder", which does not exist in resources/',
    ]);
  });

  it('checks nested architectures: their inputs, and loops between architectures', () => {
    const encoder: Architecture = {
      ...chain(layer('fc', 'Linear', { in_features: 1, out_features: 2 })),
      name: 'Encoder',
    };
    expect(problems(chain(layer('enc', 'resources.Encoder')), { Encoder: encoder })).toEqual([]);
    const two: Architecture = {
      ...chain(layer('enc', 'resources.Encoder')),
      layers: [
        ...chain(layer('enc', 'resources.Encoder')).layers,
        { id: 'other', layer: 'Input', shape: [2], attributes: {} },
      ],
      edges: [
        { from: 'image', to: 'enc' },
        { from: 'other', to: 'enc' },
      ],
    };
    expect(problems(two, { Encoder: encoder })).toEqual([
      'Net: layer "enc" (resources.Encoder): Encoder takes 1 input, but 2 are connected',
    ]);
    const a: Architecture = { ...chain(layer('b', 'resources.B')), name: 'A' };
    const b: Architecture = { ...chain(layer('a', 'resources.A')), name: 'B' };
    expect(problems(a, { B: b })).toEqual([
      'A: layer "b" (resources.B): architectures use each other in a loop (A → B → A)',
    ]);
    expect(architectureDepth('A', { A: a, B: b })).toBe(Infinity);
    expect(
      architectureDepth('Net', { Net: chain(layer('enc', 'resources.Encoder')), Encoder: encoder }),
    ).toBe(2);
  });

  it('checks the graph: edges to nowhere, outputs, inputs, reserved and duplicate names', () => {
    const arch: Architecture = {
      name: 'Net',
      layers: [
        { id: 'image', layer: 'Input', shape: [4], attributes: {} },
        { id: 'training', layer: 'ReLU', attributes: {} },
        { id: 'relu', layer: 'ReLU', attributes: {} },
        { id: 'relu', layer: 'ReLU', attributes: {} },
        { id: 'bi', layer: 'Bilinear', attributes: {} },
      ],
      edges: [
        { from: 'image', to: 'training' },
        { from: 'ghost', to: 'relu' },
        { from: 'image', to: 'bi' },
      ],
      outputs: ['bi', 'nothing'],
    };
    expect(problems(arch)).toEqual([
      'Net: layer "training" (ReLU): "training" cannot be a layer name: the generated module needs it',
      'Net: layer "relu" (ReLU): another layer is also named "relu"',
      'Net: an edge ghost → relu names layer "ghost", which does not exist',
      'Net: output "nothing" names a layer that does not exist',
      'Net: layer "bi" (Bilinear): Bilinear takes 2 inputs, but 1 are connected',
    ]);
    expect(problems({ ...arch, layers: [], edges: [], outputs: [] })).toEqual([
      'Net: has no Input layer: add one with the shape of the data (e.g. ["N", 1, 28, 28])',
      'Net: has no output: choose the layer(s) whose result it returns',
    ]);
  });

  it('checks Select: one input and an int index', () => {
    expect(
      problems(
        chain(
          layer('conv', 'Conv2d', { in_channels: 1, out_channels: 8, kernel_size: 3 }),
          layer('pick', 'Select'),
        ),
      ),
    ).toEqual(['Net: layer "pick" (Select): required argument "index" is not set']);
    expect(problems(chain(layer('pick', 'Select', { index: 'first', dim: 1 })))).toEqual([
      'Net: layer "pick" (Select): argument "index" must be an int, not a str ("first")',
      'Net: layer "pick" (Select): Select has no argument "dim" (it has: index)',
    ]);
  });

  it('refuses an argument named like a Python keyword (the generated code passes arguments by keyword)', () => {
    const arch = chain(layer('fc', 'Linear', { in_features: 1, out_features: 2, lambda: 1 }));
    expect(problems(arch)).toEqual([
      'Net: layer "fc" (Linear): argument "lambda" is a Python keyword',
      'Net: layer "fc" (Linear): Linear has no argument "lambda" (it has: in_features, out_features)',
    ]);
  });

  it('warns about layers whose result goes nowhere', () => {
    const arch = {
      ...GOOD,
      layers: [...GOOD.layers, layer('extra', 'ReLU')],
      edges: [...GOOD.edges, { from: 'conv', to: 'extra' }],
    };
    const warnings = validateArchitecture(arch, { resources: {}, catalog: CATALOG }).filter(
      (d) => d.severity === 'warning',
    );
    expect(warnings.map((d) => d.message)).toEqual([
      'Net: layer "extra" (ReLU): its result is not used: connect it or make it an output',
    ]);
  });

  it('orders layers after their inputs, ties in file order', () => {
    const arch: Architecture = {
      name: 'Net',
      layers: [
        { id: 'add', layer: 'Add', attributes: {} },
        { id: 'x', layer: 'Input', shape: [4], attributes: {} },
        { id: 'b', layer: 'ReLU', attributes: {} },
        { id: 'a', layer: 'ReLU', attributes: {} },
      ],
      edges: [
        { from: 'a', to: 'add' },
        { from: 'b', to: 'add' },
        { from: 'x', to: 'a' },
        { from: 'x', to: 'b' },
      ],
      outputs: ['add'],
    };
    expect(architectureOrder(arch)).toEqual(['x', 'b', 'a', 'add']);
  });
});

describe('ArchitectureSchema', () => {
  it('is bounded and names the broken field', () => {
    const tooMany = { ...GOOD, layers: Array.from({ length: 5001 }, (_, i) => layer(`l${i}`, 'ReLU')) };
    expect(ArchitectureSchema.safeParse(tooMany).error?.issues[0]?.path).toEqual(['layers']);
    const badName = ArchitectureSchema.safeParse({ ...GOOD, name: 'class' });
    expect(badName.error?.issues[0]?.message).toBe('"class" is a Python keyword');
    const badClass = ArchitectureSchema.safeParse({ ...GOOD, layers: [layer('x', 'nn/Conv2d')] });
    expect(badClass.error?.issues[0]?.path).toEqual(['layers', 0, 'layer']);
    const deep = {
      ...GOOD,
      layers: [{ ...layer('x', 'ReLU'), attributes: { v: JSON.parse('['.repeat(70) + ']'.repeat(70)) } }],
    };
    expect(ArchitectureSchema.safeParse(deep).error?.issues[0]?.message).toMatch(
      /nested deeper than 64 levels/,
    );
  });
});
