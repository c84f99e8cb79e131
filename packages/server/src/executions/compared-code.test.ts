import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { makeTempDir, removeTree } from '@deepforge/engine/test-support';
import { COMPARED_CODE_LIMITS, comparedCode } from './compared-code.js';

let dir: string;
beforeAll(async () => {
  dir = await makeTempDir('compared-code');
});
afterAll(() => removeTree(dir));

async function snapshot(
  name: string,
  files: Record<string, string>,
): Promise<{ id: string; codeDir: string }> {
  const codeDir = join(dir, name);
  for (const [path, text] of Object.entries(files)) {
    await mkdir(join(codeDir, path, '..'), { recursive: true });
    await writeFile(join(codeDir, path), text);
  }
  return { id: name, codeDir };
}

describe('comparedCode', () => {
  it('sends the texts of the files that differ, counts the rest, and says where a file is missing', async () => {
    const a = await snapshot('a', {
      'operations/Same.py': 'same\n',
      'operations/Op.py': 'one\n',
      'operations/Gone.py': 'gone\n',
      'utils/u/helpers.py': 'x = 1\n',
    });
    const b = await snapshot('b', {
      'operations/Same.py': 'same\n',
      'operations/Op.py': 'two\n',
      'utils/u/helpers.py': 'x = 1\n',
    });
    expect(await comparedCode([a, b])).toEqual({
      files: [
        { path: 'operations/Gone.py', texts: ['gone\n', null] },
        { path: 'operations/Op.py', texts: ['one\n', 'two\n'] },
      ],
      unchanged: 2,
    });
  });

  it('compares a file too large to send by its content hash', async () => {
    const big = 'x'.repeat(COMPARED_CODE_LIMITS.fileBytes + 1);
    const a = await snapshot('big-a', { 'utils/big.py': big, 'utils/same.py': big });
    const b = await snapshot('big-b', { 'utils/big.py': `${big}y`, 'utils/same.py': big });
    const code = await comparedCode([a, b]);
    expect(code.unchanged).toBe(1);
    expect(code.files).toHaveLength(1);
    expect(code.files[0]).toMatchObject({
      path: 'utils/big.py',
      omitted: expect.stringMatching(/too large/),
    });
    expect(code.files[0]!.texts.every((t) => /^sha256:[0-9a-f]{64}$/.test(t ?? ''))).toBe(true);
  });

  it('refuses a snapshot with more files than it reads, naming the execution', async () => {
    const files: Record<string, string> = {};
    for (let i = 0; i <= COMPARED_CODE_LIMITS.files; i++) files[`utils/f${i}.py`] = '';
    const many = await snapshot('many', files);
    const few = await snapshot('few', { 'utils/f0.py': '' });
    await expect(comparedCode([few, many])).rejects.toMatchObject({
      statusCode: 413,
      message: `execution many: its code snapshot has more than ${COMPARED_CODE_LIMITS.files} files, too many to compare`,
    });
  });
});
