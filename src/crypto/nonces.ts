/**
 * Random bytes for nonces and request ids, cut from a pooled buffer that Node's CSPRNG refills.
 *
 * Why not libsodium's randombytes_buf: in libsodium-wrappers it costs about 2.8 µs per byte
 * here (about 67 µs for one nonce, 50 times the cipher itself), while `randomFillSync` on a
 * 64 KiB pool costs about 0.005 µs per nonce. Both draw from the OS CSPRNG.
 * Why not one `randomFillSync` per request id either: on 16 bytes it costs about 7 µs (a crypto
 * job per call), and led the profile of a sealed 64-byte HTTP exchange at 13% (bench/RESULTS.md).
 * Bytes are copied out of the pool, and no part of the pool is handed out twice.
 */
import { randomFillSync } from 'node:crypto';
import { AEAD_NONCE_BYTES } from './aead.js';

const POOL_BYTES = 64 * 1024;
const pool = new Uint8Array(POOL_BYTES);
let offset = POOL_BYTES;

/** Writes `length` (at most the pool's size) fresh random bytes into `out` at `at`. */
export function writeRandomBytes(out: Uint8Array, at: number, length: number): void {
  if (offset + length > POOL_BYTES) {
    randomFillSync(pool);
    offset = 0;
  }
  // A byte loop: for a few dozen bytes it beats `out.set(pool.subarray(...))`, which allocates a view.
  for (let i = 0; i < length; i++) out[at + i] = pool[offset + i]!;
  offset += length;
}

/** Writes a fresh random nonce into `out` at `at`. */
export function writeRandomNonce(out: Uint8Array, at: number): void {
  writeRandomBytes(out, at, AEAD_NONCE_BYTES);
}
