import { describe, expect, it } from 'vitest';
import type { Architecture, Pipeline } from './model.js';
import {
  diffProjectFile,
  FILE_DIFF_LIMITS,
  formatDiffValue,
  lineDiff,
  projectFileKind,
} from './project-file.diff.js';
import type { GraphDiff, LineDiff } from './project-file.diff.js';

const json = (v: unknown): string => `${JSON.stringify(v, null, 2)}\n`;

function pipeline(nodes: Pipeline['nodes'], connections: Pipeline['connections'] = []): Pipeline {
  return { name: 'hello', nodes, connections };
}
const node = (
  id: string,
  operation: string,
  attributes: Record<string, number | string> = {},
  position = { x: 0, y: 0 },
): Pipeline['nodes'][number] => ({ id, operation, attributes, references: {}, position });
const conn = (from: string, fp: string, to: string, tp: string): Pipeline['connections'][number] => ({
  from: { node: from, port: fp },
  to: { node: to, port: tp },
});

function graph(d: ReturnType<typeof diffProjectFile>): GraphDiff {
  if (d.type !== 'pipeline' && d.type !== 'architecture')
    throw new Error(`expected a graph diff, got ${d.type}`);
  return d;
}
function lines(d: ReturnType<typeof diffProjectFile>): LineDiff {
  if (d.type !== 'lines') throw new Error(`expected a line diff, got ${d.type}`);
  return d;
}

describe('projectFileKind', () => {
  it('knows pipelines, architectures and code by their folder', () => {
    expect(projectFileKind('pipelines/train model.json')).toBe('pipeline');
    expect(projectFileKind('resources/Tiny.json')).toBe('architecture');
    expect(projectFileKind('operations/Train.py')).toBe('code');
    expect(projectFileKind('utils/blocks.py')).toBe('code');
    expect(projectFileKind('artifacts/x.json')).toBe('text');
    expect(projectFileKind('deepforge.json')).toBe('text');
    expect(projectFileKind('pipelines/sub/x.json')).toBe('text');
  });
});

describe('line diffs', () => {
  it('numbers added, removed and context lines in both versions', () => {
    const before = 'a\nb\nc\nd\ne\nf\ng\nh\ni\nj\n';
    const after = 'a\nb\nc\nd\nE\nf\ng\nh\ni\nj\nk\n';
    const d = lines(diffProjectFile('operations/Op.py', before, after));
    expect(d.added).toBe(2);
    expect(d.removed).toBe(1);
    const all = d.hunks.flatMap((h) => h.lines);
    expect(all.find((l) => l.kind === 'removed')).toEqual({ kind: 'removed', text: 'e', oldLine: 5 });
    expect(all.filter((l) => l.kind === 'added')).toEqual([
      { kind: 'added', text: 'E', newLine: 5 },
      { kind: 'added', text: 'k', newLine: 11 },
    ]);
    // Context is three lines around each change, not the whole file.
    expect(all.some((l) => l.text === 'a')).toBe(false);
    expect(all.find((l) => l.text === 'b')).toEqual({ kind: 'context', text: 'b', oldLine: 2, newLine: 2 });
  });

  it('shows an added file as all added and a deleted one as all removed', () => {
    const added = lines(diffProjectFile('utils/x.py', null, 'x = 1\ny = 2\n'));
    expect(added).toMatchObject({ added: 2, removed: 0 });
    const deleted = lines(diffProjectFile('utils/x.py', 'x = 1\n', null));
    expect(deleted).toMatchObject({ added: 0, removed: 1 });
    expect(deleted.hunks[0]?.lines[0]).toEqual({ kind: 'removed', text: 'x = 1', oldLine: 1 });
  });

  it('says unchanged for equal texts, and tells a missing last newline apart', () => {
    expect(diffProjectFile('operations/A.py', 'x\n', 'x\n')).toEqual({ type: 'unchanged' });
    const d = lines(diffProjectFile('operations/A.py', 'x\n', 'x'));
    expect(d.added + d.removed).toBeGreaterThan(0);
    expect(d.hunks.flatMap((h) => h.lines).every((l) => l.text === 'x')).toBe(true);
  });

  it('refuses a file over the size limit at once', () => {
    const huge = 'x'.repeat(FILE_DIFF_LIMITS.chars + 1);
    const d = diffProjectFile('operations/A.py', '', huge);
    expect(d.type).toBe('too-large');
    expect(d.type === 'too-large' && d.message).toMatch(
      /too large to diff: \d+ KiB, more than the 4096 KiB limit/,
    );
  });

  it('refuses too many lines', () => {
    const many = Array.from({ length: FILE_DIFF_LIMITS.lines + 1 }, (_, i) => `${i}`).join('\n');
    expect(lineDiff('', many)).toEqual({
      type: 'too-large',
      message: `too large to diff: ${FILE_DIFF_LIMITS.lines + 1} lines, more than the 20000 line limit`,
    });
  });

  it('shows a rewrite, or a reordering past the edit limit, as the file replaced', () => {
    const n = 5_000;
    const a = Array.from({ length: n }, (_, i) => `a${i}`);
    const rewrite = lines(diffProjectFile('utils/x.py', a.join('\n'), a.map((l) => `b${l}`).join('\n')));
    expect(rewrite).toMatchObject({
      added: n,
      removed: n,
      note: 'more than 1000 lines differ: shown as replaced',
    });
    expect(rewrite.hunks[0]?.lines[n]).toEqual({ kind: 'added', text: 'ba0', newLine: 1 });
    // The same lines in another order: no line count differs, so only Myers' own limit stops it.
    const shuffled = a.map((_, i) => a[(i * 7919) % n] as string);
    const d = lines(diffProjectFile('utils/x.py', a.join('\n'), shuffled.join('\n')));
    expect(d.note).toBe('more than 1000 lines differ: shown as replaced');
    // Under the limit, the fewest changes.
    const few = lines(
      diffProjectFile('utils/x.py', a.join('\n'), [...a.slice(0, 10), ...a.slice(600)].join('\n')),
    );
    expect(few).toMatchObject({ added: 0, removed: 590 });
    expect(few.note).toBeUndefined();
  });

  it('diffs a long file with a few changes', () => {
    const n = 20_000;
    const a = Array.from({ length: n }, (_, i) => `line ${i}`);
    const b = [...a];
    b[100] = 'changed';
    b.splice(15_000, 1);
    const d = lines(diffProjectFile('utils/big.py', a.join('\n'), b.join('\n')));
    expect(d).toMatchObject({ added: 1, removed: 2 });
    expect(d.hunks).toHaveLength(2);
  });
});

describe('pipeline diffs', () => {
  const before = pipeline(
    [
      node('left', 'GetNumber', { number: 4 }),
      node('right', 'GetNumber', { number: 5 }, { x: 10, y: 0 }),
      node('multiply', 'Multiply'),
      node('result', 'Output', { saveName: 'product' }),
    ],
    [
      conn('left', 'number', 'multiply', 'a'),
      conn('right', 'number', 'multiply', 'b'),
      conn('multiply', 'product', 'result', 'data'),
    ],
  );

  it('lists nodes added and removed, attribute changes old → new, moves and connections', () => {
    const after = pipeline(
      [
        node('left', 'GetNumber', { number: 6 }),
        node('right', 'GetNumber', { number: 5 }, { x: 50, y: 20 }),
        node('multiply', 'Multiply'),
        node('show', 'Print', { prefix: '>' }),
      ],
      [
        conn('left', 'number', 'multiply', 'a'),
        conn('right', 'number', 'multiply', 'b'),
        conn('multiply', 'product', 'show', 'value'),
      ],
    );
    const d = graph(diffProjectFile('pipelines/hello.json', json(before), json(after)));
    expect(d.type).toBe('pipeline');
    expect(d.added).toEqual([{ id: 'show', type: 'Print' }]);
    expect(d.removed).toEqual([{ id: 'result', type: 'Output' }]);
    expect(d.changed).toEqual([
      { id: 'left', type: 'GetNumber', changes: [{ name: 'number', before: 4, after: 6 }], moved: false },
      { id: 'right', type: 'GetNumber', changes: [], moved: true },
    ]);
    expect(d.connectionsAdded).toEqual(['multiply.product → show.value']);
    expect(d.connectionsRemoved).toEqual(['multiply.product → result.data']);
    expect(d.fields).toEqual([]);
  });

  it('reports a renamed node as a rename, with its connections following', () => {
    const after = pipeline(
      [
        before.nodes[0]!,
        before.nodes[1]!,
        { ...node('times', 'Multiply'), position: { x: 0, y: 0 } },
        before.nodes[3]!,
      ],
      [
        conn('left', 'number', 'times', 'a'),
        conn('right', 'number', 'times', 'b'),
        conn('times', 'product', 'result', 'data'),
      ],
    );
    const d = graph(diffProjectFile('pipelines/hello.json', json(before), json(after)));
    expect(d.added).toEqual([]);
    expect(d.removed).toEqual([]);
    expect(d.changed).toEqual([
      { id: 'times', renamedFrom: 'multiply', type: 'Multiply', changes: [], moved: false },
    ]);
    expect(d.connectionsAdded).toEqual([]);
    expect(d.connectionsRemoved).toEqual([]);
  });

  it('tells two look-alike renamed nodes apart by their neighbours', () => {
    const after = pipeline(
      [
        node('left', 'GetNumber', { number: 4 }),
        node('right', 'GetNumber', { number: 5 }, { x: 10, y: 0 }),
        node('m1', 'Multiply'),
        node('m2', 'Multiply'),
        node('result', 'Output', { saveName: 'product' }),
      ],
      [conn('left', 'number', 'm1', 'a'), conn('m1', 'product', 'result', 'data')],
    );
    const twoBefore = pipeline(
      [...after.nodes.slice(0, 2), node('x1', 'Multiply'), node('x2', 'Multiply'), after.nodes[4]!],
      [conn('left', 'number', 'x1', 'a'), conn('x1', 'product', 'result', 'data')],
    );
    const d = graph(diffProjectFile('pipelines/hello.json', json(twoBefore), json(after)));
    // x1 has the neighbours of m1: a rename. x2 and m2 both have none: nothing says which is which.
    expect(d.changed.map((c) => [c.renamedFrom, c.id])).toEqual([['x1', 'm1']]);
    expect(d.removed).toEqual([{ id: 'x2', type: 'Multiply' }]);
    expect(d.added).toEqual([{ id: 'm2', type: 'Multiply' }]);
    expect(d.connectionsAdded).toEqual([]);
  });

  it('compares attribute values regardless of key order and shows references, labels and gpus', () => {
    const a = pipeline([
      {
        id: 't',
        operation: 'Train',
        attributes: { cfg: { a: 1, b: 2 } },
        references: { model: 'Net' },
        labels: ['a'],
      },
    ]);
    const b = pipeline([
      {
        id: 't',
        operation: 'Train',
        attributes: { cfg: { b: 2, a: 1 } },
        references: { model: 'Vgg' },
        gpus: 1,
      },
    ]);
    const d = graph(diffProjectFile('pipelines/hello.json', json(a), json(b)));
    expect(d.changed[0]?.changes).toEqual([
      { name: 'reference model', before: 'Net', after: 'Vgg' },
      { name: 'labels', before: ['a'] },
      { name: 'gpus', after: 1 },
    ]);
  });

  it('treats an added pipeline as every node added, and a changed operation as a change', () => {
    const added = graph(diffProjectFile('pipelines/hello.json', null, json(before)));
    expect(added.added.map((n) => n.id)).toEqual(['left', 'right', 'multiply', 'result']);
    expect(added.connectionsAdded).toHaveLength(3);
    expect(added.fields).toEqual([]);
    expect(added.whole).toBe('added');
    expect(graph(diffProjectFile('pipelines/hello.json', json(before), null))).toMatchObject({
      whole: 'deleted',
    });
    const swapped = pipeline(
      before.nodes.map((n) => (n.id === 'multiply' ? { ...n, operation: 'Add' } : n)),
      before.connections,
    );
    const d = graph(diffProjectFile('pipelines/hello.json', json(before), json(swapped)));
    expect(d.changed).toEqual([
      {
        id: 'multiply',
        type: 'Add',
        changes: [{ name: 'operation', before: 'Multiply', after: 'Add' }],
        moved: false,
      },
    ]);
  });

  it('falls back to a line diff, saying why, when a side is not a valid pipeline', () => {
    const d = lines(diffProjectFile('pipelines/hello.json', json(before), '{ "name": "hello", '));
    expect(d.note).toBe('the new version is not a valid pipeline: showing the lines');
    expect(d.added).toBe(1);
  });
});

describe('architecture diffs', () => {
  const arch: Architecture = {
    name: 'Tiny',
    layers: [
      { id: 'x', layer: 'Input', shape: ['N', 1, 28, 28], attributes: {} },
      { id: 'conv', layer: 'Conv2d', attributes: { in_channels: 1, out_channels: 8, kernel_size: 3 } },
      { id: 'flat', layer: 'Flatten', attributes: {} },
    ],
    edges: [
      { from: 'x', to: 'conv' },
      { from: 'conv', to: 'flat' },
    ],
    outputs: ['flat'],
  };

  it('lists layer changes, edges and outputs', () => {
    const after: Architecture = {
      ...arch,
      layers: [
        { id: 'x', layer: 'Input', shape: ['N', 3, 32, 32], attributes: {} },
        { id: 'conv', layer: 'Conv2d', attributes: { in_channels: 3, out_channels: 8, kernel_size: 3 } },
        { id: 'relu', layer: 'ReLU', attributes: {} },
        { id: 'flat', layer: 'Flatten', attributes: {} },
      ],
      edges: [
        { from: 'x', to: 'conv' },
        { from: 'conv', to: 'relu' },
        { from: 'relu', to: 'flat' },
      ],
      outputs: ['flat', 'relu'],
    };
    const d = graph(diffProjectFile('resources/Tiny.json', json(arch), json(after)));
    expect(d.type).toBe('architecture');
    expect(d.added).toEqual([{ id: 'relu', type: 'ReLU' }]);
    expect(d.changed).toEqual([
      {
        id: 'x',
        type: 'Input',
        changes: [{ name: 'shape', before: ['N', 1, 28, 28], after: ['N', 3, 32, 32] }],
        moved: false,
      },
      { id: 'conv', type: 'Conv2d', changes: [{ name: 'in_channels', before: 1, after: 3 }], moved: false },
    ]);
    expect(d.connectionsAdded).toEqual(['conv → relu', 'relu → flat']);
    expect(d.connectionsRemoved).toEqual(['conv → flat']);
    expect(d.fields).toEqual([{ name: 'outputs', before: ['flat'], after: ['flat', 'relu'] }]);
  });

  it('reports a changed layer class and a renamed layer', () => {
    const after: Architecture = {
      ...arch,
      layers: [
        arch.layers[0]!,
        { ...arch.layers[1]!, layer: 'LazyConv2d' },
        { id: 'flatten', layer: 'Flatten', attributes: {} },
      ],
      edges: [
        { from: 'x', to: 'conv' },
        { from: 'conv', to: 'flatten' },
      ],
      outputs: ['flatten'],
    };
    const d = graph(diffProjectFile('resources/Tiny.json', json(arch), json(after)));
    expect(d.changed).toEqual([
      {
        id: 'conv',
        type: 'LazyConv2d',
        changes: [{ name: 'layer', before: 'Conv2d', after: 'LazyConv2d' }],
        moved: false,
      },
      { id: 'flatten', renamedFrom: 'flat', type: 'Flatten', changes: [], moved: false },
    ]);
    expect(d.connectionsAdded).toEqual([]);
    expect(d.connectionsRemoved).toEqual([]);
  });
});

describe('formatDiffValue', () => {
  it('writes JSON and cuts long values', () => {
    expect(formatDiffValue('a')).toBe('"a"');
    expect(formatDiffValue(undefined)).toBe('—');
    expect(formatDiffValue('x'.repeat(200), 10)).toBe('"xxxxxxxx…');
  });
});
