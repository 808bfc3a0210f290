/**
 * vitest globalSetup: one redis-server for the whole run, on a spare loopback port, so that
 * `npm test` needs no Redis already running. Tests get its URL from sharedRedisUrl()
 * (test/redis/shared.ts, through vitest's provide/inject); a server a test kills, freezes or
 * clusters it starts itself (test/redis/servers.ts).
 */
import type { TestProject } from 'vitest/node';
import { REDIS_SERVER_MISSING, redisServerFound, startRedis } from './servers.js';

declare module 'vitest' {
  export interface ProvidedContext {
    /** `redis://127.0.0.1:<port>` of the run's shared Redis: use a unique key prefix. */
    redisUrl: string;
  }
}

export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  if (!redisServerFound()) {
    // Thrown, vitest would first print "No test files found" with the filters: misleading.
    // Nothing is started yet, so exiting here leaves the hint as the whole story.
    console.error(REDIS_SERVER_MISSING);
    process.exit(1);
  }
  const redis = await startRedis();
  project.provide('redisUrl', redis.url);
  return () => redis.stop();
}
