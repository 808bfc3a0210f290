/**
 * The run's shared Redis (started by test/redis/global-setup.ts), for tests that only need a
 * Redis to talk to: use a unique key prefix, never kill it (start your own with startRedis).
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { Redis } from 'ioredis';
import { inject } from 'vitest';
import { DEFAULT_RESTART_HOLD_MS } from '../../src/replay/redis.js';

/**
 * Its URL, once the server is older than `olderThanMs`. A RedisReplayStore refuses every
 * answer while its server is younger than the store's restartHoldMs (the server may have lost
 * nonces), and this server started with the run: stores with the default hold (21 s) would
 * fail early in a run. Only the first caller in a run waits, and at most that long.
 */
export async function sharedRedisUrl(olderThanMs: number = DEFAULT_RESTART_HOLD_MS): Promise<string> {
  const url = inject('redisUrl');
  const client = new Redis(url, { lazyConnect: true, maxRetriesPerRequest: 1 });
  try {
    await client.connect();
    for (;;) {
      const uptimeSeconds = Number(/^uptime_in_seconds:(\d+)/m.exec(await client.info('server'))?.[1]);
      // Whole seconds, rounded down, as the store reads them.
      const leftMs = olderThanMs - uptimeSeconds * 1000;
      if (leftMs <= 0) return url;
      await sleep(Math.min(leftMs, 1000));
    }
  } finally {
    client.disconnect();
  }
}
