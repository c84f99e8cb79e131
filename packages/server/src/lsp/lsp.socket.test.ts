import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { TEST_PYTHON } from '@deepforge/engine/test-support';
import { startFixture, type ServerFixture } from '../test-support/server-fixture.js';

/** A minimal LSP client over the real WebSocket: requests by id, notifications collected. */
class LspTestClient {
  private nextId = 1;
  private readonly waiting = new Map<number, (m: Record<string, unknown>) => void>();
  closed: { code: number; reason: string } | undefined;
  readonly notifications: Record<string, unknown>[] = [];
  private readonly listeners = new Set<() => void>();

  private constructor(readonly ws: WebSocket) {
    ws.on('close', (code, reason) => {
      this.closed = { code, reason: reason.toString() };
      // Requests the server will never answer end as errors, so a test fails with the reason instead of hanging.
      for (const resolve of this.waiting.values())
        resolve({ error: { code: -1, message: `socket closed: ${code} ${reason.toString()}` } });
      this.waiting.clear();
    });
    ws.on('message', (data) => {
      const m = JSON.parse(data.toString()) as Record<string, unknown>;
      if (typeof m.id === 'number' && this.waiting.has(m.id) && m.method === undefined) {
        this.waiting.get(m.id)!(m);
        this.waiting.delete(m.id);
      } else {
        this.notifications.push(m);
        for (const l of this.listeners) l();
      }
    });
  }

  static open(url: string, headers: Record<string, string> = {}): Promise<LspTestClient> {
    return new Promise((resolve, reject) => {
      const ws = new WebSocket(url, { headers });
      ws.once('open', () => resolve(new LspTestClient(ws)));
      ws.once('unexpected-response', (_req, res) => {
        let body = '';
        res.on('data', (c: Buffer) => (body += c.toString()));
        res.on('end', () => reject(new Error(`${res.statusCode} ${body.trim()}`)));
      });
      ws.once('error', reject);
    });
  }

  request(method: string, params: unknown): Promise<Record<string, unknown>> {
    const id = this.nextId++;
    return new Promise((resolve) => {
      this.waiting.set(id, resolve);
      this.ws.send(JSON.stringify({ jsonrpc: '2.0', id, method, params }));
    });
  }

  notify(method: string, params: unknown): void {
    this.ws.send(JSON.stringify({ jsonrpc: '2.0', method, params }));
  }

  /** The first notification matching `check`, waiting for it up to `timeoutMs`. */
  until(
    check: (m: Record<string, unknown>) => boolean,
    timeoutMs = 30_000,
  ): Promise<Record<string, unknown>> {
    return new Promise((resolve, reject) => {
      const look = (): boolean => {
        const found = this.notifications.find(check);
        if (!found) return false;
        this.listeners.delete(listener);
        clearTimeout(timer);
        resolve(found);
        return true;
      };
      const listener = (): void => void look();
      const timer = setTimeout(() => {
        this.listeners.delete(listener);
        reject(new Error(`no such notification in ${timeoutMs} ms: ${JSON.stringify(this.notifications)}`));
      }, timeoutMs);
      this.listeners.add(listener);
      look();
    });
  }

  async initialize(): Promise<Record<string, unknown>> {
    // As @codemirror/lsp-client sends it: the workspace itself as the root.
    const init = await this.request('initialize', {
      processId: null,
      rootUri: 'file:///workspace',
      capabilities: {},
    });
    this.notify('initialized', {});
    return init;
  }

  open(uri: string, text: string): void {
    this.notify('textDocument/didOpen', { textDocument: { uri, languageId: 'python', version: 1, text } });
  }

  close(): void {
    this.ws.close();
  }
}

const UTIL = `def scale(x, factor, *, bias=0):
    """Scales x by factor and adds bias."""
    return x * factor + bias
`;

const OPERATION = `import torch
import deepforge
from utils.shapes import scale

torch.nn.
deepforge.log(step=1, loss=0.5)
scale(3)
`;

const URI = 'file:///workspace/operations/Probe.py';

describe('the Python language server over /api/lsp', () => {
  let f: ServerFixture;
  let base: string;
  let projectId: string;
  let client: LspTestClient;

  beforeAll(async () => {
    f = await startFixture();
    base = (await f.server.listen(0)).replace('http:', 'ws:');
    projectId = (await f.createProject({ name: 'lsp' })).id;
    const put = await f.server.app.inject({
      method: 'PUT',
      url: `/api/projects/${projectId}/utils/shapes`,
      payload: { code: UTIL },
    });
    expect(put.statusCode).toBeLessThan(300);
    client = await LspTestClient.open(`${base}/api/lsp?project=${projectId}`);
    const init = await client.initialize();
    expect(init.error).toBeUndefined();
    client.open(URI, OPERATION);
  }, 120_000);

  afterAll(async () => {
    client?.close();
    await f?.cleanup();
  });

  it('answers initialize with whole-text sync and completion', async () => {
    const again = await client.request('initialize', { processId: null, rootUri: null, capabilities: {} });
    const caps = (again.result as { capabilities: Record<string, unknown> }).capabilities;
    expect(caps.textDocumentSync).toMatchObject({ change: 1, openClose: true });
    expect(caps.completionProvider).toBeDefined();
    // Only what the bridge forwards: no formatting or rename an editor would offer and then see refused.
    expect(caps.documentFormattingProvider).toBeUndefined();
    expect(caps.renameProvider).toBeUndefined();
  });

  it('completes torch.nn. with Linear', async () => {
    const res = await client.request('textDocument/completion', {
      textDocument: { uri: URI },
      position: { line: 4, character: 9 },
    });
    const result = res.result as { items?: { label: string }[] } | { label: string }[];
    const items = Array.isArray(result) ? result : (result.items ?? []);
    expect(items.map((i) => i.label)).toContain('Linear');
  }, 60_000);

  it('answers a completion typed over by a newer one empty instead of queueing it', async () => {
    const at = (character: number) =>
      client.request('textDocument/completion', {
        textDocument: { uri: URI },
        position: { line: 4, character },
      });
    const [first, second, third] = await Promise.all([at(9), at(9), at(9)]);
    expect(JSON.stringify(first.result)).toContain('"Linear"');
    expect(second.result).toBeNull();
    expect(JSON.stringify(third.result)).toContain('"Linear"');
  }, 60_000);

  it('hovers deepforge.log with its docstring', async () => {
    const res = await client.request('textDocument/hover', {
      textDocument: { uri: URI },
      position: { line: 5, character: 11 },
    });
    expect(JSON.stringify(res.result)).toContain('Report scalar metrics');
  }, 60_000);

  it('flags an undefined name and a call of a util with too few arguments', async () => {
    // A file that parses: pyflakes reports only the syntax error of one that does not (`torch.nn.`).
    const checks = 'file:///workspace/operations/Checks.py';
    client.open(checks, 'from utils.shapes import scale\n\nprint(undefined_thing)\nscale(3)\nscale(3, 2)\n');
    const published = await client.until((m) => {
      if (m.method !== 'textDocument/publishDiagnostics') return false;
      const p = m.params as { uri: string; diagnostics: { message: string }[] };
      return p.uri === checks && p.diagnostics.some((d) => d.message.includes('undefined_thing'));
    }, 40_000);
    const diagnostics = (published.params as { diagnostics: { message: string; range: unknown }[] })
      .diagnostics;
    expect(diagnostics.find((d) => d.message.includes('undefined_thing'))?.range).toMatchObject({
      start: { line: 2 },
    });
    const arity = diagnostics.filter((d) => d.message.startsWith('scale()'));
    expect(arity).toEqual([
      expect.objectContaining({
        message: "scale() missing 1 required argument: 'factor'",
        range: { start: { line: 3, character: 0 }, end: { line: 3, character: 8 } },
      }),
    ]);
  }, 60_000);

  it('goes to the definition of a util in utils/<file>.py of the project', async () => {
    const res = await client.request('textDocument/definition', {
      textDocument: { uri: URI },
      position: { line: 6, character: 1 },
    });
    const locations = res.result as { uri: string; range: { start: { line: number } } }[];
    expect(locations[0]).toMatchObject({
      uri: 'file:///workspace/utils/shapes.py',
      range: { start: { line: 0 } },
    });
  }, 60_000);

  it('refuses file URIs outside the project workspace and methods it does not offer', async () => {
    const outside = await client.request('textDocument/hover', {
      textDocument: { uri: 'file:///etc/passwd' },
      position: { line: 0, character: 0 },
    });
    expect((outside.error as { message: string }).message).toMatch(/not a file of this project/);
    const escape = await client.request('textDocument/hover', {
      textDocument: { uri: 'file:///workspace/utils/%2e%2e/%2e%2e/secret.py' },
      position: { line: 0, character: 0 },
    });
    expect((escape.error as { message: string }).message).toMatch(/not a Python file under/);
    const command = await client.request('workspace/executeCommand', { command: 'x', arguments: [] });
    expect((command.error as { code: number }).code).toBe(-32601);
  });

  it('refuses an unknown project, a missing one and a foreign Host', async () => {
    await expect(LspTestClient.open(`${base}/api/lsp?project=nosuchproject1`)).rejects.toThrow(
      /404 there is no project nosuchproject1/,
    );
    await expect(LspTestClient.open(`${base}/api/lsp`)).rejects.toThrow(/400 name the project/);
    const port = new URL(base).port;
    await expect(
      LspTestClient.open(`${base}/api/lsp?project=${projectId}`, {
        Host: `evil.example:${port}`,
        Origin: `http://evil.example:${port}`,
      }),
    ).rejects.toThrow(/403/);
  });

  it('shares one language server between two editors of a project', async () => {
    expect(f.server.languageServers.size).toBe(1);
    const second = await LspTestClient.open(`${base}/api/lsp?project=${projectId}`);
    await second.initialize();
    expect(f.server.languageServers.size).toBe(1);
    second.close();
  });
});

describe('language server processes', () => {
  let f: ServerFixture;
  let base: string;

  beforeAll(async () => {
    f = await startFixture({ languageServers: { maxProcesses: 1, idleMs: 300 } });
    base = (await f.server.listen(0)).replace('http:', 'ws:');
  });

  afterAll(async () => {
    await f?.cleanup();
  });

  it('restarts a crashed server for the next editor, stops idle ones and bounds how many run', async () => {
    const a = (await f.createProject({ name: 'a' })).id;
    const b = (await f.createProject({ name: 'b' })).id;
    const first = await LspTestClient.open(`${base}/api/lsp?project=${a}`);
    await first.initialize();
    // One runs and has an editor: a second project's editor is refused, with the reason.
    await expect(LspTestClient.open(`${base}/api/lsp?project=${b}`)).rejects.toThrow(
      /503 1 projects have code editors open/,
    );
    const pid = f.server.languageServers.running(a)!.pid!;
    process.kill(pid, 'SIGKILL');
    await expect.poll(() => first.closed?.code, { timeout: 10_000 }).toBe(1011);
    expect(first.closed?.reason).toMatch(/language server stopped/);

    const again = await LspTestClient.open(`${base}/api/lsp?project=${a}`);
    expect((await again.initialize()).error).toBeUndefined();
    expect(f.server.languageServers.running(a)!.pid).not.toBe(pid);
    again.open('file:///workspace/utils/u.py', 'import os\nos.pa\n');
    const res = await again.request('textDocument/completion', {
      textDocument: { uri: 'file:///workspace/utils/u.py' },
      position: { line: 1, character: 5 },
    });
    expect(JSON.stringify(res.result)).toContain('"path"');
    again.close();
    // No editor left: stopped after idleMs, which makes room for the other project.
    await expect.poll(() => f.server.languageServers.size, { timeout: 10_000 }).toBe(0);
    const other = await LspTestClient.open(`${base}/api/lsp?project=${b}`);
    expect((await other.initialize()).error).toBeUndefined();
    other.close();
  }, 120_000);
});

describe('/api/lsp with accounts on', () => {
  let f: ServerFixture;

  afterAll(async () => {
    await f?.cleanup();
  });

  it('takes members only, and writes only writers’ texts into the workspace folder', async () => {
    f = await startFixture({ settings: { python: TEST_PYTHON, 'auth.enabled': true } });
    const base = (await f.server.listen(0)).replace('http:', 'ws:');
    const accounts = f.server.engine.accounts;
    const ada = await accounts.createUser('ada', 'correct horse');
    const bob = await accounts.createUser('bob', 'battery staple');
    const adaToken = (await accounts.createToken(ada, 'test', null)).token;
    const bobToken = (await accounts.createToken(bob, 'test', null)).token;
    const created = await f.server.app.inject({
      method: 'POST',
      url: '/api/projects',
      headers: { authorization: `Bearer ${adaToken}` },
      payload: { name: 'private' },
    });
    const projectId = created.json<{ id: string }>().id;
    await f.server.app.inject({
      method: 'PUT',
      url: `/api/projects/${projectId}/utils/shapes`,
      headers: { authorization: `Bearer ${adaToken}` },
      payload: { code: UTIL },
    });
    const url = `${base}/api/lsp?project=${projectId}`;
    await expect(LspTestClient.open(url)).rejects.toThrow(/401/);
    await expect(LspTestClient.open(url, { authorization: `Bearer ${bobToken}` })).rejects.toThrow(
      new RegExp(`404 there is no project ${projectId}`),
    );

    await accounts.setMember(projectId, bob, 'reader');
    const reader = await LspTestClient.open(url, { authorization: `Bearer ${bobToken}` });
    expect((await reader.initialize()).error).toBeUndefined();
    const file = join(f.server.languageServers.workspaceOf(projectId), 'utils', 'shapes.py');
    expect(await readFile(file, 'utf8')).toBe(UTIL);
    reader.open('file:///workspace/utils/shapes.py', 'READER = 1\n');
    await new Promise((resolve) => setTimeout(resolve, 1000));
    expect(await readFile(file, 'utf8')).toBe(UTIL);
    reader.close();

    const writer = await LspTestClient.open(url, { authorization: `Bearer ${adaToken}` });
    await writer.initialize();
    writer.open('file:///workspace/utils/shapes.py', UTIL);
    writer.notify('textDocument/didChange', {
      textDocument: { uri: 'file:///workspace/utils/shapes.py', version: 2 },
      contentChanges: [{ text: `${UTIL}\nWRITER = 2\n` }],
    });
    await expect.poll(() => readFile(file, 'utf8'), { timeout: 10_000 }).toContain('WRITER = 2');
    writer.close();
  }, 120_000);
});
