/**
 * The replay store: where a verifier records the nonces it has accepted. The verifier owns
 * this interface; stores implement it (`MemoryReplayStore` for one process, a shared store
 * for several CoreApp nodes).
 */

export interface ReplayStore {
  /**
   * Atomically records `nonce` unless it is already recorded, and reports which happened:
   * `true` when the nonce was new (it is now recorded), `false` when it was already there.
   *
   * - `nonce` is the envelope's 24-byte nonce, authenticated before this call. It may be a
   *   view into a larger buffer: copy what you keep.
   * - `expiresAt` (ms since the epoch, verifier's clock) is when the entry may be forgotten:
   *   after it, the verifier rejects the envelope as expired anyway.
   * - `now` is the verifier's clock for this call (it never moves backwards).
   *
   * May answer synchronously (no promise on the hot path) or asynchronously (so a store
   * can batch concurrent calls into one round trip). Must fail closed: throw or reject with
   * `ERR_WA_REPLAY_CACHE_FULL` or `ERR_WA_REPLAY_STORE_UNAVAILABLE` rather than answer
   * `true` without having recorded the nonce.
   */
  recordIfAbsent(nonce: Uint8Array, expiresAt: number, now: number): boolean | Promise<boolean>;

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
