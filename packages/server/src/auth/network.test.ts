/**
 * On a network: binding beyond loopback only with accounts, behind a TLS proxy (server.publicUrl,
 * server.trustProxy): its host name answered, Secure cookies, client addresses from X-Forwarded-For.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { rawRequest } from '../test-support/raw-http.js';
import { startFixture, type ServerFixture } from '../test-support/server-fixture.js';
import type { SettingsValues } from '@deepforge/engine';
import { BindRefusedError } from '../server.app.js';

const fixtures: ServerFixture[] = [];
afterEach(async () => {
  for (const f of fixtures.splice(0)) await f.cleanup();
});

async function fixture(settings: Partial<SettingsValues>): Promise<ServerFixture> {
  const f = await startFixture({ settings });
  fixtures.push(f);
  return f;
}

describe('listening', () => {
  it('refuses a network address while accounts are off, saying how to turn them on', async () => {
    const f = await fixture({});
    await expect(f.server.listen(0, '0.0.0.0')).rejects.toBeInstanceOf(BindRefusedError);
    await expect(f.server.listen(0, '0.0.0.0')).rejects.toThrow(/deepforge config auth\.enabled true/);
    expect(await f.server.listen(0, '127.0.0.1')).toMatch(/^http:\/\/localhost:\d+$/);
  });

  it('listens on every interface with accounts on', async () => {
    const f = await fixture({ 'auth.enabled': true });
    const url = await f.server.listen(0, '0.0.0.0');
    const res = await rawRequest(url, { path: '/api/health' });
    expect(res.status).toBe(200);
    expect((await rawRequest(url, { path: '/api/projects' })).status).toBe(401);
  });
});

describe('behind a TLS proxy', () => {
  it('answers the public name, marks the cookie Secure and logs the client address the proxy saw', async () => {
    const f = await fixture({
      'auth.enabled': true,
      'server.publicUrl': 'https://deepforge.example.org',
      'server.trustProxy': ['127.0.0.1'],
    });
    const base = await f.server.listen(0);
    expect(base).toBe('https://deepforge.example.org');
    const port = (f.server.app.server.address() as { port: number }).port;
    const direct = `http://127.0.0.1:${port}`;
    await f.server.engine.accounts.createUser('ada', 'correct horse', { admin: true });
    const proxied = {
      host: 'deepforge.example.org',
      origin: 'https://deepforge.example.org',
      'x-forwarded-for': '203.0.113.7',
      'x-forwarded-proto': 'https',
      'content-type': 'application/json',
    };
    const login = await rawRequest(direct, {
      method: 'POST',
      path: '/api/auth/login',
      headers: proxied,
      body: JSON.stringify({ name: 'ada', password: 'correct horse' }),
    });
    expect(login.status, login.body).toBe(200);
    expect(String(login.headers['set-cookie'])).toMatch(/; Secure/);
    const audit = await f.server.engine.accounts.listAudit({ limit: 10, offset: 0, action: 'sign-in' });
    expect(audit.items[0]?.ip).toBe('203.0.113.7');
    expect(
      (await rawRequest(direct, { path: '/api/health', headers: { host: 'evil.example' } })).status,
    ).toBe(403);
  });

  it('ignores forwarded headers from peers it does not trust', async () => {
    const f = await fixture({ 'auth.enabled': true });
    const base = await f.server.listen(0);
    await f.server.engine.accounts.createUser('ada', 'correct horse');
    const login = await rawRequest(base, {
      method: 'POST',
      path: '/api/auth/login',
      headers: {
        'x-forwarded-for': '203.0.113.7',
        'x-forwarded-proto': 'https',
        'content-type': 'application/json',
      },
      body: JSON.stringify({ name: 'ada', password: 'correct horse' }),
    });
    expect(login.status).toBe(200);
    expect(String(login.headers['set-cookie'])).not.toMatch(/Secure/);
    const audit = await f.server.engine.accounts.listAudit({ limit: 10, offset: 0, action: 'sign-in' });
    expect(audit.items[0]?.ip).toBe('127.0.0.1');
  });
});
