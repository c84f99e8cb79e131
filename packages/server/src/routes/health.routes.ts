import {
  EXECUTION_EVENTS_VERSION,
  HealthResponseSchema,
  PlatformsResponseSchema,
  REST_API_VERSION,
} from '@deepforge/protocol';
import type { ServerContext, ZodApp } from '../server.context.js';

export function registerHealthRoutes(app: ZodApp, ctx: ServerContext): void {
  app.get(
    '/api/health',
    {
      config: { auth: 'public' },
      schema: { tags: ['server'], summary: 'Is the server up', response: { 200: HealthResponseSchema } },
    },
    async () => ({
      status: 'ok' as const,
      version: ctx.version,
      restApiVersion: REST_API_VERSION,
      executionEventsVersion: EXECUTION_EVENTS_VERSION,
      compute: ctx.compute,
      host: ctx.host,
    }),
  );

  app.get(
    '/api/platforms',
    {
      schema: {
        tags: ['server'],
        summary: 'Compute and storage platforms an execution can use',
        response: { 200: PlatformsResponseSchema },
      },
    },
    async () => ({
      compute: [{ id: 'local', name: 'This machine', available: ctx.compute === 'local' }],
      storage: [{ id: 'local', name: 'Local blob store', available: true }],
    }),
  );
}
