/**
 * The envelope's bytes (docs/PROTOCOL.md §2). Every offset and size is named here once and
 * used by the encoder, the decoder, the spec's tables and the tests.
 *
 *   0      1          2       3        7          15       39            n-16   n
 *   | ver  | direction| format| key id | timestamp| nonce   | ciphertext   | tag |
 *
 * The 39-byte header is the AEAD's associated data (followed by the caller's context), so
 * every header byte is authenticated although it travels in clear.
 */
import { AEAD_NONCE_BYTES, AEAD_TAG_BYTES } from '../crypto/aead.js';
import { ErrorCode, WaTransportError } from '../errors.js';

export const VERSION_1 = 0x01;

export const VERSION_OFFSET = 0;
export const DIRECTION_OFFSET = 1;
export const FORMAT_OFFSET = 2;
export const KEY_ID_OFFSET = 3;
export const KEY_ID_BYTES = 4;
export const TIMESTAMP_OFFSET = KEY_ID_OFFSET + KEY_ID_BYTES; // 7
export const TIMESTAMP_BYTES = 8;
export const NONCE_OFFSET = TIMESTAMP_OFFSET + TIMESTAMP_BYTES; // 15
/** XChaCha20-Poly1305's public nonce (crypto_aead_xchacha20poly1305_ietf_NPUBBYTES). */
export const NONCE_BYTES = AEAD_NONCE_BYTES;
export const HEADER_BYTES = NONCE_OFFSET + NONCE_BYTES; // 39
/** Poly1305 tag (crypto_aead_xchacha20poly1305_ietf_ABYTES). */
export const TAG_BYTES = AEAD_TAG_BYTES;
/** The smallest envelope: a header and the tag of an empty plaintext. */
export const MIN_ENVELOPE_BYTES = HEADER_BYTES + TAG_BYTES; // 55

export const Direction = {
  /** WebApp → CoreApp (requests). */
  WEBAPP_TO_COREAPP: 0x01,
  /** CoreApp → WebApp (responses). */
  COREAPP_TO_WEBAPP: 0x02,
} as const;
export type Direction = (typeof Direction)[keyof typeof Direction];

export const PayloadFormat = {
  /** The plaintext is a msgpack document (docs/PROTOCOL.md §5). */
  MSGPACK: 0x00,
  /** The plaintext is the caller's bytes, untouched. */
  BYTES: 0x01,
} as const;
export type PayloadFormat = (typeof PayloadFormat)[keyof typeof PayloadFormat];

/** 2^32, to split a millisecond timestamp into two 32-bit words without BigInt. */
const TWO_POW_32 = 0x1_0000_0000;

/** The header's fields, decoded. Nothing here is secret; `inspect` output may show all of it. */
export interface EnvelopeHeader {
  readonly version: number;
  readonly direction: Direction;
  readonly format: PayloadFormat;
  /** Key id as 8 lowercase hex characters. */
  readonly keyId: string;
  /** Milliseconds since the Unix epoch, as the sender's clock read it. */
  readonly timestamp: number;
  readonly nonce: Uint8Array;
}

/** Writes every header field but the nonce, which the caller writes at NONCE_OFFSET. */
export function writeHeader(
  out: Uint8Array,
  direction: Direction,
  format: PayloadFormat,
  keyId: Uint8Array,
  timestamp: number,
): void {
  out[VERSION_OFFSET] = VERSION_1;
  out[DIRECTION_OFFSET] = direction;
  out[FORMAT_OFFSET] = format;
  out.set(keyId, KEY_ID_OFFSET);
  writeUint64(out, TIMESTAMP_OFFSET, timestamp);
}

/** Big-endian u64 from a non-negative safe integer. */
export function writeUint64(out: Uint8Array, offset: number, value: number): void {
  const high = Math.floor(value / TWO_POW_32);
  const low = value >>> 0;
  out[offset] = high >>> 24;
  out[offset + 1] = high >>> 16;
  out[offset + 2] = high >>> 8;
  out[offset + 3] = high;
  out[offset + 4] = low >>> 24;
  out[offset + 5] = low >>> 16;
  out[offset + 6] = low >>> 8;
  out[offset + 7] = low;
}

/**
 * Big-endian u64 as a number. Values beyond 2^53 lose precision, which is harmless: they are
 * astronomically far in the future and rejected by the window check.
 */
export function readTimestamp(envelope: Uint8Array): number {
  return readUint64(envelope, TIMESTAMP_OFFSET);
}

/** Big-endian u64 as a number (beyond 2^53 it loses precision, as `readTimestamp` says). */
export function readUint64(bytes: Uint8Array, o: number): number {
  const high = ((bytes[o]! << 24) | (bytes[o + 1]! << 16) | (bytes[o + 2]! << 8) | bytes[o + 3]!) >>> 0;
  const low = ((bytes[o + 4]! << 24) | (bytes[o + 5]! << 16) | (bytes[o + 6]! << 8) | bytes[o + 7]!) >>> 0;
  return high * TWO_POW_32 + low;
}

/** The nonce, as a view into the envelope (copy it to keep it): the one reader transports use. */
export function readNonce(envelope: Uint8Array): Uint8Array {
  return envelope.subarray(NONCE_OFFSET, NONCE_OFFSET + NONCE_BYTES);
}

export function keyIdHex(envelope: Uint8Array, offset = KEY_ID_OFFSET): string {
  let hex = '';
  for (let i = offset; i < offset + KEY_ID_BYTES; i++) hex += envelope[i]!.toString(16).padStart(2, '0');
  return hex;
}

/** Reads the key id as one u32, the cheap form used to look a key up. */
export function readKeyIdWord(bytes: Uint8Array, offset = KEY_ID_OFFSET): number {
  return ((bytes[offset]! << 24) | (bytes[offset + 1]! << 16) | (bytes[offset + 2]! << 8) | bytes[offset + 3]!) >>> 0;
}

/**
 * Checks what can be checked without a key: length, version, direction and format bytes.
 * Everything else (key id, timestamp, nonce) is only meaningful once authenticated.
 */
export function checkStructure(envelope: Uint8Array, maxEnvelopeBytes: number): void {
  if (envelope.length > maxEnvelopeBytes) throw new WaTransportError(ErrorCode.TOO_LARGE);
  if (envelope.length < MIN_ENVELOPE_BYTES) throw new WaTransportError(ErrorCode.MALFORMED);
  if (envelope[VERSION_OFFSET] !== VERSION_1) throw new WaTransportError(ErrorCode.UNSUPPORTED_VERSION);
  const direction = envelope[DIRECTION_OFFSET];
  if (direction !== Direction.WEBAPP_TO_COREAPP && direction !== Direction.COREAPP_TO_WEBAPP) {
    throw new WaTransportError(ErrorCode.MALFORMED);
  }
  const format = envelope[FORMAT_OFFSET];
  if (format !== PayloadFormat.MSGPACK && format !== PayloadFormat.BYTES) {
    throw new WaTransportError(ErrorCode.MALFORMED);
  }
}

/**
 * Decodes the header without decrypting, for tools and logs. Nothing it returns is
 * authenticated: do not base a decision on it.
 */
export function readHeader(envelope: Uint8Array, maxEnvelopeBytes = Number.MAX_SAFE_INTEGER): EnvelopeHeader {
  checkStructure(envelope, maxEnvelopeBytes);
  return {
    version: envelope[VERSION_OFFSET]!,
    direction: envelope[DIRECTION_OFFSET] as Direction,
    format: envelope[FORMAT_OFFSET] as PayloadFormat,
    keyId: keyIdHex(envelope),
    timestamp: readTimestamp(envelope),
    nonce: envelope.slice(NONCE_OFFSET, NONCE_OFFSET + NONCE_BYTES),
  };
}
