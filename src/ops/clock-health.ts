/**
 * Clock health: the window is only 10 s, so a peer whose clock drifts starts failing with
 * ERR_WA_EXPIRED / ERR_WA_FUTURE and, from its logs alone, mysteriously. This observer keeps
 * the skew (envelope timestamp − our clock) of recent authentic envelopes and warns, with the
 * measured offset, once the median passes a fraction of the limit: while messages are still
 * accepted, so the clock can be fixed before anything fails.
 *
 * The median of recent samples, not the latest one: a single envelope delayed in a queue
 * must not raise an alarm. Skew includes transit time, so a healthy link shows a small
 * negative median. What was sealed after our clock (skew > 0) is compared with `maxSkewMs`;
 * what looks older (skew < 0) with `windowMs`, the same bounds the verifier enforces.
 *
 * An operator's alarm must not be something an attacker can raise, so only evidence that
 * someone without the secret cannot manufacture counts:
 * - accepted envelopes: only a holder of the secret seals them, and each is accepted once;
 * - ERR_WA_FUTURE: a timestamp further ahead than our clock was put there by a peer whose
 *   clock ran ahead. Replaying it later only makes it older, so it is accepted or expires.
 * Not ERR_WA_EXPIRED (nor ERR_WA_REPLAYED): an envelope captured earlier and replayed after
 * the window is authentic and old, exactly like one from a peer whose clock is behind; a
 * replay tells of the attacker's delay, not of a clock. The limit this leaves: a peer already
 * more than `windowMs` behind sends nothing that is accepted, so only the ERR_WA_EXPIRED count
 * (Metrics) shows it, not this alarm; and an attacker on the path who holds back genuine
 * envelopes (less than the window) does move the median behind, as a slow queue would, which
 * the warning names.
 */
import { callSafely } from '../callbacks.js';
import { ErrorCode } from '../errors.js';
import { type Logger, silentLogger } from '../log.js';
import {
  nonNegativeInteger,
  nonNegativeNumber,
  openFraction,
  optionalFunction,
  optionsObject,
  positiveInteger,
} from '../options.js';
import { type EndpointObserver, type OpenedEvent, type RejectedEvent, TAKE_ENDPOINT_LOGGER } from '../observer.js';
import { DEFAULT_MAX_SKEW_MS, DEFAULT_WINDOW_MS } from '../defaults.js';
import type { Clock } from '../verifier.js';

export interface ClockHealthOptions {
  /**
   * The endpoint's replay window, in ms: match the endpoint's `windowMs`.
   * @default 10_000
   */
  windowMs?: number;
  /**
   * The endpoint's allowed skew, in ms: match the endpoint's `maxSkewMs`.
   * @default 10_000
   */
  maxSkewMs?: number;
  /**
   * Warn when |median skew| passes this fraction of the limit on its side.
   * @default 0.5
   */
  warnFraction?: number;
  /**
   * How many recent samples the median is taken over.
   * @default 31
   */
  samples?: number;
  /**
   * Fewest samples before judging.
   * @default 5
   */
  minSamples?: number;
  /**
   * At most one warning per this many ms while the offset stays too large.
   * @default 60_000
   */
  warnEveryMs?: number;
  /** Where the warning goes (pino or anything with `warn` and `info`). Default: the logger of the endpoint it observes, else silent. */
  logger?: Logger;
  /** Also told of each warning, e.g. to raise an alert. */
  onWarning?(report: ClockHealthReport): void;
  /**
   * Give it the endpoint's clock.
   * @default Date.now
   */
  clock?: Clock;
}

export interface ClockHealthReport {
  /** Median of recent skews (ms); > 0: peers' clocks are ahead of ours. null before any sample. */
  readonly medianSkewMs: number | null;
  readonly minSkewMs: number | null;
  readonly maxSkewMs: number | null;
  /** Samples the median is taken over. */
  readonly samples: number;
  /** The limit on the median's side (maxSkewMs ahead, windowMs behind). */
  readonly limitMs: number;
  /** 'unknown' before `minSamples`; 'drifting' past the warning fraction. */
  readonly status: 'unknown' | 'ok' | 'drifting';
}

/** Re-judging at most this often (ms) keeps the sort off most `open` calls. */
const EVALUATE_EVERY_MS = 1000;

export class ClockHealth implements EndpointObserver {
  readonly windowMs: number;
  readonly maxSkewMs: number;
  readonly warnFraction: number;
  readonly minSamples: number;
  readonly warnEveryMs: number;
  readonly #ring: number[];
  #next = 0;
  #filled = 0;
  #lastEvaluated = -Infinity;
  #lastWarned = -Infinity;
  #drifting = false;
  #logger: Logger;
  readonly #ownLogger: boolean;
  readonly #onWarning: ((report: ClockHealthReport) => void) | undefined;
  readonly #clock: Clock;

  constructor(options: ClockHealthOptions = {}) {
    optionsObject(options, 'ClockHealth options');
    // The same checks as the endpoint's, whose limits these must match.
    this.windowMs = nonNegativeInteger(options.windowMs ?? DEFAULT_WINDOW_MS, 'windowMs');
    this.maxSkewMs = nonNegativeInteger(options.maxSkewMs ?? DEFAULT_MAX_SKEW_MS, 'maxSkewMs');
    this.warnFraction = openFraction(options.warnFraction ?? 0.5, 'warnFraction');
    const samples = positiveInteger(options.samples ?? 31, 'samples');
    this.#ring = [];
    this.#ring.length = samples;
    this.minSamples = Math.min(positiveInteger(options.minSamples ?? 5, 'minSamples'), samples);
    this.warnEveryMs = nonNegativeNumber(options.warnEveryMs ?? 60_000, 'warnEveryMs');
    this.#logger = options.logger ?? silentLogger;
    this.#ownLogger = options.logger !== undefined;
    this.#onWarning = optionalFunction(options.onWarning, 'onWarning');
    this.#clock = optionalFunction(options.clock, 'clock') ?? Date.now;
  }

  /** Without a `logger` option, the endpoint's (`createEndpoint({ logger, observer })`). */
  [TAKE_ENDPOINT_LOGGER](logger: Logger): void {
    if (!this.#ownLogger) this.#logger = logger;
  }

  opened(event: OpenedEvent): void {
    this.#add(event.skewMs, false);
  }

  rejected(event: RejectedEvent): void {
    // Judged at once: it is exactly what this observer exists to explain. ERR_WA_EXPIRED is
    // left out on purpose (see the top of this file): a replay of old traffic looks the same.
    if (event.code === ErrorCode.FUTURE && event.skewMs !== undefined) this.#add(event.skewMs, true);
  }

  /** The current view, computed now. */
  report(): ClockHealthReport {
    const sorted = this.#ring.slice(0, this.#filled).sort((a, b) => a - b);
    if (sorted.length === 0) {
      return {
        medianSkewMs: null,
        minSkewMs: null,
        maxSkewMs: null,
        samples: 0,
        limitMs: this.windowMs,
        status: 'unknown',
      };
    }
    const mid = sorted.length >> 1;
    const median = sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
    const limitMs = median > 0 ? this.maxSkewMs : this.windowMs;
    const status =
      sorted.length < this.minSamples ? 'unknown' : Math.abs(median) > this.warnFraction * limitMs ? 'drifting' : 'ok';
    return {
      medianSkewMs: median,
      minSkewMs: sorted[0]!,
      maxSkewMs: sorted[sorted.length - 1]!,
      samples: sorted.length,
      limitMs,
      status,
    };
  }

  #add(skewMs: number, now: boolean): void {
    this.#ring[this.#next] = skewMs;
    this.#next = (this.#next + 1) % this.#ring.length;
    if (this.#filled < this.#ring.length) this.#filled++;
    const time = this.#clock();
    if (!now && time - this.#lastEvaluated < EVALUATE_EVERY_MS && this.#filled !== this.minSamples) return;
    this.#lastEvaluated = time;
    this.#evaluate(time);
  }

  #evaluate(time: number): void {
    const report = this.report();
    if (report.status === 'drifting') {
      this.#drifting = true;
      if (time - this.#lastWarned < this.warnEveryMs) return;
      this.#lastWarned = time;
      const median = Math.round(report.medianSkewMs!);
      const code = median > 0 ? 'ERR_WA_FUTURE' : 'ERR_WA_EXPIRED';
      // Past the limit itself the verifier already refuses the peer's envelopes: saying "before
      // they are rejected" to an operator whose every request fails would send them the wrong way.
      const rejecting = Math.abs(report.medianSkewMs!) > report.limitMs;
      this.#logger.warn(
        {
          event: 'wa_transport.clock_skew',
          medianSkewMs: median,
          minSkewMs: report.minSkewMs,
          maxSkewMs: report.maxSkewMs,
          limitMs: report.limitMs,
          samples: report.samples,
          rejecting,
        },
        `peer clock offset ${median > 0 ? '+' : ''}${median} ms (median of ${report.samples}) ` +
          (rejecting
            ? `is past the ${report.limitMs} ms limit: envelopes ARE being rejected as ${code}; fix NTP on both sides`
            : `is past ${Math.round(this.warnFraction * 100)}% of the ${report.limitMs} ms limit: ` +
              `check NTP on both sides before envelopes are rejected as ${code}`) +
          (median < 0 ? ' (or look for a queue delaying messages)' : ''),
      );
      if (this.#onWarning) callSafely(this.#logger, 'onWarning', () => this.#onWarning?.(report));
    } else if (report.status === 'ok' && this.#drifting) {
      this.#drifting = false;
      this.#lastWarned = -Infinity;
      this.#logger.info(
        { event: 'wa_transport.clock_skew_recovered', medianSkewMs: Math.round(report.medianSkewMs!) },
        'peer clock offset is back within limits',
      );
    }
  }
}
