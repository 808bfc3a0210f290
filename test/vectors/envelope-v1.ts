/** The pinned v1 vectors (envelope-v1.json), typed, for every test that checks against them. */
import { readFileSync } from 'node:fs';
import type { AeadBackend } from '../../src/crypto/aead.js';
import { authenticateEnvelope, sealEnvelope } from '../../src/envelope/seal.js';
import { type Direction, FORMAT_OFFSET, PayloadFormat } from '../../src/envelope/format.js';
import { ErrorCode, WaTransportError } from '../../src/errors.js';
import { decodeMsgpack } from '../../src/payload.js';
import { type Keyring, SecretKeys, secretBytes } from '../../src/keys.js';

export type EnvelopeVector = Vectors['envelopes'][number];

export interface Vectors {
  keys: Array<{
    secret: string;
    rootHex: string;
    keyIdHex: string;
    webappToCoreappKeyHex: string;
    coreappToWebappKeyHex: string;
  }>;
  envelopes: Array<{
    name: string;
    secret: string;
    direction: Direction;
    format: PayloadFormat;
    plaintextHex: string;
    /** For msgpack cases: the value the plaintext encodes. */
    value?: unknown;
    context: string;
    timestamp: number;
    nonceHex: string;
    envelopeHex: string;
  }>;
  invalid: Array<{ name: string; envelopeHex: string; code: string }>;
  textForm: {
    valid: Array<{ text: string; envelopeHex: string }>;
    invalid: Array<{ name: string; text: string; code: string }>;
  };
  contexts: Array<{ name: string; inputs: string; contextHex: string }>;
  requestIds: Array<{ requestId: string; issuedAt: number; keyHex: string; envelope: EnvelopeVector }>;
  secrets: { refused: Array<{ name: string; secret: string; code: string }> };
  largePayloads: Record<
    'admitted' | 'refused',
    Array<{ name: string; prefixHex: string; repeatHex: string; times: number }>
  >;
  payloads: {
    admitted: Array<{ name: string; plaintextHex: string; value?: unknown }>;
    refused: Array<{ name: string; plaintextHex: string }>;
  };
}

export const vectors = JSON.parse(readFileSync(new URL('./envelope-v1.json', import.meta.url), 'utf8')) as Vectors;

/** Seals a vector's inputs (secret, direction, format, plaintext, timestamp, context, nonce). */
export function sealVector(v: Omit<EnvelopeVector, 'envelopeHex'>, backend: AeadBackend): Uint8Array {
  return sealEnvelope({
    backend,
    keys: new SecretKeys(secretBytes(v.secret)),
    direction: v.direction,
    format: v.format,
    plaintext: Buffer.from(v.plaintextHex, 'hex'),
    timestamp: v.timestamp,
    context: new TextEncoder().encode(v.context),
    nonce: Buffer.from(v.nonceHex, 'hex'),
  });
}

/**
 * The vectors' secrets are printed in this repository, so an endpoint refuses them
 * (src/keys.ts): a receiver for them is built from the key schedule directly.
 */
export function vectorKeyring(secret: string): Pick<Keyring, 'get'> {
  const keys = new SecretKeys(secretBytes(secret));
  return { get: (keyIdWord) => (keyIdWord === keys.keyIdWord ? keys : undefined) };
}

/**
 * Opens a vector as a receiver holding `secret` does with its clock at the vector's timestamp
 * (PROTOCOL §7): every check of §4.2 up to the tag, then the payload by its format. The time
 * and replay steps cannot fail at that clock for a first opening.
 */
export function openVector(
  envelope: Uint8Array,
  p: { secret: string; direction: Direction; context?: string; backend: AeadBackend },
): unknown {
  const plaintext = authenticateEnvelope(envelope, {
    backend: p.backend,
    keyring: vectorKeyring(p.secret),
    direction: p.direction,
    maxEnvelopeBytes: 4 * 1024 * 1024,
    context: p.context === undefined ? undefined : new TextEncoder().encode(p.context),
  });
  if (plaintext === null) throw new WaTransportError(ErrorCode.FORGED);
  return envelope[FORMAT_OFFSET] === PayloadFormat.BYTES ? plaintext : decodeMsgpack(plaintext);
}
