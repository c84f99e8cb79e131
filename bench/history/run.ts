// Project history benchmarks (issue 12, docs/adr/0020): `npm run bench:history [-- --no-write] [--smoke]`. A real
// server (createServer, real SQLite, the system git) on a temporary data dir, requests through Fastify's inject.
// Prints each ratio against its baseline measured in the same run, with the absolute times beside it, and unless
// --no-write or --smoke replaces the `## History` section of docs/benchmarks.md. --smoke: tiny sizes, nothing
// written, a few seconds: it checks that the benchmark still runs.
import { execFileSync, spawn } from 'node:child_process';
import { readFileSync, readdirSync, statSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { cpus, tmpdir, totalmem } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { HISTORY_BRANCH, gitEnv } from '@deepforge/engine';
import { putOperation, type VersionPage } from '@deepforge/protocol';
import { createServer, type DeepForgeServer } from '@deepforge/server';
import { replaceBlock, updateDoc } from '../docs-section.mjs';
import { NOT_MEASURED, measuredAt, provenanceLine, uncommittedWarning } from '../provenance.mjs';

const HERE = dirname(fileURLToPath(import.meta.url));
const ROOT = join(HERE, '..', '..');
const DOC = join(ROOT, 'docs', 'benchmarks.md');
const MEASURES = [
  'packages/server/src',
  'packages/engine/src',
  'packages/protocol/src',
  'bench/history',
  ...NOT_MEASURED,
];

const smoke = process.argv.includes('--smoke');
const write = !smoke && !process.argv.includes('--no-write');
const SIZES = smoke
  ? { versions: 200, fewVersions: 10, pageRounds: 5, ops: 10, restoreRounds: 2, edits: 5 }
  : { versions: 10_000, fewVersions: 10, pageRounds: 50, ops: 100, restoreRounds: 10, edits: 200 };

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)]!;
}

const opCode = (name: string, line: string): string =>
  `class ${name}():\n    def execute(self, x):\n        ${line}\n        return x\n`;

/** Appends `n` versions (one changed line each) with git fast-import: building a long history, not measured. */
function appendVersions(gitDir: string, n: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn('git', [`--git-dir=${gitDir}`, 'fast-import', '--quiet'], {
      env: gitEnv(),
      stdio: ['pipe', 'ignore', 'inherit'],
    });
    child.on('error', reject);
    child.on('close', (code) => (code === 0 ? resolve() : reject(new Error(`fast-import exited ${code}`))));
    const t = Math.floor(Date.now() / 1000);
    let first = true;
    for (let i = 0; i < n; i++) {
      const data = opCode('Bench', `x = ${i}`);
      const msg = `${i + 1} file changed\n\nDeepForge-Kind: checkpoint\n`;
      child.stdin.write(
        `commit ${HISTORY_BRANCH}\ncommitter Bench <bench@deepforge> ${t + i} +0000\n` +
          `data ${Buffer.byteLength(msg)}\n${msg}` +
          (first ? `from ${HISTORY_BRANCH}^0\n` : '') +
          `M 100644 inline operations/Bench.py\ndata ${Buffer.byteLength(data)}\n${data}\n`,
      );
      first = false;
    }
    child.stdin.end();
  });
}

async function time(fn: () => Promise<unknown>): Promise<number> {
  const t0 = process.hrtime.bigint();
  await fn();
  return Number(process.hrtime.bigint() - t0) / 1e6;
}

function dirBytes(dir: string): number {
  let total = 0;
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    total += e.isDirectory() ? dirBytes(p) : statSync(p).size;
  }
  return total;
}

async function main(): Promise<void> {
  const dataDir = await mkdtemp(join(tmpdir(), 'df-bench-history-'));
  const at = measuredAt(ROOT, MEASURES);
  const loadBefore = readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ');
  let server: DeepForgeServer | undefined;
  try {
    server = await createServer({
      dataDir,
      clientDir: join(dataDir, 'no-client'),
      settings: { python: '/usr/bin/python3' },
      historyQuietMs: 3_600_000,
      historyMaxChanges: 1_000_000_000,
    });
    const app = server.app;
    const s = server;
    const newProject = async (name: string): Promise<string> => {
      const res = await app.inject({ method: 'POST', url: '/api/projects', payload: { name } });
      if (res.statusCode !== 201) throw new Error(`create: ${res.statusCode} ${res.body}`);
      return res.json<{ id: string }>().id;
    };

    // 1. The first history page: a long history against a short one.
    const long = await newProject('long');
    const short = await newProject('short');
    await appendVersions(s.history.history(long).gitDir, SIZES.versions);
    await appendVersions(s.history.history(short).gitDir, SIZES.fewVersions);
    const page = async (id: string): Promise<void> => {
      const res = await app.inject({ url: `/api/projects/${id}/versions?limit=50` });
      if (res.statusCode !== 200) throw new Error(`versions: ${res.statusCode} ${res.body}`);
      if (res.json<VersionPage>().versions.length === 0) throw new Error('an empty page');
    };
    await page(long);
    await page(short);
    const longTimes: number[] = [];
    const shortTimes: number[] = [];
    for (let i = 0; i < SIZES.pageRounds; i++) {
      shortTimes.push(await time(() => page(short)));
      longTimes.push(await time(() => page(long)));
    }
    const pageRatio = median(longTimes) / median(shortTimes);

    // 2. Restoring a version of many operations against one of a single operation.
    const restoreCost = async (ops: number): Promise<number> => {
      const id = await newProject(`ops-${ops}`);
      const names = Array.from({ length: ops }, (_, i) => `Op${i}`);
      await s.documents.edit(id, (doc) => names.forEach((n) => putOperation(doc, n, opCode(n, 'x = 0'))));
      const a = await s.history.checkpoint(id);
      await s.documents.edit(id, (doc) => names.forEach((n) => putOperation(doc, n, opCode(n, 'x = 1'))));
      const b = await s.history.checkpoint(id);
      const times: number[] = [];
      for (let i = 0; i < SIZES.restoreRounds; i++) {
        for (const v of [a, b]) {
          times.push(
            await time(async () => {
              const res = await app.inject({
                method: 'POST',
                url: `/api/projects/${id}/versions/${v}/restore`,
                payload: {},
              });
              if (res.statusCode !== 201) throw new Error(`restore: ${res.statusCode} ${res.body}`);
            }),
          );
        }
      }
      return median(times);
    };
    const restoreMany = await restoreCost(SIZES.ops);
    const restoreOne = await restoreCost(1);
    const restoreRatio = restoreMany / restoreOne;

    // 3. Storage of a one-line edit: loose objects as written, and packed (git repack) as git would keep them.
    const edited = await newProject('edits');
    await s.documents.edit(edited, (doc) => putOperation(doc, 'Edited', opCode('Edited', 'x = 0')));
    await s.history.checkpoint(edited);
    const gitDir = s.history.history(edited).gitDir;
    execFileSync('git', [`--git-dir=${gitDir}`, 'repack', '-adq'], { env: gitEnv() });
    const objects = join(gitDir, 'objects');
    const before = dirBytes(objects);
    for (let i = 1; i <= SIZES.edits; i++) {
      await s.documents.edit(edited, (doc) => putOperation(doc, 'Edited', opCode('Edited', `x = ${i}`)));
      await s.history.checkpoint(edited);
    }
    const loose = (dirBytes(objects) - before) / SIZES.edits;
    execFileSync('git', [`--git-dir=${gitDir}`, 'repack', '-adq'], { env: gitEnv() });
    const packed = (dirBytes(objects) - before) / SIZES.edits;

    const ms = (x: number): string => `${x.toFixed(1)} ms`;
    const lines = [
      `| measure | result | target |`,
      `| --- | --- | --- |`,
      `| first page (50) of ${SIZES.versions} versions vs ${SIZES.fewVersions} | **${pageRatio.toFixed(2)}×** (${ms(median(longTimes))} vs ${ms(median(shortTimes))}, median of ${SIZES.pageRounds}) | ≤ 2× |`,
      `| restore a ${SIZES.ops}-operation version vs a 1-operation one | **${restoreRatio.toFixed(2)}×** (${ms(restoreMany)} vs ${ms(restoreOne)}, median of ${SIZES.restoreRounds * 2}) | ≤ 3× |`,
      `| storage of a one-line edit, per version (${SIZES.edits} checkpoints) | ${Math.round(loose)} B loose, ${Math.round(packed)} B packed | reported |`,
    ];
    console.log(lines.join('\n'));
    if (smoke) return;
    if (pageRatio > 2) console.warn(`first page ratio ${pageRatio.toFixed(2)}× is over the 2× target`);
    if (restoreRatio > 3) console.warn(`restore ratio ${restoreRatio.toFixed(2)}× is over the 3× target`);
    if (!write) return;
    const warning = uncommittedWarning('History', at);
    if (warning) console.warn(warning);
    const loadAfter = readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ');
    const section = [
      '<!-- bench:history -->',
      provenanceLine(at, MEASURES),
      '## History',
      '',
      '`npm run bench:history` (bench/history/; `-- --no-write`, `--smoke`). A real server on a temporary data dir, ' +
        'the system git; long histories are built with `git fast-import` (not measured), requests go through ' +
        'Fastify inject.',
      '',
      `_Measured ${new Date().toISOString().slice(0, 16).replace('T', ' ')} UTC on ${cpus().length} × ${cpus()[0]?.model ?? '?'} ` +
        `(${Math.round(totalmem() / 2 ** 30)} GiB RAM), Node ${process.version}, commit ${at.short}; load average ` +
        `before ${loadBefore}, after ${loadAfter}._`,
      '',
      ...lines,
      '<!-- /bench:history -->',
    ].join('\n');
    updateDoc(DOC, (doc) => replaceBlock(doc, 'bench:history', section));
    console.log(`wrote the History section of ${DOC}`);
  } finally {
    await server?.close();
    await rm(dataDir, { recursive: true, force: true });
  }
}

if (smoke) {
  setTimeout(() => {
    console.error('bench:history --smoke took over 3 minutes: giving up');
    process.exit(1);
  }, 180_000).unref();
}
main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
