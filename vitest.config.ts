import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    // One redis-server for the run, on a spare port: tests get its URL from test/redis/shared.ts.
    globalSetup: ['test/redis/global-setup.ts'],
    // Real sockets and a real Redis: generous per-test time, no timing assertions.
    testTimeout: 30_000,
    hookTimeout: 30_000,
  },
});
