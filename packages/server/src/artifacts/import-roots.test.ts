import { mkdir, realpath, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { makeTempDir, removeTree } from '@deepforge/engine/test-support';
import type { HttpError } from '../http/http-error.js';
import { importablePath } from './import-roots.js';

let tmp: string;
let root: string;
let outside: string;
beforeAll(async () => {
  tmp = await realpath(await makeTempDir('import-roots'));
  root = join(tmp, 'root');
  outside = join(tmp, 'outside');
  await mkdir(join(root, 'sets'), { recursive: true });
  await mkdir(outside);
  await writeFile(join(root, 'sets', 'train.pkl'), 'data');
  await writeFile(join(outside, 'secret'), 'secret');
  await symlink(join(outside, 'secret'), join(root, 'link-out'));
  await symlink(outside, join(root, 'dir-out'));
  await symlink(join(root, 'sets', 'train.pkl'), join(outside, 'link-in'));
  // A root given through a link is the folder it points at.
  await symlink(root, join(tmp, 'root-link'));
});
afterAll(() => removeTree(tmp));

const refusal = (p: Promise<unknown>): Promise<HttpError> =>
  p.then(
    () => undefined as never,
    (e: HttpError) => e,
  );

describe('importablePath', () => {
  it('gives the real path of a file inside a root', async () => {
    expect(await importablePath(join(root, 'sets', 'train.pkl'), [root])).toBe(
      join(root, 'sets', 'train.pkl'),
    );
    expect(await importablePath(join(root, 'sets', '..', 'sets', 'train.pkl'), [root])).toBe(
      join(root, 'sets', 'train.pkl'),
    );
    // A link outside the roots to a file inside one reads that file.
    expect(await importablePath(join(outside, 'link-in'), [root])).toBe(join(root, 'sets', 'train.pkl'));
    expect(await importablePath(join(tmp, 'root-link', 'sets', 'train.pkl'), [join(tmp, 'root-link')])).toBe(
      join(root, 'sets', 'train.pkl'),
    );
  });

  it('refuses files outside the roots with 403 naming the setting, links out of a root included', async () => {
    for (const path of [
      join(outside, 'secret'),
      join(root, 'link-out'),
      join(root, 'dir-out', 'secret'),
      join(root, '..', 'outside', 'secret'),
      '/etc/passwd',
      `${root}-sibling/x`,
    ]) {
      const err = await refusal(importablePath(path, [root]));
      expect(err.statusCode, path).toBe(403);
      expect(err.body(), path).toMatchObject({ error: 'forbidden', field: 'body.path' });
      expect(err.message, path).toMatch(/artifacts\.importRoots/);
    }
    const none = await refusal(importablePath(join(root, 'sets', 'train.pkl'), []));
    expect(none.statusCode).toBe(403);
    expect(none.message).toMatch(/artifacts\.importRoots is empty/);
  });

  it('says a file is missing only inside a root, so answers tell nothing about other files', async () => {
    const missingInside = await refusal(importablePath(join(root, 'nope.pkl'), [root]));
    expect(missingInside).toMatchObject({
      statusCode: 400,
      message: expect.stringMatching(/there is no file/),
    });
    const missingOutside = await refusal(importablePath(join(outside, 'nope.pkl'), [root]));
    expect(missingOutside.statusCode).toBe(403);
    const folder = await refusal(importablePath(join(root, 'sets'), [root]));
    expect(folder).toMatchObject({ statusCode: 400, message: expect.stringMatching(/not a file/) });
    const relative = await refusal(importablePath('sets/train.pkl', [root]));
    expect(relative).toMatchObject({ statusCode: 400, message: expect.stringMatching(/absolute path/) });
  });
});
