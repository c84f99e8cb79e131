import { diffProjectFile } from '@deepforge/core';
import { createElement } from 'react';
import { renderToStaticMarkup } from 'react-dom/server';
import { describe, expect, it } from 'vitest';
import { FileDiffView } from './file-diff.js';

/** Renders a file's diff to HTML and reads it back with the DOM-free bits a test needs. */
function render(path: string, before: string | null, after: string | null): string {
  return renderToStaticMarkup(createElement(FileDiffView, { diff: diffProjectFile(path, before, after) }));
}
/** The cells (old line, new line, sign, text) of each row of one kind. */
const rows = (html: string, kind: string): string[][] =>
  [...html.matchAll(new RegExp(`<tr class="df-diff-${kind}"[^>]*>(.*?)</tr>`, 'g'))].map((m) =>
    [...(m[1] ?? '').matchAll(/<td[^>]*>(.*?)<\/td>/g)].map((c) => c[1] ?? ''),
  );
const text = (html: string): string =>
  html
    .replace(/<[^>]+>/g, '')
    .replace(/&quot;/g, '"')
    .replace(/&gt;/g, '>');

describe('FileDiffView', () => {
  it('shows code as added and removed lines with their numbers on each side', () => {
    const html = render('operations/Add.py', 'def f():\n    return 1\n', 'def f():\n    return 2\n');
    expect(rows(html, 'removed')).toEqual([['2', '', '−', '    return 1']]);
    expect(rows(html, 'added')).toEqual([['', '2', '+', '    return 2']]);
    expect(rows(html, 'context')).toEqual([['1', '1', ' ', 'def f():']]);
    expect(html).toContain('@@ −1,2 +1,2 @@');
  });

  it('shows a pipeline as node, attribute and connection changes', () => {
    const pipeline = (n: number, extra: boolean): string =>
      JSON.stringify({
        name: 'hello',
        nodes: [
          { id: 'left', operation: 'GetNumber', attributes: { number: n } },
          { id: 'mul', operation: 'Multiply' },
          ...(extra ? [{ id: 'show', operation: 'Print' }] : []),
        ],
        connections: [
          { from: { node: 'left', port: 'number' }, to: { node: 'mul', port: 'a' } },
          ...(extra ? [{ from: { node: 'mul', port: 'product' }, to: { node: 'show', port: 'value' } }] : []),
        ],
      });
    const html = render('pipelines/hello.json', pipeline(4, false), pipeline(6, true));
    expect(html).toContain('data-kind="pipeline"');
    const t = text(html);
    expect(t).toContain('Node show (Print) added');
    expect(t).toContain('Node left (GetNumber)number 4 → 6');
    expect(t).toContain('Connection mul.product → show.value added');
    expect(t).not.toContain('removed');
  });

  it('shows an architecture rename and layer class change in its own words', () => {
    const arch = (id: string, layer: string): string =>
      JSON.stringify({
        name: 'Tiny',
        layers: [
          { id: 'x', layer: 'Input', shape: ['N', 4] },
          { id, layer, attributes: { in_features: 4, out_features: 2 } },
        ],
        edges: [{ from: 'x', to: id }],
        outputs: [id],
      });
    const t = text(render('resources/Tiny.json', arch('fc', 'Linear'), arch('head', 'Linear')));
    expect(t).toContain('Layer head (Linear) renamed from fc');
    expect(t).toContain('outputs ["fc"] → ["head"]');
    const swapped = text(render('resources/Tiny.json', arch('fc', 'Linear'), arch('fc', 'LazyLinear')));
    expect(swapped).toContain('layer "Linear" → "LazyLinear"');
  });

  it('says when a file is too large, unchanged, or not a valid pipeline', () => {
    expect(render('operations/A.py', 'x', 'x'.repeat(5 * 1024 * 1024))).toContain(
      'data-testid="diff-too-large"',
    );
    expect(text(render('operations/A.py', 'x\n', 'x\n'))).toBe('No change in this file.');
    const empty = JSON.stringify({ name: 'later', nodes: [], connections: [] });
    expect(text(render('pipelines/later.json', null, empty))).toBe('An empty pipeline added.');
    expect(text(render('pipelines/later.json', empty, `${empty}\n`))).toBe(
      'Only the formatting of the file changed.',
    );
    expect(text(render('pipelines/p.json', '{}', '{"name": 1}'))).toContain(
      'The old version is not a valid pipeline: showing the lines.',
    );
  });
});
