/**
 * RedisReplayStore against real Redis servers: the run's shared one (test/redis/global-setup.ts,
 * with a unique key prefix per run) and, for outages, a redis-server of our own on a free port.
 */
import { randomBytes, randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Endpoint, ErrorCode, createEndpoint, generateSecret } from '../../src/index.js';
import type { Logger } from '../../src/log.js';
import { RedisReplayStore, createRedisReplayStore } from '../../src/replay/redis.js';
import { outcome } from '../helpers.js';
import { recordFigures } from '../soak/figures.js';
import { type RedisServer, freePort, startRedis } from '../redis/servers.js';
import { sharedRedisUrl } from '../redis/shared.js';

const SHARED_URL = await sharedRedisUrl();
const RUN = `wa:test:${randomUUID().slice(0, 8)}:`;
let prefixes = 0;
const newPrefix = (): string => `${RUN}${prefixes++}:`;

const admin = new Redis(SHARED_URL, { lazyConnect: true });
const toClose: Array<{ close(): unknown }> = [];
const servers: RedisServer[] = [];

/** A redis-server of our own, for outages: never the shared one, which other tests use. */
async function ownRedis(): Promise<RedisServer> {
  const server = await startRedis();
  servers.push(server);
  return server;
}

beforeAll(async () => {
  await admin.connect();
});

afterAll(async () => {
  for (const item of toClose) await item.close();
  for (const server of servers) await server.stop();
  // Nothing of ours may outlive the run, whatever a failed test left behind.
  const left = await keysWith(RUN);
  if (left.length > 0) await admin.del(...left);
  admin.disconnect();
});

async function keysWith(prefix: string, client: Redis = admin): Promise<string[]> {
  const keys: string[] = [];
  let cursor = '0';
  do {
    const [next, batch] = await client.scan(cursor, 'MATCH', `${prefix}*`, 'COUNT', 1000);
    cursor = next;
    keys.push(...batch);
  } while (cursor !== '0');
  return keys;
}

async function track<T extends { close(): unknown }>(item: T | Promise<T>): Promise<T> {
  const value = await item;
  toClose.push(value);
  return value;
}

interface Nodes {
  web: Endpoint;
  core1: Endpoint;
  core2: Endpoint;
}

/** One WebApp and two CoreApp nodes, each node with its own store (own connection). */
async function nodes(
  stores: [RedisReplayStore, RedisReplayStore],
  options: { windowMs?: number } = {},
): Promise<Nodes> {
  const secret = generateSecret();
  const common = { secret, maxSkewMs: 1000, ...options };
  return {
    web: await createEndpoint({ ...common, role: 'webapp' }),
    core1: await createEndpoint({ ...common, role: 'coreapp', replayStore: stores[0] }),
    core2: await createEndpoint({ ...common, role: 'coreapp', replayStore: stores[1] }),
  };
}

function count(values: readonly string[]): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const value of values) counts[value] = (counts[value] ?? 0) + 1;
  return counts;
}

describe('RedisReplayStore on the shared Redis', () => {
  it('records a nonce once, under a short key scoped by key id, alive until timestamp + retention', async () => {
    const keyPrefix = newPrefix();
    const store = await track(createRedisReplayStore({ url: SHARED_URL, keyPrefix, retentionMs: 10_500 }));
    const nonce = randomBytes(24);
    const now = Date.now();
    expect(await store.recordIfAbsent(nonce, now, now, 'abcd0123')).toBe(true);
    expect(await store.recordIfAbsent(nonce, now, now, 'abcd0123')).toBe(false);
    // A nonce that differs only past byte 16 maps to the same key (as in MemoryReplayStore).
    const sibling = Uint8Array.from(nonce);
    sibling[23] = sibling[23]! ^ 1;
    expect(await store.recordIfAbsent(sibling, now, now, 'abcd0123')).toBe(false);
    // Another secret's nonces live apart: a deployment cannot block another's.
    expect(await store.recordIfAbsent(nonce, now, now, 'ffff0000')).toBe(true);

    const key = `${keyPrefix}abcd0123:${nonce.subarray(0, 16).toString('base64url')}`;
    expect((await keysWith(keyPrefix)).sort()).toEqual(
      [key, `${keyPrefix}ffff0000:${nonce.subarray(0, 16).toString('base64url')}`, `${keyPrefix}canary`].sort(),
    );
    expect(key.length).toBe(keyPrefix.length + 9 + 22);
    expect(await admin.pexpiretime(key)).toBe(now + 10_500);
    expect(await admin.pttl(`${keyPrefix}canary`)).toBe(-1); // the canary never expires
  });

  it('reads the nonce from a view into a larger buffer', async () => {
    const keyPrefix = newPrefix();
    const store = await track(createRedisReplayStore({ url: SHARED_URL, keyPrefix }));
    const envelope = randomBytes(100);
    const view = envelope.subarray(15, 39);
    const now = Date.now();
    expect(await store.recordIfAbsent(view, now, now, 'k')).toBe(true);
    expect(await keysWith(`${keyPrefix}k:`)).toEqual([
      `${keyPrefix}k:${envelope.subarray(15, 31).toString('base64url')}`,
    ]);
  });

  it('an envelope accepted by one CoreApp node is rejected as replayed by the other', async () => {
    const keyPrefix = newPrefix();
    const s1 = await track(createRedisReplayStore({ url: SHARED_URL, keyPrefix }));
    const s2 = await track(createRedisReplayStore({ url: SHARED_URL, keyPrefix }));
    const { web, core1, core2 } = await nodes([s1, s2]);
    const envelope = web.seal({ pay: 1 });
    expect((await core1.open(envelope)).payload).toEqual({ pay: 1 });
    expect(await outcome(core2.open(envelope))).toBe('ERR_WA_REPLAYED');
    expect(await outcome(core1.open(envelope))).toBe('ERR_WA_REPLAYED');
    // The text form carries the same nonce.
    expect(await outcome(core2.open(web.sealText('x')))).toBe('accepted');
  });

  it('exactly one of two nodes wins each of 1,000 simultaneous races, in few round trips', async () => {
    const keyPrefix = newPrefix();
    const s1 = await track(createRedisReplayStore({ url: SHARED_URL, keyPrefix }));
    const s2 = await track(createRedisReplayStore({ url: SHARED_URL, keyPrefix }));
    const { web, core1, core2 } = await nodes([s1, s2]);
    const envelopes = Array.from({ length: 1000 }, (_, i) => web.seal(i));
    const races = envelopes.map((envelope, i) =>
      // Alternate who starts first, and let each node also see its own duplicate.
      Promise.all(
        (i % 2 === 0 ? [core1, core2, core1] : [core2, core1, core2]).map((node) => outcome(node.open(envelope))),
      ),
    );
    const results = await Promise.all(races);
    for (const result of results) expect(count(result)).toEqual({ accepted: 1, ERR_WA_REPLAYED: 2 });
    // 3,000 checks were in flight together: each node sent them in a handful of pipelines.
    const roundTrips = s1.stats().roundTrips + s2.stats().roundTrips;
    expect(s1.stats().commands + s2.stats().commands).toBe(3000);
    expect(roundTrips).toBeLessThan(50);
  });

  it('keys expire with the window: none is left behind', async () => {
    const keyPrefix = newPrefix();
    const store = await track(createRedisReplayStore({ url: SHARED_URL, keyPrefix, retentionMs: 300 }));
    const { web, core1, core2 } = await nodes([store, store], { windowMs: 300 });
    await Promise.all(Array.from({ length: 100 }, (_, i) => (i % 2 ? core1 : core2).open(web.seal(i))));
    const nonces = `${keyPrefix}${web.keyId}:`;
    const keys = await keysWith(nonces);
    expect(keys).toHaveLength(100);
    for (const key of keys) {
      const pttl = await admin.pttl(key);
      // -1 would be a key without expiry, -2 an already expired one.
      expect(pttl === -2 || (pttl > 0 && pttl <= 300)).toBe(true);
    }
    let left = keys.length;
    for (let i = 0; i < 50 && left > 0; i++) {
      await sleep(100);
      left = (await keysWith(nonces)).length;
    }
    expect(left).toBe(0);
  });

  it('fails closed once closed, and rejects what was still waiting', async () => {
    const store = new RedisReplayStore({ url: SHARED_URL, keyPrefix: newPrefix() });
    await store.connected();
    const now = Date.now();
    const waiting = outcome(store.recordIfAbsent(randomBytes(24), now, now, 'k'));
    await store.close();
    expect(await waiting).toBe('ERR_WA_REPLAY_STORE_UNAVAILABLE');
    expect(await outcome(store.recordIfAbsent(randomBytes(24), now, now, 'k'))).toBe('ERR_WA_REPLAY_STORE_UNAVAILABLE');
  });

  it('works through a client it is given, and leaves that client open on close', async () => {
    const client = new Redis(SHARED_URL, { enableOfflineQueue: false, lazyConnect: true });
    try {
      const store = await createRedisReplayStore({ client, keyPrefix: newPrefix() });
      const now = Date.now();
      const nonce = randomBytes(24);
      expect(await store.recordIfAbsent(nonce, now, now, 'k')).toBe(true);
      expect(await store.recordIfAbsent(nonce, now, now, 'k')).toBe(false);
      await store.close();
      expect(await client.ping()).toBe('PONG');
    } finally {
      client.disconnect();
    }
  });

  it('rejects bad options with ERR_WA_CONFIG', () => {
    for (const options of [
      { commandTimeoutMs: 0 },
      { retentionMs: 0 },
      { ttlMarginMs: 1 },
      { restartHoldMs: Number.NaN },
    ]) {
      expect(() => new RedisReplayStore({ ...options, client: admin })).toThrow(
        expect.objectContaining({ code: 'ERR_WA_CONFIG' }),
      );
    }
  });
});

function recordingLogger(): Logger & { events: string[] } {
  const events: string[] = [];
  const log = (record: object): void => {
    events.push(String((record as { event?: unknown }).event));
  };
  return { events, warn: log, info: log };
}

/** Opens fresh envelopes until one is accepted (or the guard trips): recovery with no help. */
async function untilAccepted(web: Endpoint, core: Endpoint, guardMs = 20_000): Promise<string[]> {
  const seen: string[] = [];
  const deadline = Date.now() + guardMs;
  while (Date.now() < deadline) {
    const result = await outcome(core.open(web.seal('probe')));
    seen.push(result);
    if (result === 'accepted') return seen;
    await sleep(100);
  }
  throw new Error(`never recovered: ${JSON.stringify(count(seen))}`);
}

describe('RedisReplayStore when Redis fails', () => {
  it('a refused port and a misspelt host fail with their own cause, not one same message', async () => {
    const port = await freePort(); // nothing listens there
    const causes: string[] = [];
    for (const url of [`redis://127.0.0.1:${port}`, 'redis://no-such-redis-host.invalid:6379']) {
      const error: unknown = await createRedisReplayStore({ url, connectTimeoutMs: 1500 }).catch((e: unknown) => e);
      expect(error).toMatchObject({ code: 'ERR_WA_REPLAY_STORE_UNAVAILABLE' });
      causes.push(String((error as Error).cause));
    }
    expect(causes[0]).toContain('ECONNREFUSED');
    expect(causes[0]).toContain(`127.0.0.1:${port}`);
    expect(causes[1]).toMatch(/ENOTFOUND|EAI_AGAIN/);
    expect(causes[1]).toContain('no-such-redis-host.invalid');
  });

  it('fails closed while Redis hangs or is down, never hangs, and recovers by itself with no replay across the restart', async () => {
    const redis = await ownRedis();
    const windowMs = 2000;
    // The hold must cover the longest key lifetime: retention + skew (0 here).
    const options = {
      url: redis.url,
      keyPrefix: newPrefix(),
      commandTimeoutMs: 200,
      retentionMs: windowMs,
      restartHoldMs: windowMs,
    };
    const log1 = recordingLogger();
    const s1 = await track(createRedisReplayStore({ ...options, logger: log1 }));
    const s2 = await track(createRedisReplayStore(options));
    const secret = generateSecret();
    const common = { secret, windowMs, maxSkewMs: 0 };
    const web = await createEndpoint({ ...common, role: 'webapp' });
    const core1 = await createEndpoint({ ...common, role: 'coreapp', replayStore: s1 });
    const core2 = await createEndpoint({ ...common, role: 'coreapp', replayStore: s2 });

    // A server that just started may have lost nonces: refused until restartHoldMs has passed.
    const first = await outcome(core1.open(web.seal('early')));
    expect(first).toBe('ERR_WA_REPLAY_STORE_UNAVAILABLE');
    await untilAccepted(web, core1);
    await untilAccepted(web, core2);

    // Traffic that works.
    const accepted = Array.from({ length: 20 }, (_, i) => web.seal(i));
    expect(await Promise.all(accepted.map((e) => outcome(core1.open(e))))).toEqual(Array(20).fill('accepted'));
    expect(count(await Promise.all(accepted.map((e) => outcome(core2.open(e)))))).toEqual({ ERR_WA_REPLAYED: 20 });

    // Redis hangs (stopped, socket open): every call ends, unavailable, after the timeout.
    redis.freeze();
    const hung = await Promise.all([
      ...Array.from({ length: 20 }, () => outcome(core1.open(web.seal('new')))),
      ...accepted.map((e) => outcome(core2.open(e))),
    ]);
    expect(count(hung)).toEqual({ ERR_WA_REPLAY_STORE_UNAVAILABLE: 40 });

    // Redis dies: unavailable, at once (no offline queue).
    await redis.kill();
    const down = await Promise.all([
      ...Array.from({ length: 20 }, () => outcome(core2.open(web.seal('new')))),
      ...accepted.map((e) => outcome(core1.open(e))),
    ]);
    expect(count(down)).toEqual({ ERR_WA_REPLAY_STORE_UNAVAILABLE: 40 });

    // Back on the same port, empty: the envelopes accepted before are not accepted again,
    // neither while the store holds (the server is young) nor after (they have expired).
    await redis.restart();
    const replays = async (): Promise<string[]> =>
      Promise.all(accepted.flatMap((e) => [outcome(core1.open(e)), outcome(core2.open(e))]));
    for (const result of await replays())
      expect(['ERR_WA_REPLAY_STORE_UNAVAILABLE', 'ERR_WA_EXPIRED', 'ERR_WA_REPLAYED']).toContain(result);
    await untilAccepted(web, core1);
    await untilAccepted(web, core2);
    for (const result of await replays())
      expect(['ERR_WA_REPLAY_STORE_UNAVAILABLE', 'ERR_WA_EXPIRED', 'ERR_WA_REPLAYED']).toContain(result);
    // And new envelopes race correctly again.
    const fresh = web.seal('after');
    expect(count([await outcome(core1.open(fresh)), await outcome(core2.open(fresh))])).toEqual({
      accepted: 1,
      ERR_WA_REPLAYED: 1,
    });

    // One log line per transition, in order.
    const transitions = log1.events.filter((e) => e !== 'wa_transport.replay_store.hold');
    expect(transitions[0]).toBe('wa_transport.replay_store.unavailable'); // the young server
    for (let i = 1; i < transitions.length; i++) expect(transitions[i]).not.toBe(transitions[i - 1]);
    expect(transitions.at(-1)).toBe('wa_transport.replay_store.available');
    expect(transitions.filter((e) => e === 'wa_transport.replay_store.available').length).toBeGreaterThanOrEqual(2);
    expect(log1.events).toContain('wa_transport.replay_store.hold');
  });

  it('an outage, with traffic and reconnects throughout, logs a few warn lines, not one per attempt', async () => {
    const redis = await ownRedis();
    const warnings: string[] = [];
    const logger: Logger = {
      warn: (record: object) => void warnings.push(String((record as { event?: unknown }).event)),
      info: () => {},
    };
    const windowMs = 1000;
    const options = { url: redis.url, keyPrefix: newPrefix(), commandTimeoutMs: 200, retentionMs: windowMs };
    const store = await track(createRedisReplayStore({ ...options, restartHoldMs: windowMs, logger }));
    const secret = generateSecret();
    const web = await createEndpoint({ role: 'webapp', secret, windowMs, maxSkewMs: 0 });
    const core = await createEndpoint({ role: 'coreapp', secret, windowMs, maxSkewMs: 0, replayStore: store });
    await untilAccepted(web, core); // past the young server's hold
    warnings.length = 0;

    // Down for about 3 s, with traffic every 20 ms (and ioredis reconnecting every ≤ 1 s); then
    // back, empty, held, and accepted again.
    await redis.kill();
    const traffic = async (until: () => boolean): Promise<void> => {
      while (!until()) {
        await Promise.all(Array.from({ length: 10 }, () => outcome(core.open(web.seal('x')))));
        await sleep(20);
      }
    };
    const downUntil = Date.now() + 3000;
    await traffic(() => Date.now() > downUntil);
    await redis.restart();
    await untilAccepted(web, core);
    // Lines are at most one per 5 s of each kind: the outage's may come as the summary of the
    // interval the start-up hold opened.
    for (let i = 0; i < 100 && !warnings.includes('wa_transport.replay_store.unavailable'); i++) await sleep(100);
    const counts = count(warnings);
    recordFigures('redis/outage-warnings', { warnLines: warnings.length, ...counts });
    // One outage, one return to a young server: one line each (unavailable, hold).
    expect(counts['wa_transport.replay_store.unavailable']).toBe(1);
    expect(counts['wa_transport.replay_store.hold'] ?? 0).toBeLessThanOrEqual(1);
  });

  it('a flapping Redis (hanging a few hundred ms at a time for 3 s) logs one unavailable line, not one per change', async () => {
    const redis = await ownRedis();
    const warnings: object[] = [];
    const logger: Logger = { warn: (record: object) => void warnings.push(record), info: () => {} };
    const store = await track(
      createRedisReplayStore({
        url: redis.url,
        keyPrefix: newPrefix(),
        commandTimeoutMs: 100,
        restartHoldMs: 0,
        logger,
      }),
    );
    const secret = generateSecret();
    const web = await createEndpoint({ role: 'webapp', secret });
    const core = await createEndpoint({ role: 'coreapp', secret, replayStore: store });
    const outcomes: string[] = [];
    let flapping = true;
    const traffic = (async () => {
      while (flapping) {
        outcomes.push(...(await Promise.all(Array.from({ length: 5 }, () => outcome(core.open(web.seal('x')))))));
        await sleep(10);
      }
    })();
    const until = Date.now() + 3000;
    try {
      while (Date.now() < until) {
        redis.freeze();
        await sleep(250);
        redis.thaw();
        await sleep(250);
      }
    } finally {
      redis.thaw();
      flapping = false;
      await traffic;
    }
    const counts = count(outcomes);
    const events = warnings.map((w) => String((w as { event?: unknown }).event));
    recordFigures('redis/flapping-warnings', { warnLines: warnings.length, ...counts });
    // It did flap: accepted and refused in turn.
    expect(counts['accepted']).toBeGreaterThan(0);
    expect(counts['ERR_WA_REPLAY_STORE_UNAVAILABLE']).toBeGreaterThan(0);
    expect(events).toEqual(['wa_transport.replay_store.unavailable']);
  });

  it('a take-back that could not be sent is sent before the next records: a refused request can run on its retry', async () => {
    const redis = await ownRedis();
    const client = new Redis(redis.url, { enableOfflineQueue: false, maxRetriesPerRequest: 0 });
    toClose.push({ close: () => client.disconnect() });
    const store = await track(createRedisReplayStore({ client, keyPrefix: newPrefix(), restartHoldMs: 0 }));
    const nonce = randomBytes(24);
    const now = Date.now();
    expect(await store.recordIfAbsent(randomBytes(24), now, now, 'k')).toBe(true); // script loaded
    // The record reaches Redis's socket, frozen; the connection drops before its answer, so the
    // call is refused and its take-back cannot be sent. Thawed, Redis still runs the record.
    redis.freeze();
    const refused = store.recordIfAbsent(nonce, now, now, 'k');
    await sleep(50);
    client.disconnect(true);
    expect(await outcome(refused)).toBe(ErrorCode.REPLAY_STORE_UNAVAILABLE);
    redis.thaw();
    // Until the client has reconnected, other records fail too (the take-back still waits).
    while ((await outcome(store.recordIfAbsent(randomBytes(24), Date.now(), Date.now(), 'k'))) !== 'accepted')
      await sleep(20);
    // The retry must not read "seen": nothing ran. (Before: false, the record left behind.)
    expect(await store.recordIfAbsent(nonce, now, Date.now(), 'k')).toBe(true);
    expect(await store.recordIfAbsent(nonce, now, Date.now(), 'k')).toBe(false);
  });

  it('without the restart hold, an emptied Redis would accept a replay: why the hold exists', async () => {
    const redis = await ownRedis();
    const store = await track(createRedisReplayStore({ url: redis.url, keyPrefix: newPrefix(), restartHoldMs: 0 }));
    const secret = generateSecret();
    const web = await createEndpoint({ secret, role: 'webapp' });
    const core = await createEndpoint({ secret, role: 'coreapp', replayStore: store });
    const envelope = web.seal('once');
    expect(await outcome(core.open(envelope))).toBe('accepted');
    await redis.kill();
    await redis.restart();
    await untilAccepted(web, core);
    expect(await outcome(core.open(envelope))).toBe('accepted');
  });

  it('fails closed when Redis refuses writes (maxmemory reached under noeviction)', async () => {
    const redis = await ownRedis();
    const store = await track(createRedisReplayStore({ url: redis.url, keyPrefix: newPrefix(), restartHoldMs: 0 }));
    const config = new Redis(redis.url);
    try {
      await config.config('SET', 'maxmemory-policy', 'noeviction');
      await config.config('SET', 'maxmemory', '1');
      const now = Date.now();
      expect(await outcome(store.recordIfAbsent(randomBytes(24), now, now, 'k'))).toBe(
        'ERR_WA_REPLAY_STORE_UNAVAILABLE',
      );
      await config.config('SET', 'maxmemory', '0');
      expect(await store.recordIfAbsent(randomBytes(24), now, now, 'k')).toBe(true);
    } finally {
      config.disconnect();
    }
  });

  it('createRedisReplayStore rejects, unavailable, when no server answers', async () => {
    const port = await freePort();
    expect(await outcome(createRedisReplayStore({ url: `redis://127.0.0.1:${port}`, connectTimeoutMs: 300 }))).toBe(
      'ERR_WA_REPLAY_STORE_UNAVAILABLE',
    );
  });
});
