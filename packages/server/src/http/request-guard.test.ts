import { describe, expect, it } from 'vitest';
import { checkRequest, hostAllowed, hostNameOf, type GuardRequest } from './request-guard.js';

const req = (over: Partial<GuardRequest>): GuardRequest => ({
  method: 'POST',
  host: 'localhost:8888',
  origin: undefined,
  secFetchSite: undefined,
  upgrade: false,
  ...over,
});

describe('host names', () => {
  it('parses Host headers, brackets kept for IPv6, and refuses what is not a name', () => {
    expect(hostNameOf('LocalHost:8888')).toBe('localhost');
    expect(hostNameOf('[::1]:8888')).toBe('[::1]');
    expect(hostNameOf('10.0.0.5')).toBe('10.0.0.5');
    for (const bad of ['a b', 'x/y', 'u@evil.example', 'evil.example#', '', 'x'.repeat(400)]) {
      expect(hostNameOf(bad), bad).toBeUndefined();
    }
  });

  it('allows loopback names, IP literals and configured names; a suffix is not a subdomain', () => {
    for (const ok of ['localhost', 'app.localhost', '127.0.0.1', '192.168.1.20', '[::1]', '[fe80::1]']) {
      expect(hostAllowed(ok, []), ok).toBe(true);
    }
    expect(hostAllowed('evil.example', [])).toBe(false);
    expect(hostAllowed('localhost.evil.example', [])).toBe(false);
    expect(hostAllowed('lab', ['lab'])).toBe(true);
    expect(hostAllowed('x.lab', ['lab'])).toBe(false);
    expect(hostAllowed('x.lab', ['.lab'])).toBe(true);
    expect(hostAllowed('lab', ['.lab'])).toBe(true);
    expect(hostAllowed('evillab', ['.lab'])).toBe(false);
  });
});

describe('origins', () => {
  it('takes its own origin, default ports written or not, and a TLS proxy in front', () => {
    expect(checkRequest(req({ origin: 'http://localhost:8888' }), [])).toEqual({ ok: true });
    expect(checkRequest(req({ host: 'lab', origin: 'https://lab' }), ['lab'])).toEqual({ ok: true });
    expect(checkRequest(req({ host: 'lab', origin: 'http://lab:80' }), ['lab'])).toEqual({ ok: true });
    expect(checkRequest(req({ host: 'lab:443', origin: 'https://lab' }), ['lab'])).toEqual({ ok: true });
    expect(checkRequest(req({ origin: 'http://LOCALHOST:8888' }), [])).toEqual({ ok: true });
  });

  it('refuses another port, another name, another scheme than http(s) and null', () => {
    for (const origin of [
      'http://localhost:8889',
      'http://127.0.0.1:8888',
      'file://',
      'null',
      'chrome-extension://x',
    ]) {
      expect(checkRequest(req({ origin }), []), origin).toMatchObject({ ok: false, reason: 'origin' });
    }
    expect(checkRequest(req({ host: 'lab:80', origin: 'https://lab' }), ['lab'])).toMatchObject({
      ok: false,
    });
  });

  it('checks GETs for the host only, upgrades like a change', () => {
    expect(checkRequest(req({ method: 'GET', origin: 'https://evil.example' }), [])).toEqual({ ok: true });
    expect(
      checkRequest(req({ method: 'GET', upgrade: true, origin: 'https://evil.example' }), []),
    ).toMatchObject({ ok: false, reason: 'origin' });
    expect(checkRequest(req({ method: 'GET', host: 'evil.example' }), [])).toMatchObject({
      ok: false,
      reason: 'host',
    });
    expect(checkRequest(req({ method: 'GET', host: undefined }), [])).toMatchObject({
      ok: false,
      message: expect.stringMatching(/no Host header/),
    });
  });

  it('follows Sec-Fetch-Site where a browser sends it', () => {
    expect(checkRequest(req({ secFetchSite: 'same-origin' }), [])).toEqual({ ok: true });
    expect(checkRequest(req({ secFetchSite: 'none' }), [])).toEqual({ ok: true });
    expect(checkRequest(req({ secFetchSite: 'same-site' }), [])).toMatchObject({ ok: false });
    expect(checkRequest(req({ secFetchSite: 'cross-site' }), [])).toMatchObject({ ok: false });
  });
});
