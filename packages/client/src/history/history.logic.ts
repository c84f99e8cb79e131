import { assertNever, diffProjectFile } from '@deepforge/core';
import type { FileDiff } from '@deepforge/core';
import type {
  DeletedItem,
  VersionDiffFile,
  VersionKind,
  VersionPage,
  VersionSummary,
} from '@deepforge/protocol';

/** The History view's logic, apart from React: labels, paging, selection, the confirmations' words. */

/** `current` in a diff is the live project, as the server's diff route takes it. */
export const CURRENT = 'current';

export function shortVersion(id: string): string {
  return id === CURRENT ? 'now' : id.slice(0, 7);
}

export function versionKindLabel(kind: VersionKind): string {
  switch (kind) {
    case 'checkpoint':
      return 'checkpoint';
    case 'named':
      return 'named';
    case 'restore':
      return 'restore';
    case 'push':
      return 'git push';
    case 'fork':
      return 'fork';
    case 'import':
      return 'import';
    case 'created':
      return 'created';
    default:
      return assertNever(kind);
  }
}

export function versionKindColor(kind: VersionKind): string {
  switch (kind) {
    case 'named':
      return 'blue';
    case 'restore':
      return 'orange';
    case 'push':
    case 'import':
    case 'fork':
      return 'grape';
    case 'created':
      return 'teal';
    case 'checkpoint':
      return 'gray';
    default:
      return assertNever(kind);
  }
}

/** The versions of the pages loaded so far, newest first; a version on two pages (history grew between) once. */
export function versionsOfPages(pages: readonly VersionPage[]): VersionSummary[] {
  const seen = new Set<string>();
  const out: VersionSummary[] = [];
  for (const page of pages) {
    for (const v of page.versions) {
      if (seen.has(v.id)) continue;
      seen.add(v.id);
      out.push(v);
    }
  }
  return out;
}

/** What the "load more" of the list asks for next: the last page's cursor, none when it was the last page. */
export function nextCursor(pages: readonly VersionPage[]): string | undefined {
  return pages.at(-1)?.next;
}

/** The changed files of a row, short: "pipelines/hello.json, operations/Add.py and 3 more". */
export function changedFilesText(files: VersionSummary['files'], shown = 2): string {
  if (files.length === 0) return 'no files changed';
  const names = files.slice(0, shown).map((f) => f.path);
  const rest = files.length - names.length;
  return rest > 0 ? `${names.join(', ')} and ${rest} more` : names.join(', ');
}

/**
 * Ticking a version for comparison: at most two at a time; a third replaces the older tick, unticking removes.
 */
export function toggleCompare(selected: readonly string[], id: string): string[] {
  if (selected.includes(id)) return selected.filter((s) => s !== id);
  return [...selected, id].slice(-2);
}

/**
 * The two ticked versions as a diff's from → to: the older one first, by their place in the list (newest
 * first); `current` is newer than every version.
 */
export function compareRange(
  a: string,
  b: string,
  order: readonly Pick<VersionSummary, 'id'>[],
): { from: string; to: string } {
  const index = (id: string): number => (id === CURRENT ? -1 : order.findIndex((v) => v.id === id));
  const ia = index(a);
  const ib = index(b);
  // Not in the loaded pages (a link from an execution): keep the order given.
  if ((ia === -1 && a !== CURRENT) || (ib === -1 && b !== CURRENT)) {
    return { from: a, to: b };
  }
  return ia > ib ? { from: a, to: b } : { from: b, to: a };
}

/** Files a single file restore can bring back: the project's entities, not the manifest. */
export function canRestoreFile(path: string): boolean {
  return path !== 'deepforge.json';
}

export interface Confirmation {
  title: string;
  body: string;
  confirm: string;
}

/** The words of the restore confirmations: what comes back, and that nothing of the history is lost. */
export function restoreConfirmation(
  version: Pick<VersionSummary, 'id' | 'message'>,
  path?: string,
): Confirmation {
  const at = `“${version.message}” (${shortVersion(version.id)})`;
  const keeps =
    'It becomes a new version on top of the history; later versions are kept, so you can go back to now at any time.';
  if (path === undefined) {
    return {
      title: 'Restore this version?',
      body: `The whole project goes back to how it was at ${at}, for everyone who has it open. ${keeps}`,
      confirm: 'Restore the project',
    };
  }
  return {
    title: `Restore ${path}?`,
    body: `${path} goes back to how it was at ${at}; the rest of the project stays as it is. ${keeps}`,
    confirm: 'Restore the file',
  };
}

export function bringBackConfirmation(item: DeletedItem): Confirmation {
  return {
    title: `Bring back ${item.kind} ${item.name}?`,
    body: `${item.path} comes back as it was in its last version (${shortVersion(item.lastVersion)}). It becomes a new version on top of the history.`,
    confirm: 'Bring back',
  };
}

/** Why a fork name cannot be used, or null. */
export function forkNameProblem(name: string): string | null {
  if (name.trim() === '') return 'a name is needed';
  if (name.length > 200) return 'at most 200 characters';
  return null;
}

export function forkDefaultName(projectName: string): string {
  return `${projectName} fork`;
}

/** A diff of one file of a version diff, computed once per file (pure, bounded: see core's diffProjectFile). */
export function fileDiffOf(file: VersionDiffFile): FileDiff {
  if (file.binary) return { type: 'binary' };
  return diffProjectFile(
    file.path,
    file.change === 'added' ? null : file.before,
    file.change === 'deleted' ? null : file.after,
  );
}

/** One short line per file diff: what the header of the file shows next to the path. */
export function fileDiffSummary(d: FileDiff): string {
  switch (d.type) {
    case 'lines':
      return `+${d.added} −${d.removed}`;
    case 'pipeline':
    case 'architecture': {
      const what = d.type === 'pipeline' ? 'node' : 'layer';
      const parts: string[] = [];
      const count = (n: number, label: string): void => {
        if (n > 0) parts.push(`${n} ${what}${n === 1 ? '' : 's'} ${label}`);
      };
      count(d.added.length, 'added');
      count(d.removed.length, 'removed');
      count(d.changed.length, 'changed');
      const links = d.connectionsAdded.length + d.connectionsRemoved.length;
      const link = d.type === 'pipeline' ? 'connection' : 'edge';
      if (links > 0) parts.push(`${links} ${link}${links === 1 ? '' : 's'} changed`);
      if (d.fields.length > 0) parts.push(d.fields.map((f) => f.name).join(', ') + ' changed');
      if (parts.length === 0 && d.whole) return `empty ${d.type} ${d.whole}`;
      return parts.join(', ') || 'formatting changed';
    }
    case 'unchanged':
      return 'no change';
    case 'too-large':
      return 'too large to diff';
    case 'binary':
      return 'binary';
    default:
      return assertNever(d);
  }
}

/** An execution's links into History: its version, and the diff from it to the live project. */
export function executionVersionLinks(
  projectId: string,
  version: string,
): { label: string; version: string; changes: string } {
  const base = `/projects/${encodeURIComponent(projectId)}/history`;
  const v = encodeURIComponent(version);
  return {
    label: shortVersion(version),
    version: `${base}?to=${v}`,
    changes: `${base}?from=${v}&to=${CURRENT}`,
  };
}
