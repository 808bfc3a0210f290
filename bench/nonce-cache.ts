/**
 * The nonce cache alone (MemoryReplayStore): inserts per second, and bytes per live entry
 * measured from the heap — the tables are typed arrays, so `process.memoryUsage().arrayBuffers`
 * after a forced GC — in a child process, so nothing else the benchmark allocated is counted.
 *
 * Traffic model: random 24-byte nonces whose timestamps are spread evenly over the last 10 s
 * (the default window), so entries fall into the ~11 one-second buckets a live cache holds.
 */
import { execFileSync } from 'node:child_process';
import { randomFillSync } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { MemoryReplayStore } from '../src/replay/memory.js';
import { median } from './harness.js';

const WINDOW_MS = 10_000;
const NOW = 1_800_000_000_000;

export interface MemorySample {
  readonly entries: number;
  /** arrayBuffers + heapUsed growth, divided by entries. */
  readonly bytesPerEntry: number;
  readonly arrayBufferBytes: number;
  readonly heapBytes: number;
  /** What the store reports of its own tables (`stats().bytes`). */
  readonly tableBytes: number;
  readonly buckets: number;
}

export interface NonceCacheResult {
  readonly insertsPerSec: number;
  readonly insertSamples: readonly number[];
  readonly memory: readonly MemorySample[];
}

/** Inserts `count` fresh nonces spread over one window; returns the store. */
function fill(store: MemoryReplayStore, count: number, nonces: Uint8Array): void {
  const pool = nonces.length / 24;
  for (let i = 0; i < count; i++) {
    const slot = i % pool;
    if (slot === 0) randomFillSync(nonces);
    const timestamp = NOW - Math.floor((i / count) * WINDOW_MS);
    store.recordIfAbsent(nonces.subarray(slot * 24, slot * 24 + 24), timestamp, NOW);
  }
}

function insertRate(entries: number): number {
  const store = new MemoryReplayStore({ maxEntries: entries });
  const nonces = new Uint8Array(24 * 4096);
  const started = performance.now();
  fill(store, entries, nonces);
  return (entries * 1000) / (performance.now() - started);
}

/** Child process body: fills a store with `entries` and prints one MemorySample as JSON. */
async function measureMemory(entries: number): Promise<MemorySample> {
  const gc = (globalThis as { gc?: () => void }).gc;
  if (gc === undefined) throw new Error('run with --expose-gc');
  const nonces = new Uint8Array(24 * 4096);
  gc();
  const before = process.memoryUsage();
  const store = new MemoryReplayStore({ maxEntries: entries });
  fill(store, entries, nonces);
  // Tables outgrown by #grow are freed by V8's array-buffer sweeper, which may still be running
  // right after a GC: collect, let it finish, collect again.
  gc();
  await new Promise((resolve) => setTimeout(resolve, 200));
  gc();
  const after = process.memoryUsage();
  const stats = store.stats();
  const arrayBufferBytes = after.arrayBuffers - before.arrayBuffers;
  const heapBytes = after.heapUsed - before.heapUsed;
  return {
    entries: stats.entries,
    bytesPerEntry: (arrayBufferBytes + heapBytes) / stats.entries,
    arrayBufferBytes,
    heapBytes,
    tableBytes: stats.bytes,
    buckets: stats.buckets,
  };
}

export function benchNonceCache(options: { quick: boolean }): NonceCacheResult {
  const entries = options.quick ? 200_000 : 1_000_000;
  insertRate(entries / 4); // warm-up
  const insertSamples = Array.from({ length: options.quick ? 3 : 5 }, () => insertRate(entries));
  const sizes = options.quick ? [1_000_000] : [1_000_000, 10_000_000];
  const memory = sizes.map((n) => {
    const out = execFileSync(
      process.execPath,
      ['--expose-gc', '--import', 'tsx', fileURLToPath(import.meta.url), '--child', String(n)],
      { encoding: 'utf8', maxBuffer: 1 << 20 },
    );
    return JSON.parse(out) as MemorySample;
  });
  return { insertsPerSec: median(insertSamples), insertSamples, memory };
}

if (process.argv[2] === '--child') {
  process.stdout.write(JSON.stringify(await measureMemory(Number(process.argv[3]))));
}
