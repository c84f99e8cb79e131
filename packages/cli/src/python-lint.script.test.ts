// `npm run lint`'s Python half (scripts/lint-py.mjs, docs/adr/0030): flake8, then mypy with the repository's
// mypy.ini, run by the interpreter jobs use. Run here on files of its own, so each case says which tool caught what.
import { spawn } from 'node:child_process';
import { mkdir, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { makeTempDir, removeTree } from '@deepforge/engine/test-support';

const ROOT = fileURLToPath(new URL('../../../', import.meta.url));
/** mypy reads torch's types the first time (its cache is empty on a fresh checkout): a minute or more. */
const MYPY_MS = 5 * 60_000;

let tmp: string;

beforeAll(async () => {
  tmp = await makeTempDir('deepforge-lint-py-');
});
afterAll(async () => {
  await removeTree(tmp);
});

/** Runs the lint script on one file; its exit code and everything it printed. */
async function lint(name: string, source: string): Promise<{ code: number | null; output: string }> {
  const file = join(tmp, name);
  await writeFile(file, source);
  return lintPath(file);
}

function lintPath(file: string): Promise<{ code: number | null; output: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [join(ROOT, 'scripts/lint-py.mjs'), file], { cwd: ROOT });
    let output = '';
    child.stdout.on('data', (d: Buffer) => (output += d.toString()));
    child.stderr.on('data', (d: Buffer) => (output += d.toString()));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, output }));
  });
}

describe('scripts/lint-py.mjs', () => {
  it(
    'passes a well-typed file that uses torch',
    async () => {
      const r = await lint(
        'typed_ok.py',
        'import torch\n\n\ndef size(x: torch.Tensor) -> int:\n    return x.numel()\n',
      );
      expect(r.output).toContain('Success: no issues found in 1 source file');
      expect(r.code).toBe(0);
    },
    MYPY_MS,
  );

  it(
    "fails on a type error against torch's own types, naming the file, the line and the types",
    async () => {
      const r = await lint(
        'typed_wrong.py',
        'import torch\n\n\ndef size(x: torch.Tensor) -> str:\n    return x.numel()\n',
      );
      expect(r.output).toMatch(
        /typed_wrong\.py:5: error: Incompatible return value type \(got "int", expected "str"\)/,
      );
      expect(r.code).toBe(1);
    },
    MYPY_MS,
  );

  it(
    'fails on None where a value is needed (an Optional not checked)',
    async () => {
      const r = await lint(
        'optional.py',
        'import os\n\n\ndef home() -> str:\n    return os.path.join(os.environ.get("HOME"), "x")\n',
      );
      expect(r.output).toMatch(/optional\.py:5: error: .*"Optional\[str\]"/);
      expect(r.code).toBe(1);
    },
    MYPY_MS,
  );

  it(
    'fails on what flake8 finds even when the types are right',
    async () => {
      const r = await lint('unused.py', 'import os\n');
      expect(r.output).toMatch(/unused\.py:1:1: F401 'os' imported but unused/);
      expect(r.code).toBe(1);
    },
    MYPY_MS,
  );

  it(
    "checks an extension's operations against its own utils (its folder first on the search path)",
    async () => {
      // Where the script looks for extensions: in the repository's extensions/ (removed after).
      const ext = join(ROOT, 'extensions', `.lint-test-${process.pid}`);
      try {
        await mkdir(join(ext, 'operations'), { recursive: true });
        await mkdir(join(ext, 'utils'), { recursive: true });
        await writeFile(join(ext, 'utils', 'helpers.py'), 'def twice(x: int) -> int:\n    return 2 * x\n');
        await writeFile(
          join(ext, 'operations', 'Twice.py'),
          [
            'from utils.helpers import twice',
            '',
            '',
            'class Twice:',
            '    def execute(self, value):',
            '        result = twice("not a number")',
            '        return result',
            '',
          ].join('\n'),
        );
        const r = await lintPath(join(ext, 'operations', 'Twice.py'));
        expect(r.output).toMatch(
          /Twice\.py:6: error: Argument 1 to "twice" has incompatible type "str"; expected "int"/,
        );
        expect(r.code).toBe(1);
      } finally {
        await rm(ext, { recursive: true, force: true });
      }
    },
    MYPY_MS,
  );
});
