/**
 * TieredReplayStore: a local MemoryReplayStore in front of a shared store. Properties against
 * a model shared store (with injected faults), then two CoreApp nodes on the real Redis.
 */
import { randomBytes, randomUUID } from 'node:crypto';
import fc from 'fast-check';
import { Redis } from 'ioredis';
import { afterAll, describe, expect, it } from 'vitest';
import { ErrorCode, MemoryReplayStore, WaTransportError, createEndpoint, generateSecret } from '../../src/index.js';
import type { Logger } from '../../src/log.js';
import { type RedisReplayStore, createRedisReplayStore } from '../../src/replay/redis.js';
import type { ReplayStore } from '../../src/replay/store.js';
import { TieredReplayStore } from '../../src/replay/tiered.js';
import { outcome } from '../helpers.js';
import { sharedRedisUrl } from '../redis/shared.js';

const SHARED_URL = await sharedRedisUrl();
const RUN = `wa:test:tiered:${randomUUID().slice(0, 8)}:`;
const redisStores: RedisReplayStore[] = [];

afterAll(async () => {
  for (const store of redisStores) await store.close();
  const admin = new Redis(SHARED_URL);
  try {
    let cursor = '0';
    do {
      const [next, keys] = await admin.scan(cursor, 'MATCH', `${RUN}*`, 'COUNT', 1000);
      cursor = next;
      if (keys.length > 0) await admin.del(...keys);
    } while (cursor !== '0');
  } finally {
    admin.disconnect();
  }
});

const NOW = 1_800_000_000_000;

/** A shared store that answers like Redis would, except when told to fail. */
class ModelShared implements ReplayStore {
  readonly retentionMs = 10_000;
  readonly seen = new Set<string>();
  failNext = false;
  /** Every `true` it has answered, per nonce. */
  readonly grants = new Map<string, number>();
  calls = 0;

  async recordIfAbsent(nonce: Uint8Array): Promise<boolean> {
    this.calls++;
    await Promise.resolve();
    if (this.failNext) {
      this.failNext = false;
      throw new WaTransportError(ErrorCode.REPLAY_STORE_UNAVAILABLE);
    }
    const key = Buffer.from(nonce.subarray(0, 16)).toString('hex');
    if (this.seen.has(key)) return false;
    this.seen.add(key);
    this.grants.set(key, (this.grants.get(key) ?? 0) + 1);
    return true;
  }
}

async function answer(store: ReplayStore, nonce: Uint8Array): Promise<string> {
  try {
    return String(await store.recordIfAbsent(nonce, NOW, NOW, 'k'));
  } catch (error) {
    return (error as { code?: string }).code ?? 'threw';
  }
}

function recordingLogger(): Logger & { events: string[] } {
  const events: string[] = [];
  const log = (record: object): void => {
    events.push(String((record as { event?: unknown }).event));
  };
  return { events, warn: log, info: log };
}

describe('TieredReplayStore against a model shared store', () => {
  it('never accepts what the shared store did not accept, on any node, whatever fails (reject policy)', async () => {
    const pool = Array.from({ length: 6 }, () => randomBytes(24));
    const step = fc.record({
      node: fc.nat(2),
      nonce: fc.nat(pool.length - 1),
      fail: fc.boolean(),
      together: fc.boolean(),
    });
    await fc.assert(
      fc.asyncProperty(fc.array(step, { maxLength: 40 }), async (steps) => {
        const shared = new ModelShared();
        const nodes = [0, 1, 2].map(() => new TieredReplayStore({ shared }));
        const accepted = new Map<number, number>();
        let inFlight: Promise<void>[] = [];
        for (const s of steps) {
          const call = (async () => {
            if (s.fail) shared.failNext = true;
            const result = await answer(nodes[s.node]!, pool[s.nonce]!);
            expect(['true', 'false', 'ERR_WA_REPLAY_STORE_UNAVAILABLE']).toContain(result);
            if (result === 'true') accepted.set(s.nonce, (accepted.get(s.nonce) ?? 0) + 1);
          })();
          inFlight.push(call);
          if (!s.together) {
            await Promise.all(inFlight);
            inFlight = [];
          }
        }
        await Promise.all(inFlight);
        // At most one acceptance per nonce across all nodes, and only where the shared store granted it.
        for (const [nonce, times] of accepted) {
          expect(times).toBe(1);
          expect(shared.grants.get(Buffer.from(pool[nonce]!.subarray(0, 16)).toString('hex'))).toBe(1);
        }
        expect([...accepted.values()].reduce((a, b) => a + b, 0)).toBeLessThanOrEqual(shared.grants.size);
      }),
      { numRuns: 200 },
    );
  });

  it('answers a replay to the same node locally, synchronously, without asking the shared store', async () => {
    const shared = new ModelShared();
    const store = new TieredReplayStore({ shared });
    const nonce = randomBytes(24);
    expect(await store.recordIfAbsent(nonce, NOW, NOW, 'k')).toBe(true);
    expect(shared.calls).toBe(1);
    expect(store.recordIfAbsent(nonce, NOW, NOW, 'k')).toBe(false);
    expect(shared.calls).toBe(1);
  });

  it('asks the shared store on a local miss, and refuses what it refuses', async () => {
    const shared = new ModelShared();
    const a = new TieredReplayStore({ shared });
    const b = new TieredReplayStore({ shared });
    const nonce = randomBytes(24);
    expect(await answer(a, nonce)).toBe('true');
    expect(await answer(b, nonce)).toBe('false');
    expect(shared.calls).toBe(2);
  });

  it('fails closed by default; a resend of an envelope whose check failed stays refused on that node', async () => {
    const shared = new ModelShared();
    const store = new TieredReplayStore({ shared });
    const nonce = randomBytes(24);
    shared.failNext = true;
    expect(await answer(store, nonce)).toBe('ERR_WA_REPLAY_STORE_UNAVAILABLE');
    expect(await answer(store, nonce)).toBe('false');
    expect(await answer(store, randomBytes(24))).toBe('true');
  });

  it("with onUnavailable 'local', checks against this node alone while the shared store is down, and says so", async () => {
    const shared = new ModelShared();
    const logger = recordingLogger();
    const store = new TieredReplayStore({ shared, onUnavailable: 'local', logger });
    const before = randomBytes(24);
    expect(await answer(store, before)).toBe('true');
    const during = randomBytes(24);
    shared.failNext = true;
    expect(await answer(store, during)).toBe('true'); // unchecked by the shared store: the weaker mode
    expect(await answer(store, during)).toBe('false');
    expect(await answer(store, before)).toBe('false'); // seen by this node before the outage
    expect(await answer(store, randomBytes(24))).toBe('true');
    expect(logger.events).toEqual(['wa_transport.replay_store.local_only', 'wa_transport.replay_store.shared']);
  });

  it("with onUnavailable 'local', other errors still propagate", async () => {
    const full: ReplayStore = {
      retentionMs: 10_000,
      recordIfAbsent() {
        throw new WaTransportError(ErrorCode.REPLAY_CACHE_FULL);
      },
    };
    const store = new TieredReplayStore({ shared: full, onUnavailable: 'local' });
    expect(await answer(store, randomBytes(24))).toBe('ERR_WA_REPLAY_CACHE_FULL');
  });

  it('uses the local store it is given, and close() clears it', async () => {
    const local = new MemoryReplayStore();
    const store = new TieredReplayStore({ shared: new ModelShared(), local });
    await store.recordIfAbsent(randomBytes(24), NOW, NOW, 'k');
    expect(local.stats().entries).toBe(1);
    store.close();
    expect(local.stats().entries).toBe(0);
  });
});

describe('TieredReplayStore on the real Redis', () => {
  it('two CoreApp nodes: exactly one acceptance per envelope across 1,000 races', async () => {
    const keyPrefix = `${RUN}races:`;
    const r1 = await createRedisReplayStore({ url: SHARED_URL, keyPrefix });
    const r2 = await createRedisReplayStore({ url: SHARED_URL, keyPrefix });
    redisStores.push(r1, r2);
    const secret = generateSecret();
    const web = await createEndpoint({ secret, role: 'webapp' });
    const core1 = await createEndpoint({ secret, role: 'coreapp', replayStore: new TieredReplayStore({ shared: r1 }) });
    const core2 = await createEndpoint({ secret, role: 'coreapp', replayStore: new TieredReplayStore({ shared: r2 }) });
    const results = await Promise.all(
      Array.from({ length: 1000 }, async (_, i) => {
        const envelope = web.seal(i);
        const nodes = i % 2 === 0 ? [core1, core2, core1, core2] : [core2, core1, core2, core1];
        return Promise.all(nodes.map((node) => outcome(node.open(envelope))));
      }),
    );
    for (const result of results) {
      expect(result.filter((r) => r === 'accepted')).toHaveLength(1);
      expect(result.filter((r) => r === 'ERR_WA_REPLAYED')).toHaveLength(3);
    }
    // Same-node duplicates never reached Redis: 2 checks per envelope, not 4.
    expect(r1.stats().commands + r2.stats().commands).toBe(2000);
  });
});
