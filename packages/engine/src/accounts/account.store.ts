/**
 * The accounts port (ADR 0009): users, sessions, access tokens, project members, the audit log and project
 * secrets. Secrets of sessions and tokens are never stored, only their sha256; passwords only as argon2id hashes;
 * project secrets only encrypted. Times are epoch milliseconds of the wall clock.
 */

export const PROJECT_ROLES = ['owner', 'writer', 'reader'] as const;
export type ProjectRole = (typeof PROJECT_ROLES)[number];

export interface UserRecord {
  id: string;
  /** The sign-in name: lowercase letters, digits, `.`, `_`, `-` (USER_NAME_RULE). */
  name: string;
  passwordHash: string;
  admin: boolean;
  createdAt: number;
  passwordChangedAt: number;
}

export interface SessionRecord {
  /** sha256 (hex) of the cookie's secret. */
  idHash: string;
  userId: string;
  createdAt: number;
  lastSeenAt: number;
  expiresAt: number;
  revokedAt: number | null;
  userAgent: string | null;
}

export interface AccessTokenRecord {
  id: string;
  userId: string;
  name: string;
  /** sha256 (hex) of the whole token. */
  tokenHash: string;
  /** The first characters of the token, shown in lists so a user can tell tokens apart. */
  prefix: string;
  createdAt: number;
  expiresAt: number | null;
  lastUsedAt: number | null;
  revokedAt: number | null;
}

export interface MemberRecord {
  projectId: string;
  userId: string;
  role: ProjectRole;
  addedAt: number;
}

export interface AuditRecord {
  id: string;
  at: number;
  /** Orders entries of the same millisecond. */
  seq: number;
  actorId: string | null;
  actorName: string | null;
  action: string;
  target: string | null;
  detail: string | null;
  ip: string | null;
}

export type NewAuditRecord = Omit<AuditRecord, 'id' | 'seq'>;

export interface SecretRecord {
  projectId: string;
  name: string;
  /** AES-256-GCM, base64 (SecretBox). */
  ciphertext: string;
  updatedAt: number;
  updatedBy: string | null;
}

export interface AuditQuery {
  limit: number;
  offset: number;
  action?: string;
  actorName?: string;
}

export interface AccountStore {
  insertUser(user: UserRecord): Promise<void>;
  getUser(id: string): Promise<UserRecord | undefined>;
  getUserByName(name: string): Promise<UserRecord | undefined>;
  /** By name. */
  listUsers(): Promise<UserRecord[]>;
  updateUser(
    id: string,
    update: Partial<Pick<UserRecord, 'passwordHash' | 'admin' | 'passwordChangedAt'>>,
  ): Promise<boolean>;
  /** Removes the user with their sessions, tokens and memberships. */
  deleteUser(id: string): Promise<boolean>;
  countAdmins(): Promise<number>;
  countUsers(): Promise<number>;

  insertSession(session: SessionRecord): Promise<void>;
  getSession(idHash: string): Promise<SessionRecord | undefined>;
  touchSession(idHash: string, lastSeenAt: number, expiresAt: number): Promise<void>;
  revokeSession(idHash: string, at: number): Promise<boolean>;
  /** Revokes every live session of a user (a password change, a removal); returns how many. */
  revokeSessionsOf(userId: string, at: number): Promise<number>;

  insertToken(token: AccessTokenRecord): Promise<void>;
  getTokenByHash(tokenHash: string): Promise<AccessTokenRecord | undefined>;
  /** A user's tokens, newest first, revoked ones included. */
  listTokens(userId: string): Promise<AccessTokenRecord[]>;
  revokeToken(id: string, userId: string, at: number): Promise<boolean>;
  touchToken(id: string, at: number): Promise<void>;

  /** Adds a member or changes their role. */
  setMember(member: MemberRecord): Promise<void>;
  removeMember(projectId: string, userId: string): Promise<boolean>;
  getMember(projectId: string, userId: string): Promise<MemberRecord | undefined>;
  listMembers(projectId: string): Promise<MemberRecord[]>;
  /** The projects a user is a member of, with the role. */
  membershipsOf(userId: string): Promise<MemberRecord[]>;
  removeProjectMembers(projectId: string): Promise<void>;

  appendAudit(entry: NewAuditRecord): Promise<AuditRecord>;
  /** Newest first. */
  listAudit(query: AuditQuery): Promise<{ items: AuditRecord[]; total: number }>;

  putSecret(secret: SecretRecord): Promise<void>;
  listSecrets(projectId: string): Promise<SecretRecord[]>;
  deleteSecret(projectId: string, name: string): Promise<boolean>;
  removeProjectSecrets(projectId: string): Promise<void>;
}
