/**
 * Writes test/vectors/envelope-v1.json: fixed secret, clock and nonce → exact bytes.
 * The vectors pin wire format version 1; regenerate them only for a new version:
 *   npx tsx test/vectors/generate.ts
 */
import { writeFileSync } from 'node:fs';
import { sodiumReady, wasmBackend, blake2b, deriveSubkey } from '../../src/crypto/sodium.js';
import { Direction, PayloadFormat } from '../../src/envelope/format.js';
import { SecretKeys, secretBytes } from '../../src/keys.js';
import { encodeMsgpack } from '../../src/payload.js';
import { type EnvelopeVector, sealVector } from './envelope-v1.js';

await sodiumReady();

const hex = (b: Uint8Array) => Buffer.from(b).toString('hex');
const SECRET = 'wa-transport test vector secret: 0123456789abcdefghijklmnopqrstuvwxyz';
const ROTATED_SECRET = 'Zt3kP1Yw0uV9qR2sN8mL4jH6gF5dS7aQ1xC3vB9nM0o';

type Case = Omit<EnvelopeVector, 'envelopeHex'>;

const nonce = (seed: number) => Uint8Array.from({ length: 24 }, (_, i) => (seed + i * 7) & 0xff);
const utf8 = (s: string) => new TextEncoder().encode(s);

const cases: Case[] = [
  {
    name: 'msgpack request, no context',
    secret: SECRET,
    direction: Direction.WEBAPP_TO_COREAPP,
    format: PayloadFormat.MSGPACK,
    value: { hello: 'world', n: 42 },
    plaintextHex: hex(encodeMsgpack({ hello: 'world', n: 42 })),
    context: '',
    timestamp: 1_700_000_000_000,
    nonceHex: hex(nonce(1)),
  },
  {
    name: 'msgpack request bound to a route',
    secret: SECRET,
    direction: Direction.WEBAPP_TO_COREAPP,
    format: PayloadFormat.MSGPACK,
    value: ['send', { to: '+15550100', body: 'hi' }],
    plaintextHex: hex(encodeMsgpack(['send', { to: '+15550100', body: 'hi' }])),
    context: 'POST /v1/messages?dry=1',
    timestamp: 1_700_000_000_123,
    nonceHex: hex(nonce(2)),
  },
  {
    name: 'raw bytes response',
    secret: SECRET,
    direction: Direction.COREAPP_TO_WEBAPP,
    format: PayloadFormat.BYTES,
    plaintextHex: '000102030405060708090a0b0c0d0e0fff',
    context: 'reply',
    timestamp: 1_700_000_001_000,
    nonceHex: hex(nonce(3)),
  },
  {
    name: 'empty raw payload',
    secret: SECRET,
    direction: Direction.COREAPP_TO_WEBAPP,
    format: PayloadFormat.BYTES,
    plaintextHex: '',
    context: '',
    timestamp: 1_700_000_002_000,
    nonceHex: hex(nonce(4)),
  },
  {
    name: 'another secret (rotation)',
    secret: ROTATED_SECRET,
    direction: Direction.WEBAPP_TO_COREAPP,
    format: PayloadFormat.MSGPACK,
    value: null,
    plaintextHex: hex(encodeMsgpack(null)),
    context: '',
    timestamp: 1_700_000_003_000,
    nonceHex: hex(nonce(5)),
  },
];

const keys = [SECRET, ROTATED_SECRET].map((secret) => {
  const root = blake2b(32, secretBytes(secret), utf8('wa-transport/v1 root key'));
  return {
    secret,
    rootHex: hex(root),
    keyIdHex: new SecretKeys(secretBytes(secret)).keyIdHex,
    webappToCoreappKeyHex: hex(deriveSubkey(32, 1, 'WAw2c_v1', root)),
    coreappToWebappKeyHex: hex(deriveSubkey(32, 1, 'WAc2w_v1', root)),
  };
});

const envelopes = cases.map((c) => ({ ...c, envelopeHex: hex(sealVector(c, wasmBackend)) }));

// Each invalid vector starts from the first envelope; `code` is what a CoreApp holding SECRET
// (clock = the envelope's timestamp) must answer.
const base = Buffer.from(envelopes[0]!.envelopeHex, 'hex');
const withByte = (at: number, value: number) => {
  const b = Buffer.from(base);
  b[at] = value;
  return b.toString('hex');
};
const flip = (at: number) => withByte(at, base[at]! ^ 0x01);
const invalid = [
  { name: 'empty', envelopeHex: '', code: 'ERR_WA_MALFORMED' },
  { name: 'truncated to the header', envelopeHex: base.subarray(0, 39).toString('hex'), code: 'ERR_WA_MALFORMED' },
  { name: 'version 2', envelopeHex: withByte(0, 2), code: 'ERR_WA_UNSUPPORTED_VERSION' },
  { name: 'direction byte 3', envelopeHex: withByte(1, 3), code: 'ERR_WA_MALFORMED' },
  { name: 'format byte 2', envelopeHex: withByte(2, 2), code: 'ERR_WA_MALFORMED' },
  { name: 'key id changed', envelopeHex: flip(3), code: 'ERR_WA_UNKNOWN_KEY' },
  { name: 'timestamp changed', envelopeHex: flip(14), code: 'ERR_WA_FORGED' },
  { name: 'nonce changed', envelopeHex: flip(20), code: 'ERR_WA_FORGED' },
  { name: 'ciphertext changed', envelopeHex: flip(39), code: 'ERR_WA_FORGED' },
  { name: 'tag changed', envelopeHex: flip(base.length - 1), code: 'ERR_WA_FORGED' },
  { name: 'sealed for the other direction', envelopeHex: envelopes[2]!.envelopeHex, code: 'ERR_WA_WRONG_DIRECTION' },
];

writeFileSync(
  new URL('./envelope-v1.json', import.meta.url),
  JSON.stringify({ version: 1, description: 'wa-transport envelope v1 test vectors (docs/PROTOCOL.md §7)', keys, envelopes, invalid }, null, 2) + '\n',
);
console.log(`wrote ${envelopes.length} envelopes, ${invalid.length} invalid cases`);
