import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import type { FastifyInstance } from 'fastify';
import type { ApiError } from '@deepforge/protocol';
import { checkRequest, type GuardVerdict } from './request-guard.js';

function escapeHtml(s: string): string {
  return s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

function refusalPage(message: string): string {
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>DeepForge refused this request</title></head>
<body style="font-family: sans-serif; max-width: 44em; margin: 4em auto; line-height: 1.5">
<h1>403: DeepForge refused this request</h1>
<p>${escapeHtml(message)}</p>
</body></html>
`;
}

function header(request: IncomingMessage, name: string): string | undefined {
  const v = request.headers[name];
  return Array.isArray(v) ? v[0] : v;
}

function check(request: IncomingMessage, upgrade: boolean, allowedHosts: readonly string[]): GuardVerdict {
  return checkRequest(
    {
      method: request.method ?? 'GET',
      host: request.headers.host,
      origin: header(request, 'origin'),
      secFetchSite: header(request, 'sec-fetch-site'),
      upgrade,
    },
    allowedHosts,
  );
}

/** Refuses (403) every HTTP request of a foreign host name, and cross-site requests that change something. */
export function installRequestGuard(app: FastifyInstance, allowedHosts: readonly string[]): void {
  app.addHook('onRequest', (request, reply, done) => {
    const verdict = check(request.raw, false, allowedHosts);
    if (verdict.ok) {
      done();
      return;
    }
    request.log.warn(
      { reason: verdict.reason, host: request.headers.host, origin: request.headers.origin },
      'request refused',
    );
    const path = request.url.split('?')[0]!;
    const wantsPage =
      request.method === 'GET' && !path.startsWith('/api') && /text\/html/.test(request.headers.accept ?? '');
    // The connection is not kept: a rebinding page must not reuse it for a request that would pass.
    reply.header('connection', 'close');
    if (wantsPage) {
      void reply.code(403).type('text/html; charset=utf-8').send(refusalPage(verdict.message));
      return;
    }
    const body: ApiError = { error: 'forbidden', message: verdict.message };
    void reply.code(403).send(body);
  });
}

/**
 * Checks a WebSocket upgrade like a mutating request; a refused one gets a 403 with the reason and the socket is
 * closed. Returns whether it was refused.
 */
export function refuseUpgrade(
  request: IncomingMessage,
  socket: Duplex,
  allowedHosts: readonly string[],
): boolean {
  const verdict = check(request, true, allowedHosts);
  if (verdict.ok) return false;
  const body = Buffer.from(`${verdict.message}\n`);
  socket.end(
    `HTTP/1.1 403 Forbidden\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: ${body.length}\r\nConnection: close\r\n\r\n${body.toString()}`,
  );
  return true;
}
