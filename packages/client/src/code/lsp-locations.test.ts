import { describe, expect, it } from 'vitest';
import { definitionTarget, projectFileRoute, projectFileUri } from './lsp-locations.js';

describe('language server locations', () => {
  it('names project files under file:///workspace/ and back', () => {
    expect(projectFileUri('utils/shapes.py')).toBe('file:///workspace/utils/shapes.py');
    expect(definitionTarget('file:///workspace/utils/shapes.py', 2, 4)).toEqual({
      kind: 'project',
      path: 'utils/shapes.py',
      line: 3,
      column: 5,
    });
  });

  it('says where a definition outside the project is, decoded', () => {
    expect(
      definitionTarget('file:///usr/lib/python3/dist-packages/torch/nn/modules/linear.py', 43, 6),
    ).toEqual({
      kind: 'outside',
      file: '/usr/lib/python3/dist-packages/torch/nn/modules/linear.py',
      line: 44,
    });
  });

  it('opens operations, utils and serializers at a line, nothing else', () => {
    expect(projectFileRoute('p1', 'utils/shapes.py', 3)).toBe('/projects/p1/utils/shapes?line=3');
    expect(projectFileRoute('p1', 'operations/Train.py', 1)).toBe('/projects/p1/operations/Train?line=1');
    expect(projectFileRoute('p1', 'serializers/fmt.py', 9)).toBe('/projects/p1/serializers/fmt?line=9');
    expect(projectFileRoute('p1', 'utils/pkg/mod.py', 1)).toBeUndefined();
    expect(projectFileRoute('p1', 'pipelines/a.json', 1)).toBeUndefined();
  });
});
