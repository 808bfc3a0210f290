/**
 * Numbers to watch: an `EndpointObserver` that counts sealed, opened and rejected envelopes
 * (by code), records replay-store latency, reads the replay cache's size, and calls a hook
 * when rejections cross a rate (a burst of forgeries or replays is an incident).
 *
 * `snapshot()` returns a plain object for any monitoring system; `registerPrometheus()`
 * mirrors the same numbers into prom-client when it is installed (an optional dependency: a
 * dynamic import, so users without it pay nothing).
 *
 * Observer methods run inside `Endpoint.open`; nothing here may throw into it, so the hook
 * and the cache probe are guarded.
 */
import { callSafely } from '../callbacks.js';
import { ErrorCode, WaTransportError } from '../errors.js';
import { type Logger, silentLogger } from '../log.js';
import { optionalFunction, optionsObject, positiveInteger } from '../options.js';
import { type EndpointObserver, type OpenedEvent, type RejectedEvent, TAKE_ENDPOINT_LOGGER } from '../observer.js';
import type { ReplayStore } from '../replay/store.js';
import type { Clock } from '../verifier.js';

/** Upper bounds (ms) of the store-latency histogram: a memory store is ~0, Redis ~0.2–5. */
export const STORE_LATENCY_BUCKETS_MS: readonly number[] = [0.1, 0.5, 1, 2.5, 5, 10, 25, 50, 100, 250, 1000];

/** Anything that can report how many nonces it holds (`MemoryReplayStore` can). */
export interface ReplayCacheStats {
  stats(): { readonly entries: number; readonly bytes?: number };
}

export interface RejectionSpike {
  /** Rejections in the last `windowMs`, at least `threshold`. */
  readonly count: number;
  readonly windowMs: number;
  /** Those rejections by code. */
  readonly byCode: Partial<Record<ErrorCode, number>>;
  /** When the threshold was crossed (the metrics clock, ms). */
  readonly at: number;
}

export interface RejectionAlertOptions {
  /** Rejections within `windowMs` that make a spike. */
  threshold: number;
  /**
   * The sliding window, in ms.
   * @default 60_000
   */
  windowMs?: number;
  /** Only these codes count. Default: every code. */
  codes?: readonly ErrorCode[];
  /**
   * Called once when the rate crosses the threshold; called again only after the rate has
   * dropped below it (seen at a later rejection) and crossed it anew.
   */
  onSpike(spike: RejectionSpike): void;
}

export interface MetricsOptions {
  /**
   * The endpoint's replay store, any kind (what `replayStoreFromConfig` returns is typed
   * `ReplayStore`). `snapshot()` reports its size when it counts its entries
   * (`MemoryReplayStore`), else null (a Redis store counts round trips, not nonces).
   */
  replayStore?: ReplayStore | ReplayCacheStats;
  rejectionAlert?: RejectionAlertOptions;
  /**
   * Milliseconds since the epoch, for the rejection alert's window.
   * @default Date.now
   */
  clock?: Clock;
  /** Where a failing hook or cache probe is reported. Default: the logger of the endpoint it observes, else silent. */
  logger?: Pick<Logger, 'warn'>;
}

export interface MetricsSnapshot {
  sealed: number;
  sealedBytes: number;
  opened: number;
  /**
   * `opened` by the key id it was sealed with: how a rotation's traffic moves to the new
   * secret. Only accepted envelopes count, so the keys are configured key ids (at most
   * 16 distinct ones, then "other").
   */
  openedByKeyId: Record<string, number>;
  /** Every rejection, of any code. */
  rejectedTotal: number;
  rejected: Partial<Record<ErrorCode, number>>;
  /** Live nonces in the replay cache, or null without a `replayStore` that reports stats. */
  replayCacheEntries: number | null;
  replayCacheBytes: number | null;
  /** Time opened envelopes waited for the replay store (0 for a synchronous store). */
  storeLatencyMs: {
    count: number;
    sum: number;
    max: number;
    /** Cumulative counts per upper bound, as in Prometheus: `le` → count ≤ le. */
    buckets: Array<{ le: number; count: number }>;
  };
  rejectionSpikes: number;
}

export interface PrometheusOptions {
  /** A prom-client `Registry`. Default: prom-client's global registry. */
  registry?: unknown;
  /**
   * Metric name prefix.
   * @default 'wa_transport_'
   */
  prefix?: string;
}

/** The prom-client metrics this class feeds, once registered. */
interface PromMetrics {
  sealed: { inc(value?: number): void };
  sealedBytes: { inc(value?: number): void };
  opened: { inc(labels: { key_id: string }, value?: number): void };
  rejected: { inc(labels: { code: string }, value?: number): void };
  storeLatency: { observe(value: number): void };
}

/** Most distinct `key_id` label values; later ones count as "other". */
const MAX_KEY_ID_LABELS = 16;

export class Metrics implements EndpointObserver {
  #sealed = 0;
  #sealedBytes = 0;
  #opened = 0;
  readonly #openedByKeyId = new Map<string, number>();
  #rejectedTotal = 0;
  readonly #rejected = new Map<ErrorCode, number>();
  readonly #latencyBuckets = new Array<number>(STORE_LATENCY_BUCKETS_MS.length).fill(0);
  #latencyCount = 0;
  #latencySum = 0;
  #latencyMax = 0;
  #spikes = 0;
  readonly #store: ReplayStore | ReplayCacheStats | undefined;
  readonly #alert: RejectionWindow | undefined;
  #logger: Pick<Logger, 'warn'>;
  readonly #ownLogger: boolean;
  #prom: PromMetrics | undefined;

  constructor(options: MetricsOptions = {}) {
    optionsObject(options, 'Metrics options');
    this.#store = options.replayStore;
    this.#logger = options.logger ?? silentLogger;
    this.#ownLogger = options.logger !== undefined;
    const clock = optionalFunction(options.clock, 'clock') ?? Date.now;
    this.#alert = options.rejectionAlert && new RejectionWindow(options.rejectionAlert, clock);
  }

  /** Without a `logger` option, the endpoint's (`createEndpoint({ logger, observer })`). */
  [TAKE_ENDPOINT_LOGGER](logger: Logger): void {
    if (!this.#ownLogger) this.#logger = logger;
  }

  sealed(bytes: number): void {
    this.#sealed++;
    this.#sealedBytes += bytes;
    this.#prom?.sealed.inc();
    this.#prom?.sealedBytes.inc(bytes);
  }

  opened(event: OpenedEvent): void {
    this.#opened++;
    const keyId = this.#keyIdLabel(event.keyId);
    this.#openedByKeyId.set(keyId, (this.#openedByKeyId.get(keyId) ?? 0) + 1);
    const ms = event.storeMs;
    this.#latencyCount++;
    this.#latencySum += ms;
    if (ms > this.#latencyMax) this.#latencyMax = ms;
    const i = STORE_LATENCY_BUCKETS_MS.findIndex((le) => ms <= le);
    if (i >= 0) this.#latencyBuckets[i]!++;
    this.#prom?.opened.inc({ key_id: keyId });
    this.#prom?.storeLatency.observe(ms / 1000);
  }

  rejected(event: RejectedEvent): void {
    this.#rejectedTotal++;
    this.#rejected.set(event.code, (this.#rejected.get(event.code) ?? 0) + 1);
    this.#prom?.rejected.inc({ code: event.code });
    const spike = this.#alert?.record(event.code);
    if (spike !== undefined) {
      this.#spikes++;
      callSafely(this.#logger, 'rejectionAlert.onSpike', () => this.#alert?.options.onSpike(spike));
    }
  }

  snapshot(): MetricsSnapshot {
    let cumulative = 0;
    const stats = this.#cacheStats();
    return {
      sealed: this.#sealed,
      sealedBytes: this.#sealedBytes,
      opened: this.#opened,
      openedByKeyId: Object.fromEntries(this.#openedByKeyId),
      rejectedTotal: this.#rejectedTotal,
      rejected: Object.fromEntries(this.#rejected),
      replayCacheEntries: stats?.entries ?? null,
      replayCacheBytes: stats?.bytes ?? null,
      storeLatencyMs: {
        count: this.#latencyCount,
        sum: this.#latencySum,
        max: this.#latencyMax,
        buckets: STORE_LATENCY_BUCKETS_MS.map((le, i) => {
          cumulative += this.#latencyBuckets[i]!;
          return { le, count: cumulative };
        }),
      },
      rejectionSpikes: this.#spikes,
    };
  }

  /**
   * Registers these metrics with prom-client, if it is installed, and resolves true; resolves
   * false when it is not. Counts so far are carried over. One `Metrics` per registry (and
   * prefix): several endpoints in one process share one `Metrics` as their observer. A second
   * registration of the same names rejects with ERR_WA_CONFIG.
   *
   *   wa_transport_sealed_total, wa_transport_sealed_bytes_total,
   *   wa_transport_opened_total{key_id}, wa_transport_rejected_total{code},
   *   wa_transport_replay_cache_entries, wa_transport_store_latency_seconds (histogram)
   */
  async registerPrometheus(options: PrometheusOptions = {}): Promise<boolean> {
    let prom: typeof import('prom-client');
    try {
      prom = await import('prom-client');
    } catch {
      return false;
    }
    const prefix = options.prefix ?? 'wa_transport_';
    const registry = (options.registry as import('prom-client').Registry | undefined) ?? prom.register;
    const registers = [registry];
    // prom-client would throw its own Error ("already been registered") halfway through,
    // leaving some of our metrics registered and this instance feeding none.
    if (registry.getSingleMetric(`${prefix}sealed_total`) !== undefined) {
      throw new WaTransportError(
        ErrorCode.CONFIG,
        `this registry already has ${prefix}* metrics: share one Metrics between endpoints (the same observer), or give this one another prefix`,
      );
    }
    const snapshot = this.snapshot();
    const sealed = new prom.Counter({ name: `${prefix}sealed_total`, help: 'Envelopes sealed', registers });
    const sealedBytes = new prom.Counter({
      name: `${prefix}sealed_bytes_total`,
      help: 'Bytes of envelopes sealed',
      registers,
    });
    const opened = new prom.Counter({
      name: `${prefix}opened_total`,
      help: 'Envelopes opened and accepted, by the key id they were sealed with',
      labelNames: ['key_id'],
      registers,
    });
    const rejected = new prom.Counter({
      name: `${prefix}rejected_total`,
      help: 'Envelopes rejected, by error code',
      labelNames: ['code'],
      registers,
    });
    const storeLatency = new prom.Histogram({
      name: `${prefix}store_latency_seconds`,
      help: 'Time an opened envelope waited for the replay store',
      buckets: STORE_LATENCY_BUCKETS_MS.map((ms) => ms / 1000),
      registers,
    });
    const metrics = this;
    new prom.Gauge({
      name: `${prefix}replay_cache_entries`,
      help: 'Live nonces in the replay cache',
      registers,
      collect() {
        const entries = metrics.#cacheStats()?.entries;
        if (entries !== undefined) this.set(entries);
      },
    });
    sealed.inc(snapshot.sealed);
    sealedBytes.inc(snapshot.sealedBytes);
    for (const [keyId, count] of Object.entries(snapshot.openedByKeyId)) opened.inc({ key_id: keyId }, count);
    for (const [code, count] of Object.entries(snapshot.rejected)) rejected.inc({ code }, count);
    // Latencies seen before registration cannot be replayed into a histogram; they are few.
    this.#prom = { sealed, sealedBytes, opened, rejected, storeLatency };
    return true;
  }

  /**
   * Accepted envelopes carry configured key ids only (a forgery never gets here), a handful
   * over a process's life even across rotations; the cap guards the label set all the same.
   */
  #keyIdLabel(keyId: string): string {
    return this.#openedByKeyId.has(keyId) || this.#openedByKeyId.size < MAX_KEY_ID_LABELS ? keyId : 'other';
  }

  #cacheStats(): { entries: number; bytes: number | null } | undefined {
    const store = this.#store;
    if (store === undefined || !('stats' in store) || typeof store.stats !== 'function') return undefined;
    try {
      const stats: Partial<ReturnType<ReplayCacheStats['stats']>> = (store as ReplayCacheStats).stats();
      if (typeof stats.entries !== 'number') return undefined;
      return { entries: stats.entries, bytes: stats.bytes ?? null };
    } catch (error) {
      this.#logger.warn({ event: 'wa_transport.metrics.stats_failed', err: error }, 'replay store stats failed');
      return undefined;
    }
  }
}

/**
 * Sliding-window rate detector. The window holds at least `threshold` rejections exactly when
 * the threshold-th most recent one is inside it, so a ring of the last `threshold`
 * timestamps is enough: O(1) per rejection, memory bounded by the threshold.
 */
class RejectionWindow {
  readonly options: RejectionAlertOptions;
  readonly #windowMs: number;
  readonly #codes: ReadonlySet<ErrorCode> | undefined;
  readonly #times: number[];
  readonly #kinds: ErrorCode[];
  readonly #clock: Clock;
  #next = 0;
  #filled = 0;
  #armed = true;

  constructor(options: RejectionAlertOptions, clock: Clock) {
    optionsObject(options, 'rejectionAlert');
    positiveInteger(options.threshold, 'rejectionAlert.threshold');
    this.#windowMs = positiveInteger(options.windowMs ?? 60_000, 'rejectionAlert.windowMs');
    if (options.codes !== undefined && !Array.isArray(options.codes)) {
      throw new WaTransportError(ErrorCode.CONFIG, 'rejectionAlert.codes must be an array of error codes');
    }
    if (typeof options.onSpike !== 'function') {
      throw new WaTransportError(ErrorCode.CONFIG, 'rejectionAlert.onSpike must be a function');
    }
    this.options = options;
    this.#codes = options.codes && new Set(options.codes);
    this.#times = new Array<number>(options.threshold).fill(0);
    this.#kinds = new Array<ErrorCode>(options.threshold);
    this.#clock = clock;
  }

  /** Records a rejection; returns a spike when this one made the rate cross the threshold. */
  record(code: ErrorCode): RejectionSpike | undefined {
    if (this.#codes !== undefined && !this.#codes.has(code)) return undefined;
    const now = this.#clock();
    const size = this.#times.length;
    this.#times[this.#next] = now;
    this.#kinds[this.#next] = code;
    this.#next = (this.#next + 1) % size;
    if (this.#filled < size) this.#filled++;
    // After the write, #next points at the oldest of the last `size` rejections.
    const over = this.#filled === size && now - this.#times[this.#next]! < this.#windowMs;
    if (!over) {
      this.#armed = true;
      return undefined;
    }
    if (!this.#armed) return undefined;
    this.#armed = false;
    const byCode: Partial<Record<ErrorCode, number>> = {};
    for (const kind of this.#kinds) byCode[kind] = (byCode[kind] ?? 0) + 1;
    return { count: size, windowMs: this.#windowMs, byCode, at: now };
  }
}
