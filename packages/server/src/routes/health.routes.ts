import {
  EXECUTION_EVENTS_VERSION,
  HealthResponseSchema,
  PlatformsResponseSchema,
  REST_API_VERSION,
} from '@deepforge/protocol';
import { slurmDefaults } from '@deepforge/engine';
import { storagePlatforms } from '../artifacts/storage-choice.js';
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
        summary:
          'Compute and storage platforms executions, uploads and imports can use (the configured storage backend; `local` unavailable, with its reason, when another is configured)',
        response: { 200: PlatformsResponseSchema },
      },
    },
    async () => ({
      compute:
        ctx.engine.computeBackend === 'slurm'
          ? [
              {
                id: 'slurm',
                name: 'Slurm batch jobs (compute.backend)',
                available: true,
                slurm: slurmDefaults(ctx.engine.settings.values),
              },
            ]
          : ctx.compute === 'local'
            ? [{ id: 'local', name: 'This machine', available: true }]
            : [
                {
                  id: 'local',
                  name: 'This machine',
                  available: false,
                  reason: 'this server was started with --server: it runs no operations itself',
                },
                {
                  id: 'workers',
                  name: `Remote workers (${ctx.engine.remoteCompute?.listWorkers().length ?? 0} connected)`,
                  // Executions may start at any time: their jobs wait for a worker, and their consoles say so.
                  available: true,
                },
              ],
      storage: await storagePlatforms(ctx.engine),
    }),
  );
}
