/**
 * The replay store: where a verifier records the nonces it has accepted. The verifier owns
 * this interface; stores implement it (`MemoryReplayStore` for one process, a shared store
 * for several CoreApp nodes).
 *
 * Retention belongs to the store, not to whoever records: a store remembers every nonce until
 * `timestamp + retentionMs` by its own clock, whatever window the recording verifier had. A
 * verifier refuses a store that remembers less than its window (docs/PROTOCOL.md §4.3), so
 * verifiers with different windows, rotations and rolling config changes can share one store.
 */

export interface ReplayStore {
  /**
   * How long the store remembers a nonce, in ms, counted from the envelope's (authenticated)
   * timestamp. A verifier whose window is longer refuses this store (ERR_WA_CONFIG): it could
   * accept an envelope whose nonce the store has already forgotten.
   */
  readonly retentionMs: number;

  /**
   * Atomically records `nonce` unless it is already recorded, and reports which happened:
   * `true` when the nonce was new (it is now recorded), `false` when it was already there.
   *
   * - `nonce` is the envelope's 24-byte nonce (or a request id's key), authenticated before
   *   this call. It may be a view into a larger buffer: copy what you keep.
   * - `timestamp` is the envelope's authenticated timestamp (ms since the epoch). The store
   *   keeps the entry until `timestamp + retentionMs` by its own clock.
   * - `now` is the verifier's clock for this call (it never moves backwards).
   * - `scope` is the envelope's key id (8 hex characters): a shared store keeps each secret's
   *   nonces apart, so deployments with different secrets cannot block each other's nonces.
   *
   * Must never answer `true` for a nonce it may have forgotten: when `timestamp + retentionMs`
   * has passed by the store's own clock (which never moves backwards), it throws or rejects
   * with ERR_WA_EXPIRED, whatever the verifier's clock says — this is what keeps a clock step
   * or a verifier with the wrong window from reopening the door to replays.
   *
   * May answer synchronously (no promise on the hot path) or asynchronously (so a store
   * can batch concurrent calls into one round trip). Must fail closed: throw or reject with
   * `ERR_WA_REPLAY_CACHE_FULL` or `ERR_WA_REPLAY_STORE_UNAVAILABLE` rather than answer
   * `true` without having recorded the nonce.
   */
  recordIfAbsent(nonce: Uint8Array, timestamp: number, now: number, scope: string): boolean | Promise<boolean>;

  /**
   * When this store began remembering (ms since the epoch, verifier's clock), for a store that
   * starts empty when its process starts. The verifier refuses envelopes sealed before it as
   * ERR_WA_EXPIRED: the store cannot know whether a previous process accepted them. Leave it
   * undefined for a store that outlives processes (Redis). A store that can hang should bound
   * its own calls with a timeout: the verifier waits as long as the store does.
   */
  readonly rememberedSince?: number;

  /** Releases timers and connections. */
  close?(): void | Promise<void>;
}
