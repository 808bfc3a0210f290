/**
 * The text form of an envelope: unpadded base64url (RFC 4648 §5), for HTTP headers and logs.
 * Decoding is strict: Node's decoder skips characters it does not know, which would let
 * different strings stand for one envelope, so anything but the canonical form is refused.
 */
import { ErrorCode, WaTransportError } from '../errors.js';

const BASE64URL = /^[A-Za-z0-9_-]*$/;

export function toText(envelope: Uint8Array): string {
  return Buffer.from(envelope.buffer, envelope.byteOffset, envelope.byteLength).toString('base64url');
}

/** Decodes the text form, refusing non-canonical input and anything over `maxBytes`. */
export function fromText(text: string, maxBytes: number): Uint8Array {
  // Checked before decoding, so an oversized string costs nothing to refuse.
  if (text.length > Math.ceil((maxBytes * 4) / 3)) throw new WaTransportError(ErrorCode.TOO_LARGE);
  if (text.length % 4 === 1 || !BASE64URL.test(text)) throw new WaTransportError(ErrorCode.MALFORMED);
  const bytes = Buffer.from(text, 'base64url');
  // Unused low bits of the last character must be zero, or two strings decode alike.
  if (bytes.toString('base64url') !== text) throw new WaTransportError(ErrorCode.MALFORMED);
  return new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}
