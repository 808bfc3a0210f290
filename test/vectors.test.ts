import { readFileSync } from 'node:fs';
import { Ajv } from 'ajv';
import { beforeAll, describe, expect, it } from 'vitest';
import { blake2b, deriveSubkey } from '../src/crypto/kdf.js';
import { sodiumReady } from '../src/crypto/ready.js';
import { wasmBackend } from '../src/crypto/wasm.js';
import { Direction } from '../src/envelope/format.js';
import { ErrorCode, createEndpoint } from '../src/index.js';
import { SecretKeys, checkSecretStrength, secretBytes } from '../src/keys.js';
import { fromText, toText } from '../src/envelope/text.js';
import { parseRequestId } from '../src/envelope/request-id.js';
import { checkMsgpack, decodeMsgpack } from '../src/payload.js';
import { rejectionContext, requestContext, responseContext } from '../src/transport/http-binding.js';
import { frameContext, helloContext, helloRefusalContext, welcomeContext } from '../src/transport/ws-protocol.js';
import { openVector, sealVector, vectors } from './vectors/envelope-v1.js';

const fromHex = (h: string) => new Uint8Array(Buffer.from(h, 'hex'));
const hex = (b: Uint8Array) => Buffer.from(b).toString('hex');
const utf8 = (s: string) => new TextEncoder().encode(s);

beforeAll(() => sodiumReady());

describe('test vectors (docs/PROTOCOL.md §7)', () => {
  it.each(vectors.keys)('derives the key schedule of $keyIdHex', (k) => {
    const root = blake2b(32, secretBytes(k.secret), utf8('wa-transport/v1 root key'));
    expect(hex(root)).toBe(k.rootHex);
    expect(new SecretKeys(secretBytes(k.secret)).keyIdHex).toBe(k.keyIdHex);
    expect(hex(deriveSubkey(32, 1, 'WAw2c_v1', root))).toBe(k.webappToCoreappKeyHex);
    expect(hex(deriveSubkey(32, 1, 'WAc2w_v1', root))).toBe(k.coreappToWebappKeyHex);
    const keys = new SecretKeys(secretBytes(k.secret));
    expect(hex(keys.keyFor(Direction.WEBAPP_TO_COREAPP))).toBe(k.webappToCoreappKeyHex);
    expect(hex(keys.keyFor(Direction.COREAPP_TO_WEBAPP))).toBe(k.coreappToWebappKeyHex);
  });

  it.each(vectors.envelopes)('seals "$name" to the pinned bytes', (v) => {
    expect(hex(sealVector(v, wasmBackend))).toBe(v.envelopeHex);
  });

  it.each(vectors.envelopes)('opens "$name" to its payload', (v) => {
    const payload = openVector(fromHex(v.envelopeHex), {
      secret: v.secret,
      direction: v.direction,
      context: v.context,
      backend: wasmBackend,
    });
    if ('value' in v) expect(payload).toEqual(v.value);
    else expect(hex(payload as Uint8Array)).toBe(v.plaintextHex);
  });

  it.each(vectors.invalid)('rejects "$name" with $code', (v) => {
    const first = vectors.envelopes[0]!;
    expect(() =>
      openVector(fromHex(v.envelopeHex), {
        secret: first.secret,
        direction: Direction.WEBAPP_TO_COREAPP,
        backend: wasmBackend,
      }),
    ).toThrow(expect.objectContaining({ code: v.code }));
  });

  it.each(vectors.textForm.valid)('reads the text form of an envelope', (v) => {
    expect(hex(fromText(v.text, 4 * 1024 * 1024))).toBe(v.envelopeHex);
    expect(toText(fromHex(v.envelopeHex))).toBe(v.text);
  });

  it.each(vectors.textForm.invalid)('refuses a text form with $name', (v) => {
    expect(() => fromText(v.text, 4 * 1024 * 1024)).toThrow(expect.objectContaining({ code: v.code }));
  });

  it.each(vectors.contexts)('binds the $name context byte for byte', (v) => {
    const [status, , , nonceHex] = v.inputs.split(/,? /);
    const built: Record<string, () => Uint8Array | string> = {
      'HTTP request': () => requestContext('POST', v.inputs.split(' ')[1]!),
      'HTTP response, 200': () => responseContext(Number(status), fromHex(nonceHex!)),
      'HTTP rejection, 409': () => rejectionContext(Number(status), fromHex(nonceHex!)),
      'WebSocket hello': () => helloContext(v.inputs),
      'WebSocket welcome': () => welcomeContext(v.inputs),
      'WebSocket frame c2s 0': () => frameContext(v.inputs, 'c2s', 0),
      'WebSocket frame s2c 12': () => frameContext(v.inputs, 's2c', 12),
      'WebSocket refusal, 503': () => helloRefusalContext(v.inputs, 503),
    };
    const context = built[v.name]!();
    expect(hex(typeof context === 'string' ? utf8(context) : context)).toBe(v.contextHex);
  });

  it.each(vectors.requestIds)('reads the request id, and an endpoint opens its envelope once', async (v) => {
    const id = parseRequestId(v.requestId);
    expect(id.issuedAt).toBe(v.issuedAt);
    expect(hex(id.key)).toBe(v.keyHex);
    const e = v.envelope;
    expect(hex(sealVector(e, wasmBackend))).toBe(e.envelopeHex);
    const payload = openVector(fromHex(e.envelopeHex), {
      secret: e.secret,
      direction: e.direction,
      context: e.context,
      backend: wasmBackend,
    });
    expect(payload).toEqual(e.value);
  });

  it.each(vectors.payloads.admitted)('admits the payload "$name"', (v) => {
    const decoded = decodeMsgpack(fromHex(v.plaintextHex));
    if ('value' in v) expect(decoded).toEqual(v.value);
  });

  it.each(vectors.payloads.refused)('refuses the payload "$name"', (v) => {
    expect(() => decodeMsgpack(fromHex(v.plaintextHex))).toThrow(expect.objectContaining({ code: ErrorCode.PAYLOAD }));
  });

  it.each([
    ...vectors.largePayloads.admitted.map((v) => ({ ...v, admitted: true })),
    ...vectors.largePayloads.refused.map((v) => ({ ...v, admitted: false })),
  ])('judges the large payload "$name"', (v) => {
    const plaintext = Buffer.concat([Buffer.from(v.prefixHex, 'hex'), Buffer.from(v.repeatHex.repeat(v.times), 'hex')]);
    expect(checkMsgpack(new Uint8Array(plaintext))).toBe(v.admitted);
  });

  it.each(vectors.secrets.refused)('refuses the secret with $name ($code)', (v) => {
    expect(() => checkSecretStrength(secretBytes(v.secret), 'WA_SECRET')).toThrow(
      expect.objectContaining({ code: v.code }),
    );
  });

  it('the file has the shape of its schema (test/vectors/envelope-v1.schema.json)', () => {
    const schema = JSON.parse(
      readFileSync(new URL('./vectors/envelope-v1.schema.json', import.meta.url), 'utf8'),
    ) as object;
    const validate = new Ajv({ allErrors: true, strict: true }).compile(schema);
    expect(validate(vectors), JSON.stringify(validate.errors)).toBe(true);
  });

  it('their secrets are published, so no endpoint accepts them', async () => {
    for (const { secret } of vectors.keys) {
      await expect(createEndpoint({ role: 'coreapp', secret })).rejects.toMatchObject({ code: ErrorCode.WEAK_SECRET });
    }
  });
});
