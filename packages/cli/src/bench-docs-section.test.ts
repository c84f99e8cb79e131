// bench/docs-section.mjs: how every bench replaces its own part of docs/benchmarks.md (here a copy in a temp dir),
// leaving the other benches' sections and the hand-written notes between them as they are.
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { makeTempDir, removeTree } from '@deepforge/engine/test-support';
import {
  markers,
  replaceBlock,
  replaceBlocks,
  replaceSection,
  updateDoc,
} from '../../../bench/docs-section.mjs';

const DOC = `# Benchmarks

Intro, written by hand.

## Engine

Engine intro.

<!-- bench:engine:overhead -->
### Overhead
old overhead numbers
<!-- /bench:engine:overhead -->

A note on the engine numbers, by hand.

## Start-up

old start-up table
old start-up notes

## Training

old training table
`;

let tmp: string;
let file: string;

beforeAll(async () => {
  tmp = await makeTempDir('deepforge-docs-section-');
});
afterAll(async () => {
  await removeTree(tmp);
});

async function edit(
  name: string,
  change: (doc: string) => string,
  start: string | null = DOC,
): Promise<string> {
  file = join(tmp, name);
  if (start !== null) await writeFile(file, start);
  updateDoc(file, change);
  return readFile(file, 'utf8');
}

describe('replaceSection (bench/startup, bench/training)', () => {
  it('replaces a section in the middle up to the next heading, and nothing else', async () => {
    const out = await edit('middle.md', (doc) => replaceSection(doc, 'Start-up', '## Start-up\n\nnew table'));
    expect(out).toBe(DOC.replace('old start-up table\nold start-up notes\n', 'new table\n'));
  });

  it('replaces the last section to the end of the file', async () => {
    const out = await edit('last.md', (doc) =>
      replaceSection(doc, 'Training', '## Training\n\nnew training'),
    );
    expect(out).toBe(DOC.replace('old training table\n', 'new training\n'));
  });

  it('appends a section the file does not have yet, and starts a file that does not exist', async () => {
    const out = await edit('append.md', (doc) => replaceSection(doc, 'History', '## History\n\nfirst'));
    expect(out).toBe(`${DOC}\n## History\n\nfirst\n`);
    const fresh = await edit('fresh.md', (doc) => replaceSection(doc, 'Training', '## Training\n\nt'), null);
    expect(fresh).toBe('# Benchmarks\n\n## Training\n\nt\n');
  });

  it('matches the whole heading only: "## Start-up" is not "## Start-up notes"', async () => {
    const doc = DOC.replace('## Start-up\n', '## Start-up notes\n');
    const out = await edit('prefix.md', (d) => replaceSection(d, 'Start-up', '## Start-up\n\nnew'), doc);
    expect(out).toBe(`${doc}\n## Start-up\n\nnew\n`);
  });

  it("leaves the next block's opening marker, which stands before that block's heading, where it is", async () => {
    const doc = DOC.replace('## Training\n', '<!-- bench:history -->\n<!-- measured-at x -->\n## Training\n');
    const out = await edit(
      'opener.md',
      (d) => replaceSection(d, 'Start-up', '## Start-up\n\nnew table'),
      doc,
    );
    expect(out).toBe(doc.replace('old start-up table\nold start-up notes\n', 'new table\n'));
  });
});

describe('replaceBlocks (bench/engine, bench/ui, bench/auth)', () => {
  const engine = { title: 'Engine', intro: '## Engine\n\nEngine intro.\n', prefix: 'engine' };
  const block = (name: string, body: string): string => {
    const [open, close] = markers(`bench:engine:${name}`);
    return `${open}\n### ${name}\n${body}\n${close}`;
  };

  it('replaces a block in place and adds a new one after the last block of its section', async () => {
    const out = await edit('blocks.md', (doc) =>
      replaceBlocks(doc, engine, [
        { name: 'overhead', text: block('overhead', 'new overhead') },
        { name: 'handoff', text: block('handoff', 'first handoff') },
      ]),
    );
    expect(out).toBe(
      DOC.replace(
        '<!-- bench:engine:overhead -->\n### Overhead\nold overhead numbers\n<!-- /bench:engine:overhead -->\n',
        `${block('overhead', 'new overhead')}\n\n${block('handoff', 'first handoff')}\n`,
      ),
    );
  });

  it('adds the section with its intro at the end when the file has none', async () => {
    const out = await edit('no-section.md', (doc) =>
      replaceBlocks(doc, { title: 'UI', intro: '## UI\n\nUI intro.\n', prefix: 'ui' }, [
        { name: 'load', text: '<!-- bench:ui:load -->\nload\n<!-- /bench:ui:load -->' },
      ]),
    );
    expect(out).toBe(`${DOC}\n## UI\n\nUI intro.\n\n<!-- bench:ui:load -->\nload\n<!-- /bench:ui:load -->\n`);
  });
});

describe('replaceBlock (bench/history)', () => {
  it('appends the block at the end the first time and replaces it in place after that', async () => {
    const first = await edit('history.md', (doc) =>
      replaceBlock(doc, 'bench:history', '<!-- bench:history -->\none\n<!-- /bench:history -->'),
    );
    expect(first).toBe(`${DOC}\n<!-- bench:history -->\none\n<!-- /bench:history -->\n`);
    const again = await edit(
      'history.md',
      (doc) => replaceBlock(doc, 'bench:history', '<!-- bench:history -->\ntwo\n<!-- /bench:history -->'),
      null,
    );
    expect(again).toBe(`${DOC}\n<!-- bench:history -->\ntwo\n<!-- /bench:history -->\n`);
  });

  it('replaces its block when a stray closing marker comes before it, instead of adding a second block', () => {
    const doc = 'stale\n<!-- /bench:history -->\n\n<!-- bench:history -->\none\n<!-- /bench:history -->\n';
    expect(replaceBlock(doc, 'bench:history', '<!-- bench:history -->\ntwo\n<!-- /bench:history -->')).toBe(
      'stale\n<!-- /bench:history -->\n\n<!-- bench:history -->\ntwo\n<!-- /bench:history -->\n',
    );
  });
});
