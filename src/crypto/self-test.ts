/**
 * A known-answer test that every AEAD backend passes once per process, when it is selected.
 *
 * Why: the WebAssembly backend (wasm.ts) calls libsodium-wrappers' internal Emscripten exports,
 * whose argument layout is not a public API. libsodium-wrappers is pinned to the version tested,
 * and should an update change that layout anyway, the backend must fail here, at start-up,
 * rather than seal bytes no peer can open (or open what it should refuse).
 *
 * The vector is draft-irtf-cfrg-xchacha-03, appendix A.3.1, shaped as `AeadBackend` takes it:
 * the nonce travels in the authenticated prefix, so the associated data is
 * nonce ‖ A.3.1's AD. The ciphertext is A.3.1's, byte for byte (ChaCha20 does not read the
 * AD); the tag for this AD is pinned below and checked against @noble/ciphers and the draft's
 * own vector by test/crypto/kat.test.ts.
 */
import { Buffer } from 'node:buffer';
import { ErrorCode, WaTransportError } from '../errors.js';
import type { AeadBackend, AeadKey } from './aead.js';

const fromHex = (hex: string) => new Uint8Array(Buffer.from(hex, 'hex'));

/** draft-irtf-cfrg-xchacha-03 A.3.1, with the tag for AD = NONCE ‖ AD (see above). */
export const SELF_TEST_VECTOR = {
  key: fromHex('808182838485868788898a8b8c8d8e8f909192939495969798999a9b9c9d9e9f') as AeadKey,
  nonce: fromHex('404142434445464748494a4b4c4d4e4f5051525354555657'),
  ad: fromHex('50515253c0c1c2c3c4c5c6c7'),
  plaintext: new TextEncoder().encode(
    "Ladies and Gentlemen of the class of '99: If I could offer you only one tip for the future, sunscreen would be it.",
  ),
  ciphertext: fromHex(
    'bd6d179d3e83d43b9576579493c0e939572a1700252bfaccbed2902c21396cbb' +
      '731c7f1b0b4aa6440bf3a82f4eda7e39ae64c6708c54c216cb96b72e1213b452' +
      '2f8c9ba40db5d945b11b69b982c1bb9e3f3fac2bc369488f76b2383565d3fff9' +
      '21f9664c97637da9768812f615c68b13b52e',
  ),
  tag: fromHex('97b2bd4c8d04c07c616177de6ed753a4'),
} as const;

const passed = new WeakSet<AeadBackend>();

/**
 * Seals and opens the known answer through `backend`, and checks that a changed tag is
 * refused. Throws ERR_WA_CONFIG when any of it differs. A backend that passed is not tested
 * again, so only the first selection pays: 0.5–0.9 ms measured, most of it first-call warm-up.
 */
export function selfTestBackend(backend: AeadBackend): void {
  if (passed.has(backend)) return;
  const { key, nonce, ad, plaintext, ciphertext, tag } = SELF_TEST_VECTOR;
  const expected = Buffer.concat([nonce, ciphertext, tag]);
  const forged = Uint8Array.from(expected);
  forged[forged.length - 1]! ^= 1;
  let problem: string | undefined;
  try {
    const sealed = backend.seal(nonce, 0, plaintext, ad, key);
    const opened = backend.open(expected, nonce.length, 0, ad, key);
    if (!expected.equals(sealed)) problem = 'its sealed bytes differ from the known answer';
    else if (opened === null || !Buffer.from(plaintext).equals(opened)) problem = 'it does not open the known answer';
    else if (backend.open(forged, nonce.length, 0, ad, key) !== null) problem = 'it accepts a forged tag';
  } catch (cause) {
    throw failure(backend, 'it threw', cause);
  }
  if (problem !== undefined) throw failure(backend, problem);
  passed.add(backend);
}

function failure(backend: AeadBackend, problem: string, cause?: unknown): WaTransportError {
  return new WaTransportError(
    ErrorCode.CONFIG,
    `AEAD backend ${backend.name} failed its self-test (XChaCha20-Poly1305, draft-irtf-cfrg-xchacha-03 A.3.1): ` +
      `${problem}; an update of the libsodium package it calls may have changed that package's internals`,
    cause === undefined ? undefined : { cause },
  );
}
