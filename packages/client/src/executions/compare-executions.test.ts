import { compareExecutions } from '@deepforge/core';
import type { ExecutionComparisonDto, ExecutionDetailsDto, ExecutionPlotDto } from '@deepforge/protocol';
import { MantineProvider } from '@mantine/core';
import { QueryClient, QueryClientProvider } from '@tanstack/react-query';
import { createElement, type ReactElement } from 'react';
import { renderToStaticMarkup } from 'react-dom/server';
import { MemoryRouter } from 'react-router';
import { describe, expect, it } from 'vitest';
import { CompareDifferences } from './compare-differences.js';
import { ComparePlots } from './compare-plots.js';
import { attributeCellText, comparisonRuns, outcomeText } from './compare-runs.js';
import { CompareSummary } from './compare-summary.js';
import { ExecutionPlotsGallery, plotsByJob } from './execution-plots-gallery.js';
import { qk } from '../api/endpoints.js';

const render = (el: ReactElement): string =>
  renderToStaticMarkup(createElement(MantineProvider, null, createElement(MemoryRouter, null, el)));
const text = (html: string): string =>
  html
    .replace(/<style[^>]*>.*?<\/style>/gs, '')
    .replace(/<[^>]+>/g, ' ')
    .replace(/&quot;/g, '"')
    .replace(/&#x27;/g, "'")
    .replace(/\s+/g, ' ')
    .trim();

function execution(
  id: string,
  name: string,
  epochs: number,
  over: Partial<ExecutionDetailsDto> = {},
): ExecutionDetailsDto {
  return {
    id,
    name,
    projectId: 'p',
    pipeline: 'curve',
    status: 'success',
    createdAt: 0,
    startedAt: 1000,
    endedAt: 4000,
    durationMs: 3000,
    jobCounts: { success: 1 },
    options: { cache: false, concurrency: 1, overrides: [] },
    pipelineSnapshot: {
      name: 'curve',
      nodes: [{ id: 'curve', operation: 'TrainingCurve', attributes: { epochs }, references: {} }],
      connections: [],
    },
    startedBy: null,
    jobs: [
      {
        id: `${id}-j`,
        node: 'curve',
        operation: 'TrainingCurve',
        status: 'success',
        attempt: 1,
        startedAt: 1000,
        endedAt: 3500,
        durationMs: 2500,
        exitCode: 0,
        error: null,
        cachedFrom: null,
        outputs: [],
      },
    ],
    failure: null,
    ...over,
  };
}

const op = (k: number): string => `class TrainingCurve:\n    def execute(self):\n        return ${k}\n`;
const dto: ExecutionComparisonDto = {
  executions: [
    execution('a', 'three epochs', 3),
    execution('b', 'five epochs', 5, {
      status: 'failed',
      jobs: [
        {
          ...execution('b', '', 5).jobs[0]!,
          status: 'cached',
          cachedFrom: 'a-j',
          durationMs: 0,
        },
      ],
    }),
  ],
  attributes: [{ curve: { epochs: 3, lr: 0.1 } }, { curve: { epochs: 5, lr: 0.1 } }],
  code: { files: [{ path: 'operations/TrainingCurve.py', texts: [op(1), op(2)] }], unchanged: 4 },
};

describe('comparison words', () => {
  it('reads the runs core compares from the server answer', () => {
    const runs = comparisonRuns(dto);
    expect(runs.map((r) => [r.name, r.nodes, r.attributes])).toEqual([
      ['three epochs', [{ id: 'curve', operation: 'TrainingCurve' }], { curve: { epochs: 3, lr: 0.1 } }],
      ['five epochs', [{ id: 'curve', operation: 'TrainingCurve' }], { curve: { epochs: 5, lr: 0.1 } }],
    ]);
    expect(attributeCellText({ kind: 'value', value: 'adam' })).toBe('"adam"');
    expect(attributeCellText({ kind: 'no-node' })).toBe('no such node');
    expect(outcomeText(null)).toBe('not in this run');
    expect(
      outcomeText({
        operation: 'X',
        status: 'cached',
        startedAt: null,
        endedAt: null,
        durationMs: 0,
        reused: true,
      }),
    ).toBe('cached · reused');
  });
});

describe('CompareSummary', () => {
  it('shows each execution and each job per run: status, duration, reused', () => {
    const html = render(
      createElement(CompareSummary, {
        projectId: 'p',
        executions: dto.executions,
        comparison: compareExecutions(comparisonRuns(dto)),
      }),
    );
    const t = text(html);
    expect(t).toContain('three epochs');
    expect(t).toContain('five epochs');
    expect(t).toMatch(/Duration 3\.0 s 3\.0 s/);
    expect(html).toMatch(/data-testid="compare-job-cell" data-status="success"/);
    expect(html).toMatch(/data-testid="compare-job-cell" data-status="cached"/);
    expect(t).toMatch(/reused/);
    expect(html).toContain('href="/projects/p/executions/b?node=curve"');
  });
});

describe('CompareDifferences', () => {
  it('lists the differing attribute per run and the changed operation as a line diff', () => {
    const comparison = compareExecutions(comparisonRuns(dto));
    const html = render(
      createElement(CompareDifferences, {
        executions: dto.executions,
        comparison,
        code: dto.code,
        baseline: 0,
        onBaseline: () => undefined,
      }),
    );
    const t = text(html);
    expect(t).toContain('curve.epochs 3 5');
    expect(html).toMatch(/data-differs="true"[^>]*>5</);
    expect(t).toContain('1 other attribute is the same in every run.');
    expect(t).toContain('five epochs against three epochs');
    expect(t).toContain('modified operation TrainingCurve +1 −1');
    expect(html).toContain('data-path="operations/TrainingCurve.py"');
    expect(t).toContain('4 other files are the same in every run.');
  });

  it('says when every run ran the same attributes and code', () => {
    const same: ExecutionComparisonDto = {
      ...dto,
      attributes: [dto.attributes[0]!, dto.attributes[0]!],
      code: { files: [], unchanged: 3 },
    };
    const t = text(
      render(
        createElement(CompareDifferences, {
          executions: same.executions,
          comparison: compareExecutions(comparisonRuns(same)),
          code: same.code,
          baseline: 1,
          onBaseline: () => undefined,
        }),
      ),
    );
    expect(t).toContain('Every run ran with the same attributes (2).');
    expect(t).toContain('Every run ran the same code (3 files).');
  });
});

function plot(node: string, figure: number, title: string | undefined, lines: boolean): ExecutionPlotDto {
  return {
    node,
    operation: node === 'curve' ? 'TrainingCurve' : 'ImageGrid',
    figure,
    seq: 1,
    ...(title !== undefined ? { title } : {}),
    svg: '<svg xmlns="http://www.w3.org/2000/svg"></svg>',
    axes: [
      {
        kind: '2d',
        lines: lines ? [{ label: 'loss', x: [0, 1], y: [2, 1] }] : [],
        scatters: [],
        images: [],
        rules: [],
      },
    ],
    t: 0,
  };
}

describe('ComparePlots', () => {
  it('shows matching figures side by side, overlays line data, and says why images are not overlaid', () => {
    const html = render(
      createElement(ComparePlots, {
        names: ['three epochs', 'five epochs'],
        plots: [
          [plot('curve', 1, 'Training Loss', true), plot('grid', 1, undefined, false)],
          [plot('curve', 1, 'Training Loss', true)],
        ],
      }),
    );
    const t = text(html);
    expect(html.match(/data-testid="compare-figure"/g)).toHaveLength(2);
    expect(html).toContain('data-testid="compare-overlay"');
    expect(html.match(/data-testid="compare-figure-cell"/g)).toHaveLength(3);
    expect(html).toContain('data-testid="compare-figure-missing" data-run="five epochs"');
    expect(t).toContain('Not overlaid: only one execution has this figure.');
    expect(t).toContain('matched by title');
    expect(t).toContain('in one execution only');
  });

  it('says a job reused from the cache drew nothing in its run', () => {
    const t = text(
      render(
        createElement(ComparePlots, {
          names: ['first', 'cached'],
          plots: [[plot('curve', 1, 'Training Loss', true)], []],
          reused: [new Set<string>(), new Set(['curve'])],
        }),
      ),
    );
    expect(t).toContain('Not drawn in this run: its job reused an earlier run’s outputs (the cache)');
  });

  it('says when nothing was plotted', () => {
    expect(text(render(createElement(ComparePlots, { names: ['a', 'b'], plots: [[], []] })))).toMatch(
      /None of these executions plotted anything/,
    );
  });
});

describe('plotsByJob', () => {
  it('groups an execution’s figures by job in the order given, each job’s by figure number', () => {
    const jobs = plotsByJob([
      plot('curve', 2, 'b', true),
      plot('grid', 1, 'g', false),
      plot('curve', 1, 'a', true),
    ]);
    expect(jobs.map((j) => [j.node, j.plots.map((p) => p.title)])).toEqual([
      ['curve', ['a', 'b']],
      ['grid', ['g']],
    ]);
  });
});

describe('ExecutionPlotsGallery', () => {
  const gallery = (items: ExecutionPlotDto[], reused: string[]): string => {
    const client = new QueryClient();
    client.setQueryData(qk.executionPlots('p', 'e'), { items });
    return render(
      createElement(
        QueryClientProvider,
        { client },
        createElement(ExecutionPlotsGallery, {
          projectId: 'p',
          executionId: 'e',
          jobLink: (node: string) => `?node=${node}&tab=plots`,
          reused,
        }),
      ),
    );
  };

  it("shows every job's figures, each linking to its job, and names the jobs reused from the cache", () => {
    const html = gallery(
      [
        plot('curve', 1, 'Training Loss', true),
        plot('grid', 1, undefined, false),
        plot('curve', 2, 'Accuracy', true),
      ],
      ['data'],
    );
    const t = text(html);
    expect(t).toContain('3 figures from 2 jobs');
    expect(t).toContain('Reused from the cache, so not run here and drew nothing: data.');
    const links = [...html.matchAll(/<a ([^>]*data-testid="execution-plot-link"[^>]*)>([^<]*)</g)].map(
      (m) => [/href="([^"]*)"/.exec(m[1] ?? '')?.[1]?.replace(/&amp;/g, '&'), m[2]],
    );
    expect(links).toEqual([
      ['/?node=curve&tab=plots', 'Training Loss'],
      ['/?node=curve&tab=plots', 'Accuracy'],
      ['/?node=grid&tab=plots', 'Figure 1'],
    ]);
  });

  it('says when no job plotted anything', () => {
    expect(text(gallery([], []))).toMatch(/No job of this execution has plotted anything yet/);
  });
});
