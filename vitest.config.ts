import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { defineConfig, type Plugin } from 'vitest/config';

/**
 * `import … from 'wa-transport/…'` in a test (the docs' examples) resolves to this checkout's
 * sources, as `node --conditions=source` does for the demo: without it Vite resolves the package's
 * own name to dist/, which is stale until the next build.
 */
function sourceCondition(): Plugin {
  const root = new URL('./', import.meta.url);
  const pkg = JSON.parse(readFileSync(new URL('package.json', root), 'utf8')) as {
    name: string;
    exports: Record<string, string | { source?: string }>;
  };
  return {
    name: 'wa-transport-source',
    enforce: 'pre',
    resolveId(id) {
      if (id !== pkg.name && !id.startsWith(`${pkg.name}/`)) return null;
      const entry = pkg.exports[`.${id.slice(pkg.name.length)}`];
      const source = typeof entry === 'object' ? entry.source : undefined;
      return source === undefined ? null : fileURLToPath(new URL(source, root));
    },
  };
}

export default defineConfig({
  plugins: [sourceCondition()],
  test: {
    include: ['test/**/*.test.ts'],
    // One redis-server for the run, on a spare port: tests get its URL from test/redis/shared.ts.
    globalSetup: ['test/redis/global-setup.ts'],
    // Real sockets and a real Redis: generous per-test time, no timing assertions.
    testTimeout: 30_000,
    hookTimeout: 30_000,
  },
});
