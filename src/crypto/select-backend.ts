/**
 * Chooses the AEAD backend. Every backend computes the same XChaCha20-Poly1305 and produces
 * byte-identical envelopes (test/crypto/backends.test.ts); they differ only in speed:
 * - 'native': sodium-native, when installed: about 3× the WebAssembly round-trip throughput at
 *   16 KiB and 4× at 1 MiB, slower below about 512 B, where N-API's per-call cost outweighs the
 *   cipher's (bench/RESULTS.md);
 * - 'wasm': libsodium's WebAssembly, always available.
 * - 'wrappers': libsodium-wrappers' public API, the slow reference the tests compare against.
 *   Not offered to endpoints: it throws on a forged tag, so rejecting a forgery at 64 B costs
 *   it more than opening a valid envelope (0.8×, bench/rejection.ts), and a flood of forgeries must
 *   never cost more than real traffic (issue 11).
 * 'auto' (the default), where sodium-native loads, seals and opens each message with whichever
 * of the two is faster at its size (`AUTO_NATIVE_MIN_BYTES`), and is 'wasm' alone where it does
 * not, silently. Whichever is chosen (under 'auto': both) must first pass a known-answer test
 * (self-test.ts), once per process.
 */
import { ErrorCode, WaTransportError } from '../errors.js';
import { loadNativeBackend } from './native.js';
import { selfTestBackend } from './self-test.js';
import { AEAD_TAG_BYTES, type AeadBackend } from './aead.js';
import { sodiumReady } from './ready.js';
import { wasmBackend } from './wasm.js';
import { wrappersBackend } from './wrappers.js';

/** What an endpoint may ask for (`EndpointOptions.backend`). */
export type BackendPreference = 'auto' | 'native' | 'wasm';
/** What this module can load: the endpoint's choices, and the tests' reference backend. */
export type BackendChoice = BackendPreference | 'wrappers';

const ENDPOINT_BACKENDS: ReadonlySet<unknown> = new Set<BackendPreference>(['auto', 'native', 'wasm']);

/** Refuses a backend an endpoint may not use (ERR_WA_CONFIG). */
export function endpointBackend(preference: unknown): BackendPreference {
  if (preference === undefined) return 'auto';
  if (!ENDPOINT_BACKENDS.has(preference)) {
    throw new WaTransportError(ErrorCode.CONFIG, 'backend must be "auto", "native" or "wasm"');
  }
  return preference as BackendPreference;
}

/**
 * Resolves to the backend for `preference` once libsodium is ready (the key schedule always
 * uses libsodium-wrappers, whichever backend seals). Rejects with ERR_WA_CONFIG when
 * 'native' is asked for and sodium-native cannot be loaded, or when the backend fails its
 * self-test: a broken backend is refused loudly, even under 'auto', never swapped for another.
 */
export async function selectBackend(preference: BackendChoice = 'auto'): Promise<AeadBackend> {
  const backend = await loadBackend(preference);
  selfTestBackend(backend);
  return backend;
}

async function loadBackend(preference: BackendChoice): Promise<AeadBackend> {
  await sodiumReady();
  switch (preference) {
    case 'wasm':
      return wasmBackend;
    case 'wrappers':
      return wrappersBackend;
    case 'native': {
      const native = await loadNativeBackend();
      if (native === undefined) {
        throw new WaTransportError(ErrorCode.CONFIG, 'backend "native" needs the sodium-native package');
      }
      return native;
    }
    case 'auto': {
      const native = await loadNativeBackend();
      if (native === undefined) return wasmBackend;
      // Both halves pass the known answer, whose message (114 B) only one of them would see.
      selfTestBackend(wasmBackend);
      selfTestBackend(native);
      auto ??= bySize(wasmBackend, native);
      return auto;
    }
    default:
      throw new WaTransportError(ErrorCode.CONFIG, 'backend must be "auto", "native", "wasm" or "wrappers"');
  }
}

/**
 * From this many plaintext bytes up, 'auto' seals and opens with sodium-native; below it, with
 * libsodium's WebAssembly. Measured with bench/crossover.ts (each backend sealing and opening a
 * 39-byte header and a 45-byte context, 15 interleaved rounds, 2-core machine, noise ±2–18 %):
 * WebAssembly seals faster at 64 B (717 vs 917 ns: sodium-native's one call passes six typed
 * arrays through N-API), the two are even at 256 and 384 B, and from 512 B sodium-native leads
 * (×1.42 at 512 B, ×1.78 at 1 KiB), its SIMD ChaCha20 gaining about 1.2 ns a byte. Opening
 * crosses at the same place: even up to 256 B (native.ts opens those with WebAssembly too),
 * sodium-native slower at 384 B (×0.84: three N-API calls), ahead from 512 B (×1.05, ×1.24 at
 * 1 KiB). So one threshold serves both.
 */
export const AUTO_NATIVE_MIN_BYTES = 512;

let auto: AeadBackend | undefined;

/** Each message to whichever backend is faster at its size (see `AUTO_NATIVE_MIN_BYTES`). */
function bySize(small: AeadBackend, large: AeadBackend): AeadBackend {
  return {
    name: 'auto',
    seal(prefix, nonceOffset, plaintext, adSuffix, key) {
      const backend = plaintext.length < AUTO_NATIVE_MIN_BYTES ? small : large;
      return backend.seal(prefix, nonceOffset, plaintext, adSuffix, key);
    },
    open(sealed, prefixLength, nonceOffset, adSuffix, key) {
      const backend = sealed.length - prefixLength - AEAD_TAG_BYTES < AUTO_NATIVE_MIN_BYTES ? small : large;
      return backend.open(sealed, prefixLength, nonceOffset, adSuffix, key);
    },
  };
}
