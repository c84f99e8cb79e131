import { execFileSync } from 'node:child_process';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { gunzipSync, gzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { makeTempDir, removeTree } from '../test-support/temp-dir.js';
import { readTarGz } from './tar-archive.js';

let tmp: string;
beforeAll(async () => {
  tmp = await makeTempDir('tar');
  await mkdir(join(tmp, 'src', 'utils'), { recursive: true });
  await writeFile(join(tmp, 'src', 'a.txt'), 'alpha');
  await writeFile(join(tmp, 'src', 'utils', 'b.py'), 'B = 1\n');
});
afterAll(() => removeTree(tmp));

async function tgz(name: string, args: string[]): Promise<Buffer> {
  const file = join(tmp, name);
  execFileSync('tar', ['-czf', file, ...args]);
  return readFile(file);
}

describe('readTarGz', () => {
  it("reads GNU tar's files, the folder itself (./) left out", async () => {
    const files = await readTarGz(await tgz('dot.tgz', ['-C', join(tmp, 'src'), '.']));
    expect(files.map((f) => [f.path, f.data.toString()]).sort()).toEqual([
      ['a.txt', 'alpha'],
      ['utils/b.py', 'B = 1\n'],
    ]);
  });

  it('stops a small archive that unpacks past the byte limit', async () => {
    const bomb = gzipSync(Buffer.alloc(8 * 1024 * 1024));
    expect(bomb.length).toBeLessThan(64 * 1024);
    await expect(readTarGz(bomb, { maxBytes: 1024 * 1024, maxEntries: 10 })).rejects.toThrow(
      'the tarball unpacks to more than 1048576 bytes',
    );
  });

  it('counts entries against the limit', async () => {
    const archive = await tgz('many.tgz', ['-C', join(tmp, 'src'), '.']);
    await expect(readTarGz(archive, { maxBytes: 1024 * 1024, maxEntries: 2 })).rejects.toThrow(
      'the tarball has more than 2 entries',
    );
  });

  it('refuses what is not a tarball, and a header whose checksum is wrong', async () => {
    await expect(readTarGz(Buffer.from('plain'))).rejects.toThrow('not a gzipped tarball');
    const archive = await tgz('ok.tgz', ['-C', join(tmp, 'src'), 'a.txt']);
    const raw = gunzipSync(archive);
    raw[0] = raw[0]! ^ 1;
    await expect(readTarGz(gzipSync(raw))).rejects.toThrow('a header checksum is wrong');
  });
});
