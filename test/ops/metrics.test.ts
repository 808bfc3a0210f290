import fc from 'fast-check';
import { Registry } from 'prom-client';
import { describe, expect, it } from 'vitest';
import { createEndpoint } from '../../src/endpoint.js';
import { CALLBACK_FAILED_EVENT } from '../../src/callbacks.js';
import { ErrorCode, isWaTransportError } from '../../src/errors.js';
import { generateSecret } from '../../src/keys.js';
import { Metrics, type RejectionSpike } from '../../src/ops/metrics.js';
import { MemoryReplayStore } from '../../src/replay/memory.js';
import type { ReplayStore } from '../../src/replay/store.js';
import { recordingLogger, unhandledRejectionsDuring } from '../helpers.js';

const SECRET = generateSecret();

/** A WebApp and a CoreApp, each with its own Metrics, on a clock the test moves. */
async function pair(options: { coreStore?: ReplayStore; metrics?: ConstructorParameters<typeof Metrics>[0] } = {}) {
  let now = 1_800_000_000_000;
  const clock = () => now;
  const store = new MemoryReplayStore();
  const webMetrics = new Metrics();
  const coreMetrics = new Metrics({ replayStore: store, clock, ...options.metrics });
  const web = await createEndpoint({ role: 'webapp', secret: SECRET, clock, observer: webMetrics });
  const core = await createEndpoint({
    role: 'coreapp',
    secret: SECRET,
    clock,
    replayStore: options.coreStore ?? store,
    observer: coreMetrics,
  });
  return { web, core, webMetrics, coreMetrics, advance: (ms: number) => (now += ms) };
}

async function rejection(promise: Promise<unknown>): Promise<string> {
  try {
    await promise;
  } catch (error) {
    if (isWaTransportError(error)) return error.code;
    throw error;
  }
  throw new Error('expected a rejection');
}

describe('Metrics', () => {
  it('counts match the traffic sent, rejections by code', async () => {
    const { web, core, webMetrics, coreMetrics, advance } = await pair();
    let bytes = 0;
    const accepted: Uint8Array[] = [];
    for (let i = 0; i < 20; i++) {
      const envelope = web.seal({ i });
      bytes += envelope.length;
      await core.open(envelope);
      accepted.push(envelope);
    }
    const forged = web.seal('x');
    forged[forged.length - 1]! ^= 1;
    bytes += forged.length;
    expect(await rejection(core.open(forged))).toBe(ErrorCode.FORGED);
    for (const envelope of accepted.slice(0, 3)) expect(await rejection(core.open(envelope))).toBe(ErrorCode.REPLAYED);
    expect(await rejection(core.open('AAAA'))).toBe(ErrorCode.MALFORMED);
    const late = web.seal('late');
    bytes += late.length;
    advance(10_001);
    expect(await rejection(core.open(late))).toBe(ErrorCode.EXPIRED);

    expect(webMetrics.snapshot()).toMatchObject({ sealed: 22, sealedBytes: bytes, opened: 0, rejectedTotal: 0 });
    const snapshot = coreMetrics.snapshot();
    expect(snapshot).toMatchObject({
      sealed: 0,
      opened: 20,
      rejectedTotal: 6,
      rejected: {
        [ErrorCode.FORGED]: 1,
        [ErrorCode.REPLAYED]: 3,
        [ErrorCode.MALFORMED]: 1,
        [ErrorCode.EXPIRED]: 1,
      },
      rejectionSpikes: 0,
    });
    // Forged and malformed envelopes never reach the cache; the 20 accepted nonces do.
    expect(snapshot.replayCacheEntries).toBe(20);
    expect(snapshot.replayCacheBytes).toBeGreaterThan(0);
    // A synchronous store costs no waiting.
    expect(snapshot.storeLatencyMs).toMatchObject({ count: 20, sum: 0, max: 0 });
    expect(snapshot.storeLatencyMs.buckets.every((b) => b.count === 20)).toBe(true);
    // The snapshot is plain data.
    expect(JSON.parse(JSON.stringify(snapshot))).toEqual(snapshot);
  });

  it('records the wait for an asynchronous store in cumulative buckets', async () => {
    const memory = new MemoryReplayStore();
    const slow: ReplayStore = {
      retentionMs: memory.retentionMs,
      recordIfAbsent: (nonce, timestamp, now) =>
        new Promise((resolve) => setTimeout(() => resolve(memory.recordIfAbsent(nonce, timestamp, now)), 3)),
    };
    const { web, core, coreMetrics } = await pair({ coreStore: slow });
    for (let i = 0; i < 5; i++) await core.open(web.seal(i));
    const latency = coreMetrics.snapshot().storeLatencyMs;
    expect(latency.count).toBe(5);
    expect(latency.sum).toBeGreaterThan(0);
    expect(latency.max).toBeGreaterThan(0);
    const counts = latency.buckets.map((b) => b.count);
    expect(counts).toEqual([...counts].sort((a, b) => a - b));
    expect(counts.at(-1)).toBeLessThanOrEqual(5);
  });

  it('reports no cache size without a store, and survives a store whose stats throw', () => {
    expect(new Metrics().snapshot().replayCacheEntries).toBeNull();
    const broken = new Metrics({
      replayStore: {
        stats() {
          throw new Error('gone');
        },
      },
    });
    expect(broken.snapshot().replayCacheEntries).toBeNull();
  });

  it('takes any ReplayStore, and reports a size only for one that counts its entries', () => {
    // What replayStoreFromConfig returns is typed ReplayStore (issue 15: TS2741 here before).
    const plain: ReplayStore = { retentionMs: 1000, recordIfAbsent: () => true };
    expect(new Metrics({ replayStore: plain }).snapshot().replayCacheEntries).toBeNull();
    // The Redis store's stats() counts round trips, not nonces.
    const redisLike = Object.assign(plain, { stats: () => ({ roundTrips: 3, commands: 9 }) });
    expect(new Metrics({ replayStore: redisLike }).snapshot().replayCacheEntries).toBeNull();
    const memory: ReplayStore = new MemoryReplayStore();
    expect(new Metrics({ replayStore: memory }).snapshot().replayCacheEntries).toBe(0);
  });

  it('fires the spike hook once when rejections cross the rate, and again after it falls', async () => {
    const spikes: RejectionSpike[] = [];
    const { web, core, coreMetrics, advance } = await pair({
      metrics: { rejectionAlert: { threshold: 5, windowMs: 1000, onSpike: (s) => spikes.push(s) } },
    });
    const forge = () => {
      const envelope = web.seal('x');
      envelope[50]! ^= 1;
      return core.open(envelope);
    };
    // Four within the window: below the rate.
    for (let i = 0; i < 4; i++) {
      await rejection(forge());
      advance(100);
    }
    expect(spikes).toHaveLength(0);
    await rejection(core.open('AAAA')); // the fifth, 400 ms after the first
    expect(spikes).toEqual([
      { count: 5, windowMs: 1000, byCode: { [ErrorCode.FORGED]: 4, [ErrorCode.MALFORMED]: 1 }, at: expect.any(Number) },
    ]);
    for (let i = 0; i < 10; i++) await rejection(forge()); // still above: no repeat
    expect(spikes).toHaveLength(1);
    advance(5000);
    await rejection(forge()); // the rate has fallen: re-armed
    expect(spikes).toHaveLength(1);
    for (let i = 0; i < 4; i++) await rejection(forge());
    expect(spikes).toHaveLength(2);
    expect(coreMetrics.snapshot().rejectionSpikes).toBe(2);
  });

  it('counts only the chosen codes, and a throwing hook never breaks open', async () => {
    const warnings: object[] = [];
    const { web, core } = await pair({
      metrics: {
        rejectionAlert: {
          threshold: 2,
          codes: [ErrorCode.REPLAYED],
          onSpike() {
            throw new Error('pager down');
          },
        },
        logger: { warn: (record) => warnings.push(record) },
      },
    });
    for (let i = 0; i < 3; i++) await rejection(core.open('AAAA'));
    expect(warnings).toHaveLength(0);
    const envelope = web.seal('once');
    await core.open(envelope);
    expect(await rejection(core.open(envelope))).toBe(ErrorCode.REPLAYED);
    expect(await rejection(core.open(envelope))).toBe(ErrorCode.REPLAYED);
    expect(warnings).toEqual([
      expect.objectContaining({ event: CALLBACK_FAILED_EVENT, callback: 'rejectionAlert.onSpike' }),
    ]);
  });

  it('an async hook that rejects is logged, not an unhandled rejection', async () => {
    const logger = recordingLogger();
    const { core } = await pair({
      metrics: {
        rejectionAlert: { threshold: 1, onSpike: async () => Promise.reject(new Error('pager down')) },
        logger,
      },
    });
    expect(await unhandledRejectionsDuring(() => rejection(core.open('AAAA')))).toEqual([]);
    expect(logger.records).toEqual([
      expect.objectContaining({ event: CALLBACK_FAILED_EVENT, callback: 'rejectionAlert.onSpike' }),
    ]);
  });

  it('rejects bad options with ERR_WA_CONFIG, never a RangeError or TypeError', () => {
    const onSpike = (): void => {};
    for (const options of [
      null,
      { rejectionAlert: { threshold: 0, onSpike } },
      { rejectionAlert: { threshold: 1.5, onSpike } },
      { rejectionAlert: { threshold: 2, windowMs: 0, onSpike } },
      { rejectionAlert: { threshold: 2, windowMs: Number.NaN, onSpike } },
      { rejectionAlert: { threshold: 2, codes: 'ERR_WA_FORGED', onSpike } },
      { rejectionAlert: { threshold: 2 } },
      { rejectionAlert: 5 },
      { clock: 5 },
    ]) {
      expect(() => new Metrics(options as never), JSON.stringify(options)).toThrow(
        expect.objectContaining({ code: ErrorCode.CONFIG }),
      );
    }
  });

  it('property: the hook fires exactly when the trailing-window count reaches the threshold from below', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 6 }),
        fc.integer({ min: 1, max: 500 }),
        fc.array(fc.integer({ min: 0, max: 300 }), { maxLength: 60 }),
        (threshold, windowMs, gaps) => {
          let now = 0;
          let fired = 0;
          const metrics = new Metrics({
            clock: () => now,
            rejectionAlert: { threshold, windowMs, onSpike: () => fired++ },
          });
          const times: number[] = [];
          let expected = 0;
          let armed = true;
          for (const gap of gaps) {
            now += gap;
            times.push(now);
            metrics.rejected({ code: ErrorCode.FORGED });
            const inWindow = times.filter((t) => now - t < windowMs).length;
            if (inWindow >= threshold) {
              if (armed) expected++;
              armed = false;
            } else {
              armed = true;
            }
            expect(fired).toBe(expected);
          }
        },
      ),
      { numRuns: 300 },
    );
  });

  it('mirrors the counts into prom-client, carrying over what came before registration', async () => {
    const { web, core, coreMetrics } = await pair();
    await core.open(web.seal('before'));
    await rejection(core.open('AAAA'));
    const registry = new Registry();
    expect(await coreMetrics.registerPrometheus({ registry })).toBe(true);
    await core.open(web.seal('after'));
    const forged = web.seal('x');
    forged[45]! ^= 1;
    await rejection(core.open(forged));

    const text = await registry.metrics();
    expect(text).toContain(`wa_transport_opened_total{key_id="${web.keyId}"} 2`);
    expect(text).toContain('wa_transport_rejected_total{code="ERR_WA_MALFORMED"} 1');
    expect(text).toContain('wa_transport_rejected_total{code="ERR_WA_FORGED"} 1');
    expect(text).toContain('wa_transport_replay_cache_entries 2');
    expect(text).toContain('wa_transport_store_latency_seconds_count 1');
    expect(text).toContain('wa_transport_sealed_total 0');
  });

  it('counts opened envelopes per key id, from accepted envelopes only: a flood of unknown key ids adds no label', async () => {
    const NEW = generateSecret();
    const store = new MemoryReplayStore();
    const metrics = new Metrics({ replayStore: store });
    const core = await createEndpoint({
      role: 'coreapp',
      secret: NEW,
      previousSecrets: [SECRET],
      replayStore: store,
      observer: metrics,
    });
    const oldWeb = await createEndpoint({ role: 'webapp', secret: SECRET });
    const newWeb = await createEndpoint({ role: 'webapp', secret: NEW });
    for (let i = 0; i < 3; i++) await core.open(oldWeb.seal(i));
    await core.open(newWeb.seal('new'));
    // Envelopes under 50 key ids nobody configured: rejected, never labelled.
    for (let i = 0; i < 50; i++) {
      const stranger = await createEndpoint({ role: 'webapp', secret: generateSecret() });
      expect(await rejection(core.open(stranger.seal(i)))).toBe(ErrorCode.UNKNOWN_KEY);
    }
    expect(metrics.snapshot().openedByKeyId).toEqual({ [oldWeb.keyId]: 3, [newWeb.keyId]: 1 });
    const registry = new Registry();
    await metrics.registerPrometheus({ registry });
    const text = await registry.metrics();
    expect(text).toContain(`wa_transport_opened_total{key_id="${oldWeb.keyId}"} 3`);
    expect(text).toContain(`wa_transport_opened_total{key_id="${newWeb.keyId}"} 1`);
    expect(text.match(/^wa_transport_opened_total\{/gm)).toHaveLength(2);
  });

  it("a second Metrics on one registry is refused with ERR_WA_CONFIG, not prom-client's raw error", async () => {
    const registry = new Registry();
    expect(await new Metrics().registerPrometheus({ registry })).toBe(true);
    const second = new Metrics().registerPrometheus({ registry });
    await expect(second).rejects.toMatchObject({
      code: ErrorCode.CONFIG,
      message: expect.stringContaining('share one Metrics'),
    });
    // Another prefix is another set of names: allowed.
    expect(await new Metrics().registerPrometheus({ registry, prefix: 'core_' })).toBe(true);
  });
});
