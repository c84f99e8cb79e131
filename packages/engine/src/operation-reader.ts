import { createHash } from 'node:crypto';
import { existsSync, readFileSync, statSync } from 'node:fs';
import { mkdir, readdir, rename, rm, stat, writeFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { Worker } from 'node:worker_threads';
import {
  OPERATIONS_DIR,
  projectOperationsOf,
  type OperationReading,
  type Project,
  type ProjectOperations,
} from '@deepforge/core';

export interface OperationReaderOptions {
  /** Worker threads reading at once. */
  workers?: number;
  /** How long one operation may take to read before its worker is stopped (ms). */
  deadlineMs?: number;
  /** Readings kept, by code. */
  cacheEntries?: number;
  /** The heap a worker may grow to (MiB); past it the worker dies and the operation gets an error. */
  workerHeapMb?: number;
  /**
   * A folder where readings are kept between processes (`deepforge run`: the user's cache folder), one file per
   * reading, named by a digest of the reader's code, the operation's name and its code. Used only when the
   * workers load core's reading bundle, whose digest names the reader: the modules of a build have no one file
   * that changes whenever the parser does.
   */
  keepIn?: string;
}

/** Readings kept in a `keepIn` folder; past it the least recently written go first. */
export const KEPT_READINGS = 2000;

export const OPERATION_READ_DEADLINE_MS = 2000;

/**
 * The worker's code (plain JS, evaluated): it loads core (built, from its package's `default` export, or the
 * CommonJS bundle of what it uses, required: no ES module loader to start in the thread) and reads one operation
 * per message with readOperationFile, the function parseProjectOperations uses.
 */
const WORKER_SOURCE = `
'use strict';
const { parentPort, workerData } = require('node:worker_threads');
(workerData.core.endsWith('.cjs')
  ? Promise.resolve().then(() => require(require('node:url').fileURLToPath(workerData.core)))
  : import(workerData.core)
).then(
  (core) => {
    parentPort.on('message', (m) => {
      let reply;
      try {
        reply = { id: m.id, reading: core.readOperationFile(m.name, m.code) };
      } catch (e) {
        reply = { id: m.id, error: String((e && e.message) || e) };
      }
      parentPort.postMessage(reply);
    });
    parentPort.postMessage({ ready: true });
  },
  (e) => parentPort.postMessage({ failed: String((e && e.message) || e) }),
);
`;

/**
 * Where the built core is: its package's `default` export. Not simply what `@deepforge/core` resolves to, which
 * under the `source` condition (tests, dev) is TypeScript that a worker thread cannot load. Beside it, the bundle
 * of what a worker uses (scripts/bundle-cli.mjs: one file instead of core's modules, zod's and Lezer's; docs/adr/0029)
 * is taken while it is newer than core's build.
 */
function builtCoreUrl(): string {
  let dir = dirname(createRequire(import.meta.url).resolve('@deepforge/core'));
  while (!existsSync(join(dir, 'package.json'))) {
    if (dirname(dir) === dir) throw new Error('@deepforge/core has no package.json');
    dir = dirname(dir);
  }
  const manifest = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')) as {
    exports: { '.': { default: string } };
  };
  const main = join(dir, manifest.exports['.'].default);
  const bundled = statSync(join(dirname(main), READER_BUNDLE), { throwIfNoEntry: false })?.mtimeMs;
  const built = statSync(join(dirname(main), '.tsbuildinfo'), { throwIfNoEntry: false })?.mtimeMs;
  if (bundled !== undefined && (built === undefined || built <= bundled)) {
    return pathToFileURL(join(dirname(main), READER_BUNDLE)).href;
  }
  return pathToFileURL(main).href;
}

/** scripts/bundle-cli.mjs writes it beside core's built index.js. */
const READER_BUNDLE = 'operation-reading.bundle.cjs';

interface Job {
  id: number;
  name: string;
  code: string;
  /** The file the reading is kept in (`keepIn`), when it comes back from core. */
  keepAt: string | undefined;
  resolve(reading: OperationReading): void;
}

interface Slot {
  worker: Worker;
  ready: boolean;
  job: Job | undefined;
  timer: NodeJS.Timeout | undefined;
}

type WorkerMessage =
  | { ready: true }
  | { failed: string }
  | { id: number; reading: OperationReading }
  | { id: number; error: string };

function readingKey(name: string, code: string): string {
  return createHash('sha256').update(name).update('\0').update(code).digest('hex');
}

/** The reading a keepIn file holds; undefined when there is none or it is not one (then it is read again). */
function keptReading(file: string): OperationReading | undefined {
  let value: unknown;
  try {
    value = JSON.parse(readFileSync(file, 'utf8'));
  } catch {
    return undefined;
  }
  const reading = value as Partial<OperationReading> | null;
  return typeof reading === 'object' &&
    reading !== null &&
    'interface' in reading &&
    typeof reading.interface === 'object' &&
    Array.isArray(reading.diagnostics)
    ? (reading as OperationReading)
    : undefined;
}

/** Keeps the newest KEPT_READINGS files of a keepIn folder. */
async function pruneKept(dir: string): Promise<void> {
  const names = (await readdir(dir)).filter((n) => n.endsWith('.json'));
  if (names.length <= KEPT_READINGS) return;
  const dated = await Promise.all(
    names.map(async (n) => ({ n, at: (await stat(join(dir, n)).catch(() => undefined))?.mtimeMs ?? 0 })),
  );
  dated.sort((a, b) => b.at - a.at);
  await Promise.all(dated.slice(KEPT_READINGS).map(({ n }) => rm(join(dir, n), { force: true })));
}

function failedReading(name: string, why: string, code = 'read-failed'): OperationReading {
  const file = `${OPERATIONS_DIR}/${name}.py`;
  return {
    interface: null,
    diagnostics: [{ severity: 'error', code, message: `${file}: ${why}`, file, operation: name }],
  };
}

/**
 * Reads operation code (core's interface parser) on worker threads, so that no code, however made, holds up
 * the event loop the web server and the engine share: a reading that takes longer than the deadline has its
 * worker terminated (and replaced on the next read) and gives the operation an error "could not be read within
 * 2 s" instead of a hang.
 *
 * Nothing is read inline, not even small code: core bounds the parse (size, nesting, error recovery), but
 * within those bounds pathological code still costs up to some 0.5 ms a character, so no size is cheap enough
 * to be sure of; a worker round trip costs well under a millisecond. Readings are cached by a hash of name and
 * code, so that the GETs that list operations parse nothing again until the code changes; a timed-out reading
 * is cached too, so the same code does not cost a worker 2 s on every request.
 */
export class OperationReader {
  private readonly workers: number;
  private readonly deadlineMs: number;
  private readonly cacheEntries: number;
  private readonly workerHeapMb: number;
  private readonly slots: (Slot | undefined)[];
  private readonly queue: Job[] = [];
  /** Finished and in-flight readings, oldest first (a Map keeps insertion order). */
  private readonly cache = new Map<string, Promise<OperationReading>>();
  private nextId = 1;
  private closed = false;
  private coreUrl: string | undefined;
  private readonly keepIn: string | undefined;
  /** The digest of the reading bundle; null when readings are not kept (no keepIn, no bundle). */
  private readerDigest: string | null | undefined;
  /** Readings being written to keepIn: close() waits for them. */
  private readonly keeping = new Set<Promise<void>>();
  private started = 0;

  constructor(options: OperationReaderOptions = {}) {
    this.workers = Math.max(1, options.workers ?? 2);
    this.deadlineMs = options.deadlineMs ?? OPERATION_READ_DEADLINE_MS;
    this.cacheEntries = options.cacheEntries ?? 1000;
    this.workerHeapMb = options.workerHeapMb ?? 256;
    this.keepIn = options.keepIn;
    this.slots = Array.from({ length: this.workers }, () => undefined);
  }

  /** The interface and diagnostics of operations/<name>.py, as core's readOperationFile gives them. */
  read(name: string, code: string): Promise<OperationReading> {
    const key = readingKey(name, code);
    const hit = this.cache.get(key);
    if (hit) {
      this.cache.delete(key);
      this.cache.set(key, hit);
      return hit;
    }
    const keepAt = this.keptFile(key);
    const kept = keepAt === undefined ? undefined : keptReading(keepAt);
    const reading =
      kept !== undefined
        ? Promise.resolve(kept)
        : new Promise<OperationReading>((resolve) => {
            if (this.closed) {
              resolve(failedReading(name, 'could not be read: the server is shutting down'));
              return;
            }
            this.queue.push({ id: this.nextId++, name, code, keepAt, resolve });
            this.pump();
          });
    this.cache.set(key, reading);
    while (this.cache.size > this.cacheEntries) {
      this.cache.delete(this.cache.keys().next().value as string);
    }
    return reading;
  }

  /** parseProjectOperations, off the event loop. */
  async readProject(project: Pick<Project, 'operations'>): Promise<ProjectOperations> {
    const names = Object.keys(project.operations);
    const readings = await Promise.all(names.map((name) => this.read(name, project.operations[name]!.code)));
    return projectOperationsOf(Object.fromEntries(names.map((name, i) => [name, readings[i]!])));
  }

  /**
   * Takes what `keepIn` holds for these operations (name → code) into memory; true when it held every one, so
   * that reading them needs no worker. False without `keepIn`.
   */
  takeKept(operations: Readonly<Record<string, string>>): boolean {
    let all = true;
    for (const [name, code] of Object.entries(operations)) {
      const key = readingKey(name, code);
      const file = this.keptFile(key);
      const kept = file === undefined ? undefined : keptReading(file);
      if (kept === undefined) all = false;
      else this.cache.set(key, Promise.resolve(kept));
    }
    return all;
  }

  /**
   * Starts a worker before any reading is asked for (one that is about to be: `deepforge run`), so that loading
   * core overlaps the caller's own work. Unreferenced until a reading waits for it: it keeps no process alive.
   */
  warm(): void {
    if (this.closed || this.slots.some((s) => s !== undefined)) return;
    this.start(0).worker.unref();
  }

  /** Stops the workers; what is still waiting is answered with an error. */
  async close(): Promise<void> {
    this.closed = true;
    for (const job of this.queue.splice(0)) {
      job.resolve(failedReading(job.name, 'could not be read: the server is shutting down'));
    }
    await Promise.all(
      this.slots.map(async (slot, i) => {
        if (!slot) return;
        this.slots[i] = undefined;
        if (slot.timer) clearTimeout(slot.timer);
        slot.job?.resolve(failedReading(slot.job.name, 'could not be read: the server is shutting down'));
        await slot.worker.terminate();
      }),
    );
    await Promise.all(this.keeping);
  }

  /** The file of keepIn that holds, or will hold, the reading of a name and code (their readingKey). */
  private keptFile(key: string): string | undefined {
    if (this.keepIn === undefined) return undefined;
    if (this.readerDigest === undefined) {
      this.coreUrl ??= builtCoreUrl();
      this.readerDigest = this.coreUrl.endsWith('.cjs')
        ? createHash('sha256')
            .update(readFileSync(fileURLToPath(this.coreUrl)))
            .digest('hex')
        : null;
    }
    if (this.readerDigest === null) return undefined;
    const digest = createHash('sha256').update(this.readerDigest).update('\0').update(key).digest('hex');
    return join(this.keepIn, `${digest}.json`);
  }

  /** Writes a reading core gave into keepIn, whole or not at all; a folder that cannot be written keeps nothing. */
  private keep(file: string, reading: OperationReading): void {
    const dir = dirname(file);
    const tmp = `${file}.${process.pid}.${this.nextId++}.tmp`;
    const writing = (async () => {
      try {
        await mkdir(dir, { recursive: true });
        await writeFile(tmp, JSON.stringify(reading));
        await rename(tmp, file);
        await pruneKept(dir);
      } catch {
        await rm(tmp, { force: true }).catch(() => undefined);
      }
    })();
    this.keeping.add(writing);
    void writing.then(() => this.keeping.delete(writing));
  }

  /** Hands waiting jobs to idle workers, starting workers (up to the pool's size) for those left waiting. */
  private pump(): void {
    while (this.queue.length > 0) {
      const i = this.slots.findIndex((s) => s?.ready === true && !s.job);
      if (i >= 0) {
        const slot = this.slots[i]!;
        const job = this.queue.shift()!;
        slot.job = job;
        slot.worker.ref();
        // The deadline counts from here: neither the wait in the queue nor a worker's start-up (loading core
        // takes a few hundred milliseconds) is the code's doing.
        slot.timer = setTimeout(() => this.timeOut(i, slot), this.deadlineMs);
        slot.worker.postMessage({ id: job.id, name: job.name, code: job.code });
        continue;
      }
      const starting = this.slots.filter((s): s is Slot => s !== undefined && !s.ready);
      // A worker started ahead (warm) is referenced once a reading waits for it.
      for (const s of starting) s.worker.ref();
      const free = this.slots.findIndex((s) => s === undefined);
      if (starting.length >= this.queue.length || free < 0) return;
      this.start(free);
    }
  }

  /** Worker threads started so far. */
  get workersStarted(): number {
    return this.started;
  }

  private start(i: number): Slot {
    this.started++;
    this.coreUrl ??= builtCoreUrl();
    const worker = new Worker(WORKER_SOURCE, {
      eval: true,
      workerData: { core: this.coreUrl },
      resourceLimits: { maxOldGenerationSizeMb: this.workerHeapMb },
    });
    const slot: Slot = { worker, ready: false, job: undefined, timer: undefined };
    this.slots[i] = slot;
    worker.on('message', (m: WorkerMessage) => {
      if (this.slots[i] !== slot) return;
      if ('ready' in m) {
        slot.ready = true;
        if (!slot.job) worker.unref();
        this.pump();
      } else if ('failed' in m) {
        this.fail(i, slot, `could not be read: the operation reader did not start (${m.failed})`, true);
      } else {
        const job = slot.job;
        if (!job || job.id !== m.id) return;
        this.finish(slot);
        if ('reading' in m && job.keepAt !== undefined) this.keep(job.keepAt, m.reading);
        job.resolve('reading' in m ? m.reading : failedReading(job.name, `could not be read: ${m.error}`));
        this.pump();
      }
    });
    const gone = (err?: Error): void => {
      if (this.slots[i] !== slot) return;
      this.fail(i, slot, `could not be read: the reader stopped (${err?.message ?? 'it exited'})`, false);
    };
    worker.on('error', gone);
    worker.on('exit', () => gone());
    // Referenced while it starts: it starts only for a queued reading, which someone awaits (a script whose only
    // pending work is that reading must not exit under it). Once ready and idle it is unreferenced.
    return slot;
  }

  private finish(slot: Slot): void {
    if (slot.timer) clearTimeout(slot.timer);
    slot.timer = undefined;
    slot.job = undefined;
    slot.worker.unref();
  }

  private timeOut(i: number, slot: Slot): void {
    if (this.slots[i] !== slot || !slot.job) return;
    const seconds = this.deadlineMs / 1000;
    this.fail(
      i,
      slot,
      `could not be read within ${seconds} s: the code is too complex to parse (simplify it or split it into utils/ modules)`,
      false,
      'read-timeout',
    );
  }

  /**
   * Drops a worker: its job (and, when it never started, everything waiting, since the next one would fail
   * alike) gets an error; the next read starts a fresh worker.
   */
  private fail(i: number, slot: Slot, why: string, everything: boolean, code?: string): void {
    this.slots[i] = undefined;
    const job = slot.job;
    this.finish(slot);
    void slot.worker.terminate();
    job?.resolve(failedReading(job.name, why, code));
    if (everything) {
      for (const waiting of this.queue.splice(0)) waiting.resolve(failedReading(waiting.name, why, code));
    }
    this.pump();
  }
}
