/**
 * Accounts on a real server with accounts on (auth.enabled): sign-in, sessions, tokens, roles and sharing,
 * the audit log and project secrets, over real HTTP and WebSocket connections (ADR 0009).
 */
import { createHash } from 'node:crypto';
import { readFile, readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { HocuspocusProvider, HocuspocusProviderWebsocket } from '@hocuspocus/provider';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import * as Y from 'yjs';
import {
  EXECUTION_EVENTS_VERSION,
  operationText,
  putOperation,
  type ApiError,
  type ExecutionDetailsDto,
  type ProjectSummary,
} from '@deepforge/protocol';
import { rawRequest } from '../test-support/raw-http.js';
import { startFixture, type ServerFixture } from '../test-support/server-fixture.js';
import { TestSocket } from '../test-support/ws-client.js';

let f: ServerFixture;
let base: string;
const PASSWORD = 'correct horse battery';

beforeAll(async () => {
  f = await startFixture({ settings: { 'auth.enabled': true } });
  base = await f.server.listen(0);
}, 60_000);
afterAll(async () => {
  await f.cleanup();
});

interface Answer<T = unknown> {
  status: number;
  body: T;
  headers: Record<string, string | string[] | undefined>;
}

async function call<T = unknown>(
  method: string,
  path: string,
  opts: { auth?: Record<string, string>; body?: unknown } = {},
): Promise<Answer<T>> {
  const res = await rawRequest(base, {
    method,
    path,
    headers: { ...(opts.body !== undefined ? { 'content-type': 'application/json' } : {}), ...opts.auth },
    ...(opts.body !== undefined ? { body: JSON.stringify(opts.body) } : {}),
  });
  let body: unknown = res.body;
  try {
    body = JSON.parse(res.body);
  } catch {
    // not JSON (a page)
  }
  return { status: res.status, body: body as T, headers: res.headers };
}

/** Signs in and returns the cookie header to send. */
async function signIn(name: string, password = PASSWORD): Promise<Record<string, string>> {
  const res = await call('POST', '/api/auth/login', { body: { name, password } });
  expect(res.status, JSON.stringify(res.body)).toBe(200);
  const cookie = String(res.headers['set-cookie']).split(';')[0]!;
  return { cookie };
}

const sessionHash = (cookie: string): string =>
  createHash('sha256')
    .update(decodeURIComponent(cookie.split('=')[1]!))
    .digest('hex');

let ada: Record<string, string>;
let bob: Record<string, string>;
let carol: Record<string, string>;
let project: ProjectSummary;

describe('signing in', () => {
  it('says when the first user is missing, then answers only signed-in callers', async () => {
    expect((await call('GET', '/api/auth/status')).body).toEqual({
      enabled: true,
      user: null,
      needsFirstUser: true,
    });
    await f.server.engine.accounts.createUser('ada', PASSWORD, { admin: true });
    await f.server.engine.accounts.createUser('bob', PASSWORD);
    await f.server.engine.accounts.createUser('carol', PASSWORD);
    expect((await call('GET', '/api/auth/status')).body).toMatchObject({ needsFirstUser: false });

    expect((await call('GET', '/api/health')).status).toBe(200);
    const page = await rawRequest(base, { path: '/projects/x', headers: { accept: 'text/html' } });
    expect(page.status).toBe(200);
    for (const [method, path] of [
      ['GET', '/api/projects'],
      ['POST', '/api/projects'],
      ['GET', '/api/projects/abc/operations'],
      ['GET', '/api/users'],
      ['GET', '/api/docs/json'],
    ] as const) {
      const res = await call<ApiError>(method, path, method === 'POST' ? { body: { name: 'x' } } : {});
      expect(res.status, path).toBe(401);
      expect(res.body, path).toMatchObject({ error: 'unauthorized' });
    }
  });

  it('gives a wrong password and an unknown name the same answer, and sets an HttpOnly SameSite cookie', async () => {
    const wrong = await call('POST', '/api/auth/login', {
      body: { name: 'ada', password: 'nope nope nope' },
    });
    const unknown = await call('POST', '/api/auth/login', {
      body: { name: 'zed', password: 'nope nope nope' },
    });
    expect(wrong).toMatchObject({
      status: 401,
      body: { error: 'unauthorized', message: 'wrong name or password' },
    });
    expect(unknown.body).toEqual(wrong.body);
    const ok = await call('POST', '/api/auth/login', { body: { name: 'ada', password: PASSWORD } });
    expect(ok.body).toEqual({ name: 'ada', admin: true });
    const cookie = String(ok.headers['set-cookie']);
    expect(cookie).toMatch(/^deepforge_session=[A-Za-z0-9_-]{43};/);
    expect(cookie).toMatch(/HttpOnly/);
    expect(cookie).toMatch(/SameSite=Lax/);
    expect(cookie).toMatch(/Path=\//);
    ada = { cookie: cookie.split(';')[0]! };
    expect((await call('GET', '/api/auth/status', { auth: ada })).body).toMatchObject({
      user: { name: 'ada' },
    });
    bob = await signIn('bob');
    carol = await signIn('carol');
  });

  it('rate-limits failed sign-ins for a name, and a good password does not get through meanwhile', async () => {
    // The limiter is per server: this name is used only here.
    await f.server.engine.accounts.createUser('dave', PASSWORD);
    for (let i = 0; i < 5; i++) {
      expect(
        (await call('POST', '/api/auth/login', { body: { name: 'dave', password: `guess ${i} xx` } })).status,
      ).toBe(401);
    }
    const limited = await call<ApiError>('POST', '/api/auth/login', {
      body: { name: 'dave', password: PASSWORD },
    });
    expect(limited.status).toBe(429);
    expect(limited.body.message).toMatch(/too many failed sign-ins/);
    expect(Number(limited.headers['retry-after'])).toBeGreaterThan(0);
  });

  it('ends a session on sign-out, and refuses an expired one', async () => {
    const s = await signIn('carol');
    expect((await call('GET', '/api/projects', { auth: s })).status).toBe(200);
    expect((await call('POST', '/api/auth/logout', { auth: s })).status).toBe(204);
    const after = await call<ApiError>('GET', '/api/projects', { auth: s });
    expect(after).toMatchObject({
      status: 401,
      body: { message: expect.stringMatching(/session has ended/) },
    });

    const old = await signIn('carol');
    await f.server.engine.accounts.store.touchSession(sessionHash(old.cookie!), Date.now(), Date.now() - 1);
    expect((await call('GET', '/api/projects', { auth: old })).status).toBe(401);
  });
});

describe('access tokens', () => {
  it('are shown once, work as Bearer, and are refused once revoked or expired', async () => {
    const made = await call<{ token: string; info: { id: string; prefix: string } }>(
      'POST',
      '/api/auth/tokens',
      {
        auth: ada,
        body: { name: 'laptop', expiresInDays: 30 },
      },
    );
    expect(made.status).toBe(201);
    const bearer = { authorization: `Bearer ${made.body.token}` };
    expect((await call('GET', '/api/projects', { auth: bearer })).status).toBe(200);
    const list = await call<{ items: Record<string, unknown>[] }>('GET', '/api/auth/tokens', { auth: ada });
    expect(JSON.stringify(list.body)).not.toContain(made.body.token);
    expect(list.body.items[0]).toMatchObject({
      name: 'laptop',
      prefix: made.body.info.prefix,
      revokedAt: null,
    });

    expect((await call('DELETE', `/api/auth/tokens/${made.body.info.id}`, { auth: bob })).status).toBe(404);
    expect((await call('DELETE', `/api/auth/tokens/${made.body.info.id}`, { auth: ada })).status).toBe(204);
    const revoked = await call<ApiError>('GET', '/api/projects', { auth: bearer });
    expect(revoked).toMatchObject({
      status: 401,
      body: { message: expect.stringMatching(/unknown, revoked or expired/) },
    });

    const ci = await call<{ token: string; info: { id: string } }>('POST', '/api/auth/tokens', {
      auth: ada,
      body: { name: 'ci', expiresInDays: 1 },
    });
    // No API makes a token older: age this one in the database (the adapter's Kysely instance).
    type Update = { where(c: string, op: '=', v: string): { execute(): Promise<unknown> } };
    const db = (
      f.server.engine.accounts.store as unknown as {
        db: { updateTable(t: string): { set(v: object): Update } };
      }
    ).db;
    await db
      .updateTable('access_tokens')
      .set({ expires_at: Date.now() - 1 })
      .where('id', '=', ci.body.info.id)
      .execute();
    expect(
      (await call('GET', '/api/projects', { auth: { authorization: `Bearer ${ci.body.token}` } })).status,
    ).toBe(401);
    expect(
      (await call('GET', '/api/projects', { auth: { authorization: 'Bearer dfp_forged' } })).status,
    ).toBe(401);
  });
});

describe('roles', () => {
  it('hides a project from non-members (404, not listed) and shows it to members by role', async () => {
    const made = await call<ProjectSummary>('POST', '/api/projects', {
      auth: ada,
      body: { name: 'vision', example: 'hello' },
    });
    expect(made.status).toBe(201);
    project = made.body;
    const guess = await call<ApiError>('GET', `/api/projects/${project.id}`, { auth: bob });
    const none = await call<ApiError>('GET', '/api/projects/nosuchproject', { auth: bob });
    expect(guess.status).toBe(404);
    expect(none.status).toBe(404);
    expect(Object.keys(guess.body)).toEqual(Object.keys(none.body));
    expect(
      (await call<{ items: ProjectSummary[] }>('GET', '/api/projects', { auth: bob })).body.items,
    ).toEqual([]);
    for (const [m, p] of [
      ['GET', `/api/projects/${project.id}/operations/Multiply`],
      ['DELETE', `/api/projects/${project.id}`],
      ['GET', `/api/projects/${project.id}/members`],
    ] as const) {
      expect((await call(m, p, { auth: bob })).status, p).toBe(404);
    }

    expect(
      (await call('PUT', `/api/projects/${project.id}/members/bob`, { auth: ada, body: { role: 'reader' } }))
        .status,
    ).toBe(204);
    expect(
      (
        await call('PUT', `/api/projects/${project.id}/members/carol`, {
          auth: ada,
          body: { role: 'writer' },
        })
      ).status,
    ).toBe(204);
    const members = await call('GET', `/api/projects/${project.id}/members`, { auth: bob });
    expect(members.body).toMatchObject({
      you: 'reader',
      items: [
        { name: 'ada', role: 'owner' },
        { name: 'bob', role: 'reader' },
        { name: 'carol', role: 'writer' },
      ],
    });
    const listed = await call<{ items: ProjectSummary[] }>('GET', '/api/projects', { auth: bob });
    expect(listed.body.items.map((p) => [p.name, p.role])).toEqual([['vision', 'reader']]);
    expect(
      (await call<ProjectSummary>('GET', `/api/projects/${project.id}`, { auth: carol })).body.role,
    ).toBe('writer');
  });

  it('lets a reader read everything and change and run nothing', async () => {
    const code = await call<{ code: string }>('GET', `/api/projects/${project.id}/operations/Multiply`, {
      auth: bob,
    });
    expect(code.status).toBe(200);
    for (const [m, p, body] of [
      ['PUT', `/api/projects/${project.id}/operations/Multiply`, { code: 'import os\nos.system("id")\n' }],
      ['POST', `/api/projects/${project.id}/executions`, { pipeline: 'hello' }],
      ['POST', `/api/projects/${project.id}/operations`, { name: 'Evil' }],
      ['PATCH', `/api/projects/${project.id}`, { name: 'mine now' }],
      ['PUT', `/api/projects/${project.id}/members/bob`, { role: 'owner' }],
      ['PUT', `/api/projects/${project.id}/secrets/TOKEN`, { value: 'abcdef' }],
      [
        'PUT',
        `/api/projects/${project.id}/resources/Net`,
        { name: 'Net', layers: [], edges: [], outputs: [] },
      ],
      // Both import the project's utils/ (custom layers): running code.
      ['GET', `/api/projects/${project.id}/layers`, undefined],
      ['POST', `/api/projects/${project.id}/resources/Net/check`, undefined],
    ] as const) {
      const res = await call<ApiError>(m, p, { auth: bob, body });
      expect(res.status, p).toBe(403);
      expect(res.body.error, p).toBe('forbidden');
    }
    expect((await call('DELETE', `/api/projects/${project.id}`, { auth: bob })).status).toBe(403);
    expect(
      (await call<{ code: string }>('GET', `/api/projects/${project.id}/operations/Multiply`, { auth: ada }))
        .body.code,
    ).toBe(code.body.code);
  });

  it('lets a writer edit and run but not share; keeps the last owner; records who started a run', async () => {
    const run = await call<ExecutionDetailsDto>('POST', `/api/projects/${project.id}/executions`, {
      auth: carol,
      body: { pipeline: 'hello' },
    });
    expect(run.status, JSON.stringify(run.body)).toBe(201);
    expect(run.body.startedBy).toBe('carol');
    await f.server.engine.waitForExecution(run.body.id);
    expect(
      (
        await call('PUT', `/api/projects/${project.id}/members/bob`, {
          auth: carol,
          body: { role: 'writer' },
        })
      ).status,
    ).toBe(403);
    const leave = await call<ApiError>('DELETE', `/api/projects/${project.id}/members/ada`, { auth: ada });
    expect(leave).toMatchObject({ status: 409, body: { message: expect.stringMatching(/last owner/) } });
    const demote = await call('PUT', `/api/projects/${project.id}/members/ada`, {
      auth: ada,
      body: { role: 'reader' },
    });
    expect(demote.status).toBe(409);
  });

  it('keeps readers read-only on the collaboration socket, and non-members out', async () => {
    const open = (auth: Record<string, string>) => {
      class Authed extends WebSocket {
        constructor(url: string, protocols?: string | string[]) {
          super(url, protocols, { headers: auth });
        }
      }
      const doc = new Y.Doc();
      let synced!: () => void;
      const ready = new Promise<void>((r) => (synced = r));
      const socket = new HocuspocusProviderWebsocket({
        url: base.replace('http:', 'ws:') + '/api/collab',
        WebSocketPolyfill: Authed,
      });
      const provider = new HocuspocusProvider({
        websocketProvider: socket,
        name: project.id,
        document: doc,
        onSynced: () => synced(),
      });
      provider.attach();
      return { doc, ready, close: () => (provider.destroy(), socket.destroy()) };
    };
    const reader = open(bob);
    const writer = open(carol);
    await Promise.all([reader.ready, writer.ready]);
    putOperation(
      reader.doc,
      'Multiply',
      'class Multiply:\n    def execute(self, a):\n        return a  # reader\n',
    );
    putOperation(writer.doc, 'Print', `${operationText(writer.doc, 'Print')!.toString()}\n# writer\n`);
    await expect
      .poll(
        async () =>
          (await call<{ code: string }>('GET', `/api/projects/${project.id}/operations/Print`, { auth: ada }))
            .body.code,
        { timeout: 10_000 },
      )
      .toMatch(/writer/);
    await new Promise((r) => setTimeout(r, 500));
    expect(
      (await call<{ code: string }>('GET', `/api/projects/${project.id}/operations/Multiply`, { auth: ada }))
        .body.code,
    ).not.toMatch(/reader/);
    expect(operationText(writer.doc, 'Multiply')?.toString()).not.toMatch(/reader/);
    reader.close();
    writer.close();

    const outsider = await f.server.engine.accounts.createUser('eve', PASSWORD);
    expect(outsider.name).toBe('eve');
    const eve = await signIn('eve');
    const intruder = open(eve);
    const synced = await Promise.race([
      intruder.ready.then(() => true),
      new Promise((r) => setTimeout(() => r(false), 1500)),
    ]);
    expect(synced).toBe(false);
    expect(intruder.doc.share.size).toBe(0);
    intruder.close();
    await expect(TestSocket.open(base.replace('http:', 'ws:') + '/api/collab')).rejects.toThrow(/401/);
  });

  it('shows execution events only to members, and lets no reader cancel', async () => {
    const url = base.replace('http:', 'ws:') + '/api/events';
    const v = EXECUTION_EVENTS_VERSION;
    const connect = async (auth: Record<string, string>): Promise<TestSocket> => {
      const s = await TestSocket.open(url, auth);
      await s.next((m) => m.type === 'hello');
      s.send({ type: 'hello', v, agent: 'test' });
      s.send({ v, type: 'subscribe', executionId: '*' });
      await s.next((m) => m.type === 'subscribed');
      return s;
    };
    const eve = await signIn('eve');
    const [outsider, reader] = await Promise.all([connect(eve), connect(bob)]);
    const run = await call<ExecutionDetailsDto>('POST', `/api/projects/${project.id}/executions`, {
      auth: ada,
      body: { pipeline: 'hello' },
    });
    expect(run.status, JSON.stringify(run.body)).toBe(201);
    reader.send({ v, type: 'cancel', executionId: run.body.id });
    expect(await reader.next((m) => m.type === 'error')).toMatchObject({ code: 'forbidden' });
    await reader.next(
      (m) => m.type === 'execution.status' && m.executionId === run.body.id && m.status === 'success',
    );
    outsider.send({ v, type: 'subscribe', executionId: run.body.id });
    expect(await outsider.next((m) => m.type === 'error')).toMatchObject({ code: 'not-found' });
    expect(
      outsider.messages.filter(
        (m) =>
          (m as { executionId?: string }).executionId === run.body.id &&
          (m as { type: string }).type !== 'error',
      ),
    ).toEqual([]);
    outsider.close();
    reader.close();
    await expect(TestSocket.open(url)).rejects.toThrow(/401/);
  });
});

describe('project secrets', () => {
  it('reach jobs as environment variables and nothing else: not specs, logs, downloads, exports or the database', async () => {
    const SECRET = 'sk-test-3f9a8b7c6d5e';
    expect(
      (
        await call('PUT', `/api/projects/${project.id}/secrets/API_KEY`, {
          auth: carol,
          body: { value: SECRET },
        })
      ).status,
    ).toBe(403);
    expect(
      (
        await call('PUT', `/api/projects/${project.id}/secrets/API_KEY`, {
          auth: ada,
          body: { value: SECRET },
        })
      ).status,
    ).toBe(204);
    const listed = await call('GET', `/api/projects/${project.id}/secrets`, { auth: ada });
    expect(listed.body).toMatchObject({ items: [{ name: 'API_KEY', updatedBy: 'ada' }] });
    expect(JSON.stringify(listed.body)).not.toContain(SECRET);
    expect((await call('GET', `/api/projects/${project.id}/secrets`, { auth: carol })).status).toBe(403);

    const leak =
      'import os\nclass Leak:\n    def execute(self):\n        key = os.environ["API_KEY"]\n' +
      '        print("key is", key, "len", len(key))\n        raise ValueError("bad key " + key)\n';
    expect(
      (
        await call('POST', `/api/projects/${project.id}/operations`, {
          auth: ada,
          body: { name: 'Leak', code: leak },
        })
      ).status,
    ).toBe(201);
    const pipeline = {
      name: 'leak',
      nodes: [{ id: 'leak', operation: 'Leak', attributes: {}, position: { x: 0, y: 0 } }],
      connections: [],
    };
    expect(
      (await call('POST', `/api/projects/${project.id}/pipelines`, { auth: ada, body: pipeline })).status,
    ).toBe(201);
    const run = await call<ExecutionDetailsDto>('POST', `/api/projects/${project.id}/executions`, {
      auth: ada,
      body: { pipeline: 'leak' },
    });
    expect(run.status, JSON.stringify(run.body)).toBe(201);
    const ended = await f.server.engine.waitForExecution(run.body.id)!;
    expect(ended.status).toBe('failed');
    const job = ended.jobs[0]!;
    const log = await rawRequest(base, {
      path: `/api/projects/${project.id}/executions/${run.body.id}/jobs/leak/log`,
      headers: ada,
    });
    expect(log.status).toBe(200);
    expect(log.body).toContain(`key is *** len ${SECRET.length}`);
    expect(log.body).not.toContain(SECRET);
    expect(JSON.stringify(job.error)).toContain('bad key ***');
    expect(
      JSON.stringify(
        await call('GET', `/api/projects/${project.id}/executions/${run.body.id}`, { auth: ada }),
      ),
    ).not.toContain(SECRET);

    const download = await rawRequest(base, {
      path: `/api/projects/${project.id}/executions/${run.body.id}/download`,
      headers: ada,
    });
    expect(download.body).not.toContain(SECRET);
    const exported = await rawRequest(base, { path: `/api/projects/${project.id}/export`, headers: ada });
    expect(exported.status).toBe(200);
    expect(exported.body).not.toContain(SECRET);

    // Every file the server wrote: database, WAL, job specs, logs.
    const files = (await readdir(f.dataDir, { recursive: true })).map(String);
    for (const file of files) {
      const bytes = await readFile(join(f.dataDir, file)).catch(() => Buffer.alloc(0));
      expect(bytes.includes(Buffer.from(SECRET)), file).toBe(false);
    }
  });
});

describe('the audit log', () => {
  it('is read by admins only and records sign-ins, failures, role changes and token use', async () => {
    expect((await call('GET', '/api/admin/audit', { auth: bob })).status).toBe(403);
    const log = await call<{ items: { action: string; actor: string | null; target: string | null }[] }>(
      'GET',
      '/api/admin/audit?limit=500',
      { auth: ada },
    );
    const actions = new Set(log.body.items.map((e) => e.action));
    for (const a of [
      'sign-in',
      'sign-in-failed',
      'sign-out',
      'member-add',
      'token-create',
      'token-use',
      'token-revoke',
      'secret-set',
      'project-create',
    ]) {
      expect(actions, a).toContain(a);
    }
    expect(log.body.items.find((e) => e.action === 'sign-in-failed' && e.target === 'zed')).toBeDefined();
  });
});
