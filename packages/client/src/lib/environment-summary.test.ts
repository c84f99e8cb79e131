import { describe, expect, it } from 'vitest';
import { summarizeEnvironment } from './environment-summary.js';

describe('summarizeEnvironment', () => {
  it('says what the engine installs, and what it ignores', () => {
    expect(summarizeEnvironment('')).toEqual({ kind: 'none' });
    expect(summarizeEnvironment('# only a comment\n')).toEqual({ kind: 'none' });
    expect(
      summarizeEnvironment(
        'channels:\n  - conda-forge\ndependencies:\n  - python=3.11\n  - numpy=1.24\n  - pip:\n    - tqdm\n',
      ),
    ).toEqual({
      kind: 'ready',
      packages: ['numpy==1.24.*', 'tqdm'],
      python: 'python=3.11',
      notes: [{ line: 1, message: expect.stringMatching(/channels: ignored/) }],
    });
  });

  it('gives the problems with their lines', () => {
    expect(summarizeEnvironment('dependencies:\n  - pip:\n    - -r other.txt\n')).toEqual({
      kind: 'problems',
      problems: [{ line: 3, column: 7, message: expect.stringMatching(/pip options are not accepted/) }],
    });
  });
});
