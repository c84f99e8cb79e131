import { execFileSync } from 'node:child_process';
import { mkdir, readFile, readdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ExecutionEventSchema } from '@deepforge/protocol';
import {
  TEST_PYTHON,
  chain,
  cleanEnv,
  makeTempDir,
  py,
  removeTree,
  writeProjectFolder,
} from '@deepforge/engine/test-support';
import { cli } from './test-support/run-cli.js';

const EXAMPLES = fileURLToPath(new URL('../../../examples/', import.meta.url));

let tmp: string;
let env: Record<string, string | undefined>;

beforeEach(async () => {
  tmp = await makeTempDir('cli');
  env = cleanEnv({ DEEPFORGE_DATA_DIR: join(tmp, 'data'), DEEPFORGE_PYTHON: TEST_PYTHON, NO_COLOR: '1' });
});
afterEach(async () => {
  await removeTree(tmp);
});

function unpickle(file: string): string {
  return execFileSync(
    TEST_PYTHON,
    ['-c', 'import pickle,sys; print(repr(pickle.load(open(sys.argv[1], "rb"))))', file],
    {
      encoding: 'utf8',
    },
  ).trim();
}

describe('deepforge run', () => {
  it('runs the hello example: prefixed output, a summary with durations, the saved artifact', async () => {
    const r = await cli(['run', join(EXAMPLES, 'hello'), 'hello'], env);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^Print\s+│ Hello from DeepForge! The product is 16!$/m);
    expect(r.stdout).toMatch(/✓ hello succeeded in \S+ \(6 success\)/);
    for (const label of [
      'Input',
      'GetNumber\\[left\\]',
      'GetNumber\\[right\\]',
      'Multiply',
      'Print',
      'Output',
    ]) {
      expect(r.stdout).toMatch(new RegExp(`^  ✓ success\\s+${label}\\s+\\d+(ms|\\.\\d+s)`, 'm'));
    }
    const out = join(tmp, 'product.pkl');
    const got = await cli(['artifacts', 'get', 'product', '-o', out], env);
    expect(got.code).toBe(0);
    expect(unpickle(out)).toBe('16');
    const list = await cli(['artifacts', 'list'], env);
    expect(list.stdout).toMatch(/^product\s+builtins\.int\s+\d+ B\s+[0-9a-f]{12}\s+.*print\.value in /m);
  });

  it('applies --set with the attribute type, and --json emits valid events ending in a result', async () => {
    const r = await cli(
      [
        'run',
        join(EXAMPLES, 'hello'),
        'hello',
        '--set',
        'left.number=6',
        '--set',
        'right.number=7',
        '--json',
      ],
      env,
    );
    expect(r.code).toBe(0);
    const lines = r.stdout
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as { type: string });
    const result = lines.pop() as unknown as {
      type: string;
      status: string;
      jobs: { node: string; status: string }[];
    };
    expect(result.type).toBe('run.result');
    expect(result.status).toBe('success');
    expect(result.jobs.map((j) => j.status)).toEqual(Array(6).fill('success'));
    for (const l of lines) expect(ExecutionEventSchema.safeParse(l).success).toBe(true);
    const printed = lines
      .filter((l) => l.type === 'job.log')
      .map((l) => (l as unknown as { text: string }).text);
    expect(printed).toContain('Hello from DeepForge! The product is 42!');
  });

  it('reuses unchanged results with --cache and recomputes what an attribute change touches', async () => {
    await cli(['run', join(EXAMPLES, 'hello'), 'hello'], env);
    const again = await cli(['run', join(EXAMPLES, 'hello'), 'hello', '--cache', '--json'], env);
    const result = JSON.parse(again.stdout.trim().split('\n').pop()!) as {
      jobs: { node: string; status: string }[];
    };
    const status = Object.fromEntries(result.jobs.map((j) => [j.node, j.status]));
    expect(status).toMatchObject({ left: 'cached', right: 'cached', multiply: 'cached', print: 'cached' });
    const changed = await cli(
      ['run', join(EXAMPLES, 'hello'), 'hello', '--cache', '--json', '--set', 'left.number=5'],
      env,
    );
    const after = JSON.parse(changed.stdout.trim().split('\n').pop()!) as {
      jobs: { node: string; status: string }[];
    };
    const s2 = Object.fromEntries(after.jobs.map((j) => [j.node, j.status]));
    expect(s2).toMatchObject({ left: 'success', right: 'cached', multiply: 'success', print: 'success' });
  });

  it('runs the plots example: every figure is captured', async () => {
    const r = await cli(['run', join(EXAMPLES, 'plots'), 'plots', '--json', '--concurrency', '2'], env);
    expect(r.code).toBe(0);
    const events = r.stdout
      .trim()
      .split('\n')
      .map(
        (l) =>
          JSON.parse(l) as {
            type: string;
            node?: string;
            axes?: { kind: string; rules: unknown[]; images: unknown[]; scatters: unknown[] }[];
          },
      );
    const plots = events.filter((e) => e.type === 'job.plot');
    const byNode = new Map(plots.map((p) => [p.node, p]));
    expect(byNode.get('scatter3d')?.axes?.[0]?.kind).toBe('3d');
    expect(byNode.get('scatter3d')?.axes?.[0]?.scatters).toHaveLength(2);
    expect(byNode.get('grid')?.axes).toHaveLength(9);
    expect(byNode.get('display')?.axes?.[0]?.images).toHaveLength(1);
    expect(byNode.get('predvis')?.axes).toHaveLength(6);
    expect(byNode.get('predvis')?.axes?.[0]?.rules).toHaveLength(2);
    expect(events.filter((e) => e.type === 'job.metric' && e.node === 'curve')).toHaveLength(20);
  });

  it('prints --help for every command', async () => {
    for (const args of [
      ['--help'],
      ['run', '--help'],
      ['executions', '--help'],
      ['resume', '--help'],
      ['artifacts', '--help'],
      ['artifacts', 'get', '--help'],
      ['config', '--help'],
      ['doctor', '--help'],
    ]) {
      const r = await cli(args, env);
      expect(r.code, args.join(' ')).toBe(0);
      expect(r.stdout, args.join(' ')).toMatch(/Usage: deepforge/);
    }
  });
});

describe('deepforge run: bad input gets a clear error and stores nothing half-done', () => {
  async function project(files: Parameters<typeof writeProjectFolder>[1]): Promise<string> {
    return writeProjectFolder(join(tmp, 'project'), files);
  }
  async function executionCount(): Promise<number> {
    const r = await cli(['executions', '--json'], env);
    return (JSON.parse(r.stdout) as unknown[]).length;
  }
  const one = (op: string) => chain([{ id: 'a', operation: op }], []);

  it('a project folder that does not exist', async () => {
    const r = await cli(['run', join(tmp, 'nowhere'), 'hello'], env);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/error: .*nowhere/);
    expect(r.stderr).not.toMatch(/ {4}at /);
  });

  it('a malformed deepforge.json or pipeline file, with the file and position', async () => {
    const dir = await project({
      operations: { A: py('class A():', '    def execute(self):', '        return') },
    });
    await writeFile(join(dir, 'pipelines', 'p.json'), '{ "name": "p", "nodes": [ }\n').catch(async () => {
      await mkdir(join(dir, 'pipelines'));
      await writeFile(join(dir, 'pipelines', 'p.json'), '{ "name": "p", "nodes": [ }\n');
    });
    const r = await cli(['run', dir, 'p'], env);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/pipelines\/p\.json.*line 1/);
    await writeFile(join(dir, 'deepforge.json'), '{"name": "x", "formatVersion": 7}\n');
    const r2 = await cli(['run', dir, 'p'], env);
    expect(r2.code).toBe(1);
    expect(r2.stderr).toMatch(/deepforge\.json.*formatVersion/);
    expect(await executionCount()).toBe(0);
  });

  it('an unknown pipeline lists the ones there are', async () => {
    const r = await cli(['run', join(EXAMPLES, 'hello'), 'nope'], env);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/no pipeline "nope".*basic-io, hello/);
  });

  it('a syntax error in an operation names the file, line and column', async () => {
    const dir = await project({
      operations: {
        Broken: py('class Broken():', '    def execute(self):', '        x = (1 +', '        return x'),
      },
      pipelines: { p: one('Broken') },
    });
    const r = await cli(['run', dir, 'p'], env);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/operations\/Broken\.py.*line \d+/);
    expect(await executionCount()).toBe(0);
  });

  it('an empty pipeline: nothing to run, nothing recorded', async () => {
    const dir = await project({ pipelines: { p: chain([], []) } });
    const r = await cli(['run', dir, 'p'], env);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/pipeline "p" has no operations: add at least one before executing it/);
    expect(await executionCount()).toBe(0);
  });

  it('a cycle names the nodes on it', async () => {
    const dir = await project({
      operations: {
        Step: py('class Step():', '    def execute(self, x):', '        y = x', '        return y'),
      },
      pipelines: {
        p: chain(
          [
            { id: 'a', operation: 'Step' },
            { id: 'b', operation: 'Step' },
          ],
          [
            ['a.y', 'b.x'],
            ['b.y', 'a.x'],
          ],
        ),
      },
    });
    const r = await cli(['run', dir, 'p'], env);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/cycle/i);
    expect(r.stderr).toMatch(/"a"|\ba\b.*\bb\b/);
    expect(await executionCount()).toBe(0);
  });

  it('a bad --set: malformed, unknown attribute, wrong type', async () => {
    const hello = join(EXAMPLES, 'hello');
    const malformed = await cli(['run', hello, 'hello', '--set', 'left.number'], env);
    expect(malformed.code).toBe(1);
    expect(malformed.stderr).toMatch(/--set expects node\.attribute=value/);
    const unknown = await cli(['run', hello, 'hello', '--set', 'left.nmber=3'], env);
    expect(unknown.code).toBe(1);
    expect(unknown.stderr).toMatch(/left.*has no attribute "nmber".*number/);
    const wrongType = await cli(['run', hello, 'hello', '--set', 'left.number=four'], env);
    expect(wrongType.code).toBe(1);
    expect(wrongType.stderr).toMatch(/left\.number.*int/);
    expect(await executionCount()).toBe(0);
  });

  it('no usable Python interpreter', async () => {
    const r = await cli(['run', join(EXAMPLES, 'hello'), 'hello'], {
      ...env,
      DEEPFORGE_PYTHON: join(tmp, 'no-python'),
    });
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/no-python/);
    expect(await executionCount()).toBe(0);
  });

  it('an operation that raises: traceback to the user file and line, the independent branch finishes', async () => {
    const dir = await project({
      operations: {
        Fail: py('class Fail():', '    def execute(self):', '        value = 1 / 0', '        return value'),
        Slow: py(
          'import time',
          'class Slow():',
          '    def execute(self):',
          '        time.sleep(0.5)',
          "        done = 'ok'",
          '        return done',
        ),
        After: py('class After():', '    def execute(self, value):', '        print(value)'),
      },
      pipelines: {
        p: chain(
          [
            { id: 'fail', operation: 'Fail' },
            { id: 'slow', operation: 'Slow' },
            { id: 'after', operation: 'After' },
          ],
          [['fail.value', 'after.value']],
        ),
      },
    });
    const r = await cli(['run', dir, 'p', '--json'], env);
    expect(r.code).toBe(1);
    const result = JSON.parse(r.stdout.trim().split('\n').pop()!) as {
      status: string;
      jobs: {
        node: string;
        status: string;
        error: { message: string; location?: { file: string; line: number } } | null;
      }[];
    };
    expect(result.status).toBe('failed');
    const jobs = Object.fromEntries(result.jobs.map((j) => [j.node, j]));
    expect(jobs.fail!.status).toBe('failed');
    expect(jobs.fail!.error!.message).toMatch(/ZeroDivisionError: division by zero/);
    expect(jobs.fail!.error!.location).toEqual({ file: 'operations/Fail.py', line: 3 });
    expect(jobs.slow!.status).toBe('success');
    expect(jobs.after!.status).not.toBe('success');
    const text = await cli(['run', dir, 'p'], env);
    expect(text.stdout).toMatch(
      /✗ Fail failed: ZeroDivisionError: division by zero \(operations\/Fail\.py:3\)/,
    );
    expect(text.stdout).toMatch(/File ".*operations\/Fail\.py", line 3, in execute/);
    expect(text.stdout).toMatch(/deepforge resume /);
  });

  it('wrong number of returned values and an unserializable output', async () => {
    const dir = await project({
      operations: {
        Two: py(
          'class Two():',
          '    def execute(self):',
          '        a, b = 1, 2',
          '        return a, b',
          '    def other(self):',
          '        pass',
        ),
        Lam: py('class Lam():', '    def execute(self):', '        f = lambda x: x', '        return f'),
      },
      pipelines: { two: one('Two'), lam: one('Lam') },
    });
    // Returns that disagree are caught before anything runs (the harness checks the count again at run time).
    await writeFile(
      join(dir, 'operations', 'Two.py'),
      py(
        'class Two():',
        '    def execute(self):',
        '        a, b = 1, 2',
        '        if a:',
        '            return a, b, 3',
        '        return a, b',
      ),
    );
    const two = await cli(['run', dir, 'two'], env);
    expect(two.code).toBe(1);
    expect(two.stderr).toMatch(
      /operations\/Two\.py:6:9.*execute returns 3 values at line 5 but 2 values at line 6/,
    );
    const lam = await cli(['run', dir, 'lam'], env);
    expect(lam.code).toBe(1);
    expect(lam.stdout).toMatch(/✗ Lam failed: output 'f' \(a builtins\.function\) cannot be saved/);
    const files = await readdir(join(tmp, 'data', 'blob')).catch(() => [] as string[]);
    expect(files.filter((f) => f.endsWith('.tmp'))).toEqual([]);
  });

  it('a missing input artifact is named', async () => {
    const dir = await project({
      operations: { Show: py('class Show():', '    def execute(self, data):', '        print(data)') },
      pipelines: {
        p: chain(
          [
            { id: 'in', operation: 'Input', attributes: { artifact: 'no-such-data' } },
            { id: 'show', operation: 'Show' },
          ],
          [['in.data', 'show.data']],
        ),
      },
    });
    const r = await cli(['run', dir, 'p'], env);
    expect(r.code).toBe(1);
    expect(r.stdout + r.stderr).toMatch(/no-such-data/);
  });

  it('an operation printing without end: stopped by the timeout, its log bounded', async () => {
    const dir = await project({
      operations: {
        Chatty: py(
          'class Chatty():',
          '    def execute(self):',
          '        while True:',
          "            print('x' * 200)",
        ),
      },
      pipelines: { p: one('Chatty') },
    });
    const r = await cli(['run', dir, 'p', '--timeout', '3', '--json'], {
      ...env,
      DEEPFORGE_LOG_MAX_BYTES: '1MiB',
    });
    expect(r.code).toBe(1);
    const result = JSON.parse(r.stdout.trim().split('\n').pop()!) as {
      executionId: string;
      jobs: { error: { kind: string } }[];
    };
    expect(result.jobs[0]!.error.kind).toBe('timeout');
    const details = JSON.parse((await cli(['executions', result.executionId, '--json'], env)).stdout) as {
      jobs: { logFile: string }[];
    };
    const log = await readFile(details.jobs[0]!.logFile);
    expect(log.length).toBeLessThan(1.1 * 2 ** 20);
    expect(log.length).toBeGreaterThan(0.9 * 2 ** 20);
  });
});
