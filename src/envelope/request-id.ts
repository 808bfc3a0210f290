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
import { Buffer } from 'node:buffer';
import { writeRandomBytes } from '../crypto/nonces.js';
import { ErrorCode, WaTransportError } from '../errors.js';
import { readUint64, writeUint64 } from './format.js';

export const REQUEST_ID_BYTES = 24;
export const REQUEST_ID_ISSUED_AT_BYTES = 8;
/** Length of the text form: 24 bytes in unpadded base64url. */
export const REQUEST_ID_TEXT_LENGTH = 32;

/** The 6-bit value of each base64url character (RFC 4648 §5), -1 for any other code unit. */
const BASE64URL_VALUES = (() => {
  const values = new Int8Array(128).fill(-1);
  const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';
  for (let i = 0; i < alphabet.length; i++) values[alphabet.charCodeAt(i)] = i;
  return values;
})();

/**
 * Where ids are built and read. Reused by every call: nothing here outlives it (the text form is
 * a new string, the key a copy). Why: a new array and a Buffer view per new id (5.7 %), the
 * regular expression and Buffer's base64url decoder (a pooled allocation) per parse (9.5 %) were
 * that much of a 64-byte seal + open that binds an id (bench/RESULTS.md, "Envelope at small sizes").
 */
const scratch = new Uint8Array(REQUEST_ID_BYTES);
/** The same bytes, as a Buffer for its base64url encoder. */
const scratchBuffer = Buffer.from(scratch.buffer, scratch.byteOffset, REQUEST_ID_BYTES);

/** A new request id issued at `issuedAt` (ms since the epoch), in its text form. */
export function newRequestId(issuedAt: number): string {
  writeUint64(scratch, 0, issuedAt);
  writeRandomBytes(scratch, REQUEST_ID_ISSUED_AT_BYTES, REQUEST_ID_BYTES - REQUEST_ID_ISSUED_AT_BYTES);
  return scratchBuffer.toString('base64url');
}

export interface ParsedRequestId {
  /** When the first attempt was sealed, by the sender's clock. */
  readonly issuedAt: number;
  /** The 16 random bytes (and what follows), recorded in the replay store like a nonce. */
  readonly key: Uint8Array;
}

/** Whether `value` has the text form of a request id (it says nothing of its issue time). */
export function isRequestIdText(value: unknown): value is string {
  return typeof value === 'string' && decodeIntoScratch(value);
}

/**
 * Decodes the text form into `scratch`, or answers false when `text` is not exactly 32
 * base64url characters. 32 characters hold exactly 24 bytes: no unused bits, so the form is
 * canonical and no two strings decode alike.
 */
function decodeIntoScratch(text: string): boolean {
  if (text.length !== REQUEST_ID_TEXT_LENGTH) return false;
  for (let c = 0, b = 0; c < REQUEST_ID_TEXT_LENGTH; c += 4, b += 3) {
    const c0 = text.charCodeAt(c);
    const c1 = text.charCodeAt(c + 1);
    const c2 = text.charCodeAt(c + 2);
    const c3 = text.charCodeAt(c + 3);
    // A code unit of 128 or more reads as undefined, which `| 0` makes 0: the `>= 128` test refuses it.
    const v0 = BASE64URL_VALUES[c0]! | 0;
    const v1 = BASE64URL_VALUES[c1]! | 0;
    const v2 = BASE64URL_VALUES[c2]! | 0;
    const v3 = BASE64URL_VALUES[c3]! | 0;
    if ((c0 | c1 | c2 | c3) >= 128 || (v0 | v1 | v2 | v3) < 0) return false;
    const word = (v0 << 18) | (v1 << 12) | (v2 << 6) | v3;
    scratch[b] = word >>> 16;
    scratch[b + 1] = word >>> 8;
    scratch[b + 2] = word;
  }
  return true;
}

/** The issue time of a request id in text form, or -1 when `text` is not of that form. */
export function requestIdIssuedAt(text: string): number {
  return decodeIntoScratch(text) ? readUint64(scratch, 0) : -1;
}

/** Parses the text form strictly; anything else is ERR_WA_MALFORMED. */
export function parseRequestId(text: string): ParsedRequestId {
  if (typeof text !== 'string' || !decodeIntoScratch(text)) throw new WaTransportError(ErrorCode.MALFORMED);
  // The key is a copy: a store may keep what it is given.
  return { issuedAt: readUint64(scratch, 0), key: scratch.slice(REQUEST_ID_ISSUED_AT_BYTES) };
}
