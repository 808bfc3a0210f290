/**
 * Chooses the AEAD backend once per process. Today: libsodium-wrappers (WebAssembly).
 */
import { type AeadBackend, sodiumReady, wasmBackend } from './sodium.js';

let selected: Promise<AeadBackend> | undefined;

export function selectBackend(): Promise<AeadBackend> {
  selected ??= sodiumReady().then(() => wasmBackend);
  return selected;
}
