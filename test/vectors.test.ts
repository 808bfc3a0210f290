import { beforeAll, describe, expect, it } from 'vitest';
import { blake2b, deriveSubkey, sodiumReady, wasmBackend } from '../src/crypto/sodium.js';
import { Direction } from '../src/envelope/format.js';
import { ErrorCode, createEndpoint } from '../src/index.js';
import { SecretKeys, secretBytes } from '../src/keys.js';
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
    const payload = openVector(fromHex(v.envelopeHex), { secret: v.secret, direction: v.direction, context: v.context, backend: wasmBackend });
    if ('value' in v) expect(payload).toEqual(v.value);
    else expect(hex(payload as Uint8Array)).toBe(v.plaintextHex);
  });

  it.each(vectors.invalid)('rejects "$name" with $code', (v) => {
    const first = vectors.envelopes[0]!;
    expect(() => openVector(fromHex(v.envelopeHex), { secret: first.secret, direction: Direction.WEBAPP_TO_COREAPP, backend: wasmBackend })).toThrow(
      expect.objectContaining({ code: v.code }),
    );
  });

  it('their secrets are published, so no endpoint accepts them', async () => {
    for (const { secret } of vectors.keys) {
      await expect(createEndpoint({ role: 'coreapp', secret })).rejects.toMatchObject({ code: ErrorCode.WEAK_SECRET });
    }
  });
});
