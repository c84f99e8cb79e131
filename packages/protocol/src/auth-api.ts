import { z } from 'zod';

/**
 * Accounts over REST (ADR 0009). With `auth.enabled` every request but these needs a session cookie
 * (`deepforge_session`, HttpOnly, SameSite=Lax) or `Authorization: Bearer <personal access token>`:
 * GET /api/health, GET /api/auth/status, POST /api/auth/login and the web client's own files.
 * An unauthenticated request answers 401 `unauthorized`; a role too low for it 403 `forbidden`; a project the
 * caller is no member of answers 404, like one that does not exist.
 */

export { SESSION_COOKIE } from './session-cookie.js';

export const ProjectRoleSchema = z.enum(['owner', 'writer', 'reader']);
export type ProjectRoleDto = z.infer<typeof ProjectRoleSchema>;

/** Sign-in names: lowercase letters, digits, `.`, `_`, `-`; 1–40 characters. */
export const UserNameSchema = z.string().min(1).max(40);

export const UserDtoSchema = z.strictObject({ name: z.string(), admin: z.boolean() });
export type UserDto = z.infer<typeof UserDtoSchema>;

/** GET /api/auth/status — public. `user` is null when signed out (or when accounts are off: `enabled: false`). */
export const AuthStatusSchema = z.strictObject({
  enabled: z.boolean(),
  user: UserDtoSchema.nullable(),
  /** Accounts are on and nobody can sign in yet: the page says how to create the first user. */
  needsFirstUser: z.boolean(),
});
export type AuthStatus = z.infer<typeof AuthStatusSchema>;

/** POST /api/auth/login — 200 with the user and the session cookie; 401 for a wrong name or password alike. */
export const LoginBodySchema = z.strictObject({
  name: z.string().max(200),
  password: z.string().max(4096),
});
export type LoginBody = z.infer<typeof LoginBodySchema>;

/** POST /api/auth/password — a new password for the signed-in user; every session of theirs ends. */
export const ChangePasswordBodySchema = z.strictObject({
  current: z.string().max(4096),
  password: z.string().max(4096),
});

export const AccessTokenDtoSchema = z.strictObject({
  id: z.string(),
  name: z.string(),
  /** The first characters of the token (`dfp_abcdef`), to tell tokens apart. */
  prefix: z.string(),
  createdAt: z.number().int(),
  expiresAt: z.number().int().nullable(),
  lastUsedAt: z.number().int().nullable(),
  revokedAt: z.number().int().nullable(),
});
export type AccessTokenDto = z.infer<typeof AccessTokenDtoSchema>;

/** GET /api/auth/tokens — the signed-in user's tokens, newest first. */
export const ListAccessTokensResponseSchema = z.strictObject({ items: z.array(AccessTokenDtoSchema) });

/** POST /api/auth/tokens — `expiresInDays` null: never. */
export const CreateAccessTokenBodySchema = z.strictObject({
  name: z.string().min(1).max(100),
  expiresInDays: z.number().int().min(1).max(366).nullable().default(90),
});
export type CreateAccessTokenBody = z.input<typeof CreateAccessTokenBodySchema>;
/** 201: the token itself is in this answer and nowhere else, ever. */
export const CreatedAccessTokenSchema = z.strictObject({ token: z.string(), info: AccessTokenDtoSchema });
export type CreatedAccessToken = z.infer<typeof CreatedAccessTokenSchema>;
export const AccessTokenParamsSchema = z.strictObject({ tokenId: z.string().min(1).max(100) });

/** GET /api/users — names of every user, for the sharing dialog (signed-in users only). */
export const ListUsersResponseSchema = z.strictObject({ items: z.array(UserDtoSchema) });

export const MemberDtoSchema = z.strictObject({
  name: z.string(),
  role: ProjectRoleSchema,
  addedAt: z.number().int(),
});
export type MemberDto = z.infer<typeof MemberDtoSchema>;
/** GET /api/projects/:projectId/members — any member; `you` is the caller's role. */
export const ListMembersResponseSchema = z.strictObject({
  items: z.array(MemberDtoSchema),
  you: ProjectRoleSchema,
});
export type ListMembersResponse = z.infer<typeof ListMembersResponseSchema>;
/** PUT /api/projects/:projectId/members/:userName — owners add a member or change a role. */
export const PutMemberBodySchema = z.strictObject({ role: ProjectRoleSchema });
export const MemberParamsSchema = z.strictObject({
  projectId: z.string().min(1).max(100),
  userName: UserNameSchema,
});

export const SecretDtoSchema = z.strictObject({
  name: z.string(),
  updatedAt: z.number().int(),
  updatedBy: z.string().nullable(),
});
/** GET /api/projects/:projectId/secrets — owners; names only, never values. */
export const ListSecretsResponseSchema = z.strictObject({ items: z.array(SecretDtoSchema) });
/** PUT /api/projects/:projectId/secrets/:name — owners; the value is write-only. */
export const PutSecretBodySchema = z.strictObject({ value: z.string().min(1).max(65536) });
export const SecretParamsSchema = z.strictObject({
  projectId: z.string().min(1).max(100),
  name: z.string().min(1).max(128),
});

export const AuditEntrySchema = z.strictObject({
  id: z.string(),
  at: z.number().int(),
  actor: z.string().nullable(),
  action: z.string(),
  target: z.string().nullable(),
  detail: z.string().nullable(),
  ip: z.string().nullable(),
});
export type AuditEntry = z.infer<typeof AuditEntrySchema>;
/** GET /api/admin/audit — admins. */
export const AuditQuerySchema = z.strictObject({
  limit: z.coerce.number().int().min(1).max(500).default(100),
  offset: z.coerce.number().int().min(0).default(0),
  action: z.string().max(50).optional(),
  actor: z.string().max(50).optional(),
});
export const AuditResponseSchema = z.strictObject({
  items: z.array(AuditEntrySchema),
  total: z.number().int(),
});
export type AuditResponse = z.infer<typeof AuditResponseSchema>;
