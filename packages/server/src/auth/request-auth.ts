import type { IncomingMessage } from 'node:http';
import { fastifyCookie } from '@fastify/cookie';
import type { AccountService, Identity, ProjectRole, UserRecord } from '@deepforge/engine';
import { SESSION_COOKIE } from '@deepforge/protocol';

/**
 * Who is asking. `off`: accounts are off (auth.enabled false), the one local user may do everything. `on`: the
 * identity proven by a session cookie or an access token, or none.
 */
export type RequestAuth = { mode: 'off' } | { mode: 'on'; identity: Identity | undefined; problem?: string };

declare module 'fastify' {
  interface FastifyRequest {
    auth: RequestAuth;
  }
  interface FastifyContextConfig {
    /** `public`: answered without signing in (health, sign-in). */
    auth?: 'public';
    /** The least project role the route needs; by default GET/HEAD need `reader`, other methods `writer`. */
    projectRole?: ProjectRole;
    /** Only admins. */
    admin?: boolean;
  }
}

const RANK: Record<ProjectRole, number> = { reader: 1, writer: 2, owner: 3 };

export function roleAtLeast(role: ProjectRole | undefined, need: ProjectRole): boolean {
  return role !== undefined && RANK[role] >= RANK[need];
}

/** The signed-in user, or undefined when accounts are off or nobody is signed in. */
export function callerOf(auth: RequestAuth): UserRecord | undefined {
  return auth.mode === 'on' ? auth.identity?.user : undefined;
}

function header(request: IncomingMessage, name: string): string | undefined {
  const v = request.headers[name];
  return Array.isArray(v) ? v[0] : v;
}

/**
 * The identity of an HTTP request or a WebSocket upgrade: `Authorization: Bearer <token>` first, else the session
 * cookie. A bearer token that does not resolve is a problem to report (the caller meant to sign in).
 */
export async function authenticate(
  accounts: AccountService,
  request: IncomingMessage,
): Promise<{ identity: Identity | undefined; problem?: string }> {
  const authorization = header(request, 'authorization');
  if (authorization !== undefined && /^Basic\s/i.test(authorization)) {
    // git over HTTP (docs/adr/0020) sends credentials as basic auth: the password is an access token.
    const decoded = Buffer.from(authorization.replace(/^Basic\s+/i, '').trim(), 'base64').toString('utf8');
    const token = decoded.slice(decoded.indexOf(':') + 1);
    const identity = token ? await accounts.resolveToken(token) : undefined;
    return identity
      ? { identity }
      : {
          identity: undefined,
          problem: 'basic auth needs an access token as the password (unknown, revoked or expired)',
        };
  }
  if (authorization !== undefined) {
    const m = /^Bearer\s+(\S+)\s*$/i.exec(authorization);
    if (!m)
      return { identity: undefined, problem: 'the Authorization header must be "Bearer <access token>"' };
    const identity = await accounts.resolveToken(m[1]!);
    return identity
      ? { identity }
      : { identity: undefined, problem: 'the access token is unknown, revoked or expired' };
  }
  const cookies = fastifyCookie.parse(header(request, 'cookie') ?? '');
  const value = cookies[SESSION_COOKIE];
  if (value === undefined) return { identity: undefined };
  const identity = await accounts.resolveSession(value);
  return identity ? { identity } : { identity: undefined, problem: 'your session has ended: sign in again' };
}

/**
 * The role the caller has in a project: accounts off → owner; a member → their role; an admin → owner of a project
 * nobody is a member of (made before accounts were on), so it can be shared; anyone else → undefined.
 */
export async function projectRoleOf(
  accounts: AccountService,
  auth: RequestAuth,
  projectId: string,
): Promise<ProjectRole | undefined> {
  if (auth.mode === 'off') return 'owner';
  const user = auth.identity?.user;
  if (!user) return undefined;
  const role = await accounts.roleOf(projectId, user);
  if (role !== undefined) return role;
  if (user.admin && (await accounts.listMembers(projectId)).length === 0) return 'owner';
  return undefined;
}
