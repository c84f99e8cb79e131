import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { writeCodeSnapshot } from './code-snapshot.js';
import { makeTempDir, removeTree } from './test-support/index.js';

let dir: string;
beforeEach(async () => {
  dir = await makeTempDir('snapshot');
});
afterEach(async () => {
  await removeTree(dir);
});

describe('writeCodeSnapshot', () => {
  it('writes every file read-only under the code folder', async () => {
    await writeCodeSnapshot(join(dir, 'code'), new Map([['operations/Print.py', 'class Print: pass\n']]));
    expect(await readFile(join(dir, 'code', 'operations', 'Print.py'), 'utf8')).toBe('class Print: pass\n');
    expect((await readdir(dir)).sort()).toEqual(['code']);
  });

  it('leaves nothing behind when a file cannot be written (a name too long for the file system)', async () => {
    const files = new Map([
      ['operations/Print.py', 'class Print: pass\n'],
      [`operations/${'A'.repeat(253)}.environment.yml`, 'dependencies: []\n'],
    ]);
    await expect(writeCodeSnapshot(join(dir, 'code'), files)).rejects.toThrow(/ENAMETOOLONG/);
    expect(await readdir(dir)).toEqual([]);
  });
});
