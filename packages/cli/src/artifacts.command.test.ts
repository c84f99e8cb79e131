import { createHash } from 'node:crypto';
import { chmod, open, readFile, readdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { cleanEnv, makeTempDir, removeTree, TEST_PYTHON } from '@deepforge/engine/test-support';
import { cli } from './test-support/run-cli.js';

let tmp: string;
let env: Record<string, string | undefined>;

beforeEach(async () => {
  tmp = await makeTempDir('cli-artifacts');
  env = cleanEnv({ DEEPFORGE_DATA_DIR: join(tmp, 'data'), DEEPFORGE_PYTHON: TEST_PYTHON, NO_COLOR: '1' });
});
afterEach(async () => {
  await removeTree(tmp);
});

/** The content id of bytes over 8 MiB, the straightforward way (docs/adr/0006). */
function treeId(data: Buffer): string {
  const block = 8 * 1024 * 1024;
  const digests: Buffer[] = [];
  for (let i = 0; i < data.length; i += block) {
    digests.push(
      createHash('sha256')
        .update(data.subarray(i, i + block))
        .digest(),
    );
  }
  return `sha256t:${createHash('sha256').update(Buffer.concat(digests)).digest('hex')}`;
}

describe('deepforge artifacts with content over 8 MiB', () => {
  it('imports it under its sha256t id, finds it by that prefix, and checks the bytes it writes out', async () => {
    const data = Buffer.alloc(20 * 1024 * 1024 + 5);
    for (let i = 0; i < data.length; i += 4093) data[i] = i % 251;
    const src = join(tmp, 'big.bin');
    await writeFile(src, data);
    const id = treeId(data);
    const hex = id.slice('sha256t:'.length);

    const imported = await cli(['artifacts', 'import', src, 'big'], env);
    expect(imported.stderr).toBe('');
    expect(imported.stdout).toBe(`imported big (20 MiB) as ${id}\n`);
    const list = await cli(['artifacts', 'list'], env);
    expect(list.stdout).toMatch(new RegExp(`^big\\s+20 MiB\\s+${hex.slice(0, 12)}\\s`, 'm'));

    for (const prefix of [`sha256t:${hex.slice(0, 8)}`, hex.slice(0, 8)]) {
      const out = join(tmp, `out-${prefix.length}`);
      const got = await cli(['artifacts', 'get', prefix, '-o', out], env);
      expect(got.code, got.stderr).toBe(0);
      expect((await readFile(out)).equals(data)).toBe(true);
    }
    expect((await cli(['artifacts', 'get', `sha256:${hex.slice(0, 8)}`, '--info'], env)).code).not.toBe(0);

    // A byte flips in the data store: `get` says so and writes no file.
    const info = JSON.parse((await cli(['artifacts', 'get', 'big', '--info'], env)).stdout) as {
      path: string;
      hash: string;
    };
    expect(info.hash).toBe(id);
    expect(info.path).toMatch(new RegExp(`sha256t/${hex.slice(0, 2)}/${hex}$`));
    await chmod(info.path, 0o644);
    const fh = await open(info.path, 'r+');
    await fh.write(Buffer.from([0xff]), 0, 1, 17 * 1024 * 1024);
    await fh.close();
    const before = await readdir(tmp);
    const bad = await cli(['artifacts', 'get', 'big', '-o', join(tmp, 'corrupt.bin')], env);
    expect(bad.code).not.toBe(0);
    expect(bad.stderr).toMatch(
      new RegExp(
        `the stored bytes of big \\(20971525 bytes\\) hash to sha256t:[0-9a-f]{64}, not to its id ${id}`,
      ),
    );
    expect(await readdir(tmp)).toEqual(before);
  });
});
