// How the benches write their part of docs/benchmarks.md: each replaces what it owns (a `## Title` section, or the
// text between its `<!-- KEY -->` and `<!-- /KEY -->` markers) and leaves the rest of the file as it is.
import { existsSync, readFileSync, writeFileSync } from 'node:fs';

/** What a bench starts from when docs/benchmarks.md does not exist yet. */
export const DOC_HEADER = '# Benchmarks\n';

const heading = (title) => new RegExp(`^## ${title.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}\\s*$`, 'm');

/** The opening and closing marker of the block `key` (`bench:ui:load` → `<!-- bench:ui:load -->`, …). */
export function markers(key) {
  return [`<!-- ${key} -->`, `<!-- /${key} -->`];
}

/** Whether `doc` has a `## title` heading. */
export function hasSection(doc, title) {
  return heading(title).test(doc);
}

/**
 * `doc` with its `## title` section (the heading up to the next `## ` heading or the end) replaced by `text`, which
 * starts with that heading; appended at the end when there is no such section yet.
 */
export function replaceSection(doc, title, text) {
  const found = heading(title).exec(doc);
  if (!found) return `${doc.trimEnd()}\n\n${text}\n`;
  const after = found.index + found[0].length;
  const next = /^## /m.exec(doc.slice(after));
  if (!next) return doc.slice(0, found.index) + text + '\n';
  // An opening marker (and the marker lines after it) just before the next heading belongs to that heading's block
  // (bench:history's block starts with its markers, then its heading), not to this section.
  const opener = /\n<!-- (?!\/)[^\n]*-->\n(?:<!--[^\n]*-->\n)*\s*$/.exec(
    doc.slice(after, after + next.index),
  );
  const end = after + (opener ? opener.index + 1 : next.index);
  return doc.slice(0, found.index) + text + '\n\n' + doc.slice(end);
}

/**
 * `doc` with the block between the markers of `key` replaced by `block` (which carries the markers itself); where
 * there is none yet, `insert(doc, block)` places it (by default: at the end of the file).
 */
export function replaceBlock(doc, key, block, insert = (d, b) => `${d.trimEnd()}\n\n${b}\n`) {
  const [open, close] = markers(key);
  const start = doc.indexOf(open);
  // The closing marker after the opening one: a stray one earlier in the file must not make the block look absent.
  const end = start >= 0 ? doc.indexOf(close, start) : -1;
  return start >= 0 && end > start
    ? doc.slice(0, start) + block + doc.slice(end + close.length)
    : insert(doc, block);
}

/**
 * `doc` with `block` added to its `## title` section (which must exist): after the last block there whose closing
 * marker starts with `closePrefix`, or at the end of the section when it has none.
 */
export function insertInSection(doc, title, block, closePrefix) {
  const found = heading(title).exec(doc);
  if (!found) throw new Error(`docs/benchmarks.md has no "## ${title}" section to add a block to`);
  const start = found.index + found[0].length;
  const next = /^## /m.exec(doc.slice(start));
  const section = doc.slice(start, next ? start + next.index : doc.length);
  const lastClose = section.lastIndexOf(closePrefix);
  const at =
    lastClose >= 0 ? start + section.indexOf('-->', lastClose) + 3 : start + section.trimEnd().length;
  return `${doc.slice(0, at).trimEnd()}\n\n${block}\n\n${doc.slice(at).trimStart()}`;
}

/**
 * Replaces (or adds) the blocks of a bench that keeps one block per benchmark under its own `## title` section:
 * block `name` between `<!-- bench:PREFIX:NAME -->` and `<!-- /bench:PREFIX:NAME -->`. The section, with `intro`,
 * is added at the end of the file first when it is not there.
 */
export function replaceBlocks(doc, { title, intro, prefix }, blocks) {
  let text = hasSection(doc, title) ? doc : `${doc.trimEnd()}\n\n${intro}`;
  for (const { name, text: block } of blocks) {
    text = replaceBlock(text, `bench:${prefix}:${name}`, block, (d, b) =>
      insertInSection(d, title, b, `<!-- /bench:${prefix}:`),
    );
  }
  return text;
}

/** Reads `file` (or `header` when it does not exist), applies `edit` and writes it back, ending in one newline. */
export function updateDoc(file, edit, header = DOC_HEADER) {
  const doc = existsSync(file) ? readFileSync(file, 'utf8') : header;
  writeFileSync(file, edit(doc).trimEnd() + '\n');
}
