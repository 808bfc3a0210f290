/**
 * The text form (unpadded base64url, RFC 4648 §5) under attack: padding, the standard
 * alphabet, whitespace, Unicode look-alikes, non-canonical trailing bits and oversized
 * strings. Only the one canonical spelling of an envelope opens; everything else is
 * ERR_WA_MALFORMED, or ERR_WA_TOO_LARGE when it is longer than the limit allows.
 */
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Endpoint, ErrorCode, createEndpoint, generateSecret, isWaTransportError } from '../../src/index.js';
import { TEST_TIMEOUT_MS, recordFigures, scale } from '../soak/figures.js';

const T0 = 1_800_000_000_000;
const secret = generateSecret();
let web: Endpoint;
let core: Endpoint;
/** Texts of genuine envelopes whose length mod 4 is 0, 2 and 3 (every shape of a last quantum). */
const texts: string[] = [];
let cases = 0;
let accepted = 0;

beforeAll(async () => {
  web = await createEndpoint({ role: 'webapp', secret, clock: () => T0 });
  core = await createEndpoint({ role: 'coreapp', secret, clock: () => T0 });
  for (let n = 0; n < 3; n++) texts.push(web.sealText(new Uint8Array(10 + n).fill(0x5a)));
  expect(new Set(texts.map((t) => t.length % 4))).toEqual(new Set([0, 2, 3]));
});

afterAll(() => {
  recordFigures('adversarial/text', { casesTried: cases, forgeriesAccepted: accepted });
});

function rejection(input: unknown, endpoint = core): ErrorCode {
  cases++;
  try {
    endpoint.openSync(input as string);
  } catch (error) {
    if (!isWaTransportError(error)) throw new Error(`threw something other than WaTransportError: ${String(error)}`);
    return error.code;
  }
  accepted++;
  throw new Error('an altered text envelope was accepted');
}

const ALPHABET = /^[A-Za-z0-9_-]$/;

describe('the canonical text opens (the control for everything below)', () => {
  it('each genuine text opens once', async () => {
    const fresh = await createEndpoint({ role: 'coreapp', secret, clock: () => T0 });
    for (const text of texts) expect(fresh.openSync(text).payload).toBeInstanceOf(Uint8Array);
  });
});

describe('non-canonical spellings of a genuine envelope', () => {
  const variants: Array<[string, (t: string) => string]> = [
    ['one "=" of padding', (t) => `${t}=`],
    ['"==" padding', (t) => `${t}==`],
    ['padding to a multiple of 4', (t) => t.padEnd(Math.ceil(t.length / 4) * 4, '=')],
    ['the standard alphabet (+ and /)', (t) => t.replace(/-/g, '+').replace(/_/g, '/').replace(/A/, '+')],
    ['a leading space', (t) => ` ${t}`],
    ['a trailing newline', (t) => `${t}\n`],
    ['a trailing CRLF', (t) => `${t}\r\n`],
    ['a tab inside', (t) => `${t.slice(0, 10)}\t${t.slice(10)}`],
    ['MIME line breaks every 76 characters', (t) => t.replace(/(.{76})/g, '$1\r\n')],
    ['a space inside', (t) => `${t.slice(0, 20)} ${t.slice(20)}`],
    ['a NUL at the end', (t) => `${t}\0`],
    ['a byte-order mark in front', (t) => `\uFEFF${t}`],
    ['a zero-width space inside', (t) => `${t.slice(0, 5)}\u200B${t.slice(5)}`],
    ['a no-break space at the end', (t) => `${t}\u00A0`],
    ['Cyrillic А for Latin A', (t) => `\u0410${t.slice(1)}`],
    ['Cyrillic а for Latin a', (t) => `${t.slice(0, 3)}\u0430${t.slice(4)}`],
    ['Greek Ο for Latin O', (t) => `${t.slice(0, 7)}\u039F${t.slice(8)}`],
    ['fullwidth digit ０', (t) => `${t.slice(0, 9)}\uFF10${t.slice(10)}`],
    ['Unicode minus − for -', (t) => `${t.slice(0, 11)}\u2212${t.slice(12)}`],
    ['hyphen ‐ for -', (t) => `${t.slice(0, 11)}\u2010${t.slice(12)}`],
    ['fullwidth low line ＿ for _', (t) => `${t.slice(0, 13)}\uFF3F${t.slice(14)}`],
    ['small roman numeral ⅼ for l', (t) => `${t.slice(0, 15)}\u217C${t.slice(16)}`],
    ['a combining acute accent', (t) => `${t.slice(0, 17)}\u0301${t.slice(17)}`],
    ['a lone high surrogate', (t) => `${t}\uD800`],
    ['a lone low surrogate inside', (t) => `${t.slice(0, 2)}\uDC00${t.slice(2)}`],
    ['an astral character (emoji)', (t) => `${t.slice(0, 2)}\u{1F600}${t.slice(2)}`],
    ['a length ≡ 1 mod 4 (no byte is 6 bits)', (t) => t + 'A'.repeat((5 - (t.length % 4)) % 4 || 4)],
    ['percent-encoded', (t) => encodeURIComponent(`${t.slice(0, 4)}+${t.slice(4)}`)],
  ];

  it.each(variants)('%s → ERR_WA_MALFORMED', (_name, alter) => {
    for (const text of texts) {
      const altered = alter(text);
      if (altered === text) continue;
      expect(rejection(altered)).toBe(ErrorCode.MALFORMED);
    }
  });

  it('nonzero unused bits in the last character → ERR_WA_MALFORMED (one envelope, one spelling)', () => {
    const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';
    for (const text of texts) {
      if (text.length % 4 === 0) continue;
      // 2 leftover characters carry 1 byte (4 spare bits), 3 carry 2 bytes (2 spare bits).
      const spare = text.length % 4 === 2 ? 0b1111 : 0b11;
      const last = alphabet.indexOf(text.at(-1)!);
      for (let bits = 1; bits <= spare; bits++) {
        const altered = text.slice(0, -1) + alphabet[(last & ~spare) | bits];
        expect(Buffer.from(altered, 'base64url')).toEqual(Buffer.from(text, 'base64url')); // Node alone would accept it
        expect(rejection(altered)).toBe(ErrorCode.MALFORMED);
      }
    }
  });

  it(
    'a character outside the alphabet anywhere → ERR_WA_MALFORMED',
    () => {
      fc.assert(
        fc.property(
          fc.constantFrom(...texts),
          fc.nat(),
          fc.string({ unit: 'binary', minLength: 1, maxLength: 1 }).filter((c) => !ALPHABET.test(c)),
          fc.boolean(),
          (text, at, c, replace) => {
            const i = at % (text.length + 1);
            const altered = text.slice(0, i) + c + text.slice(replace ? i + 1 : i);
            expect(rejection(altered)).toBe(ErrorCode.MALFORMED);
          },
        ),
        { numRuns: scale(1000, 100_000) },
      );
    },
    TEST_TIMEOUT_MS,
  );

  it(
    'a character swapped for another in the alphabet is never accepted',
    () => {
      fc.assert(
        fc.property(fc.constantFrom(...texts), fc.nat(), fc.stringMatching(/^[A-Za-z0-9_-]$/), (text, at, c) => {
          const i = at % text.length;
          const altered = text.slice(0, i) + c + text.slice(i + 1);
          if (altered === text) return;
          // Decodes to other bytes (or to a non-canonical spelling): never the genuine envelope.
          expect(Object.values(ErrorCode)).toContain(rejection(altered));
        }),
        { numRuns: scale(1000, 100_000) },
      );
    },
    TEST_TIMEOUT_MS,
  );

  it(
    'arbitrary Unicode strings are rejected with a documented code',
    () => {
      fc.assert(
        fc.property(fc.string({ unit: 'binary', maxLength: 200 }), (s) => {
          const code = rejection(s);
          if (!/^[A-Za-z0-9_-]*$/.test(s)) expect(code).toBe(ErrorCode.MALFORMED);
        }),
        { numRuns: scale(1000, 100_000) },
      );
    },
    TEST_TIMEOUT_MS,
  );
});

describe('size', () => {
  it('the empty string → ERR_WA_MALFORMED', () => {
    expect(rejection('')).toBe(ErrorCode.MALFORMED);
  });

  it('one character past the limit → ERR_WA_TOO_LARGE, before the text is even looked at', async () => {
    const small = await createEndpoint({ role: 'coreapp', secret, clock: () => T0, maxEnvelopeBytes: 1024 });
    const longest = Math.ceil((1024 * 4) / 3); // 1366 characters decode to 1024 bytes
    expect(Buffer.from('A'.repeat(longest), 'base64url').length).toBe(1024);
    expect(rejection('A'.repeat(longest), small)).toBe(ErrorCode.UNSUPPORTED_VERSION); // decoded, then judged
    expect(rejection('A'.repeat(longest + 1), small)).toBe(ErrorCode.TOO_LARGE);
    expect(rejection(' '.repeat(longest + 1), small)).toBe(ErrorCode.TOO_LARGE);
    expect(rejection('\u0410'.repeat(longest + 1), small)).toBe(ErrorCode.TOO_LARGE);
  });

  it(
    'a 64 MiB string of look-alikes → ERR_WA_TOO_LARGE',
    () => {
      expect(rejection('\u0410'.repeat(64 * 1024 * 1024))).toBe(ErrorCode.TOO_LARGE);
    },
    TEST_TIMEOUT_MS,
  );
});

describe('values that are neither a string nor a Uint8Array', () => {
  const values: Array<[string, unknown]> = [
    ['undefined', undefined],
    ['null', null],
    ['a number', 42],
    ['a bigint', 42n],
    ['a boolean', true],
    ['a plain object', { length: 60 }],
    ['an array of numbers', Array.from({ length: 80 }, () => 1)],
    ['an ArrayBuffer', new ArrayBuffer(80)],
    ['a DataView', new DataView(new ArrayBuffer(80))],
    ['a Uint16Array', new Uint16Array(80)],
    ['a Uint8ClampedArray', new Uint8ClampedArray(80)],
    ['a String object', new String('AAAA')],
    ['an object with toString', { toString: () => 'AAAA' }],
    ['a symbol', Symbol('x')],
  ];
  it.each(values)('%s → ERR_WA_MALFORMED', (_name, value) => {
    expect(rejection(value)).toBe(ErrorCode.MALFORMED);
  });
});
