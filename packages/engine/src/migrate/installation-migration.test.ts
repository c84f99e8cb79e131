import { createHash, randomBytes } from 'node:crypto';
import { mkdir, readFile, readdir, stat, writeFile } from 'node:fs/promises';
import { dirname, join, relative } from 'node:path';
import { Client } from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openEngine, type Engine } from '../engine.js';
import { DatabaseError, StorageError } from '../errors.js';
import { LocalBlobStorage } from '../storage/local-blob.storage.js';
import { openPostgresStores } from '../store/postgres.store.js';
import { openSqliteStores } from '../store/sqlite.store.js';
import type { MetricRecord } from '../store/telemetry.store.js';
import { engineFixture } from '../test-support/engine-fixture.js';
import { spawnScript, waitForScript } from '../test-support/node-script.js';
import { createTestDatabase, useTestDatabase } from '../test-support/postgres-server.js';
import { cleanEnv, REPORTING_CHAIN } from '../test-support/project-files.js';
import { TEST_PYTHON, makeTempDir, removeTree } from '../test-support/temp-dir.js';
import { migrateInstallation, type MigrationEvent, type MigrationReport } from './installation-migration.js';
import { MIGRATED_TABLES } from './migrated-tables.js';

const database = useTestDatabase('migrate');

const files = REPORTING_CHAIN;

const PASSWORD = 'correct horse battery';

/** The installation every test copies (never changed after beforeAll): what it holds, to compare with. */
interface Installation {
  root: string;
  dataDir: string;
  blobDir: string;
  executionId: string;
  projectId: string;
  big: { id: string; bytes: Buffer; hash: string };
  small: { id: string; bytes: Buffer; hash: string };
  documentUpdates: Uint8Array[];
  sessionSecret: string;
  token: string;
  rowCounts: Record<string, number>;
  /** A long series beside the pipeline's own metrics: several blocks, steps missing here and there. */
  wave: { jobId: string; points: MetricRecord[] };
}

/** 3,000 points of one series in blocks (ADR 0014), with values and times a copy must keep bit for bit. */
function wavePoints(jobId: string): MetricRecord[] {
  const points: MetricRecord[] = [];
  for (let i = 0; i < 3000; i++)
    points.push({
      jobId,
      name: 'wave',
      step: i % 7 === 3 ? null : i * 0.5,
      value: i === 11 ? -0 : i === 12 ? 5e-324 : Math.sin(i) * 10 ** ((i % 40) - 20),
      t: 1_700_000_000_000 + i * 3,
    });
  return points;
}

/** The copy's wave, every point read back and compared exactly (Object.is: -0 and the bits of each double). */
async function expectWaveReadsBack(url: string): Promise<void> {
  const stores = await openPostgresStores(url);
  try {
    const { jobId, points } = source.wave;
    const back = await stores.telemetry.readMetricPoints(jobId, 'wave', 0, points.length + 1);
    expect(back.length).toBe(points.length);
    let x = 0;
    back.forEach((p, i) => {
      const want = points[i]!;
      x = want.step ?? x + 1;
      expect(
        [p.seq, p.x, p.step, p.value, p.t].every((v, k) =>
          Object.is(v, [i, x, want.step, want.value, want.t][k]),
        ),
      ).toBe(true);
    });
  } finally {
    await stores.close();
  }
}

let source: Installation;

beforeAll(async () => {
  const f = await engineFixture();
  const { engine, dataDir, root } = f;
  const { dir, project } = await f.project(files);
  const run = await (await engine.startExecution({ project, projectDir: dir, pipelineName: 'main' })).checked;
  expect(run.status).toBe('success');

  // Over 8 MiB: named by its block tree (sha256t:); and a small one (sha256:).
  const bigBytes = randomBytes(8 * 1024 * 1024 + 12_345);
  await writeFile(join(root, 'big.bin'), bigBytes);
  const big = await engine.importArtifact(join(root, 'big.bin'), 'weights', { projectId: 'p1' });
  expect(big.hash).toMatch(/^sha256t:/);
  const smallBytes = Buffer.from('a small artifact\n');
  await writeFile(join(root, 'small.txt'), smallBytes);
  const small = await engine.importArtifact(join(root, 'small.txt'), 'notes', { projectId: 'p1' });
  expect(small.hash).toMatch(/^sha256:/);

  await engine.projects.insertProject({
    id: 'p1',
    name: 'Vision',
    description: 'the first project',
    createdAt: 1_700_000_000_000,
    updatedAt: 1_700_000_000_001,
  });
  const documentUpdates = [new Uint8Array([1, 2, 3, 0, 255]), new Uint8Array(randomBytes(3000))];
  for (const u of documentUpdates) await engine.documents.appendUpdate('project:p1', u);

  const ada = await engine.accounts.createUser('ada', PASSWORD, { admin: true });
  const bob = await engine.accounts.createUser('bob', 'another password');
  await engine.accounts.setMember('p1', ada, 'owner');
  await engine.accounts.setMember('p1', bob, 'reader');
  await engine.accounts.putSecret('p1', 'API_KEY', 'hunter2', ada);
  const session = await engine.accounts.createSession(ada, 'vitest');
  const token = await engine.accounts.createToken(ada, 'ci', 30);
  await engine.accounts.audit({
    actorId: ada.id,
    actorName: 'ada',
    action: 'user-add',
    target: 'bob',
    detail: null,
    ip: '127.0.0.1',
  });
  await engine.close();

  const stores = await openSqliteStores(join(dataDir, 'deepforge.db'));
  const wave = { jobId: `${run.id}.six`, points: wavePoints(`${run.id}.six`) };
  // In uneven batches, as the telemetry buffer writes them: the partial last block is rewritten.
  for (const [a, b] of [
    [0, 5],
    [5, 1500],
    [1500, 3000],
  ] as const)
    await stores.telemetry.appendMetrics(wave.points.slice(a, b));
  await stores.close();
  source = {
    root,
    dataDir,
    blobDir: engine.settings.values['blob.dir'],
    executionId: run.id,
    projectId: 'p1',
    big: { id: big.id, bytes: bigBytes, hash: big.hash },
    small: { id: small.id, bytes: smallBytes, hash: small.hash },
    documentUpdates,
    sessionSecret: session.secret,
    token: token.token,
    rowCounts: await sqliteCounts(join(dataDir, 'deepforge.db')),
    wave,
  };
  expect(source.rowCounts.metric_blocks).toBe(4);
}, 120_000);

afterAll(async () => {
  if (source) await removeTree(source.root);
});

async function sqliteCounts(file: string): Promise<Record<string, number>> {
  const { default: BetterSqlite3 } = await import('better-sqlite3');
  const db = new BetterSqlite3(file, { readonly: true });
  try {
    return Object.fromEntries(
      MIGRATED_TABLES.map(({ table }) => [
        table,
        (db.prepare(`select count(*) as n from "${table}"`).get() as { n: number }).n,
      ]),
    );
  } finally {
    db.close();
  }
}

async function postgresCounts(url: string): Promise<Record<string, number>> {
  const c = new Client({ connectionString: url });
  await c.connect();
  try {
    const out: Record<string, number> = {};
    for (const { table } of MIGRATED_TABLES) {
      out[table] = (await c.query<{ n: number }>(`select count(*)::int as n from "${table}"`)).rows[0]!.n;
    }
    return out;
  } finally {
    await c.end();
  }
}

/** The tables of the database that hold rows (there are none before anything was written, not even tables). */
async function tablesWithRows(url: string): Promise<string[]> {
  const c = new Client({ connectionString: url });
  await c.connect();
  try {
    const { rows } = await c.query<{ tablename: string }>(
      `select tablename from pg_tables where schemaname = current_schema() and tablename not like 'kysely%'`,
    );
    const held: string[] = [];
    for (const { tablename } of rows) {
      if ((await c.query(`select 1 from "${tablename}" limit 1`)).rows.length > 0) held.push(tablename);
    }
    return held.sort();
  } finally {
    await c.end();
  }
}

/** The source database file's bytes and mtime, and every file of the blob directory with its size and mtime. */
async function sourceState(): Promise<{ db: string; mtime: number; blobs: string[] }> {
  const file = join(source.dataDir, 'deepforge.db');
  const blobs: string[] = [];
  const walk = async (dir: string): Promise<void> => {
    for (const e of await readdir(dir, { withFileTypes: true })) {
      const p = join(dir, e.name);
      if (e.isDirectory()) await walk(p);
      else blobs.push(`${relative(source.blobDir, p)} ${(await stat(p)).size} ${(await stat(p)).mtimeMs}`);
    }
  };
  await walk(source.blobDir);
  return {
    db: createHash('sha256')
      .update(await readFile(file))
      .digest('hex'),
    mtime: (await stat(file)).mtimeMs,
    blobs: blobs.sort(),
  };
}

async function destinationStorage(): Promise<{ dir: string; storage: LocalBlobStorage }> {
  const dir = await makeTempDir('migrate-blobs');
  const storage = new LocalBlobStorage(dir);
  await storage.init();
  return { dir, storage };
}

function migrate(
  url: string,
  blobs: { dir: string; storage: LocalBlobStorage } | undefined,
  events: MigrationEvent[] = [],
  extra: { restart?: boolean; dataDir?: string } = {},
): Promise<MigrationReport> {
  return migrateInstallation({
    dataDir: extra.dataDir ?? source.dataDir,
    env: cleanEnv(),
    databaseUrl: url,
    ...(blobs ? { storage: { storage: blobs.storage, description: blobs.dir } } : {}),
    ...(extra.restart ? { restart: true } : {}),
    onProgress: (e) => {
      events.push(e);
    },
  });
}

/** An engine on the copy: the new database, the destination blob dir, the same data dir (logs, secret.key). */
function openCopy(url: string, blobDir: string): Promise<Engine> {
  return openEngine({
    dataDir: source.dataDir,
    env: cleanEnv(),
    settings: { 'database.url': url, 'blob.dir': blobDir, python: TEST_PYTHON },
  });
}

async function expectCopyReadsBack(url: string, blobDir: string): Promise<void> {
  const engine = await openCopy(url, blobDir);
  try {
    const [summary] = await engine.listExecutions();
    expect(summary?.id).toBe(source.executionId);
    const details = await engine.getExecution(source.executionId);
    expect(details.status).toBe('success');
    expect(details.jobs.map((j) => [j.node, j.status])).toEqual([
      ['six', 'success'],
      ['double', 'success'],
      ['report', 'success'],
      ['save', 'success'],
    ]);
    const telemetry = await engine.getJobTelemetry(source.executionId, 'report');
    expect(telemetry.metrics.map((m) => [m.step, m.name, m.value])).toEqual([
      [0, 'value', 12],
      [1, 'value', 13],
      [2, 'value', 14],
    ]);
    await expectWaveReadsBack(url);
    // The console log stayed in the data dir, which the copy keeps using.
    expect((await engine.readJobLog(source.executionId, 'report')).text).toContain('value is 12');

    for (const a of [source.big, source.small]) {
      const info = await engine.getArtifactById(a.id);
      expect(info.hash).toBe(a.hash);
      expect(info.path?.startsWith(blobDir)).toBe(true);
      const chunks: Buffer[] = [];
      for await (const c of await engine.openArtifact(a.id)) chunks.push(c as Buffer);
      expect(Buffer.concat(chunks).equals(a.bytes)).toBe(true);
    }
    expect((await engine.getArtifact('result')).size).toBeGreaterThan(0);

    expect((await engine.projects.getProject('p1'))?.name).toBe('Vision');
    const updates = await engine.documents.loadUpdates('project:p1');
    expect(updates.map((u) => Buffer.from(u.update).toString('hex'))).toEqual(
      source.documentUpdates.map((u) => Buffer.from(u).toString('hex')),
    );

    expect((await engine.accounts.checkPassword('ada', PASSWORD))?.admin).toBe(true);
    expect(await engine.accounts.checkPassword('ada', 'wrong password')).toBeUndefined();
    expect((await engine.accounts.resolveSession(source.sessionSecret))?.user.name).toBe('ada');
    expect((await engine.accounts.resolveToken(source.token))?.user.name).toBe('ada');
    const ada = await engine.accounts.userByName('ada');
    const bob = await engine.accounts.userByName('bob');
    expect(await engine.accounts.roleOf('p1', ada)).toBe('owner');
    expect(await engine.accounts.roleOf('p1', bob)).toBe('reader');
    // Encrypted with the data dir's secret.key, which stays where it was.
    expect(await engine.accounts.secretValues('p1')).toEqual({ API_KEY: 'hunter2' });
  } finally {
    await engine.close();
  }
}

describe('deepforge migrate (engine)', () => {
  it('copies executions, artifacts, a document and accounts; an engine on the copy reads them back', async () => {
    const url = await database.fresh();
    const blobs = await destinationStorage();
    try {
      const before = await sourceState();
      const events: MigrationEvent[] = [];
      const report = await migrate(url, blobs, events);
      if (process.env.DEEPFORGE_TEST_TIMINGS) console.log(`[migrate] ${report.elapsedMs} ms`);

      expect(report).toMatchObject({
        outcome: 'migrated',
        resumed: false,
        source: join(source.dataDir, 'deepforge.db'),
        storage: blobs.dir,
      });
      expect(report.destination).not.toContain(new URL(url).password);
      expect(Object.fromEntries(report.tables.map((t) => [t.table, t.rows]))).toEqual(source.rowCounts);
      expect(report.tables.every((t) => t.copied === t.rows)).toBe(true);
      // The two imports, and the pipeline's outputs (some of them the same bytes).
      expect(report.blobs).toMatchObject({ verifiedBefore: 0, present: 0, missing: [], corrupt: [] });
      expect(report.blobs.copied).toBe(report.blobs.referenced);
      expect(report.blobs.bytesCopied).toBeGreaterThan(source.big.bytes.length);
      expect(events.filter((e) => e.type === 'blob').map((e) => e.type === 'blob' && e.outcome)).toEqual(
        Array(report.blobs.referenced).fill('copied'),
      );
      expect(events.at(-1)).toMatchObject({ type: 'verified', tables: MIGRATED_TABLES.length });

      expect(await postgresCounts(url)).toEqual(source.rowCounts);
      expect(await sourceState()).toEqual(before);
      await expectCopyReadsBack(url, blobs.dir);
    } finally {
      await removeTree(blobs.dir);
    }
  });

  it('a migrate killed halfway (SIGKILL after it reported progress) finishes on the next run, without duplicates or loss', async () => {
    const url = await database.fresh();
    const blobs = await destinationStorage();
    try {
      const before = await sourceState();
      // Killed after the first blob was copied and recorded, then in the middle of the metric blocks.
      for (const pauseAt of ['blob:1', 'rows:metric_blocks:2']) {
        const child = spawnScript('migrate.script.ts', [source.dataDir, url, blobs.dir, pauseAt], cleanEnv());
        const result = waitForScript(child);
        let out = '';
        await new Promise<void>((resolve, reject) => {
          child.stdout!.on('data', (c: Buffer) => {
            out += c.toString();
            if (out.includes('PAUSED\n')) resolve();
          });
          child.once('close', () => reject(new Error(`the migrate ended before ${pauseAt}:\n${out}`)));
        });
        child.kill('SIGKILL');
        expect((await result).signal).toBe('SIGKILL');
      }
      const partial = await postgresCounts(url);
      expect(partial.metric_blocks).toBe(2);
      expect(partial.artifacts).toBe(0);

      const events: MigrationEvent[] = [];
      const report = await migrate(url, blobs, events);
      expect(report).toMatchObject({ outcome: 'migrated', resumed: true });
      expect(events[0]).toMatchObject({ type: 'start', resumedFrom: expect.any(Number) });
      expect(report.blobs.verifiedBefore).toBe(report.blobs.referenced);
      const metrics = report.tables.find((t) => t.table === 'metric_blocks')!;
      expect(metrics).toEqual({
        table: 'metric_blocks',
        rows: source.rowCounts.metric_blocks,
        copied: source.rowCounts.metric_blocks! - 2,
      });
      expect(await postgresCounts(url)).toEqual(source.rowCounts);
      expect(await sourceState()).toEqual(before);
      await expectCopyReadsBack(url, blobs.dir);
    } finally {
      await removeTree(blobs.dir);
    }
  });

  it('a second migrate into the same destination is a no-op', async () => {
    const url = await database.fresh();
    const blobs = await destinationStorage();
    try {
      const first = await migrate(url, blobs);
      const events: MigrationEvent[] = [];
      const second = await migrate(url, blobs, events);
      expect(second).toMatchObject({
        outcome: 'already-migrated',
        startedAt: first.startedAt,
        finishedAt: first.finishedAt,
      });
      expect(second.tables.every((t) => t.copied === 0)).toBe(true);
      expect(second.blobs).toMatchObject({ copied: 0, present: 0, verifiedBefore: first.blobs.referenced });
      expect(events).toEqual([]);
      expect(await postgresCounts(url)).toEqual(source.rowCounts);
    } finally {
      await removeTree(blobs.dir);
    }
  });

  it('leaves the blobs in the data dir without a storage', async () => {
    const url = await database.fresh();
    const report = await migrate(url, undefined);
    expect(report).toMatchObject({ outcome: 'migrated', storage: null, blobsLeftIn: source.blobDir });
    expect(report.blobs).toMatchObject({ copied: 0, missing: [] });
    await expectCopyReadsBack(url, source.blobDir);
    // Running it again with a storage is not the same migration.
    const blobs = await destinationStorage();
    try {
      const err = await migrate(url, blobs).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(DatabaseError);
      expect((err as Error).message).toContain('leaves the blobs in the data dir');
    } finally {
      await removeTree(blobs.dir);
    }
  });

  it('refuses a destination holding another installation or data it did not copy, writing nothing', async () => {
    // A server already ran on it (a database of its own: nothing of other tests' migrations in it).
    const used = await createTestDatabase('migrate_used');
    try {
      const stores = await openPostgresStores(used.url);
      await stores.projects.insertProject({
        id: 'x',
        name: 'X',
        description: null,
        createdAt: 1,
        updatedAt: 1,
      });
      await stores.close();
      const err = await migrate(used.url, undefined).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(DatabaseError);
      expect((err as Error).message).toMatch(/already holds a DeepForge installation \(rows in projects\)/);
      expect((err as Error).message).not.toContain(new URL(used.url).password);
      expect(await tablesWithRows(used.url)).toEqual(['projects']);
      const c = new Client({ connectionString: used.url });
      await c.connect();
      const { rows } = await c.query(`select to_regclass('migration_run') as t`);
      await c.end();
      expect(rows).toEqual([{ t: null }]);
    } finally {
      await used.drop();
    }

    // Another installation's migration.
    const url = await database.fresh();
    const other = await makeTempDir('migrate-other');
    try {
      const otherStores = await openSqliteStores(join(other, 'deepforge.db'));
      await otherStores.accounts.insertUser({
        id: 'u1',
        name: 'zoe',
        passwordHash: 'x',
        admin: false,
        createdAt: 1,
        passwordChangedAt: 1,
      });
      await otherStores.close();
      await migrate(url, undefined, [], { dataDir: other });
      const refused = await migrate(url, undefined).catch((e: unknown) => e);
      expect(refused).toBeInstanceOf(DatabaseError);
      expect((refused as Error).message).toContain('already holds the migration of another installation');
      expect((refused as Error).message).toContain(join(other, 'deepforge.db'));
      expect((await postgresCounts(url)).users).toBe(1);
    } finally {
      await removeTree(other);
    }
  });

  it('refuses a source that a live engine is using', async () => {
    const url = await database.fresh();
    const other = await makeTempDir('migrate-live');
    try {
      const engine = await openEngine({ dataDir: other, env: cleanEnv(), settings: { python: TEST_PYTHON } });
      try {
        const err = await migrate(url, undefined, [], { dataDir: other }).catch((e: unknown) => e);
        expect(err).toBeInstanceOf(DatabaseError);
        expect((err as Error).message).toMatch(/a DeepForge engine is using .*deepforge\.db \(pid \d+/);
      } finally {
        await engine.close();
      }
      expect((await migrate(url, undefined, [], { dataDir: other })).outcome).toBe('migrated');
    } finally {
      await removeTree(other);
    }
  });

  it('finds a source changed between two runs, and --restart copies it anew', async () => {
    const url = await database.fresh();
    const other = await makeTempDir('migrate-changed');
    const blobs = await destinationStorage();
    try {
      const stores = await openSqliteStores(join(other, 'deepforge.db'));
      for (const name of ['ann', 'ben', 'cat']) {
        await stores.accounts.insertUser({
          id: name,
          name,
          passwordHash: 'x',
          admin: false,
          createdAt: 1,
          passwordChangedAt: 1,
        });
      }
      const child = spawnScript('migrate.script.ts', [other, url, blobs.dir, 'rows:users:2'], cleanEnv());
      const done = waitForScript(child);
      await new Promise<void>((resolve) => {
        let out = '';
        child.stdout!.on('data', (c: Buffer) => {
          out += c.toString();
          if (out.includes('PAUSED\n')) resolve();
        });
      });
      child.kill('SIGKILL');
      await done;
      // A row already copied changes in the source: the counts still agree, the contents do not.
      await stores.accounts.updateUser('ann', { admin: true });
      await stores.close();

      const err = await migrate(url, blobs, [], { dataDir: other }).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(DatabaseError);
      expect((err as Error).message).toContain('users has 3 rows on both sides, but not the same contents');
      expect((err as Error).message).toContain('--restart');

      const report = await migrate(url, blobs, [], { dataDir: other, restart: true });
      expect(report).toMatchObject({ outcome: 'migrated', resumed: false });
      const c = new Client({ connectionString: url });
      await c.connect();
      const { rows } = await c.query<{ admin: number }>(`select admin from users where name = 'ann'`);
      await c.end();
      expect(rows).toEqual([{ admin: 1 }]);
    } finally {
      await removeTree(other);
      await removeTree(blobs.dir);
    }
  });

  it('reports blobs missing from or corrupt in the source and copies the rest; refuses legacy ids it cannot store', async () => {
    const url = await database.fresh();
    const other = await makeTempDir('migrate-blobs-src');
    const blobs = await destinationStorage();
    try {
      const blobDir = join(other, 'blob');
      const local = new LocalBlobStorage(blobDir);
      await local.init();
      await writeFile(join(other, 'good.txt'), 'good\n');
      const good = await local.putFile(join(other, 'good.txt'));
      // A file under a name its bytes do not hash to, and a name with no file.
      const corrupt = `sha256:${'ab'.repeat(32)}`;
      await mkdir(dirname(local.path(corrupt)), { recursive: true });
      await writeFile(local.path(corrupt), 'not what the name says\n');
      const missing = `sha256:${'cd'.repeat(32)}`;
      // Over 8 MiB under the plain sha256 (before docs/adr/0006): a storage would name these bytes sha256t:.
      const legacyBytes = randomBytes(8 * 1024 * 1024 + 1);
      const legacy = `sha256:${createHash('sha256').update(legacyBytes).digest('hex')}`;
      await mkdir(dirname(local.path(legacy)), { recursive: true });
      await writeFile(local.path(legacy), legacyBytes);

      const stores = await openSqliteStores(join(other, 'deepforge.db'));
      const artifact = (name: string, hash: string, size: number) =>
        stores.artifacts.insertArtifact({
          name,
          hash,
          size,
          serializer: 'file',
          pyType: null,
          provenance: { kind: 'upload' },
        });
      await artifact('good', good.hash, good.size);
      await artifact('corrupt', corrupt, 23);
      await artifact('missing', missing, 5);
      const old = await artifact('old', legacy, legacyBytes.length);
      await stores.close();

      const refused = await migrate(url, blobs, [], { dataDir: other }).catch((e: unknown) => e);
      expect(refused).toBeInstanceOf(StorageError);
      expect((refused as Error).message).toContain(`ids from before content over 8 MiB`);
      expect((refused as Error).message).toContain(legacy);
      expect(await tablesWithRows(url)).toEqual([]);
      // Without a storage the blobs stay where they are, legacy ids included.
      const left = await migrate(url, undefined, [], { dataDir: other });
      expect(left.blobs).toMatchObject({ missing: [missing], corrupt: [] });

      await database.fresh();
      const again = await openSqliteStores(join(other, 'deepforge.db'));
      await again.artifacts.deleteArtifact(old.id);
      await again.close();
      const events: MigrationEvent[] = [];
      const report = await migrate(url, blobs, events, { dataDir: other });
      expect(report.blobs).toMatchObject({ copied: 1, missing: [missing], corrupt: [corrupt] });
      expect(events.flatMap((e) => (e.type === 'blob' ? [[e.hash, e.outcome]] : [])).sort()).toEqual(
        [
          [good.hash, 'copied'],
          [corrupt, 'corrupt'],
          [missing, 'missing'],
        ].sort(),
      );
      expect(await blobs.storage.has(good.hash)).toBe(true);
      expect(await blobs.storage.has(corrupt)).toBe(false);
      expect(await postgresCounts(url)).toMatchObject({ artifacts: 3 });
    } finally {
      await removeTree(other);
      await removeTree(blobs.dir);
    }
  });

  it('names an unreachable database by host and port, without its password', async () => {
    const err = await migrateInstallation({
      dataDir: source.dataDir,
      env: cleanEnv(),
      databaseUrl: 'postgres://df:hunter2@127.0.0.1:1/deepforge',
    }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(DatabaseError);
    expect((err as Error).message).toContain('cannot reach PostgreSQL at 127.0.0.1:1');
    expect((err as Error).message).not.toContain('hunter2');
  });
});
