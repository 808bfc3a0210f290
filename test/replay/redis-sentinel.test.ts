import { randomBytes } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { inspect } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ErrorCode, createEndpoint, generateSecret, isWaTransportError } from '../../src/index.js';
import { loadConfig, replayStoreFromConfig } from '../../src/ops/config.js';
import { type RedisClusterReplayStore, createRedisReplayStore } from '../../src/replay/redis.js';
import { type RedisSentinelHandle, type RedisServer, startRedis, startSentinel } from '../redis/servers.js';

// Longer than a failover takes here (1 s to declare the master down, then an election): a
// shorter window would refuse the lost nonces' replays as expired before the store is asked.
import {
  TIMING,
  coreNodes,
  expectSafeFailover,
  failoverLosingWrites,
  maxSkewMs,
  recordingLogger,
  replicaOf,
  stores,
  requestsThrough,
  windowMs,
} from './failover-fixture.js';

it('a master and sentinels that require passwords: WA_REPLAY_REDIS_PASSWORD and _SENTINEL_PASSWORD reach them, not shown', async () => {
  const password = 'hunter2-sentinel-secret';
  const sentinelPassword = 'hunter2-sentinels-own';
  const locked = await startSentinel({ password, sentinelPassword, masterName: 'wa-locked' });
  try {
    const config = await loadConfig({
      WA_SECRET: generateSecret(),
      WA_REPLAY_REDIS_SENTINELS: locked.sentinels.join(','),
      WA_REPLAY_REDIS_SENTINEL_MASTER: locked.masterName,
      WA_REPLAY_REDIS_PASSWORD: password,
      WA_REPLAY_REDIS_SENTINEL_PASSWORD: sentinelPassword,
    });
    const store = await replayStoreFromConfig(config, { restartHoldMs: 0 });
    stores.push(store as RedisClusterReplayStore);
    expect(await store.recordIfAbsent(new Uint8Array(24).fill(5), Date.now(), Date.now(), 'k')).toBe(true);
    expect(await store.recordIfAbsent(new Uint8Array(24).fill(5), Date.now(), Date.now(), 'k')).toBe(false);
    const without: unknown = await createRedisReplayStore({
      sentinels: locked.sentinels,
      sentinelMaster: locked.masterName,
      sentinelPassword,
      connectTimeoutMs: 1500,
    }).catch((e: unknown) => e);
    expect(isWaTransportError(without, ErrorCode.REPLAY_STORE_UNAVAILABLE)).toBe(true);
    // The data nodes' password alone does not open the sentinels.
    const withoutSentinelPassword: unknown = await createRedisReplayStore({
      sentinels: locked.sentinels,
      sentinelMaster: locked.masterName,
      password,
      connectTimeoutMs: 1500,
    }).catch((e: unknown) => e);
    expect(isWaTransportError(withoutSentinelPassword, ErrorCode.REPLAY_STORE_UNAVAILABLE)).toBe(true);
    const shown = [
      inspect(without, { depth: 10 }),
      inspect(withoutSentinelPassword, { depth: 10 }),
      inspect(store, { showHidden: true }),
      JSON.stringify(config),
    ];
    for (const text of shown) {
      expect(text).not.toContain(password);
      expect(text).not.toContain(sentinelPassword);
    }
  } finally {
    await locked.stop();
  }
}, 60_000);

describe('WAIT (replicaAcks)', () => {
  it('refuses and takes back fresh nonces no replica acknowledged; accepts once a replica does', async () => {
    const master = await startRedis();
    const replicas: RedisServer[] = [];
    try {
      const store = await createRedisReplayStore({
        url: master.url,
        keyPrefix: 'wa:acks:',
        replicaAcks: 1,
        commandTimeoutMs: 2000, // WAIT waits up to half: a loaded machine's replica answers in time
        restartHoldMs: 0,
      });
      stores.push(store);
      const nonce = new Uint8Array(24).fill(3);
      const error: unknown = await store.recordIfAbsent(nonce, Date.now(), Date.now(), 'k').catch((e: unknown) => e);
      expect(isWaTransportError(error, ErrorCode.REPLAY_STORE_UNAVAILABLE)).toBe(true);
      expect((error as Error).message).toContain('redis: replicas did not acknowledge');
      const admin = master.client();
      while ((await admin.keys('wa:acks:k:*')).length > 0) await sleep(20); // taken back
      replicas.push(await startRedis({ args: ['--replicaof', '127.0.0.1', String(master.port)] }));
      const replica = replicas[0]!.client();
      while (!/master_link_status:up/.test(await replica.info('replication'))) await sleep(50);
      expect(await store.recordIfAbsent(nonce, Date.now(), Date.now(), 'k')).toBe(true);
      expect(await store.recordIfAbsent(nonce, Date.now(), Date.now(), 'k')).toBe(false);
    } finally {
      for (const replica of replicas) await replica.stop();
      await master.stop();
    }
  });

  it('refuses username and password beside a url, and a username without a password', async () => {
    await expect(createRedisReplayStore({ url: 'redis://127.0.0.1:1', password: 'pw' })).rejects.toMatchObject({
      code: ErrorCode.CONFIG,
      message: expect.stringContaining('with url, put them in the URL'),
    });
    await expect(createRedisReplayStore({ clusterNodes: ['127.0.0.1:1'], username: 'u' })).rejects.toMatchObject({
      code: ErrorCode.CONFIG,
      message: expect.stringContaining('password is required'),
    });
  });

  it('rejects a replicaAcks that is not a whole number', async () => {
    await expect(createRedisReplayStore({ url: 'redis://127.0.0.1:1', replicaAcks: -1 })).rejects.toMatchObject({
      code: ErrorCode.CONFIG,
      message: expect.stringContaining('replicaAcks'),
    });
  });
});

it('WAIT behind Sentinel with two replicas: replicaAcks 1 still holds after a failover, replicaAcks 2 does not', async () => {
  // WAIT 1 says some replica has each nonce, not which: the one promoted may be the other.
  const two = await startSentinel({ replicas: 2, masterName: 'wa-two' });
  try {
    const timing = { commandTimeoutMs: 1000, retentionMs: 1000, restartHoldMs: 1200 };
    const watch = async (replicaAcks: number) => {
      const logger = recordingLogger();
      const store = await createRedisReplayStore({
        sentinels: two.sentinels,
        sentinelMaster: two.masterName,
        keyPrefix: `wa:two-${replicaAcks}:`,
        replicaAcks,
        logger,
        ...timing,
      });
      stores.push(store);
      return { store, logger };
    };
    const watched = [await watch(1), await watch(2)];
    const record = ({ store }: (typeof watched)[number]) =>
      store.recordIfAbsent(randomBytes(24), Date.now(), Date.now(), 'k').catch(() => false);
    for (let i = 0; i < 5; i++) for (const w of watched) expect(await record(w)).toBe(true); // both replicas ack
    await two.killMaster();
    // Until each store has met the new master: a hold, or a change of master followed without one.
    const met = (w: (typeof watched)[number]) =>
      w.logger.events.some(
        (e) => e === 'wa_transport.replay_store.hold' || e === 'wa_transport.replay_store.master_changed',
      );
    const deadline = performance.now() + 20_000;
    while (!watched.every(met) && performance.now() < deadline) {
      for (const w of watched) await record(w);
      await sleep(50);
    }
    const [one, both] = watched.map((w) => w.logger.events);
    expect(one).toContain('wa_transport.replay_store.hold');
    expect(both).toContain('wa_transport.replay_store.master_changed');
    expect(both).not.toContain('wa_transport.replay_store.hold');
  } finally {
    await two.stop();
  }
}, 60_000);

describe('behind Sentinel (1 master, 1 replica, 3 sentinels)', () => {
  let sentinel: RedisSentinelHandle;
  beforeAll(async () => {
    sentinel = await startSentinel();
  }, 60_000);
  afterAll(async () => {
    await sentinel?.stop();
  });

  it('is what replayStoreFromConfig builds from WA_REPLAY_REDIS_SENTINELS and _SENTINEL_MASTER', async () => {
    const config = await loadConfig({
      WA_SECRET: generateSecret(),
      WA_REPLAY_REDIS_SENTINELS: sentinel.sentinels.join(','),
      WA_REPLAY_REDIS_SENTINEL_MASTER: sentinel.masterName,
    });
    const store = await replayStoreFromConfig(config, { restartHoldMs: 0 });
    stores.push(store as RedisClusterReplayStore);
    expect(await store.recordIfAbsent(new Uint8Array(24).fill(7), Date.now(), Date.now(), 'k')).toBe(true);
    expect(await store.recordIfAbsent(new Uint8Array(24).fill(7), Date.now(), Date.now(), 'k')).toBe(false);
  });

  it('an unknown master name and a missing one are refused clearly', async () => {
    await expect(createRedisReplayStore({ sentinels: sentinel.sentinels })).rejects.toMatchObject({
      code: ErrorCode.CONFIG,
      message: expect.stringContaining('sentinelMaster'),
    });
    const error: unknown = await createRedisReplayStore({
      sentinels: sentinel.sentinels,
      sentinelMaster: 'no-such-master',
      connectTimeoutMs: 1500,
    }).catch((e: unknown) => e);
    expect(error).toMatchObject({ code: ErrorCode.REPLAY_STORE_UNAVAILABLE });
  });

  it('the master SIGKILLed mid-traffic: every HTTP request runs exactly once, 0 replays, the new master followed', async () => {
    const secret = generateSecret();
    const web = await createEndpoint({ role: 'webapp', secret, windowMs, maxSkewMs });
    const nodes = await coreNodes(secret, () =>
      createRedisReplayStore({
        sentinels: sentinel.sentinels,
        sentinelMaster: sentinel.masterName,
        keyPrefix: 'wa:sentinel:',
        ...TIMING,
      }),
    );
    const master = await sentinel.master();
    const replicaPort = await replicaOf(sentinel);
    expect(replicaPort).not.toBe(master.port);
    const figures = await requestsThrough(web, nodes, async () => {
      await failoverLosingWrites(master.port, replicaPort, () => sentinel.killMaster());
      // Back as the new master's replica, for the next test: old enough by then that its
      // promotion is not held as a server that restarted recently.
      await sentinel.restartKilled({ seenBySentinels: false });
    });
    expectSafeFailover('faults/failover/sentinel', figures);
  }, 90_000);

  it('with WAIT 1 (replicaAcks): the same failover, 0 replays, the new master followed without a hold', async () => {
    await sentinel.restartKilled(); // restarted by the test above: known to the sentinels now
    const secret = generateSecret();
    const web = await createEndpoint({ role: 'webapp', secret, windowMs, maxSkewMs });
    const logger = recordingLogger();
    const nodes = await coreNodes(secret, () =>
      createRedisReplayStore({
        sentinels: sentinel.sentinels,
        sentinelMaster: sentinel.masterName,
        keyPrefix: 'wa:sentinel-wait:',
        replicaAcks: 1,
        logger,
        ...TIMING,
      }),
    );
    const master = await sentinel.master();
    const replicaPort = await replicaOf(sentinel);
    const figures = await requestsThrough(web, nodes, async () => {
      await failoverLosingWrites(master.port, replicaPort, () => sentinel.killMaster());
      await sentinel.restartKilled({ seenBySentinels: false }); // a replica to acknowledge WAIT, now
    });
    expectSafeFailover('faults/failover/sentinel-wait', figures, { mayLose: true });
    expect(logger.events).toContain('wa_transport.replay_store.master_changed');
    expect(logger.events).not.toContain('wa_transport.replay_store.hold');
  }, 90_000);
});
