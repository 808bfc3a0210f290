/**
 * Hostile payloads after authentication: a peer that holds the secret but is buggy or
 * compromised seals msgpack that the public `seal` would never produce (it checks what it
 * sends). Sealed here with the lower-level `sealEnvelope`, so they authenticate; the receiver
 * must reject them with ERR_WA_PAYLOAD or decode them into inert data, and leave the
 * process's prototypes as they were.
 */
import { spawnSync } from 'node:child_process';
import { fileURLToPath, pathToFileURL } from 'node:url';
import fc from 'fast-check';
import { Packr } from 'msgpackr';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { selectBackend } from '../../src/crypto/select-backend.js';
import type { AeadBackend } from '../../src/crypto/aead.js';
import { sealEnvelope } from '../../src/envelope/seal.js';
import { Direction, PayloadFormat } from '../../src/envelope/format.js';
import { type Endpoint, ErrorCode, createEndpoint, generateSecret, isWaTransportError } from '../../src/index.js';
import { MAX_DEPTH } from '../../src/protocol.js';
import { SecretKeys, secretBytes } from '../../src/keys.js';
import { TEST_TIMEOUT_MS, recordFigures, scale } from '../soak/figures.js';

const T0 = 1_800_000_000_000;
const secret = generateSecret();
let backend: AeadBackend;
let keys: SecretKeys;
let core: Endpoint;
let cases = 0;
let rejected = 0;

/** Every own property name and symbol of the prototypes an attacker would aim at. */
const PROTOTYPES = [
  Object.prototype,
  Array.prototype,
  Function.prototype,
  String.prototype,
  Number.prototype,
  Map.prototype,
];
function prototypeSnapshot(): string[] {
  return PROTOTYPES.map((p) => Reflect.ownKeys(p).map(String).sort().join(','));
}
const before = prototypeSnapshot();

beforeAll(async () => {
  backend = await selectBackend();
  keys = new SecretKeys(secretBytes(secret));
  core = await createEndpoint({ role: 'coreapp', secret, clock: () => T0 });
});

afterAll(() => {
  expect(prototypeSnapshot()).toEqual(before);
  recordFigures('adversarial/hostile-payload', {
    casesTried: cases,
    rejectedAsPayload: rejected,
    prototypesUntouched: true,
  });
});

/** Seals raw bytes as an authentic msgpack payload, as a compromised WebApp could. */
function sealRaw(plaintext: Uint8Array): Uint8Array {
  return sealEnvelope({
    backend,
    keys,
    direction: Direction.WEBAPP_TO_COREAPP,
    format: PayloadFormat.MSGPACK,
    plaintext,
    timestamp: T0,
  });
}

type Outcome = { rejected: true } | { rejected: false; payload: unknown };

/** Opens a hostile payload: either ERR_WA_PAYLOAD or a value; anything else fails the test. */
function openHostile(plaintext: Uint8Array): Outcome {
  cases++;
  try {
    const { payload } = core.openSync(sealRaw(plaintext));
    assertInert(payload);
    return { rejected: false, payload };
  } catch (error) {
    if (!isWaTransportError(error, ErrorCode.PAYLOAD)) {
      throw new Error(`expected ERR_WA_PAYLOAD, got ${isWaTransportError(error) ? error.code : String(error)}`);
    }
    rejected++;
    return { rejected: true };
  } finally {
    expect(({} as Record<string, unknown>)['polluted']).toBeUndefined();
  }
}

/**
 * Inert: only primitives, Dates, byte arrays, arrays and plain objects (prototype
 * Object.prototype or null) with own data properties — no functions, getters, class instances,
 * RegExps, Errors, Sets, Maps. Walked without recursion, like the payload checker.
 */
function assertInert(value: unknown): void {
  const stack: unknown[] = [value];
  while (stack.length > 0) {
    const v = stack.pop();
    if (v === null || v === undefined) continue;
    const t = typeof v;
    if (t === 'string' || t === 'number' || t === 'boolean') continue; // never a bigint (PROTOCOL §5)
    if (t !== 'object') throw new Error(`not inert: a ${t}`);
    if (v instanceof Date || v instanceof Uint8Array) continue;
    if (Array.isArray(v)) {
      expect(Object.getPrototypeOf(v)).toBe(Array.prototype);
      stack.push(...v);
      continue;
    }
    const proto: unknown = Object.getPrototypeOf(v);
    if (proto !== Object.prototype && proto !== null) throw new Error(`not inert: prototype ${String(proto)}`);
    for (const key of Reflect.ownKeys(v as object)) {
      const d = Object.getOwnPropertyDescriptor(v, key)!;
      if (d.get !== undefined || d.set !== undefined) throw new Error('not inert: an accessor');
      stack.push(d.value);
    }
  }
}

const bytes = (...parts: Array<number | number[] | Uint8Array>): Uint8Array =>
  Uint8Array.from(parts.flatMap((p) => (typeof p === 'number' ? [p] : [...p])));
const str = (s: string): number[] => {
  const b = Buffer.from(s);
  return [0xa0 | b.length, ...b];
};

describe('huge declared lengths are refused without allocating them', () => {
  const cases: Array<[string, Uint8Array]> = [
    ['str32 of 4 GiB', bytes(0xdb, 0xff, 0xff, 0xff, 0xff, 0x61)],
    ['str16 of 64 KiB', bytes(0xda, 0xff, 0xff, 0x61)],
    ['bin32 of 4 GiB', bytes(0xc6, 0xff, 0xff, 0xff, 0xff, 0x00)],
    ['array32 of 4 G items', bytes(0xdd, 0xff, 0xff, 0xff, 0xff, 0xc0)],
    ['array16 of 65535 items', bytes(0xdc, 0xff, 0xff, 0xc0, 0xc0)],
    ['map32 of 4 G pairs', bytes(0xdf, 0xff, 0xff, 0xff, 0xff, 0xa1, 0x61, 0xc0)],
    ['map16 of 65535 pairs', bytes(0xde, 0xff, 0xff, 0xa1, 0x61, 0xc0)],
    ['ext32 of 4 GiB', bytes(0xc9, 0xff, 0xff, 0xff, 0xff, 0x01, 0x00)],
    ['ext16 of 64 KiB', bytes(0xc8, 0xff, 0xff, 0x01, 0x00)],
    ['ext8 timestamp claiming 255 bytes', bytes(0xc7, 0xff, 0xff, 0x00)],
    ['a huge length nested in a small array', bytes(0x92, 0x01, 0xdb, 0x7f, 0xff, 0xff, 0xff)],
    ['fixarray of 15 with 1 item present', bytes(0x9f, 0xc0)],
  ];
  it.each(cases)('%s', (_name, plaintext) => {
    expect(openHostile(plaintext)).toEqual({ rejected: true });
  });
});

describe('amplification: payloads that decode into far more memory than they take (issue 11)', () => {
  /** array32 of `n` copies of `item`. */
  const arrayOf = (n: number, item: number[]): Uint8Array => {
    const out = new Uint8Array(5 + n * item.length);
    out[0] = 0xdd;
    new DataView(out.buffer).setUint32(1, n);
    for (let i = 0; i < n; i++) out.set(item, 5 + i * item.length);
    return out;
  };
  const MiB = 1024 * 1024;
  const n = 4 * MiB - 64; // the largest array of 1-byte items a 4 MiB envelope holds
  it.each<[string, Uint8Array]>([
    ['4 MiB of empty maps', arrayOf(n, [0x80])],
    ['4 MiB of empty arrays', arrayOf(n, [0x90])],
    ['4 MiB of empty binaries', arrayOf(n / 2, [0xc4, 0x00])],
    ['4 MiB of timestamps', arrayOf(Math.floor(n / 6), [0xd6, 0xff, 0, 0, 0, 1])],
    ['4 MiB of nils (more values than MAX_PAYLOAD_VALUES)', arrayOf(n, [0xc0])],
    [
      'one map with 2 M empty-map values',
      (() => {
        const pairs = 1 << 20;
        const out = new Uint8Array(5 + pairs * 2);
        out[0] = 0xdf;
        new DataView(out.buffer).setUint32(1, pairs);
        for (let i = 0; i < pairs; i++) out.set([0x00, 0x80], 5 + 2 * i);
        return out;
      })(),
    ],
  ])('%s: refused with ERR_WA_PAYLOAD', (_name, plaintext) => {
    expect(openHostile(plaintext)).toEqual({ rejected: true });
  });

  it('memory: decoding many 4 MiB bombs, results kept, grows the heap by almost nothing (child process)', async () => {
    const payload = pathToFileURL(fileURLToPath(new URL('../../src/payload.ts', import.meta.url))).href;
    // Before the limits each bomb decoded to 256 MiB of empty objects: the child ran out of heap.
    const code = `
      const { decodeMsgpack } = await import(${JSON.stringify(payload)});
      const bomb = new Uint8Array(5 + ${n}).fill(0x80);
      bomb[0] = 0xdd; new DataView(bomb.buffer).setUint32(1, ${n});
      const kept = [];
      globalThis.gc(); const before = process.memoryUsage().heapUsed;
      for (let i = 0; i < 16; i++) { try { kept.push(decodeMsgpack(bomb)); } catch (error) { kept.push(error.code); } }
      globalThis.gc(); const after = process.memoryUsage().heapUsed;
      console.log(JSON.stringify({ growth: after - before, outcomes: [...new Set(kept.map(String))] }));
    `;
    const child = spawnSync(
      process.execPath,
      ['--import', 'tsx', '--expose-gc', '--max-old-space-size=512', '--input-type=module', '-e', code],
      { encoding: 'utf8', timeout: 120_000 },
    );
    expect(child.status, child.stderr).toBe(0);
    const result = JSON.parse(child.stdout.trim().split('\n').pop()!) as { growth: number; outcomes: string[] };
    expect(result.outcomes).toEqual([ErrorCode.PAYLOAD]);
    expect(result.growth).toBeLessThan(4 * MiB);
    recordFigures('adversarial/hostile-payload/bombs', { bombs: 16, heapGrowthBytes: result.growth });
  }, 180_000);
});

describe('deep nesting', () => {
  const LEVELS = 100_000;
  it.each([
    ['arrays', [0x91]],
    ['maps', [0x81, ...str('k')]],
    ['array16 headers', [0xdc, 0x00, 0x01]],
    ['map32 headers', [0xdf, 0x00, 0x00, 0x00, 0x01, 0x01]],
  ])(`${LEVELS} levels of %s are refused (limit ${MAX_DEPTH})`, (_name, level) => {
    const plaintext = new Uint8Array(level.length * LEVELS + 1);
    for (let i = 0; i < LEVELS; i++) plaintext.set(level, i * level.length);
    plaintext[plaintext.length - 1] = 0xc0;
    expect(openHostile(plaintext)).toEqual({ rejected: true });
  });

  it(`exactly ${MAX_DEPTH} levels decode; one more is refused`, () => {
    const nest = (levels: number): Uint8Array => bytes(new Array<number>(levels).fill(0x91), 0xc0);
    const ok = openHostile(nest(MAX_DEPTH));
    expect(ok.rejected).toBe(false);
    expect(openHostile(nest(MAX_DEPTH + 1))).toEqual({ rejected: true });
  });
});

describe('prototype keys', () => {
  it.each([
    ['__proto__ as a fixstr key', bytes(0x81, str('__proto__'), 0x81, str('polluted'), 0xc3)],
    ['__proto__ as a str8 key', bytes(0x81, 0xd9, 9, [...Buffer.from('__proto__')], 0x81, str('polluted'), 0xc3)],
    ['__proto__ as a str16 key', bytes(0x81, 0xda, 0, 9, [...Buffer.from('__proto__')], 0x81, str('polluted'), 0xc3)],
    [
      '__proto__ as a str32 key',
      bytes(0x81, 0xdb, 0, 0, 0, 9, [...Buffer.from('__proto__')], 0x81, str('polluted'), 0xc3),
    ],
    ['__proto__ deep inside', bytes(0x91, 0x81, str('a'), 0x81, str('__proto__'), 0x81, str('polluted'), 0xc3)],
    ['__proto__ after a harmless key', bytes(0x82, str('a'), 0x01, str('__proto__'), 0x81, str('polluted'), 0xc3)],
  ])('%s is refused', (_name, plaintext) => {
    expect(openHostile(plaintext)).toEqual({ rejected: true });
  });

  it.each([
    ['constructor.prototype', bytes(0x81, str('constructor'), 0x81, str('prototype'), 0x81, str('polluted'), 0xc3)],
    ['toString and valueOf', bytes(0x82, str('toString'), str('x'), str('valueOf'), 0x01)],
    ['hasOwnProperty', bytes(0x81, str('hasOwnProperty'), 0xc3)],
    ['"__proto__" as a value, not a key', bytes(0x91, str('__proto__'))],
    ['"__proto__ " (a look-alike key)', bytes(0x81, str('__proto__ '), 0x81, str('polluted'), 0xc3)],
  ])('%s decodes to inert own properties', (_name, plaintext) => {
    const out = openHostile(plaintext);
    expect(out.rejected).toBe(false);
    if (!out.rejected && out.payload !== null && typeof out.payload === 'object' && !Array.isArray(out.payload)) {
      const payload = out.payload as Record<string, unknown>;
      for (const key of Object.keys(payload)) expect(Object.hasOwn(payload, key)).toBe(true);
      // The decoded object still behaves as a plain object for its own keys only.
      expect(Object.getPrototypeOf(payload)).toBe(Object.prototype);
    }
  });
});

describe('extension types', () => {
  // fixext 1/2/4/8/16, ext 8/16/32: every type code -128…127 with a body of the right size.
  const forms: Array<[string, (type: number) => Uint8Array]> = [
    ['fixext1', (t) => bytes(0xd4, t, 0x00)],
    ['fixext2', (t) => bytes(0xd5, t, 0x00, 0x00)],
    ['fixext4', (t) => bytes(0xd6, t, [0x65, 0x00, 0x00, 0x00])],
    ['fixext8', (t) => bytes(0xd7, t, [0, 0, 0, 0, 0x65, 0, 0, 0])],
    ['fixext16', (t) => bytes(0xd8, t, new Array<number>(16).fill(0x01))],
    ['ext8', (t) => bytes(0xc7, 12, t, new Array<number>(12).fill(0))],
    ['ext16', (t) => bytes(0xc8, 0, 3, t, [0x93, 0x01, 0x02])],
    ['ext32', (t) => bytes(0xc9, 0, 0, 0, 3, t, [0x93, 0x01, 0x02])],
  ];
  it.each(forms)('%s with all 256 type codes: refused, or a Date / undefined', (name, form) => {
    const admitted: number[] = [];
    for (let type = 0; type < 256; type++) {
      const out = openHostile(form(type));
      if (!out.rejected) {
        admitted.push(type);
        expect(out.payload === undefined || out.payload instanceof Date).toBe(true);
      }
    }
    // Only msgpackr's undefined (fixext1 type 0) and the timestamp (-1 = 0xff) get through.
    const expected: Record<string, number[]> = { fixext1: [0x00], fixext4: [0xff], fixext8: [0xff], ext8: [0xff] };
    expect(admitted).toEqual(expected[name] ?? []);
  });

  it('extensions msgpackr itself would turn into live objects are refused', () => {
    // What msgpackr emits, with its richer options, for values that are not plain data.
    const rich = new Packr({ moreTypes: true, structuredClone: true, useRecords: true });
    const values: unknown[] = [
      /x+/g,
      new Error('e'),
      new Set([1]),
      new Map([[1, 2]]),
      new Float64Array([1]),
      { a: 1, b: 2 },
    ];
    for (const value of values) {
      const out = openHostile(rich.pack(value));
      if (!out.rejected)
        expect(
          out.payload === null ||
            typeof out.payload !== 'object' ||
            Object.getPrototypeOf(out.payload) === Object.prototype,
        ).toBe(true);
    }
  });
});

describe('random authenticated msgpack-ish bytes', () => {
  it(
    'decode to inert data or ERR_WA_PAYLOAD, never anything else',
    () => {
      // Token-biased bytes reach deeper into the decoder than uniform noise.
      const token = fc.oneof(
        fc.integer({ min: 0, max: 255 }),
        fc.constantFrom(0xc0, 0xc2, 0xc3, 0x91, 0x81, 0xa1, 0xd4, 0xd6, 0xd7, 0xc7, 0xd9, 0xdc, 0xde, 0xdd, 0xdf, 0xff),
      );
      fc.assert(
        fc.property(fc.array(token, { maxLength: 64 }), (tokens) => {
          openHostile(Uint8Array.from(tokens));
        }),
        { numRuns: scale(2000, 200_000) },
      );
    },
    TEST_TIMEOUT_MS,
  );

  it(
    'genuine msgpack of arbitrary JSON-like values survives (the check is not just "refuse all")',
    () => {
      const plain = new Packr({ useRecords: false, moreTypes: false, structuredClone: false, bundleStrings: false });
      fc.assert(
        fc.property(fc.jsonValue({ maxDepth: 6 }), (value) => {
          if (JSON.stringify(value).includes('"__proto__":')) return; // refused on purpose, above
          const out = openHostile(plain.pack(value));
          expect(out.rejected).toBe(false);
        }),
        { numRuns: scale(300, 20_000) },
      );
    },
    TEST_TIMEOUT_MS,
  );
});
