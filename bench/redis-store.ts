/**
 * Replay-store throughput: `recordIfAbsent` per second through Redis (pipelined, and one call
 * at a time for contrast) beside the in-process MemoryReplayStore.
 *
 *   benchRedisStore({ messages, concurrency, url? }): Promise<RedisStoreBenchResult[]>
 *
 * resolves to three rows, in this order:
 *   { name: 'memory',                 messagesPerSecond }                // sync calls in a loop
 *   { name: 'redis pipelined (c=N)',  messagesPerSecond, roundTrips }    // N calls in flight
 *   { name: 'redis one at a time',    messagesPerSecond, roundTrips }    // 1 in flight, ≤ 5,000 calls
 * `roundTrips` is the number of pipelines sent: messages / roundTrips is the mean batch size.
 *
 * Every nonce is fresh (the common case: a replay costs the same round trip). Keys get a
 * unique prefix and a 2 s TTL, so the run leaves nothing behind on a shared Redis.
 *
 * Alone: `npx tsx bench/redis-store.ts [messages] [concurrency]` (WA_REPLAY_REDIS_URL or
 * 127.0.0.1:6379).
 */
import { randomBytes, randomUUID } from 'node:crypto';
import { pathToFileURL } from 'node:url';
import { MemoryReplayStore } from '../src/replay/memory.js';
import { createRedisReplayStore } from '../src/replay/redis.js';

export interface RedisStoreBenchResult {
  name: string;
  messagesPerSecond: number;
  roundTrips?: number;
}

const TTL_MS = 2000;
const SERIAL_MAX_MESSAGES = 5000;
const NONCE_BYTES = 24;

export async function benchRedisStore(options: {
  messages: number;
  concurrency: number;
  url?: string;
}): Promise<RedisStoreBenchResult[]> {
  const { messages, concurrency } = options;
  if (!Number.isSafeInteger(messages) || messages < 2) throw new RangeError('messages must be an integer ≥ 2');
  const url = options.url ?? process.env['WA_REPLAY_REDIS_URL'] ?? 'redis://127.0.0.1:6379';
  const nonces = randomBytes(messages * NONCE_BYTES);
  const nonce = (i: number): Uint8Array => nonces.subarray(i * NONCE_BYTES, (i + 1) * NONCE_BYTES);

  const memory = new MemoryReplayStore();
  let started = performance.now();
  for (let i = 0; i < messages; i++) {
    const now = Date.now();
    if (!memory.recordIfAbsent(nonce(i), now, now)) throw new Error('memory store: unexpected replay');
  }
  const memoryRate = messages / ((performance.now() - started) / 1000);
  memory.close();

  const results: RedisStoreBenchResult[] = [{ name: 'memory', messagesPerSecond: Math.round(memoryRate) }];
  // Hold off the restart check: a bench measures throughput, not a freshly started server.
  const store = await createRedisReplayStore({
    url,
    keyPrefix: `wa:bench:${randomUUID().slice(0, 8)}:`,
    retentionMs: TTL_MS,
    restartHoldMs: 0,
  });
  try {
    const run = async (from: number, count: number, inFlight: number): Promise<RedisStoreBenchResult> => {
      const before = store.stats().roundTrips;
      let next = from;
      const end = from + count;
      const worker = async (): Promise<void> => {
        while (next < end) {
          const i = next++;
          const now = Date.now();
          if (!(await store.recordIfAbsent(nonce(i), now, now, 'bench')))
            throw new Error('redis store: unexpected replay');
        }
      };
      started = performance.now();
      await Promise.all(Array.from({ length: Math.max(1, inFlight) }, worker));
      const seconds = (performance.now() - started) / 1000;
      return {
        name: inFlight > 1 ? `redis pipelined (c=${inFlight})` : 'redis one at a time',
        messagesPerSecond: Math.round(count / seconds),
        roundTrips: store.stats().roundTrips - before,
      };
    };
    // Disjoint slices of nonces, so that every call in both runs is a fresh nonce.
    const serial = Math.min(SERIAL_MAX_MESSAGES, Math.floor(messages / 2));
    results.push(await run(serial, messages - serial, concurrency));
    results.push(await run(0, serial, 1));
  } finally {
    await store.close();
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
      `${row.name.padEnd(26)} ${String(row.messagesPerSecond).padStart(10)} msg/s  ×${ratio} of memory${batch}`,
    );
  }
}
