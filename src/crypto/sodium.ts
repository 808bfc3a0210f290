/**
 * The one place that touches libsodium. Everything cryptographic in wa-transport goes
 * through these functions, so the rest of the code never sees a libsodium API and a faster
 * backend (see `AeadBackend`) can be swapped in without touching the envelope.
 */
import sodium from 'libsodium-wrappers';
import { AEAD_NONCE_BYTES, type AeadBackend } from './aead-backend.js';
import { concat } from './bytes.js';
import { withoutStackTraces } from '../errors.js';

let readyPromise: Promise<void> | undefined;

/** Resolves once libsodium's WebAssembly module is initialised. Idempotent. */
export function sodiumReady(): Promise<void> {
  readyPromise ??= sodium.ready;
  return readyPromise;
}

export type { AeadBackend, BackendName } from './aead-backend.js';

/** The default backend: libsodium's WebAssembly without the wrapper's per-call glue. */
export { rawWasmBackend as wasmBackend } from './wasm.js';

/** Through libsodium-wrappers' public functions: slower, kept as the reference implementation. */
export const wrappersBackend: AeadBackend = {
  name: 'wrappers',
  seal(prefix, nonceOffset, plaintext, adSuffix, key) {
    const sealed = sodium.crypto_aead_xchacha20poly1305_ietf_encrypt(
      plaintext,
      concat(prefix, adSuffix),
      null,
      prefix.subarray(nonceOffset, nonceOffset + AEAD_NONCE_BYTES),
      key,
    );
    const out = new Uint8Array(prefix.length + sealed.length);
    out.set(prefix, 0);
    out.set(sealed, prefix.length);
    return out;
  },
  open(sealed, prefixLength, nonceOffset, adSuffix, key) {
    // libsodium-wrappers signals a failed tag check (and bad sizes) by throwing an Error; its
    // stack trace alone cost more than the check (src/errors.ts), so none is captured.
    return withoutStackTraces(() => {
      try {
        return sodium.crypto_aead_xchacha20poly1305_ietf_decrypt(
          null,
          sealed.subarray(prefixLength),
          concat(sealed.subarray(0, prefixLength), adSuffix),
          sealed.subarray(nonceOffset, nonceOffset + AEAD_NONCE_BYTES),
          key,
        );
      } catch {
        return null;
      }
    });
  },
};

/** BLAKE2b with the given output length and key (crypto_generichash). */
export function blake2b(outputBytes: number, message: Uint8Array, key: Uint8Array): Uint8Array {
  return sodium.crypto_generichash(outputBytes, message, key);
}

/**
 * crypto_kdf_derive_from_key: BLAKE2b keyed with `masterKey`, salt = LE64(id) || 0^8,
 * personalisation = context || 0^8 (libsodium's documented construction).
 */
export function deriveSubkey(bytes: number, id: number, context: string, masterKey: Uint8Array): Uint8Array {
  return sodium.crypto_kdf_derive_from_key(bytes, id, context, masterKey);
}
