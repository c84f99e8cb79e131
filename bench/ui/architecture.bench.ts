import type { Architecture, ArchitectureLayer } from '@deepforge/core';
import type { BenchContext, BenchResult, UiBenchmark } from './context.js';
import { UI_MEASURES, benchShot, freshPage } from './context.js';
import type { LoadMarks } from './load.bench.js';
import { chain, coldLoad, SOURCE, STEP } from './load.bench.js';
import { median, ms, quantile, ratio, spread, table } from './stats.js';

const ARCH_GRAPH = { canvas: '[data-testid=architecture-canvas]', node: '[data-testid=layer-node]' };

/** Input [N, 64], then `n - 1` layers alternating ReLU and Linear(64, 64), the last a ReLU after a Linear. */
function mlp(name: string, n: number): Architecture {
  const layers: ArchitectureLayer[] = [
    { id: 'x', layer: 'Input', shape: ['N', 64], attributes: {}, position: { x: 0, y: 0 } },
  ];
  for (let i = 1; i < n; i++) {
    const relu = (n - 1 - i) % 2 === 0;
    layers.push({
      id: `l${i}`,
      layer: relu ? 'ReLU' : 'Linear',
      attributes: relu ? {} : { in_features: 64, out_features: 64 },
      position: { x: 0, y: i * 110 },
    });
  }
  return {
    name,
    layers,
    edges: layers.slice(1).map((l, i) => ({ from: layers[i]!.id, to: l.id })),
    outputs: [layers[layers.length - 1]!.id],
  };
}

/**
 * A ResNet-like graph of exactly `n` layers: a stem (conv, batch norm, ReLU), bottleneck blocks of ten layers
 * (1×1, 3×3, 1×1 convolutions with batch norms and ReLUs, a residual Add, a ReLU), padding Dropouts, and a head
 * (average pool, flatten, linear). ResNet-50 has about 175 such layers.
 */
function resnetLike(name: string, n: number): Architecture {
  const layers: ArchitectureLayer[] = [];
  const edges: { from: string; to: string }[] = [];
  let y = 0;
  const add = (
    id: string,
    layer: string,
    attributes: ArchitectureLayer['attributes'],
    from: string[],
    x = 0,
  ) => {
    layers.push({ id, layer, attributes, position: { x, y: (y += 100) } });
    for (const f of from) edges.push({ from: f, to: id });
    return id;
  };
  layers.push({
    id: 'image',
    layer: 'Input',
    shape: ['N', 3, 32, 32],
    attributes: {},
    position: { x: 0, y },
  });
  let last = add('stem', 'Conv2d', { in_channels: 3, out_channels: 64, kernel_size: 3, padding: 1 }, [
    'image',
  ]);
  last = add('stem_bn', 'BatchNorm2d', { num_features: 64 }, [last]);
  last = add('stem_relu', 'ReLU', {}, [last]);
  const blocks = Math.floor((n - 7) / 10);
  for (let b = 0; b < blocks; b++) {
    const input = last;
    let h = add(`b${b}_c1`, 'Conv2d', { in_channels: 64, out_channels: 16, kernel_size: 1 }, [input]);
    h = add(`b${b}_n1`, 'BatchNorm2d', { num_features: 16 }, [h]);
    h = add(`b${b}_r1`, 'ReLU', {}, [h]);
    h = add(`b${b}_c2`, 'Conv2d', { in_channels: 16, out_channels: 16, kernel_size: 3, padding: 1 }, [h]);
    h = add(`b${b}_n2`, 'BatchNorm2d', { num_features: 16 }, [h]);
    h = add(`b${b}_r2`, 'ReLU', {}, [h]);
    h = add(`b${b}_c3`, 'Conv2d', { in_channels: 16, out_channels: 64, kernel_size: 1 }, [h]);
    h = add(`b${b}_n3`, 'BatchNorm2d', { num_features: 64 }, [h]);
    h = add(`b${b}_add`, 'Add', {}, [h, input]);
    last = add(`b${b}_out`, 'ReLU', {}, [h]);
  }
  for (let p = 0; layers.length < n - 3; p++) last = add(`drop${p}`, 'Dropout', { p: 0.1 }, [last]);
  last = add('pool', 'AdaptiveAvgPool2d', { output_size: 1 }, [last]);
  last = add('flat', 'Flatten', {}, [last]);
  last = add('fc', 'Linear', { in_features: 64, out_features: 10 }, [last]);
  return { name, layers, edges, outputs: [last] };
}

interface EditMarks {
  /** From the Enter keydown (event time) to the new value drawn on the layer (the document's local echo). */
  node: number;
  /** From the Enter keydown to the new shape on the edge after the edited layer (PyTorch's check, drawn). */
  shape: number;
}

/**
 * Opens the architecture, waits for its shapes, selects the Linear before the last layer and sets its
 * out_features `edits` times (after `warmup` unmeasured ones), each time to a new value, timing in the page.
 */
async function shapesAfterEdit(
  ctx: BenchContext,
  url: string,
  arch: Architecture,
  edits: number,
  warmup: number,
): Promise<EditMarks[]> {
  const { context, page } = await freshPage(ctx.browser, ctx.server.url);
  try {
    await page.goto(url);
    const edited = arch.layers[arch.layers.length - 2]!.id;
    const after = arch.layers[arch.layers.length - 1]!.id;
    await page.locator('[data-testid=architecture-canvas][data-check-current]').waitFor({ timeout: 60_000 });
    await page.locator(`[data-testid=edge-shape][data-edge="${edited}->${after}"]`).waitFor();
    await page.locator(`[data-testid=layer-node][data-layer-id="${edited}"]`).click();
    const field = page.getByTestId('layer-panel').getByTestId('arg-out_features');
    await field.waitFor();
    await page.evaluate(() => {
      const w = window as unknown as { __enter: number[] };
      w.__enter = [];
      document.addEventListener('keydown', (e) => e.key === 'Enter' && w.__enter.push(e.timeStamp), true);
    });
    const out: EditMarks[] = [];
    for (let i = 0; i < warmup + edits; i++) {
      const value = 65 + i;
      await field.fill(String(value));
      const shown = page.evaluate(
        ([nodeSel, edgeSel, nodeText, edgeText]) =>
          new Promise<{ node: number; shape: number }>((resolve) => {
            const seen: { node?: number; shape?: number } = {};
            const frame = (): void => {
              const now = performance.now();
              if (seen.node === undefined && document.querySelector(nodeSel)?.textContent?.includes(nodeText))
                seen.node = now;
              if (seen.shape === undefined && document.querySelector(edgeSel)?.textContent === edgeText)
                seen.shape = now;
              if (seen.node !== undefined && seen.shape !== undefined)
                resolve({ node: seen.node, shape: seen.shape });
              else requestAnimationFrame(frame);
            };
            frame();
          }),
        [
          `[data-testid=layer-node][data-layer-id="${edited}"]`,
          `[data-testid=edge-shape][data-edge="${edited}->${after}"]`,
          `out_features=${value}`,
          `[N, ${value}]`,
        ] as const,
      );
      await field.press('Enter');
      const t = await shown;
      const t0 = await page.evaluate(
        () => (window as unknown as { __enter: number[] }).__enter.at(-1) ?? NaN,
      );
      if (i >= warmup) out.push({ node: t.node - t0, shape: t.shape - t0 });
    }
    if (!ctx.smoke) await benchShot(page, 'architecture-edit');
    return out;
  } finally {
    await context.close();
  }
}

export const architecture: UiBenchmark = {
  name: 'architecture',
  title: 'Architecture editor: shapes after an edit, cold open of a ResNet-sized graph',
  measures: UI_MEASURES,
  async run(ctx: BenchContext): Promise<BenchResult> {
    const { rest } = ctx;
    const sizes = ctx.smoke ? { mlp: 10, resnet: 20, pipeline: 10 } : { mlp: 50, resnet: 200, pipeline: 100 };
    const editsPerRun = ctx.smoke ? 3 : 20;
    const project = await rest.createProject('bench architecture');
    const base = `/api/projects/${project.id}`;
    await rest.ok('PUT', `${base}/resources/Mlp`, mlp('Mlp', sizes.mlp));
    await rest.ok('PUT', `${base}/resources/ResNetLike`, resnetLike('ResNetLike', sizes.resnet));
    await rest.ok('POST', `${base}/operations`, { name: 'Source', code: SOURCE });
    await rest.ok('POST', `${base}/operations`, { name: 'Step', code: STEP });
    await rest.ok('POST', `${base}/pipelines`, { name: 'chain', ...chain(sizes.pipeline) });
    // Both graphs are valid and run through PyTorch: what is timed is the editor, not an error path.
    for (const name of ['Mlp', 'ResNetLike']) {
      const check = await rest.ok<{
        shapes: { ok: boolean; layers: unknown[] } | null;
        diagnostics: unknown[];
      }>('POST', `${base}/resources/${name}/check`);
      if (!check.shapes?.ok)
        throw new Error(`${name} does not check: ${JSON.stringify(check).slice(0, 500)}`);
    }

    // Shapes after an edit of the MLP: one fresh page per run, `editsPerRun` edits each.
    const mlpArch = mlp('Mlp', sizes.mlp);
    const edits: EditMarks[] = [];
    for (let r = 0; r < ctx.repeat; r++) {
      const got = await shapesAfterEdit(
        ctx,
        `/projects/${project.id}/resources/Mlp`,
        mlpArch,
        editsPerRun,
        ctx.smoke ? 0 : 2,
      );
      edits.push(...got);
      const shapeTimes = got.map((e) => e.shape);
      ctx.log(
        `  edit run ${r + 1}: shape shown p50 ${ms(median(shapeTimes))}, p95 ${ms(quantile(shapeTimes, 0.95))}; value on the layer p50 ${ms(median(got.map((e) => e.node)))}`,
      );
    }

    // Cold opens, alternating: the pipeline (baseline) and the architecture.
    const cases = [
      {
        key: 'pipeline',
        nodes: sizes.pipeline,
        url: `/projects/${project.id}/pipelines/chain`,
        graph: undefined,
      },
      {
        key: 'architecture',
        nodes: sizes.resnet,
        url: `/projects/${project.id}/resources/ResNetLike`,
        graph: ARCH_GRAPH,
      },
    ] as const;
    const loads: Record<'pipeline' | 'architecture', LoadMarks[]> = { pipeline: [], architecture: [] };
    if (!ctx.smoke) for (const c of cases) await coldLoad(ctx, c.url, c.nodes, undefined, c.graph);
    for (let i = 0; i < ctx.repeat; i++) {
      for (const c of cases) {
        const shot = i === 0 && !ctx.smoke ? `architecture-open-${c.key}` : undefined;
        const m = await coldLoad(ctx, c.url, c.nodes, shot, c.graph);
        loads[c.key].push(m);
        ctx.log(`  open ${c.key}: ${ms(m.allNodes)} (canvas ${ms(m.canvas)})`);
      }
    }

    const shape = edits.map((e) => e.shape);
    const node = edits.map((e) => e.node);
    const p95 = quantile(shape, 0.95);
    const pipe = median(loads.pipeline.map((m) => m.allNodes));
    const arch = median(loads.architecture.map((m) => m.allNodes));
    const markdown = [
      `**Shapes after an edit.** A ${sizes.mlp}-layer architecture (Input [N, 64], Linear(64, 64) and ReLU alternating, made through \`PUT /resources/Mlp\`) open in the editor; the Linear before the last layer selected, its \`out_features\` typed in the layer panel and Enter pressed, ${editsPerRun} times per page (${ctx.smoke ? 'no warm-up' : 'after 2 unmeasured'}), ${ctx.repeat} pages. Timed in the page from the Enter key's event time to the frame where the new value is on the layer (the project document's local echo, the baseline) and to the frame where the edge after it shows the new shape (\`[N, k]\`: the graph sent to \`POST /resources/Mlp/check\`, inferred by PyTorch on the meta device in the server's persistent Python, drawn). Target: shapes shown p95 ≤ 150 ms.`,
      '',
      table(
        ['after Enter', 'median', 'p95', 'min–max'],
        [
          ['value on the layer (baseline)', ms(median(node)), ms(quantile(node, 0.95)), spread(node)],
          ['**shape on the edge**', `**${ms(median(shape))}**`, `**${ms(p95)}**`, spread(shape)],
        ],
      ),
      '',
      `**Cold open.** A ResNet-like architecture of ${sizes.resnet} layers (bottleneck blocks with residual Adds, made through the REST API) and, as the baseline, a ${sizes.pipeline}-operation pipeline of the same project, each opened in a fresh browser context (empty cache and storage), alternating, ${ctx.repeat} runs each${ctx.smoke ? '' : ' after one warm-up'}; from navigation start to the frame where every node is drawn and visible. Target: ≤ 1.5× the pipeline.`,
      '',
      table(
        [
          'navigation → …',
          `pipeline, ${sizes.pipeline} operations (baseline)`,
          `architecture, ${sizes.resnet} layers`,
          'ratio',
        ],
        [
          [
            'canvas shown',
            spread(loads.pipeline.map((m) => m.canvas)),
            spread(loads.architecture.map((m) => m.canvas)),
            '',
          ],
          [
            '**all nodes drawn**',
            `**${spread(loads.pipeline.map((m) => m.allNodes))}**`,
            `**${spread(loads.architecture.map((m) => m.allNodes))}**`,
            `**${ratio(arch, pipe)}**`,
          ],
        ],
      ),
    ].join('\n');
    return {
      summaryLine: `shapes after an edit p95 ${ms(p95)} (target ≤ 150 ms; median ${ms(median(shape))}); ${sizes.resnet}-layer open ${ms(arch)} vs ${sizes.pipeline}-operation pipeline ${ms(pipe)}: ${ratio(arch, pipe)} (target ≤ 1.5×)`,
      markdown,
      raw: { edits, loads },
    };
  },
};
