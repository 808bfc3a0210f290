import { beforeAll, describe, expect, it } from 'vitest';
import { blake2b, deriveSubkey, sodiumReady, wasmBackend } from '../src/crypto/sodium.js';
import { Direction } from '../src/envelope/format.js';
import { createEndpoint } from '../src/index.js';
import { SecretKeys, secretBytes } from '../src/keys.js';
import { sealVector, vectors } from './vectors/envelope-v1.js';

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

  it.each(vectors.envelopes)('opens "$name" to its payload', async (v) => {
    const receiver = await createEndpoint({
      role: v.direction === Direction.WEBAPP_TO_COREAPP ? 'coreapp' : 'webapp',
      secret: v.secret,
      clock: () => v.timestamp,
    });
    const opened = await receiver.open(fromHex(v.envelopeHex), { context: v.context });
    if ('value' in v) expect(opened.payload).toEqual(v.value);
    else expect(hex(opened.payload as Uint8Array)).toBe(v.plaintextHex);
    expect(opened.timestamp).toBe(v.timestamp);
    expect(hex(opened.nonce)).toBe(v.nonceHex);
  });

  it.each(vectors.invalid)('rejects "$name" with $code', async (v) => {
    const receiver = await createEndpoint({
      role: 'coreapp',
      secret: vectors.keys[0]!.secret,
      clock: () => vectors.envelopes[0]!.timestamp,
    });
    await expect(receiver.open(fromHex(v.envelopeHex))).rejects.toMatchObject({ code: v.code });
  });
});
