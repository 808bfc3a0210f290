/**
 * Known answers for XChaCha20-Poly1305: the test vector of draft-irtf-cfrg-xchacha-03,
 * appendix A.3.1, through @noble/ciphers, libsodium-wrappers' public API and every AEAD
 * backend (src/crypto/*); and the start-up self-test (src/crypto/self-test.ts) built on it.
 */
import { xchacha20poly1305 } from '@noble/ciphers/chacha.js';
import sodium from 'libsodium-wrappers';
import { afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import type { AeadBackend, AeadKey } from '../../src/crypto/aead.js';
import { loadNativeBackend } from '../../src/crypto/native.js';
import { SELF_TEST_VECTOR, selfTestBackend } from '../../src/crypto/self-test.js';
import { sodiumReady } from '../../src/crypto/ready.js';
import { wasmBackend } from '../../src/crypto/wasm.js';
import { wrappersBackend } from '../../src/crypto/wrappers.js';
import { ErrorCode } from '../../src/errors.js';

const fromHex = (h: string) => new Uint8Array(Buffer.from(h, 'hex'));
const hex = (b: Uint8Array) => Buffer.from(b).toString('hex');

/** draft-irtf-cfrg-xchacha-03 A.3.1, as published (ciphertext and tag printed separately). */
const A31 = {
  key: fromHex('808182838485868788898a8b8c8d8e8f909192939495969798999a9b9c9d9e9f') as AeadKey,
  nonce: fromHex('404142434445464748494a4b4c4d4e4f5051525354555657'),
  ad: fromHex('50515253c0c1c2c3c4c5c6c7'),
  plaintext: fromHex(
    '4c616469657320616e642047656e746c656d656e206f662074686520636c617373206f66202739393a204966204920636f756c64206f6666657220796f75206f6e6c79206f6e652074697020666f7220746865206675747572652c2073756e73637265656e20776f756c642062652069742e',
  ),
  ciphertext:
    'bd6d179d3e83d43b9576579493c0e939572a1700252bfaccbed2902c21396cbb731c7f1b0b4aa6440bf3a82f4eda7e39ae64c6708c54c216cb96b72e1213b4522f8c9ba40db5d945b11b69b982c1bb9e3f3fac2bc369488f76b2383565d3fff921f9664c97637da9768812f615c68b13b52e',
  tag: 'c0875924c1c7987947deafd8780acf49',
};

/**
 * The backend interface authenticates the prefix that carries the nonce, so through it the AD
 * is nonce ‖ A.3.1's AD: the ciphertext stays A.3.1's, the tag is the one noble computes.
 */
const prefixAd = new Uint8Array([...A31.nonce, ...A31.ad]);
const prefixTag = hex(xchacha20poly1305(A31.key, A31.nonce, prefixAd).encrypt(A31.plaintext).subarray(-16));

const backends: AeadBackend[] = [];

beforeAll(async () => {
  await sodiumReady();
  backends.push(wasmBackend, wrappersBackend);
  // Optional: rows for sodium-native only where its prebuild loads (as in backends.test.ts).
  const native = await loadNativeBackend();
  if (native !== undefined) backends.push(native);
});

describe('XChaCha20-Poly1305, draft-irtf-cfrg-xchacha-03 A.3.1', () => {
  it("the plaintext is the draft's sentence", () => {
    expect(new TextDecoder().decode(A31.plaintext)).toBe(
      "Ladies and Gentlemen of the class of '99: If I could offer you only one tip for the future, sunscreen would be it.",
    );
  });

  it('@noble/ciphers reproduces it and opens it', () => {
    const aead = xchacha20poly1305(A31.key, A31.nonce, A31.ad);
    expect(hex(aead.encrypt(A31.plaintext))).toBe(A31.ciphertext + A31.tag);
    expect(hex(aead.decrypt(fromHex(A31.ciphertext + A31.tag)))).toBe(hex(A31.plaintext));
  });

  it("libsodium-wrappers' public API reproduces it and opens it", () => {
    expect(
      hex(sodium.crypto_aead_xchacha20poly1305_ietf_encrypt(A31.plaintext, A31.ad, null, A31.nonce, A31.key)),
    ).toBe(A31.ciphertext + A31.tag);
    const opened = sodium.crypto_aead_xchacha20poly1305_ietf_decrypt(
      null,
      fromHex(A31.ciphertext + A31.tag),
      A31.ad,
      A31.nonce,
      A31.key,
    );
    expect(hex(opened)).toBe(hex(A31.plaintext));
  });

  it('every backend seals it to the published ciphertext, with the tag noble computes for its AD', () => {
    expect(backends.length).toBeGreaterThanOrEqual(2);
    for (const backend of backends) {
      const sealed = backend.seal(A31.nonce, 0, A31.plaintext, A31.ad, A31.key);
      expect(hex(sealed), backend.name).toBe(hex(A31.nonce) + A31.ciphertext + prefixTag);
    }
  });

  it('every backend opens it, and refuses it with any byte of the tag or ciphertext changed', () => {
    const sealed = fromHex(hex(A31.nonce) + A31.ciphertext + prefixTag);
    for (const backend of backends) {
      expect(hex(backend.open(sealed, 24, 0, A31.ad, A31.key)!), backend.name).toBe(hex(A31.plaintext));
      for (const at of [24, sealed.length - 17, sealed.length - 1]) {
        const forged = sealed.slice();
        forged[at]! ^= 0x80;
        expect(backend.open(forged, 24, 0, A31.ad, A31.key), `${backend.name} @${at}`).toBeNull();
      }
    }
  });

  it("the self-test's constant is this vector", () => {
    const v = SELF_TEST_VECTOR;
    expect([hex(v.key), hex(v.nonce), hex(v.ad), hex(v.plaintext), hex(v.ciphertext)]).toEqual([
      hex(A31.key),
      hex(A31.nonce),
      hex(A31.ad),
      hex(A31.plaintext),
      A31.ciphertext,
    ]);
    expect(hex(v.tag)).toBe(prefixTag);
  });
});

/** A real backend with one method replaced. */
const broken = (real: AeadBackend, change: Partial<Pick<AeadBackend, 'seal' | 'open'>>): AeadBackend => ({
  ...real,
  ...change,
});
const flipLastByte = (bytes: Uint8Array) => {
  const out = bytes.slice();
  out[out.length - 1]! ^= 1;
  return out;
};

describe('start-up self-test (src/crypto/self-test.ts)', () => {
  afterEach(() => {
    vi.doUnmock('../../src/crypto/wasm.js');
    vi.doUnmock('sodium-native');
    vi.resetModules();
    vi.restoreAllMocks();
  });

  it('passes every real backend', () => {
    for (const backend of backends) expect(() => selfTestBackend(backend)).not.toThrow();
  });

  it('refuses a backend that seals other bytes, opens nothing, accepts a forgery or throws', () => {
    const real = wasmBackend;
    const cases: Array<[AeadBackend, RegExp]> = [
      [broken(real, { seal: (...args) => flipLastByte(real.seal(...args)) }), /sealed bytes differ/],
      [broken(real, { open: () => null }), /does not open the known answer/],
      [broken(real, { open: () => SELF_TEST_VECTOR.plaintext.slice() }), /accepts a forged tag/],
      [
        broken(real, {
          seal: () => {
            throw new RangeError('layout changed');
          },
        }),
        /it threw/,
      ],
    ];
    for (const [backend, problem] of cases) {
      expect(() => selfTestBackend(backend)).toThrow(problem);
      expect(() => selfTestBackend(backend)).toThrow(/AEAD backend wasm failed its self-test/);
      try {
        selfTestBackend(backend);
      } catch (error) {
        expect(error).toMatchObject({ code: ErrorCode.CONFIG });
      }
    }
  });

  it('runs once per backend: later selections cost nothing', () => {
    const backend = broken(wrappersBackend, {});
    const seal = vi.spyOn(backend, 'seal');
    selfTestBackend(backend);
    selfTestBackend(backend);
    expect(seal).toHaveBeenCalledTimes(1);
  });

  it('makes selection and createEndpoint fail when the WASM backend is broken', async () => {
    vi.resetModules();
    vi.doMock('../../src/crypto/wasm.js', async (importOriginal) => {
      const real = (await importOriginal()) as typeof import('../../src/crypto/wasm.js');
      return {
        wasmBackend: broken(real.wasmBackend, { seal: (...args) => flipLastByte(real.wasmBackend.seal(...args)) }),
      };
    });
    const { selectBackend } = (await import(
      '../../src/crypto/select-backend.js'
    )) as typeof import('../../src/crypto/select-backend.js');
    await expect(selectBackend('wasm')).rejects.toMatchObject({
      code: ErrorCode.CONFIG,
      message: expect.stringMatching(/AEAD backend wasm failed its self-test/),
    });
    await expect(selectBackend('wrappers')).resolves.toMatchObject({ name: 'wrappers' });
    const { createEndpoint } = (await import('../../src/endpoint.js')) as typeof import('../../src/endpoint.js');
    await expect(
      createEndpoint({
        role: 'coreapp',
        secret: 'self-test secret: 0123456789abcdefghijklmnopqrstuvwxyz',
        backend: 'wasm',
      }),
    ).rejects.toMatchObject({
      code: ErrorCode.CONFIG,
    });
  });

  it("under 'auto', refuses a broken sodium-native rather than fall back silently", async (context) => {
    if (!backends.some((b) => b.name === 'native')) context.skip();
    vi.resetModules();
    vi.doMock('sodium-native', async () => {
      const specifier = 'sodium-native';
      const real = (await vi.importActual(specifier)) as { default: Record<string, (...args: Uint8Array[]) => number> };
      const sn = real.default;
      return {
        default: {
          ...sn,
          crypto_aead_xchacha20poly1305_ietf_encrypt: (c: Uint8Array, ...rest: Uint8Array[]) => {
            const length = sn['crypto_aead_xchacha20poly1305_ietf_encrypt']!(c, ...rest);
            c[0]! ^= 1;
            return length;
          },
        },
      };
    });
    const { selectBackend } = (await import(
      '../../src/crypto/select-backend.js'
    )) as typeof import('../../src/crypto/select-backend.js');
    await expect(selectBackend('auto')).rejects.toMatchObject({
      code: ErrorCode.CONFIG,
      message: expect.stringMatching(/AEAD backend native failed its self-test/),
    });
  });
});
