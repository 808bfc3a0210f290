/**
 * Replay-store faults that need no network: the in-memory cache at its cap, and stores that
 * throw, reject, or answer nonsense. Every one fails closed (the envelope is refused with a
 * documented code, never accepted unchecked) and recovers by itself once the fault is gone.
 */
import { describe, expect, it } from 'vitest';
import { DEFAULT_WINDOW_MS } from '../../src/protocol.js';
import { ErrorCode, MemoryReplayStore, type ReplayStore, createEndpoint, generateSecret } from '../../src/index.js';
import { flakyStore, outcome } from '../helpers.js';

const T0 = 1_800_000_000_000;

async function pair(store: ReplayStore, clock: () => number) {
  const secret = generateSecret();
  const web = await createEndpoint({ role: 'webapp', secret, clock });
  const core = await createEndpoint({ role: 'coreapp', secret, clock, replayStore: store });
  return { web, core };
}

describe('the in-memory cache at its cap', () => {
  it('refuses new nonces (ERR_WA_REPLAY_CACHE_FULL), still spots replays, and recovers after the window', async () => {
    let now = T0;
    const store = new MemoryReplayStore({ maxEntries: 100 });
    const { web, core } = await pair(store, () => now);

    const first = Array.from({ length: 100 }, (_, i) => web.seal(i));
    for (const e of first) expect(await outcome(core.open(e))).toBe('accepted');
    expect(store.stats().entries).toBe(100);

    const refused = web.seal('one too many');
    expect(await outcome(core.open(refused))).toBe(ErrorCode.REPLAY_CACHE_FULL);
    // Full is not an excuse to accept a replay, nor to stop recognising one.
    for (const e of first.slice(0, 10)) expect(await outcome(core.open(e))).toBe(ErrorCode.REPLAYED);
    // Forgeries are refused before the store is asked.
    const forged = refused.slice();
    forged[forged.length - 1]! ^= 1;
    expect(await outcome(core.open(forged))).toBe(ErrorCode.FORGED);
    expect(store.stats().entries).toBe(100);

    // 5 s later the cache is still full (nothing has expired)…
    now = T0 + 5000;
    expect(await outcome(core.open(web.seal('still full')))).toBe(ErrorCode.REPLAY_CACHE_FULL);
    // Once the first batch expires (window + one bucket), space returns.
    now = T0 + DEFAULT_WINDOW_MS + store.bucketMs;
    expect(await outcome(core.open(web.seal('after the window')))).toBe('accepted');
    expect(store.stats().entries).toBe(1);
    // The old ones are now refused as expired, not accepted.
    for (const e of first.slice(0, 10)) expect(await outcome(core.open(e))).toBe(ErrorCode.EXPIRED);
  });

  it('a message refused while full is accepted exactly once when retried inside its window after space frees', async () => {
    let now = T0;
    const store = new MemoryReplayStore({ maxEntries: 10, bucketMs: 100 });
    const { web, core } = await pair(store, () => now);
    for (let i = 0; i < 10; i++) expect(await outcome(core.open(web.seal(i)))).toBe('accepted');

    now = T0 + 9_000; // sealed 9 s after the first batch
    const retried = web.seal('retried');
    expect(await outcome(core.open(retried))).toBe(ErrorCode.REPLAY_CACHE_FULL);
    now = T0 + DEFAULT_WINDOW_MS + 100; // the first batch has expired; `retried` is 1.1 s old
    expect(await outcome(core.open(retried))).toBe('accepted');
    expect(await outcome(core.open(retried))).toBe(ErrorCode.REPLAYED);
  });
});

describe('a store that fails', () => {
  const faults: Array<[string, ReplayStore['recordIfAbsent'], ErrorCode]> = [
    [
      'throws an Error',
      () => {
        throw new Error('boom');
      },
      ErrorCode.REPLAY_STORE_UNAVAILABLE,
    ],
    [
      'throws a string',
      () => {
        throw 'boom';
      },
      ErrorCode.REPLAY_STORE_UNAVAILABLE,
    ],
    ['rejects', () => Promise.reject(new Error('ECONNREFUSED')), ErrorCode.REPLAY_STORE_UNAVAILABLE],
    ['rejects with undefined', () => Promise.reject(undefined), ErrorCode.REPLAY_STORE_UNAVAILABLE],
    ['answers undefined', () => undefined as unknown as boolean, ErrorCode.REPLAYED],
    ['answers "true" (a string)', () => 'true' as unknown as boolean, ErrorCode.REPLAYED],
    ['answers 1', () => 1 as unknown as boolean, ErrorCode.REPLAYED],
    ['resolves to "OK"', () => Promise.resolve('OK' as unknown as boolean), ErrorCode.REPLAYED],
    ['resolves to null', () => Promise.resolve(null as unknown as boolean), ErrorCode.REPLAYED],
  ];
  it.each(faults)('that %s: refused with %s (fail closed)', async (_name, recordIfAbsent, expected) => {
    const { web, core } = await pair({ retentionMs: 10_000, recordIfAbsent }, () => T0);
    expect(await outcome(core.open(web.seal('x')))).toBe(expected);
  });

  it('that fails for a while, then recovers: nothing during the outage is accepted, and nothing after is lost', async () => {
    const flaky = flakyStore(false);
    const { web, core } = await pair(flaky, () => T0);
    const before = web.seal('before');
    expect(await outcome(core.open(before))).toBe('accepted');
    flaky.down = true;
    const during = web.seal('during');
    expect(await outcome(core.open(during))).toBe(ErrorCode.REPLAY_STORE_UNAVAILABLE);
    expect(await outcome(core.open(before))).toBe(ErrorCode.REPLAY_STORE_UNAVAILABLE); // not "accepted"
    flaky.down = false;
    expect(await outcome(core.open(before))).toBe(ErrorCode.REPLAYED);
    expect(await outcome(core.open(during))).toBe('accepted'); // the sender's retry gets through, once
    expect(await outcome(core.open(during))).toBe(ErrorCode.REPLAYED);
  });
});
