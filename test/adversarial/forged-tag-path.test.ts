/**
 * The rejection path for a forged tag must not depend on how many tag bytes were right.
 *
 * Timing cannot be measured reliably on a shared CI machine, so this is shown structurally:
 * - Every backend checks the tag inside libsodium: 'wasm' and 'wrappers' in
 *   crypto_aead_xchacha20poly1305_ietf_decrypt (WebAssembly), which recomputes the Poly1305 tag
 *   over the whole ciphertext and compares it with crypto_verify_16, a constant-time comparison
 *   (libsodium src/libsodium/crypto_aead/chacha20poly1305/aead_chacha20poly1305.c and
 *   src/libsodium/crypto_verify/verify.c); 'native' the same way up to 256 bytes of payload,
 *   then in crypto_onetimeauth_verify (Poly1305 and the same crypto_verify_16) or, beyond 4 KiB,
 *   Poly1305 then sodium_memcmp, before it decrypts anything (src/crypto/native.ts). No
 *   JavaScript in wa-transport reads or compares tag bytes.
 * - Here every call from JavaScript into libsodium is recorded while forgeries that differ
 *   from the true tag in the first byte, the last byte, one bit, or every byte are opened: the
 *   sequence of calls, their length arguments and their result must be identical, and so must
 *   the error, the observer event and the log record.
 */
import sodium from 'libsodium-wrappers';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { type BackendPreference, selectBackend } from '../../src/crypto/select-backend.js';
import { type Endpoint, type EndpointOptions, createEndpoint } from '../../src/endpoint.js';
import { ErrorCode, generateSecret, isWaTransportError } from '../../src/index.js';
import { TAG_BYTES } from '../../src/protocol.js';
import type { RejectedEvent } from '../../src/observer.js';
import { recordFigures } from '../soak/figures.js';

const T0 = 1_800_000_000_000;
const secret = generateSecret();
const restore: Array<() => void> = [];

afterEach(() => {
  for (const undo of restore.splice(0)) undo();
});

/** Replaces `holder[name]` (a function) with a recorder until the end of the test. */
function trace(
  holder: Record<string, unknown>,
  name: string,
  record: (args: unknown[], result: unknown, threw: boolean) => void,
): void {
  const original = holder[name] as (...args: unknown[]) => unknown;
  holder[name] = function traced(this: unknown, ...args: unknown[]): unknown {
    let result: unknown;
    try {
      result = original.apply(this, args);
    } catch (error) {
      record(args, error instanceof Error ? error.message : String(error), true);
      throw error;
    }
    record(args, result, false);
    return result;
  };
  restore.push(() => {
    holder[name] = original;
  });
}

const len = (value: unknown): string => (value instanceof Uint8Array ? String(value.length) : String(value));

/** Records every call from JavaScript into libsodium, WebAssembly and native alike. */
async function traceLibsodium(): Promise<string[]> {
  const calls: string[] = [];
  const wasm = (sodium as unknown as { libsodium: Record<string, unknown> }).libsodium;
  for (const name of Object.keys(wasm)) {
    if (!name.startsWith('_') || typeof wasm[name] !== 'function') continue;
    trace(wasm, name, (args, result) => {
      // Pointers differ from call to call; names, lengths and the C result must not.
      calls.push(
        name === '_crypto_aead_xchacha20poly1305_ietf_decrypt'
          ? `wasm ${name}(clen=${len(args[4])}, adlen=${len(args[7])}) = ${len(result)}`
          : `wasm ${name}`,
      );
    });
  }
  const specifier = 'sodium-native'; // optional package without type declarations (as src/crypto/native.ts)
  const native = await import(specifier)
    .then((m: { default?: unknown }) => (m.default ?? m) as Record<string, unknown>)
    .catch(() => undefined);
  if (native !== undefined) {
    const names = [
      'crypto_aead_xchacha20poly1305_ietf_decrypt',
      'crypto_aead_xchacha20poly1305_ietf_encrypt',
      'crypto_stream_xchacha20',
      'crypto_stream_xchacha20_xor_ic',
      'crypto_onetimeauth_verify',
      'crypto_onetimeauth_init',
      'crypto_onetimeauth_update',
      'crypto_onetimeauth_final',
      'sodium_memcmp',
    ];
    for (const name of names) {
      if (typeof native[name] !== 'function') continue;
      trace(native, name, (args, result, threw) => {
        calls.push(
          `native ${name}(${args.map(len).join(', ')}) ${threw ? `threw "${String(result)}"` : `= ${len(result)}`}`,
        );
      });
    }
  }
  return calls;
}

interface Trace {
  readonly calls: string[];
  readonly code: string;
  readonly message: string;
  readonly event: RejectedEvent;
  readonly log: unknown;
}

interface Harness {
  web: Endpoint;
  core: Endpoint;
  events: RejectedEvent[];
  logs: unknown[];
}

async function harness(preference: BackendPreference): Promise<Harness> {
  const events: RejectedEvent[] = [];
  const logs: unknown[] = [];
  const base: Pick<EndpointOptions, 'secret' | 'clock' | 'backend'> = { secret, clock: () => T0, backend: preference };
  return {
    events,
    logs,
    web: await createEndpoint({ ...base, role: 'webapp' }),
    core: await createEndpoint({
      ...base,
      role: 'coreapp',
      observer: { rejected: (e) => events.push(e) },
      logger: { warn: (record: object) => logs.push(record), info: () => {} },
    }),
  };
}

async function openTraced(h: Harness, envelope: Uint8Array): Promise<Trace> {
  const calls = await traceLibsodium();
  h.events.length = 0;
  h.logs.length = 0;
  let error: unknown;
  try {
    h.core.openSync(envelope);
  } catch (e) {
    error = e;
  }
  for (const undo of restore.splice(0)) undo();
  if (!isWaTransportError(error)) throw new Error('expected a WaTransportError');
  return { calls: [...calls], code: error.code, message: error.message, event: h.events[0]!, log: h.logs[0] };
}

function forge(genuine: Uint8Array, alter: (tag: Uint8Array) => void): Uint8Array {
  const forged = genuine.slice();
  alter(forged.subarray(forged.length - TAG_BYTES));
  return forged;
}

const nativeAvailable = await selectBackend('native').then(
  () => true,
  () => false,
);
const backends: BackendPreference[] = ['wasm', ...(nativeAvailable ? (['native'] as const) : [])];

beforeAll(async () => {
  await sodium.ready;
});

describe.each(backends)('a forged tag is rejected the same way wherever it differs (backend %s)', (preference) => {
  // The native backend opens small envelopes with the WebAssembly build, checks up to 4 KiB of
  // MAC input in one call and larger ones in several (src/crypto/native.ts): one size for each.
  it.each([64, 2048, 8192])(
    'first byte, last byte, one bit, every byte: same libsodium calls, same result, same error (%i B)',
    async (size) => {
      const h = await harness(preference);
      const genuine = h.web.seal(new Uint8Array(size).fill(7));
      const forgeries: Record<string, Uint8Array> = {
        'first tag byte': forge(genuine, (t) => (t[0]! ^= 0x01)),
        'last tag byte': forge(genuine, (t) => (t[TAG_BYTES - 1]! ^= 0x80)),
        'one bit in the middle': forge(genuine, (t) => (t[7]! ^= 0x10)),
        'every tag byte': forge(genuine, (t) =>
          t.forEach((_, i) => {
            t[i]! ^= 0xff;
          }),
        ),
        'a ciphertext byte (tag intact)': (() => {
          const f = genuine.slice();
          f[f.length - TAG_BYTES - 1]! ^= 1;
          return f;
        })(),
      };
      const traces: Array<Trace & { name: string }> = [];
      for (const [name, envelope] of Object.entries(forgeries))
        traces.push({ name, ...(await openTraced(h, envelope)) });
      const first = traces[0]!;
      // The trace really went through libsodium's tag check, exactly once, and it failed.
      if (preference === 'native' && size > 256) {
        // A boolean answer, not an exception (an N-API exception cost 4× a valid open: issue 11),
        // and nothing decrypted.
        expect(
          first.calls.filter((c) => c.includes('crypto_onetimeauth_verify') || c.includes('sodium_memcmp')),
        ).toEqual([expect.stringMatching(/= false$/)]);
        expect(first.calls.filter((c) => c.includes('threw') || c.includes('decrypt') || c.includes('xor'))).toEqual(
          [],
        );
      } else {
        const decrypts = first.calls.filter((c) => c.includes('crypto_aead_xchacha20poly1305_ietf_decrypt'));
        expect(decrypts).toHaveLength(1);
        expect(decrypts[0]).toMatch(/= -1$/);
      }
      expect(first.code).toBe(ErrorCode.FORGED);
      for (const t of traces) {
        expect({ name: t.name, calls: t.calls }).toEqual({ name: t.name, calls: first.calls });
        expect(t.code).toBe(first.code);
        expect(t.message).toBe(first.message);
        expect(t.event).toEqual(first.event);
        expect(t.log).toEqual(first.log);
      }
      recordFigures(`adversarial/forged-tag-path/${preference}`, {
        forgeryShapes: traces.length,
        libsodiumCallsPerRejection: first.calls.length,
      });
    },
  );

  it('for every tag byte position and every bit, the error and its message are the same', async () => {
    const h = await harness(preference);
    const genuine = h.web.seal({ x: 1 });
    const seen = new Set<string>();
    for (let i = 0; i < TAG_BYTES; i++) {
      for (let bit = 0; bit < 8; bit++) {
        try {
          h.core.openSync(forge(genuine, (t) => (t[i]! ^= 1 << bit)));
          throw new Error('accepted');
        } catch (error) {
          expect(isWaTransportError(error, ErrorCode.FORGED)).toBe(true);
          seen.add((error as Error).message);
        }
      }
    }
    expect([...seen]).toEqual(['envelope failed authentication']);
    // The forgeries were not recorded: the genuine envelope still opens, once.
    expect(h.core.openSync(genuine).payload).toEqual({ x: 1 });
  });
});
