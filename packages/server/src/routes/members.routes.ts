import { z } from 'zod';
import {
  ApiErrorSchema,
  ListMembersResponseSchema,
  ListSecretsResponseSchema,
  MemberParamsSchema,
  ProjectParamsSchema,
  PutMemberBodySchema,
  PutSecretBodySchema,
  SecretParamsSchema,
} from '@deepforge/protocol';
import { callerOf, projectRoleOf } from '../auth/request-auth.js';
import { HttpError } from '../http/http-error.js';
import type { ServerContext, ZodApp } from '../server.context.js';
import { asHttp } from './auth.routes.js';

const errors = {
  400: ApiErrorSchema,
  401: ApiErrorSchema,
  403: ApiErrorSchema,
  404: ApiErrorSchema,
  409: ApiErrorSchema,
};

/** Project members and roles (the sharing dialog), and project secrets (owners). ADR 0009. */
export function registerMemberRoutes(app: ZodApp, ctx: ServerContext): void {
  const accounts = ctx.engine.accounts;

  app.get(
    '/api/projects/:projectId/members',
    {
      schema: {
        tags: ['sharing'],
        summary: "The project's members and their roles (any member)",
        params: ProjectParamsSchema,
        response: { 200: ListMembersResponseSchema, ...errors },
      },
    },
    async (request) => {
      const { projectId } = request.params;
      await ctx.projects.get(projectId);
      const you = (await projectRoleOf(accounts, request.auth, projectId)) ?? 'reader';
      if (!ctx.authEnabled) return { items: [], you };
      const users = new Map((await accounts.listUsers()).map((u) => [u.id, u.name]));
      const items = (await accounts.listMembers(projectId)).flatMap((m) => {
        const name = users.get(m.userId);
        return name === undefined ? [] : [{ name, role: m.role, addedAt: m.addedAt }];
      });
      return { items, you };
    },
  );

  app.put(
    '/api/projects/:projectId/members/:userName',
    {
      config: { projectRole: 'owner' },
      schema: {
        tags: ['sharing'],
        summary: 'Add a member or change their role (owners)',
        params: MemberParamsSchema,
        body: PutMemberBodySchema,
        response: { 204: z.null(), ...errors },
      },
    },
    async (request, reply) => {
      if (!ctx.authEnabled)
        throw new HttpError(
          409,
          'conflict',
          'accounts are off on this server: there is nobody to share with',
        );
      const { projectId, userName } = request.params;
      await ctx.projects.get(projectId);
      const user = await asHttp(accounts.userByName(userName));
      const before = await accounts.roleOf(projectId, user);
      await asHttp(accounts.setMember(projectId, user, request.body.role));
      const actor = callerOf(request.auth)!;
      await accounts.audit({
        actorId: actor.id,
        actorName: actor.name,
        action: before === undefined ? 'member-add' : 'role-change',
        target: `${projectId}:${user.name}`,
        detail: `${before ?? 'none'} → ${request.body.role}`,
        ip: request.ip,
      });
      return reply.code(204).send(null);
    },
  );

  app.delete(
    '/api/projects/:projectId/members/:userName',
    {
      // Any member may leave; removing someone else is checked below (owners only).
      config: { projectRole: 'reader' },
      schema: {
        tags: ['sharing'],
        summary: 'Remove a member (owners), or leave the project yourself',
        params: MemberParamsSchema,
        response: { 204: z.null(), ...errors },
      },
    },
    async (request, reply) => {
      if (!ctx.authEnabled) throw new HttpError(409, 'conflict', 'accounts are off on this server');
      const { projectId, userName } = request.params;
      const actor = callerOf(request.auth)!;
      const role = await projectRoleOf(accounts, request.auth, projectId);
      if (userName !== actor.name && role !== 'owner') {
        throw new HttpError(403, 'forbidden', 'only owners remove other members');
      }
      const user = await asHttp(accounts.userByName(userName));
      await asHttp(accounts.removeMember(projectId, user));
      await accounts.audit({
        actorId: actor.id,
        actorName: actor.name,
        action: 'member-remove',
        target: `${projectId}:${user.name}`,
        detail: null,
        ip: request.ip,
      });
      return reply.code(204).send(null);
    },
  );

  app.get(
    '/api/projects/:projectId/secrets',
    {
      config: { projectRole: 'owner' },
      schema: {
        tags: ['secrets'],
        summary: "The names of the project's secrets (owners; values are never shown)",
        params: ProjectParamsSchema,
        response: { 200: ListSecretsResponseSchema, ...errors },
      },
    },
    async (request) => {
      await ctx.projects.get(request.params.projectId);
      return { items: await accounts.listSecretNames(request.params.projectId) };
    },
  );

  app.put(
    '/api/projects/:projectId/secrets/:name',
    {
      config: { projectRole: 'owner' },
      schema: {
        tags: ['secrets'],
        summary: "Set a secret: given to the project's jobs as an environment variable (owners)",
        params: SecretParamsSchema,
        body: PutSecretBodySchema,
        response: { 204: z.null(), ...errors },
      },
    },
    async (request, reply) => {
      const { projectId, name } = request.params;
      await ctx.projects.get(projectId);
      const actor = callerOf(request.auth);
      await asHttp(accounts.putSecret(projectId, name, request.body.value, actor));
      await accounts.audit({
        actorId: actor?.id ?? null,
        actorName: actor?.name ?? null,
        action: 'secret-set',
        target: `${projectId}:${name}`,
        detail: null,
        ip: request.ip,
      });
      return reply.code(204).send(null);
    },
  );

  app.delete(
    '/api/projects/:projectId/secrets/:name',
    {
      config: { projectRole: 'owner' },
      schema: {
        tags: ['secrets'],
        summary: 'Remove a secret (owners)',
        params: SecretParamsSchema,
        response: { 204: z.null(), ...errors },
      },
    },
    async (request, reply) => {
      const { projectId, name } = request.params;
      await asHttp(accounts.deleteSecret(projectId, name));
      const actor = callerOf(request.auth);
      await accounts.audit({
        actorId: actor?.id ?? null,
        actorName: actor?.name ?? null,
        action: 'secret-remove',
        target: `${projectId}:${name}`,
        detail: null,
        ip: request.ip,
      });
      return reply.code(204).send(null);
    },
  );
}
