import type { Architecture, LayerArgument } from '@deepforge/core';
import { describe, expect, it } from 'vitest';
import {
  descendants,
  edgeIds,
  edgeProblem,
  formatArgument,
  keyArguments,
  layerMatchRank,
  layerIdBase,
  newArchitecture,
  parseArgumentInput,
  parseShapeInput,
  planInsert,
  planRemove,
  shortCount,
  uniqueLayerId,
} from './architecture-edit.js';

const at = { x: 0, y: 0 };

/** x → conv → relu; relu is the output. */
const CHAIN: Architecture = {
  name: 'Net',
  layers: [
    { id: 'x', layer: 'Input', shape: ['N', 1, 28, 28], attributes: {} },
    { id: 'conv', layer: 'Conv2d', attributes: {} },
    { id: 'relu', layer: 'ReLU', attributes: {} },
  ],
  edges: [
    { from: 'x', to: 'conv' },
    { from: 'conv', to: 'relu' },
  ],
  outputs: ['relu'],
};

/** a and b into cat, in that order. */
const MERGE: Architecture = {
  name: 'Merge',
  layers: [
    { id: 'x', layer: 'Input', shape: ['N', 4], attributes: {} },
    { id: 'a', layer: 'Linear', attributes: {} },
    { id: 'b', layer: 'Linear', attributes: {} },
    { id: 'cat', layer: 'Concat', attributes: {} },
  ],
  edges: [
    { from: 'x', to: 'a' },
    { from: 'x', to: 'b' },
    { from: 'a', to: 'cat' },
    { from: 'b', to: 'cat' },
  ],
  outputs: ['cat'],
};

/** The graph after a plan, as the document edits do it (remove, then append). */
function apply(arch: Architecture, plan: ReturnType<typeof planInsert>): Architecture {
  const edges = [...arch.edges];
  for (const r of plan.removeEdges) {
    const i = edges.findLastIndex((e) => e.from === r.from && e.to === r.to);
    if (i >= 0) edges.splice(i, 1);
  }
  return {
    ...arch,
    layers: [...arch.layers, plan.layer],
    edges: [...edges, ...plan.addEdges],
    outputs: plan.outputs ?? arch.outputs,
  };
}

const inputsOf = (a: Architecture, id: string): string[] =>
  a.edges.filter((e) => e.to === id).map((e) => e.from);

describe('layer ids', () => {
  it('lower-cases the class and numbers taken or reserved ids', () => {
    expect(layerIdBase('Conv2d')).toBe('conv2d');
    expect(layerIdBase('utils.blocks.Residual')).toBe('residual');
    expect(uniqueLayerId('ReLU', ['relu'])).toBe('relu_2');
    // `train` would hide nn.Module.train in the generated module.
    expect(uniqueLayerId('Train', [])).toBe('train_2');
    expect(uniqueLayerId('Lambda', [])).toBe('lambda_2');
  });
});

describe('adding a layer', () => {
  it('after a layer: between it and its successors, and the output moves to it', () => {
    const mid = apply(CHAIN, planInsert(CHAIN, 'BatchNorm2d', { after: 'conv' }, at));
    expect(inputsOf(mid, 'batchnorm2d')).toEqual(['conv']);
    expect(inputsOf(mid, 'relu')).toEqual(['batchnorm2d']);
    expect(mid.outputs).toEqual(['relu']);
    const end = apply(CHAIN, planInsert(CHAIN, 'Flatten', { after: 'relu' }, at));
    expect(inputsOf(end, 'flatten')).toEqual(['relu']);
    expect(end.outputs).toEqual(['flatten']);
  });

  it('before a layer: what fed it feeds the new one; never before an Input', () => {
    const a = apply(CHAIN, planInsert(CHAIN, 'Dropout', { before: 'relu' }, at));
    expect(inputsOf(a, 'dropout')).toEqual(['conv']);
    expect(inputsOf(a, 'relu')).toEqual(['dropout']);
    const plan = planInsert(CHAIN, 'Dropout', { before: 'x' }, at);
    expect(plan.addEdges).toEqual([]);
  });

  it('on an edge into a merge: the merge keeps its inputs in order', () => {
    const a = apply(MERGE, planInsert(MERGE, 'ReLU', { edge: { from: 'a', to: 'cat' } }, at));
    expect(inputsOf(a, 'relu')).toEqual(['a']);
    expect(inputsOf(a, 'cat')).toEqual(['relu', 'b']);
    const b = apply(MERGE, planInsert(MERGE, 'ReLU', { after: 'x' }, at));
    expect(inputsOf(b, 'a')).toEqual(['relu']);
    expect(inputsOf(b, 'b')).toEqual(['relu']);
    expect(inputsOf(b, 'relu')).toEqual(['x']);
  });

  it('unconnected when nothing is selected; an Input gets a shape', () => {
    const plan = planInsert(CHAIN, 'Input', { after: 'relu' }, at);
    expect(plan.addEdges).toEqual([]);
    expect(plan.layer).toMatchObject({ id: 'input', shape: ['N', 1, 28, 28] });
    expect(planInsert(CHAIN, 'Linear', null, at).addEdges).toEqual([]);
  });

  it('a new architecture is its Input, returned as it is', () => {
    expect(newArchitecture('Net')).toMatchObject({ outputs: ['x'], layers: [{ id: 'x', layer: 'Input' }] });
  });
});

describe('arguments typed as text', () => {
  const kernel: LayerArgument = { name: 'kernel_size', types: ['int', 'tuple'], required: true };
  const bias: LayerArgument = { name: 'bias', types: ['bool'], required: false, default: true };
  it('reads Python literals and checks their type', () => {
    expect(parseArgumentInput(kernel, '3')).toEqual({ ok: true, value: 3 });
    expect(parseArgumentInput(kernel, '(3, 5)')).toEqual({ ok: true, value: [3, 5] });
    expect(parseArgumentInput(kernel, '')).toEqual({ ok: true, value: undefined });
    expect(parseArgumentInput(kernel, "'three'")).toEqual({ ok: false, error: 'must be int or tuple' });
    expect(parseArgumentInput(bias, 'False')).toEqual({ ok: true, value: false });
    expect(parseArgumentInput(kernel, '3 +')).toMatchObject({ ok: false });
  });
  it('writes values back as Python', () => {
    expect(formatArgument([3, 3], kernel)).toBe('(3, 3)');
    expect(formatArgument(null)).toBe('None');
    expect(formatArgument('same')).toBe("'same'");
    expect(formatArgument(true)).toBe('True');
  });
  it('shows set arguments first and required ones unset as <none>', () => {
    const cls = {
      name: 'Linear',
      source: 'torch' as const,
      doc: '',
      arguments: [
        { name: 'in_features', types: ['int' as const], required: true },
        { name: 'out_features', types: ['int' as const], required: true },
        { name: 'bias', types: ['bool' as const], required: false, default: true },
      ],
      extraArguments: false,
      inputs: { min: 1, max: 1 },
    };
    expect(
      keyArguments({ id: 'fc', layer: 'Linear', attributes: { bias: false, in_features: 8 } }, cls),
    ).toEqual(['in_features=8', 'bias=False', 'out_features=<none>']);
  });
  it('reads shapes', () => {
    expect(parseShapeInput('[N, 1, 28, 28]')).toEqual({ ok: true, shape: ['N', 1, 28, 28] });
    expect(parseShapeInput('N,3')).toEqual({ ok: true, shape: ['N', 3] });
    expect(parseShapeInput('N x 3')).toMatchObject({ ok: false });
  });
});

describe('display', () => {
  it('counts parameters briefly', () => {
    expect(shortCount(288)).toBe('288');
    expect(shortCount(2570)).toBe('2.57K');
    expect(shortCount(803072)).toBe('803.1K');
    expect(shortCount(11_689_512)).toBe('11.7M');
  });
  it('numbers a repeated edge', () => {
    expect(
      edgeIds([
        { from: 'x', to: 'add' },
        { from: 'x', to: 'add' },
      ]),
    ).toEqual(['x->add', 'x->add#2']);
  });
});

describe('removing a layer and drawing edges', () => {
  it('bridges a layer with one input, keeping merge order and outputs', () => {
    expect(planRemove(CHAIN, 'conv')).toEqual({
      removeEdges: [],
      bridge: [{ from: 'x', to: 'relu' }],
      outputs: null,
    });
    expect(planRemove(CHAIN, 'relu')).toEqual({ removeEdges: [], bridge: [], outputs: ['conv'] });
    expect(planRemove(MERGE, 'a')).toEqual({
      removeEdges: [{ from: 'b', to: 'cat' }],
      bridge: [
        { from: 'x', to: 'cat' },
        { from: 'b', to: 'cat' },
      ],
      outputs: null,
    });
    expect(planRemove(MERGE, 'cat')).toEqual({ removeEdges: [], bridge: [], outputs: null });
  });
  it('refuses self loops, edges into an Input and cycles', () => {
    expect(edgeProblem(CHAIN, 'conv', 'conv')).toMatch(/itself/);
    expect(edgeProblem(CHAIN, 'relu', 'x')).toMatch(/Input/);
    expect(edgeProblem(CHAIN, 'relu', 'conv')).toMatch(/cycle/);
    expect(edgeProblem(MERGE, 'a', 'b')).toBeNull();
    expect([...descendants(CHAIN, 'x')]).toEqual(['conv', 'relu']);
  });
});

describe('searching layers', () => {
  it('ranks the exact name, then prefixes, then names containing it, then docs', () => {
    const layers = [
      ['Bilinear', 'Applies a bilinear transformation'],
      ['Identity', 'A placeholder identity operator that is argument-insensitive.'],
      ['LazyLinear', 'A torch.nn.Linear module where in_features is inferred.'],
      ['Linear', 'Applies a linear transformation to the incoming data'],
      ['ReLU', 'Applies the rectified linear unit function element-wise'],
    ] as const;
    const ranked = layers
      .map(([n, d]) => ({ n, r: layerMatchRank('linear', n, d) }))
      .filter((x) => x.r !== null)
      .sort((a, b) => a.r! - b.r!)
      .map((x) => x.n);
    expect(ranked).toEqual(['Linear', 'Bilinear', 'LazyLinear', 'ReLU']);
    expect(layerMatchRank('resid', 'utils.blocks.Residual', '')).toBe(1);
  });
});
