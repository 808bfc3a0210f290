/**
 * Payload encoding (docs/PROTOCOL.md §5): JavaScript values travel as msgpack (msgpackr), bytes
 * travel untouched.
 *
 * msgpackr decodes many extension types into live objects (RegExp, Error, Set, typed arrays,
 * record definitions, bundled strings) and recurses without a depth limit. A peer that holds
 * the secret may still be buggy or compromised, so before msgpackr sees a payload,
 * `checkMsgpack` walks it without recursion and admits only plain data: nil, booleans,
 * numbers, strings, binary, arrays, maps with string or integer keys (never `__proto__`), the
 * timestamp extension (-1, decoded to Date) and msgpackr's `undefined` (fixext1 type 0),
 * nested at most `MAX_DEPTH` deep, with no declared length beyond the bytes present, at most
 * `MAX_PAYLOAD_VALUES` values and not many more heap objects than bytes/8 (no amplification); 64-bit
 * integers only within ±(2^53 − 1), so that every integer decodes to an exact number (never a
 * BigInt, which our sender never produces and which JSON.stringify refuses).
 * The sender refuses values msgpackr would change on the way (a Set, a function, a Float32Array)
 * and runs the receiver's check on what it encoded, so what one side can send the other can read.
 */
import { isUtf8 } from 'node:buffer';
import { Packr, RESET_BUFFER_MODE, Unpackr } from 'msgpackr';
import { ErrorCode, WaTransportError } from './errors.js';

/** Deepest nesting of arrays and maps accepted. */
export const MAX_DEPTH = 64;

/**
 * Most values one payload may hold, every scalar, map key and container counted. Why: each
 * value costs msgpackr at least an 8-byte slot and about 0.1 µs (measured: 2^20 small
 * integers, 8.1 B and 77–110 ms on this shared machine), so this bounds the time one payload
 * holds the event loop; a 4 MiB payload averaging 4 bytes per value still fits.
 */
export const MAX_PAYLOAD_VALUES = 1_048_576;
/**
 * Values that become a heap object of their own (maps, arrays, binaries, timestamps) are
 * limited to one per `PAYLOAD_BYTES_PER_OBJECT` bytes of payload, beyond the first
 * `PAYLOAD_FREE_OBJECTS`. Why: such a value costs 40–104 bytes of heap and about 1 µs for
 * 1 or 2 bytes of input (measured per 2^20: empty map 64 B, empty array 40 B, empty binary
 * and timestamp 104 B, 0.7–1.6 s), so 4 MiB of empty maps grew the heap by 256 MiB and held
 * the event loop 1.6 s (issue 11). At one per 8 bytes a payload decodes to at most about 13
 * bytes of heap per byte (plus 416 KiB), what a plain array of small integers takes anyway
 * (8 B per 1-byte value); real records ({"id":…,"name":…}) use far more than 8 bytes each.
 */
export const PAYLOAD_BYTES_PER_OBJECT = 8;
export const PAYLOAD_FREE_OBJECTS = 4096;

const packr = new Packr({ useRecords: false, moreTypes: false, structuredClone: false, bundleStrings: false });
// 64-bit integers arrive as numbers: checkMsgpack admits them only within the safe-integer range.
// copyBuffers: a binary must not be a view into the plaintext, which may be pooled with other
// messages' plaintexts (src/crypto/bytes.ts).
const unpackr = new Unpackr({
  copyBuffers: true,
  useRecords: false,
  mapsAsObjects: true,
  structuredClone: false,
  bundleStrings: false,
  int64AsType: 'number',
});

/**
 * `value` as msgpack, in memory that the next call overwrites: seal it before encoding again.
 * Why: msgpackr otherwise writes each payload after the last one in its buffer and starts a new
 * buffer whenever fewer than 2 KiB are left, which at 16 KiB was a new 24 KiB+ array for almost
 * every payload (bench/RESULTS.md); here every payload starts at the front of one buffer.
 */
export function encodeMsgpack(value: unknown): Uint8Array {
  // msgpackr would quietly turn a Set into an array, a function into undefined, a Float32Array
  // into bytes: refuse anything that would not arrive as it left.
  const refused = refusedPart(value, 0);
  if (refused !== undefined) {
    throw new WaTransportError(
      ErrorCode.PAYLOAD,
      `${refused} cannot be sent; payloads are plain data (objects, arrays, strings, numbers, ` +
        `booleans, null, undefined, Date, Uint8Array), nested at most ${MAX_DEPTH} deep`,
    );
  }
  let bytes: Uint8Array;
  try {
    bytes = packr.pack(value, RESET_BUFFER_MODE);
  } catch {
    throw new WaTransportError(ErrorCode.PAYLOAD, 'value cannot be encoded as msgpack');
  }
  // The receiver's check, run here too, so that what one side can send the other can read.
  if (!checkMsgpack(bytes)) {
    throw new WaTransportError(
      ErrorCode.PAYLOAD,
      `value encodes to msgpack a receiver refuses: more than ${MAX_PAYLOAD_VALUES} values, or more maps, ` +
        `arrays, binaries and dates than ${PAYLOAD_FREE_OBJECTS} + one per ${PAYLOAD_BYTES_PER_OBJECT} bytes (docs/PROTOCOL.md §5)`,
    );
  }
  return bytes;
}

/** A UTF-16 surrogate without its pair: no UTF-8 encodes it, so the receiver would refuse it. */
const LONE_SURROGATE = /\p{Cs}/u;

/** Describes the first part of `value` that is not plain data, or undefined when all is. */
function refusedPart(value: unknown, depth: number): string | undefined {
  switch (typeof value) {
    case 'string':
      return LONE_SURROGATE.test(value) ? 'a string with a lone surrogate (not UTF-8)' : undefined;
    case 'number':
    case 'boolean':
    case 'undefined':
      return undefined;
    case 'object':
      break;
    default:
      // bigint included: it would travel as a 64-bit integer, which a receiver accepts only
      // within the safe-integer range and decodes to a number, so it would not arrive as it left.
      return `a ${typeof value}`;
  }
  if (value === null || value instanceof Uint8Array) return undefined;
  if (value instanceof Date) return Number.isNaN(value.getTime()) ? 'an invalid Date' : undefined;
  if (depth >= MAX_DEPTH) return 'nesting this deep (or a cycle)';
  if (Array.isArray(value)) {
    for (const item of value) {
      const refused = refusedPart(item, depth + 1);
      if (refused !== undefined) return refused;
    }
    return undefined;
  }
  const proto: unknown = Object.getPrototypeOf(value);
  if (proto !== Object.prototype && proto !== null) {
    return `a ${(value as { constructor?: { name?: string } }).constructor?.name ?? 'non-plain object'}`;
  }
  for (const key of Object.keys(value)) {
    if (key === '__proto__') return 'a "__proto__" key';
    if (LONE_SURROGATE.test(key)) return 'a key with a lone surrogate (not UTF-8)';
    const refused = refusedPart((value as Record<string, unknown>)[key], depth + 1);
    if (refused !== undefined) return refused;
  }
  return undefined;
}

/** Decodes an authenticated msgpack payload, or throws ERR_WA_PAYLOAD. */
export function decodeMsgpack(bytes: Uint8Array): unknown {
  if (!checkMsgpack(bytes)) throw new WaTransportError(ErrorCode.PAYLOAD);
  try {
    return unpackr.unpack(bytes);
  } catch {
    throw new WaTransportError(ErrorCode.PAYLOAD);
  }
}

const PROTO_KEY = [0x5f, 0x5f, 0x70, 0x72, 0x6f, 0x74, 0x6f, 0x5f, 0x5f]; // "__proto__"
const NANOS_PER_SECOND = 1_000_000_000;

/**
 * Whether bytes [from, to) are UTF-8. A decoder would replace bad sequences with U+FFFD, so the
 * string that arrives would not be the one sent. A short ASCII string (the common key) is
 * settled by a byte loop; anything longer by Node's native check, which costs the same ~60 ns up
 * to 1 KiB while the loop grows by ~1.7 ns a byte (28 µs at 16 KiB, 27% of a sealed 16 KiB
 * node:http exchange, checked twice per exchange; bench/RESULTS.md).
 */
function isUtf8Text(bytes: Uint8Array, from: number, to: number): boolean {
  if (to - from > UTF8_LOOP_MAX_BYTES) return isUtf8(bytes.subarray(from, to));
  for (let i = from; i < to; i++) {
    if (bytes[i]! >= 0x80) return isUtf8(bytes.subarray(from, to));
  }
  return true;
}
/** Up to this length the byte loop beats a native call (measured crossover: about 24 bytes). */
const UTF8_LOOP_MAX_BYTES = 24;
const TIMESTAMP_EXT = 0xff; // -1
const UNDEFINED_EXT = 0x00; // msgpackr's encoding of `undefined`

/**
 * The walk's stack, shared by every call (the walk runs no other code, so calls never overlap):
 * `left[d]` counts the items still to read in the container at depth d (a map of n pairs counts
 * 2n items, keys at even positions from its end), `isMap[d]` says whether it is a map. Why
 * shared, and bytes read without a DataView: with a DataView and two arrays per call, checking a
 * 64-byte `{ id, text }` payload took 240 ns, now 122 ns, and the check runs twice per message
 * (bench/RESULTS.md, "Envelope at small sizes").
 */
const left = new Float64Array(MAX_DEPTH + 2);
const isMap = new Uint8Array(MAX_DEPTH + 2);

/** Big-endian u16 at `at`. */
function u16(bytes: Uint8Array, at: number): number {
  return (bytes[at]! << 8) | bytes[at + 1]!;
}

/** Big-endian u32 at `at`. */
function u32(bytes: Uint8Array, at: number): number {
  return ((bytes[at]! << 24) | (bytes[at + 1]! << 16) | (bytes[at + 2]! << 8) | bytes[at + 3]!) >>> 0;
}

/** True when `bytes` is exactly one msgpack value made only of admitted types. Iterative. */
export function checkMsgpack(bytes: Uint8Array): boolean {
  const end = bytes.length;
  // `depth`: open containers + 1, the outermost "container" being the one value expected.
  let depth = 1;
  left[0] = 1;
  isMap[0] = 0;
  let pos = 0;
  let values = 0;
  let objects = 0;
  const maxObjects = PAYLOAD_FREE_OBJECTS + Math.floor(end / PAYLOAD_BYTES_PER_OBJECT);

  while (depth > 0) {
    const d = depth - 1;
    if (left[d] === 0) {
      depth--;
      continue;
    }
    const isKey = isMap[d] === 1 && left[d]! % 2 === 0;
    left[d]!--;
    if (pos >= end || ++values > MAX_PAYLOAD_VALUES) return false;
    const token = bytes[pos++]!;

    let count = -1; // items of a container opened by this token
    let map = false;
    let skip = 0; // bytes of a scalar's body
    let strLength = -1;

    if (token <= 0x7f || token >= 0xe0) {
      // fixint: no body
    } else if (token <= 0x8f) {
      count = (token & 0x0f) * 2;
      map = true;
    } else if (token <= 0x9f) {
      count = token & 0x0f;
    } else if (token <= 0xbf) {
      strLength = token & 0x1f;
    } else {
      // biome-ignore format: one line per msgpack token reads as the spec's table
      switch (token) {
        case 0xc0: case 0xc2: case 0xc3: break;
        case 0xcc: case 0xd0: skip = 1; break;
        case 0xcd: case 0xd1: skip = 2; break;
        case 0xca: case 0xce: case 0xd2: skip = 4; break;
        case 0xcb: skip = 8; break;
        case 0xcf: case 0xd3: // uint64 / int64: only safe integers, which decode to an exact number
          if (pos + 8 > end || !isSafeInt64(bytes, pos, token === 0xd3)) return false;
          skip = 8;
          break;
        case 0xd9: if (pos + 1 > end) return false; strLength = bytes[pos]!; pos += 1; break;
        case 0xda: if (pos + 2 > end) return false; strLength = u16(bytes, pos); pos += 2; break;
        case 0xdb: if (pos + 4 > end) return false; strLength = u32(bytes, pos); pos += 4; break;
        case 0xc4: if (pos + 1 > end) return false; skip = bytes[pos]!; pos += 1; break;
        case 0xc5: if (pos + 2 > end) return false; skip = u16(bytes, pos); pos += 2; break;
        case 0xc6: if (pos + 4 > end) return false; skip = u32(bytes, pos); pos += 4; break;
        case 0xdc: if (pos + 2 > end) return false; count = u16(bytes, pos); pos += 2; break;
        case 0xdd: if (pos + 4 > end) return false; count = u32(bytes, pos); pos += 4; break;
        case 0xde: if (pos + 2 > end) return false; count = u16(bytes, pos) * 2; map = true; pos += 2; break;
        case 0xdf: if (pos + 4 > end) return false; count = u32(bytes, pos) * 2; map = true; pos += 4; break;
        case 0xd4: // fixext1: only msgpackr's undefined
          if (pos + 2 > end || bytes[pos] !== UNDEFINED_EXT) return false;
          skip = 2;
          break;
        case 0xd6: case 0xd7: // fixext4 / fixext8: only timestamps
          if (pos + 1 > end || bytes[pos] !== TIMESTAMP_EXT) return false;
          skip = 1 + (token === 0xd6 ? 4 : 8);
          // timestamp 64: nanoseconds in the upper 30 bits; 10^9 or more is no instant.
          if (token === 0xd7 && (pos + 5 > end || u32(bytes, pos + 1) >>> 2 >= NANOS_PER_SECOND)) return false;
          break;
        case 0xc7: // ext8: only the 12-byte timestamp
          if (pos + 2 > end || bytes[pos] !== 12 || bytes[pos + 1] !== TIMESTAMP_EXT) return false;
          skip = 2 + 12;
          // timestamp 96: nanoseconds in the first 4 bytes.
          if (pos + 6 > end || u32(bytes, pos + 2) >= NANOS_PER_SECOND) return false;
          break;
        default:
          return false; // 0xc1 (never used), ext16/32, fixext2/16: nothing we admit
      }
    }

    if (isKey && strLength < 0 && !isIntegerToken(token)) return false; // keys: strings or integers
    if (isObjectToken(token) && ++objects > maxObjects) return false;
    if (strLength >= 0) {
      if (pos + strLength > end) return false;
      if (isKey && strLength === PROTO_KEY.length && PROTO_KEY.every((c, i) => bytes[pos + i] === c)) return false;
      if (!isUtf8Text(bytes, pos, pos + strLength)) return false;
      pos += strLength;
    } else if (skip > 0) {
      if (pos + skip > end) return false;
      pos += skip;
    } else if (count >= 0) {
      // A container's depth counts it and every container around it (the outermost is 1): an
      // empty one counts too, as it does for the sender (`depth` is open containers + 1).
      if (depth > MAX_DEPTH) return false;
      // Every item takes at least one byte: a larger declared count is a lie.
      if (count > end - pos) return false;
      if (count > 0) {
        left[depth] = count;
        isMap[depth] = map ? 1 : 0;
        depth++;
      }
    }
  }
  return pos === end;
}

/**
 * True when the 64-bit integer at `at` lies within ±(2^53 − 1). The float sum is exact inside
 * that range and rounds monotonically outside it, so no value outside comes back inside.
 */
function isSafeInt64(bytes: Uint8Array, at: number, signed: boolean): boolean {
  const high = signed ? u32(bytes, at) | 0 : u32(bytes, at);
  return Number.isSafeInteger(high * 2 ** 32 + u32(bytes, at + 4));
}

/** Maps, arrays, binaries and timestamps: the values msgpackr builds a heap object for. */
function isObjectToken(token: number): boolean {
  return (
    (token >= 0x80 && token <= 0x9f) ||
    (token >= 0xc4 && token <= 0xc6) ||
    (token >= 0xdc && token <= 0xdf) ||
    token === 0xd6 ||
    token === 0xd7 ||
    token === 0xc7 // admitted only as timestamps
  );
}

function isIntegerToken(token: number): boolean {
  return token <= 0x7f || token >= 0xe0 || (token >= 0xcc && token <= 0xd3);
}
