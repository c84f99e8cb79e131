import type { DeletedItem, VersionPage, VersionSummary } from '@deepforge/protocol';
import { describe, expect, it } from 'vitest';
import { diffUrl, versionsUrl } from '../api/history.endpoints.js';
import {
  bringBackConfirmation,
  changedFilesText,
  compareRange,
  executionVersionLinks,
  fileDiffOf,
  fileDiffSummary,
  forkNameProblem,
  nextCursor,
  restoreConfirmation,
  shortVersion,
  toggleCompare,
  versionsOfPages,
} from './history.logic.js';

const id = (n: number): string => n.toString(16).padStart(40, '0');
const version = (n: number, extra: Partial<VersionSummary> = {}): VersionSummary => ({
  id: id(n),
  parentIds: n > 1 ? [id(n - 1)] : [],
  kind: 'checkpoint',
  message: `v${n}`,
  author: { name: 'ada' },
  time: '2026-12-05T08:00:00.000Z',
  files: [],
  ...extra,
});

describe('paging the version list', () => {
  it('asks for pages with the cursor and the search, and nothing empty', () => {
    expect(versionsUrl('p 1', {})).toBe('/api/projects/p%201/versions?limit=50');
    expect(versionsUrl('p', { cursor: 'abc', q: '  baseline ' })).toBe(
      '/api/projects/p/versions?limit=50&cursor=abc&q=baseline',
    );
    expect(versionsUrl('p', { q: '   ', cursor: '' })).toBe('/api/projects/p/versions?limit=50');
    expect(diffUrl('p', id(2))).toBe(`/api/projects/p/diff?to=${id(2)}`);
    expect(diffUrl('p', 'current', id(1))).toBe(`/api/projects/p/diff?from=${id(1)}&to=current`);
  });

  it('joins the loaded pages newest first, once each, and stops after the last page', () => {
    const pages: VersionPage[] = [
      { versions: [version(5), version(4)], next: 'c1' },
      // History grew while paging: the page boundary moved and v4 comes again.
      { versions: [version(4), version(3)], next: 'c2' },
      { versions: [version(2), version(1)] },
    ];
    expect(versionsOfPages(pages).map((v) => v.message)).toEqual(['v5', 'v4', 'v3', 'v2', 'v1']);
    expect(nextCursor(pages.slice(0, 1))).toBe('c1');
    expect(nextCursor(pages.slice(0, 2))).toBe('c2');
    expect(nextCursor(pages)).toBeUndefined();
    expect(nextCursor([])).toBeUndefined();
  });

  it('sums up changed files in a row', () => {
    expect(changedFilesText([])).toBe('no files changed');
    const files = ['pipelines/a.json', 'operations/B.py', 'utils/c.py', 'resources/D.json'].map((path) => ({
      path,
      change: 'modified' as const,
    }));
    expect(changedFilesText(files.slice(0, 2))).toBe('pipelines/a.json, operations/B.py');
    expect(changedFilesText(files)).toBe('pipelines/a.json, operations/B.py and 2 more');
  });
});

describe('comparing two versions', () => {
  const list = [version(3), version(2), version(1)];
  it('keeps at most two ticks, the latest two', () => {
    expect(toggleCompare([], 'a')).toEqual(['a']);
    expect(toggleCompare(['a'], 'b')).toEqual(['a', 'b']);
    expect(toggleCompare(['a', 'b'], 'c')).toEqual(['b', 'c']);
    expect(toggleCompare(['a', 'b'], 'a')).toEqual(['b']);
  });
  it('diffs from the older to the newer, whatever the order of the ticks', () => {
    expect(compareRange(id(3), id(1), list)).toEqual({ from: id(1), to: id(3) });
    expect(compareRange(id(1), id(3), list)).toEqual({ from: id(1), to: id(3) });
    expect(compareRange('current', id(2), list)).toEqual({ from: id(2), to: 'current' });
    // A version not loaded yet (an execution's link): the order given.
    expect(compareRange(id(9), 'current', list)).toEqual({ from: id(9), to: 'current' });
  });
  it('links an execution to its version and to what changed since', () => {
    expect(executionVersionLinks('p', id(7))).toEqual({
      label: '0000000',
      version: `/projects/p/history?to=${id(7)}`,
      changes: `/projects/p/history?from=${id(7)}&to=current`,
    });
    expect(shortVersion('current')).toBe('now');
  });
});

describe('the dialogs', () => {
  it('says a restore is a new version on top and keeps later history', () => {
    const whole = restoreConfirmation({ id: id(0xabcdef1), message: 'baseline' });
    expect(whole.title).toBe('Restore this version?');
    expect(whole.body).toContain('The whole project goes back to how it was at “baseline” (0000000)');
    expect(whole.body).toContain('new version on top');
    expect(whole.body).toContain('later versions are kept');
    const file = restoreConfirmation(version(2), 'pipelines/hello.json');
    expect(file).toMatchObject({ title: 'Restore pipelines/hello.json?', confirm: 'Restore the file' });
    expect(file.body).toContain('the rest of the project stays as it is');
    expect(file.body).toContain('later versions are kept');
  });
  it('names what a bring back restores, and from which version', () => {
    const item: DeletedItem = {
      path: 'pipelines/train.json',
      kind: 'pipeline',
      name: 'train',
      deletedIn: id(5),
      lastVersion: 'abcdef0123456789abcdef0123456789abcdef01',
    };
    expect(bringBackConfirmation(item)).toEqual({
      title: 'Bring back pipeline train?',
      body: 'pipelines/train.json comes back as it was in its last version (abcdef0). It becomes a new version on top of the history.',
      confirm: 'Bring back',
    });
  });
  it('checks a fork name', () => {
    expect(forkNameProblem('  ')).toBe('a name is needed');
    expect(forkNameProblem('x'.repeat(201))).toBe('at most 200 characters');
    expect(forkNameProblem('hello fork')).toBeNull();
  });
});

describe('file diffs of a version diff', () => {
  it('diffs by the file change, and sums each up in a line', () => {
    const p = (nodes: string[]): string =>
      JSON.stringify({ name: 'p', nodes: nodes.map((n) => ({ id: n, operation: 'Op' })), connections: [] });
    const graph = fileDiffOf({
      path: 'pipelines/p.json',
      change: 'modified',
      before: p(['a']),
      after: p(['a', 'b', 'c']),
    });
    expect(fileDiffSummary(graph)).toBe('2 nodes added');
    expect(
      fileDiffSummary(fileDiffOf({ path: 'pipelines/p.json', change: 'added', before: null, after: p([]) })),
    ).toBe('empty pipeline added');
    const code = fileDiffOf({ path: 'operations/A.py', change: 'added', before: null, after: 'x = 1\n' });
    expect(fileDiffSummary(code)).toBe('+1 −0');
    expect(
      fileDiffOf({ path: 'artifacts/x.pkl', change: 'modified', before: null, after: null, binary: true }),
    ).toEqual({
      type: 'binary',
    });
    const deleted = fileDiffOf({ path: 'utils/u.py', change: 'deleted', before: 'a\nb\n', after: null });
    expect(fileDiffSummary(deleted)).toBe('+0 −2');
  });
});
