import { describe, expect, it } from 'vitest';
import {
  ENVIRONMENT_FILE_MAX_BYTES,
  ENVIRONMENT_FILE_MAX_LINES,
  environmentMaterial,
  needsEnvironment,
  parseEnvironmentFile,
  pipRequirementProblem,
  pythonVersionProblem,
  type EnvironmentPlan,
} from './environment-file.parser.js';

function plan(text: string): EnvironmentPlan {
  const r = parseEnvironmentFile(text);
  if (!r.ok) throw new Error(JSON.stringify(r.problems));
  return r.plan;
}

function problems(text: string): { line: number; message: string }[] {
  const r = parseEnvironmentFile(text);
  if (r.ok) throw new Error(`parsed: ${JSON.stringify(r.plan)}`);
  return r.problems.map((p) => ({ line: p.line, message: p.message }));
}

describe('parseEnvironmentFile', () => {
  it("reads the operation editor's template", () => {
    const p = plan(`# A conda environment for this operation (conda env create -f …).
name: train
channels:
  - conda-forge
dependencies:
  - python=3.11
  - numpy
  # - pip:
  #   - some-package==1.0
`);
    expect(p.name).toBe('train');
    expect(p.channels).toEqual(['conda-forge']);
    expect(p.python).toEqual({ constraint: '==3.11.*', written: 'python=3.11', line: 6 });
    expect(p.requirements).toEqual([{ pip: 'numpy', written: 'numpy', from: 'conda', line: 7 }]);
    expect(p.notes.map((n) => n.line)).toEqual([3]);
    expect(needsEnvironment(p)).toBe(true);
  });

  it('reads pip lists, conda versions, quotes, flow lists and items at the key indent', () => {
    const p = plan(`name: "x y"   # a comment
channels: [conda-forge, 'defaults']
dependencies:
- pip
- numpy=1.24
- scipy 1.10.*
- conda-forge::pandas>=1.5,<3
- pytorch
- pip:
    - tqdm>=4.0
    - 'requests[socks] ==2.31.0'
    - foo ; python_version >= "3.8"
- pip: [bar==1, baz]
`);
    expect(p.name).toBe('x y');
    expect(p.channels).toEqual(['conda-forge', 'defaults']);
    expect(p.requirements.map((r) => r.pip)).toEqual([
      'numpy==1.24.*',
      'scipy==1.10.*',
      'pandas>=1.5,<3',
      'torch',
      'tqdm>=4.0',
      'requests[socks] ==2.31.0',
      'foo ; python_version >= "3.8"',
      'bar==1',
      'baz',
    ]);
    expect(p.requirements.map((r) => r.line)).toEqual([5, 6, 7, 8, 10, 11, 12, 13, 13]);
  });

  it('plans nothing for an empty file, comments, or python alone', () => {
    expect(needsEnvironment(plan(''))).toBe(false);
    expect(needsEnvironment(plan('# nothing\n\n   # still nothing\n'))).toBe(false);
    expect(needsEnvironment(plan('\ufeffdependencies: []\n'))).toBe(false);
    const p = plan('dependencies:\n  - python>=3.8\n  - pip\n');
    expect(needsEnvironment(p)).toBe(false);
    expect(p.python?.constraint).toBe('>=3.8');
  });

  it('keys an environment on what it installs, not on comments, names or channels', () => {
    const a = plan('name: a\ndependencies:\n  - pip:\n    - tqdm\n');
    const b = plan('# changed\nname: b\nchannels: [x]\ndependencies:\n- pip:\n  - tqdm   # same\n');
    const c = plan('dependencies:\n  - pip:\n    - tqdm==4\n');
    expect(environmentMaterial(a)).toBe(environmentMaterial(b));
    expect(environmentMaterial(a)).not.toBe(environmentMaterial(c));
  });

  it('names the line of what it cannot read', () => {
    expect(problems('name: x\ndependencies:\n  - numpy\n  numpy2\n')).toEqual([
      { line: 4, message: 'expected a list item (`- …`)' },
    ]);
    expect(problems('dependencies:\n\t- numpy\n')[0]).toMatchObject({
      line: 2,
      message: expect.stringMatching(/tab/),
    });
    expect(problems('name: x\nvariables:\n  A: 1\n')[0]).toMatchObject({
      line: 2,
      message: expect.stringMatching(/unknown key `variables`.*secrets/),
    });
    expect(problems('name: x\nname: y\n')[0]).toMatchObject({ line: 2, message: '`name` is given twice' });
    expect(problems('dependencies: numpy\n')[0]?.message).toMatch(/expected a list/);
    expect(problems('just some words\n')[0]).toMatchObject({
      line: 1,
      message: expect.stringMatching(/key: value/),
    });
    expect(problems('- numpy\n')[0]?.message).toMatch(/needs a key above it/);
    expect(problems('dependencies:\n  - conda:\n    - x\n')[0]?.message).toMatch(/only `pip:`/);
    expect(problems("name: 'open\n")[0]?.message).toMatch(/quote is not closed/);
    expect(problems('dependencies: &a [x]\n')[0]).toBeDefined();
    expect(problems('name: |\n  text\n')[0]?.message).toMatch(/block scalars/);
    expect(problems('{"dependencies": ["numpy"]}\n')[0]?.line).toBe(1);
  });

  it('refuses pip options, paths, URLs and conda-only specs, each with its line', () => {
    const p = problems(`dependencies:
  - numpy=1.24=py311_0
  - scipy 1.10 py311_1
  - cudatoolkit[version='>=11']
  - x >=1|<0.5
  - pip:
    - --index-url http://evil.example/simple
    - -r /etc/passwd
    - ./local/pkg
    - pkg @ https://example.com/pkg.whl
    - git+https://example.com/x.git
    - ok==1
    - "bad name!"
    - x; python_version > "3" --global-option=build_ext
`);
    expect(p.map((x) => x.line)).toEqual([2, 3, 4, 5, 7, 8, 9, 10, 11, 13, 14]);
    expect(p[10]?.message).toMatch(/pip options are not accepted/);
    expect(p[0]?.message).toMatch(/build string \(py311_0\) needs conda.*numpy=1\.24/);
    expect(p[4]?.message).toMatch(/pip options are not accepted/);
    expect(p[6]?.message).toMatch(/paths and URLs/);
    expect(p[9]?.message).toMatch(/is not a requirement/);
  });

  it('bounds what it reads', () => {
    const big = 'dependencies:\n' + '  - a\n'.repeat(ENVIRONMENT_FILE_MAX_BYTES / 4);
    expect(problems(big)[0]?.message).toMatch(/KiB; at most 64 KiB/);
    const many = '\n'.repeat(ENVIRONMENT_FILE_MAX_LINES + 5);
    expect(problems(many)[0]?.message).toMatch(/lines; at most/);
    expect(problems(`name: ${'x'.repeat(2000)}\n`)[0]?.message).toMatch(/longer than 1000/);
    const packages = 'dependencies:\n' + Array.from({ length: 600 }, (_, i) => `  - p${i}\n`).join('');
    expect(problems(packages)[0]?.message).toMatch(/more than 500 packages/);
  });

  it('reads hostile input in bounded time and never throws', () => {
    const inputs = [
      '- '.repeat(20_000),
      '"'.repeat(30_000),
      'dependencies:\n' + '  - pip:\n'.repeat(1000),
      'a: [' + ','.repeat(30_000) + ']',
      'dependencies:\n  - ' + 'a'.repeat(999),
      'dependencies:\n  - pip:\n    - ' + 'a=='.repeat(300),
      '\u0000\u0001\r\n\r\n:',
      'dependencies:\n  - pip:\n    - ' + 'a; ' + '('.repeat(900),
    ];
    for (const input of inputs) {
      const started = performance.now();
      expect(() => parseEnvironmentFile(input)).not.toThrow();
      expect(performance.now() - started).toBeLessThan(1000);
    }
  });
});

describe('pipRequirementProblem', () => {
  it('accepts names, extras, specifiers and markers', () => {
    for (const ok of [
      'numpy',
      'A.b_c-d',
      'x[y,z]>=1,<2',
      'x (>=1)',
      'x===1.0+local',
      'x~=1.4.2',
      'x; os_name == "posix"',
    ]) {
      expect(pipRequirementProblem(ok), ok).toBeNull();
    }
  });
});

describe('pythonVersionProblem', () => {
  it('compares release numbers as pip does', () => {
    expect(pythonVersionProblem('', '3.11.2')).toBeNull();
    expect(pythonVersionProblem('==3.11.*', '3.11.2')).toBeNull();
    expect(pythonVersionProblem('==3.1.*', '3.11.2')).toMatch(
      /python==3\.1\.\*, but the interpreter is Python 3\.11\.2/,
    );
    expect(pythonVersionProblem('>=3.8,<3.13', '3.11.2')).toBeNull();
    expect(pythonVersionProblem('<3.11', '3.11.2')).not.toBeNull();
    expect(pythonVersionProblem('==3.11.2', '3.11.2')).toBeNull();
    expect(pythonVersionProblem('!=3.11.*', '3.11.2')).not.toBeNull();
    expect(pythonVersionProblem('~=3.10', '3.11.2')).toBeNull();
    expect(pythonVersionProblem('~=3.10.1', '3.11.2')).not.toBeNull();
    expect(pythonVersionProblem('>=abc', '3.11.2')).toMatch(/cannot compare/);
  });
});
