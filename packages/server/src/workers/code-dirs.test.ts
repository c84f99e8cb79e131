import { access, mkdir, readFile, readdir, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { makeTempDir, removeTree } from '@deepforge/engine/test-support';
import { CodeDirs } from './code-dirs.js';

let work: string;
let dirs: CodeDirs;

beforeEach(async () => {
  work = await makeTempDir('code-dirs');
  dirs = new CodeDirs(work);
});
afterEach(async () => {
  await dirs.close();
  await removeTree(work);
});

const exists = (p: string) =>
  access(p).then(
    () => true,
    () => false,
  );
const code = (n: number) => ({ 'operations/Op.py': `class Op():\n    n = ${n}\n`, 'utils/u.py': 'x = 1\n' });

describe("a worker's code snapshots", () => {
  it('are written once per content, read-only, and shared by the jobs that have the same code', async () => {
    const [a, b] = await Promise.all([dirs.acquire(code(1)), dirs.acquire(code(1))]);
    expect(a.dir).toBe(b.dir);
    expect(await readFile(join(a.dir, 'operations', 'Op.py'), 'utf8')).toBe('class Op():\n    n = 1\n');
    // Read-only (its mode: root, as on CI, could write it anyway).
    expect((await stat(join(a.dir, 'operations', 'Op.py'))).mode & 0o222).toBe(0);
    const other = await dirs.acquire(code(2));
    expect(other.dir).not.toBe(a.dir);
    expect(await readFile(join(other.dir, 'operations', 'Op.py'), 'utf8')).toContain('n = 2');
    // The same content in another order of files is the same snapshot.
    const reordered = await dirs.acquire({
      'utils/u.py': 'x = 1\n',
      'operations/Op.py': code(1)['operations/Op.py'],
    });
    expect(reordered.dir).toBe(a.dir);
    for (const h of [a, b, other, reordered]) h.release();
  });

  it('keep the newest few that no job holds and remove the others; close removes them all', async () => {
    const held = await dirs.acquire(code(0));
    const made: string[] = [];
    for (let n = 1; n <= 6; n++) {
      const h = await dirs.acquire(code(n));
      made.push(h.dir);
      h.release();
      await new Promise((r) => setTimeout(r, 5));
    }
    await new Promise((r) => setTimeout(r, 100));
    // 4 idle kept (the newest), the two oldest idle removed; the held one stays whatever its age.
    expect(await Promise.all(made.map(exists))).toEqual([false, false, true, true, true, true]);
    expect(await exists(held.dir)).toBe(true);
    held.release();
    await dirs.close();
    expect(await Promise.all([held.dir, ...made].map(exists))).toEqual(Array(7).fill(false));
  });

  it('refuse a code file outside the snapshot, writing nothing', async () => {
    await expect(dirs.acquire({ '../escape.py': 'x = 1\n' })).rejects.toThrow(
      /outside the snapshot: "\.\.\/escape\.py"/,
    );
    await expect(dirs.acquire({ '/etc/passwd': 'x' })).rejects.toThrow(/outside the snapshot/);
    expect(await exists(join(work, 'escape.py'))).toBe(false);
  });

  it("remove what worker processes that are gone left, and keep a live one's", async () => {
    // No process has this pid (above the kernel's pid_max).
    const gone = join(work, 'code', '99999999', 'abc');
    const live = join(work, 'code', String(process.ppid), 'def');
    for (const d of [gone, live]) {
      await mkdir(join(d, 'operations'), { recursive: true });
      await writeFile(join(d, 'operations', 'Op.py'), 'x');
    }
    const h = await dirs.acquire(code(1));
    expect(await exists(join(work, 'code', '99999999'))).toBe(false);
    expect(await readdir(join(work, 'code', String(process.ppid)))).toEqual(['def']);
    h.release();
  });
});
