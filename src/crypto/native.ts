/**
 * The optional native backend: XChaCha20-Poly1305 from libsodium through `sodium-native`
 * (N-API), which runs libsodium's SIMD ChaCha20 and Poly1305 instead of portable WebAssembly:
 * libsodium's AEAD function to seal, its parts to open (see `TagCheck`).
 * `sodium-native` is not a dependency: when it is absent or fails to load (no prebuild for the
 * platform), `loadNativeBackend` answers undefined and the WebAssembly backend is used.
 */
import { AEAD_KEY_BYTES, AEAD_NONCE_BYTES, AEAD_TAG_BYTES, type AeadBackend } from './aead.js';
import { allocEnvelope, allocPlaintext } from './bytes.js';
import { wasmBackend } from './wasm.js';

/** The functions used, as sodium-native 4 declares them (binding.c). */
interface SodiumNative {
  /** Returns the ciphertext length; throws on bad argument sizes. */
  crypto_aead_xchacha20poly1305_ietf_encrypt(
    c: Uint8Array,
    m: Uint8Array,
    ad: Uint8Array | null,
    nsec: null,
    npub: Uint8Array,
    k: Uint8Array,
  ): number;
  /** XChaCha20 keystream (HChaCha20 subkey, then ChaCha20 from block 0). */
  crypto_stream_xchacha20(c: Uint8Array, n: Uint8Array, k: Uint8Array): void;
  /** XChaCha20 XOR from block `ic`. */
  crypto_stream_xchacha20_xor_ic(c: Uint8Array, m: Uint8Array, n: Uint8Array, ic: number, k: Uint8Array): void;
  /** Poly1305; true when `h` is the tag of `input` (crypto_verify_16: constant time). */
  crypto_onetimeauth_verify(h: Uint8Array, input: Uint8Array, k: Uint8Array): boolean;
  crypto_onetimeauth_init(state: Uint8Array, k: Uint8Array): void;
  crypto_onetimeauth_update(state: Uint8Array, input: Uint8Array): void;
  crypto_onetimeauth_final(state: Uint8Array, out: Uint8Array): void;
  /** Constant-time equality. */
  sodium_memcmp(a: Uint8Array, b: Uint8Array): boolean;
  readonly crypto_onetimeauth_STATEBYTES: number;
}

const FUNCTIONS = [
  'crypto_aead_xchacha20poly1305_ietf_encrypt',
  'crypto_stream_xchacha20',
  'crypto_stream_xchacha20_xor_ic',
  'crypto_onetimeauth_verify',
  'crypto_onetimeauth_init',
  'crypto_onetimeauth_update',
  'crypto_onetimeauth_final',
  'sodium_memcmp',
] as const;

/**
 * Small envelopes are opened by libsodium's WebAssembly build (src/crypto/wasm.ts: the same
 * function, same bytes, a boolean answer). Why: checking the tag before decrypting takes three
 * N-API calls at about 0.45 µs each, which made a valid 64-byte open 2.75 µs against 1.95 µs
 * with the single throwing call, while the WebAssembly open took 1.6–2.4 µs; both backends
 * opened about as fast at 256 bytes, native pulls ahead from there (bench/rejection.ts).
 */
const WASM_OPEN_MAX_BYTES = 256;

const POLY1305_KEY_BYTES = 32;
/**
 * Up to this many bytes of MAC input (RFC 8439 §2.8: AD, padding, ciphertext, padding,
 * lengths), the input is copied into one buffer and checked with one call; above it the
 * ciphertext is fed where it lies, in six calls, rather than copied.
 */
const ONE_CALL_MAC_INPUT_BYTES = 4096;

/**
 * Opening checks the tag before decrypting, with functions that answer a boolean, instead of
 * calling crypto_aead_xchacha20poly1305_ietf_decrypt. Why: sodium-native throws a JavaScript
 * exception when that function's tag check fails, and an exception thrown from N-API cost
 * 4.2 µs here even without a stack trace (a valid 64-byte decryption costs 0.8 µs): a flood of
 * forgeries cost 4× what valid traffic did (issue 11; bench/rejection.ts). The construction is
 * libsodium's own (aead_xchacha20poly1305.c, RFC 8439 §2.8 over the XChaCha20 subkey): the
 * Poly1305 key is the first 32 bytes of keystream block 0, the ciphertext is XORed from block
 * 1 — XChaCha20 with a 64-bit counter gives the same blocks as the IETF AEAD's 32-bit counter
 * behind four zero nonce bytes. The tag is compared in libsodium, in constant time
 * (crypto_verify_16 inside crypto_onetimeauth_verify, or sodium_memcmp), no
 * plaintext is produced before it verifies, and test/crypto/backends.test.ts holds the bytes
 * to the other backends. Measured cost on valid opens (A/B, whole endpoint): about +1 µs at
 * 1 KiB (3.3 → 4.3–5.3 µs, two more N-API calls), none at 16 KiB (16.9 µs both); up to 256 B
 * the WebAssembly build opens instead (`WASM_OPEN_MAX_BYTES`), faster than before.
 */
class TagCheck {
  readonly #sn: SodiumNative;
  readonly #polyKey = new Uint8Array(POLY1305_KEY_BYTES);
  readonly #state: Uint8Array;
  readonly #mac = new Uint8Array(AEAD_TAG_BYTES);
  /** MAC input for small envelopes; for large ones, the AD part, then the trailer. */
  #input = new Uint8Array(ONE_CALL_MAC_INPUT_BYTES);

  constructor(sn: SodiumNative) {
    this.#sn = sn;
    this.#state = new Uint8Array(sn.crypto_onetimeauth_STATEBYTES);
  }

  /** True when `tag` authenticates ad = prefix || adSuffix and `ciphertext` under this key and nonce. */
  verify(
    prefix: Uint8Array,
    adSuffix: Uint8Array | undefined,
    ciphertext: Uint8Array,
    tag: Uint8Array,
    nonce: Uint8Array,
    key: Uint8Array,
  ): boolean {
    const sn = this.#sn;
    const adLength = prefix.length + (adSuffix === undefined ? 0 : adSuffix.length);
    const adPadded = padded16(adLength);
    const ctPadded = padded16(ciphertext.length);
    const total = adPadded + ctPadded + 16;
    if (this.#input.length < adPadded + 32) this.#input = new Uint8Array(adPadded + 32); // a long context
    const input = this.#input;
    // AD || zero padding
    input.set(prefix, 0);
    if (adSuffix !== undefined) input.set(adSuffix, prefix.length);
    input.fill(0, adLength, adPadded);
    sn.crypto_stream_xchacha20(this.#polyKey, nonce, key);
    let ok: boolean;
    if (total <= input.length) {
      input.set(ciphertext, adPadded);
      input.fill(0, adPadded + ciphertext.length, adPadded + ctPadded);
      writeLengths(input, adPadded + ctPadded, adLength, ciphertext.length);
      ok = sn.crypto_onetimeauth_verify(tag, input.subarray(0, total), this.#polyKey);
    } else {
      const state = this.#state;
      sn.crypto_onetimeauth_init(state, this.#polyKey);
      sn.crypto_onetimeauth_update(state, input.subarray(0, adPadded));
      sn.crypto_onetimeauth_update(state, ciphertext);
      // The ciphertext's padding and the lengths, written behind the AD part.
      const trailerAt = adPadded;
      const trailerLength = ctPadded - ciphertext.length + 16;
      input.fill(0, trailerAt, trailerAt + trailerLength - 16);
      writeLengths(input, trailerAt + trailerLength - 16, adLength, ciphertext.length);
      sn.crypto_onetimeauth_update(state, input.subarray(trailerAt, trailerAt + trailerLength));
      sn.crypto_onetimeauth_final(state, this.#mac);
      ok = sn.sodium_memcmp(this.#mac, tag);
      state.fill(0);
    }
    this.#polyKey.fill(0);
    return ok;
  }
}

function padded16(n: number): number {
  return (n + 15) & ~15;
}

/** le64(adLength) || le64(ciphertextLength) at `at` (both below 2^32 here). */
function writeLengths(into: Uint8Array, at: number, adLength: number, ciphertextLength: number): void {
  const view = new DataView(into.buffer, into.byteOffset + at, 16);
  view.setUint32(0, adLength, true);
  view.setUint32(4, 0, true);
  view.setUint32(8, ciphertextLength, true);
  view.setUint32(12, 0, true);
}

/**
 * The associated data prefix || suffix for sealing, assembled in one array reused by every seal
 * (libsodium takes the AD as one contiguous buffer). Why: a new array per seal (header 39 B and
 * an HTTP context of 45–80 B) was over V8's 64-byte on-heap limit, so each one allocated an
 * ArrayBuffer of its own: 4 % of a sealed 64-byte round trip's samples (bench/RESULTS.md,
 * "Envelope at small sizes"). Header and context travel in clear or are known to both sides;
 * nothing secret is left in it.
 */
class AssociatedData {
  #bytes = new Uint8Array(256);

  of(prefix: Uint8Array, suffix: Uint8Array | undefined): Uint8Array {
    if (suffix === undefined || suffix.length === 0) return prefix;
    const length = prefix.length + suffix.length;
    if (this.#bytes.length < length) this.#bytes = new Uint8Array(padded16(length * 2));
    this.#bytes.set(prefix, 0);
    this.#bytes.set(suffix, prefix.length);
    return this.#bytes.subarray(0, length);
  }
}

function nativeBackend(sn: SodiumNative): AeadBackend {
  const tagCheck = new TagCheck(sn);
  const associatedData = new AssociatedData();
  return {
    name: 'native',
    seal(prefix, nonceOffset, plaintext, adSuffix, key) {
      const out = allocEnvelope(prefix.length + plaintext.length + AEAD_TAG_BYTES);
      out.set(prefix, 0);
      // Writes ciphertext || tag straight behind the prefix: the only copies are of the prefix.
      sn.crypto_aead_xchacha20poly1305_ietf_encrypt(
        out.subarray(prefix.length),
        plaintext,
        associatedData.of(prefix, adSuffix),
        null,
        prefix.subarray(nonceOffset, nonceOffset + AEAD_NONCE_BYTES),
        key,
      );
      return out;
    },
    open(sealed, prefixLength, nonceOffset, adSuffix, key) {
      const length = sealed.length - prefixLength - AEAD_TAG_BYTES;
      if (
        length < 0 ||
        key.length !== AEAD_KEY_BYTES ||
        nonceOffset < 0 ||
        nonceOffset + AEAD_NONCE_BYTES > prefixLength
      ) {
        return null;
      }
      if (length <= WASM_OPEN_MAX_BYTES) return wasmBackend.open(sealed, prefixLength, nonceOffset, adSuffix, key);
      const nonce = sealed.subarray(nonceOffset, nonceOffset + AEAD_NONCE_BYTES);
      const ciphertext = sealed.subarray(prefixLength, prefixLength + length);
      const tag = sealed.subarray(prefixLength + length);
      if (!tagCheck.verify(sealed.subarray(0, prefixLength), adSuffix, ciphertext, tag, nonce, key)) return null;
      // Left uninitialised: the XOR overwrites all of it.
      const plaintext = allocPlaintext(length);
      sn.crypto_stream_xchacha20_xor_ic(plaintext, ciphertext, nonce, 1, key);
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
        FUNCTIONS.some((name) => typeof sn[name] !== 'function') ||
        typeof sn.crypto_onetimeauth_STATEBYTES !== 'number'
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
