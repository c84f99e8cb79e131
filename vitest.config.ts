import { defineConfig } from 'vitest/config';

export default defineConfig({
  resolve: { conditions: ['source'] },
  ssr: { resolve: { conditions: ['source'] } },
  test: {
    include: ['packages/*/src/**/*.test.ts'],
    // The second starts the PostgreSQL that the PostgreSQL store tests run against.
    globalSetup: ['./scripts/vitest-global-setup.ts', './scripts/vitest-postgres.setup.ts'],
    testTimeout: 60_000,
    hookTimeout: 60_000,
    // Two cores on CI: Python-spawning tests are heavy, keep file parallelism modest.
    maxWorkers: 2,
  },
});
