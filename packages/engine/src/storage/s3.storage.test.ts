import { randomBytes } from 'node:crypto';
import { mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { inspect } from 'node:util';
import { GetObjectCommand, PutObjectCommand } from '@aws-sdk/client-s3';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { StorageError } from '../errors.js';
import {
  listTestKeys,
  startFlakyProxy,
  testS3Env,
  useTestBucket,
  type FlakyProxy,
} from '../test-support/s3-server.js';
import { CorruptBlobError, type ContentHash, type CorruptBlobReport } from './artifact.storage.js';
import { contentHashOf } from './content-hasher.js';
import { S3Storage, type S3StorageOptions } from './s3.storage.js';
import { describeArtifactStorageConformance } from './storage.conformance.js';

const bucket = useTestBucket('storage');

async function readAll(stream: Readable): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const c of stream) chunks.push(c as Buffer);
  return Buffer.concat(chunks);
}

/** Bytes with no two 8 MiB blocks alike. */
function content(size: number, seed = 1): Buffer {
  const b = Buffer.allocUnsafe(size);
  for (let i = 0; i < size; i++) b[i] = (Math.imul(i + seed, 2654435761) >>> 24) & 0xff;
  return b;
}

const MiB = 1024 * 1024;

function newPrefix(): string {
  return `t-${randomBytes(4).toString('hex')}`;
}

async function openStorage(
  options: Partial<S3StorageOptions> = {},
): Promise<{ storage: S3Storage; prefix: string; localDir: string; done(): Promise<void> }> {
  const b = bucket.current;
  const localDir = await mkdtemp(join(tmpdir(), 'df-s3-local-'));
  const prefix = options.prefix ?? newPrefix();
  const storage = new S3Storage({
    bucket: b.bucket,
    endpoint: b.endpoint,
    region: 'us-east-1',
    forcePathStyle: true,
    prefix,
    localDir,
    env: testS3Env(),
    ...options,
  });
  return {
    storage,
    prefix,
    localDir,
    async done() {
      await storage.close();
      await rm(localDir, { recursive: true, force: true });
    },
  };
}

describeArtifactStorageConformance('S3 bucket (s3rver emulator)', async () => {
  const b = bucket.current;
  const s = await openStorage();
  await s.storage.init();
  return {
    storage: s.storage,
    // `<prefix>/sha256` is the start of both `sha256/` and `sha256t/` keys.
    countBlobs: async () => (await listTestKeys(b.client, b.bucket, `${s.prefix}/sha256`)).length,
    cleanup: async () => {
      await s.done();
      await b.empty(s.prefix);
    },
  };
});

describe('S3Storage', () => {
  let s: Awaited<ReturnType<typeof openStorage>>;
  let scratch: string;
  beforeEach(async () => {
    scratch = await mkdtemp(join(tmpdir(), 'df-s3-src-'));
  });
  afterEach(async () => {
    await s?.done();
    await rm(scratch, { recursive: true, force: true });
  });

  it('keeps each blob at <prefix>/<scheme>/<2 hex>/<hex> and nothing else, locally nothing either', async () => {
    s = await openStorage({ prefix: `/${newPrefix()}/deep/` });
    const b = bucket.current;
    const small = await s.storage.putStream(Readable.from([Buffer.from('small blob')]));
    const bigBytes = content(9 * MiB + 5);
    const file = join(scratch, 'big');
    await writeFile(file, bigBytes);
    const big = await s.storage.putFile(file, { expectedHash: contentHashOf(bigBytes) });
    expect(big.hash.startsWith('sha256t:')).toBe(true);
    const prefix = s.prefix.replace(/^\/+|\/+$/g, '');
    const keyOf = (h: string): string => {
      const [scheme, hex] = h.split(':') as [string, string];
      return `${prefix}/${scheme}/${hex.slice(0, 2)}/${hex}`;
    };
    expect(await listTestKeys(b.client, b.bucket, prefix)).toEqual(
      [keyOf(small.hash), keyOf(big.hash)].sort(),
    );
    expect(s.storage.keyOf(big.hash)).toBe(keyOf(big.hash));
    expect(s.storage.path()).toBeUndefined();
    // The spooled stream is gone, the source of a plain put is left alone.
    expect(await readdir(join(s.localDir, 'tmp'))).toEqual([]);
    expect((await readdir(scratch)).sort()).toEqual(['big']);
    const object = await b.client.send(new GetObjectCommand({ Bucket: b.bucket, Key: keyOf(big.hash) }));
    expect(object.Metadata?.['content-id']).toBe(big.hash);
    await object.Body?.transformToByteArray();
  });

  it('refuses to open a bucket that does not exist, naming the bucket and the endpoint', async () => {
    s = await openStorage({ bucket: 'no-such-bucket-here' });
    const err = await s.storage.init().then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(StorageError);
    expect((err as Error).message).toContain('the S3 bucket "no-such-bucket-here" does not exist at');
    expect((err as Error).message).toContain(bucket.current.endpoint);
    expect((err as Error).message).toMatch(/storage\.s3\.bucket/);
  });

  it('refuses wrong credentials with a clear error that holds no secret', async () => {
    const secret = 'wJalrXUtnFEMI/K7MDENG/bPxRfiCYzEXAMPLEKEY';
    s = await openStorage({
      env: testS3Env({ AWS_ACCESS_KEY_ID: 'AKIAIOSFODNN7EXAMPLE', AWS_SECRET_ACCESS_KEY: secret }),
    });
    const err = await s.storage.init().then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(StorageError);
    const message = (err as Error).message;
    expect(message).toContain(`"${bucket.current.bucket}"`);
    expect(message).toContain(bucket.current.endpoint);
    expect(message).toMatch(/refused the credentials/);
    expect(message).toMatch(/AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or AWS_PROFILE/);
    for (const shown of [
      message,
      String((err as Error).stack),
      inspect(err, { depth: 10 }),
      JSON.stringify(err),
    ]) {
      expect(shown).not.toContain(secret);
    }
    // Every other operation says the same.
    await expect(s.storage.size(contentHashOf(Buffer.from('x')))).rejects.toThrow(/refused the credentials/);
  });

  it('quarantines a corrupted object and reports it; the reader gets an error, never a sound-looking end', async () => {
    const reports: CorruptBlobReport[] = [];
    s = await openStorage({ onCorrupt: (r) => reports.push(r) });
    const b = bucket.current;
    const good = content(3 * MiB, 7);
    const blob = await s.storage.putStream(Readable.from([good]));
    // A stray writer (or a failing server) replaces the object's bytes.
    const bad = Buffer.from(good);
    bad[MiB] = bad[MiB]! ^ 0xff;
    const key = s.storage.keyOf(blob.hash);
    await b.client.send(new PutObjectCommand({ Bucket: b.bucket, Key: key, Body: bad }));

    const received: Buffer[] = [];
    const reading = (async () => {
      for await (const c of await s.storage.openRead(blob.hash)) received.push(c as Buffer);
    })();
    await expect(reading).rejects.toThrow(/is corrupt: its bytes hash to sha256:[0-9a-f]{64}, not to/);
    expect(Buffer.concat(received).length).toBeLessThan(good.length);

    expect(reports).toHaveLength(1);
    expect(reports[0]).toMatchObject({ hash: blob.hash, actual: contentHashOf(bad) });
    expect(reports[0]!.quarantinedTo).toMatch(
      new RegExp(`^s3://${b.bucket}/${s.prefix}/quarantine/[0-9a-f]{64}\\.\\d+$`),
    );
    expect(await s.storage.has(blob.hash)).toBe(false);
    const qkey = reports[0]!.quarantinedTo!.slice(`s3://${b.bucket}/`.length);
    const kept = await b.client.send(new GetObjectCommand({ Bucket: b.bucket, Key: qkey }));
    expect(Buffer.from(await kept.Body!.transformToByteArray()).equals(bad)).toBe(true);
    const why = await b.client.send(new GetObjectCommand({ Bucket: b.bucket, Key: `${qkey}.json` }));
    expect(JSON.parse(await why.Body!.transformToString())).toMatchObject({
      hash: blob.hash,
      actual: contentHashOf(bad),
    });

    // The right bytes put again are stored again.
    expect((await s.storage.putStream(Readable.from([good]))).hash).toBe(blob.hash);
    expect((await readAll(await s.storage.openRead(blob.hash))).equals(good)).toBe(true);

    // A scrub finds the same damage without a reader.
    await b.client.send(new PutObjectCommand({ Bucket: b.bucket, Key: key, Body: bad }));
    const v = await s.storage.verify(blob.hash);
    expect(v).toMatchObject({ ok: false, actual: contentHashOf(bad) });
    expect(reports).toHaveLength(2);
    expect(await s.storage.has(blob.hash)).toBe(false);
  });

  it('takes credentials from an AWS profile, and the region from nowhere (us-east-1)', async () => {
    // The SDK reads the profile files named by the process's own environment.
    const credentials = join(scratch, 'credentials');
    await writeFile(
      credentials,
      '[deepforge-test]\naws_access_key_id = S3RVER\naws_secret_access_key = S3RVER\n',
    );
    vi.stubEnv('AWS_SHARED_CREDENTIALS_FILE', credentials);
    vi.stubEnv('AWS_CONFIG_FILE', join(scratch, 'no-config'));
    vi.stubEnv('AWS_EC2_METADATA_DISABLED', 'true');
    vi.stubEnv('AWS_REGION', '');
    try {
      s = await openStorage({
        region: undefined,
        env: { AWS_PROFILE: 'deepforge-test', AWS_EC2_METADATA_DISABLED: 'true' },
      });
      await s.storage.init();
      const blob = await s.storage.putStream(Readable.from([Buffer.from('via a profile')]));
      expect((await readAll(await s.storage.openRead(blob.hash))).toString()).toBe('via a profile');

      // A profile that is not there: no credentials at all, said plainly.
      const other = await openStorage({ region: undefined, env: { AWS_PROFILE: 'not-a-profile' } });
      await expect(other.storage.init()).rejects.toThrow(
        /cannot open the S3 bucket .*: no AWS credentials were found: the credentials come from AWS_ACCESS_KEY_ID/,
      );
      await other.done();
    } finally {
      vi.unstubAllEnvs();
    }
  });

  it('refuses bytes that do not match the id their writer gave, leaving nothing under either id', async () => {
    s = await openStorage();
    const bytes = content(10 * MiB, 3);
    const claimed = contentHashOf(content(10 * MiB, 4));
    const file = join(scratch, 'out');
    await writeFile(file, bytes);
    const err = await s.storage.putFile(file, { move: true, expectedHash: claimed }).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(CorruptBlobError);
    expect((err as CorruptBlobError).actual).toBe(contentHashOf(bytes));
    expect(await listTestKeys(bucket.current.client, bucket.current.bucket, s.prefix)).toEqual([]);
  });

  describe('when the connection fails', () => {
    let proxy: FlakyProxy;
    beforeEach(async () => {
      proxy = await startFlakyProxy(Number(new URL(bucket.current.endpoint).port));
    });
    afterEach(async () => {
      await proxy.close();
    });

    it('stores nothing when the store goes away mid-upload, and a retry succeeds', async () => {
      s = await openStorage({ endpoint: proxy.endpoint, maxAttempts: 3 });
      await s.storage.init();
      const bytes = content(20 * MiB + 11, 5);
      const hash = contentHashOf(bytes) as ContentHash;
      const file = join(scratch, 'big');
      await writeFile(file, bytes);
      // Gone once 12 MiB went up: the first part is in, the second cut short; new connections are refused.
      const cut = proxy.cutAfter({ up: 12 * MiB });
      const err = await s.storage.putFile(file, { expectedHash: hash }).then(
        () => undefined,
        (e: unknown) => e,
      );
      await cut;
      expect(err).toBeInstanceOf(StorageError);
      expect((err as Error).message).toMatch(/cannot (upload|store)/);
      expect((err as Error).message).toContain(proxy.endpoint);

      await proxy.restore();
      expect(await s.storage.has(hash)).toBe(false);
      expect(await listTestKeys(bucket.current.client, bucket.current.bucket, s.prefix)).toEqual([]);
      const again = await s.storage.putFile(file, { expectedHash: hash });
      expect(again).toMatchObject({ hash, size: bytes.length });
      expect((await readAll(await s.storage.openRead(hash))).equals(bytes)).toBe(true);
    });

    it('resumes a download cut short where it stopped, and checks the whole', async () => {
      s = await openStorage({ endpoint: proxy.endpoint });
      const bytes = content(20 * MiB, 9);
      const blob = await s.storage.putStream(Readable.from([bytes]));
      // Dropped 5 MiB into the download; the next connection is let through.
      const cut = proxy.cutAfter({ down: 5 * MiB }, { refuse: false });
      const read = await readAll(await s.storage.openRead(blob.hash));
      await cut;
      expect(read.length).toBe(bytes.length);
      expect(read.equals(bytes)).toBe(true);
    });
  });
});
