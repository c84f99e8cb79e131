import { describe, expect, it } from 'vitest';
import {
  codeChanges,
  compareExecutions,
  compareProblem,
  matchFigures,
  overlayFigures,
  type ComparedFigure,
  type CompareJob,
  type CompareRun,
} from './execution.compare.js';

function job(node: string, operation: string, over: Partial<CompareJob> = {}): CompareJob {
  return {
    node,
    operation,
    status: 'success',
    startedAt: 1000,
    endedAt: 3000,
    durationMs: 2000,
    cachedFrom: null,
    ...over,
  };
}

function run(id: string, over: Partial<CompareRun> = {}): CompareRun {
  return {
    id,
    name: `run ${id}`,
    pipeline: 'train',
    status: 'success',
    durationMs: 5000,
    nodes: [
      { id: 'data', operation: 'Load' },
      { id: 'curve', operation: 'TrainingCurve' },
    ],
    attributes: { data: { size: 10 }, curve: { epochs: 5, lr: 0.1 } },
    jobs: [job('data', 'Load'), job('curve', 'TrainingCurve')],
    ...over,
  };
}

describe('compareProblem', () => {
  it('refuses fewer than two, more than eight and an execution twice, saying which', () => {
    expect(compareProblem(['a'])).toBe('select at least 2 executions to compare (got 1)');
    expect(compareProblem('abcdefghi'.split(''))).toBe(
      'at most 8 executions can be compared at once (got 9)',
    );
    expect(compareProblem(['a', 'b', 'a'])).toBe('execution "a" is selected twice');
    expect(compareProblem(['a', 'b'])).toBeNull();
  });

  it('compareExecutions throws on the same bad input', () => {
    expect(() => compareExecutions([run('a')])).toThrow(/at least 2/);
  });
});

describe('compareExecutions', () => {
  it('lists only the attributes that differ, node by node, and counts the rest', () => {
    const b = run('b', { attributes: { data: { size: 10 }, curve: { epochs: 8, lr: 0.1 } } });
    const c = compareExecutions([run('a'), b]);
    expect(c.attributes).toEqual([
      {
        node: 'curve',
        attribute: 'epochs',
        cells: [
          { kind: 'value', value: 5 },
          { kind: 'value', value: 8 },
        ],
      },
    ]);
    expect(c.sameAttributes).toBe(2);
    expect(c.notes).toEqual([]);
  });

  it('compares object values by content, not key order', () => {
    const a = run('a', { attributes: { curve: { opts: { x: 1, y: [1, 2] } } } });
    const b = run('b', { attributes: { curve: { opts: { y: [1, 2], x: 1 } } } });
    expect(compareExecutions([a, b]).attributes).toEqual([]);
  });

  it('gives each job its outcome per run: status, duration, reused from the cache', () => {
    const b = run('b', {
      status: 'failed',
      jobs: [
        job('data', 'Load', { status: 'cached', cachedFrom: 'job-1', durationMs: 0 }),
        job('curve', 'TrainingCurve', { status: 'failed', durationMs: 700 }),
      ],
    });
    const c = compareExecutions([run('a'), b]);
    expect(
      c.outcomes.map((r) => [r.node, r.cells.map((x) => x && [x.status, x.durationMs, x.reused])]),
    ).toEqual([
      [
        'data',
        [
          ['success', 2000, false],
          ['cached', 0, true],
        ],
      ],
      [
        'curve',
        [
          ['success', 2000, false],
          ['failed', 700, false],
        ],
      ],
    ]);
  });

  it('says when the runs are of different pipelines and shows a job missing in one run as missing', () => {
    const other = run('b', {
      name: 'other run',
      pipeline: 'evaluate',
      nodes: [
        { id: 'data', operation: 'Load' },
        { id: 'score', operation: 'Score' },
      ],
      attributes: { data: { size: 10 }, score: { k: 3 } },
      jobs: [job('data', 'Load'), job('score', 'Score')],
    });
    const c = compareExecutions([run('a'), other]);
    expect(c.notes[0]).toMatch(/different pipelines \(train: run a; evaluate: other run\)/);
    expect(c.outcomes.map((r) => [r.node, r.cells.map((x) => x?.status ?? null)])).toEqual([
      ['data', ['success', 'success']],
      ['curve', ['success', null]],
      ['score', [null, 'success']],
    ]);
    const curve = c.attributes.find((r) => r.node === 'curve' && r.attribute === 'epochs');
    expect(curve?.cells).toEqual([{ kind: 'value', value: 5 }, { kind: 'no-node' }]);
    const score = c.attributes.find((r) => r.node === 'score');
    expect(score?.cells).toEqual([{ kind: 'no-node' }, { kind: 'value', value: 3 }]);
  });

  it('says when one node runs different operations, and marks an attribute only one of them has as unset', () => {
    const b = run('b', {
      nodes: [
        { id: 'data', operation: 'Load' },
        { id: 'curve', operation: 'OtherCurve' },
      ],
      attributes: { data: { size: 10 }, curve: { epochs: 5 } },
    });
    const c = compareExecutions([run('a'), b]);
    expect(c.notes).toEqual([expect.stringMatching(/Node curve runs different operations/)]);
    expect(c.attributes).toEqual([
      { node: 'curve', attribute: 'lr', cells: [{ kind: 'value', value: 0.1 }, { kind: 'unset' }] },
    ]);
  });

  it('notes runs still going', () => {
    const c = compareExecutions([run('a'), run('b', { status: 'running' })]);
    expect(c.notes).toEqual(['run b is still running: outcomes and plots may still change.']);
  });
});

describe('codeChanges', () => {
  const op = (n: number): string => `class Op:\n    def execute(self):\n        return ${n}\n`;

  it('diffs each operation that changed against the baseline, and says which were added or deleted', () => {
    const files = [
      { path: 'utils/helpers.py', texts: ['x = 1\n', 'x = 2\n', 'x = 1\n'] },
      { path: 'operations/Op.py', texts: [op(1), op(2), op(1)] },
      { path: 'operations/Gone.py', texts: [op(0), null, op(0)] },
      { path: 'operations/New.py', texts: [null, op(3), null] },
    ];
    const changes = codeChanges(files, 0, 1);
    expect(changes.map((c) => [c.path, c.operation, c.change, c.diff.type])).toEqual([
      ['operations/Gone.py', 'Gone', 'deleted', 'lines'],
      ['operations/New.py', 'New', 'added', 'lines'],
      ['operations/Op.py', 'Op', 'modified', 'lines'],
      ['utils/helpers.py', null, 'modified', 'lines'],
    ]);
    const opDiff = changes.find((c) => c.path === 'operations/Op.py')!.diff;
    expect(opDiff.type === 'lines' && [opDiff.added, opDiff.removed]).toEqual([1, 1]);
    // The third run ran the baseline's code.
    expect(codeChanges(files, 0, 2)).toEqual([]);
  });

  it('says a file too large to send differs, without a diff, when its hashes differ', () => {
    const files = [{ path: 'utils/big.py', texts: ['sha256:aa', 'sha256:bb'], omitted: 'too large to diff' }];
    expect(codeChanges(files, 0, 1)).toEqual([
      {
        path: 'utils/big.py',
        operation: null,
        change: 'modified',
        diff: { type: 'too-large', message: 'too large to diff' },
      },
    ]);
    expect(codeChanges([{ ...files[0]!, texts: ['sha256:aa', 'sha256:aa'] }], 0, 1)).toEqual([]);
  });

  it('refuses a run index it has no text for', () => {
    expect(() => codeChanges([{ path: 'operations/Op.py', texts: [op(1)] }], 0, 1)).toThrow(
      /no text for run 2/,
    );
  });
});

interface Fig extends ComparedFigure {
  id: string;
}
function fig(id: string, node: string, figure: number, title?: string, lines = true): Fig {
  return {
    id,
    node,
    figure,
    ...(title !== undefined ? { title } : {}),
    axes: [
      {
        kind: '2d',
        lines: lines
          ? [
              {
                label: 'loss',
                x: [0, 1, 2],
                y: [figure, figure / 2, null],
              },
            ]
          : [],
      },
    ],
  };
}

describe('matchFigures', () => {
  it('pairs figures by title, then by figure number, job by job', () => {
    const a = [fig('a1', 'curve', 1, 'Loss'), fig('a2', 'curve', 2, 'lr=0.1'), fig('a3', 'data', 1)];
    const b = [fig('b1', 'curve', 3, 'Loss'), fig('b2', 'curve', 2, 'lr=0.01'), fig('b3', 'data', 1)];
    const groups = matchFigures([a, b]);
    expect(groups.map((g) => [g.node, g.title, g.matchedBy, g.figures.map((f) => f?.id ?? null)])).toEqual([
      ['curve', 'Loss', 'title', ['a1', 'b1']],
      ['curve', 'lr=0.1', 'figure', ['a2', 'b2']],
      ['data', 'Figure 1', 'figure', ['a3', 'b3']],
    ]);
  });

  it('gives a figure only one run has a group of its own, and a job missing in one run nothing there', () => {
    const groups = matchFigures([
      [fig('a1', 'curve', 1, 'Loss'), fig('a2', 'only-a', 1)],
      [fig('b1', 'curve', 1, 'Loss')],
    ]);
    expect(groups.map((g) => [g.node, g.figures.map((f) => f?.id ?? null)])).toEqual([
      ['curve', ['a1', 'b1']],
      ['only-a', ['a2', null]],
    ]);
  });

  it('does not pair by a title two figures of one job share', () => {
    const a = [fig('a1', 'n', 1, 'Same'), fig('a2', 'n', 2, 'Same')];
    const b = [fig('b1', 'n', 2, 'Same')];
    const groups = matchFigures([a, b]);
    expect(groups.map((g) => [g.matchedBy, g.figures.map((f) => f?.id ?? null)])).toEqual([
      ['figure', ['a1', null]],
      ['figure', ['a2', 'b1']],
    ]);
  });

  it('matches nothing in no figures', () => {
    expect(matchFigures([[], []])).toEqual([]);
  });
});

describe('overlayFigures', () => {
  it('puts the line data of matching figures on one chart per axes, named after each run', () => {
    const [group] = matchFigures([[fig('a', 'curve', 1, 'Loss')], [fig('b', 'curve', 1, 'Loss')]]);
    const overlay = overlayFigures(group!, ['first', 'second']);
    expect(overlay).toEqual({
      kind: 'overlay',
      axes: [
        {
          index: 0,
          series: [
            {
              run: 0,
              label: 'first',
              points: [
                { x: 0, y: 1 },
                { x: 1, y: 0.5 },
              ],
            },
            {
              run: 1,
              label: 'second',
              points: [
                { x: 0, y: 1 },
                { x: 1, y: 0.5 },
              ],
            },
          ],
        },
      ],
    });
  });

  it('names each line when an axes has several', () => {
    const two: Fig = {
      id: 'x',
      node: 'n',
      figure: 1,
      axes: [
        {
          kind: '2d',
          lines: [
            { label: 'train', x: [0], y: [1] },
            { x: [0], y: [2] },
          ],
        },
      ],
    };
    const [group] = matchFigures([[two], [{ ...two, id: 'y' }]]);
    const overlay = overlayFigures(group!, ['A', 'B']);
    expect(overlay.kind === 'overlay' && overlay.axes[0]!.series.map((s) => s.label)).toEqual([
      'A · train',
      'A · line 2',
      'B · train',
      'B · line 2',
    ]);
  });

  it('explains figures without line data and a figure only one run has', () => {
    const [images] = matchFigures([[fig('a', 'n', 1, 'Img', false)], [fig('b', 'n', 1, 'Img', false)]]);
    expect(overlayFigures(images!, ['a', 'b'])).toEqual({
      kind: 'none',
      reason: expect.stringMatching(/^no line data to overlay/),
    });
    const [alone] = matchFigures([[fig('a', 'n', 1)], []]);
    expect(overlayFigures(alone!, ['a', 'b'])).toEqual({
      kind: 'none',
      reason: 'only one execution has this figure',
    });
  });

  it('skips 3D axes and axes only one run has lines on', () => {
    const a: Fig = {
      id: 'a',
      node: 'n',
      figure: 1,
      axes: [
        { kind: '3d', lines: [{ x: [0], y: [0] }] },
        { kind: '2d', lines: [{ x: [0, 1], y: [1, 2] }] },
      ],
    };
    const b: Fig = { ...a, id: 'b', axes: [a.axes[0]!, { kind: '2d', lines: [] }] };
    const [group] = matchFigures([[a], [b]]);
    expect(overlayFigures(group!, ['a', 'b']).kind).toBe('none');
    const [both] = matchFigures([[a], [{ ...a, id: 'c' }]]);
    const overlay = overlayFigures(both!, ['a', 'c']);
    expect(overlay.kind === 'overlay' && overlay.axes.map((x) => x.index)).toEqual([1]);
  });
});
