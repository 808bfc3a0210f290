/**
 * The Redis replay store's settings that involve no ioredis type, in a module of their own:
 * ioredis is an optional peer dependency, and the declarations of `wa-transport/ops`
 * (`replayStoreFromConfig` takes these) must type-check where it is not installed.
 */
import type { Logger } from '../log.js';

export interface RedisStoreSettings {
  /**
   * Prepended to every key. Keys are scoped by the envelope's key id under it, so deployments
   * with different secrets never collide; a prefix of your own separates anything else (tests,
   * environments).
   * @default 'wa:n:'
   */
  keyPrefix?: string;
  /**
   * Longest wait for Redis to answer a batch, in ms; then the batch fails closed.
   * @default 1000
   */
  commandTimeoutMs?: number;
  /**
   * How long a nonce is remembered after its envelope's timestamp, in ms (on Redis's clock).
   * The default is the default window plus 1 s of clock difference between nodes and Redis.
   * Every verifier using the store needs a window no longer than this.
   * @default 11_000
   */
  retentionMs?: number;
  /**
   * How long to refuse after Redis restarted, failed over or lost keys, in ms: the longest a
   * key lives (retentionMs + the verifiers' skew). 0 turns the restart, canary and eviction
   * checks off (and sends no INFO): only for a Redis whose data never goes away.
   * @default 21_000
   */
  restartHoldMs?: number;
  /**
   * Replicas that must acknowledge each batch of records (`WAIT n`, for up to half of
   * `commandTimeoutMs`) before a nonce is accepted; fewer, and the batch's fresh nonces are
   * refused (ERR_WA_REPLAY_STORE_UNAVAILABLE) and taken back. A master with fewer replicas
   * connected than this refuses everything. When it is at least the number of replicas a
   * master has, a failover to one of them loses no accepted nonce, so the store does not hold
   * after it (docs/redis.md › WAIT or hold). 0: no WAIT (replication stays asynchronous, and
   * a change of master is held for `restartHoldMs`).
   * @default 0
   */
  replicaAcks?: number;
  /** Told of every change between available and unavailable. Default: silent. */
  logger?: Logger;
}
