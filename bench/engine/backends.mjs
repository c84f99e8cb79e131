// The engine's adapters a benchmark runs on: the embedded default (SQLite + the local blob dir), and PostgreSQL with
// the S3 emulator, both started here for the run (on loopback, torn down after it), as the test setup does.
import { randomBytes } from 'node:crypto';
import { CreateBucketCommand } from '@aws-sdk/client-s3';
import { startTestPostgres, startTestS3, testS3Client, testS3Env } from '@deepforge/engine/test-support';
import pg from 'pg';
import { cleanEnv } from './lib.mjs';

/**
 * The variants, in the order their rows are printed. `settings` and `env` go to the engine; `database` and
 * `storage` name them in the tables.
 */
export const SQLITE_LOCAL = { key: 'sqlite-local', label: 'SQLite + local blob dir' };
export const POSTGRES_LOCAL = { key: 'postgres-local', label: 'PostgreSQL + local blob dir' };
export const POSTGRES_S3 = { key: 'postgres-s3', label: 'PostgreSQL + S3 (s3rver) + input cache' };

/**
 * Starts a PostgreSQL cluster and an S3 emulator, runs `fn(backends)`, then stops both whatever happened.
 * `backends.settings(variant)` gives an engine's settings and environment for a variant: each call makes a new,
 * empty database (and bucket), so that every engine starts from nothing, as a fresh data dir does for SQLite.
 *
 * Unlike the test setup's, this PostgreSQL is durable (fsync, synchronous commit and full-page writes on: its
 * defaults), as a real installation is and as the engine's SQLite is (each commit on the disk before it is answered, docs/adr/0033): a comparison of the
 * two must not let one of them skip its flushes. What s3rver is (and what it does not emulate): docs/adr/0012.
 */
export async function withBackends(fn) {
  const started = Date.now();
  const [postgres, s3] = await Promise.all([startTestPostgres({ durable: true }), startTestS3()]);
  const startMs = Date.now() - started;
  const s3Client = testS3Client(s3.endpoint);
  const databases = [];
  let bucketMade;
  const ownBucket = () => {
    bucketMade ??= (async () => {
      const name = `bench-own-${randomBytes(5).toString('hex')}`;
      await s3Client.send(new CreateBucketCommand({ Bucket: name }));
      return name;
    })();
    return bucketMade;
  };
  try {
    return await fn({
      startMs,
      postgresVersion: await serverVersion(postgres.adminUrl),
      /** The emulator, for a baseline that talks to it without the engine (its bucket made on first use). */
      s3: { endpoint: s3.endpoint, client: s3Client, bucket: () => ownBucket() },
      async settings(variant) {
        if (variant.key === SQLITE_LOCAL.key) return { settings: {}, env: cleanEnv() };
        const name = `bench_${randomBytes(5).toString('hex')}`;
        await query(postgres.adminUrl, `create database "${name}"`);
        databases.push(name);
        const url = new URL(postgres.adminUrl);
        url.pathname = `/${name}`;
        const settings = { 'database.url': url.toString() };
        if (variant.key === POSTGRES_LOCAL.key) return { settings, env: cleanEnv() };
        const bucket = `bench-${randomBytes(5).toString('hex')}`;
        await s3Client.send(new CreateBucketCommand({ Bucket: bucket }));
        return {
          settings: {
            ...settings,
            'storage.backend': 's3',
            'storage.s3.bucket': bucket,
            'storage.s3.endpoint': s3.endpoint,
            'storage.s3.forcePathStyle': true,
            'storage.s3.region': 'us-east-1',
          },
          env: { ...cleanEnv(), ...testS3Env() },
        };
      },
    });
  } finally {
    s3Client.destroy();
    for (const name of databases) {
      await query(postgres.adminUrl, `drop database if exists "${name}" with (force)`).catch(() => undefined);
    }
    // The servers stop when their supervisor's stdin closes; the keep-alive lets this process wait for that.
    const keepAlive = setInterval(() => undefined, 1000);
    try {
      await Promise.all([postgres.stop(), s3.stop()]);
    } finally {
      clearInterval(keepAlive);
    }
  }
}

async function query(url, sql) {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    return await client.query(sql);
  } finally {
    await client.end();
  }
}

async function serverVersion(url) {
  const { rows } = await query(url, 'show server_version');
  return String(rows[0].server_version).split(' ')[0];
}
