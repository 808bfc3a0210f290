/** Byte-array helpers shared by the AEAD backends. */
import { Buffer } from 'node:buffer';

/** a || b in a new array, or `a` itself when `b` is absent or empty. */
export function concat(a: Uint8Array, b: Uint8Array | undefined): Uint8Array {
  if (b === undefined || b.length === 0) return a;
  const out = new Uint8Array(a.length + b.length);
  out.set(a, 0);
  out.set(b, a.length);
  return out;
}

/**
 * Small envelopes and small plaintexts are views into shared 32 KiB slabs, as Node's
 * `Buffer.allocUnsafe` does. Why: V8 gives every typed array over 64 bytes its own off-heap
 * ArrayBuffer, which costs about 0.3 µs here: a fifth of a whole 64-byte seal, and 6.5% of a
 * sealed 64-byte WebSocket message's busy time for its plaintext alone (bench/RESULTS.md). A
 * view into a slab costs 0.02 µs. Each slab is written once, front to back, and dropped when
 * its last view is collected.
 *
 * Envelopes and plaintexts never share a slab. Envelopes travel in clear, so an envelope's
 * `.buffer` exposes nothing secret. A plaintext's `.buffer` holds other messages' plaintexts,
 * so a pooled plaintext never leaves the library: src/endpoint.ts hands a bytes payload out as
 * an `owned` copy, and msgpack decoding copies every binary it returns (src/payload.ts).
 */
const SLAB_BYTES = 32 * 1024;
const POOLED_MAX_BYTES = SLAB_BYTES / 16;

class Slab {
  #buffer = new ArrayBuffer(SLAB_BYTES);
  #offset = 0;

  /** `length` bytes (at most POOLED_MAX_BYTES) in the current slab, or a new one when it is full. */
  view(length: number): Uint8Array {
    if (this.#offset + length > SLAB_BYTES) {
      this.#buffer = new ArrayBuffer(SLAB_BYTES);
      this.#offset = 0;
    }
    const view = new Uint8Array(this.#buffer, this.#offset, length);
    this.#offset = (this.#offset + length + 7) & ~7; // 8-byte aligned, as Node aligns its pool
    return view;
  }
}

const envelopes = new Slab();
const plaintexts = new Slab();

/**
 * An array of `length` bytes for an envelope, which the caller overwrites entirely; it may
 * share its ArrayBuffer with other envelopes (see above).
 */
export function allocEnvelope(length: number): Uint8Array {
  return length > POOLED_MAX_BYTES ? allocOwned(length) : envelopes.view(length);
}

/**
 * An array of `length` bytes for a plaintext, which the caller overwrites entirely; it may
 * share its ArrayBuffer with other plaintexts, so it MUST NOT reach a caller of the library
 * (see above): copy it with `owned` first.
 */
export function allocPlaintext(length: number): Uint8Array {
  return length > POOLED_MAX_BYTES ? allocOwned(length) : plaintexts.view(length);
}

/** `bytes` itself when it is all of its ArrayBuffer, else a copy that is. */
export function owned(bytes: Uint8Array): Uint8Array {
  if (bytes.byteOffset === 0 && bytes.byteLength === bytes.buffer.byteLength) return bytes;
  const copy = allocOwned(bytes.length);
  copy.set(bytes);
  return copy;
}

/** V8 keeps typed arrays up to this size on its own heap, where allocating them is cheap. */
const ON_HEAP_MAX_BYTES = 64;

/**
 * An array of `length` bytes with an ArrayBuffer of its own, for a plaintext or a large
 * envelope. Its contents are unspecified: the caller MUST overwrite every byte before it is
 * seen (or drop it). Skipping the zero-fill saves about 1 µs per 16 KiB (measured), and the
 * memory comes from Node's allocator, never from another array's pool.
 */
export function allocOwned(length: number): Uint8Array {
  if (length <= ON_HEAP_MAX_BYTES) return new Uint8Array(length);
  const bytes = Buffer.allocUnsafeSlow(length);
  return new Uint8Array(bytes.buffer, bytes.byteOffset, length);
}
