import { mkdir, open, rm, type FileHandle } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import type { Readable } from 'node:stream';
import { Unzip, UnzipInflate, zipSync, type Zippable } from 'fflate';
import { badRequest, payloadTooLarge, type HttpError } from '../http/http-error.js';

/** The files of a project folder: relative POSIX paths → bytes. */
export type FileMap = Map<string, Uint8Array>;

/** The most entries (files, folders, junk) an imported zip may have: each one costs a file and a map entry. */
export const MAX_IMPORT_ENTRIES = 10_000;
/**
 * The most bytes of an imported zip's files that are held in memory (the project content: code, pipelines,
 * references), whatever `server.uploadLimit` is; everything else streams to disk.
 */
export const MAX_IMPORT_MEMORY_BYTES = 64 * 1024 * 1024;
/**
 * The inflater is fed pieces this small: DEFLATE expands a byte at most about 1032 times, so what one piece
 * inflates to (held until it is counted and written) stays under 9 MiB.
 */
const FEED_BYTES = 8 * 1024;
/** Inflated bytes gathered before they are written out. */
const WRITE_BYTES = 1024 * 1024;

/** Zip entries the operating system adds that are no part of a project. */
function isJunk(path: string): boolean {
  const parts = path.split('/');
  return parts[0] === '__MACOSX' || parts.includes('.git') || parts.at(-1) === '.DS_Store';
}

/** A path inside the project folder, or undefined for one that would leave it. */
function safePath(name: string): string | undefined {
  const path = name.replace(/^\.\//, '');
  if (path === '' || path.startsWith('/') || path.includes('\\') || /^[A-Za-z]:/.test(path)) return undefined;
  if (path.split('/').some((p) => p === '' || p === '.' || p === '..')) return undefined;
  // eslint-disable-next-line no-control-regex
  if (/[\u0000-\u001f]/.test(path)) return undefined;
  return path;
}

export interface UnzipProjectOptions {
  /** The most bytes all entries may inflate to together (`server.uploadLimit`): counted as they inflate. */
  maxBytes: number;
  /** The most bytes of the zip itself (`server.uploadLimit`). */
  maxBodyBytes: number;
  maxEntries?: number;
  maxMemoryBytes?: number;
  /** An empty folder of its own, on the file system the project folder goes to; removed when the zip is refused. */
  stagingDir: string;
  /**
   * Whether a file of the project folder is kept in memory (project content) rather than written to disk. Asked
   * with the path as it would be with and without the one top-level folder the zip may have everything in.
   */
  inMemory(path: string): boolean;
}

export interface UnzippedProject {
  /** The files kept in memory, by their path in the project folder. */
  files: FileMap;
  /** The folder (in the staging dir) holding every other file, laid out as in the project folder. */
  dir: string;
}

interface DiskWrite {
  path: string;
  data: Uint8Array;
  final: boolean;
}

/**
 * Unpacks a zipped project folder as it arrives: `deepforge.json` at the top, or in the one top-level folder
 * everything is in (how zipping a folder comes out). Limits are checked on what is actually read and inflated,
 * never on the sizes the archive declares, and the first one passed stops the reading: more entries than
 * `maxEntries` or more bytes than `maxBytes` (413); a path that would leave the folder, the same path twice or
 * an archive that is no zip (400). Content files are kept in memory (at most `maxMemoryBytes`), others stream
 * to the staging dir. A refused zip leaves nothing there.
 */
export async function unzipProject(body: Readable, options: UnzipProjectOptions): Promise<UnzippedProject> {
  const maxEntries = options.maxEntries ?? MAX_IMPORT_ENTRIES;
  const maxMemory = Math.min(options.maxMemoryBytes ?? MAX_IMPORT_MEMORY_BYTES, options.maxBytes);
  const staging = options.stagingDir;
  let failure: HttpError | undefined;
  const fail = (err: HttpError): void => {
    failure ??= err;
  };
  let entries = 0;
  let inflated = 0;
  let inMemoryBytes = 0;
  const paths = new Set<string>();
  const folders = new Set<string>();
  const memoryFiles = new Map<string, Uint8Array[]>();
  const writes: DiskWrite[] = [];
  let pending = 0;
  const keep = (path: string): boolean => {
    const slash = path.indexOf('/');
    return options.inMemory(path) || (slash > 0 && options.inMemory(path.slice(slash + 1)));
  };

  const unzip = new Unzip((file) => {
    if (failure) return;
    entries += 1;
    if (entries > maxEntries) {
      fail(payloadTooLarge(`the zip has more than ${maxEntries} entries, the most a project import takes`));
      return;
    }
    const name = file.name;
    let sink: ((data: Uint8Array, final: boolean) => void) | undefined;
    if (!name.endsWith('/') && !isJunk(name)) {
      const path = safePath(name);
      if (path === undefined) {
        fail(badRequest('body', `the zip has a path outside the project folder: ${JSON.stringify(name)}`));
        return;
      }
      if (paths.has(path) || folders.has(path)) {
        const what = paths.has(path) ? 'twice' : 'as a file and as a folder';
        fail(badRequest('body', `the zip holds ${JSON.stringify(path)} ${what}`));
        return;
      }
      const parents = path.split('/').slice(0, -1);
      for (let i = 1; i <= parents.length; i++) {
        const folder = parents.slice(0, i).join('/');
        if (paths.has(folder)) {
          fail(badRequest('body', `the zip holds ${JSON.stringify(folder)} as a file and as a folder`));
          return;
        }
        folders.add(folder);
      }
      paths.add(path);
      if (keep(path)) {
        const chunks: Uint8Array[] = [];
        memoryFiles.set(path, chunks);
        sink = (data) => {
          inMemoryBytes += data.length;
          if (inMemoryBytes > maxMemory) {
            fail(
              payloadTooLarge(
                `the project's code, pipelines and references in the zip come to more than ${maxMemory} bytes`,
              ),
            );
          } else chunks.push(data);
        };
      } else {
        writes.push({ path, data: new Uint8Array(0), final: false });
        sink = (data, final) => {
          pending += data.length;
          writes.push({ path, data, final });
        };
      }
    }
    // Entries that are skipped are inflated and counted too: a bomb under __MACOSX/ is still a bomb.
    file.ondata = (err, data, final) => {
      if (failure) return;
      if (err) {
        fail(badRequest('body', `cannot unpack ${JSON.stringify(name)} from the zip: ${err.message}`));
        return;
      }
      inflated += data.length;
      if (inflated > options.maxBytes) {
        fail(
          payloadTooLarge(
            `the zip unpacks to more than the limit of ${options.maxBytes} bytes (server.uploadLimit); stopped in ${JSON.stringify(name)}`,
          ),
        );
        return;
      }
      sink?.(data, final);
    };
    try {
      file.start();
    } catch (err) {
      fail(
        badRequest('body', `cannot unpack ${JSON.stringify(name)} from the zip: ${(err as Error).message}`),
      );
    }
  });
  unzip.register(UnzipInflate);

  const handles = new Map<string, FileHandle>();
  const made = new Set<string>();
  const flush = async (): Promise<void> => {
    const queue = writes.splice(0);
    pending = 0;
    for (let i = 0; i < queue.length;) {
      const { path } = queue[i]!;
      let handle = handles.get(path);
      if (!handle) {
        const full = join(staging, ...path.split('/'));
        if (!made.has(dirname(full))) {
          await mkdir(dirname(full), { recursive: true });
          made.add(dirname(full));
        }
        handle = await open(full, 'wx');
        handles.set(path, handle);
      }
      // The pieces of one file that follow each other go out in one call.
      const data: Uint8Array[] = [];
      let final = false;
      for (; i < queue.length && queue[i]!.path === path && !final; i++) {
        if (queue[i]!.data.length > 0) data.push(queue[i]!.data);
        final = queue[i]!.final;
      }
      if (data.length > 0) await handle.writev(data);
      if (final) {
        handles.delete(path);
        await handle.close();
      }
    }
  };
  const push = (data: Uint8Array, final: boolean): void => {
    try {
      unzip.push(data, final);
    } catch (err) {
      fail(badRequest('body', `not a zip archive, or a broken one (${(err as Error).message})`));
    }
  };

  let received = 0;
  let tail: Buffer = Buffer.alloc(0);
  let writeError: unknown;
  try {
    await mkdir(staging, { recursive: true });
    await new Promise<void>((resolve) => {
      let done = false;
      let working = Promise.resolve();
      const finish = (): void => {
        if (done) return;
        done = true;
        resolve();
      };
      const onData = (chunk: Buffer): void => {
        if (failure) return; // refused: what the client still sends is read and dropped, so the answer reaches it
        received += chunk.length;
        if (received > options.maxBodyBytes) {
          fail(
            payloadTooLarge(
              `the body is more than the limit of ${options.maxBodyBytes} bytes (server.uploadLimit)`,
            ),
          );
          finish();
          return;
        }
        tail = keepTail(tail, chunk);
        body.pause();
        working = (async () => {
          for (let i = 0; i < chunk.length && !failure; i += FEED_BYTES) {
            push(chunk.subarray(i, i + FEED_BYTES), false);
            // Written before more is inflated: disk speed paces the reading, memory stays flat.
            if (!failure && pending >= WRITE_BYTES) await flush();
          }
          if (!failure && writes.length > 0) await flush();
        })().then(
          () => {
            if (failure) finish();
            body.resume();
          },
          (err: unknown) => {
            // The disk failed, not the zip: an error of the server's, answered as one.
            writeError = err;
            fail(badRequest('body', 'the zip could not be unpacked'));
            finish();
            body.resume();
          },
        );
      };
      body.on('data', onData);
      body.once('error', (err) => {
        fail(badRequest('body', `the upload broke off (${err.message})`));
        void working.then(finish);
      });
      // 'end' may come while the last chunk is still being fed (pausing does not hold it back).
      body.once('end', () => void working.then(finish));
    });
    if (!failure) {
      push(new Uint8Array(0), true);
      if (!failure) await flush();
    }
  } catch (err) {
    writeError = err;
  } finally {
    for (const h of handles.values()) await h.close().catch(() => undefined);
  }
  if (writeError !== undefined) {
    await rm(staging, { recursive: true, force: true });
    throw writeError;
  }

  if (!failure && entries === 0) failure = badRequest('body', 'not a zip archive (it has no entries)');
  if (!failure) failure = directoryProblem(tail, entries);
  const top = failure ? '' : projectRoot(paths, memoryFiles);
  if (failure || top === undefined) {
    await rm(staging, { recursive: true, force: true });
    throw (
      failure ??
      badRequest(
        'body',
        'the zip holds no project: deepforge.json must be at its top or in its one top-level folder',
      )
    );
  }
  const files: FileMap = new Map();
  for (const [path, chunks] of memoryFiles) files.set(path.slice(top.length), concat(chunks));
  const dir = top === '' ? staging : join(staging, top.slice(0, -1));
  await mkdir(dir, { recursive: true });
  return { files, dir };
}

/** The end of central directory record: 22 bytes and a comment of at most 65535. */
const EOCD_MAX_BYTES = 22 + 0xffff;

/** The last EOCD_MAX_BYTES of the body so far. */
function keepTail(tail: Buffer, chunk: Buffer): Buffer {
  if (chunk.length >= EOCD_MAX_BYTES) return Buffer.from(chunk.subarray(chunk.length - EOCD_MAX_BYTES));
  const joined = Buffer.concat([tail, chunk]);
  return joined.length > EOCD_MAX_BYTES ? joined.subarray(joined.length - EOCD_MAX_BYTES) : joined;
}

/**
 * A zip that was cut short has no end record; one whose directory lists other entries than its body holds is
 * made to show one unpacker something else than another. Either is refused (400).
 */
function directoryProblem(tail: Buffer, entries: number): HttpError | undefined {
  for (let i = tail.length - 22; i >= 0; i--) {
    if (tail.readUInt32LE(i) !== 0x06054b50) continue;
    const listed = tail.readUInt16LE(i + 10);
    // 0xffff: a zip64 archive keeps the count elsewhere.
    if (listed !== 0xffff && listed !== entries % 0x10000) {
      return badRequest('body', `the zip's directory lists ${listed} entries, but it holds ${entries}`);
    }
    return undefined;
  }
  return badRequest('body', 'the zip is cut short: it has no end of central directory');
}

/** `''` when deepforge.json is at the top, `name/` when it is in the one top-level folder, else undefined. */
function projectRoot(paths: ReadonlySet<string>, memory: ReadonlyMap<string, unknown>): string | undefined {
  if (memory.has('deepforge.json')) return '';
  const tops = new Set([...paths].map((p) => p.split('/')[0]!));
  const [top] = tops;
  return tops.size === 1 && memory.has(`${top}/deepforge.json`) ? `${top}/` : undefined;
}

function concat(chunks: readonly Uint8Array[]): Uint8Array {
  if (chunks.length === 1) return chunks[0]!;
  return Buffer.concat(chunks);
}

/** A zip of the files, all inside the folder `root`. */
export function zipProject(files: FileMap, root: string): Uint8Array {
  const tree: Zippable = {};
  for (const [path, data] of [...files].sort(([a], [b]) => (a < b ? -1 : 1))) {
    tree[`${root}/${path}`] = [data, { level: 6, mtime: new Date('2000-01-01T00:00:00Z') }];
  }
  return zipSync(tree);
}
