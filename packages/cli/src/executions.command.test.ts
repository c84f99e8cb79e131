import { once } from 'node:events';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  TEST_PYTHON,
  chain,
  cleanEnv,
  makeTempDir,
  py,
  removeTree,
  writeProjectFolder,
} from '@deepforge/engine/test-support';
import { cli, spawnCli } from './test-support/run-cli.js';

let tmp: string;
let env: Record<string, string | undefined>;

beforeEach(async () => {
  tmp = await makeTempDir('cli-exec');
  env = cleanEnv({ DEEPFORGE_DATA_DIR: join(tmp, 'data'), DEEPFORGE_PYTHON: TEST_PYTHON, NO_COLOR: '1' });
});
afterEach(async () => {
  await removeTree(tmp);
});

function lastJson<T>(stdout: string): T {
  return JSON.parse(stdout.trim().split('\n').pop()!) as T;
}

describe('deepforge executions and resume', () => {
  it('resume re-runs only what failed, reusing what succeeded', async () => {
    const counter = join(tmp, 'count.txt');
    const flag = join(tmp, 'flag');
    const dir = await writeProjectFolder(join(tmp, 'project'), {
      operations: {
        Count: py(
          'class Count():',
          '    def execute(self):',
          `        open(${JSON.stringify(counter)}, 'a').write('x')`,
          '        n = 3',
          '        return n',
        ),
        Flaky: py(
          'import os',
          'class Flaky():',
          '    def execute(self, n):',
          `        if not os.path.exists(${JSON.stringify(flag)}):`,
          "            raise RuntimeError('the flag file is missing')",
          '        doubled = n * 2',
          '        return doubled',
        ),
      },
      pipelines: {
        p: chain(
          [
            { id: 'count', operation: 'Count' },
            { id: 'flaky', operation: 'Flaky' },
            { id: 'save', operation: 'Output', attributes: { saveName: 'doubled' } },
          ],
          [
            ['count.n', 'flaky.n'],
            ['flaky.doubled', 'save.data'],
          ],
        ),
      },
    });
    const first = await cli(['run', dir, 'p', '--json'], env);
    expect(first.code).toBe(1);
    const { executionId } = lastJson<{ executionId: string }>(first.stdout);

    const list = await cli(['executions'], env);
    expect(list.stdout).toMatch(new RegExp(`^${executionId}\\s+failed\\s+p\\s+test\\s`, 'm'));
    const shown = await cli(['executions', executionId.slice(0, 6)], env);
    expect(shown.stdout).toMatch(
      // Duration, then what the failed job used (its CPU time and peak memory), then its error.
      /flaky\s+Flaky\s+failed\s+\S+\s+\d+(\.\d+)?m?s\s+\d+(\.\d+)? MiB\s+RuntimeError: the flag file is missing \(operations\/Flaky\.py:5\)/,
    );
    expect(shown.stdout).toMatch(/Traceback of flaky:/);
    const log = await cli(['executions', executionId, '--log', 'flaky'], env);
    expect(log.stdout).toMatch(/RuntimeError: the flag file is missing/);

    await writeFile(flag, '');
    const resumed = await cli(['resume', executionId, '--json'], env);
    expect(resumed.code).toBe(0);
    const result = lastJson<{ status: string; jobs: { node: string; status: string }[] }>(resumed.stdout);
    expect(result.status).toBe('success');
    expect(await readFile(counter, 'utf8')).toBe('x');
    const got = await cli(['artifacts', 'get', 'doubled', '--info'], env);
    expect(JSON.parse(got.stdout)).toMatchObject({ name: 'doubled', pyType: 'builtins.int' });
  });

  it('resume --current runs the fixed code of the folder as a new execution; the unchanged upstream is reused', async () => {
    const counter = join(tmp, 'count.txt');
    const flaky = (line: string) =>
      py(
        'class Flaky():',
        '    def execute(self, n):',
        `        ${line}`,
        '        doubled = n * 2',
        '        return doubled',
      );
    const files = {
      operations: {
        Count: py(
          'class Count():',
          '    def execute(self):',
          `        open(${JSON.stringify(counter)}, 'a').write('x')`,
          '        n = 3',
          '        return n',
        ),
        Flaky: flaky("raise RuntimeError('a bug')"),
      },
      pipelines: {
        p: chain(
          [
            { id: 'count', operation: 'Count' },
            { id: 'flaky', operation: 'Flaky' },
          ],
          [['count.n', 'flaky.n']],
        ),
      },
    };
    const dir = await writeProjectFolder(join(tmp, 'project'), files);
    const first = await cli(['run', dir, 'p', '--json'], env);
    expect(first.code).toBe(1);
    const { executionId } = lastJson<{ executionId: string }>(first.stdout);
    // The snapshot still has the bug, whatever the folder says now.
    await writeProjectFolder(dir, {
      ...files,
      operations: { ...files.operations, Flaky: flaky("print('fixed')") },
    });
    const bad = await cli(['resume', executionId, '--current', dir, '--cache'], env);
    expect(bad.code).not.toBe(0);
    expect(bad.stderr).toMatch(/--current always reuses/);
    const resumed = await cli(['resume', executionId, '--current', dir, '--json'], env);
    expect(resumed.stderr).toBe('');
    expect(resumed.code).toBe(0);
    const result = lastJson<{ executionId: string; status: string }>(resumed.stdout);
    expect(result.status).toBe('success');
    expect(result.executionId).not.toBe(executionId);
    expect(await readFile(counter, 'utf8')).toBe('x');
    const shown = await cli(['executions', result.executionId], env);
    expect(shown.stdout).toMatch(/count\s+Count\s+cached/);
    const old = await cli(['executions', executionId], env);
    expect(old.stdout).toMatch(/flaky\s+Flaky\s+failed/);
  });

  it('an unknown execution id is an error naming it', async () => {
    const r = await cli(['executions', 'zzzzzz'], env);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/zzzzzz/);
    const r2 = await cli(['resume', 'zzzzzz'], env);
    expect(r2.code).toBe(1);
    expect(r2.stderr).toMatch(/zzzzzz/);
  });

  it('after `deepforge run` is killed with SIGKILL, the next command finds the dead job and keeps finished outputs', async () => {
    const started = join(tmp, 'started');
    const dir = await writeProjectFolder(join(tmp, 'project'), {
      operations: {
        First: py(
          'class First():',
          '    def execute(self):',
          "        value = 'kept'",
          '        return value',
        ),
        Sleepy: py(
          'import time',
          'class Sleepy():',
          '    def execute(self, value):',
          `        open(${JSON.stringify(started)}, 'w').close()`,
          '        time.sleep(60)',
          '        return value',
        ),
      },
      pipelines: {
        p: chain(
          [
            { id: 'first', operation: 'First' },
            { id: 'sleepy', operation: 'Sleepy' },
          ],
          [['first.value', 'sleepy.value']],
        ),
      },
    });
    const child = spawnCli(['run', dir, 'p', '--json'], env);
    let stdout = '';
    child.stdout!.on('data', (c: Buffer) => (stdout += c.toString()));
    // Wait until the second operation is really running, then kill the CLI the hard way.
    for (let i = 0; i < 200; i++) {
      const ok = await readFile(started).then(
        () => true,
        () => false,
      );
      if (ok) break;
      await new Promise((r) => setTimeout(r, 100));
    }
    child.kill('SIGKILL');
    await once(child, 'close');
    const executionId = (JSON.parse(stdout.split('\n')[0]!) as { executionId: string }).executionId;

    const shown = await cli(['executions', executionId, '--json'], env);
    const details = JSON.parse(shown.stdout) as {
      status: string;
      jobs: { node: string; status: string; error: { kind: string } | null; outputs: { name: string }[] }[];
    };
    expect(details.status).toBe('failed');
    const jobs = Object.fromEntries(details.jobs.map((j) => [j.node, j]));
    expect(jobs.first).toMatchObject({ status: 'success', outputs: [{ name: 'value' }] });
    expect(jobs.sleepy).toMatchObject({ status: 'failed', error: { kind: 'runner-died' } });
  });
});

describe('deepforge config', () => {
  it('prints, sets, overrides with the environment, unsets, and refuses unknown keys and bad values', async () => {
    const all = await cli(['config'], env);
    expect(all.code).toBe(0);
    expect(all.stdout).toMatch(/Current config/);
    expect(all.stdout).toMatch(/"blob": \{\s+"dir": ".*data\/blob"/);

    const set = await cli(
      ['config', 'executions.concurrency', '3'],
      cleanEnv({ DEEPFORGE_DATA_DIR: join(tmp, 'data') }),
    );
    expect(set.code).toBe(0);
    expect(
      (await cli(['config', 'executions.concurrency'], cleanEnv({ DEEPFORGE_DATA_DIR: join(tmp, 'data') })))
        .stdout,
    ).toBe('3\n');
    const overridden = await cli(
      ['config', 'executions.concurrency'],
      cleanEnv({ DEEPFORGE_DATA_DIR: join(tmp, 'data'), DEEPFORGE_CONCURRENCY: '5' }),
    );
    expect(overridden.stdout).toBe('5\n');
    const file = JSON.parse(await readFile(join(tmp, 'data', 'config.json'), 'utf8')) as unknown;
    expect(file).toEqual({ executions: { concurrency: 3 } });

    const unset = await cli(
      ['config', 'executions.concurrency', '--unset'],
      cleanEnv({ DEEPFORGE_DATA_DIR: join(tmp, 'data') }),
    );
    expect(unset.code).toBe(0);
    expect(JSON.parse(await readFile(join(tmp, 'data', 'config.json'), 'utf8'))).toEqual({});

    const unknown = await cli(['config', 'nope.key', '1'], env);
    expect(unknown.code).toBe(1);
    expect(unknown.stderr).toMatch(/nope\.key/);
    const bad = await cli(['config', 'executions.concurrency', 'many'], env);
    expect(bad.code).toBe(1);
    expect(bad.stderr).toMatch(/executions\.concurrency.*many|many.*executions\.concurrency/);
    expect(JSON.parse(await readFile(join(tmp, 'data', 'config.json'), 'utf8'))).toEqual({});
  });
});
