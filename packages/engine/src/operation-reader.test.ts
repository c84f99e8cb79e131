import { readdir, readFile, utimes, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { parseProjectOperations, readOperationFile, type Project } from '@deepforge/core';
import { KEPT_READINGS, OperationReader } from './operation-reader.js';
import { makeTempDir, removeTree } from './test-support/temp-dir.js';

const MULTIPLY = 'class Multiply:\n    def execute(self, a, b):\n        return a * b\n';
const BROKEN = 'class Broken:\n    def execute(self, a)\n        return a\n';

/** Correct code, about 120 KiB: reading it takes tens of milliseconds at least, on any machine. */
const LARGE = `class Large:\n    def execute(self, a):\n${'        a = [1, 2, 3, 4, 5, 6, 7, 8, 9]\n'.repeat(3000)}        return a\n`;

const readers: OperationReader[] = [];
function reader(options?: ConstructorParameters<typeof OperationReader>[0]): OperationReader {
  const r = new OperationReader(options);
  readers.push(r);
  return r;
}
afterEach(async () => {
  await Promise.all(readers.splice(0).map((r) => r.close()));
});

describe('OperationReader', () => {
  it('reads on a worker what core reads on the spot', async () => {
    const r = reader();
    expect(await r.read('Multiply', MULTIPLY)).toEqual(readOperationFile('Multiply', MULTIPLY));
    expect(await r.read('Broken', BROKEN)).toEqual(readOperationFile('Broken', BROKEN));
    const project: Pick<Project, 'operations'> = {
      operations: {
        Multiply: { name: 'Multiply', code: MULTIPLY },
        Broken: { name: 'Broken', code: BROKEN },
      },
    };
    expect(await r.readProject(project)).toEqual(parseProjectOperations(project));
  });

  it('reads the same name and code once', async () => {
    const r = reader();
    const first = r.read('Multiply', MULTIPLY);
    expect(r.read('Multiply', MULTIPLY)).toBe(first);
    expect(await r.read('Multiply', MULTIPLY)).toBe(await first);
    expect(r.read('Other', MULTIPLY)).not.toBe(first);
  });

  it('gives an error instead of waiting past the deadline', async () => {
    const r = reader({ deadlineMs: 1 });
    expect(await r.read('Large', LARGE)).toEqual({
      interface: null,
      diagnostics: [
        {
          severity: 'error',
          code: 'read-timeout',
          message:
            'operations/Large.py: could not be read within 0.001 s: the code is too complex to parse (simplify it or split it into utils/ modules)',
          file: 'operations/Large.py',
          operation: 'Large',
        },
      ],
    });
    // The timed-out reading is remembered: the same code does not cost a worker the deadline again.
    expect(await r.read('Large', LARGE)).toMatchObject({ diagnostics: [{ code: 'read-timeout' }] });
    const patient = reader({ deadlineMs: 60_000, workers: 1 });
    expect((await patient.read('Large', LARGE)).interface?.className).toBe('Large');
  });

  it('answers what is still waiting when it closes', async () => {
    const r = reader({ workers: 1 });
    const readings = [r.read('A', MULTIPLY), r.read('B', BROKEN)];
    await r.close();
    for (const reading of await Promise.all(readings)) {
      expect(reading.interface).toBeNull();
      expect(reading.diagnostics[0]?.message).toMatch(/could not be read: the server is shutting down$/);
    }
  });
});

describe('OperationReader keeping readings in a folder (keepIn)', () => {
  const dirs: string[] = [];
  afterEach(async () => {
    await Promise.all(dirs.splice(0).map((d) => removeTree(d)));
  });
  async function folder(): Promise<string> {
    const dir = await makeTempDir('readings');
    dirs.push(dir);
    return dir;
  }
  const jsonFiles = async (dir: string): Promise<string[]> =>
    (await readdir(dir)).filter((n) => n.endsWith('.json'));

  it("keeps what core read, and another process's reader takes it without a worker", async () => {
    const dir = await folder();
    const first = reader({ keepIn: dir });
    const reading = await first.read('Multiply', MULTIPLY);
    expect(reading).toEqual(readOperationFile('Multiply', MULTIPLY));
    await first.close();
    expect(await jsonFiles(dir)).toHaveLength(1);

    const second = reader({ keepIn: dir });
    expect(second.takeKept({ Multiply: MULTIPLY })).toBe(true);
    expect(await second.read('Multiply', MULTIPLY)).toEqual(reading);
    expect(second.workersStarted).toBe(0);
    // Another name or other code is another reading.
    expect(second.takeKept({ Multiply: `${MULTIPLY}\n` })).toBe(false);
    expect(second.takeKept({ Other: MULTIPLY })).toBe(false);
  });

  it('reads again what it cannot take, and keeps no error', async () => {
    const dir = await folder();
    const first = reader({ keepIn: dir });
    await first.read('Broken', BROKEN);
    await first.close();
    const [file] = await jsonFiles(dir);
    await writeFile(join(dir, file!), '{"interface": ');

    const second = reader({ keepIn: dir });
    expect(second.takeKept({ Broken: BROKEN })).toBe(false);
    expect(await second.read('Broken', BROKEN)).toEqual(readOperationFile('Broken', BROKEN));
    expect(second.workersStarted).toBe(1);
    await second.close();
    expect(JSON.parse(await readFile(join(dir, file!), 'utf8'))).toEqual(readOperationFile('Broken', BROKEN));

    // A reading that timed out says nothing about the code: not kept.
    const hasty = reader({ keepIn: dir, deadlineMs: 1 });
    expect(await hasty.read('Large', LARGE)).toMatchObject({ diagnostics: [{ code: 'read-timeout' }] });
    await hasty.close();
    expect(await jsonFiles(dir)).toEqual([file]);
  });

  it(`keeps the newest ${KEPT_READINGS} readings`, async () => {
    const dir = await folder();
    const old = new Date(Date.now() - 3600_000);
    await Promise.all(
      Array.from({ length: KEPT_READINGS }, async (_, i) => {
        const name = join(dir, `old-${String(i).padStart(4, '0')}.json`);
        await writeFile(name, '{}');
        await utimes(name, old, old);
      }),
    );
    const r = reader({ keepIn: dir });
    await r.read('Multiply', MULTIPLY);
    await r.close();
    const left = await jsonFiles(dir);
    expect(left).toHaveLength(KEPT_READINGS);
    expect(left.filter((n) => !n.startsWith('old-'))).toHaveLength(1);
  });
});
