// Where a benchmark section of docs/benchmarks.md was measured, in a line each bench writes right after its
// section's opening marker and scripts/bench-freshness.mjs reads back:
//
//   <!-- measured-at <full commit>[ uncommitted]; measures <git pathspec> <git pathspec> … -->
//
// `measures` is the code the numbers depend on (the bench's own files included), as git pathspecs; `uncommitted`
// says that some of it had changes not committed when it was measured, so the numbers belong to no commit.
import { execFileSync } from 'node:child_process';

/** Test code is not measured: a change there does not make a section stale. */
export const NOT_MEASURED = [':!*.test.ts', ':!*.test.tsx', ':!*.conformance.ts', ':!*/test-support/*'];

const git = (root, args) => execFileSync('git', args, { cwd: root, encoding: 'utf8' }).trim();

/**
 * HEAD and whether the measured paths have uncommitted changes (untracked files included), taken once before a
 * bench measures: a commit made meanwhile must not be named as what was measured.
 */
export function measuredAt(root, measures) {
  try {
    const commit = git(root, ['rev-parse', 'HEAD']);
    const status = git(root, ['status', '--porcelain', '--untracked-files=all', '--', ...measures]);
    const uncommitted = status
      .split('\n')
      .filter(Boolean)
      .map((l) => l.slice(3));
    return { commit, short: commit.slice(0, 7), uncommitted };
  } catch {
    return { commit: 'unknown', short: 'unknown', uncommitted: [] };
  }
}

/** The line written after a section's opening marker. */
export function provenanceLine(at, measures) {
  return `<!-- measured-at ${at.commit}${at.uncommitted.length > 0 ? ' uncommitted' : ''}; measures ${measures.join(' ')} -->`;
}

const LINE = /^<!-- measured-at (\S+)( uncommitted)?; measures (.+?) -->$/m;

/** The provenance in a section's text, or null when it has none. */
export function readProvenance(sectionText) {
  const m = LINE.exec(sectionText);
  if (!m) return null;
  return { commit: m[1], uncommitted: Boolean(m[2]), measures: m[3].split(/\s+/).filter(Boolean) };
}

/** What to print when the measured code had uncommitted changes: the check will flag the section. */
export function uncommittedWarning(section, at) {
  if (at.uncommitted.length === 0) return null;
  const shown = at.uncommitted.slice(0, 5).join(', ') + (at.uncommitted.length > 5 ? ', …' : '');
  return (
    `warning: ${section} was measured with uncommitted changes to the code it measures (${shown}); ` +
    'scripts/bench-freshness.mjs (npm test) flags it until it is re-run on a committed tree'
  );
}
