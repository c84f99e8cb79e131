import { execFile } from 'node:child_process';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterEach, describe, expect, it } from 'vitest';
import { cleanEnv, makeTempDir, removeTree, TEST_PYTHON } from '@deepforge/engine/test-support';
import { projectFromDoc, setNodeAttribute, type VersionPage } from '@deepforge/protocol';
import { startFixture } from '../test-support/server-fixture.js';

const run = promisify(execFile);
/** The built `deepforge` command. */
const CLI = fileURLToPath(new URL('../../../cli/dist/main.js', import.meta.url));
const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

/** The real git client, with no user configuration. */
async function git(cwd: string, args: string[]): Promise<{ ok: boolean; stdout: string; stderr: string }> {
  const env = {
    PATH: process.env.PATH ?? '/usr/bin:/bin',
    HOME: cwd,
    GIT_CONFIG_NOSYSTEM: '1',
    GIT_TERMINAL_PROMPT: '0',
    GIT_AUTHOR_NAME: 'Ada',
    GIT_AUTHOR_EMAIL: 'ada@example.com',
    GIT_COMMITTER_NAME: 'Ada',
    GIT_COMMITTER_EMAIL: 'ada@example.com',
  };
  try {
    const r = await run('git', args, { cwd, env });
    return { ok: true, stdout: r.stdout, stderr: r.stderr };
  } catch (err) {
    const e = err as { stdout?: string; stderr?: string };
    return { ok: false, stdout: e.stdout ?? '', stderr: e.stderr ?? '' };
  }
}

describe('git smart HTTP', () => {
  it('clones a project with its history, accepts a valid push live, refuses bad and stale pushes', async () => {
    const f = await startFixture({ historyQuietMs: 600_000, historyMaxChanges: 1_000_000 });
    cleanups.push(() => f.cleanup());
    const base = await f.server.listen(0, '127.0.0.1');
    const p = await f.createProject({ name: 'h', example: 'hello' });
    await f.server.documents.edit(p.id, (doc) => setNodeAttribute(doc, 'hello', 'left', 'number', 5));
    const work = await makeTempDir('git-client');
    cleanups.push(() => removeTree(work));

    // Clone: the project folder, with the unsaved edit checkpointed first.
    const clone = await git(work, ['clone', `${base}/git/${p.id}`, 'proj']);
    expect(clone.stderr).not.toMatch(/fatal/);
    expect(clone.ok).toBe(true);
    const dir = join(work, 'proj');
    const pipelineFile = join(dir, 'pipelines', 'hello.json');
    const pipeline = JSON.parse(await readFile(pipelineFile, 'utf8')) as {
      nodes: { id: string; attributes: Record<string, unknown> }[];
    };
    expect(pipeline.nodes.find((n) => n.id === 'left')!.attributes.number).toBe(5);
    const log = await git(dir, ['log', '--format=%s']);
    expect(log.stdout.trim().split('\n').length).toBe(2);

    // `deepforge run` runs the clone as it is (the artifact's data file came with it).
    const cliData = await makeTempDir('git-cli');
    cleanups.push(() => removeTree(cliData));
    const ran = await run(process.execPath, [CLI, 'run', dir, 'hello'], {
      env: cleanEnv({ DEEPFORGE_DATA_DIR: cliData, DEEPFORGE_PYTHON: TEST_PYTHON }) as NodeJS.ProcessEnv,
    }).catch((err: { stdout?: string; stderr?: string }) => ({
      stdout: err.stdout ?? '',
      stderr: err.stderr ?? 'failed',
    }));
    expect(ran.stderr).toBe('');
    expect(ran.stdout).toMatch(/The product is 20!/);

    // A valid push: a new version, live in the document.
    pipeline.nodes.find((n) => n.id === 'left')!.attributes.number = 12;
    await writeFile(pipelineFile, JSON.stringify(pipeline, null, 2) + '\n');
    expect((await git(dir, ['commit', '-qam', 'twelve'])).ok).toBe(true);
    const push = await git(dir, ['push', 'origin', 'main']);
    expect(push.stderr).not.toMatch(/rejected|error/);
    expect(push.ok).toBe(true);
    const live = await f.server.documents.read(p.id, projectFromDoc);
    expect(live.pipelines.hello!.nodes.find((n) => n.id === 'left')!.attributes.number).toBe(12);
    const versions = (
      await f.server.app.inject({ url: `/api/projects/${p.id}/versions` })
    ).json<VersionPage>();
    expect(versions.versions[0]).toMatchObject({ kind: 'push', message: 'twelve', author: { name: 'Ada' } });

    // A syntax error in an operation: refused, with the error in git's output.
    const opFile = join(dir, 'operations', 'Multiply.py');
    await writeFile(opFile, 'class Multiply(:\n    pass\n');
    await git(dir, ['commit', '-qam', 'broken']);
    const bad = await git(dir, ['push', 'origin', 'main']);
    expect(bad.ok).toBe(false);
    expect(bad.stderr).toMatch(/remote: DeepForge refused this push/);
    expect(bad.stderr).toMatch(/remote: .*Multiply/);
    expect(bad.stderr).toMatch(/pre-receive hook declined/);
    const still = await f.server.documents.read(p.id, projectFromDoc);
    expect(still.operations.Multiply!.code).not.toContain('class Multiply(:');
    await git(dir, ['reset', '-q', '--hard', 'HEAD~1']);

    // A cycle in a pipeline: refused too.
    const cyclic = JSON.parse(await readFile(pipelineFile, 'utf8')) as {
      connections: { from: { node: string; port: string }; to: { node: string; port: string } }[];
    };
    const first = cyclic.connections[0]!;
    const next = cyclic.connections.find((c) => c.from.node === first.to.node)!;
    cyclic.connections.push({
      from: { node: next.to.node, port: next.from.port },
      to: { node: first.to.node, port: first.to.port },
    });
    await writeFile(pipelineFile, JSON.stringify(cyclic, null, 2) + '\n');
    await git(dir, ['commit', '-qam', 'cycle']);
    const cycle = await git(dir, ['push', 'origin', 'main']);
    expect(cycle.ok).toBe(false);
    expect(cycle.stderr).toMatch(/remote: pipelines\/hello\.json: .*has a cycle/);
    await git(dir, ['reset', '-q', '--hard', 'HEAD~1']);

    // Someone edits live meanwhile: a push based on the older version is not a fast-forward.
    await f.server.documents.edit(p.id, (doc) => setNodeAttribute(doc, 'hello', 'right', 'number', 3));
    await writeFile(join(dir, 'README.md'), 'notes\n');
    await git(dir, ['add', 'README.md']);
    await git(dir, ['commit', '-qm', 'readme']);
    const stale = await git(dir, ['push', 'origin', 'main']);
    expect(stale.ok).toBe(false);
    expect(stale.stderr).toMatch(/rejected/);
    const after = await f.server.documents.read(p.id, projectFromDoc);
    expect(after.pipelines.hello!.nodes.find((n) => n.id === 'right')!.attributes.number).toBe(3);

    // A deleted project: nothing to push to.
    expect((await f.server.app.inject({ method: 'DELETE', url: `/api/projects/${p.id}` })).statusCode).toBe(
      204,
    );
    const gone = await git(dir, ['push', 'origin', 'main']);
    expect(gone.ok).toBe(false);
    expect(gone.stderr).toMatch(/not found|404/i);
  });

  it('imports a git bundle of a project folder as a new project with its history', async () => {
    const f = await startFixture({ historyQuietMs: 600_000, historyMaxChanges: 1_000_000 });
    cleanups.push(() => f.cleanup());
    const base = await f.server.listen(0, '127.0.0.1');
    const p = await f.createProject({ name: 'h', example: 'hello' });
    const work = await makeTempDir('git-bundle');
    cleanups.push(() => removeTree(work));
    expect((await git(work, ['clone', '-q', `${base}/git/${p.id}`, 'proj'])).ok).toBe(true);
    const dir = join(work, 'proj');
    const opFile = join(dir, 'operations', 'Multiply.py');
    await writeFile(opFile, (await readFile(opFile, 'utf8')) + '# bundled\n');
    await git(dir, ['commit', '-qam', 'a local change']);
    expect((await git(dir, ['bundle', 'create', '-q', join(work, 'p.bundle'), 'main'])).ok).toBe(true);

    const res = await f.server.app.inject({
      method: 'POST',
      url: '/api/projects/import?name=bundled',
      headers: { 'content-type': 'application/x-git-bundle' },
      payload: await readFile(join(work, 'p.bundle')),
    });
    expect(res.statusCode, res.body).toBe(201);
    const imported = res.json<{ id: string; name: string }>();
    expect(imported.name).toBe('bundled');
    const doc = await f.server.documents.read(imported.id, projectFromDoc);
    expect(doc.operations.Multiply!.code).toContain('# bundled');
    const versions = (
      await f.server.app.inject({ url: `/api/projects/${imported.id}/versions` })
    ).json<VersionPage>();
    expect(versions.versions.map((v) => v.kind)).toEqual(['import', 'push', 'created']);
    expect(versions.versions[1]!.message).toBe('a local change');

    const bad = await f.server.app.inject({
      method: 'POST',
      url: '/api/projects/import',
      headers: { 'content-type': 'application/x-git-bundle' },
      payload: Buffer.from('not a bundle'),
    });
    expect(bad.statusCode).toBe(400);
    expect(bad.json<{ message: string }>().message).toMatch(/not a git bundle/);
  });
});
