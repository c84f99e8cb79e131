import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import type * as Argon2 from '@node-rs/argon2';
import { canonicalJson } from '@deepforge/core';
import { newId } from '../store/new-id.js';
import type {
  AccessTokenRecord,
  AccountStore,
  AuditQuery,
  AuditRecord,
  MemberRecord,
  NewAuditRecord,
  ProjectRole,
  SessionRecord,
  UserRecord,
} from './account.store.js';
import type { SecretBox } from './secret-box.js';

let argon2: Promise<typeof Argon2> | undefined;

/**
 * Argon2 is loaded at the first password hashed or checked: finding its native binding costs several milliseconds
 * of the start of every `deepforge run`, which checks none (docs/adr/0029).
 */
async function argon2Hash(password: string): Promise<string> {
  return (await (argon2 ??= import('@node-rs/argon2'))).hash(password);
}

async function argon2Verify(hashed: string, password: string): Promise<boolean> {
  return (await (argon2 ??= import('@node-rs/argon2'))).verify(hashed, password);
}

/** A project's secrets as a job gets them, with the keyed digest its cache key holds (absent: no secrets). */
export interface JobSecrets {
  env: Record<string, string>;
  digest?: string;
}

export type AccountErrorCode =
  | 'bad-name'
  | 'bad-password'
  | 'exists'
  | 'not-found'
  | 'last-admin'
  | 'last-owner'
  | 'bad-token-name'
  | 'bad-secret';

/** A refused account operation, with a code the CLI and the server map to an exit status or HTTP status. */
export class AccountError extends Error {
  override readonly name = 'AccountError';
  constructor(
    readonly code: AccountErrorCode,
    message: string,
  ) {
    super(message);
  }
}

/** Sign-in names: lowercase letters, digits, `.`, `_`, `-`; 1–40 characters, starting and ending with a letter or digit. */
export const USER_NAME_RULE = /^[a-z0-9](?:[a-z0-9._-]{0,38}[a-z0-9])?$/;
export const PASSWORD_MIN_LENGTH = 8;
/** Bytes: argon2 of a megabyte of password would be work an attacker chooses for us. */
export const PASSWORD_MAX_BYTES = 1024;
/** Project secrets are environment variables: POSIX names. */
export const SECRET_NAME_RULE = /^[A-Za-z_][A-Za-z0-9_]{0,127}$/;
export const SECRET_MAX_BYTES = 64 * 1024;

export const SESSION_IDLE_MS = 7 * 24 * 3600 * 1000;
export const SESSION_MAX_MS = 30 * 24 * 3600 * 1000;
/** A session's last-seen time is written at most this often. */
const TOUCH_EVERY_MS = 60 * 1000;
export const TOKEN_PREFIX = 'dfp_';
/**
 * How long a resolved session, token or project role is reused without asking the database. Changes made through
 * this service (sign-out, revocation, a new password, a role change) take effect at once in this process; changes
 * made by another process (the CLI's `users passwd`, another server) within this time.
 */
export const ACCESS_CACHE_MS = 5000;
/** Entries kept at most in each cache (the oldest go first). */
const ACCESS_CACHE_ENTRIES = 10_000;
export const TOKEN_MAX_DAYS = 366;

export function userNameProblem(name: string): string | null {
  if (USER_NAME_RULE.test(name)) return null;
  return `"${name.slice(0, 60)}" is not an allowed account name: 1 to 40 lowercase letters, digits, ".", "_" or "-", starting and ending with a letter or digit`;
}

export function passwordProblem(password: string): string | null {
  if (password.length < PASSWORD_MIN_LENGTH)
    return `a password needs at least ${PASSWORD_MIN_LENGTH} characters`;
  if (Buffer.byteLength(password) > PASSWORD_MAX_BYTES)
    return `a password may have at most ${PASSWORD_MAX_BYTES} bytes`;
  return null;
}

const sha256 = (s: string): string => createHash('sha256').update(s).digest('hex');
const secret = (): string => randomBytes(32).toString('base64url');

export interface Identity {
  user: UserRecord;
  /** How the request proved it: a session cookie or an access token. */
  via: { kind: 'session'; idHash: string } | { kind: 'token'; tokenId: string; tokenName: string };
}

export interface NewSession {
  /** The cookie's value: shown once, stored only as its sha256. */
  secret: string;
  session: SessionRecord;
}

export interface NewToken {
  /** The token: shown once, stored only as its sha256. */
  token: string;
  record: AccessTokenRecord;
}

export interface SecretInfo {
  name: string;
  updatedAt: number;
  updatedBy: string | null;
}

/**
 * Accounts: users, passwords, sessions, tokens, members, the audit log and project secrets (ADR 0009). The CLI
 * (`deepforge users`) and the web server use the same service on the same store.
 */
export class AccountService {
  /** A hash of nothing anyone knows: unknown names are verified against it, so they cost as much as known ones. */
  private dummyHash: Promise<string> | undefined;
  /** `s:<session hash>` / `t:<token hash>` → the identity, until a time (every request asks: ADR 0009). */
  private readonly identities = new Map<string, { identity: Identity; until: number }>();
  /** `<project id> <user id>` → the role (or none), until a time. */
  private readonly roles = new Map<string, { role: ProjectRole | undefined; until: number }>();

  constructor(
    readonly store: AccountStore,
    private readonly secrets: () => Promise<SecretBox>,
    private readonly now: () => number = Date.now,
  ) {}

  // ── users ────────────────────────────────────────────────────────────────────────────────────────────────

  async createUser(name: string, password: string, options: { admin?: boolean } = {}): Promise<UserRecord> {
    const nameProblem = userNameProblem(name);
    if (nameProblem) throw new AccountError('bad-name', nameProblem);
    const pwProblem = passwordProblem(password);
    if (pwProblem) throw new AccountError('bad-password', pwProblem);
    if (await this.store.getUserByName(name))
      throw new AccountError('exists', `there is already a user "${name}"`);
    const at = this.now();
    const user: UserRecord = {
      id: newId(),
      name,
      passwordHash: await argon2Hash(password),
      admin: options.admin ?? false,
      createdAt: at,
      passwordChangedAt: at,
    };
    try {
      await this.store.insertUser(user);
    } catch (err) {
      if (await this.store.getUserByName(name))
        throw new AccountError('exists', `there is already a user "${name}"`);
      throw err;
    }
    return user;
  }

  async userByName(name: string): Promise<UserRecord> {
    const user = await this.store.getUserByName(name);
    if (!user) throw new AccountError('not-found', `there is no user "${name.slice(0, 60)}"`);
    return user;
  }

  listUsers(): Promise<UserRecord[]> {
    return this.store.listUsers();
  }

  hasUsers(): Promise<boolean> {
    return this.store.countUsers().then((n) => n > 0);
  }

  /** A new password signs the user out everywhere (sessions revoked); tokens stay. */
  async setPassword(name: string, password: string): Promise<void> {
    const user = await this.userByName(name);
    const pwProblem = passwordProblem(password);
    if (pwProblem) throw new AccountError('bad-password', pwProblem);
    const at = this.now();
    await this.store.updateUser(user.id, { passwordHash: await argon2Hash(password), passwordChangedAt: at });
    await this.store.revokeSessionsOf(user.id, at);
    this.forgetUser(user.id);
  }

  async setAdmin(name: string, admin: boolean): Promise<UserRecord> {
    const user = await this.userByName(name);
    if (user.admin && !admin && (await this.store.countAdmins()) <= 1) {
      throw new AccountError('last-admin', `"${name}" is the last admin: make another user admin first`);
    }
    await this.store.updateUser(user.id, { admin });
    this.forgetUser(user.id);
    return { ...user, admin };
  }

  /** Refused for the last admin and for the last owner of a project (name the projects). */
  async removeUser(name: string, projectName: (id: string) => Promise<string | undefined>): Promise<void> {
    const user = await this.userByName(name);
    if (user.admin && (await this.store.countAdmins()) <= 1) {
      throw new AccountError('last-admin', `"${name}" is the last admin: make another user admin first`);
    }
    const soleOwner: string[] = [];
    for (const m of await this.store.membershipsOf(user.id)) {
      if (m.role !== 'owner') continue;
      const owners = (await this.store.listMembers(m.projectId)).filter((x) => x.role === 'owner');
      if (owners.length <= 1) soleOwner.push((await projectName(m.projectId)) ?? m.projectId);
    }
    if (soleOwner.length > 0) {
      throw new AccountError(
        'last-owner',
        `"${name}" is the last owner of ${soleOwner.map((p) => `"${p}"`).join(', ')}: give each another owner first`,
      );
    }
    await this.store.deleteUser(user.id);
    this.forgetUser(user.id);
  }

  /**
   * The user whose password this is, or undefined; the same work is done for unknown names and wrong passwords,
   * so the answer's timing does not tell which names exist.
   */
  async checkPassword(name: string, password: string): Promise<UserRecord | undefined> {
    const user = USER_NAME_RULE.test(name) ? await this.store.getUserByName(name) : undefined;
    if (Buffer.byteLength(password) > PASSWORD_MAX_BYTES) return undefined;
    const hash = user?.passwordHash ?? (await (this.dummyHash ??= argon2Hash(secret())));
    let ok = false;
    try {
      ok = await argon2Verify(hash, password);
    } catch {
      ok = false;
    }
    return ok && user ? user : undefined;
  }

  // ── sessions ─────────────────────────────────────────────────────────────────────────────────────────────

  async createSession(user: UserRecord, userAgent: string | undefined): Promise<NewSession> {
    const value = secret();
    const at = this.now();
    const session: SessionRecord = {
      idHash: sha256(value),
      userId: user.id,
      createdAt: at,
      lastSeenAt: at,
      expiresAt: at + SESSION_IDLE_MS,
      revokedAt: null,
      userAgent: userAgent?.slice(0, 300) ?? null,
    };
    await this.store.insertSession(session);
    return { secret: value, session };
  }

  /** The signed-in user of a session cookie, or undefined when it is unknown, revoked, idle too long or too old. */
  async resolveSession(value: string): Promise<Identity | undefined> {
    if (value.length === 0 || value.length > 200) return undefined;
    const idHash = sha256(value);
    const at = this.now();
    const cached = this.cachedIdentity(`s:${idHash}`, at);
    if (cached) return cached;
    const session = await this.store.getSession(idHash);
    if (!session || session.revokedAt !== null || session.expiresAt <= at) return undefined;
    if (at - session.createdAt >= SESSION_MAX_MS) return undefined;
    const user = await this.store.getUser(session.userId);
    if (!user || user.passwordChangedAt > session.createdAt) return undefined;
    if (at - session.lastSeenAt >= TOUCH_EVERY_MS) {
      await this.store.touchSession(
        idHash,
        at,
        Math.min(at + SESSION_IDLE_MS, session.createdAt + SESSION_MAX_MS),
      );
    }
    const identity: Identity = { user, via: { kind: 'session', idHash } };
    const ends = Math.min(Math.max(session.expiresAt, at + 1), session.createdAt + SESSION_MAX_MS);
    this.cacheIdentity(`s:${idHash}`, identity, Math.min(at + ACCESS_CACHE_MS, ends));
    return identity;
  }

  async revokeSession(value: string): Promise<boolean> {
    const idHash = sha256(value);
    this.identities.delete(`s:${idHash}`);
    return this.store.revokeSession(idHash, this.now());
  }

  // ── access tokens ────────────────────────────────────────────────────────────────────────────────────────

  async createToken(user: UserRecord, name: string, expiresInDays: number | null): Promise<NewToken> {
    const trimmed = name.trim();
    if (trimmed.length === 0 || trimmed.length > 100) {
      throw new AccountError('bad-token-name', 'a token needs a name of 1 to 100 characters');
    }
    if (
      expiresInDays !== null &&
      (!Number.isInteger(expiresInDays) || expiresInDays < 1 || expiresInDays > TOKEN_MAX_DAYS)
    ) {
      throw new AccountError('bad-token-name', `a token expires in 1 to ${TOKEN_MAX_DAYS} days, or never`);
    }
    const token = `${TOKEN_PREFIX}${secret()}`;
    const at = this.now();
    const record: AccessTokenRecord = {
      id: newId(),
      userId: user.id,
      name: trimmed,
      tokenHash: sha256(token),
      prefix: token.slice(0, TOKEN_PREFIX.length + 6),
      createdAt: at,
      expiresAt: expiresInDays === null ? null : at + expiresInDays * 24 * 3600 * 1000,
      lastUsedAt: null,
      revokedAt: null,
    };
    await this.store.insertToken(record);
    return { token, record };
  }

  /** The user of a bearer token, or undefined when it is unknown, revoked or expired. */
  async resolveToken(token: string): Promise<Identity | undefined> {
    if (!token.startsWith(TOKEN_PREFIX) || token.length > 200) return undefined;
    const digest = sha256(token);
    const cached = this.cachedIdentity(`t:${digest}`, this.now());
    if (cached) return cached;
    const record = await this.store.getTokenByHash(digest);
    // The lookup is by hash; compare again in constant time so no timing tells how much of a guess matched.
    if (!record || !timingSafeEqual(Buffer.from(record.tokenHash), Buffer.from(digest))) return undefined;
    const at = this.now();
    if (record.revokedAt !== null || (record.expiresAt !== null && record.expiresAt <= at)) return undefined;
    const user = await this.store.getUser(record.userId);
    if (!user) return undefined;
    if (record.lastUsedAt === null || at - record.lastUsedAt >= TOUCH_EVERY_MS)
      await this.store.touchToken(record.id, at);
    const identity: Identity = { user, via: { kind: 'token', tokenId: record.id, tokenName: record.name } };
    this.cacheIdentity(`t:${digest}`, identity, Math.min(at + ACCESS_CACHE_MS, record.expiresAt ?? Infinity));
    return identity;
  }

  private cachedIdentity(key: string, at: number): Identity | undefined {
    const hit = this.identities.get(key);
    if (hit && hit.until > at) return hit.identity;
    if (hit) this.identities.delete(key);
    return undefined;
  }

  private cacheIdentity(key: string, identity: Identity, until: number): void {
    this.identities.set(key, { identity, until });
    if (this.identities.size > ACCESS_CACHE_ENTRIES)
      this.identities.delete(this.identities.keys().next().value!);
  }

  /** Forgets what this process resolved for a user (a new password, admin rights changed, the user removed). */
  private forgetUser(userId: string): void {
    for (const [key, { identity }] of this.identities)
      if (identity.user.id === userId) this.identities.delete(key);
    for (const key of this.roles.keys()) if (key.endsWith(` ${userId}`)) this.roles.delete(key);
  }

  listTokens(user: UserRecord): Promise<AccessTokenRecord[]> {
    return this.store.listTokens(user.id);
  }

  async revokeToken(user: UserRecord, id: string): Promise<void> {
    for (const [key, { identity }] of this.identities) {
      if (identity.via.kind === 'token' && identity.via.tokenId === id) this.identities.delete(key);
    }
    if (!(await this.store.revokeToken(id, user.id, this.now()))) {
      throw new AccountError('not-found', `you have no live token ${id.slice(0, 40)}`);
    }
  }

  // ── project members ──────────────────────────────────────────────────────────────────────────────────────

  async roleOf(projectId: string, user: UserRecord): Promise<ProjectRole | undefined> {
    const key = `${projectId} ${user.id}`;
    const at = this.now();
    const hit = this.roles.get(key);
    if (hit && hit.until > at) return hit.role;
    const role = (await this.store.getMember(projectId, user.id))?.role;
    this.roles.set(key, { role, until: at + ACCESS_CACHE_MS });
    if (this.roles.size > ACCESS_CACHE_ENTRIES) this.roles.delete(this.roles.keys().next().value!);
    return role;
  }

  private forgetProjectRoles(projectId: string): void {
    for (const key of this.roles.keys()) if (key.startsWith(`${projectId} `)) this.roles.delete(key);
  }

  listMembers(projectId: string): Promise<MemberRecord[]> {
    return this.store.listMembers(projectId);
  }

  membershipsOf(user: UserRecord): Promise<MemberRecord[]> {
    return this.store.membershipsOf(user.id);
  }

  /** Adds a member or changes a role; the last owner cannot be demoted. */
  async setMember(projectId: string, user: UserRecord, role: ProjectRole): Promise<void> {
    const current = await this.store.getMember(projectId, user.id);
    if (current?.role === 'owner' && role !== 'owner') await this.requireAnotherOwner(projectId, user);
    await this.store.setMember({ projectId, userId: user.id, role, addedAt: current?.addedAt ?? this.now() });
    this.forgetProjectRoles(projectId);
  }

  /** The last owner cannot leave or be removed. */
  async removeMember(projectId: string, user: UserRecord): Promise<void> {
    const current = await this.store.getMember(projectId, user.id);
    if (!current) throw new AccountError('not-found', `"${user.name}" is not a member of this project`);
    if (current.role === 'owner') await this.requireAnotherOwner(projectId, user);
    await this.store.removeMember(projectId, user.id);
    this.forgetProjectRoles(projectId);
  }

  private async requireAnotherOwner(projectId: string, user: UserRecord): Promise<void> {
    const owners = (await this.store.listMembers(projectId)).filter((m) => m.role === 'owner');
    if (owners.length <= 1) {
      throw new AccountError(
        'last-owner',
        `"${user.name}" is the last owner of this project: make another member owner first`,
      );
    }
  }

  async forgetProject(projectId: string): Promise<void> {
    await this.store.removeProjectMembers(projectId);
    await this.store.removeProjectSecrets(projectId);
    this.forgetProjectRoles(projectId);
  }

  // ── audit ────────────────────────────────────────────────────────────────────────────────────────────────

  audit(entry: Omit<NewAuditRecord, 'at'>): Promise<AuditRecord> {
    return this.store.appendAudit({ ...entry, at: this.now() });
  }

  listAudit(query: AuditQuery): Promise<{ items: AuditRecord[]; total: number }> {
    return this.store.listAudit(query);
  }

  // ── project secrets ──────────────────────────────────────────────────────────────────────────────────────

  async putSecret(projectId: string, name: string, value: string, by: UserRecord | undefined): Promise<void> {
    if (!SECRET_NAME_RULE.test(name)) {
      throw new AccountError(
        'bad-secret',
        `"${name.slice(0, 60)}" is not a secret name: an environment variable name (letters, digits, "_", not starting with a digit)`,
      );
    }
    if (/^(DEEPFORGE_|PYTHON)/.test(name) || name === 'PATH' || name === 'HOME') {
      throw new AccountError(
        'bad-secret',
        `"${name}" is a variable DeepForge or Python sets itself; choose another name`,
      );
    }
    if (value.length === 0 || Buffer.byteLength(value) > SECRET_MAX_BYTES) {
      throw new AccountError('bad-secret', `a secret's value must have 1 to ${SECRET_MAX_BYTES} bytes`);
    }
    const box = await this.secrets();
    await this.store.putSecret({
      projectId,
      name,
      ciphertext: box.seal(value, `${projectId}/${name}`),
      updatedAt: this.now(),
      updatedBy: by?.name ?? null,
    });
  }

  async listSecretNames(projectId: string): Promise<SecretInfo[]> {
    return (await this.store.listSecrets(projectId)).map((s) => ({
      name: s.name,
      updatedAt: s.updatedAt,
      updatedBy: s.updatedBy,
    }));
  }

  async deleteSecret(projectId: string, name: string): Promise<void> {
    if (!(await this.store.deleteSecret(projectId, name))) {
      throw new AccountError('not-found', `the project has no secret "${name.slice(0, 60)}"`);
    }
  }

  /** The project's secrets in clear, for the environment of its jobs only. */
  async secretValues(projectId: string): Promise<Record<string, string>> {
    return (await this.jobSecrets(projectId)).env;
  }

  /**
   * The project's secrets in clear for a job's environment, with a keyed digest of them for its cache key (none
   * when the project has no secrets): the same values give the same digest, other values another.
   */
  async jobSecrets(projectId: string): Promise<JobSecrets> {
    const stored = await this.store.listSecrets(projectId);
    if (stored.length === 0) return { env: {} };
    const box = await this.secrets();
    const env = Object.fromEntries(
      stored.map((s) => [s.name, box.open(s.ciphertext, `${projectId}/${s.name}`)]),
    );
    return { env, digest: box.digest(canonicalJson({ projectId, env })) };
  }
}
