/**
 * Load on the replay cache, with an injected clock that advances fast so that "longer than the
 * window" takes seconds, not minutes:
 * - a flood of unique, valid envelopes: the in-memory cache stays under its bound (entries ≤
 *   rate × (window + one bucket); tables ≤ 64 bytes per entry, or one 16 KiB table per bucket,
 *   src/replay/memory.ts) and falls back to baseline once the window has passed;
 * - a flood of envelopes that must be refused (forged, misdirected, unknown key, stale, future,
 *   replays) does not grow it at all;
 * - one envelope delivered many times at once, to one verifier or to several sharing a store:
 *   exactly one acceptance.
 */
import { describe, expect, it } from 'vitest';
import { DEFAULT_MAX_ENTRIES } from '../../src/replay/memory.js';
import { DEFAULT_WINDOW_MS } from '../../src/protocol.js';
import {
  type Endpoint,
  ErrorCode,
  MemoryReplayStore,
  type MemoryReplayStoreStats,
  type ReplayStore,
  createEndpoint,
  generateSecret,
  isWaTransportError,
} from '../../src/index.js';
import { TEST_TIMEOUT_MS, recordFigures, scale } from '../soak/figures.js';

const T0 = 1_800_000_000_000;
/** Per-bucket floor: a new table has 1024 slots of 16 bytes (src/replay/memory.ts). */
const MIN_TABLE_BYTES = 1024 * 16;
/** Most bytes per live entry once a table has grown (kept at most half full, doubled when over). */
const MAX_BYTES_PER_ENTRY = 64;

function withinBound(s: MemoryReplayStoreStats): boolean {
  return s.bytes <= MAX_BYTES_PER_ENTRY * s.entries + MIN_TABLE_BYTES * s.buckets;
}

describe('a flood of unique valid envelopes', () => {
  it(
    'keeps the cache under its bound for several windows, then returns to baseline',
    async () => {
      const perMs = scale(2, 10); // envelopes per simulated millisecond
      const total = scale(60_000, 2_000_000);
      let now = T0;
      const store = new MemoryReplayStore();
      const secret = generateSecret();
      const web = await createEndpoint({ role: 'webapp', secret, clock: () => now });
      const core = await createEndpoint({ role: 'coreapp', secret, clock: () => now, replayStore: store });

      const entryBound = perMs * (DEFAULT_WINDOW_MS + store.bucketMs) + perMs;
      let peak: MemoryReplayStoreStats = store.stats();
      let peakArrayBuffers = 0;
      let delivered = 0;
      for (let i = 0; i < total; i++) {
        if (i % perMs === 0) now++;
        core.openSync(web.seal(new Uint8Array(16)));
        delivered++;
        if (i % 1000 === 0) {
          const s = store.stats();
          expect(s.entries).toBeLessThanOrEqual(entryBound);
          expect(withinBound(s)).toBe(true);
          if (s.bytes > peak.bytes) peak = s;
          peakArrayBuffers = Math.max(peakArrayBuffers, process.memoryUsage().arrayBuffers);
        }
      }
      const simulatedMs = now - T0;
      expect(simulatedMs).toBeGreaterThan(2 * DEFAULT_WINDOW_MS);
      expect(peak.entries).toBeLessThanOrEqual(Math.min(entryBound, DEFAULT_MAX_ENTRIES));

      // The sweep is lazy (no timers): memory goes back on the first open after the window.
      now += DEFAULT_WINDOW_MS + store.bucketMs;
      core.openSync(web.seal(new Uint8Array(16)));
      const after = store.stats();
      expect(after).toEqual({ entries: 1, buckets: 1, bytes: MIN_TABLE_BYTES });

      recordFigures('load/flood-valid', {
        envelopes: delivered,
        simulatedSeconds: simulatedMs / 1000,
        windows: simulatedMs / DEFAULT_WINDOW_MS,
        peakEntries: peak.entries,
        peakBuckets: peak.buckets,
        peakCacheBytes: peak.bytes,
        entryBound,
        peakArrayBufferBytes: peakArrayBuffers,
        cacheBytesAfter: after.bytes,
      });
    },
    TEST_TIMEOUT_MS,
  );
});

describe('a flood of envelopes that must be refused', () => {
  it(
    'does not grow the cache at all',
    async () => {
      let now = T0;
      const store = new MemoryReplayStore();
      const secret = generateSecret();
      const web = await createEndpoint({ role: 'webapp', secret, clock: () => now });
      const otherKey = await createEndpoint({ role: 'webapp', secret: generateSecret(), clock: () => now });
      const reflected = await createEndpoint({ role: 'coreapp', secret, clock: () => now });
      const core = await createEndpoint({ role: 'coreapp', secret, clock: () => now, replayStore: store });
      const genuine = web.seal('genuine');
      const total = scale(20_000, 500_000);
      const codes = new Map<string, number>();
      let t = 0;

      const kinds: Array<() => Uint8Array> = [
        () => {
          const e = web.seal(new Uint8Array(32));
          e[e.length - 1]! ^= 1; // forged tag
          return e;
        },
        () => otherKey.seal('x'), // unknown key
        () => reflected.seal('x'), // wrong direction
        () => {
          const saved = now;
          now -= DEFAULT_WINDOW_MS + 1 + (t % 5000); // authentic but stale
          const e = web.seal('old');
          now = saved;
          return e;
        },
        () => {
          const saved = now;
          now += 10_001 + (t % 5000); // authentic but from the future
          const e = web.seal('future');
          now = saved;
          return e;
        },
        () => crypto.getRandomValues(new Uint8Array(60 + (t % 100))), // noise
      ];
      core.openSync(genuine);
      const baseline = store.stats();
      for (t = 0; t < total; t++) {
        if (t % 8 === 0) now++;
        const envelope = t % 7 === 6 ? genuine : kinds[t % kinds.length]!(); // replays mixed in
        try {
          core.openSync(envelope);
          throw new Error('accepted');
        } catch (error) {
          if (!isWaTransportError(error)) throw error;
          codes.set(error.code, (codes.get(error.code) ?? 0) + 1);
        }
        if (t % 1000 === 0) expect(store.stats()).toEqual(baseline);
      }
      expect(store.stats()).toEqual(baseline);
      expect(codes.get(ErrorCode.REPLAYED)).toBeGreaterThan(0);
      recordFigures('load/flood-refused', {
        envelopes: total,
        accepted: 0,
        cacheEntriesAdded: 0,
        ...Object.fromEntries(codes),
      });
    },
    TEST_TIMEOUT_MS,
  );
});

describe('races: one envelope, many deliveries at once', () => {
  /** A store that answers on a later turn of the event loop, so concurrent opens really overlap. */
  function deferred(inner: MemoryReplayStore): ReplayStore {
    return {
      retentionMs: inner.retentionMs,
      recordIfAbsent: (nonce, timestamp, now) => {
        const copy = nonce.slice();
        return new Promise((resolve, reject) =>
          setImmediate(() => {
            try {
              resolve(inner.recordIfAbsent(copy, timestamp, now));
            } catch (error) {
              reject(error);
            }
          }),
        );
      },
    };
  }

  async function race(
    endpoints: Endpoint[],
    envelope: Uint8Array,
    copies: number,
  ): Promise<{ accepted: number; replayed: number }> {
    const results = await Promise.allSettled(
      Array.from({ length: copies }, (_, i) => endpoints[i % endpoints.length]!.open(envelope.slice())),
    );
    let accepted = 0;
    let replayed = 0;
    for (const r of results) {
      if (r.status === 'fulfilled') accepted++;
      else if (isWaTransportError(r.reason, ErrorCode.REPLAYED)) replayed++;
      else throw r.reason;
    }
    return { accepted, replayed };
  }

  it(
    'two verifiers sharing a store, and one verifier opening concurrently: exactly one acceptance each time',
    async () => {
      const secret = generateSecret();
      const shared = new MemoryReplayStore();
      const web = await createEndpoint({ role: 'webapp', secret, clock: () => T0 });
      const nodeA = await createEndpoint({ role: 'coreapp', secret, clock: () => T0, replayStore: deferred(shared) });
      const nodeB = await createEndpoint({ role: 'coreapp', secret, clock: () => T0, replayStore: deferred(shared) });
      const single = await createEndpoint({
        role: 'coreapp',
        secret,
        clock: () => T0,
        replayStore: deferred(new MemoryReplayStore()),
      });

      const rounds = scale(300, 20_000);
      let deliveries = 0;
      for (let i = 0; i < rounds; i++) {
        const envelope = web.seal(i);
        const two = await race([nodeA, nodeB], envelope, 2);
        expect(two).toEqual({ accepted: 1, replayed: 1 });
        const many = await race([single], envelope, 16);
        expect(many).toEqual({ accepted: 1, replayed: 15 });
        deliveries += 18;
      }
      recordFigures('load/race', { envelopes: rounds, deliveries, acceptedPerEnvelope: 1 });
    },
    TEST_TIMEOUT_MS,
  );
});
