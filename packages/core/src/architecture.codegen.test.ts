import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { ArchitectureCodeError, generateArchitectureCode, pythonLiteral } from './architecture.codegen.js';
import { ArchitectureSchema } from './model.js';
import type { Architecture } from './model.js';

// The fixtures python/tests/test_architecture.py runs: each <Name>.json beside the module generated from it,
// which pytest compares with a hand-written equivalent for fixed weights. UPDATE_GOLDEN=1 writes them again.
const FIXTURES = fileURLToPath(new URL('../../../python/tests/architectures/', import.meta.url));

function fixture(name: string): Architecture {
  return ArchitectureSchema.parse(JSON.parse(readFileSync(`${FIXTURES}${name}.json`, 'utf8')));
}

describe('generateArchitectureCode', () => {
  const names = readdirSync(FIXTURES)
    .filter((f) => f.endsWith('.json'))
    .map((f) => f.slice(0, -5));

  it.each(names)('%s.json compiles to the module beside it', (name) => {
    const code = generateArchitectureCode(fixture(name));
    if (process.env.UPDATE_GOLDEN) writeFileSync(`${FIXTURES}${name}.py`, code);
    expect(code).toBe(readFileSync(`${FIXTURES}${name}.py`, 'utf8'));
  });

  it('names layers in __init__ and computes forward in graph order, merges inline', () => {
    const code = generateArchitectureCode(fixture('Residual'));
    expect(code).toContain('class Residual(nn.Module):');
    expect(code).toContain(
      '        self.conv_a = nn.Conv2d(in_channels=8, out_channels=8, kernel_size=3, padding=1, bias=False)',
    );
    expect(code).toContain('    def forward(self, x):');
    expect(code).toContain('        add = bn_b + x');
    expect(code).toContain('        cat = torch.cat([relu_out, x], dim=1)');
    expect(code).toContain('        return flat, relu_out');
    expect(code.indexOf('conv_b = self.conv_b(relu_a)')).toBeGreaterThan(
      code.indexOf('relu_a = self.relu_a(bn_a)'),
    );
  });

  it('imports nested architectures and custom layers by module', () => {
    const code = generateArchitectureCode({
      name: 'Net',
      layers: [
        { id: 'x', layer: 'Input', shape: ['N', 4], attributes: {} },
        { id: 'enc', layer: 'resources.Encoder', attributes: {} },
        { id: 'mix', layer: 'utils.blocks.Mixer', attributes: { width: 4, names: ['a'] } },
      ],
      edges: [
        { from: 'x', to: 'enc' },
        { from: 'enc', to: 'mix' },
      ],
      outputs: ['mix'],
    });
    expect(code).toContain('import resources.Encoder\nimport utils.blocks\n');
    expect(code).toContain('self.enc = resources.Encoder.Encoder()');
    expect(code).toContain('self.mix = utils.blocks.Mixer(width=4, names=("a",))');
  });

  it('refuses a graph with a cycle or a dangling edge, naming it', () => {
    const base = fixture('Chain');
    expect(() =>
      generateArchitectureCode({ ...base, edges: [...base.edges, { from: 'fc', to: 'conv' }] }),
    ).toThrow(ArchitectureCodeError);
    expect(() =>
      generateArchitectureCode({ ...base, edges: [...base.edges, { from: 'fc', to: 'ghost' }] }),
    ).toThrow(/names layer "ghost"/);
    expect(() => generateArchitectureCode({ ...base, outputs: [] })).toThrow(/no output/);
  });

  it('writes JSON values as Python literals', () => {
    expect(pythonLiteral(null)).toBe('None');
    expect(pythonLiteral(true)).toBe('True');
    expect(pythonLiteral(0.5)).toBe('0.5');
    expect(pythonLiteral(1e-5)).toBe('0.00001');
    expect(pythonLiteral([3])).toBe('(3,)');
    expect(pythonLiteral([3, 3])).toBe('(3, 3)');
    expect(pythonLiteral('a"b\n')).toBe('"a\\"b\\n"');
    expect(pythonLiteral({ k: [1] })).toBe('{"k": (1,)}');
  });
});
