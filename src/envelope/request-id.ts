/**
 * Request ids (docs/PROTOCOL.md §4.4): the identity of one logical request across its retries.
 * Every attempt is a new envelope (new nonce, new timestamp); the request id stays the same, is
 * authenticated with each attempt, and a receiver acts on at most one envelope per id.
 *
 *   0           8                  24
 *   | issued at | 16 random bytes  |      text form: 32 characters of unpadded base64url
 *
 * `issued at` (big-endian u64, ms since the epoch, the sender's clock at the first attempt) lets
 * a receiver apply its window to the logical request, not only to the attempt: a retry later
 * than the window after the first attempt is refused, so the id's record never has to outlive
 * the store's retention.
 */
import { writeRandomBytes } from '../crypto/nonces.js';
import { ErrorCode, WaTransportError } from '../errors.js';
import { readUint64, writeUint64 } from './format.js';

export const REQUEST_ID_BYTES = 24;
export const REQUEST_ID_ISSUED_AT_BYTES = 8;
/** Length of the text form: 24 bytes in unpadded base64url. */
export const REQUEST_ID_TEXT_LENGTH = 32;

const TEXT_FORM = /^[A-Za-z0-9_-]{32}$/;
const encoder = new TextEncoder();

/** A new request id issued at `issuedAt` (ms since the epoch), in its text form. */
export function newRequestId(issuedAt: number): string {
  const bytes = new Uint8Array(REQUEST_ID_BYTES);
  writeUint64(bytes, 0, issuedAt);
  writeRandomBytes(bytes, REQUEST_ID_ISSUED_AT_BYTES, REQUEST_ID_BYTES - REQUEST_ID_ISSUED_AT_BYTES);
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('base64url');
}

export interface ParsedRequestId {
  /** When the first attempt was sealed, by the sender's clock. */
  readonly issuedAt: number;
  /** The 16 random bytes (and what follows), recorded in the replay store like a nonce. */
  readonly key: Uint8Array;
}

/** Whether `value` has the text form of a request id (it says nothing of its issue time). */
export function isRequestIdText(value: unknown): value is string {
  return typeof value === 'string' && TEXT_FORM.test(value);
}

/** Parses the text form strictly; anything else is ERR_WA_MALFORMED. */
export function parseRequestId(text: string): ParsedRequestId {
  if (!isRequestIdText(text)) throw new WaTransportError(ErrorCode.MALFORMED);
  const buffer = Buffer.from(text, 'base64url');
  // 32 characters hold exactly 24 bytes: no unused bits, so the form is canonical.
  const bytes = new Uint8Array(buffer.buffer, buffer.byteOffset, buffer.byteLength);
  return { issuedAt: readUint64(bytes, 0), key: bytes.subarray(REQUEST_ID_ISSUED_AT_BYTES) };
}

/**
 * The context an envelope carrying a request id is sealed under: the caller's context, a line
 * feed, and the id's text form. The id is authenticated with the envelope but never sent inside it.
 */
export function withRequestId(context: Uint8Array | undefined, requestId: string): Uint8Array {
  const base = context ?? new Uint8Array(0);
  const out = new Uint8Array(base.length + 1 + REQUEST_ID_TEXT_LENGTH);
  out.set(base, 0);
  out[base.length] = 0x0a;
  encoder.encodeInto(requestId, out.subarray(base.length + 1));
  return out;
}
