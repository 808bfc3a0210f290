/**
 * The bytes of the context an envelope is sealed or opened under: the caller's text (UTF-8) or
 * bytes, then, when the envelope carries a request id, a line feed and the id's text form
 * (docs/PROTOCOL.md §4.4). The context is authenticated with the envelope but never sent.
 *
 * Built in one array reused by every message, not a new one each. Why: encoding a text context
 * and its request id with a TextEncoder cost 11.6 % of a 64-byte seal + open round trip that
 * binds both (bench/RESULTS.md, "Envelope at small sizes"): a native call and a new array over
 * V8's 64-byte on-heap limit, so an ArrayBuffer of its own, twice per round trip. An ASCII
 * text (every context the transports build, bar a path with non-ASCII characters) is copied
 * by a loop; any other text goes through `encodeInto`, into the same array.
 *
 * What this returns is valid until the next call: pass it to the AEAD backend at once, which
 * keeps no reference to it (src/crypto/aead.ts), with no code of the caller's run in between.
 */
import { REQUEST_ID_TEXT_LENGTH } from './request-id.js';

const LINE_FEED = 0x0a;
/** UTF-8 takes at most 3 bytes per UTF-16 code unit (a surrogate pair: 4 bytes for 2). */
const MAX_UTF8_BYTES_PER_CODE_UNIT = 3;

const encoder = new TextEncoder();
let scratch = new Uint8Array(256);

function reserve(length: number): Uint8Array {
  if (scratch.length < length) scratch = new Uint8Array(Math.max(length, scratch.length * 2));
  return scratch;
}

/** Writes `text` as UTF-8 at the start of the scratch array; returns its length in bytes. */
function writeText(text: string, room: number): number {
  const length = text.length;
  let out = reserve(length + room);
  for (let i = 0; i < length; i++) {
    const unit = text.charCodeAt(i);
    if (unit >= 0x80) {
      out = reserve(length * MAX_UTF8_BYTES_PER_CODE_UNIT + room);
      return encoder.encodeInto(text, out).written;
    }
    out[i] = unit;
  }
  return length;
}

/**
 * The context bytes for `context` and, when given, `requestId`, which MUST already be of the
 * text form (32 base64url characters: ASCII). Undefined when there is no context at all; the
 * caller's own array when it is given bytes and no id.
 */
export function contextBytes(
  context: string | Uint8Array | undefined,
  requestId: string | undefined,
): Uint8Array | undefined {
  if (requestId === undefined) {
    if (typeof context !== 'string') return context;
    return scratch.subarray(0, writeText(context, 0));
  }
  const room = 1 + REQUEST_ID_TEXT_LENGTH;
  let at = 0;
  if (typeof context === 'string') at = writeText(context, room);
  else if (context !== undefined) {
    reserve(context.length + room).set(context, 0);
    at = context.length;
  } else reserve(room);
  const out = scratch;
  out[at++] = LINE_FEED;
  for (let i = 0; i < REQUEST_ID_TEXT_LENGTH; i++) out[at + i] = requestId.charCodeAt(i);
  return out.subarray(0, at + REQUEST_ID_TEXT_LENGTH);
}
