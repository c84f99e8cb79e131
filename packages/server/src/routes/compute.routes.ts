import { ApiErrorSchema, ComputeStateSchema } from '@deepforge/protocol';
import { projectRoleOf } from '../auth/request-auth.js';
import type { ServerContext, ZodApp } from '../server.context.js';

/**
 * The Compute view (issue 10): the machines running this server's jobs, their load and jobs, and the jobs waiting
 * for one. Any signed-in user: a job of a project the caller may not read shows only as a taken slot.
 */
export function registerComputeRoutes(app: ZodApp, ctx: ServerContext): void {
  app.get(
    '/api/compute',
    {
      schema: {
        tags: ['workers'],
        summary: 'Workers (this server too, when it runs jobs) with state, labels, slots, jobs and load',
        response: { 200: ComputeStateSchema, 401: ApiErrorSchema },
      },
    },
    async (request) =>
      ctx.monitor.state(
        async (projectId) =>
          (await projectRoleOf(ctx.engine.accounts, request.auth, projectId)) !== undefined,
      ),
  );
}
