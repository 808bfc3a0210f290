/**
 * The optional native backend: the same libsodium function through `sodium-native` (N-API),
 * which runs libsodium's SIMD ChaCha20 and Poly1305 instead of portable WebAssembly.
 * `sodium-native` is not a dependency: when it is absent or fails to load (no prebuild for the
 * platform), `loadNativeBackend` answers undefined and the WebAssembly backend is used.
 */
import { AEAD_NONCE_BYTES, AEAD_TAG_BYTES, type AeadBackend } from './aead-backend.js';
import { allocEnvelope, allocOwned, concat } from './bytes.js';

/** The two functions used, as sodium-native 4 declares them (binding.c). */
interface SodiumNative {
  /** Returns the ciphertext length; throws on bad argument sizes. */
  crypto_aead_xchacha20poly1305_ietf_encrypt(
    c: Uint8Array, m: Uint8Array, ad: Uint8Array | null, nsec: null, npub: Uint8Array, k: Uint8Array,
  ): number;
  /** Returns the plaintext length; throws when the tag does not verify. */
  crypto_aead_xchacha20poly1305_ietf_decrypt(
    m: Uint8Array, nsec: null, c: Uint8Array, ad: Uint8Array | null, npub: Uint8Array, k: Uint8Array,
  ): number;
}

function nativeBackend(sn: SodiumNative): AeadBackend {
  return {
    name: 'native',
    seal(prefix, nonceOffset, plaintext, adSuffix, key) {
      const out = allocEnvelope(prefix.length + plaintext.length + AEAD_TAG_BYTES);
      out.set(prefix, 0);
      // Writes ciphertext || tag straight behind the prefix: the only copies are of the prefix.
      sn.crypto_aead_xchacha20poly1305_ietf_encrypt(
        out.subarray(prefix.length),
        plaintext,
        concat(prefix, adSuffix),
        null,
        prefix.subarray(nonceOffset, nonceOffset + AEAD_NONCE_BYTES),
        key,
      );
      return out;
    },
    open(sealed, prefixLength, nonceOffset, adSuffix, key) {
      const length = sealed.length - prefixLength - AEAD_TAG_BYTES;
      if (length < 0 || nonceOffset < 0 || nonceOffset + AEAD_NONCE_BYTES > prefixLength) return null;
      // An unpooled array (a view into a shared pool would expose neighbouring bytes through
      // `.buffer`), left uninitialised: decryption overwrites all of it, or it is dropped.
      const plaintext = allocOwned(length);
      try {
        sn.crypto_aead_xchacha20poly1305_ietf_decrypt(
          plaintext,
          null,
          sealed.subarray(prefixLength),
          concat(sealed.subarray(0, prefixLength), adSuffix),
          sealed.subarray(nonceOffset, nonceOffset + AEAD_NONCE_BYTES),
          key,
        );
      } catch {
        // sodium-native throws on a failed tag check (and on wrong sizes): not authentic.
        return null;
      }
      return plaintext;
    },
  };
}

let loaded: Promise<AeadBackend | undefined> | undefined;

/** The sodium-native backend, or undefined when sodium-native cannot be loaded. Never rejects. */
export function loadNativeBackend(): Promise<AeadBackend | undefined> {
  loaded ??= (async () => {
    try {
      // A variable specifier: TypeScript needs no declarations for it and bundlers leave it
      // alone, so the package stays optional.
      const specifier = 'sodium-native';
      const imported = (await import(specifier)) as { default?: unknown };
      const sn = (imported.default ?? imported) as Partial<SodiumNative>;
      if (
        typeof sn.crypto_aead_xchacha20poly1305_ietf_encrypt !== 'function' ||
        typeof sn.crypto_aead_xchacha20poly1305_ietf_decrypt !== 'function'
      ) {
        return undefined;
      }
      return nativeBackend(sn as SodiumNative);
    } catch {
      return undefined;
    }
  })();
  return loaded;
}
