// Writes benchmark sections into docs/benchmarks.md. Each benchmark owns the text between its two markers
// (`<!-- bench:engine:NAME -->` … `<!-- /bench:engine:NAME -->`) under `## Engine`; everything else in the file
// (other sections, hand-written analysis) is left as it is.
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { provenanceLine } from '../provenance.mjs';

const HEADER = `# Benchmarks

Measured by the scripts in \`bench/\`. Each compares DeepForge against a baseline measured in the same run and
reports the ratio to its target. Every section names the machine and the date it was measured on; on a shared
2-core VM run-to-run noise is large, so numbers are medians with their min–max.
`;

const ENGINE_INTRO = `## Engine

\`npm run bench:engine\` (bench/engine/; options \`-- --only overhead|handoff|fanout|peers|metrics\`, \`--repeat N\`, \`--no-write\`,
\`--smoke\`).
Each benchmark writes its project folder (real Python operation files) into a temp dir and runs it with a fresh
engine on a fresh temp data dir, both deleted afterwards.
`;

const open = (name) => `<!-- bench:engine:${name} -->`;
const close = (name) => `<!-- /bench:engine:${name} -->`;

function block({ name, title, markdown, facts }) {
  return [
    open(name),
    provenanceLine(facts.at, facts.measures),
    `### ${title}`,
    '',
    `_Measured ${facts.date} on ${facts.nproc} × ${facts.cpu} (\`nproc\` ${facts.nproc}), Node ${facts.node}, ` +
      `${facts.python} (${facts.pythonEnv}), commit ${facts.at.short}` +
      `${facts.at.uncommitted.length > 0 ? ' with uncommitted changes' : ''}; load average before the run ` +
      `${facts.loadBefore}, after ${facts.loadAfter}._`,
    '',
    markdown.trim(),
    close(name),
  ].join('\n');
}

/** Replaces (or adds) one block per section and writes the file. */
export function writeSections(file, sections) {
  let text = existsSync(file) ? readFileSync(file, 'utf8') : HEADER;
  if (!/^## Engine\s*$/m.test(text)) text = `${text.trimEnd()}\n\n${ENGINE_INTRO}`;
  for (const section of sections) {
    const start = text.indexOf(open(section.name));
    const endMarker = close(section.name);
    const end = text.indexOf(endMarker);
    if (start >= 0 && end > start) {
      text = text.slice(0, start) + block(section) + text.slice(end + endMarker.length);
      continue;
    }
    text = insertInEngineSection(text, block(section));
  }
  writeFileSync(file, text.trimEnd() + '\n');
}

/** After the last benchmark block of the Engine section, or at its end when it has none. */
function insertInEngineSection(text, blockText) {
  const heading = /^## Engine\s*$/m.exec(text);
  const sectionStart = heading.index + heading[0].length;
  const next = /^## /m.exec(text.slice(sectionStart));
  const sectionEnd = next ? sectionStart + next.index : text.length;
  const section = text.slice(sectionStart, sectionEnd);
  const lastClose = section.lastIndexOf('<!-- /bench:engine:');
  let at;
  if (lastClose >= 0) {
    const lineEnd = section.indexOf('-->', lastClose) + 3;
    at = sectionStart + lineEnd;
  } else {
    at = sectionStart + section.trimEnd().length;
  }
  return `${text.slice(0, at).trimEnd()}\n\n${blockText}\n\n${text.slice(at).trimStart()}`;
}
