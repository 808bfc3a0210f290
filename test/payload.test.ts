import fc from 'fast-check';
import { Unpackr } from 'msgpackr';
import { describe, expect, it, vi } from 'vitest';
import { ErrorCode } from '../src/errors.js';
import {
  MAX_DEPTH,
  MAX_PAYLOAD_VALUES,
  PAYLOAD_BYTES_PER_OBJECT,
  PAYLOAD_FREE_OBJECTS,
  checkMsgpack,
  decodeMsgpack,
  encodeMsgpack,
} from '../src/payload.js';

const bytes = (...parts: Array<number | number[] | string>) =>
  Uint8Array.from(
    parts.flatMap((p) => (typeof p === 'number' ? [p] : typeof p === 'string' ? [...Buffer.from(p)] : p)),
  );
const nested = (depth: number) => bytes(...Array<number>(depth).fill(0x91), 0xc0); // [[[…nil…]]]

describe('payload encoding', () => {
  it('round-trips plain data', () => {
    fc.assert(
      fc.property(
        fc.jsonValue().filter((v) => !JSON.stringify(v).includes('"__proto__"')),
        (value) => {
          expect(JSON.stringify(decodeMsgpack(encodeMsgpack(value)))).toBe(JSON.stringify(value));
        },
      ),
    );
  });

  it('refuses what would not arrive as it left', () => {
    for (const value of [
      new Set([1]),
      new Map(),
      /x/,
      () => 0,
      Symbol('s'),
      1n,
      new Error('e'),
      new Float32Array(1),
      new Date(NaN),
      new (class Point {})(),
    ]) {
      expect(() => encodeMsgpack(value), String(value)).toThrow(expect.objectContaining({ code: ErrorCode.PAYLOAD }));
    }
    const cyclic: Record<string, unknown> = {};
    cyclic['self'] = cyclic;
    expect(() => encodeMsgpack(cyclic)).toThrow(expect.objectContaining({ code: ErrorCode.PAYLOAD }));
  });

  it(`admits nesting up to ${MAX_DEPTH} levels and refuses deeper`, () => {
    expect(checkMsgpack(nested(MAX_DEPTH))).toBe(true);
    expect(checkMsgpack(nested(MAX_DEPTH + 1))).toBe(false);
    expect(() => decodeMsgpack(nested(100_000))).toThrow(expect.objectContaining({ code: ErrorCode.PAYLOAD }));
  });

  it('refuses declared lengths beyond the bytes present', () => {
    const lies = [
      bytes(0xdd, [0xff, 0xff, 0xff, 0xff]), // array32 of 4 billion items
      bytes(0xdf, [0xff, 0xff, 0xff, 0xff]), // map32
      bytes(0xdb, [0xff, 0xff, 0xff, 0xff], 'abc'), // str32
      bytes(0xc6, [0x7f, 0xff, 0xff, 0xff]), // bin32
      bytes(0x92, 0x01), // fixarray of 2 with 1 item
      bytes(0xcb, 0x00), // float64 cut short
    ];
    for (const lie of lies) expect(checkMsgpack(lie)).toBe(false);
  });

  it('refuses "__proto__" keys and keeps prototypes untouched', () => {
    const hostile = bytes(0x81, 0xa9, '__proto__', 0x81, 0xa8, 'polluted', 0xc3);
    expect(() => decodeMsgpack(hostile)).toThrow(expect.objectContaining({ code: ErrorCode.PAYLOAD }));
    expect(({} as Record<string, unknown>)['polluted']).toBeUndefined();
    const constructorKey = decodeMsgpack(bytes(0x81, 0xab, 'constructor', 0x81, 0xa9, 'prototype', 0xc3)) as object;
    expect(Object.getPrototypeOf(constructorKey)).toBe(Object.prototype);
    expect(({} as Record<string, unknown>)['prototype']).toBeUndefined();
  });

  it('admits only the timestamp and undefined extensions', () => {
    expect(decodeMsgpack(bytes(0xd6, 0xff, [0, 0, 0, 1]))).toEqual(new Date(1000));
    expect(decodeMsgpack(bytes(0xd4, 0x00, 0x00))).toBeUndefined();
    for (let type = 0; type < 256; type++) {
      if (type === 0xff) continue;
      for (const ext of [
        bytes(0xd4, type, 0),
        bytes(0xd5, type, 0, 0),
        bytes(0xc7, 1, type, 0),
        bytes(0xc8, 0, 1, type, 0),
        bytes(0xc9, 0, 0, 0, 1, type, 0),
      ]) {
        if (type === 0 && ext[0] === 0xd4) continue;
        expect(checkMsgpack(ext)).toBe(false);
      }
    }
  });

  it('counts an empty innermost container in the depth, as the sender does: 64 admitted, 65 and 66 refused', () => {
    const withEmpty = (depth: number) => bytes(...Array<number>(depth - 1).fill(0x91), 0x90); // depth containers, innermost []
    const deep = (depth: number): unknown => (depth === 1 ? [] : [deep(depth - 1)]);
    expect(checkMsgpack(withEmpty(MAX_DEPTH))).toBe(true);
    expect(decodeMsgpack(encodeMsgpack(deep(MAX_DEPTH)))).toEqual(deep(MAX_DEPTH));
    for (const depth of [MAX_DEPTH + 1, MAX_DEPTH + 2]) {
      expect(checkMsgpack(withEmpty(depth)), `${depth}`).toBe(false);
      expect(checkMsgpack(nested(depth)), `${depth}`).toBe(false);
      expect(() => encodeMsgpack(deep(depth))).toThrow(expect.objectContaining({ code: ErrorCode.PAYLOAD }));
    }
  });

  it('refuses strings that are not UTF-8, rather than change them in transit; seals none', () => {
    expect(decodeMsgpack(bytes(0xa2, 'é'))).toBe('é');
    for (const bad of [[0xc3], [0xff], [0xed, 0xa0, 0x80] /* a surrogate */, [0xc0, 0xaf] /* overlong */]) {
      expect(checkMsgpack(bytes(0xa0 + bad.length, bad)), JSON.stringify(bad)).toBe(false);
      expect(checkMsgpack(bytes(0x81, 0xa0 + bad.length, bad, 0xc0)), `key ${JSON.stringify(bad)}`).toBe(false);
      // Long strings take the native check, short ones the byte loop: both refuse.
      const long = [...Buffer.from('x'.repeat(100)), ...bad];
      expect(checkMsgpack(bytes(0xd9, long.length, long)), `long ${JSON.stringify(bad)}`).toBe(false);
    }
    expect(decodeMsgpack(encodeMsgpack(`${'x'.repeat(100)}é`))).toBe(`${'x'.repeat(100)}é`);
    for (const value of ['a\uD800', { ['k\uDC00']: 1 }, ['\uDBFF']]) {
      expect(() => encodeMsgpack(value)).toThrow(expect.objectContaining({ code: ErrorCode.PAYLOAD }));
    }
    expect(decodeMsgpack(encodeMsgpack('paired \uD83D\uDE00'))).toBe('paired \uD83D\uDE00');
  });

  it('refuses timestamps whose nanoseconds are 10^9 or more (no such instant)', () => {
    // timestamp 64: nanoseconds in the upper 30 bits of 8 bytes; timestamp 96: a 4-byte field first.
    const ts64 = (nanos: number) =>
      bytes(0xd7, 0xff, [
        (nanos >>> 22) & 0xff,
        (nanos >>> 14) & 0xff,
        (nanos >>> 6) & 0xff,
        (nanos << 2) & 0xff,
        0,
        0,
        0,
        1,
      ]);
    const ts96 = (nanos: number) =>
      bytes(0xc7, 12, 0xff, [
        nanos >>> 24,
        (nanos >>> 16) & 0xff,
        (nanos >>> 8) & 0xff,
        nanos & 0xff,
        0,
        0,
        0,
        0,
        0,
        0,
        0,
        1,
      ]);
    for (const ts of [ts64, ts96]) {
      expect(checkMsgpack(ts(999_999_999))).toBe(true);
      expect(checkMsgpack(ts(1_000_000_000))).toBe(false);
    }
    expect(checkMsgpack(ts64(2 ** 30 - 1))).toBe(false);
  });

  it('refuses map keys that are not strings or integers, and trailing bytes', () => {
    expect(checkMsgpack(bytes(0x81, 0x90, 0xc0))).toBe(false); // key is an array
    expect(checkMsgpack(bytes(0x81, 0xc0, 0xc0))).toBe(false); // key is nil
    expect(checkMsgpack(bytes(0x81, 0x01, 0xc0))).toBe(true); // integer key
    expect(checkMsgpack(bytes(0xc0, 0xc0))).toBe(false); // two values
    expect(checkMsgpack(bytes())).toBe(false);
  });

  it('decodes 64-bit integers within ±(2^53 − 1) to exact numbers and refuses the rest (never a BigInt)', () => {
    const u64 = (hex: string) => bytes(0xcf, [...Buffer.from(hex, 'hex')]);
    const i64 = (hex: string) => bytes(0xd3, [...Buffer.from(hex, 'hex')]);
    const admitted: Array<[Uint8Array, number]> = [
      [u64('0000000000000001'), 1],
      [u64('001fffffffffffff'), Number.MAX_SAFE_INTEGER],
      [i64('ffffffffffffffff'), -1],
      [i64('ffe0000000000001'), Number.MIN_SAFE_INTEGER],
      [i64('001fffffffffffff'), Number.MAX_SAFE_INTEGER],
    ];
    for (const [input, value] of admitted) {
      const decoded = decodeMsgpack(input);
      expect(typeof decoded).toBe('number');
      expect(decoded).toBe(value);
    }
    // As a map key and inside containers too; JSON.stringify works on whatever is accepted.
    expect(
      JSON.stringify(decodeMsgpack(bytes(0x81, [...u64('0000000100000000')], 0x91, [...i64('fffffffeffffffff')]))),
    ).toBe('{"4294967296":[-4294967297]}');
    const refused = [
      u64('0020000000000000'), // 2^53
      u64('ffffffffffffffff'),
      i64('ffe0000000000000'), // −2^53
      i64('8000000000000000'),
      i64('7fffffffffffffff'),
      bytes(0x91, [...u64('0020000000000000')]),
      bytes(0x81, [...u64('0020000000000000')], 0xc0), // as a key
      bytes(0xcf, 0, 0, 0), // cut short
    ];
    for (const input of refused) {
      expect(checkMsgpack(input)).toBe(false);
      expect(() => decodeMsgpack(input)).toThrow(expect.objectContaining({ code: ErrorCode.PAYLOAD }));
    }
  });

  it('seals only integers that open as they left: no BigInt; beyond 2^53 a float, opened as the same number', () => {
    for (const value of [1n, 2n ** 64n, { n: -(2n ** 63n) }, [Number.MAX_SAFE_INTEGER, 1n]]) {
      expect(() => encodeMsgpack(value)).toThrow(expect.objectContaining({ code: ErrorCode.PAYLOAD }));
    }
    for (const value of [Number.MAX_SAFE_INTEGER, Number.MIN_SAFE_INTEGER, 2 ** 53, -(2 ** 63), 2 ** 64, 1e300]) {
      const encoded = encodeMsgpack(value);
      expect(checkMsgpack(encoded)).toBe(true);
      expect(decodeMsgpack(encoded)).toBe(value);
    }
  });

  it(`admits exactly ${MAX_PAYLOAD_VALUES} values and one object per ${PAYLOAD_BYTES_PER_OBJECT} bytes beyond ${PAYLOAD_FREE_OBJECTS}`, () => {
    const arrayOf = (n: number, item: number) => {
      const out = new Uint8Array(5 + n).fill(item);
      out[0] = 0xdd;
      new DataView(out.buffer).setUint32(1, n);
      return out;
    };
    // The array itself is one value and one object.
    expect(checkMsgpack(arrayOf(MAX_PAYLOAD_VALUES - 1, 0xc0))).toBe(true);
    expect(checkMsgpack(arrayOf(MAX_PAYLOAD_VALUES, 0xc0))).toBe(false);
    let most = 0; // most empty maps an array32 may hold: 1 + n ≤ free + ⌊(5 + n) / 8⌋
    while (2 + most <= PAYLOAD_FREE_OBJECTS + Math.floor((6 + most) / PAYLOAD_BYTES_PER_OBJECT)) most++;
    expect(checkMsgpack(arrayOf(most, 0x80))).toBe(true);
    expect(checkMsgpack(arrayOf(most + 1, 0x80))).toBe(false);
    // A bomb never reaches msgpackr.
    const unpack = vi.spyOn(Unpackr.prototype, 'unpack');
    try {
      expect(() => decodeMsgpack(arrayOf(4 * 1024 * 1024 - 64, 0x80))).toThrow(
        expect.objectContaining({ code: ErrorCode.PAYLOAD }),
      );
      expect(unpack).not.toHaveBeenCalled();
    } finally {
      unpack.mockRestore();
    }
  });

  it('seals only what the receiver admits: too many small objects are refused on the way out', () => {
    expect(() => encodeMsgpack(Array.from({ length: 10_000 }, () => ({})))).toThrow(
      expect.objectContaining({ code: ErrorCode.PAYLOAD }),
    );
    expect(() => encodeMsgpack(Array.from({ length: 6000 }, () => []))).toThrow(
      expect.objectContaining({ code: ErrorCode.PAYLOAD }),
    );
    const records = Array.from({ length: 20_000 }, (_, i) => ({ id: i, name: `user ${i}` }));
    expect(decodeMsgpack(encodeMsgpack(records))).toEqual(records);
  });

  it('never throws anything but ERR_WA_PAYLOAD on arbitrary bytes', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 256 }), (input) => {
        try {
          decodeMsgpack(input);
        } catch (error) {
          expect(error).toMatchObject({ code: ErrorCode.PAYLOAD });
        }
        expect(({} as Record<string, unknown>)['polluted']).toBeUndefined();
      }),
      { numRuns: 2_000 },
    );
  });
});
