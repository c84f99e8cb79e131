import type { Architecture, LayerShapeReport } from '@deepforge/core';
import { describe, expect, it } from 'vitest';
import type { FlowLocal, LayerNodesInput } from './layer-graph.js';
import { layerNodes, shapeEdges } from './layer-graph.js';
import type { ShapeEdge } from './layer-node.js';

/** What the project document gives on every read: new objects throughout, equal values. */
function chain(outFeatures = 64): Architecture {
  return {
    name: 'Mlp',
    layers: [
      { id: 'x', layer: 'Input', shape: ['N', 64], attributes: {}, position: { x: 0, y: 0 } },
      {
        id: 'fc1',
        layer: 'Linear',
        attributes: { in_features: 64, out_features: outFeatures },
        position: { x: 0, y: 100 },
      },
      { id: 'act', layer: 'ReLU', attributes: {}, position: { x: 0, y: 200 } },
      {
        id: 'fc2',
        layer: 'Linear',
        attributes: { in_features: 64, out_features: 10 },
        position: { x: 0, y: 300 },
      },
    ],
    edges: [
      { from: 'x', to: 'fc1' },
      { from: 'fc1', to: 'act' },
      { from: 'act', to: 'fc2' },
    ],
    outputs: ['fc2'],
  };
}

const NO_LOCAL: FlowLocal = { dragging: new Map(), measured: new Map() };

function input(arch: Architecture, over: Partial<LayerNodesInput> = {}): LayerNodesInput {
  return {
    arch,
    diagnostics: [],
    reports: new Map(),
    selected: null,
    classOf: () => null,
    local: NO_LOCAL,
    ...over,
  };
}

const byId = <T extends { id: string }>(list: T[]): Map<string, T> => new Map(list.map((n) => [n.id, n]));

describe('layerNodes', () => {
  it('keeps the node objects of unchanged layers when the document is read again, and replaces the edited one', () => {
    const first = layerNodes(new Map(), input(chain()));
    const again = layerNodes(byId(first), input(chain()));
    expect(again.every((n, i) => n === first[i])).toBe(true);

    const edited = layerNodes(byId(again), input(chain(65)));
    expect(edited.map((n, i) => n === again[i])).toEqual([true, false, true, true]);
    expect(edited[1]!.data.args.join(' ')).toContain('out_features=65');
  });

  it('draws a layer where a drag has it, flagged as dragging, and back at its stored place after', () => {
    const first = layerNodes(new Map(), input(chain()));
    const drag: FlowLocal = { dragging: new Map([['act', { x: 40, y: 220 }]]), measured: new Map() };
    const during = layerNodes(byId(first), input(chain(), { local: drag }));
    expect(during[2]).toMatchObject({ position: { x: 40, y: 220 }, dragging: true });
    expect(during[0]).toBe(first[0]);
    const after = layerNodes(byId(during), input(chain()));
    expect(after[2]).toMatchObject({ position: { x: 0, y: 200 }, dragging: false });
  });

  it('carries the sizes React Flow measured, keeping the node when they do not change', () => {
    const measured: FlowLocal = {
      dragging: new Map(),
      measured: new Map([['x', { width: 180, height: 60 }]]),
    };
    const first = layerNodes(new Map(), input(chain(), { local: measured }));
    expect(first[0]!.measured).toEqual({ width: 180, height: 60 });
    const same: FlowLocal = { dragging: new Map(), measured: new Map([['x', { width: 180, height: 60 }]]) };
    const again = layerNodes(byId(first), input(chain(), { local: same }));
    expect(again[0]).toBe(first[0]);
  });

  it('puts PyTorch errors and validation problems on their layer, and marks the selected one', () => {
    const reports = new Map<string, LayerShapeReport>([
      [
        'fc2',
        {
          id: 'fc2',
          layer: 'Linear',
          outputShape: null,
          parameters: null,
          error: 'mat1 and mat2 shapes cannot be multiplied (Nx32 and 64x10)',
        } as LayerShapeReport,
      ],
    ]);
    const nodes = layerNodes(
      new Map(),
      input(chain(), {
        reports,
        selected: 'act',
        diagnostics: [
          { severity: 'warning', layer: 'act', message: 'Mlp: layer "act" (ReLU): unused output' } as never,
        ],
      }),
    );
    expect(nodes[3]!.data.errors).toEqual(['mat1 and mat2 shapes cannot be multiplied (Nx32 and 64x10)']);
    expect(nodes[2]!.data.warnings).toEqual(['unused output']);
    expect(nodes.map((n) => n.selected)).toEqual([false, false, true, false]);
  });
});

describe('shapeEdges', () => {
  it('labels each edge with its inferred shape and keeps unchanged edges when a shape elsewhere changes', () => {
    const report = (k: number) =>
      ({
        edges: [
          { from: 'x', to: 'fc1', shape: ['N', 64] },
          { from: 'fc1', to: 'act', shape: ['N', k] },
          { from: 'act', to: 'fc2', shape: ['N', k] },
        ],
      }) as never;
    const first = shapeEdges(new Map<string, ShapeEdge>(), chain(), report(64), null);
    expect(first.map((e) => e.data?.shape)).toEqual(['[N, 64]', '[N, 64]', '[N, 64]']);
    const next = shapeEdges(byId(first), chain(65), report(65), null);
    expect(next.map((e, i) => e === first[i])).toEqual([true, false, false]);
    expect(next[1]!.data?.shape).toBe('[N, 65]');
  });

  it('has no shape on an edge PyTorch did not reach', () => {
    const edges = shapeEdges(new Map<string, ShapeEdge>(), chain(), null, { from: 'x', to: 'fc1' });
    expect(edges.map((e) => [e.data?.shape, e.selected])).toEqual([
      [null, true],
      [null, false],
      [null, false],
    ]);
  });
});
