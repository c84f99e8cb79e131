// Writes the UI benchmarks into docs/benchmarks.md, in the `## UI` section at the end of the file. Each benchmark
// owns the text between `<!-- bench:ui:NAME -->` and `<!-- /bench:ui:NAME -->`; the rest of the file (other
// sections, hand-written notes under `## UI`) is left as it is.
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import type { MeasuredAt } from '../provenance.mjs';
import { provenanceLine } from '../provenance.mjs';

export interface MachineFacts {
  date: string;
  cpu: string;
  nproc: string;
  memory: string;
  node: string;
  chromium: string;
  loadBefore: string;
  loadAfter?: string;
}

export interface Section {
  name: string;
  title: string;
  markdown: string;
  facts: MachineFacts;
  /** The commit measured (HEAD when the run started) and the code measured, for the freshness check. */
  at: MeasuredAt;
  measures: readonly string[];
}

const UI_INTRO = `## UI

\`npm run bench:ui\` (bench/ui/; options \`-- --only load|console|list|metrics\`, \`--repeat N\`, \`--no-write\`, \`--smoke\`). A real
\`deepforge start\` on a fresh temporary data dir (tmpfs) and Debian's Chromium driven by playwright-core (headless,
the e2e tests' flags), on the same machine over loopback; every measured page load is a fresh browser context.
Screenshots of what was measured: \`test-results/bench-ui/\`; raw numbers: \`bench/results/\`.
`;

const open = (name: string): string => `<!-- bench:ui:${name} -->`;
const close = (name: string): string => `<!-- /bench:ui:${name} -->`;

function block({ name, title, markdown, facts, at, measures }: Section): string {
  return [
    open(name),
    provenanceLine(at, measures),
    `### ${title}`,
    '',
    `_Measured ${facts.date} on ${facts.nproc} × ${facts.cpu} (\`nproc\` ${facts.nproc}, ${facts.memory} RAM), ` +
      `Node ${facts.node}, ${facts.chromium}, commit ${at.short}` +
      `${at.uncommitted.length > 0 ? ' with uncommitted changes' : ''}; load average before the run ` +
      `${facts.loadBefore}, after ${facts.loadAfter ?? '?'}._`,
    '',
    markdown.trim(),
    close(name),
  ].join('\n');
}

/** Replaces (or adds, at the end of `## UI`) one block per section and writes the file. */
export function writeSections(file: string, sections: readonly Section[]): void {
  let text = existsSync(file) ? readFileSync(file, 'utf8') : '# Benchmarks\n';
  if (!/^## UI\s*$/m.test(text)) text = `${text.trimEnd()}\n\n${UI_INTRO}`;
  for (const section of sections) {
    const start = text.indexOf(open(section.name));
    const endMarker = close(section.name);
    const end = text.indexOf(endMarker);
    text =
      start >= 0 && end > start
        ? text.slice(0, start) + block(section) + text.slice(end + endMarker.length)
        : insertInUiSection(text, block(section));
  }
  writeFileSync(file, text.trimEnd() + '\n');
}

/** After the last benchmark block of the UI section, or at its end when it has none. */
function insertInUiSection(text: string, blockText: string): string {
  const heading = /^## UI\s*$/m.exec(text) as RegExpExecArray;
  const sectionStart = heading.index + heading[0].length;
  const next = /^## /m.exec(text.slice(sectionStart));
  const sectionEnd = next ? sectionStart + next.index : text.length;
  const section = text.slice(sectionStart, sectionEnd);
  const lastClose = section.lastIndexOf('<!-- /bench:ui:');
  const at =
    lastClose >= 0
      ? sectionStart + section.indexOf('-->', lastClose) + 3
      : sectionStart + section.trimEnd().length;
  return `${text.slice(0, at).trimEnd()}\n\n${blockText}\n\n${text.slice(at).trimStart()}`;
}
