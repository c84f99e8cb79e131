import { createHash } from 'node:crypto';
import { mkdir, readdir } from 'node:fs/promises';
import { isAbsolute, join, normalize, sep } from 'node:path';
import { removeCodeSnapshot, writeCodeSnapshot } from '@deepforge/engine';

/** Code snapshots kept on a worker when no job uses them, for the next jobs of the same code. */
const KEPT_IDLE = 4;

/** A code file's place in the snapshot; the server sent it, so it may not climb out. */
function relativeInside(path: string): string {
  const n = normalize(path);
  if (isAbsolute(n) || n === '..' || n.startsWith(`..${sep}`)) {
    throw new Error(`the server sent a code file outside the snapshot: ${JSON.stringify(path)}`);
  }
  return n;
}

/**
 * The code snapshots of a worker's jobs (`job.assign`'s code), one read-only folder per content, shared by the
 * jobs that have the same code at once and kept for later ones: a fan-out's jobs all run the same code, and
 * writing it for each job cost ~3.5 ms of its start. As on the server's own machine (an execution's jobs share
 * its snapshot), a job cannot change the code another runs. Each worker process has its own folder under
 * `<work dir>/code/<pid>`; those of processes that are gone are removed when one starts.
 */
export class CodeDirs {
  private readonly root: string;
  /** Snapshot digest → its folder being written or written, and how many jobs hold it. */
  private readonly dirs = new Map<string, { ready: Promise<string>; holders: number; idleSince: number }>();
  /** Removals `trim` has started: `close` waits for them too. */
  private readonly removing = new Set<Promise<void>>();
  private swept: Promise<void> | undefined;

  constructor(private readonly workDir: string) {
    this.root = join(workDir, 'code', String(process.pid));
  }

  /** The folder holding `code` (written now unless a job had the same), until `release` is called. */
  async acquire(code: Readonly<Record<string, string>>): Promise<{ dir: string; release: () => void }> {
    this.swept ??= this.sweepGone();
    await this.swept;
    const files = new Map(
      Object.entries(code)
        .map(([path, text]) => [relativeInside(path), text] as const)
        .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)),
    );
    const hash = createHash('sha256');
    for (const [path, text] of files) hash.update(path).update('\0').update(text).update('\0');
    const digest = hash.digest('hex').slice(0, 32);
    let entry = this.dirs.get(digest);
    if (!entry) {
      const dir = join(this.root, digest);
      const ready = mkdir(this.root, { recursive: true })
        .then(() => writeCodeSnapshot(dir, files))
        .then(() => dir);
      entry = { ready, holders: 0, idleSince: 0 };
      this.dirs.set(digest, entry);
      // A snapshot that could not be written is not kept: the next job tries again.
      ready.catch(() => {
        if (this.dirs.get(digest) === entry) this.dirs.delete(digest);
      });
    }
    entry.holders++;
    const held = entry;
    let released = false;
    const release = (): void => {
      if (released) return;
      released = true;
      held.holders--;
      held.idleSince = Date.now();
      void this.trim();
    };
    try {
      return { dir: await held.ready, release };
    } catch (err) {
      release();
      throw err;
    }
  }

  /** Removes every snapshot of this process (the worker stops), those being removed already included. */
  async close(): Promise<void> {
    const all = [...this.dirs.values()];
    this.dirs.clear();
    await Promise.all([...all.map((e) => removeWritten(e.ready)), ...this.removing]);
  }

  /** Of the snapshots no job holds, removes all but the newest few. */
  private async trim(): Promise<void> {
    const idle = [...this.dirs.entries()]
      .filter(([, e]) => e.holders === 0)
      .sort(([, a], [, b]) => b.idleSince - a.idleSince);
    for (const [digest, e] of idle.slice(KEPT_IDLE)) {
      this.dirs.delete(digest);
      const removal = removeWritten(e.ready);
      this.removing.add(removal);
      await removal.finally(() => this.removing.delete(removal));
    }
  }

  /** Removes the snapshot folders of worker processes that no longer run (a worker killed leaves its own). */
  private async sweepGone(): Promise<void> {
    const parent = join(this.workDir, 'code');
    const names = await readdir(parent).catch(() => [] as string[]);
    for (const name of names) {
      const pid = Number(name);
      if (!Number.isInteger(pid) || pid === process.pid || alive(pid)) continue;
      for (const dir of await readdir(join(parent, name)).catch(() => [] as string[])) {
        await removeCodeSnapshot(join(parent, name, dir)).catch(() => undefined);
      }
      await removeCodeSnapshot(join(parent, name)).catch(() => undefined);
    }
  }
}

/** Removes a snapshot once written; one that failed left nothing (writeCodeSnapshot cleans up after itself). */
async function removeWritten(ready: Promise<string>): Promise<void> {
  const dir = await ready.catch(() => undefined);
  if (dir !== undefined) await removeCodeSnapshot(dir).catch(() => undefined);
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}
