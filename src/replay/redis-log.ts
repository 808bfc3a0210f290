/**
 * The Redis replay store's state lines, rate-limited. A flapping Redis (a link that drops and
 * comes back, a server that hangs a second at a time) changes state with every batch, and a
 * cluster store's buckets meet one outage together: one node logged 301 warn lines in a 10 s
 * outage. Here:
 * - `unavailable` (warn): the first change to unavailable is logged at once; the changes that
 *   follow within `intervalMs` are counted, and logged as one line (`suppressed`: how many) when
 *   the interval ends, which starts the next one. A flapping store logs a line per interval.
 * - `available` (info): logged when the last line said unavailable and the whole store is
 *   available (a cluster's every bucket).
 * - `hold` (warn): at most one line per `intervalMs`; the next says how many were left out.
 */
import type { Logger } from '../log.js';

/** At most one warn line per kind in this time. */
export const STATE_LOG_INTERVAL_MS = 5000;

export class StateLog {
  readonly #logger: Logger;
  readonly #available: () => boolean;
  readonly #intervalMs: number;
  /** What the last availability line said; undefined before the first. */
  #saidAvailable: boolean | undefined;
  #unavailableAt = -Infinity;
  #suppressed = 0;
  #lastReason: string | undefined;
  #timer: NodeJS.Timeout | undefined;
  #holdAt = -Infinity;
  #holdsSuppressed = 0;

  /** @param available whether the whole store is available now (a cluster: every bucket). */
  constructor(logger: Logger, available: () => boolean, intervalMs = STATE_LOG_INTERVAL_MS) {
    this.#logger = logger;
    this.#available = available;
    this.#intervalMs = intervalMs;
  }

  available(): void {
    if (this.#saidAvailable === true || !this.#available()) return;
    this.#saidAvailable = true;
    this.#logger.info({ event: 'wa_transport.replay_store.available', store: 'redis' }, 'replay store available');
  }

  unavailable(reason: string | undefined): void {
    const now = performance.now();
    if (now - this.#unavailableAt >= this.#intervalMs) {
      this.#sayUnavailable(reason, 0, 'replay store unavailable: rejecting envelopes until it is back');
      return;
    }
    this.#suppressed++;
    this.#lastReason = reason;
    this.#timer ??= setTimeout(() => this.#summarise(), this.#unavailableAt + this.#intervalMs - now).unref();
  }

  hold(holdMs: number, why: string): void {
    const now = performance.now();
    if (now - this.#holdAt < this.#intervalMs) {
      this.#holdsSuppressed++;
      return;
    }
    const suppressed = this.#holdsSuppressed;
    this.#holdAt = now;
    this.#holdsSuppressed = 0;
    this.#logger.warn(
      { event: 'wa_transport.replay_store.hold', store: 'redis', holdMs, ...(suppressed > 0 ? { suppressed } : {}) },
      `${why}: refusing until they would have expired`,
    );
  }

  close(): void {
    clearTimeout(this.#timer);
    this.#timer = undefined;
  }

  /** The changes to unavailable counted in the interval now ending, as one line; then the state now. */
  #summarise(): void {
    this.#timer = undefined;
    const count = this.#suppressed;
    if (count === 0) return;
    const seconds = this.#intervalMs / 1000;
    this.#sayUnavailable(
      this.#lastReason,
      count,
      `replay store unavailable ${count} more time(s) in ${seconds} s: rejecting envelopes while it is`,
    );
    this.available();
  }

  #sayUnavailable(reason: string | undefined, suppressed: number, message: string): void {
    this.#unavailableAt = performance.now();
    this.#suppressed = 0;
    this.#saidAvailable = false;
    this.#logger.warn(
      {
        event: 'wa_transport.replay_store.unavailable',
        store: 'redis',
        reason,
        ...(suppressed > 0 ? { suppressed } : {}),
      },
      message,
    );
  }
}
