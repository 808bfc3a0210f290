import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    // Real sockets and a real Redis: generous per-test time, no timing assertions.
    testTimeout: 30_000,
    hookTimeout: 30_000,
  },
});
