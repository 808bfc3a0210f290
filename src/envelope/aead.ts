/**
 * Sealing and authenticating one envelope: the AEAD step and nothing else. No clock, no
 * replay policy, no payload decoding: those belong to the endpoint (src/endpoint.ts).
 */
import type { AeadBackend } from '../crypto/sodium.js';
import { writeRandomNonce } from '../crypto/nonces.js';
import { ErrorCode, WaTransportError } from '../errors.js';
import type { Keyring, SecretKeys } from '../keys.js';
import {
  DIRECTION_OFFSET,
  HEADER_BYTES,
  NONCE_BYTES,
  NONCE_OFFSET,
  TAG_BYTES,
  checkStructure,
  keyIdHex,
  readKeyIdWord,
  writeHeader,
  type Direction,
  type PayloadFormat,
} from './format.js';

export interface SealParams {
  readonly backend: AeadBackend;
  readonly keys: SecretKeys;
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

export function sealEnvelope(p: SealParams): Uint8Array {
  const out = new Uint8Array(HEADER_BYTES + p.plaintext.length + TAG_BYTES);
  writeHeader(out, p.direction, p.format, p.keys.keyId, p.timestamp);
  if (p.nonce === undefined) writeRandomNonce(out, NONCE_OFFSET);
  else out.set(p.nonce.subarray(0, NONCE_BYTES), NONCE_OFFSET);
  const header = out.subarray(0, HEADER_BYTES);
  const sealed = p.backend.encrypt(
    p.plaintext,
    associatedData(header, p.context),
    out.subarray(NONCE_OFFSET, HEADER_BYTES),
    p.keys.keyFor(p.direction),
  );
  out.set(sealed, HEADER_BYTES);
  return out;
}

export interface AuthenticateParams {
  readonly backend: AeadBackend;
  readonly keyring: Keyring;
  /** The only direction this receiver accepts. */
  readonly direction: Direction;
  readonly maxEnvelopeBytes: number;
  readonly context?: Uint8Array | undefined;
}

/**
 * Checks an envelope's structure, direction and key id, then authenticates it; returns the
 * plaintext. Header fields may be trusted only after this returns.
 * Order (docs/PROTOCOL.md §4): size, version, structure, direction, key id, tag.
 */
export function authenticateEnvelope(envelope: Uint8Array, p: AuthenticateParams): Uint8Array {
  checkStructure(envelope, p.maxEnvelopeBytes);
  if (envelope[DIRECTION_OFFSET] !== p.direction) throw new WaTransportError(ErrorCode.WRONG_DIRECTION);
  const keys = p.keyring.get(readKeyIdWord(envelope));
  if (keys === undefined) {
    throw new WaTransportError(
      ErrorCode.UNKNOWN_KEY,
      `key id ${keyIdHex(envelope)}; configured: ${p.keyring.keyIds.join(', ')}`,
    );
  }
  const plaintext = p.backend.decrypt(
    envelope.subarray(HEADER_BYTES),
    associatedData(envelope.subarray(0, HEADER_BYTES), p.context),
    envelope.subarray(NONCE_OFFSET, HEADER_BYTES),
    keys.keyFor(p.direction),
  );
  if (plaintext === null) throw new WaTransportError(ErrorCode.FORGED);
  return plaintext;
}

/** header || context: the context is authenticated but never sent. */
function associatedData(header: Uint8Array, context: Uint8Array | undefined): Uint8Array {
  if (context === undefined || context.length === 0) return header;
  const ad = new Uint8Array(header.length + context.length);
  ad.set(header, 0);
  ad.set(context, header.length);
  return ad;
}
