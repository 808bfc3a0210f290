/**
 * The reference AEAD backend: XChaCha20-Poly1305 through libsodium-wrappers' public functions.
 * Slower than wasm.ts, which calls the same WebAssembly without the wrapper's glue, and never
 * offered to endpoints (select-backend.ts says why); the tests compare every other backend with
 * it byte for byte. Call after `sodiumReady`.
 */
import sodium from 'libsodium-wrappers';
import { AEAD_NONCE_BYTES, type AeadBackend } from './aead.js';
import { concat } from './bytes.js';
import { withoutStackTraces } from '../errors.js';

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
