import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ConsoleLog } from './console-log.js';

describe('ConsoleLog', () => {
  let root: string;
  beforeEach(async () => {
    root = await mkdtemp(join(tmpdir(), 'df-console-log-'));
  });
  afterEach(async () => {
    await rm(root, { recursive: true, force: true });
  });

  it('appends lines to its file, making a missing folder, and stops at maxBytes with one notice', async () => {
    const path = join(root, 'jobs', 'n1', 'console.log');
    const log = await ConsoleLog.open(path, 16);
    log.writeLine('first');
    log.writeLine('second');
    expect(log.truncated).toBe(false);
    log.writeLine('third line is too long');
    log.writeLine('dropped');
    expect(log.truncated).toBe(true);
    await log.close();
    const text = await readFile(path, 'utf8');
    expect(text).toMatch(
      /^first\nsecond\n\[deepforge\] output truncated: this job printed more than 16 bytes/,
    );
    expect(text).not.toContain('dropped');
    expect(log.bytesWritten).toBe(Buffer.byteLength(text));
  });

  it('a lazy log makes its file with its first line, and none for a job that prints nothing', async () => {
    const silent = ConsoleLog.lazy(join(root, 'silent.log'), 1024);
    await silent.close();
    expect(await readdir(root)).toEqual([]);

    const path = join(root, 'talks.log');
    const log = ConsoleLog.lazy(path, 1024);
    expect(await readdir(root)).toEqual([]);
    log.writeLine('hello');
    log.writeLine('again');
    await log.close();
    expect(await readFile(path, 'utf8')).toBe('hello\nagain\n');
    // Appended to, as an earlier attempt's log is.
    const next = ConsoleLog.lazy(path, 1024);
    next.writeLine('third');
    await next.close();
    expect(await readFile(path, 'utf8')).toBe('hello\nagain\nthird\n');
  });

  it('without a file only counts the lines against maxBytes', async () => {
    const log = await ConsoleLog.open(null, 16);
    expect(log.path).toBeNull();
    expect(log.writeLine('first')).toBe(true);
    expect(log.writeLine('second')).toBe(true);
    expect(log.bytesWritten).toBe(13);
    expect(log.truncated).toBe(false);
    log.writeLine('third line is too long');
    expect(log.truncated).toBe(true);
    let drained = false;
    log.onDrain(() => (drained = true));
    expect(drained).toBe(true);
    await log.close();
    expect(await readdir(root)).toEqual([]);
  });
});
