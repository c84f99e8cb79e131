#!/usr/bin/env node
// Flags a section of docs/benchmarks.md whose numbers are older than the code they measure (issue 15), so that a
// figure cannot silently outlive its code. Run by `npm test` (the check chain). The rule, as the introduction of
// docs/benchmarks.md states it: a section with the line `<!-- measured-at C; measures P… -->` is fresh at HEAD when
//   1. it was measured on a committed tree (no `uncommitted` flag: the bench found no uncommitted change to P),
//   2. C is HEAD or one of its ancestors, and
//   3. no commit after C changes P: `git rev-list C..HEAD -- P` is empty (so the last commit that changed P,
//      `git log -1 --format=%H -- P`, is C or older).
// The numbers are normally committed in a child of C; any later commit will do while nothing it measures changed.
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { readProvenance } from '../bench/provenance.mjs';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');
const DOC = 'docs/benchmarks.md';

/**
 * Sections written before sections said what they measure; they are checked as soon as a re-run gives them their
 * `measured-at` line (then take them out of here).
 */
const NOT_YET_DECLARED = new Set(['auth:requests', 'auth:coedit']);

/** The command that measures a section again. */
function regenerate(name) {
  const [group, bench] = name.split(':');
  return bench ? `npm run bench:${group} -- --only ${bench}` : `npm run bench:${group}`;
}

function git(args) {
  return execFileSync('git', args, { cwd: ROOT, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] }).trim();
}

function gitOk(args) {
  try {
    git(args);
    return true;
  } catch {
    return false;
  }
}

/** A pathspec as a shell reads it back (`:!*.test.ts` quoted). */
const shellArg = (a) => (/^[\w./-]+$/.test(a) ? a : `'${a}'`);

/** Where the check cannot see the history it needs: fetching it, not measuring again, is the fix. */
class MissingHistory extends Error {}

/** What is wrong with the section ("is stale: …", "cannot be checked: …"), or null when it is fresh. */
function staleness(head, body, prov) {
  if (prov.commit === 'unknown')
    return 'cannot be checked: it was measured outside a git checkout, with no commit to compare with';
  const short = prov.commit.slice(0, 7);
  if (prov.uncommitted)
    return `is stale: it was measured at ${short} with uncommitted changes to the code it measures, so its numbers belong to no commit`;
  if (!gitOk(['cat-file', '-e', `${prov.commit}^{commit}`])) {
    if (git(['rev-parse', '--is-shallow-repository']) === 'true')
      throw new MissingHistory(
        `cannot be checked: its commit ${short} is not in this shallow clone; \`git fetch --unshallow\` and run the check again`,
      );
    return `cannot be checked: its commit ${short} is not in this clone`;
  }
  if (!gitOk(['merge-base', '--is-ancestor', prov.commit, head]))
    return `is stale: its commit ${short} is not in HEAD's history (measured on another branch, or rebased since)`;
  const changed = git(['log', '-1', '--format=%h %s', `${prov.commit}..${head}`, '--', ...prov.measures]);
  if (changed !== '') {
    const count = git(['rev-list', '--count', `${prov.commit}..${head}`, '--', ...prov.measures]);
    const subject = changed.length > 90 ? `${changed.slice(0, 87)}…` : changed;
    return (
      `is stale: measured at ${short}, but the code it measures changed after it in ${count} commit(s), the last ${subject} ` +
      `(git log ${short}..HEAD -- ${prov.measures.map(shellArg).join(' ')})`
    );
  }
  if (!body.includes(`commit ${short}`))
    return `cannot be checked: its measured-at line says ${short}, its text another commit (a hand edit?)`;
  return null;
}

function main() {
  if (!gitOk(['rev-parse', '--is-inside-work-tree'])) {
    console.log(`bench-freshness: not a git checkout, ${DOC} not checked`);
    return;
  }
  const head = git(['rev-parse', 'HEAD']);
  const text = readFileSync(join(ROOT, DOC), 'utf8');
  const sections = [...text.matchAll(/<!-- bench:([a-z0-9:-]+) -->([\s\S]*?)<!-- \/bench:\1 -->/g)];
  const problems = [];
  const fresh = [];
  const unchecked = [];
  for (const [, name, body] of sections) {
    const title = /^### (.+)$/m.exec(body)?.[1] ?? name;
    const prov = readProvenance(body);
    let why;
    if (!prov) {
      if (NOT_YET_DECLARED.has(name)) {
        unchecked.push(name);
        continue;
      }
      why = 'cannot be checked: it has no `<!-- measured-at …; measures … -->` line (every bench writes one)';
    } else {
      try {
        why = staleness(head, body, prov);
      } catch (err) {
        if (!(err instanceof MissingHistory)) throw err;
        // A shallow clone (some CI checkouts) holds no history to compare with: say so, do not fail on it.
        console.warn(`${DOC}: section bench:${name} ("${title}") ${err.message}.`);
        unchecked.push(name);
        continue;
      }
    }
    if (why === null) fresh.push(name);
    else
      problems.push(
        `${DOC}: section bench:${name} ("${title}") ${why}.\n` +
          `  Regenerate it on a committed tree: ${regenerate(name)}, then commit ${DOC}.`,
      );
  }
  if (sections.length === 0)
    problems.push(`${DOC}: no benchmark sections found (<!-- bench:NAME --> markers)`);
  for (const p of problems) console.error(p);
  const notChecked =
    unchecked.length > 0
      ? `; not checked (written before sections declared what they measure; re-run to include them): ${unchecked.join(', ')}`
      : '';
  if (problems.length > 0) {
    console.error(
      `bench-freshness: ${problems.length} of ${sections.length} section(s) in ${DOC} fail the check${notChecked}`,
    );
    process.exit(1);
  }
  console.log(`bench-freshness: ${fresh.length} section(s) of ${DOC} fresh at HEAD${notChecked}`);
}

main();
