// One server the accounts benchmarks talk to, in a process of its own: the clients' work must not share its event
// loop, and a server with accounts on must not share its heap (and so its garbage collections) with one with
// accounts off, as they would not in use. DeepForge with accounts on or off on a fresh temporary data dir, and
// optionally a bare Hocuspocus server (no extensions), the co-editing baseline. Started by run.ts with fork(); says
// what it made in one `ready` message, and closes everything and deletes the data dir on `stop` or when run.ts
// goes away.
import { mkdtemp, rm } from 'node:fs/promises';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Server as HocuspocusServer } from '@hocuspocus/server';
import type { ProjectSummary } from '@deepforge/protocol';
import { SESSION_COOKIE } from '@deepforge/protocol';
import { createServer, type DeepForgeServer } from '@deepforge/server';
import type { HostOptions, HostReady, HostStats } from './host-protocol.js';

const PYTHON = '/usr/bin/python3';
const PASSWORD = 'bench password 1234';

/** The environment without DEEPFORGE_* settings that would leak in, and quiet logs. */
function benchEnv(): Record<string, string> {
  const env: Record<string, string> = {};
  for (const [k, v] of Object.entries(process.env)) {
    if (v !== undefined && !k.startsWith('DEEPFORGE_')) env[k] = v;
  }
  env.DEEPFORGE_LOG_LEVEL = 'warn';
  return env;
}

async function start(dataDir: string, auth: boolean): Promise<{ server: DeepForgeServer; url: string }> {
  const server = await createServer({
    dataDir,
    env: benchEnv(),
    settings: { python: PYTHON, 'auth.enabled': auth },
    clientDir: join(dataDir, 'no-client'),
  });
  await server.listen(0, '127.0.0.1');
  const { port } = server.app.server.address() as AddressInfo;
  return { server, url: `http://127.0.0.1:${port}` };
}

async function createProject(server: DeepForgeServer, headers: Record<string, string>): Promise<string> {
  const res = await server.app.inject({
    method: 'POST',
    url: '/api/projects',
    headers,
    payload: { name: 'bench', example: 'hello' },
  });
  if (res.statusCode !== 201) throw new Error(`could not create a project: ${res.statusCode} ${res.body}`);
  return res.json<ProjectSummary>().id;
}

/** Counts the writes the accounts store makes per request (session touches, token touches, audit rows). */
function countWrites(server: DeepForgeServer, stats: HostStats): void {
  const store = server.engine.accounts.store;
  const wrap = <K extends 'touchSession' | 'touchToken' | 'appendAudit'>(name: K, key: keyof HostStats) => {
    const original = store[name].bind(store) as (...args: unknown[]) => Promise<unknown>;
    (store as unknown as Record<string, unknown>)[name] = (...args: unknown[]) => {
      stats[key]++;
      return original(...args);
    };
  };
  wrap('touchSession', 'sessionTouches');
  wrap('touchToken', 'tokenTouches');
  wrap('appendAudit', 'auditRows');
}

async function main(): Promise<void> {
  const options = JSON.parse(process.argv[2] ?? '{}') as HostOptions;
  const dataDir = await mkdtemp(join(tmpdir(), `deepforge-bench-auth-${options.accounts ? 'on' : 'off'}-`));
  const cleanups: (() => Promise<unknown>)[] = [];
  let stopping: Promise<void> | undefined;
  const stop = (): Promise<void> =>
    (stopping ??= (async () => {
      for (const c of cleanups.reverse()) await c().catch(() => undefined);
      await rm(dataDir, { recursive: true, force: true });
    })());
  const stats: HostStats = { sessionTouches: 0, tokenTouches: 0, auditRows: 0 };
  process.on('disconnect', () => void stop().then(() => process.exit(0)));
  process.on('message', (m: unknown) => {
    if ((m as { type?: string }).type === 'stats') process.send?.({ type: 'stats', stats });
    if ((m as { type?: string }).type === 'stop') void stop().then(() => process.disconnect());
  });

  try {
    const { server, url } = await start(dataDir, options.accounts);
    cleanups.push(() => server.close());
    const cookies: string[] = [];
    let token: string | null = null;
    let projectId: string;
    if (options.accounts) {
      const accounts = server.engine.accounts;
      const users = [];
      for (let i = 0; i < options.users; i++) {
        users.push(await accounts.createUser(`user${String(i).padStart(2, '0')}`, PASSWORD));
      }
      // What POST /api/auth/login makes: a session whose value goes in the cookie.
      for (const user of users) {
        const { secret } = await accounts.createSession(user, 'deepforge-bench');
        cookies.push(`${SESSION_COOKIE}=${secret}`);
      }
      projectId = await createProject(server, { cookie: cookies[0]! });
      for (const user of users.slice(1)) await accounts.setMember(projectId, user, 'writer');
      token = (await accounts.createToken(users[0]!, 'bench', 1)).token;
    } else {
      projectId = await createProject(server, {});
    }
    countWrites(server, stats);

    let baselineCollabUrl: string | null = null;
    if (options.baseline) {
      const baseline = new HocuspocusServer({
        port: 0,
        address: '127.0.0.1',
        quiet: true,
        stopOnSignals: false,
      });
      await baseline.listen();
      cleanups.push(() => baseline.destroy());
      baselineCollabUrl = `ws://127.0.0.1:${baseline.address.port}`;
    }
    const ready: HostReady = { type: 'ready', url, projectId, cookies, token, baselineCollabUrl };
    process.send?.(ready);
  } catch (err) {
    console.error(err);
    await stop();
    process.exit(1);
  }
}

void main();
