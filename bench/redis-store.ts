/**
 * Replay-store throughput: `recordIfAbsent` per second through Redis (pipelined, and one call
 * at a time for contrast) beside the in-process MemoryReplayStore; the store's own batching
 * against ioredis's auto-pipelining; and the setups that survive a failover: a master with a
 * replica and a 3-master Redis Cluster (1 replica each), each without and with `replicaAcks: 1`
 * (WAIT after every batch).
 *
 *   benchRedisStore({ messages, concurrency, url?, scaled?, comparison? }): Promise<RedisStoreBenchResult[]>
 *
 * resolves to these rows, in this order:
 *   { name: 'memory',                          messagesPerSecond }   // sync calls in a loop
 *   { name: 'redis pipelined (c=N)',           messagesPerSecond, roundTrips, messages }
 *   { name: 'redis one at a time',             messagesPerSecond, roundTrips, messages } // ≤ 5,000 calls
 * then, unless `comparison` is false, for each of its concurrencies C (default 16 and 256; the
 * median of interleaved rounds, each round's rate, and its ratio to the first row's, round by round):
 *   { name: "store's own pipeline, checks on (c=C)", messagesPerSecond, roundTrips, messages, rounds }
 *   { name: "store's own pipeline, records only (c=C)", …, ratios }
 *   { name: 'EVALSHA per call, ioredis auto-pipelining (c=C)', …, ratios }
 *   { name: 'EVALSHA per call, no pipelining (c=C)', …, ratios }       // no roundTrips: one command each
 * and with `scaled` (default true), on servers started here (test/redis/servers.ts):
 *   { name: 'redis + replica (c=N)', … }, { name: 'redis + replica, WAIT 1 (c=N)', … },
 *   { name: 'cluster 3 masters (c=N)', … }, { name: 'cluster 3 masters, WAIT 1 (c=N)', … }
 * `roundTrips` is the number of pipelines sent: messages / roundTrips is the mean batch size.
 *
 * Every nonce is fresh (the common case: a replay costs the same round trip). Keys get a
 * unique prefix and a 2 s TTL, so the run leaves nothing behind on a shared Redis.
 *
 * Alone: `npx tsx bench/redis-store.ts [messages] [concurrency] [--single]` (--single: no
 * replica and cluster rows). The single Redis is `url`, else WA_REPLAY_REDIS_URL, else one
 * started here (test/redis/servers.ts), else 127.0.0.1:6379 when redis-server is not installed.
 */
import { randomBytes, randomUUID } from 'node:crypto';
import { pathToFileURL } from 'node:url';
import { Redis } from 'ioredis';
import { MemoryReplayStore } from '../src/replay/memory.js';
import { createRedisReplayStore, RECORD_SCRIPT, type RedisReplayStoreOptions } from '../src/replay/redis.js';
import { HOST, redisServerFound, startCluster, startRedis } from '../test/redis/servers.js';

export interface RedisStoreBenchResult {
  name: string;
  /** For the batching comparison, the median of its rounds. */
  messagesPerSecond: number;
  roundTrips?: number;
  /** Calls measured in this row. */
  messages?: number;
  /** Batching comparison: each interleaved round's rate. */
  rounds?: number[];
  /** Batching comparison: this row ÷ the store's own pipeline (checks on, the first row), round by round. */
  ratios?: number[];
}

/** The batching comparison's size: `rounds` interleaved rounds of `messages` calls, at each concurrency. */
export interface BatchingComparison {
  rounds: number;
  messages: number;
  concurrencies: readonly number[];
}

/** Short rounds, many of them: the shared machine's slow spells last seconds, so each falls on every variant. */
const DEFAULT_COMPARISON: BatchingComparison = { rounds: 9, messages: 15_000, concurrencies: [16, 256] };
/** Unmeasured calls per variant before the first round: connections, scripts and JIT warm. */
const WARMUP_MESSAGES = 1000;

const TTL_MS = 2000;
const SERIAL_MAX_MESSAGES = 5000;
const NONCE_BYTES = 24;
/** Bytes of the nonce in its key, as the store takes them. */
const KEY_NONCE_BYTES = 16;

type Store = Awaited<ReturnType<typeof createRedisReplayStore>>;

/** One way of recording a nonce, measured by `measure`; `roundTrips` where it counts its pipelines. */
interface Recorder {
  record(nonce: Uint8Array, now: number): Promise<boolean>;
  roundTrips?(): number;
}

function storeRecorder(store: Store): Recorder {
  return {
    record: (nonce, now) => store.recordIfAbsent(nonce, now, now, 'bench'),
    roundTrips: () => store.stats().roundTrips,
  };
}

/** `count` fresh nonces recorded with `inFlight` calls waiting at a time. */
async function measure(
  recorder: Recorder,
  name: string,
  count: number,
  inFlight: number,
): Promise<RedisStoreBenchResult> {
  const nonces = randomBytes(count * NONCE_BYTES);
  const before = recorder.roundTrips?.();
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < count) {
      const i = next++;
      if (!(await recorder.record(nonces.subarray(i * NONCE_BYTES, (i + 1) * NONCE_BYTES), Date.now())))
        throw new Error(`${name}: unexpected replay`);
    }
  };
  const started = performance.now();
  await Promise.all(Array.from({ length: Math.max(1, inFlight) }, worker));
  const seconds = (performance.now() - started) / 1000;
  const after = recorder.roundTrips?.();
  return {
    name,
    messagesPerSecond: Math.round(count / seconds),
    ...(before === undefined || after === undefined ? {} : { roundTrips: after - before }),
    messages: count,
  };
}

/** A store for one run: a prefix of its own, short-lived keys, and no restart hold (a bench measures throughput, not a freshly started server). */
async function benchStore(where: RedisReplayStoreOptions, replicaAcks = 0): Promise<Store> {
  return createRedisReplayStore({
    keyPrefix: `wa:bench:${randomUUID().slice(0, 8)}:`,
    retentionMs: TTL_MS,
    restartHoldMs: 0,
    replicaAcks,
    ...where,
  });
}

/** Records through a store's own batching: every call of one event-loop turn in one pipeline. */
async function storeVariant(url: string, checks: boolean): Promise<Variant> {
  // restartHoldMs 1 turns the checks on (canary with every pipeline, INFO every 5 s) as the
  // defaults do, without refusing records for 21 s after this fresh server's start.
  const store = await benchStore({ url, ...(checks ? { restartHoldMs: 1 } : {}) });
  return { recorder: storeRecorder(store), close: () => store.close() };
}

/**
 * The store's record script, sent by each call on its own (no batching of ours) over an ioredis
 * client, with the client options the store gives its own (a command timeout per call among
 * them), with or without ioredis's auto-pipelining, which gathers the commands of one turn into
 * one pipeline itself (https://github.com/redis/ioredis#autopipelining). The key and the token
 * are made as the store makes them.
 */
async function scriptVariant(url: string, enableAutoPipelining: boolean): Promise<Variant> {
  const client = new Redis(url, {
    enableAutoPipelining,
    commandTimeout: 1000,
    enableOfflineQueue: false,
    maxRetriesPerRequest: 0,
    autoResendUnfulfilledCommands: false,
    lazyConnect: true,
  });
  await client.connect();
  const sha = String(await client.script('LOAD', RECORD_SCRIPT));
  const prefix = `wa:bench:${randomUUID().slice(0, 8)}:bench:`;
  const tokenPrefix = randomBytes(6).toString('base64url');
  let tokens = 0;
  // Auto-pipelining makes each of its pipelines with client.pipeline(): counted here.
  let pipelines = 0;
  const pipeline = client.pipeline.bind(client);
  client.pipeline = (commands?: unknown[][]) => {
    pipelines++;
    return pipeline(commands);
  };
  return {
    recorder: {
      async record(nonce, now) {
        const key = `${prefix}${Buffer.from(nonce.buffer, nonce.byteOffset, KEY_NONCE_BYTES).toString('base64url')}`;
        return (await client.evalsha(sha, 1, key, now + TTL_MS, `${tokenPrefix}${tokens++}`)) === 1;
      },
      ...(enableAutoPipelining ? { roundTrips: () => pipelines } : {}),
    },
    close: async () => {
      await client.quit();
    },
  };
}

interface Variant {
  recorder: Recorder;
  close(): Promise<void>;
}

/**
 * Own batching against ioredis auto-pipelining, on one Redis, in interleaved rounds: each round
 * starts with the next variant, so a slow spell of the shared machine falls on each in turn, and
 * every other round runs backwards, so no variant always follows the same one (a variant pays
 * for the garbage and the expiring keys its predecessor left).
 */
async function compareBatching(url: string, size: BatchingComparison): Promise<RedisStoreBenchResult[]> {
  const labels = [
    "store's own pipeline, checks on",
    "store's own pipeline, records only",
    'EVALSHA per call, ioredis auto-pipelining',
    'EVALSHA per call, no pipelining',
  ] as const;
  const variants: Variant[] = [];
  try {
    variants.push(
      await storeVariant(url, true),
      await storeVariant(url, false),
      await scriptVariant(url, true),
      await scriptVariant(url, false),
    );
    for (const [i, { recorder }] of variants.entries()) await measure(recorder, labels[i]!, WARMUP_MESSAGES, 256);
    const rows: RedisStoreBenchResult[] = [];
    for (const concurrency of size.concurrencies) {
      const rates = variants.map(() => [] as number[]);
      const roundTrips = variants.map(() => 0 as number | undefined);
      for (let round = 0; round < size.rounds; round++) {
        for (let k = 0; k < variants.length; k++) {
          const step = round % 2 === 0 ? k : variants.length - 1 - k;
          const v = (round + step) % variants.length;
          const row = await measure(variants[v]!.recorder, labels[v]!, size.messages, concurrency);
          rates[v]!.push(row.messagesPerSecond);
          roundTrips[v] = row.roundTrips === undefined ? undefined : (roundTrips[v] ?? 0) + row.roundTrips;
        }
      }
      for (const [v, label] of labels.entries()) {
        const trips = roundTrips[v];
        rows.push({
          name: `${label} (c=${concurrency})`,
          messagesPerSecond: Math.round(median(rates[v]!)),
          ...(trips === undefined ? {} : { roundTrips: trips }),
          messages: size.messages * size.rounds,
          rounds: rates[v]!,
          ...(v === 0 ? {} : { ratios: rates[v]!.map((rate, round) => rate / rates[0]![round]!) }),
        });
      }
    }
    return rows;
  } finally {
    for (const variant of variants) await variant.close();
  }
}

function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

/** A row's ratios to the store's own pipeline: the median of its rounds, and their range. */
export function ratioText(ratios: readonly number[]): string {
  const min = Math.min(...ratios).toFixed(2);
  const max = Math.max(...ratios).toFixed(2);
  return `${median(ratios).toFixed(2)} (rounds ${min}–${max})`;
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
  /** Own batching vs ioredis auto-pipelining; false: not measured. */
  comparison?: BatchingComparison | false;
}): Promise<RedisStoreBenchResult[]> {
  const { messages, concurrency } = options;
  if (!Number.isSafeInteger(messages) || messages < 2) throw new RangeError('messages must be an integer ≥ 2');
  const given = options.url ?? process.env['WA_REPLAY_REDIS_URL'];
  // A server of our own where we can start one (milliseconds): nobody else's load on it, and
  // nothing needs to be running on 6379.
  const own = given === undefined && redisServerFound() ? await startRedis() : undefined;
  try {
    const results = await benchSingle(own?.url ?? given ?? 'redis://127.0.0.1:6379', options);
    if (options.scaled !== false) results.push(...(await benchScaled(messages, concurrency)));
    return results;
  } finally {
    await own?.stop();
  }
}

/** The rows of one Redis server: memory beside it, pipelined, one at a time, the batching comparison. */
async function benchSingle(
  url: string,
  options: { messages: number; concurrency: number; comparison?: BatchingComparison | false },
): Promise<RedisStoreBenchResult[]> {
  const { messages, concurrency } = options;

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
    results.push(
      await measure(storeRecorder(store), `redis pipelined (c=${concurrency})`, messages - serial, concurrency),
    );
    results.push(await measure(storeRecorder(store), 'redis one at a time', serial, 1));
  });
  if (options.comparison !== false)
    results.push(...(await compareBatching(url, options.comparison ?? DEFAULT_COMPARISON)));
  return results;
}

/** Replica and cluster rows, on servers started here. */
async function benchScaled(messages: number, concurrency: number): Promise<RedisStoreBenchResult[]> {
  if (!redisServerFound()) throw new Error('redis-server not found: the replica and cluster rows need it');
  const results: RedisStoreBenchResult[] = [];
  const serial = Math.min(SERIAL_MAX_MESSAGES, Math.floor(messages / 2));

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
        results.push(await measure(storeRecorder(store), name, messages - serial, concurrency));
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
        results.push(await measure(storeRecorder(store), name, messages - serial, concurrency));
      });
    }
  } finally {
    await cluster.stop();
  }
  return results;
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const [messages = 100_000, concurrency = 256] = process.argv
    .slice(2)
    .filter((a) => !a.startsWith('--'))
    .map(Number);
  const rows = await benchRedisStore({ messages, concurrency, scaled: !process.argv.includes('--single') });
  const memory = rows[0]!.messagesPerSecond;
  for (const row of rows) {
    const ratio = (row.messagesPerSecond / memory).toFixed(3);
    const batch = row.roundTrips ? `, ${row.roundTrips} round trips` : '';
    const spread =
      (row.rounds === undefined ? '' : `, rounds ${range(row.rounds, 0)}`) +
      (row.ratios === undefined ? '' : `, ×${ratioText(row.ratios)} of own pipeline`);
    console.log(
      `${row.name.padEnd(50)} ${String(row.messagesPerSecond).padStart(10)} msg/s  ×${ratio} of memory${batch}${spread}`,
    );
  }
}

function range(values: readonly number[], digits: number): string {
  return `${Math.min(...values).toFixed(digits)}–${Math.max(...values).toFixed(digits)}`;
}
