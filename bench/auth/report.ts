// Writes the accounts benchmarks into docs/benchmarks.md, in the `## Accounts` section (added at the end of the file
// when it is not there yet). Each benchmark owns the text between `<!-- bench:auth:NAME -->` and
// `<!-- /bench:auth:NAME -->`; the rest of the file (other sections, hand-written notes) is left as it is.
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import type { MeasuredAt } from '../provenance.mjs';
import { provenanceLine } from '../provenance.mjs';

export interface MachineFacts {
  date: string;
  cpu: string;
  nproc: string;
  memory: string;
  node: string;
  commit: string;
  loadBefore: string;
  loadAfter?: string;
}

export interface Section {
  name: string;
  title: string;
  markdown: string;
  facts: MachineFacts;
  /** The commit measured (HEAD when the servers were loaded) and the code measured, for the freshness check. */
  at: MeasuredAt;
  measures: readonly string[];
}

const INTRO = `## Accounts

\`npm run bench:auth\` (bench/auth/; options \`-- --only requests|coedit\`, \`--repeat N\`, \`--clients N\`,
\`--no-write\`, \`--smoke\`). Real DeepForge servers (\`createServer\`, as \`deepforge start\` makes them) on fresh
temporary data dirs with real SQLite, each in a process of its own, and the clients in the benchmark's process,
over loopback; the data dirs are deleted afterwards. Raw numbers: \`bench/results/\`.
`;

const open = (name: string): string => `<!-- bench:auth:${name} -->`;
const close = (name: string): string => `<!-- /bench:auth:${name} -->`;

function block({ name, title, markdown, facts, at, measures }: Section): string {
  return [
    open(name),
    provenanceLine(at, measures),
    `### ${title}`,
    '',
    `_Measured ${facts.date} on ${facts.nproc} × ${facts.cpu} (\`nproc\` ${facts.nproc}, ${facts.memory} RAM), ` +
      `Node ${facts.node}, commit ${facts.commit}; load average before the run ${facts.loadBefore}, after ` +
      `${facts.loadAfter ?? '?'}._`,
    '',
    markdown.trim(),
    close(name),
  ].join('\n');
}

/** Replaces (or adds, at the end of `## Accounts`) one block per section and writes the file. */
export function writeSections(file: string, sections: readonly Section[]): void {
  let text = existsSync(file) ? readFileSync(file, 'utf8') : '# Benchmarks\n';
  if (!/^## Accounts\s*$/m.test(text)) text = `${text.trimEnd()}\n\n${INTRO}`;
  for (const section of sections) {
    const start = text.indexOf(open(section.name));
    const endMarker = close(section.name);
    const end = text.indexOf(endMarker);
    text =
      start >= 0 && end > start
        ? text.slice(0, start) + block(section) + text.slice(end + endMarker.length)
        : insertInSection(text, block(section));
  }
  writeFileSync(file, text.trimEnd() + '\n');
}

/** After the last benchmark block of the Accounts section, or at its end when it has none. */
function insertInSection(text: string, blockText: string): string {
  const heading = /^## Accounts\s*$/m.exec(text) as RegExpExecArray;
  const sectionStart = heading.index + heading[0].length;
  const next = /^## /m.exec(text.slice(sectionStart));
  const sectionEnd = next ? sectionStart + next.index : text.length;
  const section = text.slice(sectionStart, sectionEnd);
  const lastClose = section.lastIndexOf('<!-- /bench:auth:');
  const at =
    lastClose >= 0
      ? sectionStart + section.indexOf('-->', lastClose) + 3
      : sectionStart + section.trimEnd().length;
  return `${text.slice(0, at).trimEnd()}\n\n${blockText}\n\n${text.slice(at).trimStart()}`;
}
