/**
 * The shared replay store: nonces recorded in Redis, so that several CoreApp nodes behind one
 * WebApp refuse an envelope that any one of them has already accepted.
 *
 * - Atomic record-if-absent, on Redis's clock: a small script per nonce reads `TIME`, refuses
 *   a nonce whose retention (timestamp + retentionMs) has already ended, else runs
 *   `SET key 1 PXAT timestamp+retentionMs NX` (https://redis.io/docs/latest/commands/set/).
 *   Keys die on Redis's clock, and the refusal reads that same clock, so no node's clock (one
 *   that stepped back, a restarted one, one with a longer window) can see a forgotten nonce
 *   as fresh. Redis answers `1` to exactly one of any number of racing writers.
 * - Scoped keys: prefix + the envelope's key id + the nonce's first 16 bytes in base64url.
 *   Deployments with different secrets sharing one Redis never touch each other's nonces.
 * - Few round trips: calls made while the event loop runs one phase are sent as one pipeline,
 *   on the next `setImmediate`, so N concurrent opens cost one write and one read on the socket.
 * - Fail closed: a call that Redis does not answer in time, or answers with an error, rejects
 *   with ERR_WA_REPLAY_STORE_UNAVAILABLE; nothing is answered `true` unless Redis said `1`.
 * - A Redis that forgets is detected, and then refused for `restartHoldMs` (every key it may
 *   have lost has expired by then):
 *   - a restart or failover: `INFO server` (uptime, run_id) on every new connection;
 *   - lost keys without a restart (FLUSHDB, a DEL of everything, eviction): a canary key
 *     without TTL holds a generation id, read with every pipeline; a missing or changed
 *     generation means the keys around it may be gone too. `evicted_keys` rising says so too;
 *   - eviction allowed at all: `maxmemory-policy` must be `noeviction` (checked on connect and
 *     every few seconds); anything else is refused with an error naming the setting.
 *   Not detected: someone deleting single nonce keys between canary checks. Write access to
 *   this Redis is the power to replay (docs/security.md).
 */
import { randomBytes } from 'node:crypto';
import { createRequire } from 'node:module';
import type { Cluster, Redis, RedisOptions } from 'ioredis';
import { DEFAULT_MAX_SKEW_MS, DEFAULT_WINDOW_MS } from '../defaults.js';
import { ErrorCode, WaTransportError } from '../errors.js';
import { type Logger, silentLogger } from '../log.js';
import { type HostAndPort, parseAddresses } from './addresses.js';
import { StateLog } from './redis-log.js';
import type { RedisStoreSettings } from './redis-settings.js';
import type { ReplayStore } from './store.js';
import { nonNegativeInteger, positiveInteger } from '../options.js';

export const DEFAULT_REDIS_URL = 'redis://127.0.0.1:6379';
export const DEFAULT_KEY_PREFIX = 'wa:n:';
/** Redis answers a SET in well under a millisecond; a second means it is stuck or unreachable. */
export const DEFAULT_COMMAND_TIMEOUT_MS = 1000;
/** Longest wait in `createRedisReplayStore` for the first connection. */
export const DEFAULT_CONNECT_TIMEOUT_MS = 5000;
/**
 * Retention beyond the default window: retention is counted on Redis's clock, the window on
 * each node's; a node whose clock runs d ms behind Redis's would see envelopes refused for the
 * last d ms of their window. NTP-disciplined hosts agree within milliseconds; 1 s is ample.
 */
export const DEFAULT_CLOCK_MARGIN_MS = 1000;
export const DEFAULT_RETENTION_MS = DEFAULT_WINDOW_MS + DEFAULT_CLOCK_MARGIN_MS;
/**
 * The longest a key lives: retention, counted from a timestamp that may lie up to the skew
 * ahead of the recording node's clock.
 */
export const DEFAULT_RESTART_HOLD_MS = DEFAULT_RETENTION_MS + DEFAULT_MAX_SKEW_MS;
/** How often `INFO` is read again on a live connection (policy and eviction checks). */
const INFO_INTERVAL_MS = 5000;

/** The key of a pending item that records nothing: `checked()` waiting for one round of checks. */
const PROBE = '';
/** A failing cluster asks for the slot map at most this often (one CLUSTER SLOTS round trip). */
const SLOTS_REFRESH_MIN_MS = 100;
/** Failed take-backs kept to send again; past this the oldest go (they read as "seen": fail closed). */
const MAX_UNTAKEN = 10_000;
/** How soon a bucket whose node was replaced probes again, while it has not reached the new one. */
const REIDENTIFY_RETRY_MS = 100;
/** Bytes of the nonce that make the key (as in MemoryReplayStore). */
const KEY_NONCE_BYTES = 16;
/** Reconnect quickly but not in a busy loop: 100 ms, 200 ms, … capped at 1 s. */
const RECONNECT_STEP_MS = 100;
const RECONNECT_MAX_MS = 1000;

/**
 * Record-if-absent on Redis's clock. Returns 1 (recorded), 0 (already there), -1 (retention
 * over). The value is a token of this attempt, so a record can be taken back by its writer alone.
 * Exported for bench/redis-store.ts (which sends it without the store); not public (src/redis.ts).
 */
export const RECORD_SCRIPT = `local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
if tonumber(ARGV[1]) <= now then return -1 end
if redis.call('SET', KEYS[1], ARGV[2], 'PXAT', ARGV[1], 'NX') then return 1 end
return 0`;
/** Takes a record back if it is still the one this store wrote (its token). */
const RELEASE_SCRIPT = `if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0`;
/** The canary: the generation id it holds, or "+" and the one it just created. */
const CANARY_SCRIPT = `local g = redis.call('GET', KEYS[1])
if g then return g end
redis.call('SET', KEYS[1], ARGV[1])
return '+' .. ARGV[1]`;

export interface RedisReplayStoreOptions extends RedisStoreSettings {
  /**
   * `redis://[user:password@]host:port[/db]` or `rediss://…`. Ignored with `client`.
   * @default 'redis://127.0.0.1:6379'
   */
  url?: string;
  /**
   * A client you configured yourself (TLS, Sentinel, …); the store neither closes it nor
   * changes its options. Prefer `enableOfflineQueue: false`, so calls fail at once while it is
   * disconnected rather than wait out `commandTimeoutMs`. For Sentinel and Cluster use `sentinels` and
   * `clusterNodes`: the store then checks each failover itself.
   */
  client?: Redis;
  /**
   * Sentinels to ask for the master (`host:port` each), with `sentinelMaster`: the store
   * follows a failover without a restart, and refuses for `restartHoldMs` after it (the new
   * master may lack the last nonces the old one accepted: replication is asynchronous).
   */
  sentinels?: readonly string[];
  /** The name the sentinels know the master by. Required with `sentinels`. */
  sentinelMaster?: string;
  /**
   * The sentinels' own password (their `requirepass`), with `sentinels`. Not sent to the data
   * nodes (that is `password`). Kept by ioredis only.
   */
  sentinelPassword?: string;
  /**
   * The ACL user of the Redis servers holding the nonces (with `sentinels` or `clusterNodes`;
   * with `url` the credentials go in the URL). Not sent to the sentinels themselves.
   */
  username?: string;
  /** The password of those servers (`requirepass`, or `username`'s). Kept by ioredis only. */
  password?: string;
  /**
   * Seed nodes of a Redis Cluster (`host:port` each; the rest is discovered). Nonces are spread
   * over `clusterBuckets` hash slots, each with its own canary and checks, so a failover holds
   * only the buckets its master served.
   */
  clusterNodes?: readonly string[];
  /**
   * Hash slots the nonces of a cluster are spread over (a hash tag each). With the default,
   * three masters each serve about a third. More spreads better, fewer batches better.
   * @default 16
   */
  clusterBuckets?: number;
}

export interface RedisReplayStoreStats {
  /** Pipelines sent to Redis: one round trip each. */
  readonly roundTrips: number;
  /** Record commands sent. */
  readonly commands: number;
  /** Calls waiting for the next pipeline. */
  readonly pending: number;
  /** Whether the last answer (or connection event) said Redis can be used. */
  readonly available: boolean;
}

interface Pending {
  readonly key: string;
  readonly expireAt: number;
  /** Written as the record's value: who wrote it, so that only this call can take it back. */
  readonly token: string;
  readonly resolve: (fresh: boolean) => void;
  readonly reject: (error: unknown) => void;
}

type PipelineResult = [error: Error | null, result: unknown][] | null;

/** What one pipeline asks besides the records, in this order. */
interface Checks {
  /** `CLUSTER MYID`: which node answered (cluster buckets only). */
  readonly node: boolean;
  readonly info: boolean;
  /** `INFO replication` with `info`: how many replicas the master has (with `replicaAcks` only). */
  readonly replication: boolean;
  readonly loadScript: boolean;
  readonly canary: boolean;
  /** `WAIT replicaAcks timeout` after the records. */
  readonly wait: boolean;
}

export class RedisReplayStore implements ReplayStore {
  readonly keyPrefix: string;
  readonly commandTimeoutMs: number;
  readonly retentionMs: number;
  readonly restartHoldMs: number;
  readonly replicaAcks: number;
  readonly #client: Redis | Cluster;
  readonly #owned: boolean;
  /** What the buckets of a cluster store share; set for a bucket only (the node answering is read with every pipeline). */
  readonly #cluster: ClusterBucketLink | undefined;
  /** The node a sibling bucket saw replaced, while the hold that began then lasts. */
  #leftNode: { id: string; until: number } | undefined;
  /** The cluster node (CLUSTER MYID) that answered this bucket's last pipeline. */
  #nodeId: string | undefined;
  readonly #logger: Logger;
  /** Availability and hold lines, rate-limited; a cluster's buckets share their store's. */
  readonly #stateLog: StateLog;
  readonly #canaryKey: string;
  #pending: Pending[] = [];
  /** Take-backs that failed, to send again (#release). */
  #untaken: Pending[] = [];
  #scheduled: NodeJS.Immediate | undefined;
  #closed = false;
  #available: boolean | undefined;
  /** Incremented on every new connection: a batch answered on another connection is suspect. */
  #epoch = 0;
  #serverCheckNeeded: boolean;
  #scriptLoadNeeded = true;
  #recordSha: string | undefined;
  #lastInfoAt = -Infinity;
  #runId: string | undefined;
  #generation: string | undefined;
  #evictedKeys: number | undefined;
  /**
   * The most replicas the serving master has been seen with (INFO replication, WAIT replies):
   * when `replicaAcks` covers them all, every nonce accepted was on each of them.
   */
  #replicasSeen: number | undefined;
  /** Set while Redis may evict keys: every record is refused until the setting is fixed. */
  #misconfigured: WaTransportError | undefined;
  /** performance.now() until which `1` answers are refused (Redis may have lost keys). */
  #holdUntil = 0;
  #roundTrips = 0;
  #commands = 0;
  /** Record values: this store's random prefix and a counter, unique per call. */
  readonly #tokenPrefix = randomBytes(6).toString('base64url');
  #tokens = 0;
  readonly #onReady = (): void => {
    this.#epoch++;
    this.#serverCheckNeeded = this.restartHoldMs > 0;
    this.#scriptLoadNeeded = true;
  };
  readonly #onClose = (): void => this.#setAvailable(false, 'connection closed');
  readonly #onError = (error: unknown): void => {
    this.#lastError = error;
    this.#setAvailable(false, reasonOf(error));
  };
  /**
   * The last connection error (ioredis names the host and the cause: ECONNREFUSED, ENOTFOUND…),
   * given as `cause` when connecting fails, so a refused port and a misspelt host differ.
   */
  #lastError: unknown;

  /**
   * @param bucket for `RedisClusterReplayStore`: the cluster client it shares, and that this
   *   store's keys all carry one hash tag (in `keyPrefix`), so each pipeline is for one slot.
   */
  constructor(options: RedisReplayStoreOptions = {}, bucket?: ClusterBucketLink) {
    this.keyPrefix = options.keyPrefix ?? DEFAULT_KEY_PREFIX;
    if (typeof this.keyPrefix !== 'string') throw new WaTransportError(ErrorCode.CONFIG, 'keyPrefix must be a string');
    this.#canaryKey = `${this.keyPrefix}canary`;
    this.commandTimeoutMs = positiveInteger(options.commandTimeoutMs ?? DEFAULT_COMMAND_TIMEOUT_MS, 'commandTimeoutMs');
    this.retentionMs = positiveInteger(options.retentionMs ?? DEFAULT_RETENTION_MS, 'retentionMs');
    this.restartHoldMs = nonNegativeInteger(options.restartHoldMs ?? DEFAULT_RESTART_HOLD_MS, 'restartHoldMs');
    this.replicaAcks = nonNegativeInteger(options.replicaAcks ?? 0, 'replicaAcks');
    if (this.replicaAcks > 0 && this.commandTimeoutMs < 2) {
      throw new WaTransportError(ErrorCode.CONFIG, 'replicaAcks needs a commandTimeoutMs of at least 2 ms');
    }
    if ('ttlMarginMs' in options) {
      throw new WaTransportError(ErrorCode.CONFIG, 'ttlMarginMs is gone: set retentionMs (window + your clock margin)');
    }
    this.#serverCheckNeeded = this.restartHoldMs > 0;
    this.#logger = options.logger ?? silentLogger;
    this.#stateLog = bucket?.stateLog ?? new StateLog(this.#logger, () => this.#available === true);
    if (bucket !== undefined) {
      this.#client = bucket.cluster;
      this.#owned = false;
      this.#cluster = bucket;
      bucket.onNodeLeft((id) => this.#siblingLeft(id));
    } else if (options.client !== undefined) {
      this.#client = options.client;
      this.#owned = false;
    } else {
      checkOneConnection(options);
      const { Redis } = loadIoredis();
      const base = connectionOptions(this.commandTimeoutMs, credentials(options));
      this.#client =
        options.sentinels === undefined
          ? new Redis(options.url ?? DEFAULT_REDIS_URL, base)
          : new Redis({
              ...base,
              sentinels: parseAddresses(options.sentinels, 'sentinels'),
              name: sentinelMaster(options.sentinelMaster),
              ...sentinelPassword(options.sentinelPassword),
              // Told by the sentinels (+switch-master) instead of waiting for the old master's socket to fail.
              failoverDetector: true,
              sentinelRetryStrategy: reconnectDelay,
            });
      this.#owned = true;
    }
    if (this.#cluster === undefined) {
      this.#client.on('ready', this.#onReady);
      this.#client.on('close', this.#onClose);
      this.#client.on('error', this.#onError);
    }
  }

  recordIfAbsent(nonce: Uint8Array, timestamp: number, _now: number, scope: string): Promise<boolean> {
    if (this.#closed) return Promise.reject(unavailable('store is closed'));
    if (nonce.length < KEY_NONCE_BYTES) {
      return Promise.reject(
        new WaTransportError(ErrorCode.CONFIG, `nonce must have at least ${KEY_NONCE_BYTES} bytes`),
      );
    }
    const expireAt = timestamp + this.retentionMs;
    if (!Number.isSafeInteger(expireAt) || typeof scope !== 'string') {
      return Promise.reject(
        new WaTransportError(ErrorCode.CONFIG, 'timestamp must be a whole number and scope a string'),
      );
    }
    const key = `${this.keyPrefix}${scope}:${Buffer.from(nonce.buffer, nonce.byteOffset, KEY_NONCE_BYTES).toString('base64url')}`;
    return new Promise<boolean>((resolve, reject) => {
      this.#pending.push({ key, expireAt, token: `${this.#tokenPrefix}${this.#tokens++}`, resolve, reject });
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
        reject(unavailable('not connected', this.#lastError));
      }, timeoutMs);
      const onReady = (): void => {
        clearTimeout(timer);
        resolve();
      };
      client.once('ready', onReady);
    });
  }

  /**
   * Connects and runs the checks a record would run (server, eviction policy, canary), for a
   * readiness probe or a start-up check. Rejects with ERR_WA_CONFIG when Redis may evict keys,
   * ERR_WA_REPLAY_STORE_UNAVAILABLE when it cannot be used now (including during a hold).
   */
  async ready(timeoutMs = DEFAULT_CONNECT_TIMEOUT_MS): Promise<void> {
    await this.checked(timeoutMs);
    const refusal = this.#refusal();
    if (refusal !== undefined) throw refusal;
  }

  /**
   * `connected`, then one round of the checks (server, eviction policy, canary). Rejects with
   * ERR_WA_CONFIG when Redis may evict keys; resolves during a hold (which ends by itself).
   */
  async checked(timeoutMs = DEFAULT_CONNECT_TIMEOUT_MS): Promise<void> {
    await this.connected(timeoutMs);
    this.#lastInfoAt = -Infinity; // read the settings now, not from a few seconds ago
    await new Promise<void>((resolve, reject) => {
      this.#pending.push({ key: PROBE, expireAt: 0, token: '', resolve: () => resolve(), reject });
      this.#scheduled ??= setImmediate(() => this.#flush());
    });
    if (this.#misconfigured !== undefined) throw this.#misconfigured;
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
    if (this.#cluster === undefined) this.#stateLog.close();
    if (!this.#owned) return;
    // QUIT lets replies to batches in flight arrive; disconnect() ends it if Redis is gone.
    const client = this.#client;
    client.on('error', () => {}); // late socket errors after close are nobody's business
    if (client.status === 'ready') {
      await withTimeout(client.quit(), this.commandTimeoutMs).catch(() => {});
    }
    client.disconnect();
  }

  /**
   * Sends everything pending as one pipeline: one round trip however many calls wait.
   *
   * Our own batching, not ioredis's `enableAutoPipelining` (which also gathers a turn's commands
   * into one pipeline). Measured in one run, interleaved (bench/RESULTS.md, "Redis: own batching
   * vs ioredis auto-pipelining"): the same record script sent per call over an auto-pipelining
   * client ran at a median 0.83–1.03× of this store, checks included, with 256 calls in flight,
   * and 0.98–1.26× with 16, where this batching without the checks ran at 1.10–1.48×: no gain
   * beyond the machine's noise. And it would cost the checks their meaning: they vouch for the
   * records because they ride in the same pipeline, in order, on the same connection (on a
   * cluster, to the node serving the records' slot). ioredis keeps INFO, SCRIPT and CLUSTER out
   * of its auto-pipelines, sending them at once, ahead of records still queued, and a keyless
   * CLUSTER MYID to a random node; it routes a keyless WAIT by the slot of its first argument, so
   * on a cluster WAIT may go to another master than the records; and a shared `client`'s other
   * commands join the same pipelines.
   */
  #flush(): void {
    this.#scheduled = undefined;
    const all = this.#pending;
    this.#pending = [];
    if (all.length === 0 || this.#closed) return;
    if (this.#owned && this.#client.status !== 'ready') {
      this.#setAvailable(false, 'not connected');
      return failAll(all, unavailable('not connected'));
    }
    const probes = all.filter((item) => item.key === PROBE);
    let batch = probes.length === 0 ? all : all.filter((item) => item.key !== PROBE);
    const checking = this.restartHoldMs > 0;
    const now = performance.now();
    const info = checking && (this.#serverCheckNeeded || now - this.#lastInfoAt >= INFO_INTERVAL_MS);
    // Refused before anything is written: a record written and then refused would read as
    // "seen" when the request is retried, and a retry carrying the same request id would be lost.
    // A hold refuses whatever this round of checks says; other refusals (a bad eviction policy)
    // wait for the INFO in this pipeline, which may lift them.
    const holding = now < this.#holdUntil;
    const refusal = info && !holding ? undefined : this.#refusal();
    if (refusal !== undefined) {
      this.#setAvailable(false, refusal.message);
      failAll(batch, refusal);
      if (probes.length === 0) return;
      batch = []; // the probes still get their round of checks
    }
    const checks: Checks = {
      node: this.#cluster !== undefined && checking,
      info,
      replication: info && this.replicaAcks > 0,
      loadScript: this.#scriptLoadNeeded || this.#recordSha === undefined,
      canary: checking,
      wait: this.replicaAcks > 0 && batch.length > 0,
    };
    // Take-backs that did not reach Redis go first, on the connection the records take next.
    if (batch.length > 0 && this.#untaken.length > 0) {
      const untaken = this.#untaken.filter((item) => item.expireAt > Date.now());
      this.#untaken = [];
      this.#release(untaken);
    }
    const epoch = this.#epoch;
    const pipeline = this.#client.pipeline();
    if (checks.node) pipeline.cluster('MYID');
    if (checks.info) pipeline.info('server').info('memory').info('stats');
    if (checks.replication) pipeline.info('replication');
    if (checks.loadScript) pipeline.script('LOAD', RECORD_SCRIPT);
    // A new generation each time: a canary this store re-creates after a loss must differ.
    if (checks.canary) pipeline.eval(CANARY_SCRIPT, 1, this.#canaryKey, randomBytes(8).toString('hex'));
    const sha = this.#recordSha!;
    for (const { key, expireAt, token } of batch) {
      if (checks.loadScript) pipeline.eval(RECORD_SCRIPT, 1, key, expireAt, token);
      else pipeline.evalsha(sha, 1, key, expireAt, token);
    }
    // Keyless: it goes with the records to the node serving their slot, and waits for every
    // write made so far on that connection, theirs included.
    // https://redis.io/docs/latest/commands/wait/
    if (checks.wait) pipeline.wait(this.replicaAcks, Math.floor(this.commandTimeoutMs / 2));
    this.#roundTrips++;
    this.#commands += batch.length;
    withTimeout(pipeline.exec(), this.commandTimeoutMs).then(
      (results) => {
        const ok = this.#settle(batch, results, checks, epoch);
        for (const probe of probes) {
          if (ok) probe.resolve(true);
          else probe.reject(unavailable('checks failed'));
        }
      },
      (error: unknown) => {
        const timedOut = error instanceof TimeoutError;
        this.#failedOnCluster();
        this.#setAvailable(false, timedOut ? 'command timed out' : reasonOf(error));
        failAll(all, unavailable(timedOut ? 'timed out' : 'command failed', error));
        // A stalled Redis (or ioredis's own command timeout) may leave these records to run
        // later. Take them back, on the same connection so they run after: a retry of a
        // refused request must not read as a replay.
        this.#release(batch);
      },
    );
  }

  /** Settles every record of the batch; false when the checks themselves failed. */
  #settle(batch: Pending[], results: PipelineResult, checks: Checks, epoch: number): boolean {
    const extra =
      (checks.node ? 1 : 0) +
      (checks.info ? 3 : 0) +
      (checks.replication ? 1 : 0) +
      (checks.loadScript ? 1 : 0) +
      (checks.canary ? 1 : 0) +
      (checks.wait ? 1 : 0);
    if (results === null || results.length !== batch.length + extra) {
      this.#setAvailable(false, 'unexpected reply');
      failAll(batch, unavailable('unexpected reply'));
      return false;
    }
    let at = 0;
    const next = (): [Error | null, unknown] => results[at++]!;
    let failure: string | undefined;
    const fail = (error: Error): false => {
      this.#failedOnCluster();
      failure = reasonOf(error);
      this.#setAvailable(false, failure);
      failAll(batch, unavailable('command failed', error));
      this.#release(batch); // their records may still run (a command timeout is not a "no")
      return false;
    };
    // Keyless checks (CLUSTER MYID, INFO) are believed only once the keyed canary has answered:
    // then the node that answered them serves the bucket's slot. While a master is down, ioredis
    // sends a pipeline to any node, which answers those and MOVED for the rest; believing them
    // held the bucket again per random node. Measured on one failover (the cluster test): 27 s
    // of refusals before this, #failedOnCluster and #siblingLeft; 7.5 s after (2.3 s for the
    // failover, then one 5.3 s hold).
    let nodeId: string | undefined;
    if (checks.node) {
      const [error, id] = next();
      if (error !== null) return fail(error);
      nodeId = String(id);
    }
    let info: unknown[] | undefined;
    if (checks.info) {
      const replies = [next(), next(), next()];
      if (checks.replication) replies.push(next());
      const error = replies.find(([e]) => e !== null)?.[0];
      if (error) return fail(error);
      info = replies.map(([, reply]) => reply);
    }
    if (checks.loadScript) {
      const [error, sha] = next();
      if (error !== null) return fail(error);
      this.#recordSha = String(sha);
      if (epoch === this.#epoch) this.#scriptLoadNeeded = false;
    }
    let canary: string | undefined;
    if (checks.canary) {
      const [error, reply] = next();
      if (error !== null) return fail(error);
      canary = String(reply);
    }
    if (nodeId !== undefined) this.#checkNode(nodeId);
    if (info !== undefined) {
      this.#checkServer(String(info[0]), String(info[1]), String(info[2]), info[3]);
      this.#lastInfoAt = performance.now();
      if (epoch === this.#epoch) this.#serverCheckNeeded = false;
    }
    if (canary !== undefined) this.#checkCanary(canary);
    // Answered over a connection opened after this batch was sent: by a server we may not
    // have checked yet. Its `1`s cannot be trusted; its `0`s still mean "seen".
    const suspect = epoch !== this.#epoch && !checks.info;
    const unacknowledged = checks.wait ? this.#acknowledged(results.at(-1)!) : undefined;
    const refusal =
      this.#refusal() ?? (suspect ? unavailable('reconnected during the call') : undefined) ?? unacknowledged;
    /** Records written (or maybe written) for calls that are refused: taken back below. */
    const written: Pending[] = [];
    for (let i = 0; i < batch.length; i++) {
      const item = batch[i]!;
      const [error, reply] = next();
      if (error !== null) {
        this.#failedOnCluster();
        failure = reasonOf(error);
        if (/NOSCRIPT/.test(failure)) this.#scriptLoadNeeded = true;
        written.push(item);
        item.reject(unavailable('command failed', error));
      } else if (reply === 0) {
        item.resolve(false);
      } else if (reply === -1) {
        item.reject(new WaTransportError(ErrorCode.EXPIRED));
      } else if (reply !== 1) {
        failure = 'unexpected reply';
        item.reject(unavailable(failure));
      } else if (refusal !== undefined) {
        failure = refusal.message;
        written.push(item);
        item.reject(refusal);
      } else {
        item.resolve(true);
      }
    }
    // Records written but refused are taken back, so a retry is not mistaken for a replay.
    this.#release(written);
    const reason = failure ?? this.#refusal()?.message;
    this.#setAvailable(reason === undefined, reason);
    return true;
  }

  /**
   * WAIT's reply: undefined when at least `replicaAcks` replicas have the batch's records,
   * else the refusal of its fresh nonces (a master dying now could hand over without them).
   */
  #acknowledged([error, replicas]: [Error | null, unknown]): WaTransportError | undefined {
    if (error === null && typeof replicas === 'number') {
      this.#replicasSeen = Math.max(this.#replicasSeen ?? 0, replicas);
      if (replicas >= this.replicaAcks) return undefined;
    }
    return unavailable('replicas did not acknowledge', error ?? undefined);
  }

  /** Takes back the records of refused calls, where they are still this store's own. */
  #release(items: readonly Pending[]): void {
    if (items.length === 0 || this.#closed) return;
    const pipeline = this.#client.pipeline();
    for (const { key, token } of items) pipeline.eval(RELEASE_SCRIPT, 1, key, token);
    // A take-back that did not run is kept and sent again before this bucket's next records: a
    // record left behind reads as "seen", and the retry of its request as ERR_WA_REPLAYED,
    // though it never ran. Around a SIGKILLed master, a dozen take-backs per failover failed
    // ("Connection is closed", answered per command, not as a rejection) and were dropped.
    pipeline.exec().then(
      (results) => this.#keepUntaken(items.filter((_, i) => results?.[i]?.[0] != null)),
      () => this.#keepUntaken(items),
    );
  }

  #keepUntaken(items: readonly Pending[]): void {
    if (items.length === 0 || this.#closed) return;
    this.#untaken.push(...items);
    if (this.#untaken.length > MAX_UNTAKEN) this.#untaken.splice(0, this.#untaken.length - MAX_UNTAKEN);
  }

  /** Why records are refused now, if they are: Redis may evict, or may have lost keys. */
  #refusal(): WaTransportError | undefined {
    if (this.#misconfigured !== undefined) return this.#misconfigured;
    if (performance.now() < this.#holdUntil) return unavailable('redis may have lost nonces recently (holding)');
    return undefined;
  }

  /** Restart, eviction policy and evictions, from `INFO server`, `INFO memory` and `INFO stats`. */
  #checkServer(server: string, memory: string, stats: string, replication: unknown): void {
    const runId = field(server, 'run_id');
    const uptimeSeconds = Number(field(server, 'uptime_in_seconds'));
    // Uptime is whole seconds, rounded down: the hold it gives is never too short. A server
    // that started recently may have come back empty, whatever WAIT said before.
    const holdMs = Number.isFinite(uptimeSeconds) ? this.restartHoldMs - uptimeSeconds * 1000 : this.restartHoldMs;
    if (runId === undefined) this.#hold(this.restartHoldMs, 'redis did not say its run_id');
    else if (this.#runId !== undefined && runId !== this.#runId) {
      this.#masterChanged('another redis server answers now (a failover) and may lack the last nonces');
      this.#replicasSeen = undefined;
    }
    if (holdMs > 0) this.#hold(holdMs, 'redis restarted recently and may have lost nonces');
    if (runId !== undefined) this.#runId = runId;
    const replicas = Number(field(String(replication), 'connected_slaves'));
    if (Number.isFinite(replicas)) this.#replicasSeen = Math.max(this.#replicasSeen ?? 0, replicas);

    const policy = field(memory, 'maxmemory_policy');
    if (policy !== 'noeviction') {
      const detail = `Redis maxmemory-policy is ${policy ?? 'unknown'}: it may evict nonces, and an evicted nonce can be replayed. Set maxmemory-policy noeviction (redis.conf, or CONFIG SET maxmemory-policy noeviction)`;
      if (this.#misconfigured === undefined) {
        this.#logger.warn({ event: 'wa_transport.replay_store.eviction_policy', store: 'redis', policy }, detail);
      }
      this.#misconfigured = new WaTransportError(ErrorCode.CONFIG, detail);
    } else if (this.#misconfigured !== undefined) {
      this.#misconfigured = undefined;
      // Whatever it evicted while the policy allowed it is covered by a hold.
      this.#hold(this.restartHoldMs, 'redis allowed eviction until now and may have lost nonces');
    }

    const evicted = Number(field(stats, 'evicted_keys'));
    if (Number.isFinite(evicted)) {
      if (this.#evictedKeys !== undefined && evicted > this.#evictedKeys) {
        this.#hold(this.restartHoldMs, 'redis evicted keys and may have lost nonces');
      }
      this.#evictedKeys = evicted;
    }
  }

  /**
   * Another node answering for this bucket's slot: a failover (a replica that may lack the
   * last nonces its master accepted, replication being asynchronous) or a resharding. Either
   * way, hold until every nonce the old node may have had alone has expired, and read the new
   * node's settings with the next pipeline.
   */
  #checkNode(id: string): void {
    const left = this.#nodeId;
    this.#nodeId = id;
    if (id === left && this.#leftNode?.id === left) this.#leftNode = undefined; // it still serves us
    if (left === undefined || id === left) return;
    // A sibling bucket saw this node go moments ago and the hold began then (#siblingLeft).
    const covered = this.#leftNode?.id === left && performance.now() < this.#leftNode.until;
    if (!covered) {
      this.#masterChanged(
        'another cluster node serves these nonces now (failover or resharding) and may lack the last ones',
      );
      this.#cluster?.nodeLeft(left);
    }
    this.#serverCheckNeeded = true;
    // What INFO said describes the old node: compared with the new one's it would hold again,
    // once this hold is over (measured: a second 5.3 s). The new node's uptime and canary
    // still say whether it lost keys.
    this.#runId = undefined;
    this.#evictedKeys = undefined;
    this.#replicasSeen = undefined;
    // The other buckets of the failed master learn where their slots went now.
    this.#failedOnCluster();
  }

  /**
   * Another bucket of this store found `id` no longer serving its slot. If this bucket's slot is
   * on `id` too, hold now rather than when a call next reaches the node that took over: an
   * idle bucket found out only with its next traffic, 8 s later in the failover test, and held
   * from then. Starting here is enough: a failed master's writes end before a replica takes
   * over (a master cut off from the majority stops accepting writes after cluster-node-timeout,
   * and the failover starts after that), so every nonce it may have lost is older than the
   * moment its replacement was first seen.
   */
  #siblingLeft(id: string): void {
    if (this.#nodeId !== id || this.#leftNode?.id === id) return;
    this.#masterChanged(`another bucket's cluster node (${id}) was replaced, and so may this bucket's`);
    this.#leftNode = { id, until: performance.now() + this.restartHoldMs };
    this.#reidentify();
  }

  /**
   * Probes until this bucket has seen which node serves it now (or the hold is over): an idle
   * bucket would otherwise meet the new node after its hold from the sibling's sighting, and
   * hold again from then (measured: 5.6 s and 11 s after it, one more hold each).
   */
  #reidentify(): void {
    const left = this.#leftNode;
    if (this.#closed || left === undefined || this.#nodeId !== left.id || performance.now() >= left.until) return;
    const again = (): void => void setTimeout(() => this.#reidentify(), REIDENTIFY_RETRY_MS).unref();
    this.#pending.push({ key: PROBE, expireAt: 0, token: '', resolve: again, reject: again });
    this.#scheduled ??= setImmediate(() => this.#flush());
  }

  /**
   * A failed call on a cluster: where the slots are may have changed. ioredis follows MOVED
   * for a lone command, and for a pipeline only when every command that succeeded is read-only;
   * ours carry CLUSTER MYID and INFO, so it hands us the MOVED instead. And calls to a dead
   * master time out until ioredis's periodic refresh (5 s). Either way it keeps sending to the
   * wrong node: measured, one node's bucket reached the promoted replica 6 s after the others,
   * and its hold began only then.
   */
  #failedOnCluster(): void {
    this.#cluster?.refreshSlots();
  }

  /**
   * Another master: it has every nonce accepted only if each was acknowledged by every replica
   * the old master had (`replicaAcks` ≥ the most replicas it was seen with), for then the
   * promoted one was among them. With fewer acknowledgements the promoted replica may be one
   * that did not acknowledge (WAIT counts any n of them), or, without WAIT, none did: hold.
   * Not seen by the store: a replica that was disconnected at every check (INFO every 5 s,
   * each WAIT) and yet promoted.
   */
  #masterChanged(why: string): void {
    const seen = this.#replicasSeen;
    if (this.replicaAcks > 0 && seen !== undefined && seen > 0 && this.replicaAcks >= seen) {
      this.#logger.info(
        { event: 'wa_transport.replay_store.master_changed', store: 'redis', replicaAcks: this.replicaAcks },
        `${why}; every accepted nonce was acknowledged by each of the ${seen} replica(s): no hold`,
      );
      return;
    }
    this.#hold(this.restartHoldMs, why);
  }

  /** A canary gone or replaced means the keys around it may be gone too. */
  #checkCanary(reply: string): void {
    const generation = reply.startsWith('+') ? reply.slice(1) : reply;
    if (this.#generation !== undefined && generation !== this.#generation) {
      this.#hold(this.restartHoldMs, 'redis lost its keys (the canary key changed) and may have lost nonces');
    }
    this.#generation = generation;
  }

  #hold(holdMs: number, why: string): void {
    const now = performance.now();
    const until = now + holdMs;
    if (until <= this.#holdUntil) return;
    // A hold made longer while it runs (a young server's uptime read again) is not news.
    const holding = now < this.#holdUntil;
    this.#holdUntil = until;
    if (!holding) this.#stateLog.hold(holdMs, why);
  }

  #setAvailable(available: boolean, reason?: string): void {
    if (this.#available === available || this.#closed) return;
    this.#available = available;
    if (available) this.#stateLog.available();
    else this.#stateLog.unavailable(reason);
  }
}

/** What the buckets of one cluster store share. */
interface ClusterBucketLink {
  readonly cluster: Cluster;
  readonly stateLog: StateLog;
  /** Asks ioredis for the slot map again (rate-limited). */
  refreshSlots(): void;
  /** Tells every bucket that `id` no longer serves a slot one of them was on. */
  nodeLeft(id: string): void;
  onNodeLeft(listener: (id: string) => void): void;
}

/** Default number of hash slots a cluster store spreads its nonces over. */
const DEFAULT_CLUSTER_BUCKETS = 16;
/** Enough to spread over any cluster one would run (a bucket is one slot of 16,384). */
const MAX_CLUSTER_BUCKETS = 1024;

/**
 * The replay store on a Redis Cluster: nonces spread over `clusterBuckets` hash slots. Each
 * bucket is a `RedisReplayStore` of its own on the shared cluster client, whose keys all carry
 * one hash tag (`wa:n:{7}:…`): so each of its pipelines is for one slot, which ioredis sends to
 * the node serving it (following MOVED and failovers), its canary lives in that slot too, and
 * its checks (INFO, eviction policy, CLUSTER MYID) are those of the node holding its nonces. A
 * master that fails over holds only the buckets it served, for `restartHoldMs`.
 * https://redis.io/docs/latest/operate/oss_and_stack/reference/cluster-spec/#hash-tags
 */
export class RedisClusterReplayStore implements ReplayStore {
  readonly keyPrefix: string;
  readonly commandTimeoutMs: number;
  readonly retentionMs: number;
  readonly restartHoldMs: number;
  readonly replicaAcks: number;
  readonly #cluster: Cluster;
  readonly #seeds: readonly HostAndPort[];
  readonly #credentials: Credentials;
  #lastError: unknown;
  readonly #buckets: readonly RedisReplayStore[];
  readonly #stateLog: StateLog;
  #closed = false;

  constructor(options: RedisReplayStoreOptions) {
    checkOneConnection(options);
    if (options.clusterNodes === undefined) throw new WaTransportError(ErrorCode.CONFIG, 'clusterNodes is required');
    const nodes = parseAddresses(options.clusterNodes, 'clusterNodes');
    this.#seeds = nodes;
    const count = positiveInteger(options.clusterBuckets ?? DEFAULT_CLUSTER_BUCKETS, 'clusterBuckets');
    if (count > MAX_CLUSTER_BUCKETS)
      throw new WaTransportError(ErrorCode.CONFIG, `clusterBuckets must be at most ${MAX_CLUSTER_BUCKETS}`);
    const prefix = options.keyPrefix ?? DEFAULT_KEY_PREFIX;
    if (typeof prefix !== 'string' || /[{}]/.test(prefix)) {
      throw new WaTransportError(
        ErrorCode.CONFIG,
        'keyPrefix must be a string without { or }: on a cluster the store adds the hash tags',
      );
    }
    const {
      url: _url,
      client: _client,
      clusterNodes: _nodes,
      clusterBuckets: _buckets,
      username: _username,
      password: _password,
      ...rest
    } = options;
    this.#credentials = credentials(options);
    const base = connectionOptions(
      positiveInteger(options.commandTimeoutMs ?? DEFAULT_COMMAND_TIMEOUT_MS, 'commandTimeoutMs'),
      this.#credentials,
    );
    const { retryStrategy: _retry, enableOfflineQueue, ...redisOptions } = base;
    const { Cluster } = loadIoredis();
    this.#cluster = new Cluster(nodes, {
      enableOfflineQueue,
      redisOptions,
      clusterRetryStrategy: reconnectDelay,
    });
    // Each bucket reports what its calls meet; the last error is the cause of a failed connect.
    this.#cluster.on('error', (error: unknown) => {
      this.#lastError = error;
    });
    // One log for all buckets: an outage meets them together, and is one line, not sixteen.
    this.#stateLog = new StateLog(options.logger ?? silentLogger, () =>
      this.#buckets.every((b) => b.stats().available),
    );
    // One slot refresh at a time and at most every SLOTS_REFRESH_MIN_MS, however many buckets fail.
    let refreshedAt = Number.NEGATIVE_INFINITY;
    const refreshSlots = (): void => {
      if (performance.now() - refreshedAt < SLOTS_REFRESH_MIN_MS) return;
      refreshedAt = performance.now();
      this.#cluster.refreshSlotsCache();
    };
    const siblings: Array<(id: string) => void> = [];
    const shared: ClusterBucketLink = {
      cluster: this.#cluster,
      stateLog: this.#stateLog,
      refreshSlots,
      onNodeLeft: (listener) => void siblings.push(listener),
      nodeLeft: (id) => {
        for (const listener of siblings) listener(id);
      },
    };
    this.#buckets = Array.from(
      { length: count },
      (_, i) => new RedisReplayStore({ ...rest, keyPrefix: `${prefix}{${i}}:` }, shared),
    );
    const first = this.#buckets[0]!;
    this.keyPrefix = prefix;
    this.commandTimeoutMs = first.commandTimeoutMs;
    this.retentionMs = first.retentionMs;
    this.restartHoldMs = first.restartHoldMs;
    this.replicaAcks = first.replicaAcks;
  }

  recordIfAbsent(nonce: Uint8Array, timestamp: number, now: number, scope: string): Promise<boolean> {
    // Nonces (and request ids) are random: their first two bytes spread them evenly.
    const bucket = nonce.length >= 2 ? ((nonce[0]! << 8) | nonce[1]!) % this.#buckets.length : 0;
    return this.#buckets[bucket]!.recordIfAbsent(nonce, timestamp, now, scope);
  }

  stats(): RedisReplayStoreStats {
    const all = this.#buckets.map((b) => b.stats());
    return {
      roundTrips: all.reduce((sum, s) => sum + s.roundTrips, 0),
      commands: all.reduce((sum, s) => sum + s.commands, 0),
      pending: all.reduce((sum, s) => sum + s.pending, 0),
      available: all.every((s) => s.available),
    };
  }

  /**
   * Resolves once the cluster client is ready (slots known, `cluster_state:ok`), else
   * ERR_WA_REPLAY_STORE_UNAVAILABLE, saying the cluster's state when a node can tell it (ioredis
   * waits, silently, for a failed cluster to be ok again).
   */
  async connected(timeoutMs = DEFAULT_CONNECT_TIMEOUT_MS): Promise<void> {
    try {
      await this.#buckets[0]!.connected(timeoutMs);
    } catch (error) {
      const state = await this.#stateFromAnyNode();
      if (state !== undefined && state !== 'ok') throw unavailable(`cluster_state is ${state}`, error);
      throw this.#lastError === undefined ? error : unavailable('not connected', this.#lastError);
    }
  }

  /** `cluster_state` as the first seed node that answers tells it. */
  async #stateFromAnyNode(): Promise<string | undefined> {
    for (const { host, port } of this.#seeds) {
      const node = new (loadIoredis().Redis)(port, host, {
        ...connectionOptions(this.commandTimeoutMs, this.#credentials),
        lazyConnect: true,
        retryStrategy: () => null,
      });
      node.on('error', () => {});
      try {
        await withTimeout(node.connect(), this.commandTimeoutMs);
        const state = field(String(await withTimeout(node.cluster('INFO'), this.commandTimeoutMs)), 'cluster_state');
        if (state !== undefined) return state;
      } catch {
        // the next seed may answer
      } finally {
        node.disconnect();
      }
    }
    return undefined;
  }

  /**
   * `connected`, `cluster_state:ok`, then one round of every bucket's checks. Rejects with
   * ERR_WA_CONFIG when a master serving nonces may evict keys.
   */
  async checked(timeoutMs = DEFAULT_CONNECT_TIMEOUT_MS): Promise<void> {
    await this.connected(timeoutMs);
    let info: string;
    try {
      info = String(await withTimeout(this.#cluster.cluster('INFO'), this.commandTimeoutMs));
    } catch (error) {
      throw unavailable(error instanceof TimeoutError ? 'timed out' : 'command failed', error);
    }
    const state = field(info, 'cluster_state');
    if (state !== 'ok') throw unavailable(`cluster_state is ${state ?? 'unknown'}`);
    await Promise.all(this.#buckets.map((b) => b.checked(timeoutMs)));
  }

  /** `checked`, and no bucket holding: for a readiness probe. */
  async ready(timeoutMs = DEFAULT_CONNECT_TIMEOUT_MS): Promise<void> {
    await this.checked(timeoutMs);
    await Promise.all(this.#buckets.map((b) => b.ready(timeoutMs)));
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    await Promise.all(this.#buckets.map((b) => b.close()));
    this.#stateLog.close();
    const cluster = this.#cluster;
    if (cluster.status === 'ready') await withTimeout(cluster.quit(), this.commandTimeoutMs).catch(() => {});
    cluster.disconnect();
  }
}

/**
 * Creates the Redis replay store the options ask for (one server by `url` or `client`, a
 * master behind `sentinels`, or a Redis Cluster by `clusterNodes`) and waits for its first
 * connection and checks (up to `connectTimeoutMs`, default 5000), so that a service without its
 * replay store fails at start rather than answering every request with
 * ERR_WA_REPLAY_STORE_UNAVAILABLE.
 */
export async function createRedisReplayStore(
  options: RedisReplayStoreOptions & { clusterNodes: readonly string[]; connectTimeoutMs?: number },
): Promise<RedisClusterReplayStore>;
export async function createRedisReplayStore(
  options?: RedisReplayStoreOptions & { clusterNodes?: undefined; connectTimeoutMs?: number },
): Promise<RedisReplayStore>;
export async function createRedisReplayStore(
  options?: RedisReplayStoreOptions & { connectTimeoutMs?: number },
): Promise<RedisReplayStore | RedisClusterReplayStore>;
export async function createRedisReplayStore(
  options: RedisReplayStoreOptions & { connectTimeoutMs?: number } = {},
): Promise<RedisReplayStore | RedisClusterReplayStore> {
  const { connectTimeoutMs = DEFAULT_CONNECT_TIMEOUT_MS, ...storeOptions } = options;
  const store =
    storeOptions.clusterNodes === undefined
      ? new RedisReplayStore(storeOptions)
      : new RedisClusterReplayStore(storeOptions);
  try {
    await store.checked(connectTimeoutMs);
  } catch (error) {
    await store.close();
    throw error;
  }
  return store;
}

/**
 * ioredis is an optional peer dependency, loaded when the first store makes its own client: the
 * package and its other entry points (replayStoreFromConfig without a Redis URL among them)
 * work without it installed. It is CommonJS, so it loads synchronously, in the constructor.
 */
function loadIoredis(): typeof import('ioredis') {
  try {
    return createRequire(import.meta.url)('ioredis') as typeof import('ioredis');
  } catch (error) {
    const { code, message } = error as { code?: unknown; message?: unknown };
    if (code !== 'MODULE_NOT_FOUND' || typeof message !== 'string' || !message.includes("'ioredis'")) throw error;
    throw new WaTransportError(
      ErrorCode.CONFIG,
      'the Redis replay store needs ioredis, an optional peer dependency of wa-transport: npm install ioredis',
      { cause: error },
    );
  }
}

class TimeoutError extends Error {}

function withTimeout<T>(promise: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new TimeoutError('timed out')), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

/** A field of an `INFO` section, e.g. `run_id`. */
function field(info: string, name: string): string | undefined {
  return new RegExp(`^${name}:(\\S+)`, 'm').exec(info)?.[1];
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

/** Reconnect quickly but not in a busy loop. */
function reconnectDelay(times: number): number {
  return Math.min(times * RECONNECT_STEP_MS, RECONNECT_MAX_MS);
}

/** ioredis options of every connection the store makes itself. */
function connectionOptions(commandTimeoutMs: number, auth: Credentials = {}): Omit<RedisOptions, 'replyMapping'> {
  return {
    ...auth,
    commandTimeout: commandTimeoutMs,
    connectTimeout: Math.max(commandTimeoutMs, DEFAULT_CONNECT_TIMEOUT_MS),
    // While disconnected, fail at once instead of queueing: the caller gets its answer
    // (unavailable) now, not after the timeout, and nothing is replayed to Redis later.
    enableOfflineQueue: false,
    maxRetriesPerRequest: 0,
    autoResendUnfulfilledCommands: false,
    retryStrategy: reconnectDelay,
  };
}

type Credentials = { username?: string; password?: string };

/** `username` and `password`, checked: for the servers behind sentinels or of a cluster. */
function credentials(options: RedisReplayStoreOptions): Credentials {
  const { username, password } = options;
  if (username === undefined && password === undefined) return {};
  if (options.sentinels === undefined && options.clusterNodes === undefined) {
    throw new WaTransportError(
      ErrorCode.CONFIG,
      'username and password are for sentinels and clusterNodes: with url, put them in the URL; with client, in its options',
    );
  }
  if (typeof password !== 'string' || password === '') {
    throw new WaTransportError(ErrorCode.CONFIG, 'password is required (and must be a string) with username');
  }
  if (username !== undefined && (typeof username !== 'string' || username === '')) {
    throw new WaTransportError(ErrorCode.CONFIG, 'username must be a non-empty string');
  }
  return username === undefined ? { password } : { username, password };
}

/** One way to reach Redis: a URL, a client, sentinels or cluster nodes, never two. */
function checkOneConnection(options: RedisReplayStoreOptions): void {
  const given = (['url', 'client', 'sentinels', 'clusterNodes'] as const).filter((name) => options[name] !== undefined);
  if (given.length > 1) {
    throw new WaTransportError(
      ErrorCode.CONFIG,
      `give one of url, client, sentinels and clusterNodes, not ${given.join(' and ')}`,
    );
  }
  for (const name of ['sentinelMaster', 'sentinelPassword'] as const) {
    if (options[name] !== undefined && options.sentinels === undefined) {
      throw new WaTransportError(ErrorCode.CONFIG, `${name} needs sentinels`);
    }
  }
}

function sentinelPassword(password: string | undefined): { sentinelPassword?: string } {
  if (password === undefined) return {};
  if (typeof password !== 'string' || password === '') {
    throw new WaTransportError(ErrorCode.CONFIG, 'sentinelPassword must be a non-empty string');
  }
  return { sentinelPassword: password };
}

function sentinelMaster(name: string | undefined): string {
  if (typeof name !== 'string' || name.trim() === '') {
    throw new WaTransportError(
      ErrorCode.CONFIG,
      'sentinelMaster (the name the sentinels monitor the master under) is required with sentinels',
    );
  }
  return name;
}
