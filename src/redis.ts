/**
 * `wa-transport/redis`: a replay store shared by every CoreApp node, on Redis (loads ioredis).
 * `createRedisReplayStore` waits for the first connection and its checks, so a missing or
 * evicting Redis fails at start. One server (url), a master behind Sentinel (sentinels) or a
 * Redis Cluster (clusterNodes); the stores' classes are exported as types only.
 */
export { createRedisReplayStore } from './replay/redis.js';
export type {
  RedisClusterReplayStore,
  RedisReplayStore,
  RedisReplayStoreOptions,
  RedisReplayStoreStats,
} from './replay/redis.js';
