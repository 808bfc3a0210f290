/**
 * Sealing and authenticating one envelope: the AEAD step and nothing else. No clock, no
 * replay policy, no payload decoding: those belong to the endpoint (src/endpoint.ts).
 */
import type { AeadBackend, AeadKey } from '../crypto/aead.js';
import { writeRandomNonce } from '../crypto/nonces.js';
import { ErrorCode, WaTransportError } from '../errors.js';
import {
  DIRECTION_OFFSET,
  HEADER_BYTES,
  NONCE_BYTES,
  NONCE_OFFSET,
  checkStructure,
  keyIdHex,
  readKeyIdWord,
  writeHeader,
  type Direction,
  type PayloadFormat,
} from './format.js';

/**
 * What sealing needs of one secret's keys. The key schedule (src/keys.ts `SecretKeys`) provides
 * it; declared here so the envelope, the lower layer, never imports the key schedule.
 */
export interface EnvelopeKeys {
  /** The key id bytes written into the header. */
  readonly keyId: Uint8Array;
  keyFor(direction: Direction): AeadKey;
}

/** Finds the keys for a key id read from an envelope (src/keys.ts `Keyring` is one). */
export interface KeyLookup {
  get(keyIdWord: number): EnvelopeKeys | undefined;
}

export interface SealParams {
  readonly backend: AeadBackend;
  readonly keys: EnvelopeKeys;
  readonly direction: Direction;
  readonly format: PayloadFormat;
  readonly plaintext: Uint8Array;
  /** Milliseconds since the epoch. */
  readonly timestamp: number;
  /** Authenticated, not sent. */
  readonly context?: Uint8Array | undefined;
  /** Only for test vectors: a fixed nonce. Reusing a nonce with one key breaks the cipher. */
  readonly nonce?: Uint8Array | undefined;
}

/**
 * The header being written. Reused across calls: every backend copies it into the envelope it
 * returns and keeps no reference, so one 39-byte array serves every seal.
 */
const headerScratch = new Uint8Array(HEADER_BYTES);

export function sealEnvelope(p: SealParams): Uint8Array {
  const header = headerScratch;
  writeHeader(header, p.direction, p.format, p.keys.keyId, p.timestamp);
  if (p.nonce === undefined) writeRandomNonce(header, NONCE_OFFSET);
  else {
    header.fill(0, NONCE_OFFSET); // a short test nonce is zero-padded, never mixed with the last one
    header.set(p.nonce.subarray(0, NONCE_BYTES), NONCE_OFFSET);
  }
  // The backend lays out header || ciphertext || tag in one pass (associated data: header || context).
  return p.backend.seal(header, NONCE_OFFSET, p.plaintext, p.context, p.keys.keyFor(p.direction));
}

export interface AuthenticateParams {
  readonly backend: AeadBackend;
  /** Finds the keys for an envelope's key id (an endpoint's `Keyring`). */
  readonly keyring: KeyLookup;
  /** The only direction this receiver accepts. */
  readonly direction: Direction;
  readonly maxEnvelopeBytes: number;
  readonly context?: Uint8Array | undefined;
}

/**
 * Checks an envelope's structure, direction and key id, then authenticates it; returns the
 * plaintext, or null when the tag does not verify (ERR_WA_FORGED for the caller to throw: a
 * flood of forgeries then costs one throw per envelope, not a throw and a rethrow; the second
 * cost a tenth of a 64-byte rejection, bench/rejection.ts). Every other rejection throws.
 * Header fields may be trusted only after this returns a plaintext.
 * Order (docs/PROTOCOL.md §4): size, version, structure, direction, key id, tag.
 */
export function authenticateEnvelope(envelope: Uint8Array, p: AuthenticateParams): Uint8Array | null {
  checkStructure(envelope, p.maxEnvelopeBytes);
  if (envelope[DIRECTION_OFFSET] !== p.direction) throw new WaTransportError(ErrorCode.WRONG_DIRECTION);
  const keys = p.keyring.get(readKeyIdWord(envelope));
  // The envelope's own key id and nothing else (docs/PROTOCOL.md §6): the message reaches
  // whoever sent the envelope, who must not learn which secrets this receiver holds.
  if (keys === undefined) throw new WaTransportError(ErrorCode.UNKNOWN_KEY, `key id ${keyIdHex(envelope)}`);
  // Associated data: header || context; the context is authenticated but never sent.
  return p.backend.open(envelope, HEADER_BYTES, NONCE_OFFSET, p.context, keys.keyFor(p.direction));
}
