import { describe, expect, it } from 'vitest';
import type {
  Architecture,
  Diagnostic,
  JsonValue,
  OperationInterface,
  Pipeline,
  PipelineNode,
} from './model.js';
import { parseOperationSource } from './python-interface.parser.js';
import { attributeValueFits, portTypesCompatible, validatePipeline } from './pipeline.validation.js';
import { DISPLAY_IMAGE, GEN_ARRAY, TRAIN_BASIC } from './seed-operations.fixture.js';

function op(code: string): OperationInterface {
  const r = parseOperationSource(code);
  if (!r.interface) throw new Error('bad fixture');
  return r.interface;
}

const MULTIPLY = op(
  [
    'import numpy as np',
    'class Multiply:',
    '    def __init__(self, factor=2.0, times: int = 1, mode="x", opts={}, shape=(1, 2), flag=False, seed=None, fn=len, limit: Optional[int] = None):',
    '        pass',
    '    def execute(self, a: np.ndarray, b: numpy.ndarray, c: int) -> float:',
    '        return product',
    '',
  ].join('\n'),
);

const OPERATIONS: Record<string, OperationInterface | null> = {
  GenArray: op(GEN_ARRAY),
  DisplayImage: op(DISPLAY_IMAGE),
  TrainBasic: op(TRAIN_BASIC),
  Multiply: MULTIPLY,
  Broken: null,
  Typed: op(
    'class Typed:\n    def execute(self, text: str, things: List[int], anything: Any, n: float):\n        return out\n',
  ),
  MakeStr: op('class MakeStr:\n    def execute(self) -> str:\n        return s\n'),
  MakeInt: op('class MakeInt:\n    def execute(self) -> int:\n        return i\n'),
  MakeList: op('class MakeList:\n    def execute(self) -> list:\n        return items\n'),
};

function node(
  id: string,
  operation: string,
  attributes: Record<string, JsonValue> = {},
  references = {},
): PipelineNode {
  return { id, operation, attributes, references };
}

function pipeline(nodes: PipelineNode[], edges: string[]): Pipeline {
  return {
    name: 'p',
    nodes,
    connections: edges.map((e) => {
      const [from, to] = e.split('>') as [string, string];
      const [fn, fp] = from.split('.') as [string, string];
      const [tn, tp] = to.split('.') as [string, string];
      return { from: { node: fn, port: fp }, to: { node: tn, port: tp } };
    }),
  };
}

const messages = (ds: Diagnostic[]): string[] => ds.map((d) => d.message);

describe('validatePipeline', () => {
  it('accepts the tutorial pipeline: Input → TrainBasic → Output', () => {
    const p = pipeline(
      [
        node('imgs', 'Input', { artifact: 'cifar-imgs' }),
        node('labels', 'Input', { artifact: 'cifar-labels' }),
        node('train', 'TrainBasic', { epochs: 5, batch_size: 64, shuffle: false }, { model: 'cnn' }),
        node('save', 'Output', { saveName: 'trained-cnn' }),
      ],
      ['imgs.data>train.train_imgs', 'labels.data>train.train_labels', 'train.model>save.data'],
    );
    expect(
      validatePipeline(p, OPERATIONS, { artifactNames: new Set(['cifar-imgs', 'cifar-labels', 'cnn']) }),
    ).toEqual([]);
  });

  it('reports unconnected inputs, naming node and port', () => {
    const p = pipeline(
      [
        node('gen', 'GenArray'),
        node('mul', 'Multiply'),
        node('show', 'DisplayImage'),
        node('save', 'Output', { saveName: 'x' }),
      ],
      ['gen.arr>mul.a'],
    );
    expect(validatePipeline(p, OPERATIONS)).toEqual([
      {
        severity: 'error',
        code: 'unconnected-input',
        message: 'node "mul" (Multiply): input "b" is not connected',
        pipeline: 'p',
        node: 'mul',
        port: 'b',
        operation: 'Multiply',
      },
      expect.objectContaining({ message: 'node "mul" (Multiply): input "c" is not connected', port: 'c' }),
      expect.objectContaining({ message: 'node "show" (DisplayImage): input "image" is not connected' }),
      expect.objectContaining({ message: 'node "save" (Output): input "data" is not connected' }),
    ]);
  });

  it('reports duplicate ids, unknown and broken operations', () => {
    const p = pipeline(
      [node('a', 'GenArray'), node('a', 'GenArray'), node('b', 'Nope'), node('c', 'Broken')],
      [],
    );
    expect(validatePipeline(p, OPERATIONS).map((d) => [d.code, d.node, d.message])).toEqual([
      ['duplicate-node', 'a', 'node "a": 2 nodes have this id; ids must be unique'],
      ['unknown-operation', 'b', 'node "b" (Nope): there is no operation named Nope'],
      [
        'invalid-operation',
        'c',
        'node "c" (Broken): operation Broken has errors in its code; fix them to use it',
      ],
    ]);
  });

  it('checks labels and gpus: whole numbers from 0 to 64, labels as workers have them, none on Input/Output', () => {
    const p = pipeline(
      [
        node('src', 'Input', { artifact: 'x' }),
        node('gen', 'GenArray'),
        node('neg', 'GenArray'),
        node('half', 'GenArray'),
        node('many', 'GenArray'),
        node('bad', 'GenArray'),
        node('save', 'Output', { saveName: 'y' }),
      ],
      ['src.data>save.data'],
    );
    const [src, gen, neg, half, many, bad, save] = p.nodes as [
      PipelineNode,
      PipelineNode,
      PipelineNode,
      PipelineNode,
      PipelineNode,
      PipelineNode,
      PipelineNode,
    ];
    Object.assign(src, { gpus: 1 });
    Object.assign(gen, { gpus: 2, labels: ['gpu', 'gpu:nvidia-h200', 'zone:eu'] });
    Object.assign(neg, { gpus: -1 });
    Object.assign(half, { gpus: 1.5 });
    Object.assign(many, { gpus: 65 });
    Object.assign(bad, { labels: ['GPU', 'a b', ''] });
    Object.assign(save, { gpus: 0, labels: ['gpu'] });
    const found = validatePipeline(p, OPERATIONS)
      .filter((d) => d.code === 'invalid-gpus' || d.code === 'invalid-labels')
      .map((d) => [d.code, d.node, d.message]);
    // gen's labels and gpus, and save's gpus 0, are fine: eight problems, in the validator's order of nodes.
    expect(found).toHaveLength(8);
    expect(found).toEqual(
      expect.arrayContaining([
        [
          'invalid-gpus',
          'src',
          'node "src" (Input): Input nodes run on the server, not on a GPU: remove gpus',
        ],
        [
          'invalid-gpus',
          'neg',
          'node "neg" (GenArray): gpus -1 is not a number of GPUs (a whole number from 0 to 64)',
        ],
        [
          'invalid-gpus',
          'half',
          'node "half" (GenArray): gpus 1.5 is not a number of GPUs (a whole number from 0 to 64)',
        ],
        [
          'invalid-gpus',
          'many',
          'node "many" (GenArray): gpus 65 is not a number of GPUs (a whole number from 0 to 64)',
        ],
        [
          'invalid-labels',
          'bad',
          'node "bad" (GenArray): "GPU" is not a label (a label is lowercase letters, digits, ".", "_", "-" or ":")',
        ],
        [
          'invalid-labels',
          'bad',
          'node "bad" (GenArray): "a b" is not a label (a label is lowercase letters, digits, ".", "_", "-" or ":")',
        ],
        ['invalid-labels', 'bad', 'node "bad" (GenArray): "" is not a label (a label must not be empty)'],
        [
          'invalid-labels',
          'save',
          'node "save" (Output): Output nodes run on the server, not on a worker: remove labels',
        ],
      ]),
    );
  });

  it('does not take properties of Object.prototype for operations', () => {
    const p = pipeline([node('a', 'constructor'), node('b', 'toString')], []);
    expect(validatePipeline(p, OPERATIONS).map((d) => d.code)).toEqual([
      'unknown-operation',
      'unknown-operation',
    ]);
  });

  it('reports connections to unknown nodes and ports', () => {
    const p = pipeline(
      [node('gen', 'GenArray'), node('show', 'DisplayImage'), node('in', 'Input', { artifact: 'a' })],
      [
        'gen.arr>show.image',
        'gen.nope>show.image',
        'gen.arr>show.pic',
        'ghost.x>show.image',
        'gen.arr>void.y',
        'in.value>show.image',
      ],
    );
    expect(messages(validatePipeline(p, OPERATIONS))).toEqual([
      'node "gen" (GenArray): has no output "nope" (outputs: arr; connection gen.nope → show.image)',
      'node "show" (DisplayImage): input "image" is connected 4 times (from gen.arr, gen.nope, ghost.x, in.value); an input takes one connection',
      'node "show" (DisplayImage): has no input "pic" (inputs: image; connection gen.arr → show.pic)',
      'node "in" (Input): has no output "value" (outputs: data; connection in.value → show.image)',
      'connection ghost.x → show.image: node "ghost" does not exist',
      'connection gen.arr → void.y: node "void" does not exist',
    ]);
  });

  it('reports two connections into one input', () => {
    const p = pipeline(
      [node('a', 'GenArray'), node('b', 'GenArray'), node('show', 'DisplayImage')],
      ['a.arr>show.image', 'b.arr>show.image'],
    );
    expect(validatePipeline(p, OPERATIONS)).toEqual([
      expect.objectContaining({
        code: 'input-connected-twice',
        node: 'show',
        port: 'image',
        message:
          'node "show" (DisplayImage): input "image" is connected 2 times (from a.arr, b.arr); an input takes one connection',
      }),
    ]);
  });

  it('reports cycles with the nodes in order', () => {
    const p = pipeline(
      [node('x', 'Multiply'), node('y', 'Multiply')],
      ['x.product>y.a', 'y.product>x.a', 'x.product>y.b', 'x.product>y.c', 'y.product>x.b', 'y.product>x.c'],
    );
    expect(validatePipeline(p, OPERATIONS).filter((d) => d.severity === 'error')).toEqual([
      expect.objectContaining({
        code: 'cycle',
        node: 'x',
        message: 'node "x" (Multiply): pipeline has a cycle: x → y → x',
      }),
    ]);
  });

  it('checks attribute names and types', () => {
    const p = pipeline(
      [
        node('gen', 'GenArray', { length: 2.5, colour: 'red' }),
        node('mul', 'Multiply', {
          factor: 3,
          times: 2.0,
          mode: 7,
          opts: [],
          shape: {},
          flag: 1,
          seed: 'anything',
          fn: { any: 'thing' },
          limit: null,
        }),
        node('ok', 'Multiply', { times: null }),
      ],
      ['gen.arr>mul.a', 'gen.arr>mul.b', 'gen.arr>mul.c', 'gen.arr>ok.a', 'gen.arr>ok.b', 'gen.arr>ok.c'],
    );
    expect(messages(validatePipeline(p, OPERATIONS).filter((d) => d.severity === 'error'))).toEqual([
      'node "gen" (GenArray): attribute "colour" is not declared by GenArray (attributes: length)',
      'node "gen" (GenArray): attribute "length" expects int, got 2.5',
      'node "mul" (Multiply): attribute "flag" expects bool, got 1',
      'node "mul" (Multiply): attribute "mode" expects str, got 7',
      'node "mul" (Multiply): attribute "opts" expects dict, got list []',
      'node "mul" (Multiply): attribute "shape" expects list, got dict {}',
      'node "ok" (Multiply): attribute "times" expects int, got None',
    ]);
  });

  it('checks the built-ins: Input needs an artifact, Output a saveName', () => {
    const p = pipeline(
      [
        node('in1', 'Input'),
        node('in2', 'Input', { artifact: 'missing' }),
        node('in3', 'Input', { artifact: 3, extra: true }),
        node('out1', 'Output'),
        node('out2', 'Output', { saveName: '../evil' }),
        node('out3', 'Output', { saveName: 'same' }),
        node('out4', 'Output', { saveName: 'same' }),
      ],
      ['in1.data>out1.data', 'in2.data>out2.data', 'in3.data>out3.data', 'in3.data>out4.data'],
    );
    expect(
      validatePipeline(p, OPERATIONS, { artifactNames: new Set(['present']) }).map((d) => d.message),
    ).toEqual([
      'node "in1" (Input): attribute "artifact" must name the artifact to read',
      'node "in2" (Input): artifact "missing" does not exist',
      'node "in3" (Input): attribute "artifact" expects str, got 3',
      'node "in3" (Input): attribute "extra" is not declared by Input (attributes: artifact)',
      'node "out1" (Output): attribute "saveName" must name the artifact to write',
      'node "out2" (Output): attribute "saveName": "../evil" may only contain letters, digits, space, `_`, `-` and `.`, and must not start with `.`',
      'node "out3" (Output): saveName "same" is also written by node "out4"',
      'node "out4" (Output): saveName "same" is also written by node "out3"',
    ]);
    // Without a list of artifacts, any artifact name is accepted.
    expect(
      validatePipeline(
        pipeline(
          [node('i', 'Input', { artifact: 'x' }), node('o', 'Output', { saveName: 'y' })],
          ['i.data>o.data'],
        ),
        OPERATIONS,
      ),
    ).toEqual([]);
  });

  it('checks references', () => {
    const p = pipeline(
      [
        node('in1', 'Input', { artifact: 'a' }),
        node('in2', 'Input', { artifact: 'a' }),
        node('t1', 'TrainBasic', {}, {}),
        node('t2', 'TrainBasic', {}, { model: '', optimizer: 'adam' }),
        node('t3', 'TrainBasic', {}, { model: 'ghost' }),
        node('g', 'GenArray', {}, { net: 'a' }),
      ],
      [
        'in1.data>t1.train_imgs',
        'in2.data>t1.train_labels',
        'in1.data>t2.train_imgs',
        'in2.data>t2.train_labels',
        'in1.data>t3.train_imgs',
        'in2.data>t3.train_labels',
      ],
    );
    expect(
      validatePipeline(p, OPERATIONS, { artifactNames: new Set(['a']) }).map((d) => [
        d.node,
        d.port,
        d.message,
      ]),
    ).toEqual([
      ['t1', 'model', 'node "t1" (TrainBasic): reference "model" has no value'],
      ['t2', 'model', 'node "t2" (TrainBasic): reference "model" has no value'],
      [
        't2',
        'optimizer',
        'node "t2" (TrainBasic): reference "optimizer" is not declared by TrainBasic (references: model)',
      ],
      [
        't3',
        'model',
        'node "t3" (TrainBasic): reference "model" names artifact "ghost", which does not exist',
      ],
      ['g', 'net', 'node "g" (GenArray): reference "net" is not declared by GenArray (it has none)'],
    ]);
  });

  it('a reference naming neither an architecture nor an artifact says both were looked for', () => {
    const p: Pipeline = {
      name: 'p',
      nodes: [{ id: 't', operation: 'TrainBasic', attributes: {}, references: { model: 'Ghost' } }],
      connections: [],
    };
    expect(
      validatePipeline(p, OPERATIONS, { artifactNames: new Set(['a']), resources: {} })
        .filter((d) => d.port === 'model')
        .map((d) => d.message),
    ).toEqual([
      'node "t" (TrainBasic): reference "model" names "Ghost", which is neither an architecture (resources/) nor an artifact of the project',
    ]);
  });

  it('a reference may name an architecture; one that cannot be built is an error on the node', () => {
    const good: Architecture = {
      name: 'Net',
      layers: [
        { id: 'x', layer: 'Input', shape: ['N', 4], attributes: {} },
        { id: 'fc', layer: 'Linear', attributes: { in_features: 4, out_features: 2 } },
      ],
      edges: [{ from: 'x', to: 'fc' }],
      outputs: ['fc'],
    };
    const looping: Architecture = { ...good, name: 'Loop', edges: [...good.edges, { from: 'fc', to: 'fc' }] };
    const p = pipeline(
      [
        node('in1', 'Input', { artifact: 'a' }),
        node('in2', 'Input', { artifact: 'a' }),
        node('t1', 'TrainBasic', {}, { model: 'Net' }),
        node('t2', 'TrainBasic', {}, { model: 'Loop' }),
      ],
      [
        'in1.data>t1.train_imgs',
        'in2.data>t1.train_labels',
        'in1.data>t2.train_imgs',
        'in2.data>t2.train_labels',
      ],
    );
    const found = validatePipeline(p, OPERATIONS, {
      artifactNames: new Set(['a']),
      resources: { Net: good, Loop: looping },
    });
    // Without the layer catalog only what needs no PyTorch is checked: here the cycle.
    expect(found.map((d) => [d.node, d.port, d.message])).toEqual([
      [
        't2',
        'model',
        'node "t2" (TrainBasic): reference "model": Loop: layer "fc" (Linear): is part of a cycle (fc → fc): a layer cannot feed itself',
      ],
    ]);
  });

  it('warns about port type mismatches only when both sides have hints', () => {
    const p = pipeline(
      [
        node('s', 'MakeStr'),
        node('i', 'MakeInt'),
        node('l', 'MakeList'),
        node('g', 'GenArray'),
        node('t', 'Typed'),
        node('m', 'Multiply'),
      ],
      ['i.i>t.text', 'l.items>t.things', 's.s>t.anything', 'i.i>t.n', 'g.arr>m.a', 's.s>m.b', 'i.i>m.c'],
    );
    expect(validatePipeline(p, OPERATIONS)).toEqual([
      {
        severity: 'warning',
        code: 'port-type-mismatch',
        message: 'node "t" (Typed): input "text" expects str but node "i" output "i" gives int',
        pipeline: 'p',
        node: 't',
        port: 'text',
        operation: 'Typed',
      },
      expect.objectContaining({
        message: 'node "m" (Multiply): input "b" expects numpy.ndarray but node "s" output "s" gives str',
      }),
    ]);
  });

  it('sorts errors before warnings, then by node position', () => {
    const p = pipeline(
      [node('s', 'MakeStr'), node('t', 'Typed'), node('a', 'DisplayImage')],
      ['s.s>t.n', 's.s>t.text', 's.s>t.things', 's.s>t.anything'],
    );
    expect(validatePipeline(p, OPERATIONS).map((d) => [d.severity, d.node, d.port])).toEqual([
      ['error', 'a', 'image'],
      ['warning', 't', 'n'],
      ['warning', 't', 'things'],
    ]);
  });
});

describe('attributeValueFits', () => {
  const spec = (type: Parameters<typeof attributeValueFits>[0]['type'], def: JsonValue | undefined = 0) => ({
    name: 'x',
    type,
    default: def,
    defaultSource: '',
  });
  it.each([
    ['int', 3, true],
    ['int', -3, true],
    ['int', 3.5, false],
    ['int', '3', false],
    ['float', 3, true],
    ['float', 3.5, true],
    ['float', true, false],
    ['str', '', true],
    ['bool', false, true],
    ['bool', 0, false],
    ['list', [], true],
    ['list', {}, false],
    ['dict', {}, true],
    ['dict', [], false],
    ['any', { a: 1 }, true],
    ['none', 5, true],
  ] as const)('%s accepts %j: %s', (type, value, fits) => {
    expect(attributeValueFits(spec(type), value as JsonValue)).toBe(fits);
  });

  it('takes None where the default is None, or the type is any', () => {
    expect(attributeValueFits(spec('int', null), null)).toBe(true);
    expect(attributeValueFits(spec('int', 1), null)).toBe(false);
    expect(attributeValueFits(spec('any', undefined), null)).toBe(true);
    expect(attributeValueFits(spec('str', undefined), null)).toBe(false);
  });
});

describe('portTypesCompatible', () => {
  it.each([
    ['np.ndarray', 'numpy.ndarray', true],
    ['numpy.ndarray', 'np.ndarray', true],
    ['int', 'float', true],
    ['float', 'int', false],
    ['Any', 'int', true],
    ['typing.Any', 'int', true],
    ['str', 'object', true],
    ['List[int]', 'list', true],
    ['list', 'List[int]', true],
    ['List[int]', 'list[int]', true],
    ['List[int]', 'List[str]', false],
    ['Optional[int]', 'int', true],
    ['Dict[str, int]', 'dict[str,int]', true],
    ['str', 'int', false],
    ['torch.Tensor', 'np.ndarray', false],
  ] as const)('%s → %s: %s', (from, to, ok) => {
    expect(portTypesCompatible(from, to)).toBe(ok);
  });
});
