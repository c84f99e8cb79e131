import { mkdtemp, open, rm, unlink, writeFile, type FileHandle } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import type { NewExecution, NewJob } from './execution.store.js';
import { openSqliteStores } from './sqlite.store.js';
import type { DatabaseStores } from './database.store.js';
import { WalSync } from './wal-sync.js';

/** FileHandle's prototype, whose datasync every flush of the log goes through. */
async function fileHandlePrototype(dir: string): Promise<FileHandle> {
  const file = join(dir, 'probe');
  await writeFile(file, '');
  const fh = await open(file, 'r');
  await fh.close();
  return Object.getPrototypeOf(fh) as FileHandle;
}

/** A settled-or-not probe: what a promise has done so far, without waiting for it. */
function track<T>(p: Promise<T>): { settled: () => boolean; promise: Promise<T> } {
  let done = false;
  const promise = p.finally(() => {
    done = true;
  });
  promise.catch(() => undefined);
  return { settled: () => done, promise };
}

const turns = (ms = 30): Promise<void> => new Promise((r) => setTimeout(r, ms));

function execution(id: string): [NewExecution, NewJob[]] {
  return [
    {
      id,
      name: id,
      project: 'p',
      pipeline: 'q',
      status: 'pending',
      createdAt: 1,
      options: {},
      snapshot: {},
    },
    [
      { id: `${id}.a`, executionId: id, node: 'a', operation: 'Op' },
      { id: `${id}.b`, executionId: id, node: 'b', operation: 'Op' },
    ],
  ];
}

describe('SQLite writes: durable before they are answered, flushed off the event loop', () => {
  let dir: string;
  let file: string;
  let stores: DatabaseStores;
  let proto: FileHandle;
  /** Every flush of a file, held until `release` when `hold` is on. */
  let flushed: string[];
  let hold: boolean;
  let release: () => void;
  let held: Promise<void>;

  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'df-durable-'));
    file = join(dir, 'deepforge.db');
    proto = await fileHandlePrototype(dir);
    stores = await openSqliteStores(file);
    flushed = [];
    hold = false;
    held = new Promise((r) => (release = r));
    const real = proto.datasync;
    vi.spyOn(proto, 'datasync').mockImplementation(async function (this: FileHandle) {
      flushed.push('flush');
      if (hold) await held;
      return real.call(this);
    });
  });

  afterEach(async () => {
    release();
    vi.restoreAllMocks();
    await stores.close();
    await rm(dir, { recursive: true, force: true });
  });

  it('answers a write only once the log holding it is flushed; reads and the next transaction go on meanwhile', async () => {
    const store = stores.executions;
    hold = true;
    const first = track(store.insertExecution(...execution('e1')));
    await turns();
    expect(flushed).toHaveLength(1);
    expect(first.settled()).toBe(false);
    // The connection is not held while the disk works: a read and a second transaction run to their commit.
    expect((await store.getExecution('e1'))?.id).toBe('e1');
    const second = track(store.insertExecution(...execution('e2')));
    const third = track(store.transitionJob('e1.a', 'queued'));
    await turns();
    expect((await store.listJobs('e2')).map((j) => j.node)).toEqual(['a', 'b']);
    expect((await store.getJob('e1.a'))?.status).toBe('queued');
    // Committed after the flush under way began: they wait for the next one, which they share.
    expect(flushed).toHaveLength(1);
    expect([first.settled(), second.settled(), third.settled()]).toEqual([false, false, false]);
    hold = false;
    release();
    await Promise.all([first.promise, second.promise, third.promise]);
    expect(flushed).toHaveLength(2);
  });

  it('asks one flush per write, none for reads or for a transaction rolled back', async () => {
    const store = stores.executions;
    await store.insertExecution(...execution('e1'));
    const before = flushed.length;
    await store.transitionJob('e1.a', 'queued');
    await store.transitionJob('e1.b', 'queued');
    expect(flushed.length - before).toBe(2);
    await store.getExecution('e1');
    await store.listJobs('e1');
    expect(flushed.length - before).toBe(2);
    // The first move is written, the second is illegal (queued → success): the transaction is rolled back.
    await expect(
      store.transitionJobs([
        { id: 'e1.a', to: 'running' },
        { id: 'e1.b', to: 'success' },
      ]),
    ).rejects.toThrow();
    expect(flushed.length - before).toBe(2);
    expect((await store.getJob('e1.a'))?.status).toBe('queued');
  });

  it('fails a write whose flush fails, naming the log; the next write goes on', async () => {
    const store = stores.executions;
    await store.insertExecution(...execution('e1'));
    // Once: the next flush is the real one again.
    vi.mocked(proto.datasync).mockImplementationOnce(() =>
      Promise.reject(Object.assign(new Error('EIO: i/o error, fdatasync'), { code: 'EIO' })),
    );
    await expect(store.transitionJob('e1.a', 'queued')).rejects.toThrow(
      /write-ahead log \(.*deepforge\.db-wal\) could not be flushed to the disk: EIO/,
    );
    await store.transitionJob('e1.b', 'queued');
    expect((await store.getJob('e1.b'))?.status).toBe('queued');
  });

  it('fails writes with a clear message once its log was removed by hand', async () => {
    const store = stores.executions;
    await store.insertExecution(...execution('e1'));
    await unlink(`${file}-wal`);
    await expect(store.transitionJob('e1.a', 'queued')).rejects.toThrow(
      /write-ahead log .* could not be flushed to the disk: the file was removed while the database was open/,
    );
  });
});

describe('WalSync', () => {
  it('groups the flushes asked while one is under way into one that begins after it', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'df-walsync-'));
    const wal = join(dir, 'x-wal');
    await writeFile(wal, 'frames');
    const proto = await fileHandlePrototype(dir);
    const gates: (() => void)[] = [];
    const real = proto.datasync;
    const spy = vi.spyOn(proto, 'datasync').mockImplementation(async function (this: FileHandle) {
      await new Promise<void>((r) => gates.push(r));
      return real.call(this);
    });
    const sync = new WalSync(wal);
    try {
      const a = track(sync.sync());
      await turns();
      expect(spy).toHaveBeenCalledTimes(1);
      const b = track(sync.sync());
      const c = track(sync.sync());
      await turns();
      expect(spy).toHaveBeenCalledTimes(1);
      gates.shift()!();
      await a.promise;
      expect([b.settled(), c.settled()]).toEqual([false, false]);
      await turns();
      expect(spy).toHaveBeenCalledTimes(2);
      gates.shift()!();
      await Promise.all([b.promise, c.promise]);
      expect(sync.flushes).toBe(2);
    } finally {
      vi.restoreAllMocks();
      await sync.close();
      await rm(dir, { recursive: true, force: true });
    }
  });
});
