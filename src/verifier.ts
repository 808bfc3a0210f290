/**
 * The replay policy (docs/PROTOCOL.md §4.2), applied to envelopes that are already
 * authenticated: the timestamp must lie within [now − window, now + skew], and the nonce must
 * not have been accepted before. Only authentic envelopes reach the store, so forged traffic
 * cannot fill it.
 *
 * The verifier's clock never moves backwards: `now` is the latest reading seen. If the system
 * clock jumps back, old envelopes whose nonces have already been forgotten would otherwise
 * fall inside the window again and be accepted. The price: after a forward jump, envelopes
 * are rejected as expired until real time catches up. The store keeps a clock of its own too
 * (ReplayStore.recordIfAbsent), so a new verifier or a process with a stepped-back clock
 * cannot undo this either.
 */
import { DEFAULT_MAX_SKEW_MS, DEFAULT_WINDOW_MS } from './defaults.js';
import { ErrorCode, WaTransportError, isWaTransportError } from './errors.js';
import { MemoryReplayStore } from './replay/memory.js';
import type { ReplayStore } from './replay/store.js';
import { nonNegativeInteger } from './options.js';

/** Milliseconds since the Unix epoch. */
export type Clock = () => number;

export interface VerifierOptions {
  /**
   * How old an envelope may be, in ms.
   * @default 10_000
   */
  windowMs?: number;
  /**
   * How far ahead of our clock an envelope's timestamp may be, in ms.
   * @default 10_000
   */
  maxSkewMs?: number;
  /**
   * Where accepted nonces are recorded. Its `retentionMs` must be at least `windowMs`.
   * Default: a new `MemoryReplayStore` that retains nonces for `windowMs`.
   */
  replayStore?: ReplayStore;
  /**
   * The clock envelopes are judged by, in ms since the epoch.
   * @default Date.now
   */
  clock?: Clock;
}

export class Verifier {
  readonly windowMs: number;
  readonly maxSkewMs: number;
  readonly store: ReplayStore;
  readonly #clock: Clock;
  #latest = -Infinity;

  constructor(options: VerifierOptions = {}) {
    this.windowMs = nonNegativeInteger(options.windowMs ?? DEFAULT_WINDOW_MS, 'windowMs');
    this.maxSkewMs = nonNegativeInteger(options.maxSkewMs ?? DEFAULT_MAX_SKEW_MS, 'maxSkewMs');
    this.#clock = options.clock ?? Date.now;
    this.store =
      options.replayStore ??
      new MemoryReplayStore({ rememberedSince: this.#clock(), retentionMs: Math.max(this.windowMs, 1) });
    const retention: unknown = this.store.retentionMs;
    if (typeof retention !== 'number' || !Number.isSafeInteger(retention) || retention < this.windowMs) {
      // A shorter retention would let an envelope through after its nonce was forgotten.
      throw new WaTransportError(
        ErrorCode.CONFIG,
        `the replay store remembers nonces for ${String(retention)} ms, less than windowMs (${this.windowMs}); ` +
          'give the store a retentionMs of at least the longest window of any verifier that shares it',
      );
    }
  }

  /** The clock as the verifier sees it: never earlier than a previous reading. */
  now(): number {
    const reading = this.#clock();
    if (reading > this.#latest) this.#latest = reading;
    return this.#latest;
  }

  /**
   * Throws ERR_WA_EXPIRED or ERR_WA_FUTURE unless now − window ≤ timestamp ≤ now + skew, and
   * ERR_WA_EXPIRED for an envelope sealed before the replay store began remembering.
   */
  checkTime(timestamp: number, now: number): void {
    if (timestamp < now - this.windowMs) throw new WaTransportError(ErrorCode.EXPIRED);
    const since = this.store.rememberedSince;
    if (since !== undefined && timestamp < since) throw new WaTransportError(ErrorCode.EXPIRED);
    if (timestamp > now + this.maxSkewMs) throw new WaTransportError(ErrorCode.FUTURE);
  }

  /**
   * Records the nonce of an authentic, timely envelope (`scope`: its key id). Returns nothing
   * when it is new; throws (or rejects) ERR_WA_REPLAYED when it was seen, and fails closed on
   * store errors.
   */
  recordNonce(nonce: Uint8Array, timestamp: number, now: number, scope: string): void | Promise<void> {
    let verdict: boolean | Promise<boolean>;
    try {
      verdict = this.store.recordIfAbsent(nonce, timestamp, now, scope);
    } catch (error) {
      throw storeFailure(error);
    }
    if (!isThenable(verdict)) return requireFresh(verdict);
    return Promise.resolve(verdict).then(requireFresh, (error: unknown) => {
      throw storeFailure(error);
    });
  }
}

/** Only `true` means fresh: any other answer, however truthy, counts as a replay. */
function requireFresh(fresh: unknown): void {
  if (fresh !== true) throw new WaTransportError(ErrorCode.REPLAYED);
}

function isThenable(value: unknown): value is PromiseLike<unknown> {
  return typeof (value as { then?: unknown } | null)?.then === 'function';
}

/** Anything a store throws that is not one of our codes means it could not be asked. */
function storeFailure(error: unknown): WaTransportError {
  if (isWaTransportError(error)) return error;
  return new WaTransportError(ErrorCode.REPLAY_STORE_UNAVAILABLE, undefined, { cause: error });
}
