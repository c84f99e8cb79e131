import { readFile, writeFile } from 'node:fs/promises';
import { createServer as createNetServer } from 'node:net';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  REPORTING_CHAIN,
  TEST_PYTHON,
  chain,
  cleanEnv,
  makeTempDir,
  py,
  removeTree,
  writeProjectFolder,
  type TestProjectFiles,
} from '@deepforge/engine/test-support';
import { createServer, type DeepForgeServer } from '@deepforge/server';
import { startTestAgent } from '@deepforge/server/test-support/worker-agent';
import { ExecutionEventSchema } from '@deepforge/protocol';
import { cli, spawnCli } from './test-support/run-cli.js';

/**
 * `deepforge run --server`: a real server with accounts (its own machine runs the jobs, like `deepforge start`),
 * the project folder sent to it, and the execution followed over its events socket. The same project run here,
 * locally, prints the same lines.
 */

const PROJECT: TestProjectFiles = {
  ...REPORTING_CHAIN,
  operations: {
    ...REPORTING_CHAIN.operations,
    Boom: py('class Boom():', '    def execute(self, x):', '        result = x / 0', '        return result'),
    Slow: py(
      'import time',
      'class Slow():',
      '    def execute(self, x):',
      '        print("slow started", flush=True)',
      '        time.sleep(30)',
      '        slowed = x + 1',
      '        return slowed',
    ),
  },
  pipelines: {
    ...REPORTING_CHAIN.pipelines,
    boom: chain(
      [
        { id: 'six', operation: 'Input', attributes: { artifact: 'six' } },
        { id: 'boom', operation: 'Boom' },
      ],
      [['six.data', 'boom.x']],
    ),
    slow: chain(
      [
        { id: 'six', operation: 'Input', attributes: { artifact: 'six' } },
        { id: 'slow', operation: 'Slow' },
      ],
      [['six.data', 'slow.x']],
    ),
  },
};

let tmp: string;
let server: DeepForgeServer;
let url: string;
let projectDir: string;
let env: Record<string, string | undefined>;

beforeAll(async () => {
  tmp = await makeTempDir('cli-run-server');
  server = await createServer({
    dataDir: join(tmp, 'server'),
    env: cleanEnv({ DEEPFORGE_LOG_LEVEL: 'warn' }),
    settings: { python: TEST_PYTHON, 'auth.enabled': true },
    clientDir: join(tmp, 'no-client'),
  });
  url = await server.listen(0, '127.0.0.1');
  await server.engine.accounts.createUser('ann', 'ann password', { admin: false });
  projectDir = join(tmp, 'project');
  await writeProjectFolder(projectDir, PROJECT);
  env = cleanEnv({ DEEPFORGE_DATA_DIR: join(tmp, 'client'), NO_COLOR: '1', DEEPFORGE_PYTHON: TEST_PYTHON });
  // The token comes from the credentials file `deepforge login` writes.
  const login = await cli(['login', url, '--name', 'ann'], env, tmp, 'ann password\n');
  expect(login.code, login.stderr).toBe(0);
});
afterAll(async () => {
  await server?.close();
  await removeTree(tmp);
});

/** The lines an operation printed (`Report │ value is 12`), as the run's output shows them. */
const consoleLines = (stdout: string): string[] =>
  stdout
    .split('\n')
    .filter((l) => / │ /.test(l) && !l.includes('[deepforge]'))
    .map((l) => l.trimEnd());

describe('deepforge run --server', () => {
  it('runs the folder on the server and prints what a local run prints, exit code 0', async () => {
    const remote = await cli(['run', '--server', url, projectDir, 'main'], env, tmp);
    expect(remote.stderr).toMatch(new RegExp(`^imported .* into ${url} as project "test"`));
    expect(remote.code, remote.stdout + remote.stderr).toBe(0);
    const local = await cli(
      ['run', projectDir, 'main'],
      { ...env, DEEPFORGE_DATA_DIR: join(tmp, 'local') },
      tmp,
    );
    expect(local.code, local.stdout + local.stderr).toBe(0);
    expect(consoleLines(remote.stdout)).toEqual(consoleLines(local.stdout));
    expect(consoleLines(remote.stdout)).toContain('Report │ value is 12');
    expect(remote.stdout).toMatch(/succeeded/i);

    // On the server: a project of ann's with the execution, successful.
    const projects = await server.engine.projects.listProjects();
    expect(projects.length).toBeGreaterThanOrEqual(1);
    const executions = await server.engine.listExecutions();
    expect(executions[0]).toMatchObject({ pipeline: 'main', status: 'success' });
    expect(remote.stdout).toContain(`/executions/${executions[0]!.id}`);
  });

  it('prints the events as JSON lines with --json, and sets attributes with --set', async () => {
    const r = await cli(
      ['run', '--server', url, projectDir, 'main', '--json', '--set', 'six.artifact="six"'],
      env,
      tmp,
    );
    expect(r.code, r.stderr).toBe(0);
    const lines = r.stdout
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as Record<string, unknown>);
    const result = lines.at(-1)!;
    expect(result).toMatchObject({ type: 'run.result', status: 'success', pipeline: 'main' });
    for (const e of lines.slice(0, -1)) ExecutionEventSchema.parse(e);
    expect(lines.some((e) => e.type === 'job.log' && e.text === 'value is 12')).toBe(true);
  });

  it('exits 1 with the operation’s error when it fails there', async () => {
    const r = await cli(['run', '--server', url, projectDir, 'boom'], env, tmp);
    expect(r.code).toBe(1);
    expect(r.stdout).toMatch(/ZeroDivisionError/);
  });

  it('refuses a wrong token, and a pipeline the folder does not have, saying so', async () => {
    const wrong = await cli(['run', '--server', url, '--token', 'dfp_nope', projectDir, 'main'], env, tmp);
    expect(wrong.code).not.toBe(0);
    expect(wrong.stderr).toMatch(/token was refused/);
    // A token that was good and is revoked (deepforge logout revokes it on the server) is refused too.
    const stored = JSON.parse(await readFile(join(tmp, 'client', 'credentials.json'), 'utf8')) as {
      servers: Record<string, { token: string }>;
    };
    const old = stored.servers[url]!.token;
    expect((await cli(['logout', url], env)).code).toBe(0);
    const revoked = await cli(['run', '--server', url, '--token', old, projectDir, 'main'], env, tmp);
    expect(revoked.code).not.toBe(0);
    expect(revoked.stderr).toMatch(/token was refused/);
    // Without any token now, the server with accounts says to sign in.
    const none = await cli(['run', '--server', url, projectDir, 'main'], env, tmp);
    expect(none.stderr).toMatch(/deepforge login/);
    expect((await cli(['login', url, '--name', 'ann'], env, tmp, 'ann password\n')).code).toBe(0);
    const before = (await server.engine.listExecutions()).length;
    const missing = await cli(['run', '--server', url, projectDir, 'nope'], env, tmp);
    expect(missing.code).not.toBe(0);
    // Said before anything is sent, as a local run says it.
    expect(missing.stderr).toMatch(/has no pipeline "nope"; its pipelines are: .*main/);
    expect(missing.stderr).not.toMatch(/imported|updated project/);
    expect((await server.engine.listExecutions()).length).toBe(before);
  });

  it('says a server it cannot reach cannot be reached', async () => {
    const closed = await new Promise<number>((resolve) => {
      const s = createNetServer().listen(0, '127.0.0.1', () => {
        const port = (s.address() as { port: number }).port;
        s.close(() => resolve(port));
      });
    });
    const r = await cli(['run', '--server', `http://127.0.0.1:${closed}`, projectDir, 'main'], env, tmp);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toMatch(new RegExp(`cannot reach http://127\\.0\\.0\\.1:${closed}: ECONNREFUSED`));
  });

  it('cancels the execution on the server at Ctrl-C', async () => {
    const child = spawnCli(['run', '--server', url, projectDir, 'slow'], env);
    let out = '';
    child.stdout!.on('data', (c: Buffer) => (out += c.toString()));
    child.stderr!.on('data', (c: Buffer) => (out += c.toString()));
    const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
    for (let i = 0; !out.includes('slow started'); i++) {
      if (i > 600) throw new Error(`the job never started:\n${out}`);
      await new Promise((r) => setTimeout(r, 50));
    }
    child.kill('SIGINT');
    expect(await exited).toBe(1);
    expect(out).toMatch(/Canceling on http/);
    const slow = (await server.engine.listExecutions()).find((e) => e.pipeline === 'slow')!;
    expect(slow.status).toBe('canceled');
  });
});

/** The token `deepforge login` stored for the test server (it changes when a test signs in again). */
async function storedToken(): Promise<string> {
  const stored = JSON.parse(await readFile(join(tmp, 'client', 'credentials.json'), 'utf8')) as {
    servers: Record<string, { token: string }>;
  };
  return stored.servers[url]!.token;
}

const projectCount = async (): Promise<number> => (await server.engine.projects.listProjects()).length;

/** The project id a run's stderr names: `… as project "test" (<id>)` or `updated project "test" (<id>) …`. */
const projectIdOf = (stderr: string): string => /project "[^"]*" \(([^)]+)\)/.exec(stderr)![1]!;

describe('deepforge run --server, run again on one folder', () => {
  let dir: string;
  beforeAll(async () => {
    dir = join(tmp, 'again');
    await writeProjectFolder(dir, PROJECT);
  });

  it('updates the project the first run made: one project, the edited code runs, --cache reuses the rest', async () => {
    const before = await projectCount();
    const first = await cli(['run', '--server', url, dir, 'main'], env, tmp);
    expect(first.code, first.stdout + first.stderr).toBe(0);
    expect(first.stderr).toContain(`imported ${dir} into ${url} as project "test"`);
    const id = projectIdOf(first.stderr);
    expect(await projectCount()).toBe(before + 1);
    const remembered = JSON.parse(await readFile(join(tmp, 'client', 'server-projects.json'), 'utf8')) as {
      servers: Record<string, Record<string, { projectId: string }>>;
    };
    expect(remembered.servers[url]?.[dir]?.projectId).toBe(id);
    expect(JSON.stringify(remembered)).not.toContain(await storedToken());

    // The folder's Report prints something else now.
    const report = join(dir, 'operations', 'Report.py');
    await writeFile(report, (await readFile(report, 'utf8')).replace('"value is"', '"value now is"'));
    const second = await cli(['run', '--server', url, dir, 'main', '--cache'], env, tmp);
    expect(second.code, second.stdout + second.stderr).toBe(0);
    expect(second.stderr).toContain(`updated project "test" (${id}) on ${url} from ${dir}`);
    expect(second.stderr).not.toMatch(/imported/);
    expect(await projectCount()).toBe(before + 1);
    expect(consoleLines(second.stdout)).toContain('Report │ value now is 12');
    expect(consoleLines(second.stdout)).not.toContain('Report │ value is 12');
    // The unchanged operation's result of the first run is reused (same project), the edited one runs.
    const executionId = /\/executions\/([^/\s]+)/.exec(second.stdout)![1]!;
    const details = await server.engine.getExecution(executionId);
    expect(details.projectId).toBe(id);
    const job = (node: string) => details.jobs.find((j) => j.node === node)!;
    expect(job('double').cachedFrom).toBeTruthy();
    expect(job('report').cachedFrom).toBeFalsy();
    // The update is a version in the project's history.
    const versions = await fetch(`${url}/api/projects/${id}/versions`, {
      headers: { authorization: `Bearer ${await storedToken()}` },
    }).then((r) => r.json() as Promise<{ versions: { kind: string; message: string }[] }>);
    expect(versions.versions[0]).toMatchObject({ kind: 'import', message: 'Updated from a project folder' });
  });

  it('makes a new project with --new-project, which the next runs update', async () => {
    const before = await projectCount();
    const old = JSON.parse(await readFile(join(tmp, 'client', 'server-projects.json'), 'utf8')) as {
      servers: Record<string, Record<string, { projectId: string }>>;
    };
    const fresh = await cli(['run', '--server', url, dir, 'main', '--new-project'], env, tmp);
    expect(fresh.code, fresh.stdout + fresh.stderr).toBe(0);
    expect(fresh.stderr).toContain(`imported ${dir} into ${url} as project "test"`);
    const id = projectIdOf(fresh.stderr);
    expect(id).not.toBe(old.servers[url]![dir]!.projectId);
    expect(await projectCount()).toBe(before + 1);
    const next = await cli(['run', '--server', url, dir, 'main'], env, tmp);
    expect(next.code, next.stdout + next.stderr).toBe(0);
    expect(next.stderr).toContain(`updated project "test" (${id})`);
    expect(await projectCount()).toBe(before + 1);
  });

  it('keeps a reused project when its pipeline cannot start, and deletes one it made for that run', async () => {
    const known = await cli(['run', '--server', url, dir, 'main'], env, tmp);
    const id = projectIdOf(known.stderr);
    const before = await projectCount();
    // A pipeline the server refuses to start: one of its nodes runs an operation the project does not have.
    await writeFile(
      join(dir, 'pipelines', 'broken.json'),
      JSON.stringify({ name: 'broken', nodes: [{ id: 'x', operation: 'Missing' }], connections: [] }),
    );
    const reused = await cli(['run', '--server', url, dir, 'broken'], env, tmp);
    expect(reused.code).not.toBe(0);
    expect(reused.stderr).toContain(`updated project "test" (${id})`);
    expect(reused.stderr).toMatch(/Missing/);
    expect(await server.engine.projects.getProject(id)).toBeDefined();
    const fresh = await cli(['run', '--server', url, dir, 'broken', '--new-project'], env, tmp);
    expect(fresh.code).not.toBe(0);
    expect(fresh.stderr).toMatch(/imported/);
    expect(await server.engine.projects.getProject(projectIdOf(fresh.stderr))).toBeUndefined();
    expect(await projectCount()).toBe(before);
    // The folder's project is still the one it had.
    const next = await cli(['run', '--server', url, dir, 'main'], env, tmp);
    expect(next.stderr).toContain(`updated project "test" (${id})`);
  });

  it('imports the folder anew when its project was deleted on the server', async () => {
    const run = await cli(['run', '--server', url, dir, 'main'], env, tmp);
    const id = projectIdOf(run.stderr);
    const deleted = await fetch(`${url}/api/projects/${id}`, {
      method: 'DELETE',
      headers: { authorization: `Bearer ${await storedToken()}` },
    });
    expect(deleted.status).toBe(204);
    const before = await projectCount();
    const again = await cli(['run', '--server', url, dir, 'main'], env, tmp);
    expect(again.code, again.stdout + again.stderr).toBe(0);
    expect(again.stderr).toMatch(/is gone there/);
    expect(again.stderr).toContain(`imported ${dir} into ${url} as project "test"`);
    const newId = projectIdOf(again.stderr.slice(again.stderr.indexOf('imported')));
    expect(newId).not.toBe(id);
    expect(await projectCount()).toBe(before + 1);
  });

  it('says so and imports nothing when the caller may only read the project, suggesting --new-project', async () => {
    const run = await cli(['run', '--server', url, dir, 'main'], env, tmp);
    const id = projectIdOf(run.stderr);
    await server.engine.accounts.createUser('rea', 'rea password', { admin: false });
    const rea = await server.engine.accounts.userByName('rea');
    await server.engine.accounts.setMember(id, rea, 'reader');
    const reaEnv = { ...env, DEEPFORGE_DATA_DIR: join(tmp, 'rea') };
    expect((await cli(['login', url, '--name', 'rea'], reaEnv, tmp, 'rea password\n')).code).toBe(0);
    // rea's earlier run of this folder is remembered as being in ann's project (shared with rea as reader).
    await writeFile(
      join(tmp, 'rea', 'server-projects.json'),
      JSON.stringify({ servers: { [url]: { [dir]: { projectId: id, name: 'test', usedAt: 1 } } } }),
    );
    const before = await projectCount();
    const executions = (await server.engine.listExecutions()).length;
    const refused = await cli(['run', '--server', url, dir, 'main'], reaEnv, tmp);
    expect(refused.code).not.toBe(0);
    expect(refused.stderr).toMatch(
      new RegExp(`may not change project "test" \\(${id}\\).*reader.*--new-project`),
    );
    expect(await projectCount()).toBe(before);
    expect((await server.engine.listExecutions()).length).toBe(executions);
  });

  it('refuses --new-project without --server', async () => {
    const r = await cli(['run', dir, 'main', '--new-project'], env, tmp);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toMatch(/--new-project goes with --server/);
  });
});

describe('deepforge run --server, on a server whose jobs run on workers', () => {
  it('runs there on a worker that connected with a token, without a token of its own (accounts off)', async () => {
    const root = await makeTempDir('cli-run-workers');
    const workers = await createServer({
      dataDir: join(root, 'server'),
      env: cleanEnv({ DEEPFORGE_LOG_LEVEL: 'warn' }),
      compute: 'none',
      settings: { python: TEST_PYTHON },
      clientDir: join(root, 'no-client'),
    });
    const workersUrl = await workers.listen(0, '127.0.0.1');
    const { token } = await workers.engine.workerTokens.create('cli', 'test');
    const agent = startTestAgent({
      serverUrl: workersUrl,
      token,
      labels: ['cli'],
      slots: 2,
      workDir: join(root, 'worker'),
    });
    try {
      const r = await cli(
        ['run', '--server', workersUrl, projectDir, 'main', '--labels', 'cli'],
        { ...env, DEEPFORGE_DATA_DIR: join(root, 'nobody') },
        tmp,
      );
      expect(r.code, r.stdout + r.stderr).toBe(0);
      expect(consoleLines(r.stdout)).toContain('Report │ value is 12');
      expect(r.stdout).toMatch(/leased to worker/);
    } finally {
      await agent.stop();
      await workers.close();
      await removeTree(root);
    }
  });
});
