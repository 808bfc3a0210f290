import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ErrorCode } from '../src/errors.js';
import { MAX_DEPTH, checkMsgpack, decodeMsgpack, encodeMsgpack } from '../src/payload.js';

const bytes = (...parts: Array<number | number[] | string>) =>
  Uint8Array.from(parts.flatMap((p) => (typeof p === 'number' ? [p] : typeof p === 'string' ? [...Buffer.from(p)] : p)));
const nested = (depth: number) => bytes(...Array<number>(depth).fill(0x91), 0xc0); // [[[…nil…]]]

describe('payload encoding', () => {
  it('round-trips plain data', () => {
    fc.assert(
      fc.property(fc.jsonValue().filter((v) => !JSON.stringify(v).includes('"__proto__"')), (value) => {
        expect(JSON.stringify(decodeMsgpack(encodeMsgpack(value)))).toBe(JSON.stringify(value));
      }),
    );
  });

  it('refuses what would not arrive as it left', () => {
    for (const value of [new Set([1]), new Map(), /x/, () => 0, Symbol('s'), 1n, new Error('e'), new Float32Array(1), new Date(NaN), new (class Point {})()]) {
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
      for (const ext of [bytes(0xd4, type, 0), bytes(0xd5, type, 0, 0), bytes(0xc7, 1, type, 0), bytes(0xc8, 0, 1, type, 0), bytes(0xc9, 0, 0, 0, 1, type, 0)]) {
        if (type === 0 && ext[0] === 0xd4) continue;
        expect(checkMsgpack(ext)).toBe(false);
      }
    }
  });

  it('refuses map keys that are not strings or integers, and trailing bytes', () => {
    expect(checkMsgpack(bytes(0x81, 0x90, 0xc0))).toBe(false); // key is an array
    expect(checkMsgpack(bytes(0x81, 0xc0, 0xc0))).toBe(false); // key is nil
    expect(checkMsgpack(bytes(0x81, 0x01, 0xc0))).toBe(true); // integer key
    expect(checkMsgpack(bytes(0xc0, 0xc0))).toBe(false); // two values
    expect(checkMsgpack(bytes())).toBe(false);
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
