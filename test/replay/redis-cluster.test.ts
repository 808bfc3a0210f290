/**
 * The Redis replay store on a Redis Cluster (3 masters, 3 replicas), started by the test on
 * spare loopback ports
 * (test/redis/servers.ts): exactly once across CoreApp nodes, and a master SIGKILLed
 * mid-traffic while an attacker replays everything already accepted → 0 replays accepted,
 * every legitimate envelope accepted once or refused with a retriable code, and the nodes
 * recover by themselves. Windows, retention and holds are shortened (seconds, not tens of
 * seconds) so the failovers fit in the run.
 */
import { randomBytes } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { inspect } from 'node:util';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ErrorCode, createEndpoint, generateSecret, isWaTransportError } from '../../src/index.js';
import { loadConfig, replayStoreFromConfig } from '../../src/ops/config.js';
import { RedisClusterReplayStore, createRedisReplayStore } from '../../src/replay/redis.js';
import type { Logger } from '../../src/log.js';
import { type RedisClusterHandle, startCluster } from '../redis/servers.js';

// Longer than a failover takes here (1 s to declare the master down, then an election): a
// shorter window would refuse the lost nonces' replays as expired before the store is asked.
import {
  TIMING,
  coreNodes,
  deliverConcurrently,
  expectSafeFailover,
  failoverLosingWrites,
  maxSkewMs,
  recordingLogger,
  stores,
  requestsThrough,
  windowMs,
} from './failover-fixture.js';

describe('on a Redis Cluster (3 masters, 3 replicas)', () => {
  let cluster: RedisClusterHandle;
  beforeAll(async () => {
    cluster = await startCluster();
  }, 60_000);
  afterAll(async () => {
    await cluster?.stop();
  });

  it('two CoreApp nodes: 2,000 envelopes each delivered 8 times across both → each accepted once, keys on every master', async () => {
    const secret = generateSecret();
    // 16,000 opens at once on 2 shared cores take seconds: the default window and retention,
    // and a generous timeout, as this is about exactly once, not about speed (the cluster has
    // just started: a short hold, waited out).
    const web = await createEndpoint({ role: 'webapp', secret });
    const made: RedisClusterReplayStore[] = [];
    const nodes = await coreNodes(
      secret,
      async () => {
        const store = (await createRedisReplayStore({
          clusterNodes: cluster.seeds,
          keyPrefix: 'wa:once:',
          commandTimeoutMs: 10_000,
          restartHoldMs: TIMING.restartHoldMs,
        })) as RedisClusterReplayStore;
        made.push(store);
        return store;
      },
      {},
    );
    for (const store of made)
      while (
        await store.ready().then(
          () => false,
          () => true,
        )
      )
        await sleep(100);
    const accepted = await deliverConcurrently(web, nodes, 2000, 8);
    expect(accepted.filter((n) => n !== 1)).toEqual([]);
    const masters = (await cluster.nodes()).filter((n) => n.role === 'master' && !n.failed);
    const client = cluster.client();
    await client.ping(); // ready: the client knows the nodes
    const perMaster: number[] = [];
    for (const master of masters) {
      const node = client.nodes('master').find((n) => n.options.port === master.port)!;
      perMaster.push((await node.keys('wa:once:*')).length);
    }
    expect(perMaster.every((n) => n > 0)).toBe(true); // spread over every master
  }, 60_000);

  it('is what replayStoreFromConfig builds from WA_REPLAY_REDIS_CLUSTER_NODES', async () => {
    const config = await loadConfig({
      WA_SECRET: generateSecret(),
      WA_REPLAY_REDIS_CLUSTER_NODES: cluster.seeds.join(','),
    });
    const store = await replayStoreFromConfig(config, { restartHoldMs: 0 });
    stores.push(store as RedisClusterReplayStore);
    expect(store).toBeInstanceOf(RedisClusterReplayStore);
    expect(await store.recordIfAbsent(new Uint8Array(24).fill(9), Date.now(), Date.now(), 'k')).toBe(true);
    expect(await store.recordIfAbsent(new Uint8Array(24).fill(9), Date.now(), Date.now(), 'k')).toBe(false);
  });

  it('refuses bad seeds and two ways at once, naming what is wrong', async () => {
    await expect(createRedisReplayStore({ clusterNodes: ['127.0.0.1:0'] })).rejects.toMatchObject({
      code: ErrorCode.CONFIG,
      message: expect.stringContaining('clusterNodes: 127.0.0.1:0 is not host:port'),
    });
    await expect(
      createRedisReplayStore({ clusterNodes: cluster.seeds, url: 'redis://127.0.0.1:1' }),
    ).rejects.toMatchObject({
      code: ErrorCode.CONFIG,
      message: expect.stringContaining('not url and clusterNodes'),
    });
    await expect(createRedisReplayStore({ clusterNodes: cluster.seeds, keyPrefix: 'a{b}' })).rejects.toMatchObject({
      code: ErrorCode.CONFIG,
    });
  });

  it('a master SIGKILLed mid-traffic: every HTTP request runs exactly once, 0 replays, recovery without a restart', async () => {
    const secret = generateSecret();
    const web = await createEndpoint({ role: 'webapp', secret, windowMs, maxSkewMs });
    const nodes = await coreNodes(secret, () =>
      createRedisReplayStore({ clusterNodes: cluster.seeds, keyPrefix: 'wa:failover:', ...TIMING }),
    );
    // The master serving bucket {0}'s slot, and its replica.
    const client = cluster.client();
    const slot = Number(await client.cluster('KEYSLOT', '{0}'));
    const all = await cluster.nodes();
    const master = all.find((n) => n.role === 'master' && n.slots.some(([from, to]) => slot >= from && slot <= to))!;
    const replica = all.find((n) => n.masterId === master.id)!;
    const figures = await requestsThrough(web, nodes, async () => {
      await failoverLosingWrites(master.port, replica.port, () => cluster.killMaster(slot));
      // Back as a replica for the next test, and old enough by then that its promotion is not
      // held as a server that restarted recently.
      await cluster.restartNode(master.port);
    });
    expectSafeFailover('faults/failover/cluster', figures);
  }, 90_000);

  it('with WAIT 1 (replicaAcks): the same failover, 0 replays, refused only while no replica acknowledges, no hold', async () => {
    // Every master needs its replica again (the test above restarted the one it killed).
    for (const node of await cluster.nodes()) if (node.pid === undefined) await cluster.restartNode(node.port);
    const secret = generateSecret();
    const web = await createEndpoint({ role: 'webapp', secret, windowMs, maxSkewMs });
    const logger = recordingLogger();
    const nodes = await coreNodes(secret, () =>
      createRedisReplayStore({
        clusterNodes: cluster.seeds,
        keyPrefix: 'wa:wait:',
        replicaAcks: 1,
        logger,
        ...TIMING,
      }),
    );
    const client = cluster.client();
    const slot = Number(await client.cluster('KEYSLOT', '{0}'));
    const all = await cluster.nodes();
    const master = all.find((n) => n.role === 'master' && n.slots.some(([from, to]) => slot >= from && slot <= to))!;
    const replica = all.find((n) => n.masterId === master.id && n.pid !== undefined)!;
    const figures = await requestsThrough(web, nodes, async () => {
      await failoverLosingWrites(master.port, replica.port, () => cluster.killMaster(slot));
      // The promoted replica has no replica of its own: WAIT 1 refuses until the old master
      // is back as one.
      await cluster.restartNode(master.port);
    });
    expectSafeFailover('faults/failover/cluster-wait', figures, { mayLose: true });
    // Every nonce was on the only replica: the change of master is followed without a hold.
    expect(logger.events).toContain('wa_transport.replay_store.master_changed');
    expect(logger.events).not.toContain('wa_transport.replay_store.hold');
  }, 90_000);
});

it('a cluster that requires a password: WA_REPLAY_REDIS_PASSWORD reaches every data node, and is never shown', async () => {
  const password = 'hunter2-cluster-secret';
  const locked = await startCluster({ masters: 3, replicasPerMaster: 0, password });
  try {
    const seen: string[] = [];
    const logger: Logger = {
      warn: (record: object, message?: string) => void seen.push(JSON.stringify(record), message ?? ''),
      info: (record: object, message?: string) => void seen.push(JSON.stringify(record), message ?? ''),
    };
    const without: unknown = await createRedisReplayStore({
      clusterNodes: locked.seeds,
      connectTimeoutMs: 1500,
      logger,
    }).catch((e: unknown) => e);
    expect(isWaTransportError(without, ErrorCode.REPLAY_STORE_UNAVAILABLE)).toBe(true);
    const config = await loadConfig({
      WA_SECRET: generateSecret(),
      WA_REPLAY_REDIS_CLUSTER_NODES: locked.seeds.join(','),
      WA_REPLAY_REDIS_PASSWORD: password,
    });
    const store = await replayStoreFromConfig(config, { restartHoldMs: 0, logger });
    stores.push(store as RedisClusterReplayStore);
    // Nonces spread over every bucket, so over every master: each one let us in.
    for (let i = 0; i < 64; i++) {
      const nonce = randomBytes(24);
      expect(await store.recordIfAbsent(nonce, Date.now(), Date.now(), 'k')).toBe(true);
      expect(await store.recordIfAbsent(nonce, Date.now(), Date.now(), 'k')).toBe(false);
    }
    const shown = [
      ...seen,
      String(without),
      inspect(without, { depth: 10 }),
      inspect(store, { depth: 10, showHidden: true }),
      JSON.stringify(config),
      inspect(config, { depth: 10 }),
    ];
    for (const text of shown) expect(text).not.toContain(password);
  } finally {
    await locked.stop();
  }
}, 60_000);

it('a cluster in fail state is refused at start, not used', async () => {
  const broken = await startCluster({ masters: 3, replicasPerMaster: 0, nodeTimeoutMs: 500 }); // fails sooner
  try {
    const slot = 0;
    const victim = (await broken.nodes()).find((n) => n.slots.some(([from, to]) => slot >= from && slot <= to))!;
    process.kill(victim.pid!, 'SIGKILL');
    const alive = broken.seeds.filter((seed) => !seed.endsWith(`:${victim.port}`));
    const asker = new Redis(Number(alive[0]!.split(':')[1]), '127.0.0.1');
    // Until the other masters mark it failed (cluster-node-timeout), the cluster still says ok.
    while (!/cluster_state:fail/.test(String(await asker.cluster('INFO')))) await sleep(100);
    asker.disconnect();
    const error: unknown = await createRedisReplayStore({ clusterNodes: alive, connectTimeoutMs: 2000 }).catch(
      (e: unknown) => e,
    );
    expect(isWaTransportError(error, ErrorCode.REPLAY_STORE_UNAVAILABLE)).toBe(true);
    expect((error as Error).message).toContain('cluster_state is fail');
  } finally {
    await broken.stop();
  }
}, 60_000);
