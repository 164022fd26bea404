import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    testTimeout: 20_000,
    hookTimeout: 60_000,
    pool: 'forks',
    // Integration tests start real servers on ephemeral ports; 2 cores on CI.
    maxWorkers: 2,
    globalSetup: ['test/support/global-setup.ts'],
  },
});
