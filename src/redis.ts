/**
 * `wa-transport/redis`: a replay store shared by every CoreApp node, on Redis (loads ioredis).
 * `createRedisReplayStore` waits for the first connection and its checks, so a missing or
 * evicting Redis fails at start; the store's class is exported as a type only.
 */
export { createRedisReplayStore } from './replay/redis.js';
export type { RedisReplayStore, RedisReplayStoreOptions, RedisReplayStoreStats } from './replay/redis.js';
