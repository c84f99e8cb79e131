import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { AccountService } from '@deepforge/engine';
import type { ApiError } from '@deepforge/protocol';
import { authenticate, projectRoleOf, roleAtLeast } from './request-auth.js';

/** A token's use is written to the audit log at most this often (per token, per server process). */
const TOKEN_AUDIT_EVERY_MS = 10 * 60 * 1000;

export interface AuthOptions {
  enabled: boolean;
  accounts: AccountService;
}

function send(reply: FastifyReply, status: number, body: ApiError): FastifyReply {
  return reply.code(status).send(body);
}

/** Paths of the web client (its files and routes): they load signed out, so the page can offer the sign-in. */
function isClientPath(request: FastifyRequest): boolean {
  const path = request.url.split('?')[0]!;
  return (
    (request.method === 'GET' || request.method === 'HEAD') && path !== '/api' && !path.startsWith('/api/')
  );
}

/**
 * Decides, before the body is read, whether the caller may make this request (ADR 0009):
 * - accounts off: everything (the guard of ADR 0008 has already kept other sites and host names out);
 * - accounts on: public routes and the client's files for anyone; everything else needs a session or a token
 *   (401); admin routes need an admin (403); routes of a project need a role in it: reading needs `reader`,
 *   changing `writer`, routes marked `projectRole` more. A caller who is no member gets the 404 of a project that
 *   does not exist, so project ids cannot be probed.
 */
export function installAuth(app: FastifyInstance, options: AuthOptions): void {
  const { accounts } = options;
  const lastTokenAudit = new Map<string, number>();
  // Set by the hook below on every request, before any route runs.
  app.decorateRequest('auth', null as never);
  app.addHook('onRequest', async (request, reply) => {
    if (!options.enabled) {
      request.auth = { mode: 'off' };
      return;
    }
    const { identity, problem } = await authenticate(accounts, request.raw);
    request.auth = { mode: 'on', identity, ...(problem !== undefined ? { problem } : {}) };
    const config = request.routeOptions.config;
    if (config.auth === 'public' || isClientPath(request)) return;
    if (!identity) {
      // git asks for credentials only when told how (docs/adr/0020): user name and an access token.
      if (request.url.startsWith('/git/')) reply.header('www-authenticate', 'Basic realm="DeepForge"');
      return send(reply, 401, {
        error: 'unauthorized',
        message: problem ?? 'sign in first (or send an access token: Authorization: Bearer <token>)',
      });
    }
    if (identity.via.kind === 'token') {
      const last = lastTokenAudit.get(identity.via.tokenId) ?? 0;
      if (Date.now() - last >= TOKEN_AUDIT_EVERY_MS) {
        lastTokenAudit.set(identity.via.tokenId, Date.now());
        await accounts.audit({
          actorId: identity.user.id,
          actorName: identity.user.name,
          action: 'token-use',
          target: identity.via.tokenName,
          detail: `${request.method} ${request.url.split('?')[0]!.slice(0, 200)}`,
          ip: request.ip,
        });
      }
    }
    if (config.admin && !identity.user.admin) {
      return send(reply, 403, { error: 'forbidden', message: 'only admins may do this' });
    }
    const projectId = (request.params as { projectId?: unknown } | undefined)?.projectId;
    if (typeof projectId !== 'string') return;
    const role = await projectRoleOf(accounts, request.auth, projectId);
    if (role === undefined) {
      return send(reply, 404, {
        error: 'not-found',
        message: `there is no project ${projectId.slice(0, 100)}`,
      });
    }
    const need =
      config.projectRole ?? (request.method === 'GET' || request.method === 'HEAD' ? 'reader' : 'writer');
    if (!roleAtLeast(role, need)) {
      return send(reply, 403, {
        error: 'forbidden',
        message:
          role === 'reader'
            ? 'you can read this project but not change or run it (your role: reader)'
            : `this needs the ${need} role in the project (yours: ${role})`,
      });
    }
  });
}
