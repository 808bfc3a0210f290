/**
 * The in-process replay store: time-bucketed hash sets of nonces, in typed arrays.
 *
 * - Expiry by time bucket, never by scanning entries: an entry goes into the bucket of its
 *   expiry time, and a bucket is dropped whole once the clock has passed its end.
 * - One probe per lookup: the bucket follows from the envelope's authenticated timestamp plus
 *   the store's retention, so a replay always lands in the bucket of its original.
 * - It vouches only within its retention, by its own clock: the latest `now` it was given.
 *   A nonce whose retention has ended by that clock is refused as ERR_WA_EXPIRED, even when
 *   the verifier asking (a new one after a rotation, one whose clock stepped back) would still
 *   call it fresh: its bucket may already be gone.
 * - A hard cap on live entries: at the cap it throws ERR_WA_REPLAY_CACHE_FULL instead of
 *   forgetting nonces (forgetting would reopen the door to replays).
 * - Empty at start: `rememberedSince` makes the verifier refuse envelopes sealed before the
 *   store existed, so a restart does not reopen the window for replays. It cannot see a clock
 *   that stepped back across a restart: `startupHoldMs` covers that (docs/security.md).
 * - Compact: a slot is the nonce's first 16 bytes (4 × u32) in an open-addressing table kept
 *   at most half full, so a live entry costs 32–64 bytes.
 */
import { randomInt } from 'node:crypto';
import { DEFAULT_WINDOW_MS } from '../defaults.js';
import { ErrorCode, WaTransportError } from '../errors.js';
import type { ReplayStore } from './store.js';
import { nonNegativeInteger, positiveInteger } from '../options.js';

export interface MemoryReplayStoreOptions {
  /**
   * Most live nonces held at once. At most 256 MiB of tables by default, enough for 10 s of
   * one process opening at full single-thread speed (~340k/s, bench/RESULTS.md).
   * @default 4_194_304 (2^22)
   */
  maxEntries?: number;
  /**
   * Width of a time bucket in ms. Smaller frees memory sooner, costs more tables.
   * @default 1000
   */
  bucketMs?: number;
  /**
   * How long a nonce is remembered after its envelope's timestamp, in ms. The default is the
   * default window. Every verifier sharing this store needs a window no longer than this.
   * @default 10_000
   */
  retentionMs?: number;
  /**
   * Refuse envelopes sealed before `rememberedSince + startupHoldMs` (ERR_WA_EXPIRED). A
   * process that restarts after its host clock stepped back by S ms cannot tell which envelopes
   * its previous life accepted in the last S + skew ms; a hold of at least the largest step you
   * expect plus the verifier's skew closes that, at the price of refusing every envelope for
   * that long after each start.
   * @default 0
   */
  startupHoldMs?: number;
  /**
   * From when this store vouches for every nonce (ms since the epoch, on the verifier's clock).
   * Default: now, by `Date.now`. Only a store restored from elsewhere, or a debugging tool,
   * has reason to set it earlier.
   */
  rememberedSince?: number;
}

export interface MemoryReplayStoreStats {
  /** Live nonces. */
  readonly entries: number;
  /** Live time buckets. */
  readonly buckets: number;
  /** Bytes held by the buckets' tables. */
  readonly bytes: number;
}

export const DEFAULT_MAX_ENTRIES = 2 ** 22;
export const DEFAULT_BUCKET_MS = 1000;
export const DEFAULT_RETENTION_MS = DEFAULT_WINDOW_MS;

const WORDS_PER_SLOT = 4; // 16 bytes of nonce
const INITIAL_SLOTS = 1024;

/** A hash set of 128-bit keys; an all-zero slot is empty. */
class NonceTable {
  slots: Uint32Array;
  size = 0;
  mask: number;

  constructor(slotCount = INITIAL_SLOTS) {
    this.slots = new Uint32Array(slotCount * WORDS_PER_SLOT);
    this.mask = slotCount - 1;
  }

  /** Index of the slot holding the key, or of the empty slot where it would go. */
  find(w0: number, w1: number, w2: number, w3: number, hash: number): number {
    const slots = this.slots;
    let i = hash & this.mask;
    for (;;) {
      const at = i * WORDS_PER_SLOT;
      const s0 = slots[at]!;
      const s1 = slots[at + 1]!;
      const s2 = slots[at + 2]!;
      const s3 = slots[at + 3]!;
      if ((s0 | s1 | s2 | s3) === 0) return i;
      if (s0 === w0 && s1 === w1 && s2 === w2 && s3 === w3) return i;
      i = (i + 1) & this.mask;
    }
  }

  isEmpty(slot: number): boolean {
    const at = slot * WORDS_PER_SLOT;
    const s = this.slots;
    return (s[at]! | s[at + 1]! | s[at + 2]! | s[at + 3]!) === 0;
  }

  put(slot: number, w0: number, w1: number, w2: number, w3: number): void {
    const at = slot * WORDS_PER_SLOT;
    this.slots[at] = w0;
    this.slots[at + 1] = w1;
    this.slots[at + 2] = w2;
    this.slots[at + 3] = w3;
    this.size++;
  }
}

export class MemoryReplayStore implements ReplayStore {
  readonly maxEntries: number;
  readonly bucketMs: number;
  readonly retentionMs: number;
  /**
   * When this store was created (plus `startupHoldMs`). It starts empty, so it cannot vouch for
   * envelopes sealed before: after a restart, a replay of an envelope the previous process
   * accepted is refused.
   */
  readonly rememberedSince: number;
  readonly #buckets = new Map<number, NonceTable>();
  #entries = 0;
  /** The bucket created last: the next one is sized by it (if it is still held). */
  #newest = Number.NaN;
  #sweptUpTo = -Infinity;
  /** The store's clock: the latest `now` it was given. Buckets are dropped by it. */
  #latest = -Infinity;
  // Per-process random seeds, so a peer cannot choose nonces that collide in our tables.
  readonly #seed0 = randomInt(0x7fffffff) | 1;
  readonly #seed1 = randomInt(0x7fffffff);

  constructor(options: MemoryReplayStoreOptions = {}) {
    this.maxEntries = positiveInteger(options.maxEntries ?? DEFAULT_MAX_ENTRIES, 'maxEntries');
    this.bucketMs = positiveInteger(options.bucketMs ?? DEFAULT_BUCKET_MS, 'bucketMs');
    this.retentionMs = positiveInteger(options.retentionMs ?? DEFAULT_RETENTION_MS, 'retentionMs');
    const hold = nonNegativeInteger(options.startupHoldMs ?? 0, 'startupHoldMs');
    this.rememberedSince = (options.rememberedSince ?? Date.now()) + hold;
  }

  /** `scope` is not needed: one process serves one deployment, and nonces are random. */
  recordIfAbsent(nonce: Uint8Array, timestamp: number, now: number): boolean {
    if (now > this.#latest) this.#latest = now;
    const expiresAt = timestamp + this.retentionMs;
    // Its bucket may be gone: only a nonce still within retention can be vouched for.
    if (expiresAt < this.#latest) throw new WaTransportError(ErrorCode.EXPIRED);
    this.#sweep(this.#latest);
    let w0 = (nonce[0]! | (nonce[1]! << 8) | (nonce[2]! << 16) | (nonce[3]! << 24)) >>> 0;
    const w1 = (nonce[4]! | (nonce[5]! << 8) | (nonce[6]! << 16) | (nonce[7]! << 24)) >>> 0;
    const w2 = (nonce[8]! | (nonce[9]! << 8) | (nonce[10]! << 16) | (nonce[11]! << 24)) >>> 0;
    const w3 = (nonce[12]! | (nonce[13]! << 8) | (nonce[14]! << 16) | (nonce[15]! << 24)) >>> 0;
    // An all-zero key would read as an empty slot; fold it onto 1 (a 2^-128 collision).
    if ((w0 | w1 | w2 | w3) === 0) w0 = 1;

    const bucket = Math.floor(expiresAt / this.bucketMs);
    let table = this.#buckets.get(bucket);
    if (table === undefined) {
      table = new NonceTable(this.#slotsForNewBucket());
      this.#newest = bucket;
      this.#buckets.set(bucket, table);
    }
    const slot = table.find(w0, w1, w2, w3, this.#hash(w0, w1, w2));
    if (!table.isEmpty(slot)) return false;
    if (this.#entries >= this.maxEntries) throw new WaTransportError(ErrorCode.REPLAY_CACHE_FULL);
    table.put(slot, w0, w1, w2, w3);
    this.#entries++;
    if (table.size * 2 > table.mask + 1) this.#grow(table);
    return true;
  }

  stats(): MemoryReplayStoreStats {
    let bytes = 0;
    for (const table of this.#buckets.values()) bytes += table.slots.byteLength;
    return { entries: this.#entries, buckets: this.#buckets.size, bytes };
  }

  /** Forgets everything. */
  clear(): void {
    this.#buckets.clear();
    this.#entries = 0;
  }

  close(): void {
    this.clear();
  }

  /** Drops every bucket whose whole span lies before `now`. Runs once per bucket of time. */
  #sweep(now: number): void {
    const current = Math.floor(now / this.bucketMs);
    if (current <= this.#sweptUpTo) return;
    this.#sweptUpTo = current;
    for (const [bucket, table] of this.#buckets) {
      // Bucket b holds expiries in [b·w, (b+1)·w); all are past once now ≥ (b+1)·w.
      if (bucket < current) {
        this.#entries -= table.size;
        this.#buckets.delete(bucket);
      }
    }
  }

  #hash(w0: number, w1: number, w2: number): number {
    return (Math.imul(w0 ^ this.#seed1, this.#seed0) ^ Math.imul(w1, 0x9e3779b1) ^ w2) >>> 0;
  }

  /**
   * A new bucket starts with room for what the last one created holds by now, at most half
   * full, not at 1024 slots: at steady traffic every bucket grew through the same nine
   * doublings, rehashing each time (#grow and the probes after it were 1.6-3.6% of a sealed
   * 64-byte WebSocket message's busy time at 150k messages/s; bench/RESULTS.md). When traffic
   * falls, the next bucket follows the smaller one, so a live entry still costs 32-64 bytes
   * in steady state.
   */
  #slotsForNewBucket(): number {
    const expected = this.#buckets.get(this.#newest)?.size ?? 0;
    let slots = INITIAL_SLOTS;
    while (slots < expected * 2 + 1) slots *= 2;
    return slots;
  }

  #grow(table: NonceTable): void {
    const old = table.slots;
    const next = new NonceTable((table.mask + 1) * 2);
    for (let at = 0; at < old.length; at += WORDS_PER_SLOT) {
      const w0 = old[at]!;
      const w1 = old[at + 1]!;
      const w2 = old[at + 2]!;
      const w3 = old[at + 3]!;
      if ((w0 | w1 | w2 | w3) === 0) continue;
      next.put(next.find(w0, w1, w2, w3, this.#hash(w0, w1, w2)), w0, w1, w2, w3);
    }
    table.slots = next.slots;
    table.mask = next.mask;
  }
}
