import { execFileSync } from 'node:child_process';
import { cp, readFile, realpath, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TEST_PYTHON, cleanEnv, makeTempDir, removeTree } from '@deepforge/engine/test-support';
import type { ExecutionEvent } from '@deepforge/protocol';
import { createServer, type DeepForgeServer } from '@deepforge/server';
import { cli, spawnCli, type CliResult } from './test-support/run-cli.js';

/**
 * One data scope (docs/adr/0028): `deepforge run` of a folder, in a process of its own, beside a running server
 * on the same data dir (real SQLite in WAL mode, real Python). The server's REST API lists the folder project with
 * the CLI's executions and artifacts, and what is uploaded there the CLI can use.
 */

const EXAMPLES = fileURLToPath(new URL('../../../examples/', import.meta.url));

let tmp: string;
let dataDir: string;
let server: DeepForgeServer;
let url: string;
let env: Record<string, string | undefined>;

beforeAll(async () => {
  tmp = await makeTempDir('cli-data-scope');
  dataDir = join(tmp, 'data');
  env = cleanEnv({ DEEPFORGE_DATA_DIR: dataDir, DEEPFORGE_PYTHON: TEST_PYTHON, NO_COLOR: '1' });
  server = await createServer({
    dataDir,
    env: cleanEnv({ DEEPFORGE_LOG_LEVEL: 'warn' }),
    settings: { python: TEST_PYTHON },
    clientDir: join(tmp, 'no-client'),
    otherEnginesPollMs: 200,
  });
  url = await server.listen(0, '127.0.0.1');
}, 60_000);
afterAll(async () => {
  await server?.close();
  await removeTree(tmp);
});

async function api<T>(path: string, init?: RequestInit): Promise<T> {
  const res = await fetch(`${url}${path}`, init);
  const text = await res.text();
  if (!res.ok) throw new Error(`${init?.method ?? 'GET'} ${path}: ${res.status} ${text}`);
  return (text ? JSON.parse(text) : undefined) as T;
}

interface ProjectDto {
  id: string;
  name: string;
  folder?: string;
  counts: { executions: number; artifacts: number; pipelines: number };
}
interface ExecutionDto {
  id: string;
  status: string;
  pipeline: string;
}
interface ArtifactDto {
  id: string;
  name: string;
  hash: string;
}

/** `deepforge …` in a process of its own (the built CLI), as a user beside `deepforge start` runs it. */
function spawned(args: string[]): Promise<CliResult> {
  return new Promise((resolve, reject) => {
    const child = spawnCli(args, env);
    let stdout = '';
    let stderr = '';
    child.stdout!.on('data', (c: Buffer) => (stdout += c.toString()));
    child.stderr!.on('data', (c: Buffer) => (stderr += c.toString()));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code: code ?? -1, stdout, stderr }));
  });
}

async function copyHello(name: string): Promise<string> {
  const dir = join(tmp, name);
  await cp(join(EXAMPLES, 'hello'), dir, { recursive: true });
  return dir;
}

async function folderProjects(): Promise<ProjectDto[]> {
  return (await api<{ items: ProjectDto[] }>('/api/projects')).items.filter((p) => p.folder !== undefined);
}

async function until<T>(what: string, fn: () => Promise<T | undefined>, ms = 15_000): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const got = await fn();
    if (got !== undefined) return got;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

describe('deepforge run of a folder beside a running server', () => {
  let dir: string;
  let projectId: string;

  it('registers a folder project the server lists, with the execution, its console and its artifacts', async () => {
    dir = await copyHello('hello-one');
    const events: ExecutionEvent[] = [];
    const unsubscribe = server.engine.subscribe('*', (e) => events.push(e));
    const r = await spawned(['run', dir, 'hello', '--json']);
    expect(r.code, r.stderr).toBe(0);
    const result = JSON.parse(r.stdout.trim().split('\n').at(-1)!) as {
      projectId: string;
      executionId: string;
    };

    const projects = await folderProjects();
    expect(projects).toHaveLength(1);
    const project = projects[0]!;
    projectId = project.id;
    expect(result.projectId).toBe(projectId);
    expect(project).toMatchObject({ name: 'hello', folder: await realpath(dir) });
    expect(project.counts).toMatchObject({ executions: 1, pipelines: 2 });

    const executions = await api<{ items: ExecutionDto[] }>(`/api/projects/${projectId}/executions`);
    expect(executions.items).toEqual([
      expect.objectContaining({ id: result.executionId, status: 'success', pipeline: 'hello' }),
    ]);
    const log = await api<{ text: string }>(
      `/api/projects/${projectId}/executions/${result.executionId}/jobs/print/log`,
    );
    expect(log.text).toContain('Hello from DeepForge! The product is 16!');
    const artifacts = await api<{ items: ArtifactDto[] }>(`/api/projects/${projectId}/artifacts`);
    expect(artifacts.items.map((a) => a.name).sort()).toEqual(['greeting', 'product']);
    // The project's pipeline, as the server's document holds it.
    const pipeline = await api<{ pipeline: { nodes: { id: string }[] } }>(
      `/api/projects/${projectId}/pipelines/hello`,
    );
    expect(pipeline.pipeline.nodes.map((n) => n.id)).toContain('multiply');

    // The server followed the other process's execution: its status events reached this server's bus.
    await until('the success event', async () =>
      events.find(
        (e) =>
          e.type === 'execution.status' && e.executionId === result.executionId && e.status === 'success',
      ),
    );
    expect(events.find((e) => e.type === 'execution.status')).toMatchObject({ projectId });
    unsubscribe();
  });

  it('reuses the project on a re-run, with the cache of its earlier run', async () => {
    const r = await cli(['run', dir, 'hello', '--cache', '--json'], env);
    expect(r.code, r.stderr).toBe(0);
    const result = JSON.parse(r.stdout.trim().split('\n').at(-1)!) as {
      projectId: string;
      jobs: { node: string; status: string }[];
    };
    expect(result.projectId).toBe(projectId);
    expect(result.jobs.find((j) => j.node === 'multiply')?.status).toBe('cached');
    const projects = await folderProjects();
    expect(projects.map((p) => p.id)).toEqual([projectId]);
    expect(projects[0]!.counts.executions).toBe(2);
  });

  it('brings a changed folder into the document the server holds open', async () => {
    // The server reads the document now, so it is loaded (live) when the CLI appends to it.
    const before = await api<{ code: string }>(`/api/projects/${projectId}/operations/Print`);
    expect(before.code).toContain("print(f'{message} {value}{self.suffix}')");
    const file = join(dir, 'operations', 'Print.py');
    await writeFile(
      file,
      (await readFile(file, 'utf8')).replace("{self.suffix}')", "{self.suffix} (changed)')"),
    );
    const r = await cli(['run', dir, 'hello'], env);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain('The product is 16! (changed)');
    const after = await until('the changed code on the server', async () => {
      const op = await api<{ code: string }>(`/api/projects/${projectId}/operations/Print`);
      return op.code.includes('(changed)') ? op : undefined;
    });
    expect(after.code).toContain("{self.suffix} (changed)')");
    // Still one project, and the folder was only read.
    expect((await folderProjects()).map((p) => p.id)).toEqual([projectId]);
  });

  it('shows an artifact the CLI imports into the project over REST, and lists it with --project', async () => {
    const file = join(tmp, 'numbers.pkl');
    execFileSync(TEST_PYTHON, [
      '-c',
      'import pickle,sys; open(sys.argv[1], "wb").write(pickle.dumps([1, 2, 3]))',
      file,
    ]);
    const imported = await cli(['artifacts', 'import', file, 'numbers', '--project', dir], env);
    expect(imported.code, imported.stderr).toBe(0);
    const artifacts = await api<{ items: ArtifactDto[] }>(
      `/api/projects/${projectId}/artifacts?name=numbers`,
    );
    expect(artifacts.items).toHaveLength(1);

    const listed = await cli(['artifacts', 'list', '--project', projectId], env);
    expect(listed.stdout).toMatch(/^numbers\s/m);
    expect(listed.stdout).toMatch(/^product\s/m);
  });

  it('runs the folder with an artifact uploaded over REST', async () => {
    const data = execFileSync(TEST_PYTHON, [
      '-c',
      'import pickle,sys; sys.stdout.buffer.write(pickle.dumps("Uploaded in the IDE!"))',
    ]);
    const uploaded = await api<ArtifactDto>(
      `/api/projects/${projectId}/artifacts?name=ide-greeting&pyType=builtins.str`,
      { method: 'POST', headers: { 'content-type': 'application/octet-stream' }, body: data },
    );
    const r = await cli(['run', dir, 'hello', '--set', 'greeting.artifact=ide-greeting'], env);
    expect(r.code, r.stdout + r.stderr).toBe(0);
    expect(r.stdout).toContain('Uploaded in the IDE! 16! (changed)');
    const out = join(tmp, 'ide-greeting.pkl');
    const got = await cli(['artifacts', 'get', 'ide-greeting', '--project', dir, '-o', out], env);
    expect(got.code, got.stderr).toBe(0);
    expect((await readFile(out)).equals(data)).toBe(true);
    expect(uploaded.name).toBe('ide-greeting');
  });

  it('falls back to the unnamed CLI scope: an artifact imported without --project still feeds a run', async () => {
    const file = join(tmp, 'loose.pkl');
    execFileSync(TEST_PYTHON, [
      '-c',
      'import pickle,sys; open(sys.argv[1], "wb").write(pickle.dumps("Loose"))',
      file,
    ]);
    expect((await cli(['artifacts', 'import', file, 'loose'], env)).code).toBe(0);
    const r = await cli(['run', dir, 'hello', '--set', 'greeting.artifact=loose'], env);
    expect(r.code, r.stdout + r.stderr).toBe(0);
    expect(r.stdout).toContain('Loose 16! (changed)');
    // …but it is not the project's: the IDE does not list it there.
    const artifacts = await api<{ items: ArtifactDto[] }>(`/api/projects/${projectId}/artifacts?name=loose`);
    expect(artifacts.items).toEqual([]);
  });

  it('runs a folder project from the web IDE, reading its artifact file as the last CLI run imported it', async () => {
    const ended: ExecutionEvent[] = [];
    const unsubscribe = server.engine.subscribe('*', (e) => {
      if (e.type === 'execution.status' && e.status === 'success') ended.push(e);
    });
    const res = await api<ExecutionDto>(`/api/projects/${projectId}/executions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ pipeline: 'hello' }),
    });
    const done = await until('the IDE run to end', async () => {
      const e = await api<ExecutionDto>(`/api/projects/${projectId}/executions/${res.id}`);
      return e.status === 'success' || e.status === 'failed' ? e : undefined;
    });
    expect(done.status).toBe('success');
    // The server's own execution is not followed as another engine's: its end is announced once.
    await new Promise((r) => setTimeout(r, 1000));
    unsubscribe();
    expect(ended.filter((e) => e.executionId === res.id)).toHaveLength(1);
    // The CLI sees it (`deepforge executions` lists every scope).
    const listed = await cli(['executions', '--json'], env);
    expect((JSON.parse(listed.stdout) as { id: string }[]).map((e) => e.id)).toContain(res.id);
  });

  it('re-runs a CLI execution in the web IDE without reading the folder', async () => {
    const { items } = await api<{ items: ExecutionDto[] }>(
      `/api/projects/${projectId}/executions?sort=created&order=asc&limit=1`,
    );
    // The folder's greeting changes after the CLI imported it: the server must not read the new one.
    const greeting = join(dir, 'artifacts', 'greeting.pkl');
    const original = await readFile(greeting);
    execFileSync(TEST_PYTHON, [
      '-c',
      'import pickle,sys; open(sys.argv[1], "wb").write(pickle.dumps("Read from the folder"))',
      greeting,
    ]);
    try {
      const res = await api<ExecutionDto>(`/api/projects/${projectId}/executions/${items[0]!.id}/rerun`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: '{}',
      });
      const done = await until('the re-run to end', async () => {
        const e = await api<ExecutionDto>(`/api/projects/${projectId}/executions/${res.id}`);
        return e.status === 'success' || e.status === 'failed' ? e : undefined;
      });
      expect(done.status).toBe('success');
      const log = await api<{ text: string }>(
        `/api/projects/${projectId}/executions/${res.id}/jobs/print/log`,
      );
      expect(log.text).toContain('Hello from DeepForge! The product is 16!');
    } finally {
      await writeFile(greeting, original);
    }
  });
});

describe('folder projects: what is refused and what is not', () => {
  it('refuses a folder that is not a project, and registers nothing', async () => {
    const before = (await folderProjects()).length;
    const r = await cli(['run', tmp, 'hello'], env);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toMatch(/deepforge\.json/);
    expect((await folderProjects()).length).toBe(before);
    const list = await cli(['artifacts', 'list', '--project', join(tmp, 'no-such-folder')], env);
    expect(list.code).not.toBe(0);
    expect(list.stderr).toMatch(
      /--project .*no-such-folder: there is no such project folder, and no project with that id/,
    );
  });

  it('keeps two folders with the same project name apart, each with its path', async () => {
    const a = await copyHello('same-name-a');
    const b = await copyHello('same-name-b');
    for (const d of [a, b]) expect((await cli(['run', d, 'hello'], env)).code).toBe(0);
    const projects = (await folderProjects()).filter((p) =>
      [a, b].some((d) => p.folder?.endsWith(d.split('/').at(-1)!)),
    );
    expect(projects.map((p) => p.name)).toEqual(['hello', 'hello']);
    expect(new Set(projects.map((p) => p.id)).size).toBe(2);
    const notRun = await cli(['artifacts', 'list', '--project', await copyHello('never-run')], env);
    expect(notRun.code).not.toBe(0);
    expect(notRun.stderr).toMatch(/is not a folder project yet: `deepforge run` it/);
  });

  it('registers a folder again after its project was deleted in the web IDE', async () => {
    const d = await copyHello('deleted');
    expect((await cli(['run', d, 'hello'], env)).code).toBe(0);
    const first = (await folderProjects()).find((p) => p.folder === d || p.folder?.endsWith('/deleted'))!;
    await api(`/api/projects/${first.id}`, { method: 'DELETE' });
    const again = await cli(['run', d, 'hello', '--json'], env);
    expect(again.code, again.stderr).toBe(0);
    const second = (await folderProjects()).find((p) => p.folder?.endsWith('/deleted'))!;
    expect(second.id).not.toBe(first.id);
    expect(second.counts.executions).toBe(1);
  });

  it('resume --current of a folder project execution brings the fixed code to the web IDE too', async () => {
    const d = await copyHello('resumed');
    const op = join(d, 'operations', 'Multiply.py');
    const good = await readFile(op, 'utf8');
    await writeFile(op, good.replace('product = a * b', 'product = a / 0'));
    const failed = await cli(['run', d, 'hello', '--json'], env);
    expect(failed.code).toBe(1);
    const { executionId, projectId: id } = JSON.parse(failed.stdout.trim().split('\n').at(-1)!) as {
      executionId: string;
      projectId: string;
    };
    expect((await api<{ code: string }>(`/api/projects/${id}/operations/Multiply`)).code).toContain('a / 0');
    await writeFile(op, good);
    const resumed = await cli(['resume', executionId, '--current', d], env);
    expect(resumed.code, resumed.stdout + resumed.stderr).toBe(0);
    const after = await until('the fixed code on the server', async () => {
      const o = await api<{ code: string }>(`/api/projects/${id}/operations/Multiply`);
      return o.code.includes('a * b') ? o : undefined;
    });
    expect(after.code).not.toContain('a / 0');
  });
});
