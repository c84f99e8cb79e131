import { randomBytes } from 'node:crypto';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Client } from 'pg';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { openEngine } from '@deepforge/engine';
import {
  TEST_PYTHON,
  cleanEnv,
  createTestDatabase,
  listTestKeys,
  makeTempDir,
  removeTree,
  testS3Env,
  useTestBucket,
  useTestDatabase,
} from '@deepforge/engine/test-support';
import { cli } from './test-support/run-cli.js';

const database = useTestDatabase('cli_migrate');
const bucket = useTestBucket('cli-migrate');

let tmp: string;
let dataDir: string;
beforeEach(async () => {
  tmp = await makeTempDir('cli-migrate');
  dataDir = join(tmp, 'data');
});
afterEach(async () => {
  await removeTree(tmp);
});

/** A data dir with a user and two artifacts, one over 8 MiB. */
async function installation(): Promise<{ big: Buffer; bigId: string; smallId: string }> {
  const engine = await openEngine({ dataDir, env: cleanEnv(), settings: { python: TEST_PYTHON } });
  try {
    const big = randomBytes(9 * 1024 * 1024);
    await writeFile(join(tmp, 'big.bin'), big);
    await writeFile(join(tmp, 'small.txt'), 'small\n');
    const bigInfo = await engine.importArtifact(join(tmp, 'big.bin'), 'big');
    const smallInfo = await engine.importArtifact(join(tmp, 'small.txt'), 'small');
    await engine.accounts.createUser('ada', 'correct horse battery', { admin: true });
    return { big, bigId: bigInfo.id, smallId: smallInfo.id };
  } finally {
    await engine.close();
  }
}

/** The environment `deepforge` runs with: the test bucket as storage.s3.*, the emulator's credentials. */
function s3Env(bucketName = bucket.current.bucket): Record<string, string | undefined> {
  return cleanEnv(
    testS3Env({
      DEEPFORGE_S3_BUCKET: bucketName,
      DEEPFORGE_S3_ENDPOINT: bucket.current.endpoint,
      DEEPFORGE_S3_FORCE_PATH_STYLE: 'true',
      DEEPFORGE_S3_PREFIX: 'migrated',
    }) as Record<string, string>,
  );
}

async function tableCount(url: string, table: string): Promise<number> {
  const c = new Client({ connectionString: url });
  await c.connect();
  try {
    return (await c.query<{ n: number }>(`select count(*)::int as n from "${table}"`)).rows[0]!.n;
  } finally {
    await c.end();
  }
}

describe('deepforge migrate', () => {
  it('copies a data dir into PostgreSQL and S3, prints what it copied and what to set, and a second run changes nothing', async () => {
    const { big, bigId } = await installation();
    const url = await database.fresh();
    const password = new URL(url).password;
    const env = s3Env();

    const r = await cli(['migrate', '--database', url, '--storage', 's3', '--data-dir', dataDir], env, tmp);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout).not.toContain(password);
    expect(r.stdout).toContain(`Migrating ${join(dataDir, 'deepforge.db')}`);
    expect(r.stdout).toMatch(/into postgres:\/\/postgres:\*\*\*@127\.0\.0\.1:\d+\//);
    expect(r.stdout).toContain(
      `blobs into s3://${bucket.current.bucket}/migrated at ${bucket.current.endpoint}`,
    );
    expect(r.stdout).toMatch(/copied +sha256t:[0-9a-f]{64} {2}9\.0 MiB {2}\(\d\/2\)/);
    expect(r.stdout).toMatch(/artifacts +2 rows/);
    expect(r.stdout).toMatch(/users +1 row\n/);
    // Every table it listed was verified.
    const listed =
      r.stdout
        .split('rows:\n')[1]!
        .split('verified:')[0]!
        .match(/^ {2}\w+ +\d+ rows?$/gm) ?? [];
    expect(listed.length).toBeGreaterThan(10);
    expect(r.stdout).toContain(`verified: ${listed.length} tables`);
    expect(r.stdout).toContain('2 blobs read back and hashed');
    expect(r.stdout).toContain('console logs and code snapshots');
    expect(r.stdout).toContain(
      `DEEPFORGE_DATA_DIR=${dataDir} deepforge config database.url 'postgres://postgres:***@`,
    );
    expect(r.stdout).toContain(`DEEPFORGE_DATA_DIR=${dataDir} deepforge config storage.backend s3`);
    expect(await listTestKeys(bucket.current.client, bucket.current.bucket, 'migrated/')).toHaveLength(2);

    // The copy, as an engine configured the way the output says reads it.
    const engine = await openEngine({
      dataDir,
      env,
      settings: { 'database.url': url, 'storage.backend': 's3', python: TEST_PYTHON },
    });
    try {
      const chunks: Buffer[] = [];
      for await (const c of await engine.openArtifact(bigId)) chunks.push(c as Buffer);
      expect(Buffer.concat(chunks).equals(big)).toBe(true);
      expect((await engine.accounts.checkPassword('ada', 'correct horse battery'))?.name).toBe('ada');
    } finally {
      await engine.close();
    }

    const again = await cli(
      ['migrate', '--database', url, '--storage', 's3', '--data-dir', dataDir],
      env,
      tmp,
    );
    expect(again).toMatchObject({ code: 0, stderr: '' });
    expect(again.stdout).toContain('Already migrated');
    expect(again.stdout).toContain('nothing was written');
  });

  it('leaves the blobs in blob.dir without --storage', async () => {
    await installation();
    const url = await database.fresh();
    const r = await cli(['migrate', '--database', url], cleanEnv({ DEEPFORGE_DATA_DIR: dataDir }), tmp);
    expect(r).toMatchObject({ code: 0, stderr: '' });
    expect(r.stdout).toContain(`The blobs stay in ${join(dataDir, 'blob')}.`);
    expect(r.stdout).toMatch(/\n {2}deepforge config database\.url 'postgres:\/\/postgres:\*\*\*@/);
    expect(r.stdout).not.toContain('storage.backend');
    expect(await tableCount(url, 'artifacts')).toBe(2);
  });

  it('copies only the database of an installation whose blobs are in S3 already', async () => {
    const env = { ...s3Env(), DEEPFORGE_STORAGE_BACKEND: 's3', DEEPFORGE_DATA_DIR: dataDir };
    const engine = await openEngine({ dataDir, env, settings: { python: TEST_PYTHON } });
    await writeFile(join(tmp, 'small.txt'), 'small\n');
    await engine.importArtifact(join(tmp, 'small.txt'), 'small');
    await engine.close();
    const url = await database.fresh();

    const refused = await cli(['migrate', '--database', url, '--storage', 's3'], env, tmp);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toContain('are in S3 already (storage.backend is s3');

    const r = await cli(['migrate', '--database', url], env, tmp);
    expect(r).toMatchObject({ code: 0, stderr: '' });
    expect(r.stdout).toContain(
      `The blobs stay in s3://${bucket.current.bucket}/migrated at ${bucket.current.endpoint}.`,
    );
    expect(await tableCount(url, 'artifacts')).toBe(1);
  });

  it('says what is wrong: an unreachable database, a URL that is not PostgreSQL, a missing bucket', async () => {
    await installation();
    const env = cleanEnv({ DEEPFORGE_DATA_DIR: dataDir });
    const unreachable = await cli(
      ['migrate', '--database', 'postgres://df:hunter2@127.0.0.1:1/deepforge'],
      env,
    );
    expect(unreachable.code).toBe(1);
    expect(unreachable.stderr).toContain('cannot reach PostgreSQL at 127.0.0.1:1');
    expect(unreachable.stderr).not.toContain('hunter2');

    const mysql = await cli(['migrate', '--database', 'mysql://df:hunter2@db/deepforge'], env);
    expect(mysql.code).toBe(1);
    expect(mysql.stderr).toContain('mysql://df:***@db/deepforge');
    expect(mysql.stderr).not.toContain('hunter2');

    const badStorage = await cli(['migrate', '--database', 'postgres://db/x', '--storage', 'minio'], env);
    expect(badStorage.code).toBe(1);
    expect(badStorage.stderr).toContain('expected "s3"');

    const empty = await createTestDatabase('cli_migrate_empty');
    const url = empty.url;
    const missing = await cli(
      ['migrate', '--database', url, '--storage', 's3', '--data-dir', dataDir],
      s3Env('no-such-bucket'),
    );
    expect(missing.code).toBe(1);
    expect(missing.stderr).toContain(
      `the S3 bucket "no-such-bucket" does not exist at ${bucket.current.endpoint}`,
    );
    // Refused before the destination was touched.
    const c = new Client({ connectionString: url });
    await c.connect();
    const { rows } = await c.query(`select tablename from pg_tables where schemaname = current_schema()`);
    await c.end();
    await empty.drop();
    expect(rows).toEqual([]);
  });
});
