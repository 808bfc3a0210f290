import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  HEADER_BYTES,
  KEY_ID_OFFSET,
  MIN_ENVELOPE_BYTES,
  NONCE_OFFSET,
  TIMESTAMP_OFFSET,
  readHeader,
  readTimestamp,
  writeHeader,
} from '../src/envelope/format.js';

describe('header layout', () => {
  it('matches docs/PROTOCOL.md §2', () => {
    expect([KEY_ID_OFFSET, TIMESTAMP_OFFSET, NONCE_OFFSET, HEADER_BYTES, MIN_ENVELOPE_BYTES]).toEqual([
      3, 7, 15, 39, 55,
    ]);
  });

  it('writes and reads back every timestamp up to 2^53', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: Number.MAX_SAFE_INTEGER }), (timestamp) => {
        const out = new Uint8Array(MIN_ENVELOPE_BYTES);
        writeHeader(out, 1, 0, Uint8Array.of(1, 2, 3, 4), timestamp);
        expect(readTimestamp(out)).toBe(timestamp);
        expect(Buffer.from(out.subarray(TIMESTAMP_OFFSET, NONCE_OFFSET)).readBigUInt64BE()).toBe(BigInt(timestamp));
      }),
    );
  });

  it('reads a header without a key', () => {
    const out = new Uint8Array(MIN_ENVELOPE_BYTES);
    writeHeader(out, 2, 1, Uint8Array.of(0xde, 0xad, 0xbe, 0xef), 1_700_000_000_000);
    out.fill(7, NONCE_OFFSET, HEADER_BYTES);
    expect(readHeader(out)).toEqual({
      version: 1,
      direction: 2,
      format: 1,
      keyId: 'deadbeef',
      timestamp: 1_700_000_000_000,
      nonce: new Uint8Array(24).fill(7),
    });
  });
});
