import { defineConfig } from 'vitest/config';

export default defineConfig({
  resolve: { conditions: ['source'] },
  ssr: { resolve: { conditions: ['source'] } },
  test: {
    include: ['packages/*/src/**/*.test.ts'],
    // The second starts the PostgreSQL that the PostgreSQL store tests run against, the third the S3 emulator of
    // the S3 storage tests, the fourth the single-node Slurm of the Slurm compute tests.
    globalSetup: [
      './scripts/vitest-global-setup.ts',
      './scripts/vitest-postgres.setup.ts',
      './scripts/vitest-s3.setup.ts',
      './scripts/vitest-slurm.setup.ts',
    ],
    testTimeout: 60_000,
    hookTimeout: 60_000,
    // Two cores on CI: Python-spawning tests are heavy, keep file parallelism modest.
    maxWorkers: 2,
  },
});
