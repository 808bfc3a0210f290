import { randomBytes } from 'node:crypto';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ErrorCode } from '../../src/errors.js';
import { MemoryReplayStore } from '../../src/replay/memory.js';

const NOW = 1_800_000_000_000;
const nonce = () => new Uint8Array(randomBytes(24));

describe('MemoryReplayStore', () => {
  it('answers true once per nonce, then false, for any set of nonces', () => {
    fc.assert(
      fc.property(fc.array(fc.uint8Array({ minLength: 24, maxLength: 24 }), { maxLength: 300 }), (nonces) => {
        const store = new MemoryReplayStore();
        const seen = new Set<string>();
        for (const n of nonces) {
          const key = Buffer.from(n.subarray(0, 16)).toString('hex');
          expect(store.recordIfAbsent(n, NOW + 10_000, NOW)).toBe(!seen.has(key));
          seen.add(key);
        }
        expect(store.stats().entries).toBe(seen.size);
      }),
    );
  });

  it("copies the nonce: later changes to the caller's buffer do not matter", () => {
    const store = new MemoryReplayStore();
    const n = nonce();
    const copy = n.slice();
    store.recordIfAbsent(n, NOW + 10_000, NOW);
    n.fill(0);
    expect(store.recordIfAbsent(copy, NOW + 10_000, NOW)).toBe(false);
  });

  it('treats the all-zero nonce like any other', () => {
    const store = new MemoryReplayStore();
    expect(store.recordIfAbsent(new Uint8Array(24), NOW + 1, NOW)).toBe(true);
    expect(store.recordIfAbsent(new Uint8Array(24), NOW + 1, NOW)).toBe(false);
  });

  it('keeps an entry until timestamp + retention, drops whole buckets after it, and never vouches past it', () => {
    const store = new MemoryReplayStore({ bucketMs: 1_000, retentionMs: 10_500 });
    const n = nonce();
    const expiresAt = NOW + 10_500;
    store.recordIfAbsent(n, NOW, NOW);
    // Still there at the expiry instant itself (the verifier accepts until then).
    expect(store.recordIfAbsent(n, NOW, expiresAt)).toBe(false);
    expect(store.stats().buckets).toBe(1);
    // Once the clock passes the end of its bucket, the bucket is gone…
    store.recordIfAbsent(nonce(), NOW + 20_000, NOW + 11_000);
    expect(store.stats()).toMatchObject({ entries: 1, buckets: 1 });
    // …and the store refuses to call it fresh, whatever clock the caller brings.
    for (const now of [NOW + 11_000, NOW]) {
      expect(() => store.recordIfAbsent(n, NOW, now)).toThrow(expect.objectContaining({ code: ErrorCode.EXPIRED }));
    }
  });

  it('fails closed at the cap, still answering replays, and frees space as time passes', () => {
    const store = new MemoryReplayStore({ maxEntries: 100, retentionMs: 1_000 });
    const first = nonce();
    store.recordIfAbsent(first, NOW, NOW);
    for (let i = 1; i < 100; i++) store.recordIfAbsent(nonce(), NOW, NOW);
    expect(() => store.recordIfAbsent(nonce(), NOW, NOW)).toThrow(
      expect.objectContaining({ code: ErrorCode.REPLAY_CACHE_FULL }),
    );
    expect(store.recordIfAbsent(first, NOW, NOW)).toBe(false); // a replay is still a replay
    expect(store.recordIfAbsent(nonce(), NOW + 4_000, NOW + 2_000)).toBe(true);
    expect(store.stats().entries).toBe(1);
  });

  it('costs at most 64 bytes per live entry', () => {
    const store = new MemoryReplayStore();
    const buffer = new Uint8Array(randomBytes(24 * 100_000));
    for (let i = 0; i < 100_000; i++) {
      store.recordIfAbsent(buffer.subarray(i * 24, i * 24 + 24), NOW + (i % 10) * 1_000, NOW);
    }
    const { entries, bytes } = store.stats();
    expect(entries).toBe(100_000);
    expect(bytes / entries).toBeLessThanOrEqual(64);
  });

  it('starts a new bucket with room for the last one, and follows traffic down', () => {
    const store = new MemoryReplayStore({ retentionMs: 10_000, bucketMs: 1000 });
    const slotBytes = 16;
    const fill = (second: number, count: number) => {
      for (let i = 0; i < count; i++) store.recordIfAbsent(nonce(), NOW + second * 1000, NOW + second * 1000);
    };
    const bytesAfter = (second: number) => {
      const before = store.stats().bytes;
      fill(second, 1);
      return store.stats().bytes - before;
    };
    fill(0, 5000); // a busy second: its bucket grew to 16,384 slots
    expect(bytesAfter(1)).toBe(16_384 * slotBytes); // the next second's bucket needs no growth
    fill(1, 99); // a quiet second: 100 entries
    expect(bytesAfter(2)).toBe(1024 * slotBytes); // the one after it is small again
  });

  it('refuses bad options', () => {
    for (const options of [
      { maxEntries: 0 },
      { maxEntries: 1.5 },
      { bucketMs: -1 },
      { retentionMs: 0 },
      { startupHoldMs: -1 },
    ]) {
      expect(() => new MemoryReplayStore(options)).toThrow(expect.objectContaining({ code: ErrorCode.CONFIG }));
    }
  });
});
