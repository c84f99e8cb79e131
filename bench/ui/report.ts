// Writes the UI benchmarks into docs/benchmarks.md, in the `## UI` section at the end of the file. Each benchmark
// owns the text between `<!-- bench:ui:NAME -->` and `<!-- /bench:ui:NAME -->`; the rest of the file (other
// sections, hand-written notes under `## UI`) is left as it is.
import { markers, replaceBlocks, updateDoc } from '../docs-section.mjs';
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

function block({ name, title, markdown, facts, at, measures }: Section): string {
  const [open, close] = markers(`bench:ui:${name}`);
  return [
    open,
    provenanceLine(at, measures),
    `### ${title}`,
    '',
    `_Measured ${facts.date} on ${facts.nproc} × ${facts.cpu} (\`nproc\` ${facts.nproc}, ${facts.memory} RAM), ` +
      `Node ${facts.node}, ${facts.chromium}, commit ${at.short}` +
      `${at.uncommitted.length > 0 ? ' with uncommitted changes' : ''}; load average before the run ` +
      `${facts.loadBefore}, after ${facts.loadAfter ?? '?'}._`,
    '',
    markdown.trim(),
    close,
  ].join('\n');
}

/** Replaces (or adds, at the end of `## UI`) one block per section and writes the file. */
export function writeSections(file: string, sections: readonly Section[]): void {
  const blocks = sections.map((section) => ({ name: section.name, text: block(section) }));
  updateDoc(file, (doc) => replaceBlocks(doc, { title: 'UI', intro: UI_INTRO, prefix: 'ui' }, blocks));
}
