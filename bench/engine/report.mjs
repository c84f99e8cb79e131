// Writes benchmark sections into docs/benchmarks.md. Each benchmark owns the text between its two markers
// (`<!-- bench:engine:NAME -->` … `<!-- /bench:engine:NAME -->`) under `## Engine`; everything else in the file
// (other sections, hand-written analysis) is left as it is.
import { markers, replaceBlocks, updateDoc } from '../docs-section.mjs';
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

function block({ name, title, markdown, facts }) {
  const [open, close] = markers(`bench:engine:${name}`);
  return [
    open,
    provenanceLine(facts.at, facts.measures),
    `### ${title}`,
    '',
    `_Measured ${facts.date} on ${facts.nproc} × ${facts.cpu} (\`nproc\` ${facts.nproc}), Node ${facts.node}, ` +
      `${facts.python} (${facts.pythonEnv}), commit ${facts.at.short}` +
      `${facts.at.uncommitted.length > 0 ? ' with uncommitted changes' : ''}; load average before the run ` +
      `${facts.loadBefore}, after ${facts.loadAfter}._`,
    '',
    markdown.trim(),
    close,
  ].join('\n');
}

/** Replaces (or adds) one block per section and writes the file. */
export function writeSections(file, sections) {
  const blocks = sections.map((section) => ({ name: section.name, text: block(section) }));
  updateDoc(
    file,
    (doc) => replaceBlocks(doc, { title: 'Engine', intro: ENGINE_INTRO, prefix: 'engine' }, blocks),
    HEADER,
  );
}
