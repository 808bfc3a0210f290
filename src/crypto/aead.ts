/**
 * The AEAD backend interface: what the envelope needs from XChaCha20-Poly1305, and nothing
 * else, with the cipher's sizes. Implementations live beside it (wasm.ts, native.ts,
 * wrappers.ts); select-backend.ts picks one.
 */

declare const aeadKeyBrand: unique symbol;
/**
 * A 32-byte XChaCha20-Poly1305 key, as derived by the key schedule (src/keys.ts). Branded so
 * that a nonce, a header or any other byte array cannot be passed where a key belongs.
 */
export type AeadKey = Uint8Array & { readonly [aeadKeyBrand]: true };

/**
 * Names of the AEAD implementations; all compute the same function, byte for byte. 'auto' is
 * 'wasm' and 'native' together, each for the message sizes it is faster at (select-backend.ts).
 */
export type BackendName = 'wasm' | 'native' | 'wrappers' | 'auto';

/**
 * XChaCha20-Poly1305 (IETF), as libsodium's crypto_aead_xchacha20poly1305_ietf_*, shaped like
 * the envelope so a backend can build or read one in a single pass: a cleartext prefix (the
 * header) that carries the 24-byte nonce at `nonceOffset`, then ciphertext || 16-byte tag.
 * The associated data is prefix || adSuffix (the suffix is the caller's context, never sent).
 *
 * Implementations: `wasmBackend` (libsodium's WebAssembly, called directly: src/crypto/wasm.ts),
 * the optional sodium-native one (src/crypto/native.ts) and `wrappersBackend` (libsodium-wrappers'
 * public API: the reference the others are tested against). All produce identical bytes.
 * None keeps a reference to its arguments. What `seal` and `open` return is new but, when small,
 * shares its ArrayBuffer with other envelopes, or other plaintexts (src/crypto/bytes.ts): use
 * byteOffset/byteLength, never `.buffer` alone, and never hand a plaintext out as it is.
 */
export interface AeadBackend {
  readonly name: BackendName;
  /** Returns prefix || ciphertext || tag. Throws RangeError on a bad key or nonce position. */
  seal(
    prefix: Uint8Array,
    nonceOffset: number,
    plaintext: Uint8Array,
    adSuffix: Uint8Array | undefined,
    key: AeadKey,
  ): Uint8Array;
  /**
   * Authenticates `sealed` = prefix (its first `prefixLength` bytes) || ciphertext || tag and
   * returns the plaintext, or null when it does not verify. Never throws on bad input.
   */
  open(
    sealed: Uint8Array,
    prefixLength: number,
    nonceOffset: number,
    adSuffix: Uint8Array | undefined,
    key: AeadKey,
  ): Uint8Array | null;
}

/**
 * crypto_aead_xchacha20poly1305_ietf_{KEYBYTES, NPUBBYTES, ABYTES}: defined here, in the lowest
 * layer that needs them; the envelope's layout (src/envelope/format.ts) builds on them.
 */
export const AEAD_KEY_BYTES = 32;
export const AEAD_NONCE_BYTES = 24;
export const AEAD_TAG_BYTES = 16;
