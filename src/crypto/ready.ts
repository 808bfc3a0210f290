/**
 * libsodium's readiness. libsodium-wrappers compiles its WebAssembly module asynchronously, and
 * every function of it (and the module wasm.ts calls directly) exists only once `sodium.ready`
 * has resolved: the endpoint, the configuration and the tests await this first.
 */
import sodium from 'libsodium-wrappers';

let readyPromise: Promise<void> | undefined;

/** Resolves once libsodium's WebAssembly module is initialised. Idempotent. */
export function sodiumReady(): Promise<void> {
  readyPromise ??= sodium.ready;
  return readyPromise;
}
