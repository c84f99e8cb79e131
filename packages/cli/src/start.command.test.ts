import { once } from 'node:events';
import { stat } from 'node:fs/promises';
import { createServer } from 'node:net';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, expect, it } from 'vitest';
import { TEST_PYTHON, cleanEnv, makeTempDir, removeTree } from '@deepforge/engine/test-support';
import { cli, spawnCli } from './test-support/run-cli.js';

let tmp: string;
let env: Record<string, string | undefined>;
beforeEach(async () => {
  tmp = await makeTempDir('cli-start');
  env = cleanEnv({ DEEPFORGE_PYTHON: TEST_PYTHON, NO_COLOR: '1' });
});
afterEach(async () => {
  await removeTree(tmp);
});

/** Reads the child's stdout until `pattern` shows up. */
function waitForOutput(child: ReturnType<typeof spawnCli>, pattern: RegExp): Promise<RegExpMatchArray> {
  return new Promise((resolve, reject) => {
    let text = '';
    const onData = (chunk: Buffer): void => {
      text += chunk.toString();
      const m = pattern.exec(text);
      if (m) {
        child.stdout!.off('data', onData);
        resolve(m);
      }
    };
    child.stdout!.on('data', onData);
    child.once('exit', (code) =>
      reject(new Error(`deepforge start exited (${code}) before printing ${pattern}: ${text}`)),
    );
  });
}

it('`deepforge start` serves on a free port, says it binds to 127.0.0.1 only, and exits cleanly on SIGTERM', async () => {
  const dataDir = join(tmp, 'data');
  const child = spawnCli(['start', '--port', '0', '--data-dir', dataDir], env);
  let stderr = '';
  child.stderr!.on('data', (c: Buffer) => (stderr += c.toString()));
  const [, url] = await waitForOutput(child, /DeepForge is running at (http:\/\/localhost:\d+)\n[^]*Ctrl-C/);
  const health = await fetch(`${url}/api/health`);
  expect(health.status).toBe(200);
  expect(await health.json()).toMatchObject({ status: 'ok', compute: 'local', host: '127.0.0.1' });
  const created = await fetch(`${url}/api/projects`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ name: 'started', example: 'hello' }),
  });
  expect(created.status).toBe(201);
  const exited = once(child, 'exit');
  child.kill('SIGTERM');
  const [code, signal] = (await exited) as [number | null, NodeJS.Signals | null];
  expect({ code, signal, stderr }).toEqual({ code: 0, signal: null, stderr: '' });
});

it('`deepforge start --server` runs without local compute', async () => {
  const child = spawnCli(['start', '--port', '0', '--server', '--data-dir', join(tmp, 'data')], env);
  const [text] = await waitForOutput(child, /running at (http:\/\/localhost:\d+)[^]*Ctrl-C stops it\n/);
  expect(text).toMatch(/listening on 127\.0\.0\.1 only/);
  expect(text).toMatch(/no local compute \(--server\)/);
  const url = /http:\/\/localhost:\d+/.exec(text)![0];
  expect(await (await fetch(`${url}/api/health`)).json()).toMatchObject({ compute: 'none' });
  const exited = once(child, 'exit');
  child.kill('SIGINT');
  expect((await exited)[0]).toBe(0);
});

it('says so when the port is taken, and rejects a bad --port', async () => {
  const blocker = createServer();
  await new Promise<void>((r) => blocker.listen(0, '127.0.0.1', () => r()));
  const port = (blocker.address() as { port: number }).port;
  try {
    const taken = await cli(['start', '--port', String(port), '--data-dir', join(tmp, 'data')], env);
    expect(taken.code).toBe(1);
    expect(taken.stderr).toMatch(new RegExp(`port ${port} is in use`));
  } finally {
    blocker.close();
  }
  const bad = await cli(['start', '--port', 'eighty'], env);
  expect(bad.code).not.toBe(0);
  expect(bad.stderr).toMatch(/--port must be a whole number/);
});

it('refuses to listen on a network address while accounts are off, before opening anything', async () => {
  const dataDir = join(tmp, 'data');
  for (const [args, extra] of [
    [['--host', '0.0.0.0'], {}],
    [[], { DEEPFORGE_HOST: '0.0.0.0' }],
    [['--host', '::'], { DEEPFORGE_AUTH: 'false' }],
  ] as const) {
    const refused = await cli(['start', '-p', '0', ...args, '--data-dir', dataDir], { ...env, ...extra });
    expect(refused.code).toBe(1);
    expect(refused.stdout).toBe('');
    expect(refused.stderr).toMatch(
      /^error: listening on (0\.0\.0\.0|::) would let other machines run code as you/,
    );
    expect(refused.stderr).toMatch(
      /accounts are off\. Turn them on first: `deepforge config auth\.enabled true`, then `deepforge users add <name> --admin`/,
    );
  }
  await expect(stat(join(dataDir, 'deepforge.db'))).rejects.toMatchObject({ code: 'ENOENT' });
  const bad = await cli(['start', '--host', 'example.org'], env);
  expect(bad.code).not.toBe(0);
  expect(bad.stderr).toMatch(/invalid value "example\.org" for `server\.host` \(from --host\)/);
});

it('`deepforge start --host 0.0.0.0` with accounts on listens there, says so, and says how to make the first user', async () => {
  const child = spawnCli(['start', '--host', '0.0.0.0', '-p', '0', '-s', '--data-dir', join(tmp, 'data')], {
    ...env,
    DEEPFORGE_AUTH: 'true',
  });
  let stderr = '';
  child.stderr!.on('data', (c: Buffer) => (stderr += c.toString()));
  const [text] = await waitForOutput(child, /running at (http:\/\/localhost:\d+)[^]*Ctrl-C stops it\n/);
  const url = /http:\/\/localhost:(\d+)/.exec(text)!;
  expect(text).toContain(`listening on 0.0.0.0: other machines reach it at http://${hostname()}:${url[1]}\n`);
  expect(text).toContain('accounts are on: everyone signs in\n');
  expect(text).toMatch(
    /nobody can sign in yet: create the first user \(an admin\) with `deepforge users add <name> --admin`/,
  );
  expect(text).toMatch(/no local compute \(--server\)/);
  const status = await fetch(`${url[0]}/api/auth/status`);
  expect(await status.json()).toEqual({ enabled: true, user: null, needsFirstUser: true });
  expect((await fetch(`${url[0]}/api/projects`)).status).toBe(401);
  const exited = once(child, 'exit');
  child.kill('SIGTERM');
  expect(((await exited) as [number | null])[0]).toBe(0);
  expect(stderr).toBe('');
});

it('says which options do not go with --worker, or need it, before opening anything', async () => {
  const dataDir = join(tmp, 'data');
  const serving = await cli(
    ['start', '--worker', 'http://127.0.0.1:9', '-p', '0', '-s', '--data-dir', dataDir],
    env,
  );
  expect(serving.code).toBe(1);
  expect(serving.stderr).toMatch(
    /^error: --worker starts a worker, not a server: --server, --port cannot go with it/,
  );
  const workerOnly = await cli(['start', '--slots', '2', '--token', 'dfw_x', '--data-dir', dataDir], env);
  expect(workerOnly.code).toBe(1);
  expect(workerOnly.stderr).toMatch(/^error: --token, --slots are for --worker only/);
  const noToken = await cli(['start', '--worker', '--data-dir', dataDir], env);
  expect(noToken.code).toBe(1);
  expect(noToken.stderr).toMatch(/a worker token is needed: --token <token> or DEEPFORGE_WORKER_TOKEN/);
  const badUrl = await cli(['start', '--worker', 'ftp://server'], env);
  expect(badUrl.code).not.toBe(0);
  expect(badUrl.stderr).toMatch(/--worker must be an http or https URL, not "ftp:\/\/server"/);
  await expect(stat(join(dataDir, 'deepforge.db'))).rejects.toMatchObject({ code: 'ENOENT' });
});
