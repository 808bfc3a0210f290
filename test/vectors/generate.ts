/**
 * Writes test/vectors/envelope-v1.json: fixed secret, clock and nonce → exact bytes.
 * The vectors pin wire format version 1; regenerate them only for a new version:
 *   npx tsx test/vectors/generate.ts
 */
import { writeFileSync } from 'node:fs';
import { sodiumReady } from '../../src/crypto/ready.js';
import { wasmBackend } from '../../src/crypto/wasm.js';
import { blake2b, deriveSubkey } from '../../src/crypto/kdf.js';
import { Direction, PayloadFormat } from '../../src/envelope/format.js';
import { SecretKeys, secretBytes } from '../../src/keys.js';
import { encodeMsgpack } from '../../src/payload.js';
import { rejectionContext, requestContext, responseContext } from '../../src/transport/http-binding.js';
import { frameContext, helloContext, helloRefusalContext, welcomeContext } from '../../src/transport/ws-protocol.js';
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

// The text form (PROTOCOL §2): the first envelope, and strings that MUST be refused.
const text = Buffer.from(envelopes[0]!.envelopeHex, 'hex').toString('base64url');
const textForm = {
  valid: [{ text, envelopeHex: envelopes[0]!.envelopeHex }],
  invalid: [
    { name: 'padding', text: `${text}=`, code: 'ERR_WA_MALFORMED' },
    {
      name: 'standard base64 alphabet',
      text: text.replaceAll('-', '+').replaceAll('_', '/').replace(/^./, '+'),
      code: 'ERR_WA_MALFORMED',
    },
    { name: 'whitespace', text: `${text.slice(0, 10)} ${text.slice(10)}`, code: 'ERR_WA_MALFORMED' },
    {
      name: 'length 1 mod 4',
      text: `${text}A`.slice(0, text.length - (text.length % 4) + 1),
      code: 'ERR_WA_MALFORMED',
    },
    {
      name: 'non-zero unused bits',
      text: text.slice(0, -1) + nonCanonicalLast(text.at(-1)!),
      code: 'ERR_WA_MALFORMED',
    },
  ],
};
function nonCanonicalLast(last: string): string {
  const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';
  return alphabet[alphabet.indexOf(last) + 1]!;
}

// Contexts of the transports (PROTOCOL §8): the exact bytes an implementation binds.
const requestNonce = nonce(9);
const connectionId = Buffer.from(nonce(10)).toString('base64url');
const contexts = [
  {
    name: 'HTTP request',
    inputs: 'POST /v1/messages?dry=1',
    contextHex: hex(utf8(requestContext('POST', '/v1/messages?dry=1'))),
  },
  {
    name: 'HTTP response, 200',
    inputs: `200, request nonce ${hex(requestNonce)}`,
    contextHex: hex(responseContext(200, requestNonce)),
  },
  {
    name: 'HTTP rejection, 409',
    inputs: `409, request nonce ${hex(requestNonce)}`,
    contextHex: hex(rejectionContext(409, requestNonce)),
  },
  { name: 'WebSocket hello', inputs: '/ws?v=1', contextHex: hex(utf8(helloContext('/ws?v=1'))) },
  { name: 'WebSocket welcome', inputs: connectionId, contextHex: hex(utf8(welcomeContext(connectionId))) },
  { name: 'WebSocket frame c2s 0', inputs: connectionId, contextHex: hex(utf8(frameContext(connectionId, 'c2s', 0))) },
  {
    name: 'WebSocket frame s2c 12',
    inputs: connectionId,
    contextHex: hex(utf8(frameContext(connectionId, 's2c', 12))),
  },
  {
    name: 'WebSocket refusal, 503',
    inputs: connectionId,
    contextHex: hex(utf8(helloRefusalContext(connectionId, 503))),
  },
];

// A request sealed with a request id (PROTOCOL §4.4): the id binds into the context.
const requestIdBytes = new Uint8Array(24);
new DataView(requestIdBytes.buffer).setBigUint64(0, 1_700_000_000_000n);
requestIdBytes.set(nonce(11).subarray(0, 16), 8);
const requestId = Buffer.from(requestIdBytes).toString('base64url');
const withId: Case = {
  name: 'HTTP request with a request id',
  secret: SECRET,
  direction: Direction.WEBAPP_TO_COREAPP,
  format: PayloadFormat.MSGPACK,
  value: { pay: 100 },
  plaintextHex: hex(encodeMsgpack({ pay: 100 })),
  context: `${requestContext('POST', '/v1/pay')}\n${requestId}`,
  timestamp: 1_700_000_000_500,
  nonceHex: hex(nonce(12)),
};
const requestIds = [
  {
    requestId,
    issuedAt: 1_700_000_000_000,
    keyHex: hex(requestIdBytes.subarray(8)),
    envelope: { ...withId, envelopeHex: hex(sealVector(withId, wasmBackend)) },
  },
];

// Payloads (PROTOCOL §5): plaintexts of format 0x00, admitted (with the value) or refused.
const payloads = {
  admitted: [
    { name: 'depth 64, innermost empty', plaintextHex: '91'.repeat(63) + '90' },
    { name: 'uint64 2^53 - 1', plaintextHex: 'cf001fffffffffffff', value: 2 ** 53 - 1 },
    { name: 'timestamp 96, 999999999 ns', plaintextHex: 'c70cff3b9ac9ff0000000000000001' },
    { name: 'UTF-8 string', plaintextHex: hex(encodeMsgpack('é€😀')), value: 'é€😀' },
  ],
  refused: [
    { name: 'depth 65, innermost empty', plaintextHex: '91'.repeat(64) + '90' },
    { name: 'depth 66', plaintextHex: '91'.repeat(66) + 'c0' },
    { name: 'uint64 2^53', plaintextHex: 'cf0020000000000000' },
    { name: 'timestamp 96, 10^9 ns', plaintextHex: 'c70cff3b9aca000000000000000001' },
    { name: 'timestamp 64 in an ext8', plaintextHex: 'c708ff0000000000000001' },
    { name: 'string with an invalid UTF-8 byte', plaintextHex: 'a1ff' },
    { name: 'string holding a UTF-16 surrogate', plaintextHex: 'a3eda080' },
    { name: 'map key __proto__', plaintextHex: '81a95f5f70726f746f5f5fc0' },
    { name: 'map key that is an array', plaintextHex: '8190c0' },
    { name: 'another extension type', plaintextHex: 'd40100' },
    { name: 'declared length beyond the bytes', plaintextHex: 'a5616263' },
    { name: 'trailing byte', plaintextHex: 'c0c0' },
    { name: 'empty (format 0x00 with zero bytes)', plaintextHex: '' },
    { name: 'ext16', plaintextHex: 'c80001ff00' },
    { name: 'fixext2', plaintextHex: 'd5ff0000' },
    { name: 'the never-used byte 0xc1', plaintextHex: 'c1' },
    { name: 'map key that is a boolean', plaintextHex: '81c3c0' },
    { name: 'amplification: 4,681 empty maps in 4,684 bytes', plaintextHex: 'dc1249' + '80'.repeat(4681) },
  ],
};
payloads.admitted.push({
  name: 'amplification limit: 4,680 empty maps in 4,683 bytes',
  plaintextHex: 'dc1248' + '80'.repeat(4680),
});
// Too large to write out: the plaintext is `prefixHex` then `repeatHex` `times` times.
const largePayloads = {
  admitted: [
    {
      name: 'values limit: an array of 1,048,575 nils (1,048,576 values)',
      prefixHex: 'dd000fffff',
      repeatHex: 'c0',
      times: 1_048_575,
    },
  ],
  refused: [
    {
      name: 'values limit: an array of 1,048,576 nils (1,048,577 values)',
      prefixHex: 'dd00100000',
      repeatHex: 'c0',
      times: 1_048_576,
    },
  ],
};

// Secrets (PROTOCOL §3.1) that MUST be refused, each breaking one rule only, with its code.
const RANDOM_43 = 'Q2hhbmdlIHRoaXMgc2VjcmV0OiBpdCBpcyBwdWJsaXNo';
const secrets = {
  refused: [
    { name: '31 bytes', secret: RANDOM_43.slice(0, 31), code: 'ERR_WA_WEAK_SECRET' },
    { name: 'a trailing newline', secret: `${RANDOM_43}\n`, code: 'ERR_WA_CONFIG' },
    { name: 'a leading space', secret: ` ${RANDOM_43}`, code: 'ERR_WA_CONFIG' },
    {
      name: 'a zero-width space inside',
      secret: `${RANDOM_43.slice(0, 20)}\u200b${RANDOM_43.slice(20)}`,
      code: 'ERR_WA_CONFIG',
    },
    {
      name: 'a repeated unit, partial last copy',
      secret: 'Zt3kP1Yw0uV9qR2sN8mL'.repeat(3).slice(0, 50),
      code: 'ERR_WA_WEAK_SECRET',
    },
    {
      name: 'chosen text',
      secret: 'the quick brown fox jumps over the lazy dog, and again',
      code: 'ERR_WA_WEAK_SECRET',
    },
    { name: 'published (the first vector secret)', secret: SECRET, code: 'ERR_WA_WEAK_SECRET' },
  ],
};

writeFileSync(
  new URL('./envelope-v1.json', import.meta.url),
  JSON.stringify(
    {
      version: 1,
      description: 'wa-transport envelope v1 test vectors (docs/PROTOCOL.md §7)',
      keys,
      envelopes,
      invalid,
      textForm,
      contexts,
      requestIds,
      payloads,
      largePayloads,
      secrets,
    },
    null,
    2,
  ) + '\n',
);
console.log(
  `wrote ${envelopes.length} envelopes, ${invalid.length} invalid cases, and the text, context, request-id and payload sections`,
);
