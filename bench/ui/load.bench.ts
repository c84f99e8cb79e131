import type { PipelineNode } from '@deepforge/core';
import type { BenchContext, BenchResult, UiBenchmark } from './context.js';
import { UI_MEASURES, benchShot, freshPage } from './context.js';
import { median, ms, ratio, spread, table } from './stats.js';

export const SOURCE = `class Source:
    def execute(self):
        x = 0
        return x
`;
export const STEP = `class Step:
    def __init__(self, k=1):
        self.k = k

    def execute(self, x):
        y = x + self.k
        return y
`;

/** A chain of `n` operations laid out as a 10-wide snake, as a user would have arranged it. */
export function chain(n: number): { nodes: PipelineNode[]; connections: object[] } {
  const nodes: PipelineNode[] = [];
  const connections: object[] = [];
  for (let i = 0; i < n; i++) {
    const row = Math.floor(i / 10);
    const col = row % 2 === 0 ? i % 10 : 9 - (i % 10);
    nodes.push({
      id: `n${i}`,
      operation: i === 0 ? 'Source' : 'Step',
      attributes: i === 0 ? {} : { k: i },
      references: {},
      position: { x: col * 240, y: row * 150 },
    });
    if (i > 0)
      connections.push({
        from: { node: `n${i - 1}`, port: i === 1 ? 'x' : 'y' },
        to: { node: `n${i}`, port: 'x' },
      });
  }
  return { nodes, connections };
}

export interface LoadMarks {
  /** All from navigation start (performance.now() in the page). */
  domContentLoaded: number;
  canvas: number;
  firstNode: number;
  allNodes: number;
  jsBytes: number;
  requests: number;
}

/**
 * Installed before any page script: each animation frame, looks at the editor's graph and notes when the canvas
 * appeared (the project document has synced), when the first node was drawn, and when all `want` nodes are
 * drawn and visible (React Flow keeps a node hidden until it has measured it).
 */
function watchGraph({ want, canvas, node }: { want: number; canvas: string; node: string }): void {
  const marks: Record<string, number> = {};
  (window as unknown as { __marks: Record<string, number> }).__marks = marks;
  const frame = (): void => {
    const now = performance.now();
    if (marks.canvas === undefined && document.querySelector(canvas)) marks.canvas = now;
    const nodes = document.querySelectorAll<HTMLElement>(`${canvas} ${node}`);
    if (marks.firstNode === undefined && nodes.length > 0) marks.firstNode = now;
    // Hidden by React Flow (on the node's wrapper, inherited) until measured.
    if (
      nodes.length === want &&
      [...nodes].every((n) => n.checkVisibility({ visibilityProperty: true }) && n.offsetWidth > 0)
    ) {
      marks.allNodes = now;
      return;
    }
    requestAnimationFrame(frame);
  };
  requestAnimationFrame(frame);
}

/** The pipeline editor's canvas and nodes; the architecture editor passes its own. */
const PIPELINE_GRAPH = { canvas: '[data-testid=pipeline-canvas]', node: '[data-testid=graph-node]' };

export async function coldLoad(
  ctx: BenchContext,
  url: string,
  nodes: number,
  shot?: string,
  graph: { canvas: string; node: string } = PIPELINE_GRAPH,
): Promise<LoadMarks> {
  const { context, page } = await freshPage(ctx.browser, ctx.server.url);
  try {
    await page.addInitScript(watchGraph, { want: nodes, ...graph });
    await page.goto(url);
    await page.waitForFunction(
      () => (window as unknown as { __marks: { allNodes?: number } }).__marks.allNodes !== undefined,
      null,
      {
        timeout: 60_000,
        polling: 100,
      },
    );
    const marks = await page.evaluate(() => {
      const m = (window as unknown as { __marks: Record<string, number> }).__marks;
      const nav = performance.getEntriesByType('navigation')[0] as PerformanceNavigationTiming;
      const resources = performance.getEntriesByType('resource') as PerformanceResourceTiming[];
      return {
        domContentLoaded: nav.domContentLoadedEventEnd,
        canvas: m.canvas ?? NaN,
        firstNode: m.firstNode ?? NaN,
        allNodes: m.allNodes ?? NaN,
        jsBytes: resources.filter((r) => r.name.endsWith('.js')).reduce((s, r) => s + r.transferSize, 0),
        requests: resources.length + 1,
      };
    });
    if (shot) await benchShot(page, shot);
    return marks;
  } finally {
    await context.close();
  }
}

export const load: UiBenchmark = {
  name: 'load',
  title: 'Cold load of a 100-operation pipeline',
  measures: UI_MEASURES,
  async run(ctx: BenchContext): Promise<BenchResult> {
    const { rest } = ctx;
    // Smoke: 10 operations, enough for the same path (several rows of the snake) at a tenth of the cost.
    const size = ctx.smoke ? 10 : 100;
    const project = await rest.createProject('bench load');
    const base = `/api/projects/${project.id}`;
    await rest.ok('POST', `${base}/operations`, { name: 'Source', code: SOURCE });
    await rest.ok('POST', `${base}/operations`, { name: 'Step', code: STEP });
    await rest.ok('POST', `${base}/pipelines`, { name: 'hundred', ...chain(size) });
    await rest.ok('POST', `${base}/pipelines`, { name: 'one', ...chain(1) });
    const stored = await rest.pipeline(project.id, 'hundred');
    if (stored.pipeline.nodes.length !== size || stored.diagnostics.some((d) => d.severity === 'error'))
      throw new Error(`the generated pipeline is not what was meant: ${JSON.stringify(stored.diagnostics)}`);

    const cases = [
      { key: 'one', nodes: 1, url: `/projects/${project.id}/pipelines/one` },
      { key: 'hundred', nodes: size, url: `/projects/${project.id}/pipelines/hundred` },
    ] as const;
    const runs: Record<'one' | 'hundred', LoadMarks[]> = { one: [], hundred: [] };
    // One warm-up of each (server-side caches, the OS page cache), then alternating measured runs.
    if (!ctx.smoke) for (const c of cases) await coldLoad(ctx, c.url, c.nodes);
    for (let i = 0; i < ctx.repeat; i++) {
      for (const c of cases) {
        const m = await coldLoad(ctx, c.url, c.nodes, i === 0 && !ctx.smoke ? `load-${c.key}` : undefined);
        runs[c.key].push(m);
        ctx.log(
          `  ${c.key}: ${ms(m.allNodes)} (DOMContentLoaded ${ms(m.domContentLoaded)}, canvas ${ms(m.canvas)})`,
        );
      }
    }
    const all = (k: 'one' | 'hundred', f: keyof LoadMarks) => runs[k].map((m) => m[f]);
    const one = median(all('one', 'allNodes'));
    const hundred = median(all('hundred', 'allNodes'));
    const jsKiB = median(all('hundred', 'jsBytes')) / 1024;
    const markdown = [
      `A pipeline of ${size} operations (a chain laid out 10 wide, made through the REST API: \`POST /pipelines\` with its nodes and connections) opened in a fresh browser context each time (empty cache and storage), on loopback. Measured in the page from navigation start (\`performance.now()\`), each animation frame: when all ${size} nodes are drawn and visible (React Flow hides a node until it has measured it). Baseline: the same project's 1-operation pipeline, the fixed cost of the app. ${ctx.repeat} runs of each after one warm-up, alternating; median (min–max).`,
      '',
      table(
        ['navigation → …', '1 operation (baseline)', `${size} operations`, 'ratio'],
        [
          [
            'DOMContentLoaded',
            spread(all('one', 'domContentLoaded')),
            spread(all('hundred', 'domContentLoaded')),
            '',
          ],
          [
            'editor canvas shown (project document synced)',
            spread(all('one', 'canvas')),
            spread(all('hundred', 'canvas')),
            '',
          ],
          ['first node drawn', spread(all('one', 'firstNode')), spread(all('hundred', 'firstNode')), ''],
          [
            '**all nodes drawn**',
            `**${spread(all('one', 'allNodes'))}**`,
            `**${spread(all('hundred', 'allNodes'))}**`,
            `**${ratio(hundred, one)}**`,
          ],
        ],
      ),
      '',
      `JavaScript transferred for the pipeline view: ${jsKiB.toFixed(0)} KiB (compressed as served; ${median(all('hundred', 'requests')).toFixed(0)} requests in all). The issue sets no target for this load; ${size} operations cost ${ms(hundred - one)} more than one.`,
    ].join('\n');
    return {
      summaryLine: `${size} operations drawn ${ms(hundred)} after navigation (1 operation: ${ms(one)}; ${ratio(hundred, one)})`,
      markdown,
      raw: runs,
    };
  },
};
