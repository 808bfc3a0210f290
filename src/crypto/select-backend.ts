/**
 * Chooses the AEAD backend. Every backend computes the same XChaCha20-Poly1305 and produces
 * byte-identical envelopes (test/crypto/backends.test.ts); they differ only in speed:
 * - 'native': sodium-native, when installed: about 3× the WebAssembly round-trip throughput at
 *   16 KiB and 4× at 1 MiB, no faster at 64 B, where N-API's per-call cost matches the
 *   cipher's (bench/RESULTS.md);
 * - 'wasm': libsodium's WebAssembly, always available.
 * - 'wrappers': libsodium-wrappers' public API, the slow reference the tests compare against.
 *   Not offered to endpoints: it throws on a forged tag, so rejecting a forgery at 64 B costs
 *   it more than opening a valid envelope (0.8×, bench/rejection.ts), and a flood of forgeries must
 *   never cost more than real traffic (issue 11).
 * 'auto' (the default) takes 'native' when it loads and falls back to 'wasm' silently.
 * Whichever is chosen must first pass a known-answer test (self-test.ts), once per process.
 */
import { ErrorCode, WaTransportError } from '../errors.js';
import { loadNativeBackend } from './native.js';
import { selfTestBackend } from './self-test.js';
import type { AeadBackend } from './aead.js';
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
    case 'auto':
      return (await loadNativeBackend()) ?? wasmBackend;
    default:
      throw new WaTransportError(ErrorCode.CONFIG, 'backend must be "auto", "native", "wasm" or "wrappers"');
  }
}
