/**
 * A two-level replay store: this process's `MemoryReplayStore` first, a shared store (Redis)
 * second. It never accepts what the shared store would reject: a `true` answer always comes
 * from the shared store (or, only with `onUnavailable: 'local'`, from the local one while the
 * shared store cannot be asked).
 *
 * Why the local level: a replay sent again and again to the same node (a flood of one
 * captured envelope) is refused without a round trip, and with `onUnavailable: 'local'` the
 * node still refuses replays of what it has seen itself while Redis is down.
 *
 * The local store is written before the shared one is asked, because `ReplayStore` has no
 * lookup without a write. So a local hit means "this node already sent this nonce to the
 * shared store": a replay, a concurrent duplicate, or a resend of an envelope whose check
 * failed. All three are refused (ERR_WA_REPLAYED) — the last one fails closed: a sender that
 * retries after ERR_WA_REPLAY_STORE_UNAVAILABLE must seal again (a new nonce), which it should
 * do anyway since the envelope's window is running out.
 */
import { ErrorCode, isWaTransportError } from '../errors.js';
import { type Logger, silentLogger } from '../log.js';
import { MemoryReplayStore } from './memory.js';
import type { ReplayStore } from './store.js';

/**
 * - `reject` (default): fail closed, ERR_WA_REPLAY_STORE_UNAVAILABLE.
 * - `local`: accept what this node has not seen. Weaker: during the outage, and for one window
 *   after it, an envelope accepted by one node can be replayed once to each other node. The
 *   local store still refuses what it cannot vouch for: envelopes sealed before it started
 *   (a node restarted during the outage does not accept replays of its previous life).
 */
export type UnavailablePolicy = 'reject' | 'local';

export interface TieredReplayStoreOptions {
  /** The shared store, e.g. a `RedisReplayStore`. The caller closes it. */
  shared: ReplayStore;
  /** This process's level. Default: a new `MemoryReplayStore` with the shared store's retention. */
  local?: MemoryReplayStore;
  /**
   * What to answer when the shared store cannot be asked.
   * @default 'reject'
   */
  onUnavailable?: UnavailablePolicy;
  /** Told when `onUnavailable: 'local'` starts answering alone. Default: silent. */
  logger?: Logger;
}

export class TieredReplayStore implements ReplayStore {
  readonly onUnavailable: UnavailablePolicy;
  /** The shorter of the two levels' retentions: the local level refuses what it has forgotten. */
  readonly retentionMs: number;
  readonly #shared: ReplayStore;
  readonly #local: MemoryReplayStore;
  readonly #logger: Logger;
  #degraded = false;

  constructor(options: TieredReplayStoreOptions) {
    this.#shared = options.shared;
    this.#local = options.local ?? new MemoryReplayStore({ retentionMs: options.shared.retentionMs });
    this.onUnavailable = options.onUnavailable ?? 'reject';
    this.#logger = options.logger ?? silentLogger;
    this.retentionMs = Math.min(this.#shared.retentionMs, this.#local.retentionMs);
  }

  recordIfAbsent(nonce: Uint8Array, timestamp: number, now: number, scope: string): boolean | Promise<boolean> {
    // Local hit: this node has passed the nonce to the shared store before. Refuse at once.
    if (!this.#local.recordIfAbsent(nonce, timestamp, now)) return false;
    return this.#askShared(nonce, timestamp, now, scope);
  }

  async #askShared(nonce: Uint8Array, timestamp: number, now: number, scope: string): Promise<boolean> {
    let fresh: boolean;
    try {
      fresh = await this.#shared.recordIfAbsent(nonce, timestamp, now, scope);
    } catch (error) {
      const cannotAsk = !isWaTransportError(error) || error.code === ErrorCode.REPLAY_STORE_UNAVAILABLE;
      if (this.onUnavailable !== 'local' || !cannotAsk) throw error;
      // Alone, the local level vouches only for what this process could have seen: nothing
      // sealed before it started (a restart during the outage must not forget the past).
      if (timestamp < this.#local.rememberedSince) throw error;
      this.#setDegraded(true);
      return true; // the local store had not seen it, and now has it
    }
    this.#setDegraded(false);
    return fresh === true;
  }

  #setDegraded(degraded: boolean): void {
    if (this.#degraded === degraded) return;
    this.#degraded = degraded;
    if (degraded) {
      this.#logger.warn(
        { event: 'wa_transport.replay_store.local_only', store: 'tiered' },
        'shared replay store unavailable: checking nonces against this node only',
      );
    } else {
      this.#logger.info({ event: 'wa_transport.replay_store.shared', store: 'tiered' }, 'shared replay store back');
    }
  }

  /** Clears the local level; the shared store is the caller's to close. */
  close(): void {
    this.#local.close();
  }
}
