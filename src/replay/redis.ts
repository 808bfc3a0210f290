/**
 * The shared replay store: nonces recorded in Redis, so that several CoreApp nodes behind one
 * WebApp refuse an envelope that any one of them has already accepted.
 *
 * - Atomic record-if-absent: `SET key 1 PX ttl NX` (https://redis.io/docs/latest/commands/set/).
 *   Redis answers `OK` to exactly one of any number of racing writers and `nil` to the rest.
 * - Short keys: prefix + the nonce's first 16 bytes in base64url (22 characters). 128 random
 *   bits make a collision between honest nonces negligible (the in-memory store keys the same
 *   16 bytes), and only authenticated nonces ever reach the store.
 * - Few round trips: calls made while the event loop runs one phase are sent as one pipeline,
 *   on the next `setImmediate`, so N concurrent opens cost one write and one read on the socket.
 * - Fail closed: a call that Redis does not answer in time, or answers with an error, rejects
 *   with ERR_WA_REPLAY_STORE_UNAVAILABLE; nothing is answered `true` unless Redis said `OK`.
 * - Restarts: a Redis that restarted (or failed over to a replica) may have lost recent nonces.
 *   The store reads `INFO server` on every new connection and, while the server is younger
 *   than `restartHoldMs` (or its run_id changed), refuses every `OK` answer: a nonce it has
 *   forgotten would otherwise be accepted a second time.
 */
import { Redis } from 'ioredis';
import { ErrorCode, WaTransportError } from '../errors.js';
import { type Logger, silentLogger } from '../log.js';
import { DEFAULT_MAX_SKEW_MS, DEFAULT_WINDOW_MS } from '../verifier.js';
import type { ReplayStore } from './store.js';
import { nonNegativeInteger, positiveInteger } from '../options.js';

export const DEFAULT_REDIS_URL = 'redis://127.0.0.1:6379';
export const DEFAULT_KEY_PREFIX = 'wa:n:';
/** Redis answers a SET in well under a millisecond; a second means it is stuck or unreachable. */
export const DEFAULT_COMMAND_TIMEOUT_MS = 1000;
/** Longest wait in `createRedisReplayStore` for the first connection. */
export const DEFAULT_CONNECT_TIMEOUT_MS = 5000;
/**
 * Extra lifetime of a key beyond the envelope's expiry. The expiry is computed on the recording
 * node's clock; a node whose clock runs d ms behind still accepts the envelope for d ms after
 * the key would otherwise vanish. NTP-disciplined hosts agree within milliseconds; 1 s is ample.
 */
export const DEFAULT_TTL_MARGIN_MS = 1000;
/** The longest a key lives with the default window and skew: expiry is at most now + skew + window. */
export const DEFAULT_RESTART_HOLD_MS = DEFAULT_WINDOW_MS + DEFAULT_MAX_SKEW_MS + DEFAULT_TTL_MARGIN_MS;

/** Bytes of the nonce that make the key (as in MemoryReplayStore). */
const KEY_NONCE_BYTES = 16;
/** Reconnect quickly but not in a busy loop: 100 ms, 200 ms, … capped at 1 s. */
const RECONNECT_STEP_MS = 100;
const RECONNECT_MAX_MS = 1000;

export interface RedisReplayStoreOptions {
  /** `redis://[user:password@]host:port[/db]` or `rediss://…`. Default `redis://127.0.0.1:6379`. Ignored with `client`. */
  url?: string;
  /**
   * A client you configured yourself (TLS, Sentinel, …); the store neither closes it nor
   * changes its options. Prefer `enableOfflineQueue: false`, so calls fail at once while it is
   * disconnected rather than wait out `commandTimeoutMs`. Redis Cluster is not supported.
   */
  client?: Redis;
  /** Prepended to every key. Default `wa:n:`. Give each deployment (each secret) its own. */
  keyPrefix?: string;
  /** Longest wait for Redis to answer a batch, in ms; then the batch fails closed. Default 1000. */
  commandTimeoutMs?: number;
  /** Extra key lifetime beyond the envelope's expiry, in ms: your worst clock difference between nodes. Default 1000. */
  ttlMarginMs?: number;
  /**
   * How long after a Redis (re)start or failover to refuse, in ms: the longest a key lives
   * (window + skew + ttlMarginMs). Default 21,000, for the default window and skew. 0 turns the
   * check off (and sends no INFO): only for a Redis whose data survives restarts.
   */
  restartHoldMs?: number;
  /** Told of every change between available and unavailable. Default silent. */
  logger?: Logger;
}

export interface RedisReplayStoreStats {
  /** Pipelines sent to Redis: one round trip each. */
  readonly roundTrips: number;
  /** SET commands sent. */
  readonly commands: number;
  /** Calls waiting for the next pipeline. */
  readonly pending: number;
  /** Whether the last answer (or connection event) said Redis can be used. */
  readonly available: boolean;
}

interface Pending {
  readonly key: string;
  readonly ttlMs: number;
  readonly resolve: (fresh: boolean) => void;
  readonly reject: (error: unknown) => void;
}

type PipelineResult = [error: Error | null, result: unknown][] | null;

export class RedisReplayStore implements ReplayStore {
  readonly keyPrefix: string;
  readonly commandTimeoutMs: number;
  readonly ttlMarginMs: number;
  readonly restartHoldMs: number;
  readonly #client: Redis;
  readonly #owned: boolean;
  readonly #logger: Logger;
  #pending: Pending[] = [];
  #scheduled: NodeJS.Immediate | undefined;
  #closed = false;
  #available: boolean | undefined;
  /** Incremented on every new connection: a batch answered on another connection is suspect. */
  #epoch = 0;
  #serverCheckNeeded: boolean;
  #runId: string | undefined;
  /** performance.now() until which `OK` answers are refused (Redis may have lost keys). */
  #holdUntil = 0;
  #roundTrips = 0;
  #commands = 0;
  readonly #onReady = (): void => {
    this.#epoch++;
    this.#serverCheckNeeded = this.restartHoldMs > 0;
  };
  readonly #onClose = (): void => this.#setAvailable(false, 'connection closed');
  readonly #onError = (error: unknown): void => this.#setAvailable(false, reasonOf(error));

  constructor(options: RedisReplayStoreOptions = {}) {
    this.keyPrefix = options.keyPrefix ?? DEFAULT_KEY_PREFIX;
    if (typeof this.keyPrefix !== 'string') throw new WaTransportError(ErrorCode.CONFIG, 'keyPrefix must be a string');
    this.commandTimeoutMs = positiveInteger(options.commandTimeoutMs ?? DEFAULT_COMMAND_TIMEOUT_MS, 'commandTimeoutMs');
    this.ttlMarginMs = nonNegativeInteger(options.ttlMarginMs ?? DEFAULT_TTL_MARGIN_MS, 'ttlMarginMs');
    this.restartHoldMs = nonNegativeInteger(options.restartHoldMs ?? DEFAULT_RESTART_HOLD_MS, 'restartHoldMs');
    this.#serverCheckNeeded = this.restartHoldMs > 0;
    this.#logger = options.logger ?? silentLogger;
    if (options.client !== undefined) {
      this.#client = options.client;
      this.#owned = false;
    } else {
      this.#client = new Redis(options.url ?? DEFAULT_REDIS_URL, {
        commandTimeout: this.commandTimeoutMs,
        connectTimeout: Math.max(this.commandTimeoutMs, DEFAULT_CONNECT_TIMEOUT_MS),
        // While disconnected, fail at once instead of queueing: the caller gets its answer
        // (unavailable) now, not after the timeout, and nothing is replayed to Redis later.
        enableOfflineQueue: false,
        maxRetriesPerRequest: 0,
        autoResendUnfulfilledCommands: false,
        retryStrategy: (times) => Math.min(times * RECONNECT_STEP_MS, RECONNECT_MAX_MS),
      });
      this.#owned = true;
    }
    this.#client.on('ready', this.#onReady);
    this.#client.on('close', this.#onClose);
    this.#client.on('error', this.#onError);
  }

  recordIfAbsent(nonce: Uint8Array, expiresAt: number, now: number): Promise<boolean> {
    if (this.#closed) return Promise.reject(unavailable('store is closed'));
    if (nonce.length < KEY_NONCE_BYTES) {
      return Promise.reject(new WaTransportError(ErrorCode.CONFIG, `nonce must have at least ${KEY_NONCE_BYTES} bytes`));
    }
    // PX counts from when Redis runs the SET, which is after `now`: the key never dies early.
    const ttlMs = Math.max(1, Math.ceil(expiresAt - now) + this.ttlMarginMs);
    if (!Number.isSafeInteger(ttlMs)) {
      return Promise.reject(new WaTransportError(ErrorCode.CONFIG, 'expiresAt and now must be finite'));
    }
    const key = this.keyPrefix + Buffer.from(nonce.buffer, nonce.byteOffset, KEY_NONCE_BYTES).toString('base64url');
    return new Promise<boolean>((resolve, reject) => {
      this.#pending.push({ key, ttlMs, resolve, reject });
      this.#scheduled ??= setImmediate(() => this.#flush());
    });
  }

  stats(): RedisReplayStoreStats {
    return {
      roundTrips: this.#roundTrips,
      commands: this.#commands,
      pending: this.#pending.length,
      available: this.#available === true,
    };
  }

  /**
   * Resolves once connected, or rejects with ERR_WA_REPLAY_STORE_UNAVAILABLE after
   * `timeoutMs`. Not needed for correctness (calls fail closed until then), but lets a service
   * refuse to start without its replay store.
   */
  async connected(timeoutMs = DEFAULT_CONNECT_TIMEOUT_MS): Promise<void> {
    const client = this.#client;
    if (client.status === 'ready') return;
    if (client.status === 'wait') client.connect().catch(() => {}); // a lazyConnect client; errors arrive as events
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => {
        client.off('ready', onReady);
        reject(unavailable('not connected'));
      }, timeoutMs);
      const onReady = (): void => {
        clearTimeout(timer);
        resolve();
      };
      client.once('ready', onReady);
    });
  }

  /** Fails whatever still waits and, for a client the store created, closes the connection. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    if (this.#scheduled !== undefined) clearImmediate(this.#scheduled);
    this.#scheduled = undefined;
    const pending = this.#pending;
    this.#pending = [];
    for (const item of pending) item.reject(unavailable('store is closed'));
    this.#client.off('ready', this.#onReady);
    this.#client.off('close', this.#onClose);
    this.#client.off('error', this.#onError);
    if (!this.#owned) return;
    // QUIT lets replies to batches in flight arrive; disconnect() ends it if Redis is gone.
    const client = this.#client;
    client.on('error', () => {}); // late socket errors after close are nobody's business
    if (client.status === 'ready') {
      await withTimeout(client.quit(), this.commandTimeoutMs).catch(() => {});
    }
    client.disconnect();
  }

  /** Sends everything pending as one pipeline: one round trip however many calls wait. */
  #flush(): void {
    this.#scheduled = undefined;
    const batch = this.#pending;
    this.#pending = [];
    if (batch.length === 0 || this.#closed) return;
    if (this.#owned && this.#client.status !== 'ready') {
      this.#setAvailable(false, 'not connected');
      return failAll(batch, unavailable('not connected'));
    }
    const check = this.#serverCheckNeeded;
    const epoch = this.#epoch;
    const pipeline = this.#client.pipeline();
    if (check) pipeline.info('server');
    for (const { key, ttlMs } of batch) pipeline.set(key, '1', 'PX', ttlMs, 'NX');
    this.#roundTrips++;
    this.#commands += batch.length;
    withTimeout(pipeline.exec(), this.commandTimeoutMs).then(
      (results) => this.#settle(batch, results, check, epoch),
      (error: unknown) => {
        const timedOut = error instanceof TimeoutError;
        this.#setAvailable(false, timedOut ? 'command timed out' : reasonOf(error));
        failAll(batch, unavailable(timedOut ? 'timed out' : 'command failed', error));
      },
    );
  }

  #settle(batch: Pending[], results: PipelineResult, check: boolean, epoch: number): void {
    if (results === null || results.length !== batch.length + (check ? 1 : 0)) {
      this.#setAvailable(false, 'unexpected reply');
      return failAll(batch, unavailable('unexpected reply'));
    }
    if (check) {
      const [error, info] = results[0]!;
      if (error !== null) {
        this.#setAvailable(false, reasonOf(error));
        return failAll(batch, unavailable('command failed', error));
      }
      this.#checkServer(String(info));
      if (epoch === this.#epoch) this.#serverCheckNeeded = false;
    }
    // Answered over a connection opened after this batch was sent: by a server we may not
    // have checked yet. Its `OK`s cannot be trusted; its `nil`s still mean "seen".
    const suspect = epoch !== this.#epoch && !check;
    const holding = performance.now() < this.#holdUntil;
    let failure: string | undefined;
    for (let i = 0; i < batch.length; i++) {
      const item = batch[i]!;
      const [error, reply] = results[i + (check ? 1 : 0)]!;
      if (error !== null) {
        failure = reasonOf(error);
        item.reject(unavailable('command failed', error));
      } else if (reply === null) {
        item.resolve(false);
      } else if (reply !== 'OK') {
        failure = 'unexpected reply';
        item.reject(unavailable(failure));
      } else if (holding) {
        failure = 'redis restarted recently and may have lost nonces';
        item.reject(unavailable('restarted recently'));
      } else if (suspect) {
        failure = 'reconnected during the call';
        item.reject(unavailable(failure));
      } else {
        item.resolve(true);
      }
    }
    this.#setAvailable(failure === undefined, failure);
  }

  /** Starts a hold when the server is younger than restartHoldMs or is not the one seen before. */
  #checkServer(info: string): void {
    const runId = /^run_id:(\w+)/m.exec(info)?.[1];
    const uptimeSeconds = Number(/^uptime_in_seconds:(\d+)/m.exec(info)?.[1]);
    // Uptime is whole seconds, rounded down: the hold it gives is never too short.
    let holdMs = Number.isFinite(uptimeSeconds) ? this.restartHoldMs - uptimeSeconds * 1000 : this.restartHoldMs;
    if (runId === undefined || (this.#runId !== undefined && runId !== this.#runId)) holdMs = this.restartHoldMs;
    if (runId !== undefined) this.#runId = runId;
    if (holdMs <= 0) return;
    const until = performance.now() + holdMs;
    if (until <= this.#holdUntil) return;
    this.#holdUntil = until;
    this.#logger.warn(
      { event: 'wa_transport.replay_store.hold', store: 'redis', holdMs },
      'redis restarted or failed over recently and may have lost nonces: refusing until they would have expired',
    );
  }

  #setAvailable(available: boolean, reason?: string): void {
    if (this.#available === available || this.#closed) return;
    this.#available = available;
    if (available) {
      this.#logger.info({ event: 'wa_transport.replay_store.available', store: 'redis' }, 'replay store available');
    } else {
      this.#logger.warn(
        { event: 'wa_transport.replay_store.unavailable', store: 'redis', reason },
        'replay store unavailable: rejecting envelopes until it is back',
      );
    }
  }
}

/**
 * Creates a `RedisReplayStore` and waits for its first connection (up to `connectTimeoutMs`,
 * default 5000), so that a service without its replay store fails at start rather than
 * answering every request with ERR_WA_REPLAY_STORE_UNAVAILABLE.
 */
export async function createRedisReplayStore(
  options: RedisReplayStoreOptions & { connectTimeoutMs?: number } = {},
): Promise<RedisReplayStore> {
  const { connectTimeoutMs = DEFAULT_CONNECT_TIMEOUT_MS, ...storeOptions } = options;
  const store = new RedisReplayStore(storeOptions);
  try {
    await store.connected(connectTimeoutMs);
  } catch (error) {
    await store.close();
    throw error;
  }
  return store;
}

class TimeoutError extends Error {}

function withTimeout<T>(promise: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new TimeoutError('timed out')), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

function failAll(batch: readonly Pending[], error: WaTransportError): void {
  for (const item of batch) item.reject(error);
}

/** `detail` is one of a few fixed words: Redis's own error text stays in `cause` and the log. */
function unavailable(detail: string, cause?: unknown): WaTransportError {
  return new WaTransportError(ErrorCode.REPLAY_STORE_UNAVAILABLE, `redis: ${detail}`, { cause });
}

/** A Redis or socket error's message (addresses and Redis error text, never the URL or password). */
function reasonOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
