import type { Kysely, Selectable } from 'kysely';
import type {
  AccessTokensTable,
  AuditLogTable,
  Database,
  ProjectMembersTable,
  ProjectSecretsTable,
  SessionsTable,
  UsersTable,
} from '../store/kysely.database.js';
import { newId } from '../store/new-id.js';
import {
  PROJECT_ROLES,
  type AccessTokenRecord,
  type AccountStore,
  type AuditQuery,
  type AuditRecord,
  type MemberRecord,
  type NewAuditRecord,
  type ProjectRole,
  type SecretRecord,
  type SessionRecord,
  type UserRecord,
} from './account.store.js';

type Int = number | string | bigint;
const num = (v: Int): number => Number(v);
const numOrNull = (v: Int | null): number | null => (v === null ? null : Number(v));

function toUser(r: Selectable<UsersTable>): UserRecord {
  return {
    id: r.id,
    name: r.name,
    passwordHash: r.password_hash,
    admin: Number(r.admin) === 1,
    createdAt: num(r.created_at),
    passwordChangedAt: num(r.password_changed_at),
  };
}

function toSession(r: Selectable<SessionsTable>): SessionRecord {
  return {
    idHash: r.id_hash,
    userId: r.user_id,
    createdAt: num(r.created_at),
    lastSeenAt: num(r.last_seen_at),
    expiresAt: num(r.expires_at),
    revokedAt: numOrNull(r.revoked_at),
    userAgent: r.user_agent,
  };
}

function toToken(r: Selectable<AccessTokensTable>): AccessTokenRecord {
  return {
    id: r.id,
    userId: r.user_id,
    name: r.name,
    tokenHash: r.token_hash,
    prefix: r.prefix,
    createdAt: num(r.created_at),
    expiresAt: numOrNull(r.expires_at),
    lastUsedAt: numOrNull(r.last_used_at),
    revokedAt: numOrNull(r.revoked_at),
  };
}

function toRole(role: string): ProjectRole {
  if ((PROJECT_ROLES as readonly string[]).includes(role)) return role as ProjectRole;
  throw new Error(`the database holds an unknown project role ${JSON.stringify(role)}`);
}

function toMember(r: Selectable<ProjectMembersTable>): MemberRecord {
  return { projectId: r.project_id, userId: r.user_id, role: toRole(r.role), addedAt: num(r.added_at) };
}

function toAudit(r: Selectable<AuditLogTable>): AuditRecord {
  return {
    id: r.id,
    at: num(r.at),
    seq: num(r.seq),
    actorId: r.actor_id,
    actorName: r.actor_name,
    action: r.action,
    target: r.target,
    detail: r.detail,
    ip: r.ip,
  };
}

function toSecret(r: Selectable<ProjectSecretsTable>): SecretRecord {
  return {
    projectId: r.project_id,
    name: r.name,
    ciphertext: r.ciphertext,
    updatedAt: num(r.updated_at),
    updatedBy: r.updated_by,
  };
}

/** The accounts port on any SQL database Kysely speaks (the same migrations build SQLite and PostgreSQL). */
export class KyselyAccountStore implements AccountStore {
  /** Orders audit entries written in the same millisecond by this process. */
  private auditSeq = 0;

  constructor(private readonly db: Kysely<Database>) {}

  async insertUser(u: UserRecord): Promise<void> {
    await this.db
      .insertInto('users')
      .values({
        id: u.id,
        name: u.name,
        password_hash: u.passwordHash,
        admin: u.admin ? 1 : 0,
        created_at: u.createdAt,
        password_changed_at: u.passwordChangedAt,
      })
      .execute();
  }

  async getUser(id: string): Promise<UserRecord | undefined> {
    const r = await this.db.selectFrom('users').selectAll().where('id', '=', id).executeTakeFirst();
    return r && toUser(r);
  }

  async getUserByName(name: string): Promise<UserRecord | undefined> {
    const r = await this.db.selectFrom('users').selectAll().where('name', '=', name).executeTakeFirst();
    return r && toUser(r);
  }

  async listUsers(): Promise<UserRecord[]> {
    return (await this.db.selectFrom('users').selectAll().orderBy('name').execute()).map(toUser);
  }

  async updateUser(
    id: string,
    update: Partial<Pick<UserRecord, 'passwordHash' | 'admin' | 'passwordChangedAt'>>,
  ): Promise<boolean> {
    const cols: Partial<UsersTable> = {};
    if (update.passwordHash !== undefined) cols.password_hash = update.passwordHash;
    if (update.admin !== undefined) cols.admin = update.admin ? 1 : 0;
    if (update.passwordChangedAt !== undefined) cols.password_changed_at = update.passwordChangedAt;
    if (Object.keys(cols).length === 0) return (await this.getUser(id)) !== undefined;
    const res = await this.db.updateTable('users').set(cols).where('id', '=', id).executeTakeFirst();
    return Number(res.numUpdatedRows) === 1;
  }

  async deleteUser(id: string): Promise<boolean> {
    return this.db.transaction().execute(async (trx) => {
      // Explicit, not only ON DELETE CASCADE: SQLite enforces it only with foreign_keys on.
      await trx.deleteFrom('sessions').where('user_id', '=', id).execute();
      await trx.deleteFrom('access_tokens').where('user_id', '=', id).execute();
      await trx.deleteFrom('project_members').where('user_id', '=', id).execute();
      const res = await trx.deleteFrom('users').where('id', '=', id).executeTakeFirst();
      return Number(res.numDeletedRows) === 1;
    });
  }

  async countAdmins(): Promise<number> {
    const r = await this.db
      .selectFrom('users')
      .select((eb) => eb.fn.countAll<Int>().as('n'))
      .where('admin', '=', 1)
      .executeTakeFirstOrThrow();
    return Number(r.n);
  }

  async countUsers(): Promise<number> {
    const r = await this.db
      .selectFrom('users')
      .select((eb) => eb.fn.countAll<Int>().as('n'))
      .executeTakeFirstOrThrow();
    return Number(r.n);
  }

  async insertSession(s: SessionRecord): Promise<void> {
    await this.db
      .insertInto('sessions')
      .values({
        id_hash: s.idHash,
        user_id: s.userId,
        created_at: s.createdAt,
        last_seen_at: s.lastSeenAt,
        expires_at: s.expiresAt,
        revoked_at: s.revokedAt,
        user_agent: s.userAgent,
      })
      .execute();
  }

  async getSession(idHash: string): Promise<SessionRecord | undefined> {
    const r = await this.db
      .selectFrom('sessions')
      .selectAll()
      .where('id_hash', '=', idHash)
      .executeTakeFirst();
    return r && toSession(r);
  }

  async touchSession(idHash: string, lastSeenAt: number, expiresAt: number): Promise<void> {
    await this.db
      .updateTable('sessions')
      .set({ last_seen_at: lastSeenAt, expires_at: expiresAt })
      .where('id_hash', '=', idHash)
      .where('revoked_at', 'is', null)
      .execute();
  }

  async revokeSession(idHash: string, at: number): Promise<boolean> {
    const res = await this.db
      .updateTable('sessions')
      .set({ revoked_at: at })
      .where('id_hash', '=', idHash)
      .where('revoked_at', 'is', null)
      .executeTakeFirst();
    return Number(res.numUpdatedRows) === 1;
  }

  async revokeSessionsOf(userId: string, at: number): Promise<number> {
    const res = await this.db
      .updateTable('sessions')
      .set({ revoked_at: at })
      .where('user_id', '=', userId)
      .where('revoked_at', 'is', null)
      .executeTakeFirst();
    return Number(res.numUpdatedRows);
  }

  async insertToken(t: AccessTokenRecord): Promise<void> {
    await this.db
      .insertInto('access_tokens')
      .values({
        id: t.id,
        user_id: t.userId,
        name: t.name,
        token_hash: t.tokenHash,
        prefix: t.prefix,
        created_at: t.createdAt,
        expires_at: t.expiresAt,
        last_used_at: t.lastUsedAt,
        revoked_at: t.revokedAt,
      })
      .execute();
  }

  async getTokenByHash(tokenHash: string): Promise<AccessTokenRecord | undefined> {
    const r = await this.db
      .selectFrom('access_tokens')
      .selectAll()
      .where('token_hash', '=', tokenHash)
      .executeTakeFirst();
    return r && toToken(r);
  }

  async listTokens(userId: string): Promise<AccessTokenRecord[]> {
    const rows = await this.db
      .selectFrom('access_tokens')
      .selectAll()
      .where('user_id', '=', userId)
      .orderBy('created_at', 'desc')
      .orderBy('id', 'desc')
      .execute();
    return rows.map(toToken);
  }

  async revokeToken(id: string, userId: string, at: number): Promise<boolean> {
    const res = await this.db
      .updateTable('access_tokens')
      .set({ revoked_at: at })
      .where('id', '=', id)
      .where('user_id', '=', userId)
      .where('revoked_at', 'is', null)
      .executeTakeFirst();
    return Number(res.numUpdatedRows) === 1;
  }

  async touchToken(id: string, at: number): Promise<void> {
    await this.db.updateTable('access_tokens').set({ last_used_at: at }).where('id', '=', id).execute();
  }

  async setMember(m: MemberRecord): Promise<void> {
    await this.db
      .insertInto('project_members')
      .values({ project_id: m.projectId, user_id: m.userId, role: m.role, added_at: m.addedAt })
      .onConflict((oc) => oc.columns(['project_id', 'user_id']).doUpdateSet({ role: m.role }))
      .execute();
  }

  async removeMember(projectId: string, userId: string): Promise<boolean> {
    const res = await this.db
      .deleteFrom('project_members')
      .where('project_id', '=', projectId)
      .where('user_id', '=', userId)
      .executeTakeFirst();
    return Number(res.numDeletedRows) === 1;
  }

  async getMember(projectId: string, userId: string): Promise<MemberRecord | undefined> {
    const r = await this.db
      .selectFrom('project_members')
      .selectAll()
      .where('project_id', '=', projectId)
      .where('user_id', '=', userId)
      .executeTakeFirst();
    return r && toMember(r);
  }

  async listMembers(projectId: string): Promise<MemberRecord[]> {
    const rows = await this.db
      .selectFrom('project_members')
      .selectAll()
      .where('project_id', '=', projectId)
      .orderBy('added_at')
      .orderBy('user_id')
      .execute();
    return rows.map(toMember);
  }

  async membershipsOf(userId: string): Promise<MemberRecord[]> {
    const rows = await this.db
      .selectFrom('project_members')
      .selectAll()
      .where('user_id', '=', userId)
      .execute();
    return rows.map(toMember);
  }

  async removeProjectMembers(projectId: string): Promise<void> {
    await this.db.deleteFrom('project_members').where('project_id', '=', projectId).execute();
  }

  async appendAudit(entry: NewAuditRecord): Promise<AuditRecord> {
    const record: AuditRecord = { ...entry, id: newId(), seq: ++this.auditSeq };
    await this.db
      .insertInto('audit_log')
      .values({
        id: record.id,
        at: record.at,
        seq: record.seq,
        actor_id: record.actorId,
        actor_name: record.actorName,
        action: record.action,
        target: record.target,
        detail: record.detail,
        ip: record.ip,
      })
      .execute();
    return record;
  }

  async listAudit(query: AuditQuery): Promise<{ items: AuditRecord[]; total: number }> {
    let q = this.db.selectFrom('audit_log');
    if (query.action !== undefined) q = q.where('action', '=', query.action);
    if (query.actorName !== undefined) q = q.where('actor_name', '=', query.actorName);
    const [rows, count] = await Promise.all([
      q
        .selectAll()
        .orderBy('at', 'desc')
        .orderBy('seq', 'desc')
        .orderBy('id', 'desc')
        .limit(query.limit)
        .offset(query.offset)
        .execute(),
      q.select((eb) => eb.fn.countAll<Int>().as('n')).executeTakeFirstOrThrow(),
    ]);
    return { items: rows.map(toAudit), total: Number(count.n) };
  }

  async putSecret(s: SecretRecord): Promise<void> {
    await this.db
      .insertInto('project_secrets')
      .values({
        project_id: s.projectId,
        name: s.name,
        ciphertext: s.ciphertext,
        updated_at: s.updatedAt,
        updated_by: s.updatedBy,
      })
      .onConflict((oc) =>
        oc
          .columns(['project_id', 'name'])
          .doUpdateSet({ ciphertext: s.ciphertext, updated_at: s.updatedAt, updated_by: s.updatedBy }),
      )
      .execute();
  }

  async listSecrets(projectId: string): Promise<SecretRecord[]> {
    const rows = await this.db
      .selectFrom('project_secrets')
      .selectAll()
      .where('project_id', '=', projectId)
      .orderBy('name')
      .execute();
    return rows.map(toSecret);
  }

  async deleteSecret(projectId: string, name: string): Promise<boolean> {
    const res = await this.db
      .deleteFrom('project_secrets')
      .where('project_id', '=', projectId)
      .where('name', '=', name)
      .executeTakeFirst();
    return Number(res.numDeletedRows) === 1;
  }

  async removeProjectSecrets(projectId: string): Promise<void> {
    await this.db.deleteFrom('project_secrets').where('project_id', '=', projectId).execute();
  }
}
