import type { FastifyReply, FastifyRequest } from 'fastify';
import { z } from 'zod';
import { AccountError, SESSION_MAX_MS, type AccessTokenRecord, type UserRecord } from '@deepforge/engine';
import {
  AccessTokenParamsSchema,
  ApiErrorSchema,
  AuditQuerySchema,
  AuditResponseSchema,
  AuthStatusSchema,
  ChangePasswordBodySchema,
  CreateAccessTokenBodySchema,
  CreatedAccessTokenSchema,
  ListAccessTokensResponseSchema,
  ListUsersResponseSchema,
  LoginBodySchema,
  SESSION_COOKIE,
  UserDtoSchema,
  type AccessTokenDto,
  type UserDto,
} from '@deepforge/protocol';
import { callerOf } from '../auth/request-auth.js';
import { LoginLimiter } from '../auth/login-limiter.js';
import { HttpError } from '../http/http-error.js';
import type { ServerContext, ZodApp } from '../server.context.js';

const tags = ['accounts'];
const errors = {
  400: ApiErrorSchema,
  401: ApiErrorSchema,
  403: ApiErrorSchema,
  404: ApiErrorSchema,
  409: ApiErrorSchema,
  429: ApiErrorSchema,
};

export const userDto = (u: UserRecord): UserDto => ({ name: u.name, admin: u.admin });

const tokenDto = (t: AccessTokenRecord): AccessTokenDto => ({
  id: t.id,
  name: t.name,
  prefix: t.prefix,
  createdAt: t.createdAt,
  expiresAt: t.expiresAt,
  lastUsedAt: t.lastUsedAt,
  revokedAt: t.revokedAt,
});

/** An AccountError as an HTTP error: bad input 400, unknown 404, a rule that protects data 409. */
export function accountHttpError(err: AccountError): HttpError {
  switch (err.code) {
    case 'bad-name':
    case 'bad-password':
    case 'bad-token-name':
    case 'bad-secret':
      return new HttpError(400, 'bad-request', err.message);
    case 'not-found':
      return new HttpError(404, 'not-found', err.message);
    case 'exists':
    case 'last-admin':
    case 'last-owner':
      return new HttpError(409, 'conflict', err.message);
  }
}

export async function asHttp<T>(work: Promise<T>): Promise<T> {
  try {
    return await work;
  } catch (err) {
    if (err instanceof AccountError) throw accountHttpError(err);
    throw err;
  }
}

function requireAccounts(ctx: ServerContext): void {
  if (!ctx.authEnabled) {
    throw new HttpError(409, 'conflict', 'accounts are off on this server (auth.enabled is false)');
  }
}

function signedIn(request: FastifyRequest): UserRecord {
  const user = callerOf(request.auth);
  // The auth hook answers 401 before a route that needs a user runs; this is for the type checker.
  if (!user) throw new HttpError(401, 'unauthorized', 'sign in first');
  return user;
}

/** Cookies are Secure when the page is https: a TLS proxy (trusted, X-Forwarded-Proto) or an https public URL. */
function secureCookie(ctx: ServerContext, request: FastifyRequest): boolean {
  return request.protocol === 'https' || (ctx.publicUrl?.startsWith('https:') ?? false);
}

function setSessionCookie(
  ctx: ServerContext,
  request: FastifyRequest,
  reply: FastifyReply,
  value: string,
): void {
  reply.setCookie(SESSION_COOKIE, value, {
    path: '/',
    httpOnly: true,
    sameSite: 'lax',
    secure: secureCookie(ctx, request),
    maxAge: Math.floor(SESSION_MAX_MS / 1000),
  });
}

export function registerAuthRoutes(app: ZodApp, ctx: ServerContext): void {
  const accounts = ctx.engine.accounts;
  const limiter = new LoginLimiter();

  app.get(
    '/api/auth/status',
    {
      config: { auth: 'public' },
      schema: {
        tags,
        summary: 'Whether accounts are on, and who is signed in',
        response: { 200: AuthStatusSchema },
      },
    },
    async (request) => {
      const user = callerOf(request.auth);
      return {
        enabled: ctx.authEnabled,
        user: user ? userDto(user) : null,
        needsFirstUser: ctx.authEnabled && !(await accounts.hasUsers()),
      };
    },
  );

  app.post(
    '/api/auth/login',
    {
      config: { auth: 'public' },
      schema: {
        tags,
        summary: 'Sign in: sets the session cookie',
        body: LoginBodySchema,
        response: { 200: UserDtoSchema, ...errors },
      },
    },
    async (request, reply) => {
      requireAccounts(ctx);
      const { name, password } = request.body;
      const key = name.toLowerCase().slice(0, 60);
      const wait = limiter.retryAfter(request.ip, key);
      if (wait > 0) {
        const seconds = Math.ceil(wait / 1000);
        reply.header('retry-after', String(seconds));
        throw new HttpError(429, 'too-many-requests', `too many failed sign-ins: try again in ${seconds} s`);
      }
      const user = await accounts.checkPassword(name, password);
      if (!user) {
        limiter.fail(request.ip, key);
        await accounts.audit({
          actorId: null,
          actorName: null,
          action: 'sign-in-failed',
          target: key,
          detail: null,
          ip: request.ip,
        });
        // The same answer for an unknown name and a wrong password.
        throw new HttpError(401, 'unauthorized', 'wrong name or password');
      }
      limiter.succeed(request.ip, key);
      const { secret } = await accounts.createSession(user, request.headers['user-agent']);
      await accounts.audit({
        actorId: user.id,
        actorName: user.name,
        action: 'sign-in',
        target: null,
        detail: null,
        ip: request.ip,
      });
      setSessionCookie(ctx, request, reply, secret);
      return userDto(user);
    },
  );

  app.post(
    '/api/auth/logout',
    {
      config: { auth: 'public' },
      schema: { tags, summary: 'Sign out: ends the session', response: { 204: z.null(), ...errors } },
    },
    async (request, reply) => {
      const value = request.cookies[SESSION_COOKIE];
      if (value !== undefined && ctx.authEnabled) {
        await accounts.revokeSession(value);
        const user = callerOf(request.auth);
        if (user) {
          await accounts.audit({
            actorId: user.id,
            actorName: user.name,
            action: 'sign-out',
            target: null,
            detail: null,
            ip: request.ip,
          });
        }
      }
      reply.clearCookie(SESSION_COOKIE, { path: '/' });
      return reply.code(204).send(null);
    },
  );

  app.post(
    '/api/auth/password',
    {
      schema: {
        tags,
        summary: 'Change your password (every session of yours ends; sign in again)',
        body: ChangePasswordBodySchema,
        response: { 204: z.null(), ...errors },
      },
    },
    async (request, reply) => {
      requireAccounts(ctx);
      const user = signedIn(request);
      if (!(await accounts.checkPassword(user.name, request.body.current))) {
        throw new HttpError(403, 'forbidden', 'the current password is wrong');
      }
      await asHttp(accounts.setPassword(user.name, request.body.password));
      await accounts.audit({
        actorId: user.id,
        actorName: user.name,
        action: 'password-change',
        target: user.name,
        detail: null,
        ip: request.ip,
      });
      reply.clearCookie(SESSION_COOKIE, { path: '/' });
      return reply.code(204).send(null);
    },
  );

  app.get(
    '/api/auth/tokens',
    {
      schema: {
        tags,
        summary: 'Your personal access tokens',
        response: { 200: ListAccessTokensResponseSchema, ...errors },
      },
    },
    async (request) => {
      requireAccounts(ctx);
      return { items: (await accounts.listTokens(signedIn(request))).map(tokenDto) };
    },
  );

  app.post(
    '/api/auth/tokens',
    {
      schema: {
        tags,
        summary: 'Make a personal access token (shown in this answer only)',
        body: CreateAccessTokenBodySchema,
        response: { 201: CreatedAccessTokenSchema, ...errors },
      },
    },
    async (request, reply) => {
      requireAccounts(ctx);
      const user = signedIn(request);
      const { token, record } = await asHttp(
        accounts.createToken(user, request.body.name, request.body.expiresInDays),
      );
      await accounts.audit({
        actorId: user.id,
        actorName: user.name,
        action: 'token-create',
        target: record.name,
        detail: record.prefix,
        ip: request.ip,
      });
      return reply.code(201).send({ token, info: tokenDto(record) });
    },
  );

  app.delete(
    '/api/auth/tokens/:tokenId',
    {
      schema: {
        tags,
        summary: 'Revoke one of your tokens',
        params: AccessTokenParamsSchema,
        response: { 204: z.null(), ...errors },
      },
    },
    async (request, reply) => {
      requireAccounts(ctx);
      const user = signedIn(request);
      await asHttp(accounts.revokeToken(user, request.params.tokenId));
      await accounts.audit({
        actorId: user.id,
        actorName: user.name,
        action: 'token-revoke',
        target: request.params.tokenId,
        detail: null,
        ip: request.ip,
      });
      return reply.code(204).send(null);
    },
  );

  app.get(
    '/api/users',
    {
      schema: {
        tags,
        summary: 'Every user, for sharing projects',
        response: { 200: ListUsersResponseSchema, ...errors },
      },
    },
    async () => {
      requireAccounts(ctx);
      return { items: (await accounts.listUsers()).map(userDto) };
    },
  );

  app.get(
    '/api/admin/audit',
    {
      config: { admin: true },
      schema: {
        tags,
        summary: 'The audit log: sign-ins, failed sign-ins, role changes, token use (admins)',
        querystring: AuditQuerySchema,
        response: { 200: AuditResponseSchema, ...errors },
      },
    },
    async (request) => {
      requireAccounts(ctx);
      const { limit, offset, action, actor } = request.query;
      const page = await accounts.listAudit({
        limit,
        offset,
        ...(action !== undefined ? { action } : {}),
        ...(actor !== undefined ? { actorName: actor } : {}),
      });
      return {
        total: page.total,
        items: page.items.map((e) => ({
          id: e.id,
          at: e.at,
          actor: e.actorName,
          action: e.action,
          target: e.target,
          detail: e.detail,
          ip: e.ip,
        })),
      };
    },
  );
}
