import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { createServer, Socket, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  CreateBucketCommand,
  DeleteObjectsCommand,
  ListObjectsV2Command,
  S3Client,
} from '@aws-sdk/client-s3';
import { afterAll, beforeAll, inject } from 'vitest';
import type { SettingsValues } from '../settings.js';

/**
 * An S3-compatible server for tests: s3rver (an npm devDependency, so `npm ci` brings it) in a Node process of its
 * own, on 127.0.0.1 and a free port, keeping its objects in a temp dir. The Vitest global setup
 * (scripts/vitest-s3.setup.ts) starts one for the run; a file run without it starts its own on first use. What
 * s3rver does not emulate is in docs/adr/0012-s3-storage.md.
 */

declare module 'vitest' {
  export interface ProvidedContext {
    /** The endpoint of the run's S3 emulator (`http://127.0.0.1:port`). */
    deepforgeS3Endpoint?: string;
  }
}

/** s3rver's one account: it checks that the access key exists, not the signature made with the secret. */
export const TEST_S3_CREDENTIALS = { accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER' } as const;

/** The environment an engine or S3Storage reads test credentials from (the standard AWS variables). */
export function testS3Env(
  extra: Record<string, string | undefined> = {},
): Record<string, string | undefined> {
  return {
    AWS_ACCESS_KEY_ID: TEST_S3_CREDENTIALS.accessKeyId,
    AWS_SECRET_ACCESS_KEY: TEST_S3_CREDENTIALS.secretAccessKey,
    AWS_REGION: 'us-east-1',
    // Never ask an instance metadata service (the credential chain's last resort) from a test.
    AWS_EC2_METADATA_DISABLED: 'true',
    ...extra,
  };
}

export interface TestS3Server {
  endpoint: string;
  port: number;
  stop(): Promise<void>;
}

/**
 * The emulator's process: it prints its port, and stops (removing its directory) when its stdin closes, that is
 * when the process that started it ends, even by SIGKILL.
 */
const EMULATOR = `
const [s3rverPath, dir] = process.argv.slice(1);
const fs = require('node:fs');
const S3rver = require(s3rverPath);
const server = new S3rver({ address: '127.0.0.1', port: 0, silent: true, directory: dir });
let stopping = false;
function stop() {
  if (stopping) return;
  stopping = true;
  server.httpServer?.closeAllConnections?.();
  const done = () => {
    fs.rmSync(dir, { recursive: true, force: true });
    process.exit(0);
  };
  server.close().then(done, done);
}
process.stdin.on('end', stop);
process.stdin.on('close', stop);
process.stdin.on('error', stop);
process.stdin.resume();
server.run().then(
  (info) => process.stdout.write(JSON.stringify({ port: info.port }) + '\\n'),
  (err) => {
    process.stderr.write(String((err && err.stack) || err) + '\\n');
    process.exit(1);
  },
);
`;

function s3rverPath(): string {
  try {
    return createRequire(import.meta.url).resolve('s3rver');
  } catch {
    throw new Error(
      'the S3 emulator s3rver is not installed: run `npm ci` (it is a devDependency of the root)',
    );
  }
}

export async function startTestS3(): Promise<TestS3Server> {
  const main = s3rverPath();
  const dir = await mkdtemp(join(tmpdir(), 'df-s3-'));
  const child = spawn(process.execPath, ['-e', EMULATOR, main, dir], { stdio: ['pipe', 'pipe', 'pipe'] });
  let stderr = '';
  child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const port = await new Promise<number>((resolve, reject) => {
    let out = '';
    const timer = setTimeout(() => reject(new Error(`s3rver did not start within 30 s: ${stderr}`)), 30_000);
    child.stdout.on('data', (c: Buffer) => {
      out += c.toString();
      const line = out.split('\n')[0];
      if (out.includes('\n') && line) {
        clearTimeout(timer);
        try {
          resolve((JSON.parse(line) as { port: number }).port);
        } catch {
          reject(new Error(`s3rver said ${JSON.stringify(line)}`));
        }
      }
    });
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`s3rver exited with ${code}: ${stderr}`));
    });
  });
  // Not waited for: it ends with this process.
  child.unref();
  for (const s of [child.stdin, child.stdout, child.stderr])
    (s as unknown as { unref?: () => void }).unref?.();
  return {
    endpoint: `http://127.0.0.1:${port}`,
    port,
    async stop() {
      child.stdin.end();
      await Promise.race([exited, new Promise((r) => setTimeout(r, 10_000).unref())]);
      await rm(dir, { recursive: true, force: true });
    },
  };
}

let ownServer: Promise<TestS3Server> | undefined;

/** The run's emulator (from the global setup), or one started for this test file on first use. */
export function testS3Endpoint(): Promise<string> {
  let provided: string | undefined;
  try {
    provided = inject('deepforgeS3Endpoint');
  } catch {
    provided = undefined;
  }
  if (provided) return Promise.resolve(provided);
  ownServer ??= startTestS3();
  return ownServer.then((s) => s.endpoint);
}

/** A client of the emulator, to look at a bucket from outside the storage under test. */
export function testS3Client(endpoint: string): S3Client {
  return new S3Client({
    endpoint,
    region: 'us-east-1',
    forcePathStyle: true,
    credentials: TEST_S3_CREDENTIALS,
    requestChecksumCalculation: 'WHEN_REQUIRED',
    responseChecksumValidation: 'WHEN_REQUIRED',
  });
}

/** Every key in the bucket under `prefix`, sorted. */
export async function listTestKeys(client: S3Client, bucket: string, prefix = ''): Promise<string[]> {
  const keys: string[] = [];
  let token: string | undefined;
  do {
    const page = await client.send(
      new ListObjectsV2Command({ Bucket: bucket, Prefix: prefix, ContinuationToken: token }),
    );
    for (const o of page.Contents ?? []) if (o.Key) keys.push(o.Key);
    token = page.IsTruncated ? page.NextContinuationToken : undefined;
  } while (token);
  return keys.sort();
}

export interface TestBucket {
  endpoint: string;
  bucket: string;
  client: S3Client;
  /** The settings of an engine storing its artifacts there (under `prefix`). */
  settings(prefix?: string): Partial<SettingsValues>;
  /** Deletes every object under `prefix`. */
  empty(prefix?: string): Promise<void>;
  close(): void;
}

/** A new, empty bucket on the test emulator. */
export async function createTestBucket(prefix = 'df'): Promise<TestBucket> {
  const endpoint = await testS3Endpoint();
  const client = testS3Client(endpoint);
  const bucket = `${prefix.toLowerCase().replace(/[^a-z0-9-]/g, '-')}-${randomBytes(6).toString('hex')}`;
  await client.send(new CreateBucketCommand({ Bucket: bucket }));
  return {
    endpoint,
    bucket,
    client,
    settings: (keyPrefix = '') => ({
      'storage.backend': 's3',
      'storage.s3.bucket': bucket,
      'storage.s3.endpoint': endpoint,
      'storage.s3.forcePathStyle': true,
      'storage.s3.region': 'us-east-1',
      'storage.s3.prefix': keyPrefix,
    }),
    async empty(keyPrefix = '') {
      const keys = await listTestKeys(client, bucket, keyPrefix);
      for (let i = 0; i < keys.length; i += 1000) {
        await client.send(
          new DeleteObjectsCommand({
            Bucket: bucket,
            Delete: { Objects: keys.slice(i, i + 1000).map((Key) => ({ Key })) },
          }),
        );
      }
    },
    close: () => client.destroy(),
  };
}

/** One bucket for the test file that calls this at its top level, made before its tests. */
export function useTestBucket(prefix: string): { readonly current: TestBucket } {
  let b: TestBucket | undefined;
  beforeAll(async () => {
    b = await createTestBucket(prefix);
  });
  afterAll(() => {
    b?.close();
  });
  return {
    get current() {
      if (!b) throw new Error("useTestBucket: the bucket exists from the file's beforeAll on");
      return b;
    },
  };
}

/**
 * A TCP proxy in front of the emulator that can make it go away: `cutAfter(n)` drops every connection once n more
 * bytes have gone through (either way) and refuses new ones until `restore()`, listening on the same port again.
 */
export interface FlakyProxy {
  endpoint: string;
  port: number;
  /** Bytes forwarded so far, client to server and back. */
  readonly bytesUp: number;
  readonly bytesDown: number;
  /** Drops everything once `up` more bytes went to the server (or `down` more came back); refuses from then on. */
  cutAfter(limits: { up?: number; down?: number }, options?: { refuse?: boolean }): Promise<void>;
  /** Accepts connections again, on the same port. */
  restore(): Promise<void>;
  close(): Promise<void>;
}

export async function startFlakyProxy(targetPort: number): Promise<FlakyProxy> {
  const sockets = new Set<Socket>();
  let up = 0;
  let down = 0;
  let cut: { up: number; down: number; refuse: boolean; resolve: () => void } | undefined;
  let server: Server | undefined;
  let port = 0;

  const drop = (): void => {
    for (const s of sockets) s.destroy();
    sockets.clear();
  };
  const check = (): void => {
    if (!cut || (up < cut.up && down < cut.down)) return;
    const c = cut;
    cut = undefined;
    drop();
    if (c.refuse) void stopListening().then(c.resolve);
    else c.resolve();
  };
  const listen = (): Promise<void> =>
    new Promise((resolve, reject) => {
      const srv = createServer((client) => {
        const upstream = new Socket();
        sockets.add(client);
        sockets.add(upstream);
        const forget = (): void => {
          sockets.delete(client);
          sockets.delete(upstream);
          client.destroy();
          upstream.destroy();
        };
        client.on('error', forget).on('close', forget);
        upstream.on('error', forget).on('close', forget);
        client.on('data', (chunk: Buffer) => {
          up += chunk.length;
          upstream.write(chunk);
          check();
        });
        upstream.on('data', (chunk: Buffer) => {
          down += chunk.length;
          client.write(chunk);
          check();
        });
        upstream.connect(targetPort, '127.0.0.1');
      });
      srv.once('error', reject);
      srv.listen(port, '127.0.0.1', () => {
        port = (srv.address() as { port: number }).port;
        server = srv;
        resolve();
      });
    });
  const stopListening = (): Promise<void> =>
    new Promise((resolve) => {
      const srv = server;
      server = undefined;
      drop();
      if (!srv) return resolve();
      srv.close(() => resolve());
    });
  await listen();
  return {
    get endpoint() {
      return `http://127.0.0.1:${port}`;
    },
    get port() {
      return port;
    },
    get bytesUp() {
      return up;
    },
    get bytesDown() {
      return down;
    },
    cutAfter(limits, options = {}) {
      return new Promise<void>((resolve) => {
        cut = {
          up: limits.up === undefined ? Infinity : up + limits.up,
          down: limits.down === undefined ? Infinity : down + limits.down,
          refuse: options.refuse ?? true,
          resolve,
        };
        check();
      });
    },
    async restore() {
      if (!server) await listen();
    },
    close: stopListening,
  };
}
