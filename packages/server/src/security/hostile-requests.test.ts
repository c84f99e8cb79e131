/**
 * Requests an attacker sends, over real HTTP and WebSocket connections, each refused and each leaving nothing
 * changed. docs/security.md counts them: add a case here for every hole found, so no change can reopen it.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ExecutionDetailsDto, OperationResponse, ProjectSummary } from '@deepforge/protocol';
import { rawRequest, type RawRequest } from '../test-support/raw-http.js';
import { startFixture, type ServerFixture } from '../test-support/server-fixture.js';
import { TestSocket } from '../test-support/ws-client.js';

let f: ServerFixture;
let base: string;
let port: string;
let project: ProjectSummary;
let codeBefore: string;

beforeAll(async () => {
  f = await startFixture({ settings: { 'server.allowedHosts': ['deepforge.lab', '.team.example'] } });
  base = await f.server.listen(0);
  port = new URL(base).port;
  project = await f.createProject({ name: 'target', example: 'hello' });
  codeBefore = (await operation()).code;
}, 60_000);
afterAll(async () => {
  await f.cleanup();
});

async function operation(): Promise<OperationResponse> {
  const res = await rawRequest(base, { path: `/api/projects/${project.id}/operations/Multiply` });
  expect(res.status, res.body).toBe(200);
  return JSON.parse(res.body) as OperationResponse;
}

async function projectNames(): Promise<string[]> {
  const res = await rawRequest(base, { path: '/api/projects' });
  return (JSON.parse(res.body) as { items: ProjectSummary[] }).items.map((p) => p.name);
}

const evil = (): Record<string, string> => ({
  host: `evil.example:${port}`,
  origin: `http://evil.example:${port}`,
});
const json = { 'content-type': 'application/json' };
const backdoor =
  "import os\nclass Multiply:\n    def execute(self, a):\n        os.system('id > /tmp/pwned')\n        return a\n";

/** DNS rebinding: the attacker's name re-pointed at 127.0.0.1, so Host and Origin agree with each other. */
const rebinding = (): [string, RawRequest][] => [
  [
    'create a project',
    { method: 'POST', path: '/api/projects', headers: { ...evil(), ...json }, body: '{"name":"pwned"}' },
  ],
  [
    "replace an operation's code",
    {
      method: 'PUT',
      path: `/api/projects/${project.id}/operations/Multiply`,
      headers: { ...evil(), ...json },
      body: JSON.stringify({ code: backdoor }),
    },
  ],
  [
    'run a pipeline',
    {
      method: 'POST',
      path: `/api/projects/${project.id}/executions`,
      headers: { ...evil(), ...json },
      body: '{"pipeline":"hello"}',
    },
  ],
  ['read the project list', { path: '/api/projects', headers: evil() }],
  ['read an operation', { path: `/api/projects/${project.id}/operations/Multiply`, headers: evil() }],
  ['load the app', { path: '/', headers: { ...evil(), accept: 'text/html' } }],
  ['an unknown API path', { path: '/api/nothing-here', headers: evil() }],
  [
    'a name that is a suffix trick',
    { path: '/api/projects', headers: { host: `deepforge.lab.evil.example:${port}` } },
  ],
  ['no Host header value that parses', { path: '/api/projects', headers: { host: 'a b' } }],
];

/** Cross-site requests to the right Host, from a page of another site (CSRF), in every simple-request shape. */
const crossSite = (): [string, RawRequest][] => {
  const host = { host: `localhost:${port}` };
  const from = (origin: string): Record<string, string> => ({ ...host, origin });
  return [
    [
      'JSON from another site',
      {
        method: 'POST',
        path: '/api/projects',
        headers: { ...from('https://evil.example'), ...json },
        body: '{"name":"csrf-json"}',
      },
    ],
    [
      'text/plain from another site',
      {
        method: 'POST',
        path: '/api/projects',
        headers: { ...from('https://evil.example'), 'content-type': 'text/plain' },
        body: '{"name":"csrf-text"}',
      },
    ],
    [
      'a form from another site',
      {
        method: 'POST',
        path: '/api/projects',
        headers: { ...from('https://evil.example'), 'content-type': 'application/x-www-form-urlencoded' },
        body: 'name=csrf-form',
      },
    ],
    [
      'a multipart upload from another site',
      {
        method: 'POST',
        path: `/api/projects/${project.id}/artifacts?name=csrf-upload`,
        headers: { ...from('https://evil.example'), 'content-type': 'multipart/form-data; boundary=x' },
        body: '--x\r\nContent-Disposition: form-data; name="f"; filename="a"\r\n\r\nhi\r\n--x--\r\n',
      },
    ],
    [
      'octet-stream upload from another site',
      {
        method: 'POST',
        path: `/api/projects/${project.id}/artifacts?name=csrf-upload`,
        headers: { ...from('https://evil.example'), 'content-type': 'application/octet-stream' },
        body: 'hi',
      },
    ],
    [
      'another port of localhost',
      {
        method: 'POST',
        path: '/api/projects',
        headers: { ...from('http://localhost:5173'), ...json },
        body: '{"name":"csrf-port"}',
      },
    ],
    [
      'an opaque origin (sandboxed frame)',
      {
        method: 'POST',
        path: '/api/projects',
        headers: { ...from('null'), ...json },
        body: '{"name":"csrf-null"}',
      },
    ],
    [
      'a cross-site fetch without Origin',
      {
        method: 'POST',
        path: '/api/projects',
        headers: { ...host, 'sec-fetch-site': 'cross-site', ...json },
        body: '{"name":"csrf-sfs"}',
      },
    ],
    [
      'a same-site page on another port',
      {
        method: 'DELETE',
        path: `/api/projects/${project.id}`,
        headers: { ...host, 'sec-fetch-site': 'same-site' },
      },
    ],
    [
      'delete from another site',
      { method: 'DELETE', path: `/api/projects/${project.id}`, headers: from('https://evil.example') },
    ],
  ];
};

describe('DNS rebinding (a foreign Host)', () => {
  it('refuses every request with 403, naming the setting that allows a name, and changes nothing', async () => {
    for (const [what, req] of rebinding()) {
      const res = await rawRequest(base, req);
      expect(res.status, `${what}: ${res.body}`).toBe(403);
      expect(res.body, what).toMatch(/server\.allowedHosts/);
      expect(res.headers['access-control-allow-origin'], what).toBeUndefined();
    }
    expect(await projectNames()).toEqual(['target']);
    expect((await operation()).code).toBe(codeBefore);
    const runs = await rawRequest(base, { path: `/api/projects/${project.id}/executions` });
    expect(JSON.parse(runs.body)).toMatchObject({ total: 0 });
  });

  it('answers a browser with a page and the API with its error shape', async () => {
    const page = await rawRequest(base, { path: '/', headers: { ...evil(), accept: 'text/html' } });
    expect(page.headers['content-type']).toMatch(/text\/html/);
    expect(page.body).toMatch(/evil\.example/);
    expect(page.body).toMatch(/deepforge config server\.allowedHosts evil\.example/);
    const api = await rawRequest(base, { path: '/api/projects', headers: evil() });
    expect(JSON.parse(api.body)).toMatchObject({
      error: 'forbidden',
      message: expect.stringMatching(/rebinding/),
    });
  });

  it('refuses WebSocket upgrades of both sockets', async () => {
    for (const path of ['/api/events', '/api/collab']) {
      await expect(TestSocket.open(`ws://127.0.0.1:${port}${path}`, evil())).rejects.toThrow(/403/);
    }
  });

  it('answers loopback names, IP literals and the configured names', async () => {
    for (const host of [
      `localhost:${port}`,
      `127.0.0.1:${port}`,
      `[::1]:${port}`,
      `app.localhost:${port}`,
      `DeepForge.lab:${port}`,
      `ci.team.example:${port}`,
      `team.example:${port}`,
    ]) {
      const res = await rawRequest(base, { path: '/api/health', headers: { host } });
      expect(res.status, host).toBe(200);
    }
    // A configured name is an origin of the app too: the IDE opened at http://deepforge.lab works.
    const res = await rawRequest(base, {
      method: 'POST',
      path: '/api/projects',
      headers: { host: `deepforge.lab:${port}`, origin: `http://deepforge.lab:${port}`, ...json },
      body: '{"name":"made-on-lab"}',
    });
    expect(res.status, res.body).toBe(201);
    const gone = await rawRequest(base, {
      method: 'DELETE',
      path: `/api/projects/${(JSON.parse(res.body) as ProjectSummary).id}`,
    });
    expect(gone.status).toBe(204);
  });
});

describe('cross-site requests (a page of another site)', () => {
  it('refuses JSON, text/plain, forms and uploads, and changes nothing', async () => {
    for (const [what, req] of crossSite()) {
      const res = await rawRequest(base, req);
      expect(res.status, `${what}: ${res.body}`).toBe(403);
      expect(JSON.parse(res.body), what).toMatchObject({ error: 'forbidden' });
      expect(res.headers['access-control-allow-origin'], what).toBeUndefined();
    }
    expect(await projectNames()).toEqual(['target']);
    const artifacts = await rawRequest(base, { path: `/api/projects/${project.id}/artifacts` });
    expect(
      (JSON.parse(artifacts.body) as { items: { name: string }[] }).items.map((a) => a.name),
    ).not.toContain('csrf-upload');
  });

  it('cannot cancel a running execution with a text/plain POST', async () => {
    const started = await rawRequest(base, {
      method: 'POST',
      path: `/api/projects/${project.id}/executions`,
      headers: json,
      body: '{"pipeline":"hello"}',
    });
    expect(started.status, started.body).toBe(201);
    const id = (JSON.parse(started.body) as ExecutionDetailsDto).id;
    const cancel = await rawRequest(base, {
      method: 'POST',
      path: `/api/projects/${project.id}/executions/${id}/cancel`,
      headers: { origin: 'https://evil.example', 'content-type': 'text/plain' },
      body: 'x',
    });
    expect(cancel.status).toBe(403);
    const ended = await f.server.engine.waitForExecution(id)!;
    expect(ended.status).toBe('success');
  });

  it('answers no CORS preflight with a permission', async () => {
    const res = await rawRequest(base, {
      method: 'OPTIONS',
      path: '/api/projects',
      headers: {
        origin: 'https://evil.example',
        'access-control-request-method': 'POST',
        'access-control-request-headers': 'content-type',
      },
    });
    expect(res.headers['access-control-allow-origin']).toBeUndefined();
    expect(res.headers['access-control-allow-methods']).toBeUndefined();
  });

  it('refuses WebSockets from other sites and other localhost ports, and takes its own origin', async () => {
    for (const path of ['/api/events', '/api/collab']) {
      for (const origin of [
        'https://evil.example',
        'http://localhost:5173',
        `http://localhost:${Number(port) + 1}`,
      ]) {
        await expect(TestSocket.open(`ws://localhost:${port}${path}`, { origin }), origin).rejects.toThrow(
          /403/,
        );
      }
    }
    const own = await TestSocket.open(`ws://localhost:${port}/api/events`, {
      origin: `http://localhost:${port}`,
    });
    await own.next((m) => m.type === 'hello');
    own.close();
  });

  it('takes requests of its own pages and of clients that are not browsers', async () => {
    const own = await rawRequest(base, {
      method: 'POST',
      path: '/api/projects',
      headers: { origin: `http://localhost:${port}`, 'sec-fetch-site': 'same-origin', ...json },
      body: '{"name":"own-page"}',
    });
    expect(own.status, own.body).toBe(201);
    const cli = await rawRequest(base, {
      method: 'DELETE',
      path: `/api/projects/${(JSON.parse(own.body) as ProjectSummary).id}`,
    });
    expect(cli.status, cli.body).toBe(204);
  });
});

describe('security headers', () => {
  it('sends a CSP without inline script, no framing, nosniff and a referrer policy', async () => {
    for (const path of ['/', '/api/health']) {
      const res = await rawRequest(base, { path, headers: { accept: 'text/html' } });
      const csp = String(res.headers['content-security-policy']);
      expect(csp).toMatch(/script-src 'self'(;|$)/);
      expect(csp).not.toMatch(/unsafe-inline'[^;]*;?\s*$|script-src[^;]*unsafe/);
      expect(csp).toMatch(/frame-ancestors 'none'/);
      expect(csp).toMatch(/object-src 'none'/);
      expect(res.headers['x-content-type-options']).toBe('nosniff');
      expect(res.headers['referrer-policy']).toBe('same-origin');
      expect(res.headers['x-frame-options']).toBe('DENY');
    }
  });
});
