import { mkdtemp, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { makeJobDirs } from './job-dirs.js';

describe('makeJobDirs', () => {
  let root: string;
  beforeEach(async () => {
    root = await mkdtemp(join(tmpdir(), 'df-job-dirs-'));
  });
  afterEach(async () => {
    await rm(root, { recursive: true, force: true });
  });

  const isDir = async (p: string) => (await stat(p)).isDirectory();

  it('makes the job folder with the folders inside it, and again without complaint', async () => {
    const job = join(root, 'executions', 'e1', 'jobs', 'n1');
    const dirs = [join(job, 'work'), join(job, 'out', 'deep'), join(job, '..data')];
    await makeJobDirs(job, dirs);
    for (const d of [job, ...dirs]) expect(await isDir(d)).toBe(true);
    await makeJobDirs(job, dirs);
    expect(await isDir(join(job, 'out', 'deep'))).toBe(true);
  });

  it('makes the job folder and folders outside it', async () => {
    const job = join(root, 'j');
    const outside = [join(root, 'elsewhere', 'out'), join(root, '..j-out')];
    await makeJobDirs(job, outside);
    for (const d of [job, ...outside]) expect(await isDir(d)).toBe(true);
  });

  it('makes the job folder alone when it needs no other', async () => {
    const job = join(root, 'a', 'b');
    await makeJobDirs(job, []);
    expect(await isDir(job)).toBe(true);
  });
});
