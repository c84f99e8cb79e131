/**
 * Requests an attacker sends, over real HTTP and WebSocket connections, each refused and each leaving nothing
 * changed. docs/security.md counts them: add a case here for every hole found, so no change can reopen it.
 */
import { mkdir, readdir, realpath, symlink, writeFile } from 'node:fs/promises';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { strToU8, zipSync, type Zippable } from 'fflate';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { makeTempDir, removeTree } from '@deepforge/engine/test-support';
import type {
  ApiError,
  ArtifactDto,
  ExecutionDetailsDto,
  OperationResponse,
  ProjectSummary,
} from '@deepforge/protocol';
import { MAX_IMPORT_ENTRIES } from '../projects/project-zip.js';
import { rawRequest, type RawRequest } from '../test-support/raw-http.js';
import { startFixture, type ServerFixture } from '../test-support/server-fixture.js';
import { TestSocket } from '../test-support/ws-client.js';
import { zeroBombZip } from '../test-support/zip-bomb.js';

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

const MiB = 1024 * 1024;

/** Every file under a folder (none when it does not exist), as relative paths. */
async function filesUnder(dir: string): Promise<string[]> {
  const entries = await readdir(dir, { recursive: true, withFileTypes: true }).catch(() => []);
  return entries.filter((e) => e.isFile()).map((e) => join(e.parentPath, e.name).slice(dir.length + 1));
}

/** How far this process's memory rose above where it was while `run` ran (sampled, and once at the end). */
async function memoryRise<T>(
  run: () => Promise<T>,
): Promise<{ result: T; rss: number; arrayBuffers: number }> {
  const before = process.memoryUsage();
  let rss = before.rss;
  let arrayBuffers = before.arrayBuffers;
  const sample = (): void => {
    const m = process.memoryUsage();
    rss = Math.max(rss, m.rss);
    arrayBuffers = Math.max(arrayBuffers, m.arrayBuffers);
  };
  const timer = setInterval(sample, 5);
  try {
    const result = await run();
    sample();
    return { result, rss: rss - before.rss, arrayBuffers: arrayBuffers - before.arrayBuffers };
  } finally {
    clearInterval(timer);
  }
}

describe('zip bombs and oversized archives (project import)', () => {
  const limit = 16 * MiB;
  let z: ServerFixture;
  let zbase: string;
  beforeAll(async () => {
    z = await startFixture({ settings: { 'server.uploadLimit': limit } });
    zbase = await z.server.listen(0);
  }, 60_000);
  afterAll(() => z.cleanup());

  const importZip = (zip: Uint8Array) =>
    rawRequest(zbase, {
      method: 'POST',
      path: '/api/projects/import',
      headers: { 'content-type': 'application/zip' },
      body: Buffer.from(zip),
    });

  async function nothingStored(): Promise<void> {
    const list = await rawRequest(zbase, { path: '/api/projects' });
    expect(JSON.parse(list.body)).toMatchObject({ items: [] });
    expect(await filesUnder(join(z.dataDir, 'projects'))).toEqual([]);
    expect(await filesUnder(join(z.dataDir, 'blob'))).toEqual([]);
  }

  // The probe's zip: 1.2 MB that inflate to 3 × 400 MB of zeros. Memory may rise by what one piece inflates to
  // and what the collector has not yet taken back, nothing like the 1,200 MB the whole bomb holds.
  const bombs: [string, () => Buffer][] = [
    [
      'artifact data files of 3 × 400 MB zeros',
      () => zeroBombZip([1, 2, 3].map((i) => ({ name: `bomb/artifacts/zeros${i}.bin`, size: 400 * MiB }))),
    ],
    [
      'the same, with headers that claim 1 KiB each',
      () =>
        zeroBombZip(
          [1, 2, 3].map((i) => ({ name: `artifacts/zeros${i}.bin`, size: 400 * MiB, declaredSize: 1024 })),
        ),
    ],
    [
      'operation code of 1.2 GB zeros (content is kept in memory)',
      () => zeroBombZip([{ name: 'operations/Bomb.py', size: 1200 * MiB }]),
    ],
  ];

  it('refuses each with 413 while inflating, stores nothing, and memory stays far below the bomb', async () => {
    for (const [what, build] of bombs) {
      const zip = build();
      expect(zip.length, what).toBeLessThan(1.5 * MiB);
      const { result: res, rss, arrayBuffers } = await memoryRise(() => importZip(zip));
      expect(res.status, `${what}: ${res.body}`).toBe(413);
      expect(JSON.parse(res.body) as ApiError, what).toMatchObject({
        error: 'payload-too-large',
        message: expect.stringMatching(
          /the zip unpacks to more than the limit of 16777216 bytes \(server\.uploadLimit\)/,
        ),
      });
      expect(rss, `${what}: rss rose by ${Math.round(rss / MiB)} MiB`).toBeLessThan(256 * MiB);
      expect(
        arrayBuffers,
        `${what}: arrayBuffers rose by ${Math.round(arrayBuffers / MiB)} MiB`,
      ).toBeLessThan(256 * MiB);
      await nothingStored();
    }
  });

  it(`refuses an archive of more than ${MAX_IMPORT_ENTRIES} entries with 413 and stores nothing`, async () => {
    const files: Zippable = { 'deepforge.json': strToU8(JSON.stringify({ name: 'many', formatVersion: 1 })) };
    for (let i = 0; i < MAX_IMPORT_ENTRIES; i++) files[`artifacts/f${i}`] = new Uint8Array(0);
    const res = await importZip(zipSync(files, { level: 0 }));
    expect(res.status, res.body).toBe(413);
    expect(JSON.parse(res.body)).toMatchObject({
      error: 'payload-too-large',
      message: `the zip has more than ${MAX_IMPORT_ENTRIES} entries, the most a project import takes`,
    });
    await nothingStored();
  });
});

describe('artifact import by a path outside artifacts.importRoots', () => {
  let r: ServerFixture;
  let rbase: string;
  let tmp: string;
  let root: string;
  let url: string;
  beforeAll(async () => {
    tmp = await realpath(await makeTempDir('import-roots'));
    root = join(tmp, 'root');
    const outside = join(tmp, 'outside');
    await mkdir(join(root, 'sets'), { recursive: true });
    await mkdir(outside);
    await mkdir(`${root}-evil`);
    await writeFile(join(root, 'sets', 'train.pkl'), 'inside');
    await writeFile(join(outside, 'secret'), 'secret');
    await writeFile(join(`${root}-evil`, 'secret'), 'secret');
    await symlink(join(outside, 'secret'), join(root, 'link-out'));
    await symlink(outside, join(root, 'dir-out'));
    await symlink(join(root, 'sets', 'train.pkl'), join(root, 'link-in'));
    r = await startFixture({ settings: { 'artifacts.importRoots': [root] } });
    rbase = await r.server.listen(0);
    url = `/api/projects/${(await r.createProject({ name: 'data' })).id}/artifacts`;
  }, 60_000);
  afterAll(async () => {
    await r.cleanup();
    await removeTree(tmp);
  });

  const importPath = (base: string, path: string, at = url) =>
    rawRequest(base, {
      method: 'POST',
      path: `${at}/import`,
      headers: json,
      body: JSON.stringify({ name: 'stolen', path }),
    });

  const expectForbidden = (res: { status: number; body: string }, what: string): void => {
    expect(res.status, `${what}: ${res.body}`).toBe(403);
    expect(JSON.parse(res.body), what).toMatchObject({
      error: 'forbidden',
      field: 'body.path',
      message: expect.stringMatching(/artifacts\.importRoots/),
    });
  };

  it('refuses files outside the roots with 403 naming the setting, links and .. included, and imports nothing', async () => {
    const attempts: [string, string][] = [
      ['/etc/passwd', '/etc/passwd'],
      ['/etc/shadow', '/etc/shadow'],
      ['a link in the root to a file outside', join(root, 'link-out')],
      ['a file through a linked folder in the root', join(root, 'dir-out', 'secret')],
      ['.. out of the root', `${root}/../outside/secret`],
      ['a missing file outside (no answer tells whether it exists)', join(tmp, 'outside', 'nope')],
      ['a folder whose name starts like the root', join(`${root}-evil`, 'secret')],
    ];
    for (const [what, path] of attempts) expectForbidden(await importPath(rbase, path), what);
    const list = await rawRequest(rbase, { path: url });
    expect(JSON.parse(list.body)).toMatchObject({ items: [], total: 0 });
    expect(await filesUnder(join(r.dataDir, 'blob'))).toEqual([]);
  });

  it.skipIf(homedir() === '/')(
    'refuses /etc/passwd and /etc/shadow with the default root, the home folder',
    async () => {
      const at = `/api/projects/${project.id}/artifacts`;
      for (const path of ['/etc/passwd', '/etc/shadow'])
        expectForbidden(await importPath(base, path, at), path);
      const list = await rawRequest(base, { path: at });
      expect((JSON.parse(list.body) as { items: ArtifactDto[] }).items.map((a) => a.name)).not.toContain(
        'stolen',
      );
    },
  );

  it('imports a file inside a root, also through a link that stays inside', async () => {
    for (const path of [join(root, 'sets', 'train.pkl'), join(root, 'link-in')]) {
      const res = await importPath(rbase, path);
      expect(res.status, res.body).toBe(201);
      expect(JSON.parse(res.body)).toMatchObject({
        provenance: { kind: 'import', source: join(root, 'sets', 'train.pkl') },
      });
    }
  });
});

describe('artifact references whose file leaves artifacts/', () => {
  const escapes = [
    '../../etc/passwd',
    '/etc/passwd',
    'data/../../../etc/passwd',
    'C:/Windows/win.ini',
    '..\\..\\x',
  ];

  it('refuses them over REST with 400 naming body.file, and stores nothing', async () => {
    for (const file of escapes) {
      const res = await rawRequest(base, {
        method: 'PUT',
        path: `/api/projects/${project.id}/artifact-refs/secret`,
        headers: json,
        body: JSON.stringify({ file }),
      });
      expect(res.status, `${file}: ${res.body}`).toBe(400);
      expect(JSON.parse(res.body), file).toMatchObject({
        error: 'bad-request',
        field: 'body.file',
        message: expect.stringMatching(/^body\.file: must/),
      });
    }
    const refs = await rawRequest(base, { path: `/api/projects/${project.id}/artifact-refs` });
    expect((JSON.parse(refs.body) as { items: { name: string }[] }).items.map((x) => x.name)).not.toContain(
      'secret',
    );
  });

  it('refuses a zipped project holding one with 400 naming the file and the field, and stores nothing', async () => {
    const res = await rawRequest(base, {
      method: 'POST',
      path: '/api/projects/import',
      headers: { 'content-type': 'application/zip' },
      body: Buffer.from(
        zipSync({
          'deepforge.json': strToU8(JSON.stringify({ name: 'escape', formatVersion: 1 })),
          'artifacts/secret.json': strToU8(JSON.stringify({ name: 'secret', file: '../../etc/passwd' })),
        }),
      ),
    });
    expect(res.status, res.body).toBe(400);
    const body = JSON.parse(res.body) as ApiError;
    expect(body.message).toMatch(
      /artifacts\/secret\.json: file: "\.\.\/\.\.\/etc\/passwd" must be a path inside artifacts\//,
    );
    expect(body.diagnostics?.[0]).toMatchObject({ code: 'artifact-file', file: 'artifacts/secret.json' });
    expect(await projectNames()).toEqual(['target']);
  });
});

describe('pathological operation code', () => {
  // Operation code is read by worker threads with a deadline (the engine's OperationReader), never on the event
  // loop, and core refuses code past its limits before parsing it (python-source.limits.ts). The code is stored
  // as sent, like code with syntax errors: what cannot be read gets an error diagnostic naming the limit.
  let pid: string;
  beforeAll(async () => {
    pid = (await f.createProject({ name: 'pathological', example: 'hello' })).id;
  });

  const putCode = (code: string, at = base, projectId = pid) =>
    rawRequest(at, {
      method: 'PUT',
      path: `/api/projects/${projectId}/operations/Multiply`,
      headers: json,
      body: JSON.stringify({ code }),
    });

  /** Sends the PUT, and GET /api/health while it is being answered: health must not wait for the reading. */
  async function putWhileHealthy(
    code: string,
    at = base,
    projectId = pid,
  ): Promise<{ res: { status: number; body: string }; putAnsweredFirst: boolean }> {
    let putAnswered = false;
    const put = putCode(code, at, projectId).then((res) => {
      putAnswered = true;
      return res;
    });
    const health = await rawRequest(at, { path: '/api/health' });
    expect(health.status, health.body).toBe(200);
    const putAnsweredFirst = putAnswered;
    return { res: await put, putAnsweredFirst };
  }

  async function laterGetsAnswer(diagnostic: string, at = base, projectId = pid): Promise<void> {
    const op = await rawRequest(at, { path: `/api/projects/${projectId}/operations/Multiply` });
    expect(op.status, op.body).toBe(200);
    expect((JSON.parse(op.body) as OperationResponse).diagnostics.map((d) => d.code)).toEqual([diagnostic]);
    const list = await rawRequest(at, { path: `/api/projects/${projectId}/operations` });
    expect(list.status, list.body).toBe(200);
    const pipeline = await rawRequest(at, { path: `/api/projects/${projectId}/pipelines/hello` });
    expect(pipeline.status, pipeline.body).toBe(200);
    expect(JSON.parse(pipeline.body)).toMatchObject({
      diagnostics: expect.arrayContaining([
        expect.objectContaining({ code: diagnostic, operation: 'Multiply' }),
      ]),
    });
  }

  const cases: [string, string, string, RegExp][] = [
    [
      '1 MB of "("',
      '('.repeat(1024 * 1024),
      'code-too-large',
      /^operations\/Multiply\.py: operation code is 1024 KiB, larger than the 128 KiB limit/,
    ],
    [
      '64k nested brackets',
      '('.repeat(32 * 1024) + ')'.repeat(32 * 1024),
      'nesting-too-deep',
      /^operations\/Multiply\.py: brackets nested deeper than 100 levels at line 1, column 101$/,
    ],
    [
      'lists nested 5,000 deep in an attribute default',
      `class Multiply:\n    def __init__(self, x=${'['.repeat(5000)}${']'.repeat(5000)}):\n        pass\n\n    def execute(self, a, b):\n        return a * b\n`,
      'nesting-too-deep',
      /^operations\/Multiply\.py: brackets nested deeper than 100 levels at line 2, column 125$/,
    ],
  ];

  it('stores each, answers with an error naming the limit, answers health meanwhile and later GETs', async () => {
    for (const [what, code, diagnostic, message] of cases) {
      const { res } = await putWhileHealthy(code);
      expect(res.status, `${what}: ${res.body.slice(0, 500)}`).toBe(200);
      const body = JSON.parse(res.body) as OperationResponse;
      expect(body.code.length, what).toBe(code.length);
      expect(body.interface, what).toBeNull();
      expect(body.diagnostics, what).toEqual([
        {
          severity: 'error',
          code: diagnostic,
          message: expect.stringMatching(message),
          file: 'operations/Multiply.py',
          operation: 'Multiply',
          ...(diagnostic === 'nesting-too-deep'
            ? { line: expect.any(Number), column: expect.any(Number) }
            : {}),
        },
      ]);
      await laterGetsAnswer(diagnostic);
    }
  });

  it('answers health before a slow reading ends (40,000 parameters at the size limit) and then reads it', async () => {
    const code = `class Multiply:\n    def execute(self, ${'a, '.repeat(40_000)}):\n        return a\n`;
    const { res, putAnsweredFirst } = await putWhileHealthy(code);
    expect(putAnsweredFirst).toBe(false);
    expect(res.status, res.body.slice(0, 500)).toBe(200);
    const body = JSON.parse(res.body) as OperationResponse;
    expect(body.diagnostics).toHaveLength(100);
    expect(body.diagnostics.at(-1)).toMatchObject({
      code: 'more-diagnostics',
      message:
        'operations/Multiply.py: 39900 more problems (39900 errors) not listed: fix the ones above first',
    });
  });

  it('refuses a run of a pipeline using such code with 422 naming the operation', async () => {
    await putCode('('.repeat(1024 * 1024));
    const res = await rawRequest(base, {
      method: 'POST',
      path: `/api/projects/${pid}/executions`,
      headers: json,
      body: '{"pipeline":"hello"}',
    });
    expect(res.status, res.body.slice(0, 500)).toBe(422);
    expect((JSON.parse(res.body) as ApiError).diagnostics).toEqual(
      expect.arrayContaining([expect.objectContaining({ code: 'code-too-large', operation: 'Multiply' })]),
    );
  });

  it('imports a zipped project holding such code, with the error on that operation', async () => {
    const res = await rawRequest(base, {
      method: 'POST',
      path: '/api/projects/import',
      headers: { 'content-type': 'application/zip' },
      body: Buffer.from(
        zipSync({
          'deepforge.json': strToU8(JSON.stringify({ name: 'deep-zip', formatVersion: 1 })),
          'operations/Deep.py': strToU8('['.repeat(64 * 1024)),
        }),
      ),
    });
    expect(res.status, res.body).toBe(201);
    const id = (JSON.parse(res.body) as ProjectSummary).id;
    const diagnostics = await rawRequest(base, { path: `/api/projects/${id}/diagnostics` });
    expect(diagnostics.status, diagnostics.body).toBe(200);
    expect(JSON.parse(diagnostics.body)).toMatchObject({
      diagnostics: [
        {
          code: 'nesting-too-deep',
          operation: 'Deep',
          message: 'operations/Deep.py: brackets nested deeper than 100 levels at line 1, column 101',
        },
      ],
    });
  });

  describe('past the reading deadline', () => {
    let d: ServerFixture;
    let dbase: string;
    let did: string;
    beforeAll(async () => {
      // A deadline no reading meets, instead of code that takes 2 s: core's limits leave none that slow.
      d = await startFixture({ operationReader: { deadlineMs: 1 } });
      dbase = await d.server.listen(0);
      did = (await d.createProject({ name: 'deadline', example: 'hello' })).id;
    }, 60_000);
    afterAll(() => d.cleanup());

    it('answers with "could not be read within" instead of waiting, then answers GETs', async () => {
      const code = `class Multiply:\n    def execute(self, a, b):\n${'        a = [1, 2, 3, 4, 5, 6, 7, 8, 9]\n'.repeat(3000)}        return a * b\n`;
      const { res } = await putWhileHealthy(code, dbase, did);
      expect(res.status, res.body.slice(0, 500)).toBe(200);
      expect((JSON.parse(res.body) as OperationResponse).diagnostics).toEqual([
        {
          severity: 'error',
          code: 'read-timeout',
          message: expect.stringMatching(
            /^operations\/Multiply\.py: could not be read within 0\.001 s: the code is too complex to parse/,
          ),
          file: 'operations/Multiply.py',
          operation: 'Multiply',
        },
      ]);
      await laterGetsAnswer('read-timeout', dbase, did);
    });
  });
});
