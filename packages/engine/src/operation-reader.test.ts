import { afterEach, describe, expect, it } from 'vitest';
import { parseProjectOperations, readOperationFile, type Project } from '@deepforge/core';
import { OperationReader } from './operation-reader.js';

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
