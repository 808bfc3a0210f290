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
 *   after it, an envelope accepted by one node can be replayed once to each other node.
 */
export type UnavailablePolicy = 'reject' | 'local';

export interface TieredReplayStoreOptions {
  /** The shared store, e.g. a `RedisReplayStore`. The caller closes it. */
  shared: ReplayStore;
  /** This process's level. Default: a new `MemoryReplayStore`. */
  local?: MemoryReplayStore;
  /** What to answer when the shared store cannot be asked. Default `reject`. */
  onUnavailable?: UnavailablePolicy;
  /** Told when `onUnavailable: 'local'` starts answering alone. Default silent. */
  logger?: Logger;
}

export class TieredReplayStore implements ReplayStore {
  readonly onUnavailable: UnavailablePolicy;
  readonly #shared: ReplayStore;
  readonly #local: MemoryReplayStore;
  readonly #logger: Logger;
  #degraded = false;

  constructor(options: TieredReplayStoreOptions) {
    this.#shared = options.shared;
    this.#local = options.local ?? new MemoryReplayStore();
    this.onUnavailable = options.onUnavailable ?? 'reject';
    this.#logger = options.logger ?? silentLogger;
  }

  recordIfAbsent(nonce: Uint8Array, expiresAt: number, now: number): boolean | Promise<boolean> {
    // Local hit: this node has passed the nonce to the shared store before. Refuse at once.
    if (!this.#local.recordIfAbsent(nonce, expiresAt, now)) return false;
    return this.#askShared(nonce, expiresAt, now);
  }

  async #askShared(nonce: Uint8Array, expiresAt: number, now: number): Promise<boolean> {
    let fresh: boolean;
    try {
      fresh = await this.#shared.recordIfAbsent(nonce, expiresAt, now);
    } catch (error) {
      const cannotAsk = !isWaTransportError(error) || error.code === ErrorCode.REPLAY_STORE_UNAVAILABLE;
      if (this.onUnavailable !== 'local' || !cannotAsk) throw error;
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
