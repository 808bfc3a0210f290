/**
 * Clock faults. A peer's clock may be off by up to the skew (ahead) or the window (behind);
 * beyond that its envelopes are refused with the code that says which way. The local clock
 * may jump by minutes either way (NTP step, VM resume, operator error): the verifier's clock
 * only moves forward (src/verifier.ts), so a backward jump can neither reopen the window for
 * old envelopes nor make the store forget nonces early, and a forward jump forgets only
 * nonces whose envelopes the timestamp check now refuses anyway.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { verifierOf } from '../../src/endpoint.js';
import { DEFAULT_MAX_SKEW_MS, DEFAULT_WINDOW_MS } from '../../src/protocol.js';
import {
  type Endpoint,
  ErrorCode,
  MemoryReplayStore,
  createEndpoint,
  generateSecret,
  isWaTransportError,
} from '../../src/index.js';
import { TEST_TIMEOUT_MS, recordFigures, scale } from '../soak/figures.js';

const T0 = 1_800_000_000_000;
const SECOND = 1000;
const MINUTE = 60 * SECOND;

/** A settable clock. */
function manualClock(start = T0): { now: () => number; set: (t: number) => void; advance: (ms: number) => void } {
  let t = start;
  return { now: () => t, set: (v) => (t = v), advance: (ms) => (t += ms) };
}

async function pair(options: { webClock: () => number; coreClock: () => number; store?: MemoryReplayStore }) {
  const secret = generateSecret();
  const web = await createEndpoint({ role: 'webapp', secret, clock: options.webClock });
  const core = await createEndpoint({
    role: 'coreapp',
    secret,
    clock: options.coreClock,
    // A CoreApp that has been up for a while: its store vouches for peers behind it at T0.
    replayStore: options.store ?? new MemoryReplayStore({ rememberedSince: T0 - MINUTE }),
  });
  return { web, core };
}

function codeOf(endpoint: Endpoint, envelope: Uint8Array): ErrorCode | 'accepted' {
  try {
    endpoint.openSync(envelope);
    return 'accepted';
  } catch (error) {
    if (!isWaTransportError(error)) throw error;
    return error.code;
  }
}

describe('peer clock skew', () => {
  it.each([
    ['9 s behind', -9 * SECOND, 'accepted'],
    ['9 s ahead', 9 * SECOND, 'accepted'],
    ['exactly 10 s behind (the window)', -DEFAULT_WINDOW_MS, 'accepted'],
    ['exactly 10 s ahead (the skew)', DEFAULT_MAX_SKEW_MS, 'accepted'],
    ['10.001 s behind', -DEFAULT_WINDOW_MS - 1, ErrorCode.EXPIRED],
    ['10.001 s ahead', DEFAULT_MAX_SKEW_MS + 1, ErrorCode.FUTURE],
    ['11 s behind', -11 * SECOND, ErrorCode.EXPIRED],
    ['11 s ahead', 11 * SECOND, ErrorCode.FUTURE],
    ['a day behind', -24 * 60 * MINUTE, ErrorCode.EXPIRED],
    ['a year ahead', 365 * 24 * 60 * MINUTE, ErrorCode.FUTURE],
    ['at the epoch', -T0, ErrorCode.EXPIRED],
  ])('a peer %s → %s', async (_name, offset, expected) => {
    const { web, core } = await pair({ webClock: () => T0 + offset, coreClock: () => T0 });
    expect(codeOf(core, web.seal({ n: 1 }))).toBe(expected);
  });

  it(
    'any skew within [−window, +skew] is accepted, any beyond is refused with the right code',
    async () => {
      let peerTime = T0;
      const { web, core } = await pair({ webClock: () => peerTime, coreClock: () => T0 });
      fc.assert(
        fc.property(fc.integer({ min: -3 * DEFAULT_WINDOW_MS, max: 3 * DEFAULT_MAX_SKEW_MS }), (offset) => {
          peerTime = T0 + offset;
          const expected =
            offset < -DEFAULT_WINDOW_MS
              ? ErrorCode.EXPIRED
              : offset > DEFAULT_MAX_SKEW_MS
                ? ErrorCode.FUTURE
                : 'accepted';
          expect(codeOf(core, web.seal(new Uint8Array(1)))).toBe(expected);
        }),
        { numRuns: scale(300, 20_000) },
      );
    },
    TEST_TIMEOUT_MS,
  );

  it('a refused-as-stale envelope was not recorded: skew refusals never fill the cache', async () => {
    const store = new MemoryReplayStore();
    const { web, core } = await pair({ webClock: () => T0 - 11 * SECOND, coreClock: () => T0, store });
    for (let i = 0; i < 100; i++) expect(codeOf(core, web.seal(i))).toBe(ErrorCode.EXPIRED);
    expect(store.stats().entries).toBe(0);
  });
});

describe('the local clock jumps', () => {
  it('backwards by 5 minutes: replays stay refused, nothing is forgotten, fresh peers are refused until it catches up', async () => {
    const local = manualClock();
    const peer = manualClock();
    const store = new MemoryReplayStore();
    const { web, core } = await pair({ webClock: peer.now, coreClock: local.now, store });

    const accepted = Array.from({ length: 50 }, (_, i) => web.seal(i));
    for (const e of accepted) expect(codeOf(core, e)).toBe('accepted');
    const before = store.stats();

    local.set(T0 - 5 * MINUTE); // NTP steps the clock back
    for (const e of accepted) expect(codeOf(core, e)).toBe(ErrorCode.REPLAYED);
    expect(store.stats()).toEqual(before);
    expect(verifierOf(core).now()).toBe(T0); // it kept its latest reading

    // The peer's clock went back too: its envelopes look 5 minutes old to the verifier.
    peer.set(T0 - 5 * MINUTE);
    expect(codeOf(core, web.seal('from the past'))).toBe(ErrorCode.EXPIRED);
    // Once real time passes T0 again, everything works and no old nonce was lost on the way.
    local.set(T0 + 2 * SECOND);
    peer.set(T0 + 2 * SECOND);
    expect(codeOf(core, web.seal('fresh'))).toBe('accepted');
    for (const e of accepted) expect(codeOf(core, e)).toBe(ErrorCode.REPLAYED);
  });

  it('forwards by 5 minutes and back: the old envelopes are refused as expired, never accepted', async () => {
    const local = manualClock();
    const store = new MemoryReplayStore();
    const { web, core } = await pair({ webClock: () => T0, coreClock: local.now, store });

    const accepted = Array.from({ length: 50 }, (_, i) => web.seal(i));
    for (const e of accepted) expect(codeOf(core, e)).toBe('accepted');
    const unseen = web.seal('sealed before the jump, never delivered');

    local.set(T0 + 5 * MINUTE);
    for (const e of accepted) expect(codeOf(core, e)).toBe(ErrorCode.EXPIRED);
    expect(codeOf(core, unseen)).toBe(ErrorCode.EXPIRED);

    // The clock comes back. The verifier does not: the nonces it may have dropped belong to
    // envelopes it still considers expired, so forgetting them reopened nothing.
    local.set(T0);
    for (const e of accepted) expect(codeOf(core, e)).toBe(ErrorCode.EXPIRED);
    expect(codeOf(core, unseen)).toBe(ErrorCode.EXPIRED);
  });

  it('a forward jump drops only buckets past their expiry', async () => {
    const local = manualClock();
    const store = new MemoryReplayStore();
    const peer = manualClock();
    const { web, core } = await pair({ webClock: peer.now, coreClock: local.now, store });
    for (let i = 0; i < 20; i++) expect(codeOf(core, web.seal(i))).toBe('accepted');
    // Inside the window, the sweep must keep them: 9 s later they are still replays.
    local.advance(9 * SECOND);
    const late = web.seal('late'); // sealed at T0, delivered 9 s later
    expect(codeOf(core, late)).toBe('accepted');
    expect(codeOf(core, late)).toBe(ErrorCode.REPLAYED);
    expect(store.stats().entries).toBe(21);
    // Past window + one bucket, they go, and their envelopes are expired.
    local.advance(DEFAULT_WINDOW_MS + store.bucketMs);
    peer.set(local.now());
    expect(codeOf(core, web.seal('after'))).toBe('accepted');
    expect(store.stats().entries).toBe(1);
    expect(codeOf(core, late)).toBe(ErrorCode.EXPIRED);
  });

  it(
    'random clock walks (jumps of minutes, both ways) never accept an envelope twice',
    async () => {
      // Model: any envelope accepted once must never be accepted again, whatever the clocks do,
      // and an envelope still inside the verifier's window after acceptance must read as a replay.
      const step = fc.oneof(
        fc.record({ kind: fc.constant('tick' as const), ms: fc.integer({ min: 0, max: 3 * SECOND }) }),
        fc.record({ kind: fc.constant('jump' as const), ms: fc.integer({ min: -10 * MINUTE, max: 10 * MINUTE }) }),
        fc.record({ kind: fc.constant('send' as const), skew: fc.integer({ min: -12 * SECOND, max: 12 * SECOND }) }),
        fc.record({ kind: fc.constant('replay' as const), pick: fc.nat() }),
      );
      let runs = 0;
      await fc.assert(
        fc.asyncProperty(fc.array(step, { minLength: 1, maxLength: 60 }), async (steps) => {
          runs++;
          const local = manualClock();
          let peerTime = T0;
          const { web, core } = await pair({ webClock: () => peerTime, coreClock: local.now });
          const sent: Array<{ envelope: Uint8Array; timestamp: number; accepted: boolean }> = [];
          for (const s of steps) {
            if (s.kind === 'tick') local.advance(s.ms);
            else if (s.kind === 'jump') local.advance(s.ms);
            else {
              const target = s.kind === 'send' ? undefined : sent[s.pick % Math.max(1, sent.length)];
              if (s.kind === 'send') {
                peerTime = local.now() + s.skew;
                sent.push({ envelope: web.seal(sent.length), timestamp: peerTime, accepted: false });
              }
              const item = target ?? sent.at(-1);
              if (item === undefined) continue;
              const now = verifierOf(core).now();
              const code = codeOf(core, item.envelope);
              if (item.accepted) {
                expect(code).not.toBe('accepted');
                // Still in the window: the nonce must still be remembered.
                if (item.timestamp >= now - DEFAULT_WINDOW_MS) expect(code).toBe(ErrorCode.REPLAYED);
              }
              if (code === 'accepted') item.accepted = true;
            }
          }
        }),
        { numRuns: scale(100, 5_000) },
      );
      recordFigures('faults/clock-walks', { walks: runs });
    },
    TEST_TIMEOUT_MS,
  );
});
