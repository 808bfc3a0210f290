/** The pinned v1 vectors (envelope-v1.json), typed, for every test that checks against them. */
import { readFileSync } from 'node:fs';
import type { AeadBackend } from '../../src/crypto/sodium.js';
import { sealEnvelope } from '../../src/envelope/aead.js';
import type { Direction, PayloadFormat } from '../../src/envelope/format.js';
import { SecretKeys, secretBytes } from '../../src/keys.js';

export type EnvelopeVector = Vectors['envelopes'][number];

export interface Vectors {
  keys: Array<{ secret: string; rootHex: string; keyIdHex: string; webappToCoreappKeyHex: string; coreappToWebappKeyHex: string }>;
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
