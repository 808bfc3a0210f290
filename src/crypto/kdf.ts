/**
 * The two hashes the key schedule (src/keys.ts, docs/PROTOCOL.md §3) is built from, through
 * libsodium-wrappers' public API: they run once per secret, not per message, so the wrapper's
 * per-call cost, which wasm.ts avoids for the AEAD, does not matter here. Call after `sodiumReady`.
 */
import sodium from 'libsodium-wrappers';

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
