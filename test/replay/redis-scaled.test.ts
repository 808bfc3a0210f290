/**
 * The Redis replay store on a Redis Cluster (3 masters, 3 replicas) and behind Sentinel (one
 * master, one replica, three sentinels), each started by the test on spare loopback ports
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
import { type Endpoint, ErrorCode, createEndpoint, generateSecret, isWaTransportError } from '../../src/index.js';
import type { ReplayStore } from '../../src/replay/store.js';
import { loadConfig, replayStoreFromConfig } from '../../src/ops/config.js';
import { RedisClusterReplayStore, createRedisReplayStore } from '../../src/replay/redis.js';
import { recordFigures } from '../soak/figures.js';
import type { Logger } from '../../src/log.js';
import {
  type RedisClusterHandle,
  type RedisSentinelHandle,
  type RedisServer,
  startCluster,
  startRedis,
  startSentinel,
} from '../redis/servers.js';

// Longer than a failover takes here (1 s to declare the master down, then an election): a
// shorter window would refuse the lost nonces' replays as expired before the store is asked.
const windowMs = 5000;
const maxSkewMs = 200;
const retentionMs = windowMs + 100;
const TIMING = { commandTimeoutMs: 300, retentionMs, restartHoldMs: retentionMs + maxSkewMs };
const RETRIABLE: readonly string[] = [ErrorCode.REPLAY_STORE_UNAVAILABLE];

const stores: Array<{ close(): Promise<void> }> = [];
afterAll(async () => {
  for (const store of stores) await store.close();
});

async function coreNodes(
  secret: string,
  make: () => Promise<ReplayStore & { close(): Promise<void> }>,
  window: { windowMs?: number; maxSkewMs?: number } = { windowMs, maxSkewMs },
): Promise<Endpoint[]> {
  const nodes: Endpoint[] = [];
  for (let i = 0; i < 2; i++) {
    const store = await make();
    stores.push(store);
    nodes.push(await createEndpoint({ role: 'coreapp', secret, ...window, replayStore: store }));
  }
  return nodes;
}

/** Each envelope delivered `copies` times, concurrently, spread over the nodes: how many were accepted. */
async function deliverConcurrently(
  web: Endpoint,
  nodes: readonly Endpoint[],
  envelopes: number,
  copies: number,
): Promise<number[]> {
  const sealed = Array.from({ length: envelopes }, (_, i) => web.seal({ i }));
  const accepted = new Array<number>(envelopes).fill(0);
  await Promise.all(
    sealed.flatMap((envelope, i) =>
      Array.from({ length: copies }, (_, c) =>
        nodes[(i + c) % nodes.length]!.open(envelope).then(
          () => void accepted[i]!++,
          (error: unknown) => {
            if (!isWaTransportError(error, ErrorCode.REPLAYED)) throw error;
          },
        ),
      ),
    ),
  );
  return accepted;
}

interface FailoverFigures {
  legitAccepted: number;
  legitRefused: number;
  replaysAccepted: number;
  replaysRefused: number;
  otherErrors: string[];
  refusedMs: number;
  recovered: boolean;
}

/**
 * Legitimate traffic spread over the nodes, and an attacker replaying every envelope accepted
 * so far, before, during and after `fault` (a master SIGKILLed); until the nodes accept again.
 */
async function trafficThrough(
  web: Endpoint,
  nodes: readonly Endpoint[],
  fault: () => Promise<unknown>,
): Promise<FailoverFigures> {
  const figures: FailoverFigures = {
    legitAccepted: 0,
    legitRefused: 0,
    replaysAccepted: 0,
    replaysRefused: 0,
    otherErrors: [],
    refusedMs: 0,
    recovered: false,
  };
  const accepted: Uint8Array[] = [];
  let faultDone = false;
  let firstRefusal: number | undefined;
  let lastRefusal: number | undefined;
  const round = async (i: number): Promise<void> => {
    const batch = Array.from({ length: 20 }, (_, k) => web.seal({ i, k }));
    await Promise.all(
      batch.map((envelope, k) =>
        nodes[k % nodes.length]!.open(envelope).then(
          () => {
            figures.legitAccepted++;
            accepted.push(envelope);
          },
          (error: unknown) => {
            if (isWaTransportError(error) && RETRIABLE.includes(error.code)) {
              figures.legitRefused++;
              firstRefusal ??= performance.now();
              lastRefusal = performance.now();
            } else figures.otherErrors.push(isWaTransportError(error) ? error.code : String(error));
          },
        ),
      ),
    );
    // The attacker replays everything accepted so far, to every node.
    await Promise.all(
      accepted.flatMap((envelope) =>
        nodes.map((node) =>
          node.open(envelope).then(
            () => void figures.replaysAccepted++,
            () => void figures.replaysRefused++,
          ),
        ),
      ),
    );
    // Replays older than the window are refused as expired without reaching the store.
    if (accepted.length > 1000) accepted.splice(0, accepted.length - 1000);
  };
  let i = 0;
  for (; i < 10; i++) await round(i); // before
  const faulting = fault().then(() => {
    faultDone = true;
  });
  const deadline = performance.now() + 30_000;
  let acceptedAfter = 0;
  while (performance.now() < deadline) {
    const before = figures.legitAccepted;
    await round(i++);
    if (faultDone && lastRefusal !== undefined) {
      acceptedAfter = figures.legitAccepted - before === 20 ? acceptedAfter + 1 : 0;
      if (acceptedAfter >= 5) break; // five whole rounds accepted after the failover: recovered
    }
    await sleep(20);
  }
  await faulting;
  figures.recovered = acceptedAfter >= 5;
  figures.refusedMs = firstRefusal === undefined ? 0 : lastRefusal! - firstRefusal;
  return figures;
}

/**
 * Recorded for the soak summary, then held to the promise: 0 replays, every refusal retriable,
 * some refusals (the hold, or the outage, was met), and recovery without a restart.
 */
function expectSafeFailover(name: string, figures: FailoverFigures): void {
  recordFigures(name, {
    ...figures,
    refusedMs: Math.round(figures.refusedMs),
    otherErrors: figures.otherErrors.length,
  });
  expect(figures.replaysAccepted).toBe(0);
  expect(figures.otherErrors).toEqual([]);
  expect(figures.legitRefused).toBeGreaterThan(0);
  expect(figures.recovered).toBe(true);
}

/** The port of the master's replica, as the sentinels know it (one that is up). */
async function replicaOf(sentinel: RedisSentinelHandle): Promise<number> {
  const asker = new Redis(Number(sentinel.sentinels[0]!.split(':')[1]), '127.0.0.1');
  try {
    const replicas = (await asker.call('SENTINEL', 'replicas', sentinel.masterName)) as string[][];
    const up = replicas.find((r) => !/s_down|disconnected/.test(r[r.indexOf('flags') + 1] ?? ''))!;
    return Number(up[up.indexOf('port') + 1]);
  } finally {
    asker.disconnect();
  }
}

/** The PID of the redis-server on `port` (INFO server's process_id). */
async function pidOn(port: number): Promise<number> {
  const client = new Redis(port, '127.0.0.1', { lazyConnect: true, maxRetriesPerRequest: 0 });
  try {
    return Number(/^process_id:(\d+)/m.exec(await client.info('server'))![1]);
  } finally {
    client.disconnect();
  }
}

/**
 * The failover that loses writes: the replica is frozen (SIGSTOP) and the master drops its link
 * to it (CLIENT KILL TYPE replica), then keeps accepting nonces that never reach it; then the
 * master is SIGKILLed and the replica thawed and promoted without them. Replication is
 * asynchronous, and this is its worst case: without a hold after the change of master, the
 * replays of those nonces are accepted. (Freezing alone loses nothing: the kernel keeps
 * buffering the replication stream for the frozen process.)
 */
async function failoverLosingWrites(
  masterPort: number,
  replicaPort: number,
  kill: () => Promise<unknown>,
): Promise<void> {
  const pid = await pidOn(replicaPort);
  const master = new Redis(masterPort, '127.0.0.1', { maxRetriesPerRequest: 0 });
  process.kill(pid, 'SIGSTOP');
  try {
    await master.call('CLIENT', 'KILL', 'TYPE', 'replica');
    master.disconnect();
    await sleep(400); // writes the replica will never see
    const killing = kill();
    await sleep(100);
    process.kill(pid, 'SIGCONT');
    await killing;
  } finally {
    master.disconnect();
    try {
      process.kill(pid, 'SIGCONT');
    } catch {}
  }
}

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
    // just started: a short hold).
    const web = await createEndpoint({ role: 'webapp', secret });
    const nodes = await coreNodes(
      secret,
      () =>
        createRedisReplayStore({
          clusterNodes: cluster.seeds,
          keyPrefix: 'wa:once:',
          commandTimeoutMs: 10_000,
          restartHoldMs: TIMING.restartHoldMs,
        }),
      {},
    );
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

  it('a master SIGKILLed mid-traffic: 0 replays accepted, refusals retriable, recovery without a restart', async () => {
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
    const figures = await trafficThrough(web, nodes, () =>
      failoverLosingWrites(master.port, replica.port, () => cluster.killMaster(slot)),
    );
    expectSafeFailover('faults/failover/cluster', figures);
  }, 90_000);

  it('with WAIT 1 (replicaAcks): the same failover, 0 replays, refused only while no replica acknowledges, no hold', async () => {
    // Every master needs its replica again: an earlier failover left one without.
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
    const figures = await trafficThrough(web, nodes, async () => {
      await failoverLosingWrites(master.port, replica.port, () => cluster.killMaster(slot));
      // The promoted replica has no replica of its own: WAIT 1 refuses until the old master
      // is back as one.
      await cluster.restartNode(master.port);
    });
    expectSafeFailover('faults/failover/cluster-wait', figures);
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

it('a master behind Sentinel that requires a password: WA_REPLAY_REDIS_PASSWORD reaches it, not shown', async () => {
  const password = 'hunter2-sentinel-secret';
  const locked = await startSentinel({ password, masterName: 'wa-locked' });
  try {
    const config = await loadConfig({
      WA_SECRET: generateSecret(),
      WA_REPLAY_REDIS_SENTINELS: locked.sentinels.join(','),
      WA_REPLAY_REDIS_SENTINEL_MASTER: locked.masterName,
      WA_REPLAY_REDIS_PASSWORD: password,
    });
    const store = await replayStoreFromConfig(config, { restartHoldMs: 0 });
    stores.push(store as RedisClusterReplayStore);
    expect(await store.recordIfAbsent(new Uint8Array(24).fill(5), Date.now(), Date.now(), 'k')).toBe(true);
    expect(await store.recordIfAbsent(new Uint8Array(24).fill(5), Date.now(), Date.now(), 'k')).toBe(false);
    const without: unknown = await createRedisReplayStore({
      sentinels: locked.sentinels,
      sentinelMaster: locked.masterName,
      connectTimeoutMs: 1500,
    }).catch((e: unknown) => e);
    expect(isWaTransportError(without, ErrorCode.REPLAY_STORE_UNAVAILABLE)).toBe(true);
    for (const text of [inspect(without, { depth: 10 }), inspect(store, { showHidden: true }), JSON.stringify(config)])
      expect(text).not.toContain(password);
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

function recordingLogger(): Logger & { events: string[] } {
  const events: string[] = [];
  const log = (record: object): void => {
    events.push(String((record as { event?: unknown }).event));
  };
  return { events, warn: log, info: log };
}

it('a cluster in fail state is refused at start, not used', async () => {
  const broken = await startCluster({ masters: 3, replicasPerMaster: 0 });
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

  it('the master SIGKILLed mid-traffic: 0 replays accepted, refusals retriable, the new master followed', async () => {
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
    const figures = await trafficThrough(web, nodes, () =>
      failoverLosingWrites(master.port, replicaPort, () => sentinel.killMaster()),
    );
    expectSafeFailover('faults/failover/sentinel', figures);
  }, 90_000);

  it('with WAIT 1 (replicaAcks): the same failover, 0 replays, the new master followed without a hold', async () => {
    await sentinel.restartKilled(); // the master the test above killed, back as a replica
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
    const figures = await trafficThrough(web, nodes, async () => {
      await failoverLosingWrites(master.port, replicaPort, () => sentinel.killMaster());
      await sentinel.restartKilled();
    });
    expectSafeFailover('faults/failover/sentinel-wait', figures);
    expect(logger.events).toContain('wa_transport.replay_store.master_changed');
    expect(logger.events).not.toContain('wa_transport.replay_store.hold');
  }, 90_000);
});
