/**
 * Mutation fuzzing over real envelopes: whatever an attacker without the secret does to the
 * bytes (flip, insert, delete, truncate, swap header fields between envelopes, splice bodies,
 * or send noise), the envelope is rejected with the code that docs/PROTOCOL.md §4's order of
 * checks predicts (size, length, version, structure, direction, key id, tag), nothing is
 * accepted, nothing else is thrown, and nothing reaches the replay store.
 */
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DEFAULT_MAX_ENVELOPE_BYTES } from '../../src/endpoint.js';
import {
  type Endpoint,
  ErrorCode,
  MemoryReplayStore,
  createEndpoint,
  generateSecret,
  isWaTransportError,
} from '../../src/index.js';
import { MIN_ENVELOPE_BYTES } from '../../src/protocol.js';
import {
  DIRECTION_OFFSET,
  Direction,
  FORMAT_OFFSET,
  HEADER_BYTES,
  KEY_ID_BYTES,
  KEY_ID_OFFSET,
  NONCE_BYTES,
  NONCE_OFFSET,
  PayloadFormat,
  TIMESTAMP_BYTES,
  TIMESTAMP_OFFSET,
  VERSION_1,
  VERSION_OFFSET,
  readKeyIdWord,
} from '../../src/envelope/format.js';
import { TEST_TIMEOUT_MS, recordFigures, scale } from '../soak/figures.js';

// The soak total (7 properties × 150,000 plus the exhaustive loops) is over 1,000,000 cases.
const RUNS = scale(400, 150_000);
const T0 = 1_800_000_000_000;

interface Sample {
  readonly bytes: Uint8Array;
  readonly context: string | undefined;
}

let sealTime = T0;
const sealClock = (): number => sealTime;
const openClock = (): number => T0;
/** A store of a receiver up since before the corpus was sealed (a store vouches only from its start). */
const upSince = (): MemoryReplayStore => new MemoryReplayStore({ rememberedSince: T0 - 60_000 });

const secretA = generateSecret();
const secretB = generateSecret();
let store: MemoryReplayStore;
/** CoreApp holding secret A only: the endpoint under attack. */
let core: Endpoint;
/** WebApp holding A: opens CoreApp→WebApp, so the direction check is fuzzed from both sides. */
let web: Endpoint;
let keyIdA = 0;
/** Envelopes sealed WebApp→CoreApp with A (the ones mutated), and a few of every other kind. */
const toCore: Sample[] = [];
const others: Sample[] = [];
let cases = 0;
let accepted = 0;

beforeAll(async () => {
  store = new MemoryReplayStore();
  core = await createEndpoint({ role: 'coreapp', secret: secretA, clock: openClock, replayStore: store });
  web = await createEndpoint({ role: 'webapp', secret: secretA, clock: openClock, replayStore: upSince() });
  const sealerA = await createEndpoint({ role: 'webapp', secret: secretA, clock: sealClock });
  const sealerB = await createEndpoint({ role: 'webapp', secret: secretB, clock: sealClock });
  const reverse = await createEndpoint({ role: 'coreapp', secret: secretA, clock: sealClock });
  keyIdA = readKeyIdWord(sealerA.seal(new Uint8Array(0)));

  const payloads: unknown[] = [
    new Uint8Array(0),
    new Uint8Array([0]),
    new Uint8Array(200).fill(0xa5),
    { op: 'transfer', amount: 100, to: 'acct-1' },
    ['x', 1, null, true],
    'a string',
  ];
  const contexts = [undefined, 'POST /v1/transfer', 'ws:channel-7#42'];
  let i = 0;
  for (const payload of payloads) {
    for (const context of contexts) {
      sealTime = T0 - 37 * ++i; // distinct timestamps, all inside the window
      toCore.push({ bytes: sealerA.seal(payload, seal(context)), context });
      others.push({ bytes: sealerB.seal(payload, seal(context)), context });
      others.push({ bytes: reverse.seal(payload, seal(context)), context });
    }
  }

  // The corpus must be authentic, or every rejection below proves nothing.
  const check = await createEndpoint({
    role: 'coreapp',
    secret: secretA,
    previousSecrets: [secretB],
    clock: openClock,
    replayStore: upSince(),
  });
  const checkWeb = await createEndpoint({ role: 'webapp', secret: secretA, clock: openClock, replayStore: upSince() });
  for (const s of toCore) check.openSync(s.bytes, seal(s.context));
  for (const s of others)
    (s.bytes[DIRECTION_OFFSET] === Direction.COREAPP_TO_WEBAPP ? checkWeb : check).openSync(s.bytes, seal(s.context));
});

afterAll(() => {
  recordFigures('adversarial/mutation', { casesTried: cases, forgeriesAccepted: accepted });
});

function seal(context: string | undefined): { context?: string } {
  return context === undefined ? {} : { context };
}

/**
 * The code docs/PROTOCOL.md §4 prescribes for bytes that are not a genuine envelope:
 * size, length, version, direction and format values, direction, key id, then the tag.
 */
function expectedCode(m: Uint8Array, inbound: Direction, max = DEFAULT_MAX_ENVELOPE_BYTES): ErrorCode {
  if (m.length > max) return ErrorCode.TOO_LARGE;
  if (m.length < MIN_ENVELOPE_BYTES) return ErrorCode.MALFORMED;
  if (m[VERSION_OFFSET] !== VERSION_1) return ErrorCode.UNSUPPORTED_VERSION;
  const direction = m[DIRECTION_OFFSET];
  if (direction !== Direction.WEBAPP_TO_COREAPP && direction !== Direction.COREAPP_TO_WEBAPP)
    return ErrorCode.MALFORMED;
  const format = m[FORMAT_OFFSET];
  if (format !== PayloadFormat.MSGPACK && format !== PayloadFormat.BYTES) return ErrorCode.MALFORMED;
  if (direction !== inbound) return ErrorCode.WRONG_DIRECTION;
  if (readKeyIdWord(m) !== keyIdA) return ErrorCode.UNKNOWN_KEY;
  return ErrorCode.FORGED;
}

/** Opens `m` and returns the code it was rejected with; fails the test on acceptance or any other throw. */
function rejection(endpoint: Endpoint, m: Uint8Array | string, context: string | undefined): ErrorCode {
  cases++;
  try {
    endpoint.openSync(m, seal(context));
  } catch (error) {
    if (!isWaTransportError(error)) throw new Error(`threw something other than WaTransportError: ${String(error)}`);
    expect(Object.values(ErrorCode)).toContain(error.code);
    return error.code;
  }
  accepted++;
  throw new Error('a mutated envelope was accepted');
}

function equalBytes(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && a.every((x, i) => x === b[i]);
}

/** Checks one mutation against the prediction; identical bytes are not a mutation. */
function assertMutantRejected(
  original: Sample,
  m: Uint8Array,
  endpoint = core,
  inbound: Direction = Direction.WEBAPP_TO_COREAPP,
): void {
  if (equalBytes(m, original.bytes)) return;
  expect(rejection(endpoint, m, original.context)).toBe(expectedCode(m, inbound));
}

const sample = (): fc.Arbitrary<Sample> => fc.constantFrom(...toCore);

describe('mutated envelopes are rejected with the predicted code', () => {
  it(
    'bit flips at every offset',
    () => {
      fc.assert(
        fc.property(sample(), fc.nat(), fc.integer({ min: 0, max: 7 }), (s, at, bit) => {
          const m = s.bytes.slice();
          const i = at % m.length;
          m[i]! ^= 1 << bit;
          assertMutantRejected(s, m);
        }),
        { numRuns: RUNS },
      );
    },
    TEST_TIMEOUT_MS,
  );

  it('every single-bit flip of one envelope, exhaustively, with its exact code', () => {
    const s = toCore[9]!; // a msgpack map, no context
    for (let i = 0; i < s.bytes.length; i++) {
      for (let bit = 0; bit < 8; bit++) {
        const m = s.bytes.slice();
        m[i]! ^= 1 << bit;
        const code = rejection(core, m, s.context);
        // Spelled out per field, not through expectedCode, so the oracle itself is checked.
        if (i === VERSION_OFFSET) expect(code).toBe(ErrorCode.UNSUPPORTED_VERSION);
        else if (i === DIRECTION_OFFSET)
          expect(code).toBe(ErrorCode.MALFORMED); // 0x01 ^ bit is never 0x02
        else if (i === FORMAT_OFFSET) expect(code).toBe(bit === 0 ? ErrorCode.FORGED : ErrorCode.MALFORMED);
        else if (i < KEY_ID_OFFSET + KEY_ID_BYTES) expect(code).toBe(ErrorCode.UNKNOWN_KEY);
        else expect(code).toBe(ErrorCode.FORGED); // timestamp, nonce, ciphertext, tag
      }
    }
  });

  it(
    'byte insertions and deletions',
    () => {
      fc.assert(
        fc.property(
          sample(),
          fc.nat(),
          fc.uint8Array({ minLength: 0, maxLength: 64 }),
          fc.integer({ min: 0, max: 64 }),
          (s, at, inserted, deleted) => {
            const i = at % (s.bytes.length + 1);
            const head = s.bytes.subarray(0, i);
            const tail = s.bytes.subarray(Math.min(s.bytes.length, i + deleted));
            const m = new Uint8Array(head.length + inserted.length + tail.length);
            m.set(head, 0);
            m.set(inserted, head.length);
            m.set(tail, head.length + inserted.length);
            assertMutantRejected(s, m);
          },
        ),
        { numRuns: RUNS },
      );
    },
    TEST_TIMEOUT_MS,
  );

  it('truncation to every length, and every suffix', () => {
    for (const s of toCore) {
      for (let n = 0; n < s.bytes.length; n++) {
        const code = rejection(core, s.bytes.subarray(0, n), s.context);
        expect(code).toBe(n < MIN_ENVELOPE_BYTES ? ErrorCode.MALFORMED : ErrorCode.FORGED);
        assertMutantRejected(s, s.bytes.subarray(n + 1));
      }
    }
  });

  const fields = [
    { name: 'direction', offset: DIRECTION_OFFSET, length: 1 },
    { name: 'format', offset: FORMAT_OFFSET, length: 1 },
    { name: 'key id', offset: KEY_ID_OFFSET, length: KEY_ID_BYTES },
    { name: 'timestamp', offset: TIMESTAMP_OFFSET, length: TIMESTAMP_BYTES },
    { name: 'nonce', offset: NONCE_OFFSET, length: NONCE_BYTES },
  ] as const;

  it(
    'header fields swapped between envelopes (other secret, other direction, other timestamp)',
    () => {
      const donors = [...toCore, ...others];
      fc.assert(
        fc.property(
          sample(),
          fc.constantFrom(...donors),
          fc.constantFrom(...fields),
          fc.boolean(),
          (s, donor, field, asWebApp) => {
            const m = s.bytes.slice();
            m.set(donor.bytes.subarray(field.offset, field.offset + field.length), field.offset);
            // Also offered to the WebApp, which accepts the other direction: a reflected
            // envelope with its direction byte rewritten must still fail on the tag.
            if (asWebApp) assertMutantRejected(s, m, web, Direction.COREAPP_TO_WEBAPP);
            else assertMutantRejected(s, m);
          },
        ),
        { numRuns: RUNS },
      );
    },
    TEST_TIMEOUT_MS,
  );

  it('every header field of every envelope swapped with every other envelope, exhaustively', () => {
    const donors = [...toCore, ...others];
    for (const s of toCore) {
      for (const donor of donors) {
        for (const field of fields) {
          const m = s.bytes.slice();
          m.set(donor.bytes.subarray(field.offset, field.offset + field.length), field.offset);
          assertMutantRejected(s, m);
        }
        // The whole header of one envelope on the body of another, both ways.
        for (const [head, body] of [
          [s, donor],
          [donor, s],
        ] as const) {
          const m = new Uint8Array(HEADER_BYTES + body.bytes.length - HEADER_BYTES);
          m.set(head.bytes.subarray(0, HEADER_BYTES), 0);
          m.set(body.bytes.subarray(HEADER_BYTES), HEADER_BYTES);
          if (!equalBytes(m, s.bytes) && !equalBytes(m, donor.bytes)) {
            expect(rejection(core, m, s.context)).toBe(expectedCode(m, Direction.WEBAPP_TO_COREAPP));
          }
        }
      }
    }
  });

  it(
    'ciphertexts spliced onto other headers, with the context of either',
    () => {
      fc.assert(
        fc.property(sample(), sample(), fc.boolean(), (a, b, contextOfB) => {
          const m = new Uint8Array(HEADER_BYTES + b.bytes.length - HEADER_BYTES);
          m.set(a.bytes.subarray(0, HEADER_BYTES), 0);
          m.set(b.bytes.subarray(HEADER_BYTES), HEADER_BYTES);
          if (equalBytes(m, a.bytes) || equalBytes(m, b.bytes)) return;
          expect(rejection(core, m, (contextOfB ? b : a).context)).toBe(ErrorCode.FORGED);
        }),
        { numRuns: RUNS },
      );
    },
    TEST_TIMEOUT_MS,
  );

  it(
    'a genuine envelope opened with the wrong context',
    () => {
      fc.assert(
        fc.property(sample(), fc.string({ maxLength: 40 }), (s, context) => {
          if (context === (s.context ?? '')) return;
          expect(rejection(core, s.bytes, context)).toBe(ErrorCode.FORGED);
        }),
        { numRuns: RUNS },
      );
    },
    TEST_TIMEOUT_MS,
  );
});

describe('noise is rejected', () => {
  it(
    'random bytes of random length',
    () => {
      fc.assert(
        fc.property(fc.uint8Array({ minLength: 0, maxLength: 512 }), (m) => {
          expect(rejection(core, m, undefined)).toBe(expectedCode(m, Direction.WEBAPP_TO_COREAPP));
        }),
        { numRuns: RUNS },
      );
    },
    TEST_TIMEOUT_MS,
  );

  it(
    'random bytes behind a plausible header (right version, direction and key id)',
    () => {
      fc.assert(
        fc.property(
          fc.constantFrom(PayloadFormat.MSGPACK, PayloadFormat.BYTES),
          fc.uint8Array({ minLength: 0, maxLength: 512 }),
          (format, rest) => {
            const m = new Uint8Array(KEY_ID_OFFSET + KEY_ID_BYTES + rest.length);
            m[VERSION_OFFSET] = VERSION_1;
            m[DIRECTION_OFFSET] = Direction.WEBAPP_TO_COREAPP;
            m[FORMAT_OFFSET] = format;
            m.set(toCore[0]!.bytes.subarray(KEY_ID_OFFSET, KEY_ID_OFFSET + KEY_ID_BYTES), KEY_ID_OFFSET);
            m.set(rest, KEY_ID_OFFSET + KEY_ID_BYTES);
            expect(rejection(core, m, undefined)).toBe(expectedCode(m, Direction.WEBAPP_TO_COREAPP));
          },
        ),
        { numRuns: RUNS },
      );
    },
    TEST_TIMEOUT_MS,
  );

  it('every length from 0 to the size limit + 1 (limit 1 KiB)', async () => {
    const max = 1024;
    const small = await createEndpoint({ role: 'coreapp', secret: secretA, clock: openClock, maxEnvelopeBytes: max });
    for (let n = 0; n <= max + 1; n++) {
      const m = plausible(n);
      expect(rejection(small, m, undefined)).toBe(expectedCode(m, Direction.WEBAPP_TO_COREAPP, max));
      const noise = crypto.getRandomValues(new Uint8Array(n));
      expect(rejection(small, noise, undefined)).toBe(expectedCode(noise, Direction.WEBAPP_TO_COREAPP, max));
    }
  });

  it(
    'the default 4 MiB limit − 1, exactly, and + 1, as bytes and as text',
    () => {
      for (const n of [DEFAULT_MAX_ENVELOPE_BYTES - 1, DEFAULT_MAX_ENVELOPE_BYTES, DEFAULT_MAX_ENVELOPE_BYTES + 1]) {
        const m = plausible(n);
        const expected = n > DEFAULT_MAX_ENVELOPE_BYTES ? ErrorCode.TOO_LARGE : ErrorCode.FORGED;
        expect(rejection(core, m, undefined)).toBe(expected);
        expect(rejection(core, Buffer.from(m).toString('base64url'), undefined)).toBe(expected);
      }
    },
    TEST_TIMEOUT_MS,
  );

  it(
    'the asynchronous open rejects the same way',
    async () => {
      await fc.assert(
        fc.asyncProperty(sample(), fc.nat(), fc.integer({ min: 0, max: 7 }), async (s, at, bit) => {
          const m = s.bytes.slice();
          m[at % m.length]! ^= 1 << bit;
          cases++;
          const error: unknown = await core.open(m, seal(s.context)).then(
            () => {
              accepted++;
              return new Error('accepted');
            },
            (e: unknown) => e,
          );
          expect(isWaTransportError(error, expectedCode(m, Direction.WEBAPP_TO_COREAPP))).toBe(true);
        }),
        { numRuns: Math.ceil(RUNS / 4) },
      );
    },
    TEST_TIMEOUT_MS,
  );

  it('nothing rejected above reached the replay store', () => {
    expect(store.stats().entries).toBe(0);
    expect(accepted).toBe(0);
  });
});

/** A random envelope of `n` bytes whose header passes every check before the tag. */
function plausible(n: number): Uint8Array {
  const m = new Uint8Array(n);
  for (let at = 0; at < n; at += 65536) crypto.getRandomValues(m.subarray(at, Math.min(n, at + 65536)));
  if (n > KEY_ID_OFFSET + KEY_ID_BYTES) {
    m[VERSION_OFFSET] = VERSION_1;
    m[DIRECTION_OFFSET] = Direction.WEBAPP_TO_COREAPP;
    m[FORMAT_OFFSET] = PayloadFormat.BYTES;
    m.set(toCore[0]!.bytes.subarray(KEY_ID_OFFSET, KEY_ID_OFFSET + KEY_ID_BYTES), KEY_ID_OFFSET);
  }
  return m;
}
