/**
 * The one place that touches libsodium. Everything cryptographic in wa-transport goes
 * through these functions, so the rest of the code never sees a libsodium API and a faster
 * backend (see `AeadBackend`) can be swapped in without touching the envelope.
 */
import sodium from 'libsodium-wrappers';

let readyPromise: Promise<void> | undefined;

/** Resolves once libsodium's WebAssembly module is initialised. Idempotent. */
export function sodiumReady(): Promise<void> {
  readyPromise ??= sodium.ready;
  return readyPromise;
}

/** XChaCha20-Poly1305 (IETF), as libsodium's crypto_aead_xchacha20poly1305_ietf_*. */
export interface AeadBackend {
  readonly name: string;
  /** Returns ciphertext || tag. */
  encrypt(plaintext: Uint8Array, ad: Uint8Array, nonce: Uint8Array, key: Uint8Array): Uint8Array;
  /** Returns the plaintext, or null when the tag does not verify. Never throws on bad input. */
  decrypt(ciphertextAndTag: Uint8Array, ad: Uint8Array, nonce: Uint8Array, key: Uint8Array): Uint8Array | null;
}

export const wasmBackend: AeadBackend = {
  name: 'libsodium-wrappers',
  encrypt(plaintext, ad, nonce, key) {
    return sodium.crypto_aead_xchacha20poly1305_ietf_encrypt(plaintext, ad, null, nonce, key);
  },
  decrypt(ciphertextAndTag, ad, nonce, key) {
    try {
      return sodium.crypto_aead_xchacha20poly1305_ietf_decrypt(null, ciphertextAndTag, ad, nonce, key);
    } catch {
      // libsodium-wrappers signals a failed tag check by throwing; the caller wants a value.
      return null;
    }
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

/** Constant-time equality of two byte strings of the same length (sodium_memcmp). */
export function constantTimeEqual(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && sodium.memcmp(a, b);
}

/** Overwrites key material that is no longer needed (sodium_memzero). */
export function wipe(bytes: Uint8Array): void {
  sodium.memzero(bytes);
}
