import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { fromText, toText } from '../src/envelope/text.js';
import { ErrorCode } from '../src/errors.js';

describe('text form', () => {
  it('round-trips any bytes', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 300 }), (bytes) => {
        const text = toText(bytes);
        expect(text).toMatch(/^[A-Za-z0-9_-]*$/);
        expect(Buffer.from(fromText(text, 1_000)).equals(Buffer.from(bytes))).toBe(true);
      }),
    );
  });

  it('refuses anything but canonical unpadded base64url', () => {
    const good = toText(Uint8Array.of(1, 2, 3, 4));
    for (const bad of [
      `${good}==`,
      ` ${good}`,
      `${good}\n`,
      good.replace(/./, '+'),
      good.replace(/./, '/'),
      'AQIDBA'.replace('A', 'А'),
      'A',
      'AR',
    ]) {
      expect(() => fromText(bad, 1_000), JSON.stringify(bad)).toThrow(
        expect.objectContaining({ code: ErrorCode.MALFORMED }),
      );
    }
  });

  it('refuses oversized text before decoding it', () => {
    expect(() => fromText('A'.repeat(1_400), 1_000)).toThrow(expect.objectContaining({ code: ErrorCode.TOO_LARGE }));
  });
});
