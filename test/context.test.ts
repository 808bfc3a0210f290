import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { contextBytes } from '../src/envelope/context.js';
import {
  REQUEST_ID_BYTES,
  isRequestIdText,
  newRequestId,
  parseRequestId,
  requestIdIssuedAt,
} from '../src/envelope/request-id.js';
import { ErrorCode } from '../src/errors.js';

const encoder = new TextEncoder();
const hex = (bytes: Uint8Array | undefined) => (bytes === undefined ? 'none' : Buffer.from(bytes).toString('hex'));

/** The context's bytes as docs/PROTOCOL.md §4.4 defines them, built the plain way. */
function reference(context: string | Uint8Array | undefined, requestId: string | undefined): Uint8Array | undefined {
  const base = typeof context === 'string' ? encoder.encode(context) : context;
  if (requestId === undefined) return base;
  return Buffer.concat([base ?? new Uint8Array(0), encoder.encode(`\n${requestId}`)]);
}

describe('contextBytes', () => {
  const contexts = fc.oneof(
    fc.constant(undefined),
    fc.string({ maxLength: 600 }),
    fc.string({ unit: 'binary', maxLength: 300 }), // non-ASCII, astral and lone surrogates
    fc.uint8Array({ maxLength: 600 }),
  );
  const ids = fc.oneof(
    fc.constant(undefined),
    fc
      .uint8Array({ minLength: REQUEST_ID_BYTES, maxLength: REQUEST_ID_BYTES })
      .map((b) => Buffer.from(b).toString('base64url')),
  );

  it('gives the bytes of the caller context and the bound request id, whatever came before', () => {
    fc.assert(
      fc.property(fc.array(fc.tuple(contexts, ids), { minLength: 1, maxLength: 4 }), (calls) => {
        for (const [context, id] of calls) expect(hex(contextBytes(context, id))).toBe(hex(reference(context, id)));
      }),
    );
  });

  it("passes the caller's bytes through untouched when no id is bound", () => {
    const bytes = Uint8Array.of(1, 2, 3);
    expect(contextBytes(bytes, undefined)).toBe(bytes);
    expect(contextBytes(undefined, undefined)).toBeUndefined();
  });
});

describe('request id text form', () => {
  it('decodes like Buffer, strictly', () => {
    fc.assert(
      fc.property(fc.uint8Array({ minLength: REQUEST_ID_BYTES, maxLength: REQUEST_ID_BYTES }), (bytes) => {
        const text = Buffer.from(bytes).toString('base64url');
        const parsed = parseRequestId(text);
        expect(hex(parsed.key)).toBe(hex(bytes.subarray(8)));
        expect(parsed.issuedAt).toBe(requestIdIssuedAt(text));
        expect(isRequestIdText(text)).toBe(true);
      }),
    );
  });

  it('refuses anything but 32 base64url characters', () => {
    const good = newRequestId(Date.now());
    for (const bad of [
      good.slice(1),
      `${good}A`,
      `${good.slice(1)}=`,
      `${good.slice(1)}+`,
      `${good.slice(1)}/`,
      `${good.slice(1)}\u0141`, // 0x141: its low 7 bits are 'A'
      `${good.slice(1)}\uff21`, // fullwidth A
      `\u0080${good.slice(1)}`,
    ]) {
      expect(isRequestIdText(bad), JSON.stringify(bad)).toBe(false);
      expect(requestIdIssuedAt(bad)).toBe(-1);
      expect(() => parseRequestId(bad)).toThrow(expect.objectContaining({ code: ErrorCode.MALFORMED }));
    }
    expect(isRequestIdText(42)).toBe(false);
  });

  it('gives each parse a key of its own', () => {
    const a = parseRequestId(newRequestId(1));
    const b = parseRequestId(newRequestId(2));
    expect(a.key.buffer).not.toBe(b.key.buffer);
    expect(a.issuedAt).toBe(1);
    expect(b.issuedAt).toBe(2);
  });
});
