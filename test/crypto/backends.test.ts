/**
 * Every AEAD backend (src/crypto/*) computes the same XChaCha20-Poly1305: identical bytes,
 * each opens the others' envelopes, each rejects what is forged, each reproduces the pinned
 * vectors. `wrappers` (libsodium-wrappers' public API) is the reference.
 */
import fc from 'fast-check';
import { afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import {
  AUTO_NATIVE_MIN_BYTES,
  type BackendChoice,
  type BackendPreference,
  selectBackend,
} from '../../src/crypto/select-backend.js';
import type { AeadBackend, AeadKey } from '../../src/crypto/aead.js';
import { authenticateEnvelope } from '../../src/envelope/seal.js';
import { Direction, HEADER_BYTES, NONCE_OFFSET } from '../../src/envelope/format.js';
import { createEndpoint } from '../../src/endpoint.js';
import { ErrorCode } from '../../src/errors.js';
import { generateSecret } from '../../src/keys.js';
import { openVector, sealVector, vectorKeyring, vectors } from '../vectors/envelope-v1.js';

// 'auto' seals and opens with 'wasm' or 'native' by size: the properties below span its crossover.
const NAMES = ['wasm', 'native', 'wrappers', 'auto'] as const satisfies readonly BackendChoice[];
const backends: AeadBackend[] = [];
const hex = (b: Uint8Array) => Buffer.from(b).toString('hex');
const fromHex = (h: string) => new Uint8Array(Buffer.from(h, 'hex'));
const utf8 = (s: string) => new TextEncoder().encode(s);

beforeAll(async () => {
  for (const name of NAMES) {
    // sodium-native is a devDependency: if its prebuild cannot load here, the native rows are
    // skipped rather than failed (the library falls back to WASM the same way).
    const backend = await selectBackend(name).catch(() => undefined);
    if (backend !== undefined) backends.push(backend);
  }
});

const arbKey = fc.uint8Array({ minLength: 32, maxLength: 32 }).map((bytes) => bytes as AeadKey);
const arbHeader = fc.uint8Array({ minLength: HEADER_BYTES, maxLength: HEADER_BYTES });
const arbPlaintext = fc.uint8Array({ maxLength: 2048 });
const arbContext = fc.option(fc.uint8Array({ maxLength: 300 }), { nil: undefined });

describe('AEAD backends', () => {
  it('loads the native backend when sodium-native is installed', () => {
    expect(backends.map((b) => b.name)).toContain('wasm');
    expect(backends.map((b) => b.name)).toContain('wrappers');
    // Informative: on this project's dev setup sodium-native is installed and loads.
    expect(backends.map((b) => b.name)).toContain('native');
  });

  it('produce byte-identical output and open each other (property)', () => {
    fc.assert(
      fc.property(arbHeader, arbPlaintext, arbContext, arbKey, (header, plaintext, context, key) => {
        const sealed = backends.map((b) => b.seal(header, NONCE_OFFSET, plaintext, context, key));
        for (const s of sealed) expect(hex(s)).toBe(hex(sealed[0]!));
        expect(hex(sealed[0]!.subarray(0, HEADER_BYTES))).toBe(hex(header));
        expect(sealed[0]!.length).toBe(HEADER_BYTES + plaintext.length + 16);
        for (const opener of backends) {
          const opened = opener.open(sealed[0]!, HEADER_BYTES, NONCE_OFFSET, context, key);
          expect(opened).not.toBeNull();
          expect(hex(opened!)).toBe(hex(plaintext));
        }
      }),
      { numRuns: 150 },
    );
  });

  it('reject any flipped bit, another context and another key (property)', () => {
    fc.assert(
      fc.property(
        arbHeader,
        fc.uint8Array({ maxLength: 200 }),
        arbContext,
        arbKey,
        fc.nat(),
        fc.integer({ min: 0, max: 7 }),
        (header, plaintext, context, key, at, bit) => {
          const sealed = backends[0]!.seal(header, NONCE_OFFSET, plaintext, context, key);
          const forged = sealed.slice();
          forged[at % forged.length]! ^= 1 << bit;
          const otherKey = key.slice() as AeadKey;
          otherKey[at % 32]! ^= 1;
          const otherContext = context === undefined || context.length === 0 ? utf8('x') : context.slice(1);
          for (const b of backends) {
            expect(b.open(forged, HEADER_BYTES, NONCE_OFFSET, context, key)).toBeNull();
            expect(b.open(sealed, HEADER_BYTES, NONCE_OFFSET, context, otherKey)).toBeNull();
            expect(b.open(sealed, HEADER_BYTES, NONCE_OFFSET, otherContext, key)).toBeNull();
          }
        },
      ),
      { numRuns: 150 },
    );
  });

  it('answer null, never throw, on truncated input or bad sizes', () => {
    const key = new Uint8Array(32).fill(7) as AeadKey;
    const header = new Uint8Array(HEADER_BYTES).fill(3);
    for (const b of backends) {
      const sealed = b.seal(header, NONCE_OFFSET, utf8('hello'), undefined, key);
      for (const length of [0, 1, HEADER_BYTES, HEADER_BYTES + 15, sealed.length - 1]) {
        expect(b.open(sealed.subarray(0, length), HEADER_BYTES, NONCE_OFFSET, undefined, key)).toBeNull();
      }
      expect(b.open(sealed, HEADER_BYTES, NONCE_OFFSET, undefined, key.subarray(0, 31) as AeadKey)).toBeNull();
      expect(b.open(sealed, HEADER_BYTES, HEADER_BYTES - 23, undefined, key)).toBeNull();
      expect(() => b.seal(header, NONCE_OFFSET, utf8('x'), undefined, key.subarray(0, 16) as AeadKey)).toThrow();
    }
  });

  it('agree across the sizes where buffers are pooled, grown or reallocated', () => {
    const key = new Uint8Array(32).map((_, i) => i) as AeadKey;
    const header = new Uint8Array(HEADER_BYTES).map((_, i) => 255 - i);
    // 2 KiB is the envelope pool's limit, 64 KiB the WASM scratch's first size, 300 B the context area's;
    // 4 KiB of MAC input the native tag check's one-call limit (a 5000-byte context outgrows it).
    const sizes = [0, 1, 25, 2048 - HEADER_BYTES - 16, 2048, 4096 - 64 - 16, 4096 - 64, 65_536, 65_536 + 1, 1 << 20];
    for (const [i, size] of sizes.entries()) {
      const plaintext = new Uint8Array(size).map((_, i) => (i * 31) & 0xff);
      const context = new Uint8Array(i === 3 ? 5000 : size % 600).fill(9);
      const sealed = backends.map((b) => b.seal(header, NONCE_OFFSET, plaintext, context, key));
      for (const s of sealed) expect(hex(s)).toBe(hex(sealed[0]!));
      for (const b of backends) {
        expect(hex(b.open(sealed[0]!, HEADER_BYTES, NONCE_OFFSET, context, key)!)).toBe(hex(plaintext));
      }
    }
  });

  it('return arrays that later calls never overwrite', () => {
    const key = new Uint8Array(32).fill(1) as AeadKey;
    const header = new Uint8Array(HEADER_BYTES);
    for (const b of backends) {
      const first = b.seal(header, NONCE_OFFSET, utf8('first message'), undefined, key);
      const firstHex = hex(first);
      const opened = b.open(first, HEADER_BYTES, NONCE_OFFSET, undefined, key)!;
      for (let i = 0; i < 50; i++) {
        const other = b.seal(header, NONCE_OFFSET, new Uint8Array(100).fill(i), undefined, key);
        b.open(other, HEADER_BYTES, NONCE_OFFSET, undefined, key);
      }
      expect(hex(first)).toBe(firstHex);
      expect(new TextDecoder().decode(opened)).toBe('first message');
      // The plaintext is no view into the WASM heap, nor into the envelopes' pool (whose
      // `.buffer` callers are given): at most into a pool of plaintexts (src/crypto/bytes.ts).
      expect(opened.buffer).not.toBe(first.buffer);
      expect(opened.buffer.byteLength).toBeLessThanOrEqual(32 * 1024);
    }
  });
});

describe('pinned vectors (test/vectors/envelope-v1.json) on every backend', () => {
  it('every backend seals every vector to its pinned bytes and opens it', () => {
    for (const backend of backends) {
      for (const v of vectors.envelopes) {
        expect(hex(sealVector(v, backend)), `${backend.name}: ${v.name}`).toBe(v.envelopeHex);
        const plaintext = authenticateEnvelope(fromHex(v.envelopeHex), {
          backend,
          keyring: vectorKeyring(v.secret),
          direction: v.direction,
          maxEnvelopeBytes: 1 << 20,
          context: utf8(v.context),
        });
        expect(hex(plaintext!), `${backend.name}: ${v.name}`).toBe(v.plaintextHex);
      }
    }
  });

  it('every backend opens the vectors and rejects the invalid ones with the pinned codes', () => {
    const first = vectors.envelopes[0]!;
    for (const backend of backends) {
      for (const v of vectors.envelopes) {
        const payload = openVector(fromHex(v.envelopeHex), {
          secret: v.secret,
          direction: v.direction,
          context: v.context,
          backend,
        });
        if (!('value' in v)) expect(hex(payload as Uint8Array)).toBe(v.plaintextHex);
      }
      for (const v of vectors.invalid) {
        expect(
          () =>
            openVector(fromHex(v.envelopeHex), {
              secret: first.secret,
              direction: Direction.WEBAPP_TO_COREAPP,
              backend,
            }),
          `${backend.name}: ${v.name}`,
        ).toThrow(expect.objectContaining({ code: v.code }));
      }
    }
  });
});

describe('endpoints on different backends', () => {
  it('talk to each other', async () => {
    const secret = generateSecret();
    // The wrappers reference is not offered to endpoints (src/crypto/select-backend.ts); the byte-level
    // tests above hold it to the others.
    const offered = backends.filter((b) => b.name !== 'wrappers');
    for (const a of offered) {
      for (const b of offered) {
        const web = await createEndpoint({ role: 'webapp', secret, backend: a.name as BackendPreference });
        const core = await createEndpoint({ role: 'coreapp', secret, backend: b.name as BackendPreference });
        const opened = await core.open(web.seal({ hello: a.name }, { context: 'POST /x' }), { context: 'POST /x' });
        expect(opened.payload).toEqual({ hello: a.name });
        const reply = await web.open(core.sealText(new Uint8Array([1, 2, 3])));
        expect(Array.from(reply.payload as Uint8Array)).toEqual([1, 2, 3]);
        await expect(core.open(web.seal('x'), { context: 'POST /y' })).rejects.toMatchObject({
          code: ErrorCode.FORGED,
        });
      }
    }
  });
});

describe('selectBackend', () => {
  afterEach(() => {
    vi.doUnmock('sodium-native');
    vi.resetModules();
  });

  it("picks native by size for 'auto' when it loads", async () => {
    expect((await selectBackend()).name).toBe(backends.some((b) => b.name === 'native') ? 'auto' : 'wasm');
  });

  it("'auto' passes each message to the faster backend for its size", async (context) => {
    const native = backends.find((b) => b.name === 'native');
    if (native === undefined) context.skip();
    const auto = await selectBackend('auto');
    const used: string[] = [];
    const spy = (b: AeadBackend) => {
      vi.spyOn(b, 'seal').mockImplementation(() => {
        used.push(`${b.name} seal`);
        return new Uint8Array(0);
      });
      vi.spyOn(b, 'open').mockImplementation(() => {
        used.push(`${b.name} open`);
        return null;
      });
    };
    const wasm = backends.find((b) => b.name === 'wasm')!;
    spy(wasm);
    spy(native!);
    try {
      const key = new Uint8Array(32) as AeadKey;
      const header = new Uint8Array(HEADER_BYTES);
      for (const size of [0, AUTO_NATIVE_MIN_BYTES - 1, AUTO_NATIVE_MIN_BYTES]) {
        auto.seal(header, NONCE_OFFSET, new Uint8Array(size), undefined, key);
        auto.open(new Uint8Array(HEADER_BYTES + size + 16), HEADER_BYTES, NONCE_OFFSET, undefined, key);
      }
    } finally {
      vi.restoreAllMocks();
    }
    expect(used).toEqual(['wasm seal', 'wasm open', 'wasm seal', 'wasm open', 'native seal', 'native open']);
  });

  it('falls back to WASM silently when sodium-native is absent, and refuses a forced native', async () => {
    vi.resetModules();
    vi.doMock('sodium-native', () => {
      throw new Error('Cannot find module sodium-native');
    });
    const fresh = (await import(
      '../../src/crypto/select-backend.js'
    )) as typeof import('../../src/crypto/select-backend.js');
    expect((await fresh.selectBackend('auto')).name).toBe('wasm');
    await expect(fresh.selectBackend('native')).rejects.toMatchObject({ code: ErrorCode.CONFIG });
  });

  it('refuses an unknown preference', async () => {
    await expect(selectBackend('fast' as BackendPreference)).rejects.toMatchObject({ code: ErrorCode.CONFIG });
  });
});

describe('the backends an endpoint may use', () => {
  it('are auto, native and wasm: the wrappers reference (slow to refuse forgeries) is refused', async () => {
    const secret = generateSecret();
    const options = { role: 'coreapp' as const, secret, backend: 'wrappers' as unknown as BackendPreference };
    await expect(createEndpoint(options)).rejects.toMatchObject({ code: ErrorCode.CONFIG });
  });
});
