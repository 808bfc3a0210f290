import { Writable } from 'node:stream';
import { inspect } from 'node:util';
import fc from 'fast-check';
import { pino } from 'pino';
import { describe, expect, it } from 'vitest';
import {
  createEndpoint,
  type EndpointOptions,
  generateSecret,
  ErrorCode,
  MemoryReplayStore,
  type ReplayStore,
  type RejectedEvent,
  type OpenedEvent,
} from '../src/index.js';
import { Endpoint } from '../src/endpoint.js';
import { MIN_ENVELOPE_BYTES } from '../src/protocol.js';
import { OTHER_SECRET, SECRET, outcome, pair } from './helpers.js';

const CODES = new Set<string>(Object.values(ErrorCode));

/** JSON-like values msgpack carries exactly (no -0, no "__proto__" keys). */
const plainValue = fc.jsonValue({ noUnicodeString: false }).filter((v) => !JSON.stringify(v).includes('"__proto__"'));
const normalise = (v: unknown) => JSON.parse(JSON.stringify(v)) as unknown;

describe('seal → open', () => {
  it('returns what was sealed, for any value and context', async () => {
    const { web, core } = await pair();
    await fc.assert(
      fc.asyncProperty(plainValue, fc.string(), async (value, context) => {
        const opened = await core.open(web.seal(value, { context }), { context });
        expect(normalise(opened.payload)).toEqual(normalise(value));
        expect(opened.keyId).toBe(core.keyId);
      }),
    );
  });

  it('binds a request id the same way whether the context is given as text or as its UTF-8 bytes', async () => {
    const { web, core } = await pair();
    const utf8 = new TextEncoder();
    await fc.assert(
      fc.asyncProperty(fc.string({ unit: 'grapheme' }), fc.boolean(), async (text, textFirst) => {
        const requestId = web.newRequestId();
        const [sealAs, openAs] = textFirst ? [text, utf8.encode(text)] : [utf8.encode(text), text];
        const opened = await core.open(web.seal(1, { context: sealAs, requestId }), { context: openAs, requestId });
        expect(opened.payload).toBe(1);
      }),
    );
  });

  it('keeps its context when encoding the payload runs a getter that seals under another', async () => {
    // Contexts are built in one reused array (src/envelope/context.ts): a nested seal must not
    // overwrite the outer one's.
    const { web, core } = await pair();
    const requestId = web.newRequestId();
    const payload = {
      get inner() {
        return web.seal('nested', { context: 'some other context', requestId: web.newRequestId() }).length;
      },
    };
    const sealed = web.seal(payload, { context: 'POST /outer', requestId });
    const opened = await core.open<{ inner: number }>(sealed, { context: 'POST /outer', requestId });
    expect(opened.payload.inner).toBeGreaterThan(0);
  });

  it('returns sealed bytes untouched, as bytes, for any bytes and binary context', async () => {
    const { web, core } = await pair();
    await fc.assert(
      fc.asyncProperty(fc.uint8Array({ maxLength: 2048 }), fc.uint8Array({ maxLength: 64 }), async (bytes, context) => {
        const opened = await core.open(web.seal(bytes, { context }), { context });
        expect(opened.payload).toBeInstanceOf(Uint8Array);
        expect(Buffer.from(opened.payload as Uint8Array).equals(Buffer.from(bytes))).toBe(true);
      }),
    );
  });

  it('carries dates, nested binary and undefined properties', async () => {
    const { web, core } = await pair();
    const value = { at: new Date(1_700_000_000_000), blob: new Uint8Array([1, 2, 3]), list: [null, true, 1.5] };
    expect((await core.open(web.seal(value))).payload).toEqual(value);
  });

  it('hands out no memory shared with other plaintexts: bytes payloads and binaries own their buffers', async () => {
    for (const backend of ['wasm', 'native', 'auto'] as const) {
      const { web, core } = await pair({ backend });
      const secret = new Uint8Array(100).fill(0x5a);
      core.openSync(web.seal(secret)); // another message's plaintext, in the pool before ours
      for (const size of [1, 65, 300, 2000, 5000]) {
        const bytes = core.openSync(web.seal(new Uint8Array(size).fill(1))).payload as Uint8Array;
        const sealed = web.seal({ blob: new Uint8Array(size).fill(2) });
        const { blob } = core.openSync<{ blob: Uint8Array }>(sealed).payload;
        for (const out of [bytes, blob]) {
          expect(out.byteOffset, `${backend} ${size}`).toBe(0);
          expect(out.buffer.byteLength, `${backend} ${size}`).toBe(size);
        }
      }
    }
  });

  it('works in the other direction and in text form', async () => {
    const { web, core } = await pair();
    const text = core.sealText({ ok: true });
    expect(text).toMatch(/^[A-Za-z0-9_-]+$/);
    expect((await web.open(text)).payload).toEqual({ ok: true });
  });

  it('openSync gives the same result with the in-memory store', async () => {
    const { web, core } = await pair();
    expect(core.openSync(web.seal([1, 2])).payload).toEqual([1, 2]);
    expect(() => core.openSync(web.seal(1, { context: 'a' }), { context: 'b' })).toThrow(
      expect.objectContaining({ code: ErrorCode.FORGED }),
    );
  });
});

describe('authentication', () => {
  it('rejects every single-bit flip of an envelope', async () => {
    const { web, core } = await pair();
    const envelope = web.seal({ transfer: 100 }, { context: 'POST /pay' });
    for (let bit = 0; bit < envelope.length * 8; bit++) {
      const tampered = envelope.slice();
      tampered[bit >> 3]! ^= 1 << (bit & 7);
      const code = await outcome(core.open(tampered, { context: 'POST /pay' }));
      expect(code).not.toBe('accepted');
      expect(CODES.has(code)).toBe(true);
    }
    // The original, untouched, is still accepted: the flips were rejected for their own sake.
    expect(await outcome(core.open(envelope, { context: 'POST /pay' }))).toBe('accepted');
  });

  it('rejects any truncation or extension', async () => {
    const { web, core } = await pair();
    await fc.assert(
      fc.asyncProperty(
        fc.uint8Array({ maxLength: 64 }),
        fc.oneof(
          fc.nat(200).map((n) => ({ cut: n })),
          fc.uint8Array({ minLength: 1, maxLength: 32 }).map((extra) => ({ extra })),
        ),
        async (payload, change) => {
          const envelope = web.seal(payload);
          const changed =
            'cut' in change
              ? envelope.subarray(0, Math.min(change.cut, envelope.length - 1))
              : Buffer.concat([envelope, change.extra]);
          const code = await outcome(core.open(changed));
          expect(code).not.toBe('accepted');
          expect(CODES.has(code)).toBe(true);
        },
      ),
    );
  });

  it('binds the context: an envelope for one route fails on another', async () => {
    const { web, core } = await pair();
    const envelope = web.seal({ id: 1 }, { context: 'POST /v1/messages' });
    expect(await outcome(core.open(envelope, { context: 'POST /v1/admin' }))).toBe(ErrorCode.FORGED);
    expect(await outcome(core.open(envelope))).toBe(ErrorCode.FORGED);
    expect(await outcome(core.open(envelope, { context: 'POST /v1/messages' }))).toBe('accepted');
  });

  it('refuses an envelope reflected back to its sender, even with the direction byte rewritten', async () => {
    const { web, core } = await pair();
    const request = web.seal('hi');
    expect(await outcome(web.open(request))).toBe(ErrorCode.WRONG_DIRECTION);
    const rewritten = request.slice();
    rewritten[1] = 0x02; // claim CoreApp → WebApp: the key and the associated data no longer match
    expect(await outcome(web.open(rewritten))).toBe(ErrorCode.FORGED);
    const reply = core.seal('hello');
    expect(await outcome(core.open(reply))).toBe(ErrorCode.WRONG_DIRECTION);
  });

  it('rejects a different secret as an unknown key', async () => {
    const { core } = await pair();
    const stranger = await createEndpoint({ role: 'webapp', secret: OTHER_SECRET });
    const error = await core.open(stranger.seal('x')).catch((e: unknown) => e);
    expect(error).toMatchObject({ code: ErrorCode.UNKNOWN_KEY });
    expect(String((error as Error).message)).toContain(stranger.keyId);
  });

  it("names only the envelope's key id when it is unknown, never the configured ones (PROTOCOL §6)", async () => {
    const rotating = await createEndpoint({ role: 'coreapp', secret: SECRET, previousSecrets: [OTHER_SECRET] });
    const stranger = await createEndpoint({ role: 'webapp', secret: generateSecret() });
    const error = await rotating.open(stranger.seal('x')).catch((e: unknown) => e);
    expect(error).toMatchObject({ code: ErrorCode.UNKNOWN_KEY });
    expect((error as Error).message).toBe(
      `envelope was sealed with a secret that is not configured: key id ${stranger.keyId}`,
    );
    for (const keyId of rotating.keyIds) expect((error as Error).message).not.toContain(keyId);
  });

  it('rejects non-envelopes of any type with ERR_WA_MALFORMED', async () => {
    const { core } = await pair();
    for (const input of [undefined, null, 42, {}, [], new ArrayBuffer(80), 'not base64!', '', new Uint8Array(0)]) {
      expect(await outcome(core.open(input as unknown as Uint8Array))).toBe(ErrorCode.MALFORMED);
    }
  });

  it('rejects random bytes of every length up to the limit + 1, never accepting', async () => {
    const { core } = await pair({ maxEnvelopeBytes: 512 });
    await fc.assert(
      fc.asyncProperty(fc.uint8Array({ maxLength: 513 }), async (bytes) => {
        const code = await outcome(core.open(bytes));
        expect(code).not.toBe('accepted');
        expect(CODES.has(code)).toBe(true);
      }),
    );
    expect(await outcome(core.open(new Uint8Array(513)))).toBe(ErrorCode.TOO_LARGE);
    expect(await outcome(core.open(new Uint8Array(MIN_ENVELOPE_BYTES - 1)))).toBe(ErrorCode.MALFORMED);
  });
});

describe('replay window', () => {
  it('rejects a replay within the window, and the same envelope as expired after it', async () => {
    const { web, core, clock } = await pair();
    const envelope = web.seal({ n: 1 });
    expect(await outcome(core.open(envelope))).toBe('accepted');
    clock.advance(9_999);
    expect(await outcome(core.open(envelope))).toBe(ErrorCode.REPLAYED);
    clock.advance(2);
    expect(await outcome(core.open(envelope))).toBe(ErrorCode.EXPIRED);
  });

  it('holds any replay, at any time inside the window', async () => {
    await fc.assert(
      fc.asyncProperty(fc.integer({ min: -10_000, max: 10_000 }), fc.nat(20_000), async (sentOffset, later) => {
        const { web, core, clock } = await pair();
        clock.advance(sentOffset); // sealed while the sender's clock reads this
        const envelope = web.seal(null);
        clock.advance(-sentOffset);
        const first = await outcome(core.open(envelope));
        expect(first).toBe('accepted'); // |offset| ≤ 10 s: inside window and skew
        clock.advance(later);
        expect(await outcome(core.open(envelope))).not.toBe('accepted');
      }),
      { numRuns: 50 },
    );
  });

  it('accepts the window and skew edges exactly, and rejects one millisecond beyond', async () => {
    const cases: Array<[number, string]> = [
      [-10_000, 'accepted'],
      [-10_001, ErrorCode.EXPIRED],
      [10_000, 'accepted'],
      [10_001, ErrorCode.FUTURE],
    ];
    for (const [offset, expected] of cases) {
      const { web, core, clock } = await pair();
      clock.advance(offset);
      const envelope = web.seal(1);
      clock.advance(-offset);
      expect(await outcome(core.open(envelope)), `offset ${offset}`).toBe(expected);
    }
  });

  it('honours a configured window and skew', async () => {
    const { web, core, clock } = await pair({ windowMs: 1_000, maxSkewMs: 0 });
    const envelope = web.seal(1);
    clock.advance(1_001);
    expect(await outcome(core.open(envelope))).toBe(ErrorCode.EXPIRED);
    clock.advance(1);
    const ahead = web.seal(2);
    clock.advance(-1);
    expect(await outcome(core.open(ahead))).toBe(ErrorCode.FUTURE);
  });

  it('never lets the clock go back: a backward jump does not reopen the window', async () => {
    const { web, core, clock } = await pair();
    const envelope = web.seal('pay once');
    expect(await outcome(core.open(envelope))).toBe('accepted');
    clock.advance(5 * 60_000); // forward by minutes: the nonce's bucket is dropped
    expect(await outcome(core.open(web.seal('tick')))).toBe('accepted');
    clock.advance(-5 * 60_000 + 1); // and back
    expect(await outcome(core.open(envelope))).toBe(ErrorCode.EXPIRED);
  });

  it('refuses, after a restart, a replay of an envelope the previous process accepted', async () => {
    const { web, core, clock } = await pair();
    const envelope = web.seal('pay once');
    expect(await outcome(core.open(envelope))).toBe('accepted');
    clock.advance(1);
    const restarted = await createEndpoint({ role: 'coreapp', secret: SECRET, clock: clock.now });
    expect(await outcome(restarted.open(envelope))).toBe(ErrorCode.EXPIRED);
    expect(await outcome(restarted.open(web.seal('new')))).toBe('accepted');
  });

  it('does not record forged traffic in the replay cache', async () => {
    const store = new MemoryReplayStore();
    const { web, core } = await pair({ replayStore: store });
    for (let i = 0; i < 200; i++) {
      const forged = web.seal(i);
      forged[forged.length - 1]! ^= 0xff;
      expect(await outcome(core.open(forged))).toBe(ErrorCode.FORGED);
    }
    expect(store.stats().entries).toBe(0);
  });

  it('stays bounded under a flood of unique nonces, failing closed at the cap', async () => {
    const store = new MemoryReplayStore({ maxEntries: 1_000 });
    const { web, core, clock } = await pair({ replayStore: store });
    const results = new Map<string, number>();
    for (let i = 0; i < 1_500; i++) {
      const code = await outcome(core.open(web.seal(i)));
      results.set(code, (results.get(code) ?? 0) + 1);
    }
    expect(results.get('accepted')).toBe(1_000);
    expect(results.get(ErrorCode.REPLAY_CACHE_FULL)).toBe(500);
    expect(store.stats().entries).toBe(1_000);
    clock.advance(11_000); // past the window: the buckets go, traffic flows again
    expect(await outcome(core.open(web.seal('after')))).toBe('accepted');
    expect(store.stats().entries).toBe(1);
  });
});

describe('replay stores', () => {
  it('waits for an asynchronous store and honours its verdict', async () => {
    const seen = new Set<string>();
    const store: ReplayStore = {
      retentionMs: 10_000,
      async recordIfAbsent(nonce) {
        const key = Buffer.from(nonce).toString('hex');
        await new Promise((r) => setTimeout(r, 1));
        if (seen.has(key)) return false;
        seen.add(key);
        return true;
      },
    };
    const { web, core } = await pair({ replayStore: store });
    const envelope = web.seal('x');
    expect(await outcome(core.open(envelope))).toBe('accepted');
    expect(await outcome(core.open(envelope))).toBe(ErrorCode.REPLAYED);
    expect(() => core.openSync(web.seal('y'))).toThrow(expect.objectContaining({ code: ErrorCode.CONFIG }));
  });

  it('fails closed when the store fails or answers nonsense', async () => {
    const failing: ReplayStore = {
      retentionMs: 10_000,
      recordIfAbsent: () => Promise.reject(new Error('connection refused')),
    };
    const throwing: ReplayStore = {
      retentionMs: 10_000,
      recordIfAbsent: () => {
        throw new Error('boom');
      },
    };
    const nonsense = { retentionMs: 10_000, recordIfAbsent: () => 'yes' } as unknown as ReplayStore;
    for (const [store, code] of [
      [failing, ErrorCode.REPLAY_STORE_UNAVAILABLE],
      [throwing, ErrorCode.REPLAY_STORE_UNAVAILABLE],
      [nonsense, ErrorCode.REPLAYED],
    ] as const) {
      const { web, core } = await pair({ replayStore: store });
      expect(await outcome(core.open(web.seal(1)))).toBe(code);
    }
  });
});

describe('rotation', () => {
  it('opens envelopes of a previous secret, seals with the current one, and names removed ones', async () => {
    const oldWeb = await createEndpoint({ role: 'webapp', secret: OTHER_SECRET });
    const rotating = await createEndpoint({ role: 'coreapp', secret: SECRET, previousSecrets: [OTHER_SECRET] });
    const newWeb = await createEndpoint({ role: 'webapp', secret: SECRET });
    expect(await outcome(rotating.open(oldWeb.seal('old')))).toBe('accepted');
    expect(await outcome(rotating.open(newWeb.seal('new')))).toBe('accepted');
    expect((await newWeb.open(rotating.seal('reply'))).keyId).toBe(newWeb.keyId);
    expect(rotating.keyIds).toEqual([newWeb.keyId, oldWeb.keyId]);

    const rotated = await createEndpoint({ role: 'coreapp', secret: SECRET });
    const error = await rotated.open(oldWeb.seal('late')).catch((e: unknown) => e);
    expect(error).toMatchObject({ code: ErrorCode.UNKNOWN_KEY });
    expect((error as Error).message).toContain(oldWeb.keyId);
  });

  it('refuses the same secret listed twice', async () => {
    await expect(createEndpoint({ role: 'coreapp', secret: SECRET, previousSecrets: [SECRET] })).rejects.toMatchObject({
      code: ErrorCode.CONFIG,
    });
  });
});

describe('limits and options', () => {
  it('refuses to seal or open beyond the size limit', async () => {
    const { web, core } = await pair({ maxEnvelopeBytes: 1_000 });
    expect(() => web.seal(new Uint8Array(1_000 - MIN_ENVELOPE_BYTES + 1))).toThrow(
      expect.objectContaining({ code: ErrorCode.TOO_LARGE }),
    );
    const fits = web.seal(new Uint8Array(1_000 - MIN_ENVELOPE_BYTES));
    expect(fits.length).toBe(1_000);
    expect(await outcome(core.open(fits))).toBe('accepted');
    expect(await outcome(core.open('A'.repeat(1_400)))).toBe(ErrorCode.TOO_LARGE);
  });

  it('refuses payloads that are not plain data when sealing', async () => {
    const { web } = await pair();
    for (const value of [
      new Set([1]),
      /re/,
      () => 1,
      Object.defineProperty({}, '__proto__', { value: 1, enumerable: true }),
      JSON.parse('{"__proto__":1}'),
    ]) {
      expect(() => web.seal(value)).toThrow(expect.objectContaining({ code: ErrorCode.PAYLOAD }));
    }
  });

  it('validates options', async () => {
    for (const options of [
      { role: 'admin' },
      { role: 'webapp', windowMs: -1 },
      { role: 'webapp', maxSkewMs: 1.5 },
      { role: 'webapp', maxEnvelopeBytes: 10 },
      { role: 'webapp', secret: 42 },
      { role: 'webapp', secret: ` ${SECRET}` },
    ]) {
      await expect(createEndpoint({ secret: SECRET, ...options } as never)).rejects.toMatchObject({
        code: ErrorCode.CONFIG,
      });
    }
  });

  it('cannot be constructed past createEndpoint, which waits for libsodium (ERR_WA_CONFIG, not a TypeError)', async () => {
    // What a JavaScript caller reaches despite the private constructor; before libsodium was
    // ready it failed with "sodium.crypto_generichash is not a function".
    const Unchecked = Endpoint as unknown as new (options: EndpointOptions) => Endpoint;
    expect(() => new Unchecked({ role: 'webapp', secret: SECRET })).toThrow(
      expect.objectContaining({ code: ErrorCode.CONFIG }),
    );
    for (const options of [undefined, null, 'webapp']) {
      await expect(createEndpoint(options as never)).rejects.toMatchObject({ code: ErrorCode.CONFIG });
    }
  });
});

describe('secrecy and logging', () => {
  it('never shows the secret or keys in inspect, JSON or strings', async () => {
    const { web } = await pair();
    const shown = [inspect(web, { depth: 10, showHidden: true }), JSON.stringify(web), String(web)].join('\n');
    expect(shown).not.toContain(SECRET);
    expect(shown).toContain(web.keyId);
  });

  it('is silent by default and logs rejections as structured events without payload or secret', async () => {
    const lines: string[] = [];
    const sink = new Writable({
      write(chunk: Buffer, _encoding, done) {
        lines.push(chunk.toString());
        done();
      },
    });
    const logger = pino({ level: 'info' }, sink);
    const { web, core } = await pair({ logger });
    const envelope = web.seal({ card: '4111 1111 1111 1111' });
    await core.open(envelope, { peer: '10.0.0.7' });
    await outcome(core.open(envelope, { peer: '10.0.0.7' }));
    await new Promise((r) => setImmediate(r));
    expect(lines).toHaveLength(1);
    const record = JSON.parse(lines[0]!) as Record<string, unknown>;
    expect(record).toMatchObject({ code: ErrorCode.REPLAYED, keyId: web.keyId, peer: '10.0.0.7', level: 40 });
    expect(lines[0]).not.toContain('4111');
    expect(lines[0]).not.toContain(SECRET);
  });

  it('reports seals, opens and rejections to an observer', async () => {
    const opened: OpenedEvent[] = [];
    const rejected: RejectedEvent[] = [];
    let sealedBytes = 0;
    const { web, core, clock } = await pair({
      observer: { sealed: (n) => (sealedBytes += n), opened: (e) => opened.push(e), rejected: (e) => rejected.push(e) },
    });
    clock.advance(3_000);
    const ahead = web.seal(1);
    clock.advance(-3_000);
    await core.open(ahead);
    await outcome(core.open(ahead));
    expect(opened).toEqual([{ keyId: core.keyId, skewMs: 3_000, storeMs: 0 }]);
    expect(rejected).toEqual([{ code: ErrorCode.REPLAYED, keyId: core.keyId, skewMs: 3_000, peer: undefined }]);
    expect(sealedBytes).toBe(ahead.length); // one seal (the observer is shared by both sides here)
  });
});
