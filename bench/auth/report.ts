// Writes the accounts benchmarks into docs/benchmarks.md, in the `## Accounts` section (added at the end of the file
// when it is not there yet). Each benchmark owns the text between `<!-- bench:auth:NAME -->` and
// `<!-- /bench:auth:NAME -->`; the rest of the file (other sections, hand-written notes) is left as it is.
import { markers, replaceBlocks, updateDoc } from '../docs-section.mjs';
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

function block({ name, title, markdown, facts, at, measures }: Section): string {
  const [open, close] = markers(`bench:auth:${name}`);
  return [
    open,
    provenanceLine(at, measures),
    `### ${title}`,
    '',
    `_Measured ${facts.date} on ${facts.nproc} × ${facts.cpu} (\`nproc\` ${facts.nproc}, ${facts.memory} RAM), ` +
      `Node ${facts.node}, commit ${facts.commit}; load average before the run ${facts.loadBefore}, after ` +
      `${facts.loadAfter ?? '?'}._`,
    '',
    markdown.trim(),
    close,
  ].join('\n');
}

/** Replaces (or adds, at the end of `## Accounts`) one block per section and writes the file. */
export function writeSections(file: string, sections: readonly Section[]): void {
  const blocks = sections.map((section) => ({ name: section.name, text: block(section) }));
  updateDoc(file, (doc) => replaceBlocks(doc, { title: 'Accounts', intro: INTRO, prefix: 'auth' }, blocks));
}
