import { MantineProvider } from '@mantine/core';
import type { VersionSummary } from '@deepforge/protocol';
import { createElement } from 'react';
import { renderToStaticMarkup } from 'react-dom/server';
import { describe, expect, it } from 'vitest';
import { VersionRow } from './version-row.js';

const text = (html: string): string =>
  html
    .replace(/<style[^>]*>.*?<\/style>/gs, '')
    .replace(/<[^>]+>/g, ' ')
    .replace(/\s+/g, ' ')
    .trim();

function render(version: VersionSummary, selected = false): string {
  const row = createElement(VersionRow, {
    version,
    selected,
    ticked: false,
    onSelect: () => undefined,
    onTick: () => undefined,
    nowMs: Date.parse('2026-12-05T09:00:00Z'),
  });
  return renderToStaticMarkup(createElement(MantineProvider, null, row));
}

describe('VersionRow', () => {
  const v: VersionSummary = {
    id: '0123456789abcdef0123456789abcdef01234567',
    parentIds: [],
    kind: 'named',
    message: 'Baseline',
    author: { name: 'ada' },
    time: '2026-12-05T08:55:00Z',
    files: [
      { path: 'pipelines/hello.json', change: 'modified' },
      { path: 'operations/Add.py', change: 'added' },
      { path: 'utils/u.py', change: 'deleted' },
    ],
  };

  it('shows kind, message, author, time, id and the changed files, with names for e2e and screen readers', () => {
    const html = render(v);
    expect(text(html)).toBe(
      'named Baseline ada · 5 min ago · 0123456 pipelines/hello.json, operations/Add.py and 1 more',
    );
    expect(html).toContain('aria-label="Show version Baseline"');
    expect(html).toContain('aria-label="Compare 0123456"');
    expect(html).toContain(`data-version="${v.id}"`);
    expect(html).toContain('data-selected="false"');
    expect(render(v, true)).toContain('data-selected="true"');
  });

  it('labels a push and a checkpoint', () => {
    expect(text(render({ ...v, kind: 'push', message: 'from git' }))).toMatch(/^git push from git/);
    expect(text(render({ ...v, kind: 'checkpoint', message: '3 files changed' }))).toMatch(
      /^checkpoint 3 files/,
    );
  });
});
