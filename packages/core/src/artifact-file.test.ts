import { describe, expect, it } from 'vitest';
import { ArtifactFileSchema, artifactDownloadName, artifactFileProblem } from './artifact-file.js';
import { projectFromFiles } from './project-files.js';

describe('artifactFileProblem', () => {
  it('takes relative paths inside artifacts/', () => {
    for (const file of ['data.bin', 'mnist/train.npz', 'a b/c-d_e.f', '..data', 'x..y/z', '.hidden']) {
      expect(artifactFileProblem(file), file).toBeUndefined();
    }
  });

  it('refuses every path that leaves artifacts/ or is not a plain relative path, saying why', () => {
    const refused: [string, RegExp][] = [
      ['../../etc/passwd', /inside artifacts\/: no "\.\."/],
      ['a/../../b', /no "\.\."/],
      ['..', /no "\.\."/],
      ['./a', /"\."/],
      ['a//b', /empty parts/],
      ['a/', /empty parts/],
      ['/etc/passwd', /not an absolute path/],
      ['C:/Windows/win.ini', /not an absolute path/],
      ['c:x', /not an absolute path/],
      ['..\\..\\x', /not "\\"/],
      ['a\u0000b', /control characters/],
      ['a\nb', /control characters/],
      ['', /must not be empty/],
      ['x'.repeat(1025), /at most 1024/],
    ];
    for (const [file, message] of refused) expect(artifactFileProblem(file), file).toMatch(message);
  });

  it('is the schema rule and the project folder rule', () => {
    expect(ArtifactFileSchema.safeParse('data.bin').success).toBe(true);
    const bad = ArtifactFileSchema.safeParse('../../etc/passwd');
    expect(bad.success).toBe(false);
    expect(bad.error?.issues[0]?.message).toMatch(/inside artifacts\//);
    const read = projectFromFiles(
      new Map([
        ['deepforge.json', '{"name": "p", "formatVersion": 1}'],
        ['artifacts/secret.json', '{"name": "secret", "file": "../../etc/passwd"}'],
      ]),
    );
    expect(read.project).toBeNull();
    expect(read.diagnostics[0]).toMatchObject({ code: 'artifact-file', file: 'artifacts/secret.json' });
    expect(read.diagnostics[0]?.message).toMatch(/file: "\.\.\/\.\.\/etc\/passwd" must be a path inside/);
  });
});

describe('artifactDownloadName', () => {
  it('names a download with the extension of its format (issue 13: downloads had none)', () => {
    expect(artifactDownloadName('numbers', 'pickle')).toBe('numbers.pkl');
    expect(artifactDownloadName('weights', 'numpy.ndarray')).toBe('weights.npy');
    expect(artifactDownloadName('greeting', 'serializers.text.Greeting')).toBe('greeting.bin');
    expect(artifactDownloadName('model.pkl', 'pickle')).toBe('model.pkl');
    expect(artifactDownloadName('odd', 'constructor')).toBe('odd.bin');
  });

  it('is one safe file name whatever the artifact is called', () => {
    expect(artifactDownloadName('a/b"c\\d\n', 'pickle')).toBe('a_b_c_d_.pkl');
    expect(artifactDownloadName('..', 'pickle')).toBe('artifact.pkl');
  });
});
