import { readFile, stat } from 'node:fs/promises';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { cleanEnv, makeTempDir, removeTree, TEST_PYTHON } from '@deepforge/engine/test-support';
import { createServer, type DeepForgeServer } from '@deepforge/server';
import { cli } from './test-support/run-cli.js';

let tmp: string;
let clientDir: string;
let env: Record<string, string | undefined>;
const servers: DeepForgeServer[] = [];

beforeEach(async () => {
  tmp = await makeTempDir('cli-login');
  clientDir = join(tmp, 'client');
  env = cleanEnv({ DEEPFORGE_DATA_DIR: clientDir, NO_COLOR: '1' });
});
afterEach(async () => {
  for (const s of servers.splice(0)) await s.close();
  await removeTree(tmp);
});

/** A real server on its own data dir, listening on a free loopback port. */
async function startServer(authEnabled: boolean): Promise<{ server: DeepForgeServer; url: string }> {
  const server = await createServer({
    dataDir: join(tmp, `server-${servers.length}`),
    env: cleanEnv({ DEEPFORGE_LOG_LEVEL: 'warn' }),
    settings: { python: TEST_PYTHON, 'auth.enabled': authEnabled },
    clientDir: join(tmp, 'no-client'),
  });
  servers.push(server);
  return { server, url: await server.listen(0) };
}

interface StoredCredentials {
  servers: Record<string, { user: string; token: string; tokenId: string; expiresAt: number | null }>;
}

async function credentials(): Promise<{ mode: number; content: StoredCredentials }> {
  const file = join(clientDir, 'credentials.json');
  return {
    mode: (await stat(file)).mode & 0o777,
    content: JSON.parse(await readFile(file, 'utf8')) as StoredCredentials,
  };
}

const projects = (url: string, token?: string) =>
  fetch(`${url}/api/projects`, token ? { headers: { authorization: `Bearer ${token}` } } : {});

describe('deepforge login and logout', () => {
  it('login stores a token (0600, by origin) that works as a bearer token; again replaces it; logout revokes it', async () => {
    const { server, url } = await startServer(true);
    await server.engine.accounts.createUser('ann', 'ann password', { admin: true });
    const before = Date.now();

    // A URL copied from the browser names the same server as its origin.
    const login = await cli(['login', `${url}/projects/x`, '--name', 'ann'], env, tmp, 'ann password\n');
    expect(login.stderr).toBe('');
    expect(login.code).toBe(0);
    expect(login.stdout).toMatch(
      new RegExp(
        `^Signed in to ${url} as ann \\(admin\\)\\.\\n  access token "deepforge CLI on ${hostname()}" \\(dfp_[\\w-]{6}…, expires \\d{4}-\\d\\d-\\d\\d [\\d:]+\\) stored in ${join(clientDir, 'credentials.json')}\\n$`,
      ),
    );
    const first = await credentials();
    expect(first.mode).toBe(0o600);
    expect(Object.keys(first.content.servers)).toEqual([url]);
    const stored = first.content.servers[url]!;
    expect(stored).toMatchObject({ user: 'ann', token: expect.stringMatching(/^dfp_/) });
    expect(stored.expiresAt! - before).toBeGreaterThanOrEqual(90 * 24 * 3600 * 1000);
    expect(stored.expiresAt! - Date.now()).toBeLessThanOrEqual(90 * 24 * 3600 * 1000);

    // The session it signed in with has ended: only the token is left.
    const actions = (await server.engine.accounts.listAudit({ limit: 50, offset: 0 })).items.map(
      (e) => e.action,
    );
    expect(actions.reverse()).toEqual(['sign-in', 'token-create', 'sign-out']);

    expect((await projects(url, stored.token)).status).toBe(200);
    expect((await projects(url)).status).toBe(401);
    const ann = await server.engine.accounts.userByName('ann');
    const tokens = await server.engine.accounts.listTokens(ann);
    expect(tokens.map((t) => ({ name: t.name, revoked: t.revokedAt !== null }))).toEqual([
      { name: `deepforge CLI on ${hostname()}`, revoked: false },
    ]);

    // Signing in again replaces the token and revokes the one before.
    const again = await cli(['login', url, '--name', 'ann'], env, tmp, 'ann password\n');
    expect(again.code, again.stderr).toBe(0);
    const second = (await credentials()).content.servers[url]!;
    expect(second.token).not.toBe(stored.token);
    expect((await projects(url, stored.token)).status).toBe(401);
    expect((await projects(url, second.token)).status).toBe(200);

    const logout = await cli(['logout', url], env);
    expect(logout).toMatchObject({
      code: 0,
      stderr: '',
      stdout: `Signed out of ${url} (ann): the token is revoked.\n`,
    });
    expect((await projects(url, second.token)).status).toBe(401);
    expect(await credentials()).toEqual({ mode: 0o600, content: { servers: {} } });
    expect((await cli(['logout', url], env)).stdout).toBe(`Not signed in to ${url}.\n`);
  });

  it('a wrong password or unknown name prints the server message and exits 1, storing nothing', async () => {
    const { server, url } = await startServer(true);
    await server.engine.accounts.createUser('ann', 'ann password');
    for (const [name, password] of [
      ['ann', 'not her password'],
      ['nobody', 'ann password'],
    ]) {
      const wrong = await cli(['login', url, '--name', name!], env, tmp, `${password}\n`);
      expect(wrong).toMatchObject({ code: 1, stdout: '', stderr: `error: ${url}: wrong name or password\n` });
    }
    await expect(stat(join(clientDir, 'credentials.json'))).rejects.toMatchObject({ code: 'ENOENT' });

    const noName = await cli(['login', url], env, tmp, 'ann password\n');
    expect(noName).toMatchObject({
      code: 1,
      stderr: 'error: stdin is not a terminal: give the name with --name (and pipe the password)\n',
    });
    const noPassword = await cli(['login', url, '--name', 'ann'], env);
    expect(noPassword.code).toBe(1);
    expect(noPassword.stderr).toMatch(/no password given/);
    const notUrl = await cli(['login', 'localhost:8888:x', '--name', 'ann'], env, tmp, 'ann password\n');
    expect(notUrl.code).toBe(1);
    expect(notUrl.stderr).toMatch(/is not (a URL|an http or https URL)/);
  });

  it('says so when the server has accounts off, has no user yet, or cannot be reached', async () => {
    const off = await startServer(false);
    const refused = await cli(['login', off.url, '--name', 'ann'], env, tmp, 'ann password\n');
    expect(refused).toMatchObject({
      code: 1,
      stderr: `error: ${off.url} has accounts off: it needs no sign-in (and takes no tokens)\n`,
    });
    const empty = await startServer(true);
    const first = await cli(['login', empty.url, '--name', 'ann'], env, tmp, 'ann password\n');
    expect(first.code).toBe(1);
    expect(first.stderr).toMatch(
      /nobody can sign in to .* yet: on its machine, `deepforge users add <name> --admin`/,
    );
    const gone = empty.url;
    await servers.pop()!.close();
    const unreachable = await cli(['login', gone, '--name', 'ann'], env, tmp, 'ann password\n');
    expect(unreachable.code).toBe(1);
    expect(unreachable.stderr).toMatch(new RegExp(`^error: cannot reach ${gone}: ECONNREFUSED`));
  });
});
