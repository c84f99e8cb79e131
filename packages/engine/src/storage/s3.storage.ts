import { randomBytes } from 'node:crypto';
import { createReadStream, createWriteStream } from 'node:fs';
import { mkdir, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { Readable, Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import {
  AbortMultipartUploadCommand,
  CopyObjectCommand,
  DeleteObjectCommand,
  GetObjectCommand,
  HeadBucketCommand,
  HeadObjectCommand,
  ListMultipartUploadsCommand,
  PutObjectCommand,
  S3Client,
  type GetObjectCommandOutput,
} from '@aws-sdk/client-s3';
import { Upload } from '@aws-sdk/lib-storage';
import { CONTENT_HASH_BLOCK_BYTES, contentHashProblem, splitContentHash } from '@deepforge/core';
import { NotFoundError, StorageError } from '../errors.js';
import type { Env } from '../settings.js';
import {
  CorruptBlobError,
  isContentHash,
  type ArtifactStorage,
  type BlobVerification,
  type ContentHash,
  type CorruptBlobReport,
  type PutFileOptions,
  type PutResult,
  type StoredBlob,
} from './artifact.storage.js';
import { ContentHasher } from './content-hasher.js';
import { createStagingDir, removeOldEntries } from './local-leftovers.js';
import { fileNameOf, hashFile } from './local-blob.storage.js';
import { describeS3Error, isS3NotFound, s3ClientConfig, s3Where, type S3Location } from './s3-client.js';

/**
 * One multipart part is one block of the content id's tree (docs/adr/0006): S3 checks each part's SHA-256 (the
 * signed x-amz-content-sha256 of the request), which is then that block's digest in the tree.
 */
export const S3_PART_BYTES = CONTENT_HASH_BLOCK_BYTES;

export interface S3StorageOptions extends S3Location {
  /** A local directory for what is local by nature: staging dirs of job outputs, streams spooled before upload. */
  localDir: string;
  /** Where credentials are read from (AWS_ACCESS_KEY_ID…, AWS_PROFILE); `process.env` by default. */
  env?: Env;
  /** Told about every blob found corrupt (and quarantined). Default: a process warning. */
  onCorrupt?: (report: CorruptBlobReport) => void;
  /** Attempts per S3 request, transient failures retried with exponential backoff and jitter (default 5). */
  maxAttempts?: number;
  /** Parts of one upload in flight at once (default 4): with 8 MiB parts, about 40 MiB of memory per upload. */
  queueSize?: number;
  /** Uploads at once, over all callers (default 4); more wait their turn, which bounds memory. */
  maxUploads?: number;
  /** Milliseconds to wait for a TCP connection (default 10 s) and for a silent socket (default 120 s). */
  connectionTimeoutMs?: number;
  socketTimeoutMs?: number;
}

/** A wait that does not keep the process alive by itself. */
const delay = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms).unref());

/** Exponential backoff with full jitter, as the SDK's standard retry strategy does: 100 ms, 200 ms… up to 5 s. */
function backoffMs(failures: number): number {
  return Math.random() * Math.min(5000, 100 * 2 ** failures);
}

/** At most `limit` holders at once; the others wait in order. */
class Gate {
  private active = 0;
  private readonly waiting: (() => void)[] = [];
  constructor(private readonly limit: number) {}
  async run<T>(fn: () => Promise<T>): Promise<T> {
    if (this.active >= this.limit) await new Promise<void>((r) => this.waiting.push(r));
    else this.active++;
    try {
      return await fn();
    } finally {
      const next = this.waiting.shift();
      if (next) next();
      else this.active--;
    }
  }
}

/**
 * Content-addressed blobs in an S3 bucket (AWS S3 or an S3-compatible server), docs/adr/0012:
 *
 *   <prefix>/sha256/ab/<64 hex>               the blob of `sha256:ab…` (content up to 8 MiB)
 *   <prefix>/sha256t/ab/<64 hex>              the blob of `sha256t:ab…` (content over 8 MiB)
 *   <prefix>/quarantine/<name>.<ms>[.json]    blobs whose bytes turned out not to match their key, and why
 *
 * A blob is uploaded straight to its content key, a single PUT up to one 8 MiB block and a multipart upload
 * above. Its content id is computed from the bytes as they are handed to the upload, and the last part (the
 * whole body of a single PUT) is only sent once that id is known to be the key's: a mismatch aborts the upload,
 * and since S3 makes an object visible only when its PUT or CompleteMultipartUpload succeeds, no other bytes and
 * no half-written object ever appear under a content id. Reads are checked the same way, their last chunk held
 * back until the id matches; a blob that does not is quarantined.
 *
 * What is local by nature stays local, under `localDir`: staging directories for job outputs (put with
 * `{ move: true }`, uploaded then removed) and streams spooled to a file before their upload (their id, hence
 * their key, is only known at their end).
 */
export class S3Storage implements ArtifactStorage {
  readonly bucket: string;
  /** '' or `some/prefix/`. */
  private readonly keyPrefix: string;
  private readonly where: string;
  private readonly client: S3Client;
  private readonly tmpDir: string;
  private readonly stagingRoot: string;
  private readonly maxAttempts: number;
  private readonly queueSize: number;
  private readonly uploads: Gate;
  /** Uploads under way, by content id: a second put of the same bytes waits for the first. */
  private readonly inflight = new Map<ContentHash, Promise<unknown>>();
  private ready: Promise<void> | undefined;

  constructor(private readonly options: S3StorageOptions) {
    this.bucket = options.bucket;
    const prefix = (options.prefix ?? '').replace(/^\/+|\/+$/g, '');
    this.keyPrefix = prefix === '' ? '' : `${prefix}/`;
    this.where = s3Where(options);
    this.maxAttempts = options.maxAttempts ?? 5;
    this.queueSize = options.queueSize ?? 4;
    this.uploads = new Gate(options.maxUploads ?? 4);
    this.client = new S3Client(
      s3ClientConfig(options, options.env ?? process.env, {
        maxAttempts: this.maxAttempts,
        connectionTimeoutMs: options.connectionTimeoutMs ?? 10_000,
        socketTimeoutMs: options.socketTimeoutMs ?? 120_000,
      }),
    );
    this.tmpDir = join(options.localDir, 'tmp');
    this.stagingRoot = join(options.localDir, 'staging');
  }

  /**
   * Checks that the bucket is there and that the credentials are accepted (one HEAD request), and makes the
   * local directories. Fails with an error naming the bucket and the endpoint, and never a secret.
   */
  init(): Promise<void> {
    this.ready ??= this.open().catch((err: unknown) => {
      this.ready = undefined;
      throw err;
    });
    return this.ready;
  }

  private async open(): Promise<void> {
    await mkdir(this.tmpDir, { recursive: true });
    await mkdir(this.stagingRoot, { recursive: true });
    try {
      await this.client.send(new HeadBucketCommand({ Bucket: this.bucket }));
    } catch (err) {
      const status = (err as { $metadata?: { httpStatusCode?: number } }).$metadata?.httpStatusCode;
      if (status === 404 || (err as Error).name === 'NoSuchBucket' || (err as Error).name === 'NotFound') {
        throw new StorageError(
          `the S3 bucket "${this.bucket}" does not exist at ${this.where}: create it, or set storage.s3.bucket` +
            ` (and storage.s3.endpoint for an S3-compatible server) to one that exists`,
        );
      }
      throw new StorageError(
        `cannot open the S3 bucket "${this.bucket}" at ${this.where}: ${describeS3Error(err)}`,
      );
    }
  }

  /** The object key of a content id. */
  keyOf(hash: ContentHash): string {
    const { scheme, hex } = splitContentHash(hash);
    return `${this.keyPrefix}${scheme}/${hex.slice(0, 2)}/${hex}`;
  }

  /** Where the blob is, for messages: `s3://bucket/key`. */
  urlOf(hash: ContentHash): string {
    return `s3://${this.bucket}/${this.keyOf(hash)}`;
  }

  private checked(hash: string): ContentHash {
    if (!isContentHash(hash)) {
      throw new StorageError(`not a content hash: ${JSON.stringify(hash)} (${contentHashProblem(hash)})`);
    }
    return hash;
  }

  private fail(action: string, err: unknown): StorageError {
    if (err instanceof StorageError) return err;
    return new StorageError(
      `${action} (S3 bucket "${this.bucket}" at ${this.where}): ${describeS3Error(err)}`,
    );
  }

  path(): undefined {
    return undefined;
  }

  async putFile(path: string, options: PutFileOptions = {}): Promise<PutResult> {
    await this.init();
    const st = await stat(path).catch((err: NodeJS.ErrnoException) => {
      throw new StorageError(
        err.code === 'ENOENT' ? `cannot store ${path}: no such file` : `cannot store ${path}: ${err.message}`,
      );
    });
    if (!st.isFile()) throw new StorageError(`cannot store ${path}: not a file`);
    let claimed: ContentHash;
    if (options.expectedHash !== undefined) {
      claimed = this.checked(options.expectedHash);
    } else {
      // The key is the id: hash the file first (locally, fast), then check the same id again as it is sent.
      claimed = (await hashFile(path)).hash;
    }
    let blob: PutResult;
    try {
      blob = await this.upload(claimed, st.size, () =>
        createReadStream(path, { highWaterMark: 1024 * 1024 }),
      );
    } catch (err) {
      if (err instanceof CorruptBlobError && options.expectedHash === undefined) {
        throw new StorageError(`cannot store ${path}: it changed while it was being stored`);
      }
      throw err instanceof StorageError ? err : this.fail(`cannot store ${path}`, err);
    }
    if (options.move) await rm(path, { force: true });
    return blob;
  }

  putBytes(data: Uint8Array): Promise<StoredBlob> {
    return this.putStream(Readable.from([data]));
  }

  async putStream(stream: Readable | AsyncIterable<Uint8Array>): Promise<StoredBlob> {
    await this.init();
    // Spooled to a local file first: the key is the content id, known only at the stream's end.
    const tmp = join(this.tmpDir, `${process.pid}-${Date.now()}-${randomBytes(6).toString('hex')}`);
    const h = new ContentHasher();
    const hashing = new Transform({
      transform(chunk: Buffer | string, _encoding, callback) {
        const bytes = typeof chunk === 'string' ? Buffer.from(chunk) : chunk;
        h.update(bytes);
        callback(null, bytes);
      },
    });
    try {
      try {
        await pipeline(stream, hashing, createWriteStream(tmp, { flags: 'wx' }));
      } catch (err) {
        throw new StorageError(`cannot store stream: ${(err as Error).message}`, { cause: err });
      }
      const spooled = h.digest();
      try {
        const { hash, size } = await this.upload(spooled.hash, spooled.size, () =>
          createReadStream(tmp, { highWaterMark: 1024 * 1024 }),
        );
        return { hash, size };
      } catch (err) {
        if (err instanceof CorruptBlobError) {
          throw new StorageError(`cannot store stream: its spool file changed on disk (${err.message})`);
        }
        throw this.fail('cannot store stream', err);
      }
    } finally {
      await rm(tmp, { force: true });
    }
  }

  /**
   * Uploads the bytes `open` gives under `hash`, unless the bucket has them already. The id is computed as the
   * bytes go out, and a mismatch fails the body stream before its last part is handed over: the upload is
   * aborted and CorruptBlobError says what the bytes hash to.
   */
  private async upload(hash: ContentHash, size: number, open: () => Readable): Promise<PutResult> {
    // The same content being uploaded by another caller: once it is there, so is ours.
    const running = this.inflight.get(hash);
    if (running) {
      await running.catch(() => undefined);
      if ((await this.size(hash)) === size) return { hash, size };
    }
    const task = this.uploads.run(async () => {
      // Already stored (same bytes, so the same size; a different size cannot be these bytes: replace it).
      if ((await this.size(hash)) === size) return { hash, size };
      return this.uploadOnce(hash, open);
    });
    this.inflight.set(hash, task);
    try {
      return await task;
    } finally {
      if (this.inflight.get(hash) === task) this.inflight.delete(hash);
    }
  }

  private async uploadOnce(hash: ContentHash, open: () => Readable): Promise<PutResult> {
    const source = open();
    let actual: StoredBlob | undefined;
    async function* verified(): AsyncGenerator<Buffer> {
      const h = new ContentHasher();
      for await (const chunk of source) {
        h.update(chunk as Buffer);
        yield chunk as Buffer;
      }
      actual = h.digest();
      // Thrown before the body ends, so before lib-storage sends the last part or the single PUT.
      if (actual.hash !== hash) throw new CorruptBlobError(hash, actual.hash);
    }
    const upload = new Upload({
      client: this.client,
      params: {
        Bucket: this.bucket,
        Key: this.keyOf(hash),
        Body: Readable.from(verified(), { objectMode: false, highWaterMark: 1024 * 1024 }),
        ContentType: 'application/octet-stream',
        Metadata: { 'content-id': hash },
      },
      partSize: S3_PART_BYTES,
      queueSize: this.queueSize,
      leavePartsOnError: false,
    });
    try {
      await upload.done();
    } catch (err) {
      source.destroy();
      // Whatever lib-storage reports (the abort of the upload may fail as well), a mismatch is a mismatch.
      if (actual && actual.hash !== hash) throw new CorruptBlobError(hash, actual.hash);
      throw this.fail(`cannot upload ${hash}`, err);
    }
    if (!actual) throw new StorageError(`cannot upload ${hash}: the upload ended before its bytes did`);
    return { hash, size: actual.size, readFile: true };
  }

  async has(hash: string): Promise<boolean> {
    return (await this.size(hash)) !== undefined;
  }

  async size(hash: string): Promise<number | undefined> {
    if (!isContentHash(hash)) return undefined;
    try {
      const head = await this.client.send(
        new HeadObjectCommand({ Bucket: this.bucket, Key: this.keyOf(hash) }),
      );
      return head.ContentLength ?? 0;
    } catch (err) {
      if (isS3NotFound(err)) return undefined;
      throw this.fail(`cannot look up ${hash}`, err);
    }
  }

  private async get(hash: ContentHash, range?: { from: number; etag: string | undefined }) {
    try {
      return await this.client.send(
        new GetObjectCommand({
          Bucket: this.bucket,
          Key: this.keyOf(hash),
          ...(range ? { Range: `bytes=${range.from}-`, IfMatch: range.etag } : {}),
        }),
      );
    } catch (err) {
      if (isS3NotFound(err)) throw new NotFoundError(`blob ${hash} is not in the store`);
      throw this.fail(`cannot read ${hash}`, err);
    }
  }

  /**
   * The blob's bytes, streamed (memory stays bounded). A download cut short resumes where it stopped (a ranged
   * GET of the same version, with backoff); the content id is computed on the way and the last chunk is only
   * handed over once it matches, so a reader never sees a corrupt blob end normally: it gets an error, and the
   * blob is quarantined once a second read confirms it.
   */
  async openRead(hash: string): Promise<Readable> {
    const id = this.checked(hash);
    const first = await this.get(id);
    return Readable.from(this.readVerified(id, first), { objectMode: false });
  }

  private async *readVerified(hash: ContentHash, first: GetObjectCommandOutput): AsyncGenerator<Buffer> {
    const total = first.ContentLength;
    const etag = first.ETag;
    const hasher = ContentHasher.toCheck(hash);
    let body = first.Body as Readable;
    let offset = 0;
    let failures = 0;
    let held: Buffer | undefined;
    try {
      for (;;) {
        try {
          for await (const chunk of body) {
            const bytes = chunk as Buffer;
            offset += bytes.length;
            hasher.update(bytes);
            if (held) yield held;
            held = bytes;
          }
          if (total !== undefined && offset < total) {
            throw new Error(`the connection ended after ${offset} of ${total} bytes`);
          }
          break;
        } catch (err) {
          if (err instanceof StorageError) throw err;
          body.destroy();
          if (++failures >= this.maxAttempts) throw this.fail(`cannot read ${hash}`, err);
          await delay(backoffMs(failures));
          body = (await this.get(hash, { from: offset, etag })).Body as Readable;
        }
      }
      const got = hasher.digest();
      if (got.hash !== hash) {
        // Read again from the start before taking the blob out: bytes damaged on the way are not the blob's fault.
        const again = await this.verify(hash);
        throw new StorageError(
          again.ok
            ? `blob ${hash} arrived damaged (its bytes hashed to ${got.hash}); a second read was sound, read it again`
            : `blob ${hash} is corrupt: ${again.message}`,
        );
      }
      if (held) yield held;
    } finally {
      body.destroy();
    }
  }

  /**
   * Reads a blob whole and checks its bytes against its id; a blob that does not match is quarantined (and
   * reported). For scrubs and migrations; openRead checks as it goes.
   */
  async verify(hash: string): Promise<BlobVerification> {
    const id = this.checked(hash);
    let response: GetObjectCommandOutput;
    try {
      response = await this.get(id);
    } catch (err) {
      if (err instanceof NotFoundError)
        return { ok: false, actual: null, message: `${id} is not in the store` };
      throw err;
    }
    const hasher = ContentHasher.toCheck(id);
    try {
      for await (const chunk of response.Body as Readable) hasher.update(chunk as Buffer);
    } catch (err) {
      throw this.fail(`cannot read ${id}`, err);
    }
    const actual = hasher.digest().hash;
    if (actual === id) return { ok: true };
    return this.quarantine(id, actual, response.ETag);
  }

  /**
   * Moves an object whose bytes do not match its key out of the way (copied under quarantine/ with a .json
   * saying why, then deleted), unless it was replaced meanwhile, and says so loudly.
   */
  private async quarantine(
    hash: ContentHash,
    actual: ContentHash,
    etag: string | undefined,
  ): Promise<BlobVerification> {
    const key = this.keyOf(hash);
    const name = `${this.keyPrefix}quarantine/${fileNameOf(hash)}.${Date.now()}`;
    let quarantinedTo: string | null = null;
    let keptNot = '';
    try {
      await this.client.send(
        new CopyObjectCommand({
          Bucket: this.bucket,
          Key: name,
          CopySource: `${encodeURIComponent(this.bucket)}/${key.split('/').map(encodeURIComponent).join('/')}`,
          CopySourceIfMatch: etag,
        }),
      );
      quarantinedTo = `s3://${this.bucket}/${name}`;
    } catch (err) {
      if (isS3NotFound(err)) return { ok: false, actual, message: `${hash} is no longer in the store` };
      keptNot = ` (its bytes could not be kept: ${describeS3Error(err)})`;
    }
    // Put again meanwhile, with bytes that were hashed on their way: those are right, leave them.
    const now = await this.client
      .send(new HeadObjectCommand({ Bucket: this.bucket, Key: key }))
      .catch(() => undefined);
    if (now && etag !== undefined && now.ETag !== etag) return { ok: true };
    try {
      await this.client.send(new DeleteObjectCommand({ Bucket: this.bucket, Key: key }));
    } catch (err) {
      throw this.fail(`cannot take the corrupt blob ${hash} out of the store`, err);
    }
    const found = `its bytes hash to ${actual}, not to ${hash}`;
    const message = quarantinedTo
      ? `${found}; the object was moved to ${quarantinedTo}`
      : `${found}; the object was deleted${keptNot}`;
    if (quarantinedTo) {
      const why = { hash, actual, message, at: new Date().toISOString() };
      await this.client
        .send(
          new PutObjectCommand({
            Bucket: this.bucket,
            Key: `${name}.json`,
            Body: JSON.stringify(why, null, 2) + '\n',
            ContentType: 'application/json',
          }),
        )
        .catch(() => undefined);
    }
    const report: CorruptBlobReport = { hash, actual, quarantinedTo, message };
    if (this.options.onCorrupt) this.options.onCorrupt(report);
    else process.emitWarning(`corrupt blob ${hash}: ${message}`, { code: 'DEEPFORGE_CORRUPT_BLOB' });
    return { ok: false, actual, message };
  }

  async delete(hash: string): Promise<void> {
    const id = this.checked(hash);
    try {
      await this.client.send(new DeleteObjectCommand({ Bucket: this.bucket, Key: this.keyOf(id) }));
    } catch (err) {
      if (isS3NotFound(err)) return;
      throw this.fail(`cannot delete ${id}`, err);
    }
  }

  createStagingDir(label: string): Promise<string> {
    return createStagingDir(this.stagingRoot, label);
  }

  /**
   * Removes local spool files and staging directories older than `maxAgeMs` left by processes that died, and
   * aborts multipart uploads under the prefix begun that long ago (their parts are invisible, but stored).
   * Servers that cannot list uploads (some emulators) are skipped: a bucket lifecycle rule does the same.
   */
  async sweep(maxAgeMs: number, now = Date.now()): Promise<number> {
    let removed = 0;
    for (const dir of [this.tmpDir, this.stagingRoot]) removed += await removeOldEntries(dir, maxAgeMs, now);
    try {
      let keyMarker: string | undefined;
      let uploadIdMarker: string | undefined;
      do {
        const page = await this.client.send(
          new ListMultipartUploadsCommand({
            Bucket: this.bucket,
            Prefix: this.keyPrefix,
            KeyMarker: keyMarker,
            UploadIdMarker: uploadIdMarker,
          }),
        );
        for (const u of page.Uploads ?? []) {
          if (!u.Key || !u.UploadId || !u.Initiated || now - u.Initiated.getTime() <= maxAgeMs) continue;
          await this.client.send(
            new AbortMultipartUploadCommand({ Bucket: this.bucket, Key: u.Key, UploadId: u.UploadId }),
          );
          removed++;
        }
        keyMarker = page.IsTruncated ? page.NextKeyMarker : undefined;
        uploadIdMarker = page.IsTruncated ? page.NextUploadIdMarker : undefined;
      } while (keyMarker !== undefined);
    } catch {
      // Not listed (NotImplemented on some servers) or not allowed: the lifecycle rule of ADR 0012 covers it.
    }
    return removed;
  }

  /** Closes the client's connections. */
  async close(): Promise<void> {
    this.client.destroy();
  }
}
