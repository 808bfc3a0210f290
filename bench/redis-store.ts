/**
 * Replay-store throughput: `recordIfAbsent` per second through Redis (pipelined, and one call
 * at a time for contrast) beside the in-process MemoryReplayStore, and through the setups that
 * survive a failover: a master with a replica and a 3-master Redis Cluster (1 replica each),
 * each without and with `replicaAcks: 1` (WAIT after every batch).
 *
 *   benchRedisStore({ messages, concurrency, url?, scaled? }): Promise<RedisStoreBenchResult[]>
 *
 * resolves to these rows, in this order:
 *   { name: 'memory',                          messagesPerSecond }   // sync calls in a loop
 *   { name: 'redis pipelined (c=N)',           messagesPerSecond, roundTrips, messages }
 *   { name: 'redis one at a time',             messagesPerSecond, roundTrips, messages } // ≤ 5,000 calls
 * and with `scaled` (default true), on servers started here (test/redis/servers.ts):
 *   { name: 'redis + replica (c=N)', … }, { name: 'redis + replica, WAIT 1 (c=N)', … },
 *   { name: 'cluster 3 masters (c=N)', … }, { name: 'cluster 3 masters, WAIT 1 (c=N)', … }
 * `roundTrips` is the number of pipelines sent: messages / roundTrips is the mean batch size.
 *
 * Every nonce is fresh (the common case: a replay costs the same round trip). Keys get a
 * unique prefix and a 2 s TTL, so the run leaves nothing behind on a shared Redis.
 *
 * Alone: `npx tsx bench/redis-store.ts [messages] [concurrency]` (WA_REPLAY_REDIS_URL or
 * 127.0.0.1:6379 for the single Redis; the others are started and stopped here).
 */
import { randomBytes, randomUUID } from 'node:crypto';
import { pathToFileURL } from 'node:url';
import { MemoryReplayStore } from '../src/replay/memory.js';
import { createRedisReplayStore, type RedisReplayStoreOptions } from '../src/replay/redis.js';
import { HOST, redisServerFound, startCluster, startRedis } from '../test/redis/servers.js';

export interface RedisStoreBenchResult {
  name: string;
  messagesPerSecond: number;
  roundTrips?: number;
  /** Calls measured in this row. */
  messages?: number;
}

const TTL_MS = 2000;
const SERIAL_MAX_MESSAGES = 5000;
const NONCE_BYTES = 24;

type Store = Awaited<ReturnType<typeof createRedisReplayStore>>;

/** `count` fresh nonces recorded with `inFlight` calls waiting at a time. */
async function measure(store: Store, name: string, count: number, inFlight: number): Promise<RedisStoreBenchResult> {
  const nonces = randomBytes(count * NONCE_BYTES);
  const before = store.stats().roundTrips;
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < count) {
      const i = next++;
      const now = Date.now();
      if (!(await store.recordIfAbsent(nonces.subarray(i * NONCE_BYTES, (i + 1) * NONCE_BYTES), now, now, 'bench')))
        throw new Error(`${name}: unexpected replay`);
    }
  };
  const started = performance.now();
  await Promise.all(Array.from({ length: Math.max(1, inFlight) }, worker));
  const seconds = (performance.now() - started) / 1000;
  return {
    name,
    messagesPerSecond: Math.round(count / seconds),
    roundTrips: store.stats().roundTrips - before,
    messages: count,
  };
}

/** A store for one run: a prefix of its own, short-lived keys, and no restart hold (a bench measures throughput, not a freshly started server). */
async function benchStore(where: RedisReplayStoreOptions, replicaAcks = 0): Promise<Store> {
  return createRedisReplayStore({
    ...where,
    keyPrefix: `wa:bench:${randomUUID().slice(0, 8)}:`,
    retentionMs: TTL_MS,
    restartHoldMs: 0,
    replicaAcks,
  });
}

async function withStore<T>(store: Store, use: (store: Store) => Promise<T>): Promise<T> {
  try {
    return await use(store);
  } finally {
    await store.close();
  }
}

export async function benchRedisStore(options: {
  messages: number;
  concurrency: number;
  url?: string;
  /** The replica and cluster rows (starts seven redis-server processes: seconds). */
  scaled?: boolean;
}): Promise<RedisStoreBenchResult[]> {
  const { messages, concurrency } = options;
  if (!Number.isSafeInteger(messages) || messages < 2) throw new RangeError('messages must be an integer ≥ 2');
  const url = options.url ?? process.env['WA_REPLAY_REDIS_URL'] ?? 'redis://127.0.0.1:6379';

  const nonces = randomBytes(messages * NONCE_BYTES);
  const memory = new MemoryReplayStore();
  const started = performance.now();
  for (let i = 0; i < messages; i++) {
    const now = Date.now();
    if (!memory.recordIfAbsent(nonces.subarray(i * NONCE_BYTES, (i + 1) * NONCE_BYTES), now, now))
      throw new Error('memory store: unexpected replay');
  }
  const memoryRate = messages / ((performance.now() - started) / 1000);
  memory.close();

  const results: RedisStoreBenchResult[] = [{ name: 'memory', messagesPerSecond: Math.round(memoryRate) }];
  const serial = Math.min(SERIAL_MAX_MESSAGES, Math.floor(messages / 2));
  await withStore(await benchStore({ url }), async (store) => {
    results.push(await measure(store, `redis pipelined (c=${concurrency})`, messages - serial, concurrency));
    results.push(await measure(store, 'redis one at a time', serial, 1));
  });
  if (options.scaled === false) return results;
  if (!redisServerFound()) throw new Error('redis-server not found: the replica and cluster rows need it');

  // Servers of our own, so WAIT has a replica to wait for and the cluster its three shards.
  const master = await startRedis();
  const replica = await startRedis({ args: ['--replicaof', HOST, String(master.port)] }).catch(async (error) => {
    await master.stop();
    throw error;
  });
  try {
    const link = replica.client();
    while (!/master_link_status:up/.test(await link.info('replication'))) await new Promise((r) => setTimeout(r, 50));
    for (const acks of [0, 1]) {
      await withStore(await benchStore({ url: master.url }, acks), async (store) => {
        const name = `redis + replica${acks > 0 ? `, WAIT ${acks}` : ''} (c=${concurrency})`;
        results.push(await measure(store, name, messages - serial, concurrency));
      });
    }
  } finally {
    await replica.stop();
    await master.stop();
  }
  const cluster = await startCluster({ masters: 3, replicasPerMaster: 1 });
  try {
    for (const acks of [0, 1]) {
      await withStore(await benchStore({ clusterNodes: cluster.seeds }, acks), async (store) => {
        const name = `cluster 3 masters${acks > 0 ? `, WAIT ${acks}` : ''} (c=${concurrency})`;
        results.push(await measure(store, name, messages - serial, concurrency));
      });
    }
  } finally {
    await cluster.stop();
  }
  return results;
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const messages = Number(process.argv[2] ?? 100_000);
  const concurrency = Number(process.argv[3] ?? 256);
  const rows = await benchRedisStore({ messages, concurrency });
  const memory = rows[0]!.messagesPerSecond;
  for (const row of rows) {
    const ratio = (row.messagesPerSecond / memory).toFixed(3);
    const batch = row.roundTrips ? `, ${row.roundTrips} round trips` : '';
    console.log(
      `${row.name.padEnd(34)} ${String(row.messagesPerSecond).padStart(10)} msg/s  ×${ratio} of memory${batch}`,
    );
  }
}
