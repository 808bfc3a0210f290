/**
 * Exactly once, whatever operations do: the replay promise under window changes, clock steps,
 * restarts, Redis losing keys, and deployments sharing one Redis. Each case is one that
 * accepted an envelope twice before retention moved into the store (issue "Exactly once").
 */
import { randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Redis } from 'ioredis';
import { afterAll, describe, expect, it } from 'vitest';
import {
  type Endpoint,
  ErrorCode,
  MemoryReplayStore,
  TieredReplayStore,
  createEndpoint,
  generateSecret,
} from '../../src/index.js';
import { RotatingEndpoint } from '../../src/ops/index.js';
import { type RedisReplayStore, createRedisReplayStore } from '../../src/replay/redis.js';
import { ManualClock, outcome } from '../helpers.js';
import { wasmBackend } from '../../src/crypto/wasm.js';
import { type RedisServer, startRedis } from '../redis/servers.js';
import { sharedRedisUrl } from '../redis/shared.js';
import { sealVector } from '../vectors/envelope-v1.js';

const SECOND = 1000;
const toClose: Array<{ close(): unknown } | { stop(): unknown }> = [];
afterAll(async () => {
  for (const item of toClose.reverse()) await ('close' in item ? item.close() : item.stop());
});
function track<T extends { close(): unknown } | { stop(): unknown }>(item: T): T {
  toClose.push(item);
  return item;
}
const prefix = (): string => `wa:ops:${randomUUID().slice(0, 8)}:`;

/** Opens a batch and counts the outcomes. */
async function outcomes(
  core: Pick<Endpoint, 'open'>,
  envelopes: readonly Uint8Array[],
): Promise<Record<string, number>> {
  const counts: Record<string, number> = {};
  for (const result of await Promise.all(envelopes.map((e) => outcome(core.open(e))))) {
    counts[result] = (counts[result] ?? 0) + 1;
  }
  return counts;
}

/**
 * A RotatingEndpoint that accepted one envelope, then `laterMs` later another (so its store's
 * clock has moved on), on a manual clock.
 */
async function acceptedThenLater(laterMs: number) {
  const clock = new ManualClock();
  const secret = generateSecret();
  const web = await createEndpoint({ role: 'webapp', secret, clock: clock.now });
  const core = await RotatingEndpoint.create({ role: 'coreapp', secret, clock: clock.now });
  clock.advance(SECOND);
  const envelope = web.seal('once');
  expect(await outcome(core.open(envelope))).toBe('accepted');
  clock.advance(laterMs);
  expect(await outcome(core.open(web.seal('tick')))).toBe('accepted');
  return { clock, core, envelope };
}

describe('window changes: the store, not the recording verifier, decides how long a nonce is kept', () => {
  it('RotatingEndpoint.update({ windowMs: 11_000 }) after 10 s is refused, and the envelope is not accepted again', async () => {
    const { core, envelope } = await acceptedThenLater(10_500);
    expect(await outcome(core.update({ windowMs: 11_000 }))).toBe(ErrorCode.CONFIG);
    expect(await outcome(core.open(envelope))).toBe(ErrorCode.EXPIRED);
  });

  it('a window raised within the store retention is made safe: the envelope is refused as a replay', async () => {
    const clock = new ManualClock();
    const secret = generateSecret();
    const replayStore = new MemoryReplayStore({ rememberedSince: clock.now(), retentionMs: 30_000 });
    const web = await createEndpoint({ role: 'webapp', secret, clock: clock.now });
    const core = await RotatingEndpoint.create({ role: 'coreapp', secret, clock: clock.now, replayStore });
    clock.advance(SECOND);
    const envelope = web.seal('once');
    expect(await outcome(core.open(envelope))).toBe('accepted');
    clock.advance(10_500);
    await core.update({ windowMs: 11_000 });
    expect(await outcome(core.open(envelope))).toBe(ErrorCode.REPLAYED);
  });

  it('two endpoints sharing one MemoryReplayStore with windows 10 s and 30 s: none of 1,000 envelopes is accepted twice', async () => {
    const clock = new ManualClock();
    const secret = generateSecret();
    const web = await createEndpoint({ role: 'webapp', secret, clock: clock.now });
    const shortStore = new MemoryReplayStore({ rememberedSince: clock.now() });
    const options = { role: 'coreapp' as const, secret, clock: clock.now };
    // The store's default retention (10 s) cannot serve a 30 s window: refused at construction.
    expect(await outcome(createEndpoint({ ...options, windowMs: 30_000, replayStore: shortStore }))).toBe(
      ErrorCode.CONFIG,
    );

    const replayStore = new MemoryReplayStore({ rememberedSince: clock.now(), retentionMs: 30_000 });
    const short = await createEndpoint({ ...options, windowMs: 10_000, replayStore });
    const long = await createEndpoint({ ...options, windowMs: 30_000, replayStore });
    clock.advance(SECOND);
    const envelopes = Array.from({ length: 1000 }, (_, i) => web.seal(i));
    expect(await outcomes(short, envelopes)).toEqual({ accepted: 1000 });
    clock.advance(15 * SECOND);
    expect(await outcomes(long, envelopes)).toEqual({ [ErrorCode.REPLAYED]: 1000 });
  });

  it('two CoreApp nodes on one Redis with windows 1 s and 5 s: the replay is refused after the shorter window', async () => {
    const url = await sharedRedisUrl();
    const keyPrefix = prefix();
    const secret = generateSecret();
    const web = await createEndpoint({ role: 'webapp', secret });
    const s1 = track(await createRedisReplayStore({ url, keyPrefix, retentionMs: 6 * SECOND }));
    const s2 = track(await createRedisReplayStore({ url, keyPrefix, retentionMs: 6 * SECOND }));
    const fast = await createEndpoint({ role: 'coreapp', secret, windowMs: SECOND, replayStore: s1 });
    const slow = await createEndpoint({ role: 'coreapp', secret, windowMs: 5 * SECOND, replayStore: s2 });
    const envelope = web.seal('once');
    expect(await outcome(fast.open(envelope))).toBe('accepted');
    await sleep(2500); // past the 1 s window (and 1 s margin) the recording node had: its TTL no longer decides
    expect(await outcome(slow.open(envelope))).toBe(ErrorCode.REPLAYED);
  });

  it('createEndpoint({ windowMs: 60_000 }) with a Redis store that retains 11 s is refused with ERR_WA_CONFIG', async () => {
    const store = track(await createRedisReplayStore({ url: await sharedRedisUrl(), keyPrefix: prefix() }));
    const result = createEndpoint({ role: 'coreapp', secret: generateSecret(), windowMs: 60_000, replayStore: store });
    await expect(result).rejects.toMatchObject({
      code: ErrorCode.CONFIG,
      message: expect.stringMatching(/retentionMs/),
    });
  });
});

describe('clock steps: time only moves forward, across rotations and restarts', () => {
  it('after the host clock steps back 8 s, a rotation does not accept an envelope already accepted', async () => {
    const { clock, core, envelope } = await acceptedThenLater(12_500); // the envelope's bucket is swept
    clock.advance(-8 * SECOND); // an NTP step back: the envelope is inside the window again
    await core.update({ previousSecrets: [generateSecret()] }); // a new verifier
    expect(await outcome(core.open(envelope))).not.toBe('accepted');
  });

  it('a restart after a clock step back: the memory store with a start-up hold refuses the replay', async () => {
    const clock = new ManualClock();
    const secret = generateSecret();
    const web = await createEndpoint({ role: 'webapp', secret, clock: clock.now });
    const first = await createEndpoint({
      role: 'coreapp',
      secret,
      clock: clock.now,
      replayStore: new MemoryReplayStore({ rememberedSince: clock.now() }),
    });
    clock.advance(SECOND);
    const envelope = web.seal('once');
    expect(await outcome(first.open(envelope))).toBe('accepted');
    clock.advance(-8 * SECOND); // the clock steps back, then the process restarts
    const restarted = (startupHoldMs: number): Promise<Endpoint> =>
      createEndpoint({
        role: 'coreapp',
        secret,
        clock: clock.now,
        replayStore: new MemoryReplayStore({ rememberedSince: clock.now(), startupHoldMs }),
      });
    // Without a hold the new process cannot know (documented); with one covering step + skew it refuses.
    expect(await outcome((await restarted(0)).open(envelope))).toBe('accepted');
    expect(await outcome((await restarted(18 * SECOND)).open(envelope))).toBe(ErrorCode.EXPIRED);
  });

  it('a restarted node whose clock stepped back 8 s does not accept a replay through Redis', async () => {
    const url = await sharedRedisUrl();
    const keyPrefix = prefix();
    const secret = generateSecret();
    const web = await createEndpoint({ role: 'webapp', secret });
    const options = { role: 'coreapp' as const, secret, windowMs: 1500, maxSkewMs: 10 * SECOND };
    const before = track(await createRedisReplayStore({ url, keyPrefix, retentionMs: 1500 }));
    const node = await createEndpoint({ ...options, replayStore: before });
    const envelope = web.seal('once');
    expect(await outcome(node.open(envelope))).toBe('accepted');
    await sleep(1600); // its key has expired on Redis's clock
    const after = track(await createRedisReplayStore({ url, keyPrefix, retentionMs: 1500 }));
    const stepped = await createEndpoint({ ...options, replayStore: after, clock: () => Date.now() - 8 * SECOND });
    expect(await outcome(stepped.open(envelope))).toBe(ErrorCode.EXPIRED);
  });
});

describe('Redis loses keys without restarting', () => {
  const HOLD_MS = 1500;
  async function setup(redis: RedisServer): Promise<{ web: Endpoint; core: Endpoint; store: RedisReplayStore }> {
    const secret = generateSecret();
    const web = await createEndpoint({ role: 'webapp', secret });
    // A server up for longer than the hold (uptime counts whole seconds): no restart hold at start.
    await sleep(HOLD_MS + SECOND);
    const store = track(
      await createRedisReplayStore({
        url: redis.url,
        keyPrefix: prefix(),
        retentionMs: 11 * SECOND,
        restartHoldMs: HOLD_MS,
      }),
    );
    const core = await createEndpoint({ role: 'coreapp', secret, replayStore: store });
    return { web, core, store };
  }

  it.each([
    ['FLUSHDB', (admin: Redis) => admin.flushdb()],
    [
      'a DEL of every key',
      async (admin: Redis) => {
        const keys = await admin.keys('*');
        if (keys.length > 0) await admin.del(...keys);
      },
    ],
  ])('%s: the replay is refused, and fresh traffic comes back after the hold', async (_name, lose) => {
    const redis = track(await startRedis());
    const { web, core } = await setup(redis);
    const envelopes = Array.from({ length: 20 }, (_, i) => web.seal(i));
    expect(await outcomes(core, envelopes)).toEqual({ accepted: 20 });
    await lose(redis.client());
    const replays = await outcomes(core, envelopes);
    expect(replays['accepted']).toBeUndefined();
    expect(await outcomes(core, envelopes)).toEqual({ [ErrorCode.REPLAY_STORE_UNAVAILABLE]: 20 });
    await sleep(HOLD_MS + 200);
    expect(await outcome(core.open(web.seal('fresh')))).toBe('accepted');
  });

  it.each(['allkeys-lru', 'volatile-ttl'])(
    'maxmemory-policy %s is refused with an error that names the setting',
    async (policy) => {
      const redis = track(await startRedis({ args: ['--maxmemory-policy', policy] }));
      const created = createRedisReplayStore({ url: redis.url, keyPrefix: prefix(), restartHoldMs: HOLD_MS });
      await expect(created).rejects.toMatchObject({
        code: ErrorCode.CONFIG,
        message: expect.stringContaining(`maxmemory-policy is ${policy}`),
      });
    },
  );

  it('a policy changed to eviction at run time is refused within seconds, and recovers when set back', async () => {
    const redis = track(await startRedis());
    const { web, core, store } = await setup(redis);
    expect(await outcome(core.open(web.seal('before')))).toBe('accepted');
    await redis.client().config('SET', 'maxmemory-policy', 'volatile-ttl');
    let seen: string = 'accepted';
    for (let i = 0; i < 80 && seen === 'accepted'; i++) {
      seen = await outcome(core.open(web.seal(i)));
      if (seen === 'accepted') await sleep(100);
    }
    expect(seen).toBe(ErrorCode.CONFIG);
    await expect(store.ready()).rejects.toMatchObject({ code: ErrorCode.CONFIG });
    await redis.client().config('SET', 'maxmemory-policy', 'noeviction');
    await expect(store.checked()).resolves.toBeUndefined();
  });
});

describe("TieredReplayStore with onUnavailable 'local'", () => {
  it('a node restarted while Redis is down does not accept replays of its own earlier acceptances', async () => {
    const redis = track(await startRedis());
    const secret = generateSecret();
    const web = await createEndpoint({ role: 'webapp', secret });
    const node = async (): Promise<Endpoint> => {
      const shared = track(await createRedisReplayStore({ url: redis.url, keyPrefix: 'wa:tiered:', restartHoldMs: 0 }));
      return createEndpoint({
        role: 'coreapp',
        secret,
        replayStore: new TieredReplayStore({ shared, onUnavailable: 'local' }),
      });
    };
    const before = await node();
    const envelope = web.seal('once');
    expect(await outcome(before.open(envelope))).toBe('accepted');
    await sleep(5); // the restarted node starts strictly after the envelope was sealed
    const restarted = await node();
    await redis.kill();
    expect(await outcome(restarted.open(envelope))).not.toBe('accepted');
    expect(await outcome(restarted.open(web.seal('fresh')))).toBe('accepted'); // the weaker mode still serves
  });
});

describe('deployments sharing one Redis', () => {
  it('cannot block each other: a nonce recorded under one secret does not refuse it under another', async () => {
    const url = await sharedRedisUrl();
    const store = track(await createRedisReplayStore({ url })); // both deployments on the default prefix
    const a = generateSecret();
    const b = generateSecret();
    const coreA = await createEndpoint({ role: 'coreapp', secret: a, replayStore: store });
    const coreB = await createEndpoint({ role: 'coreapp', secret: b, replayStore: store });
    const webB = await createEndpoint({ role: 'webapp', secret: b });
    // B's envelope is seen on the wire by deployment A's operator (or anyone with A's secret),
    // who seals an envelope of their own with the same nonce and gets it recorded first.
    const victim = webB.seal('b');
    const nonce = Buffer.from(victim.subarray(15, 39)).toString('hex');
    const timestamp = Date.now();
    const planted = sealVector(
      {
        name: 'planted',
        secret: a,
        direction: 0x01,
        format: 0x01,
        plaintextHex: '',
        context: '',
        timestamp,
        nonceHex: nonce,
      },
      wasmBackend,
    );
    expect(await outcome(coreA.open(planted))).toBe('accepted');
    expect(await outcome(coreB.open(victim))).toBe('accepted');
  });
});
