import { execFileSync } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  TEST_PYTHON,
  chain,
  cleanEnv,
  makeTempDir,
  py,
  removeTree,
  writeProjectFolder,
} from '@deepforge/engine/test-support';
import { findRuntimeDir } from '@deepforge/engine';
import { cli } from './test-support/run-cli.js';

const EXAMPLE = fileURLToPath(new URL('../../../examples/fashion-mnist/', import.meta.url));

// One data dir for the file: the torch part of the layer catalog is cached there after the first check.
let tmp: string;
let env: Record<string, string | undefined>;
let project: string;

/** An architecture chain from Input `image` [N, 1, 28, 28] through `layers`, returning the last. */
function net(
  name: string,
  layers: { id: string; layer: string; attributes?: object }[],
  shape: unknown = ['N', 1, 28, 28],
): object {
  const all = [{ id: 'image', layer: 'Input', shape }, ...layers];
  return {
    name,
    layers: all,
    edges: all.slice(1).map((l, i) => ({ from: all[i]!.id, to: l.id })),
    outputs: [all[all.length - 1]!.id],
  };
}

const CONV = { id: 'conv', layer: 'Conv2d', attributes: { in_channels: 1, out_channels: 8, kernel_size: 3 } };
const FLAT = { id: 'flat', layer: 'Flatten' };

const ARCHITECTURES: Record<string, object> = {
  Good: net('Good', [
    CONV,
    { id: 'relu', layer: 'ReLU' },
    FLAT,
    { id: 'fc', layer: 'Linear', attributes: { in_features: 5408, out_features: 10 } },
  ]),
  Mismatch: net('Mismatch', [
    CONV,
    FLAT,
    { id: 'fc', layer: 'Linear', attributes: { in_features: 1000, out_features: 10 } },
  ]),
  UnknownClass: net('UnknownClass', [CONV, { id: 'act', layer: 'Relu' }]),
  MissingArgument: net('MissingArgument', [
    CONV,
    FLAT,
    { id: 'fc', layer: 'Linear', attributes: { in_features: 5408 } },
  ]),
  WrongType: net('WrongType', [{ ...CONV, attributes: { ...CONV.attributes, kernel_size: 'three' } }]),
  Cycle: {
    ...net('Cycle', [CONV, { id: 'relu', layer: 'ReLU' }]),
    edges: [
      { from: 'image', to: 'conv' },
      { from: 'conv', to: 'relu' },
      { from: 'relu', to: 'conv' },
    ],
  },
  BadShape: net('BadShape', [CONV], 'N x 1 x 28 x 28'),
  MissingResource: net('MissingResource', [{ id: 'backbone', layer: 'resources.Backbone' }]),
  SyntaxError: net('SyntaxError', [{ id: 'odd', layer: 'utils.broken.Odd' }]),
  CtorRaises: net('CtorRaises', [{ id: 'picky', layer: 'utils.layers.Picky', attributes: { size: 5 } }]),
  Nested: net('Nested', [
    { id: 'inner', layer: 'resources.Good' },
    { id: 'probs', layer: 'Softmax', attributes: { dim: 1 } },
  ]),
};

beforeAll(async () => {
  tmp = await makeTempDir('resources');
  env = cleanEnv({ DEEPFORGE_DATA_DIR: join(tmp, 'data'), DEEPFORGE_PYTHON: TEST_PYTHON, NO_COLOR: '1' });
  project = await writeProjectFolder(join(tmp, 'project'), {
    operations: {
      Describe: py(
        'import torch',
        '',
        'class Describe():',
        '    def __init__(self, net, batch=3):',
        '        self.net = net',
        '        self.batch = batch',
        '',
        '    def execute(self):',
        '        out = self.net(torch.zeros(self.batch, 1, 28, 28))',
        '        print("built %s.%s, output %s" % (type(self.net).__module__, type(self.net).__name__, list(out.shape)))',
        '        return self.net',
      ),
      Load: py(
        'class Load():',
        '    def execute(self, net):',
        '        print("loaded %s with %d parameters" % (type(net).__name__, sum(p.numel() for p in net.parameters())))',
        '        return 1',
      ),
    },
    pipelines: {
      describe: chain(
        [
          { id: 'describe', operation: 'Describe', references: { net: 'Nested' } },
          { id: 'load', operation: 'Load' },
          { id: 'save', operation: 'Output', attributes: { saveName: 'described' } },
        ],
        [
          ['describe.net', 'load.net'],
          ['describe.net', 'save.data'],
        ],
      ),
      broken: chain([{ id: 'describe', operation: 'Describe', references: { net: 'Cycle' } }], []),
      missing: chain([{ id: 'describe', operation: 'Describe', references: { net: 'Ghost' } }], []),
    },
    utils: {
      nets: py(
        'import torch',
        'import torch.nn as nn',
        '',
        'class Small(nn.Module):',
        '    def __init__(self, width=4):',
        '        super().__init__()',
        '        self.fc = nn.Linear(width, 3)',
        '',
        '    def forward(self, x):',
        '        return torch.relu(self.fc(x))',
        '',
        'class Branchy(nn.Module):',
        '    def forward(self, x):',
        '        return x if x.sum() > 0 else -x',
      ),
      broken: 'class Odd(:\n    pass\n',
      layers: py(
        'import torch.nn as nn',
        '',
        'class Picky(nn.Module):',
        '    def __init__(self, size=3):',
        '        super().__init__()',
        '        raise ValueError("size %d is not supported" % size)',
      ),
    },
    files: {
      ...Object.fromEntries(
        Object.entries(ARCHITECTURES).map(([name, arch]) => [
          `resources/${name}.json`,
          JSON.stringify(arch, null, 2),
        ]),
      ),
      // Models saved as class + weights, as the fashion-mnist example does.
      'serializers/torch_module.py': py(
        'import torch, deepforge',
        'from deepforge.training.serialization import dump_module, load_module',
        'deepforge.serialization.register(torch.nn.Module, dump_module, load_module)',
      ),
    },
  });
});
afterAll(async () => {
  await removeTree(tmp);
});

describe('deepforge resources check', () => {
  it('prints the summary of the example CNN: shapes by PyTorch, parameters, totals', async () => {
    const r = await cli(['resources', 'check', EXAMPLE, 'FashionCNN'], env);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^Layer \(type\)\s+Output shape\s+Param #$/m);
    expect(r.stdout).toMatch(/^conv1 \(Conv2d\)\s+\[N, 32, 28, 28\]\s+288$/m);
    expect(r.stdout).toMatch(/^pool2 \(MaxPool2d\)\s+\[N, 64, 7, 7\]\s+0$/m);
    expect(r.stdout).toMatch(/^hidden \(Linear\)\s+\[N, 256\]\s+803,072$/m);
    expect(r.stdout).toContain('Total params: 824,554');
    expect(r.stdout).toContain('Output scores: [N, 10]');
  }, 60_000);

  it("exits 1 naming the layer with the mismatch, PyTorch's message and the fix", async () => {
    const r = await cli(['resources', 'check', project, 'Mismatch'], env);
    expect(r.code).toBe(1);
    expect(r.stdout).toMatch(/^flat \(Flatten\)\s+\[N, 5408\]/m);
    expect(r.stdout).toMatch(/^fc \(Linear\)\s+error\s+10,010$/m);
    expect(r.stderr).toBe(
      'error: Mismatch: layer "fc" (Linear): mat1 and mat2 shapes cannot be multiplied (Nx5408 and 1000x10) (set in_features to 5408)\n',
    );
  }, 60_000);

  it.each([
    [
      'UnknownClass',
      'UnknownClass: layer "act" (Relu): unknown layer class "Relu": not a torch.nn module in PyTorch',
    ],
    ['MissingArgument', 'MissingArgument: layer "fc" (Linear): required argument "out_features" is not set'],
    [
      'WrongType',
      'WrongType: layer "conv" (Conv2d): argument "kernel_size" must be an int or a tuple, not a str ("three")',
    ],
    ['Cycle', 'Cycle: layer "conv" (Conv2d): is part of a cycle (conv → relu → conv)'],
    ['BadShape', 'BadShape: layer "image" (Input): shape "N x 1 x 28 x 28" is not a shape'],
    [
      'MissingResource',
      'MissingResource: layer "backbone" (resources.Backbone): uses architecture "Backbone", which does not exist in resources/',
    ],
    [
      'SyntaxError',
      'SyntaxError: layer "odd" (utils.broken.Odd): utils/broken.py cannot be imported (line 1): syntax error',
    ],
    [
      'CtorRaises',
      'CtorRaises: layer "picky" (utils.layers.Picky): utils.layers.Picky(...) raised ValueError: size 5 is not supported',
    ],
  ])(
    '%s: exits 1 with a clear message on the right layer',
    async (name, message) => {
      const r = await cli(['resources', 'check', project, name], env);
      expect(r.code, r.stdout + r.stderr).toBe(1);
      const last = r.stderr.trim().split('\n').pop()!;
      expect(last.startsWith(`error: ${message}`), r.stderr).toBe(true);
    },
    60_000,
  );

  it('checks a nested architecture through the one it uses', async () => {
    const r = await cli(['resources', 'check', project, 'Nested'], env);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^inner \(resources\.Good\)\s+\[N, 10\]\s+54,170$/m);
    expect(r.stdout).toMatch(/^probs \(Softmax\)\s+\[N, 10\]\s+0$/m);
  }, 60_000);

  it('names the architectures there are when asked for one that is not', async () => {
    const r = await cli(['resources', 'check', EXAMPLE, 'Ghost'], env);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('there is no architecture "Ghost"');
    expect(r.stderr).toContain('(there are: FashionCNN, FashionVGG)');
  });
});

describe('deepforge resources code', () => {
  it('prints the generated module, which computes what utils/models.py does for the same weights', async () => {
    const r = await cli(['resources', 'code', EXAMPLE, 'FashionCNN'], env);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('class FashionCNN(nn.Module):');
    expect(r.stdout).toContain('        hidden = self.hidden(drop1)');
    const file = join(tmp, 'generated_fashion.py');
    await writeFile(file, r.stdout);
    // The hand-written network of the example, with the generated module's weights copied in by position.
    const out = execFileSync(
      TEST_PYTHON,
      [
        '-c',
        [
          'import importlib.util, sys, torch',
          `sys.path.insert(0, ${JSON.stringify(EXAMPLE)})`,
          'from utils.models import FashionCNN as Hand',
          `spec = importlib.util.spec_from_file_location("gen", ${JSON.stringify(file)})`,
          'gen = importlib.util.module_from_spec(spec); spec.loader.exec_module(gen)',
          'torch.manual_seed(0); a = gen.FashionCNN(); torch.manual_seed(0); b = Hand()',
          'sa, sb = a.state_dict(), b.state_dict()',
          // Built in the same order, the generated module starts from the same weights as the class.
          'same_start = all(torch.equal(x, y) for x, y in zip(sa.values(), sb.values()))',
          'assert [v.shape for v in sa.values()] == [v.shape for v in sb.values()]',
          'b.load_state_dict(dict(zip(sb.keys(), sa.values())))',
          'a.eval(); b.eval(); x = torch.rand(5, 1, 28, 28)',
          'print(same_start, torch.allclose(a(x), b(x), atol=1e-6), list(a(x).shape))',
        ].join('\n'),
      ],
      {
        encoding: 'utf8',
        env: { ...process.env, PYTHONDONTWRITEBYTECODE: '1', PYTHONPATH: findRuntimeDir() },
      },
    );
    expect(out.trim()).toBe('True True [5, 10]');
  }, 60_000);

  it('refuses an architecture that cannot be code, saying why', async () => {
    const r = await cli(['resources', 'code', project, 'Cycle'], env);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('Cycle: the layers make a cycle');
  });
});

describe('operations referencing an architecture', () => {
  it('get a freshly built module of it; the model saved loads in the next job', async () => {
    const r = await cli(['run', project, 'describe'], env);
    expect(r.code, r.stdout + r.stderr).toBe(0);
    expect(r.stdout).toMatch(/Describe\s+│ built resources\.Nested\.Nested, output \[3, 10\]/);
    expect(r.stdout).toMatch(/Load\s+│ loaded Nested with 54170 parameters/);
  }, 120_000);

  it('a reference to a broken architecture stops the run before it starts, on the node', async () => {
    const r = await cli(['run', project, 'broken'], env);
    expect(r.code).not.toBe(0);
    expect(r.stderr + r.stdout).toContain(
      'node "describe" (Describe): reference "net": Cycle: layer "conv" (Conv2d): is part of a cycle',
    );
  }, 60_000);

  it('a reference to an architecture (or artifact) that does not exist is an error on the node', async () => {
    const r = await cli(['run', project, 'missing'], env);
    expect(r.code).not.toBe(0);
    expect(r.stderr + r.stdout).toContain(
      'reference "net" names "Ghost", which is neither an architecture (resources/) nor an artifact of the project',
    );
  }, 60_000);
});

describe('deepforge resources import', () => {
  it('turns a plain nn.Module class into an architecture that checks', async () => {
    const r = await cli(['resources', 'import', project, 'utils.nets.Small', '--shape', 'N,4'], env);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout).toBe('wrote resources/Small.json: 3 layers, computing what utils.nets.Small computes\n');
    const check = await cli(['resources', 'check', project, 'Small'], env);
    expect(check.code, check.stderr).toBe(0);
    expect(check.stdout).toMatch(/^relu \(ReLU\)\s+\[N, 3\]\s+0$/m);
    const again = await cli(['resources', 'import', project, 'utils.nets.Small', '--shape', 'N,4'], env);
    expect(again.code).toBe(1);
    expect(again.stderr).toContain('resources/Small.json exists already (--force replaces it)');
  }, 60_000);

  it('refuses what torch.fx cannot trace, with the reason', async () => {
    const r = await cli(['resources', 'import', project, 'utils.nets.Branchy', '--shape', 'N,4'], env);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain(
      'cannot import utils.nets.Branchy: torch.fx cannot trace Branchy: symbolically traced variables cannot be used as inputs to control flow',
    );
  }, 60_000);
});
