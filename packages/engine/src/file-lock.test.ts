import { mkdir, readFile, utimes, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { EngineError } from './errors.js';
import { withFileLock } from './file-lock.js';
import { spawnScript, waitForScript } from './test-support/node-script.js';
import { makeTempDir, removeTree } from './test-support/temp-dir.js';

let dir: string;
beforeEach(async () => {
  dir = await makeTempDir('file-lock');
});
afterEach(async () => {
  await removeTree(dir);
});

describe('withFileLock', () => {
  it('keeps every change when processes change one file at once', async () => {
    const file = join(dir, 'list.json');
    const writers = ['a', 'b', 'c'].map((name) =>
      waitForScript(spawnScript('file-lock-writer.script.ts', [file, name, '15'])),
    );
    // This process too, at the same time.
    for (let i = 0; i < 15; i++) {
      await withFileLock(file, async () => {
        const list = JSON.parse(await readFile(file, 'utf8').catch(() => '[]')) as string[];
        await new Promise((r) => setTimeout(r, 2));
        list.push(`main-${i}`);
        await writeFile(file, JSON.stringify(list));
      });
    }
    for (const r of await Promise.all(writers)) expect(r.stderr).toBe('');
    const list = JSON.parse(await readFile(file, 'utf8')) as string[];
    expect(list).toHaveLength(60);
    expect(new Set(list).size).toBe(60);
  });

  it('gives the lock up when the change throws, and says which file is busy when it cannot be had', async () => {
    const file = join(dir, 'x.json');
    await expect(withFileLock(file, () => Promise.reject(new Error('the change failed')))).rejects.toThrow(
      'the change failed',
    );
    expect(await withFileLock(file, () => Promise.resolve(1))).toBe(1);
    // A live holder (another process, refreshing its lock as it should) keeps it past the wait: the error names
    // the file.
    const held = `${file}.lock`;
    await mkdir(held);
    const refresh = setInterval(() => {
      const now = new Date();
      void utimes(held, now, now).catch(() => undefined);
    }, 500);
    const busy = await withFileLock(file, () => Promise.resolve(2))
      .catch((e: unknown) => e)
      .finally(() => clearInterval(refresh));
    expect(busy).toBeInstanceOf(EngineError);
    expect((busy as EngineError).code).toBe('busy');
    expect((busy as Error).message).toContain(`${file}.lock`);
  }, 30_000);
});
