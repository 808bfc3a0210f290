/**
 * An independent check of the pinned vectors (test/vectors/envelope-v1.json): every key,
 * envelope and rejection recomputed with @noble/hashes and @noble/ciphers, written from
 * docs/PROTOCOL.md alone. Nothing here comes from src/ (not even a constant), so a mistake in
 * our libsodium code cannot hide in vectors that our libsodium code generated.
 */
import { xchacha20poly1305 } from '@noble/ciphers/chacha.js';
import { blake2b } from '@noble/hashes/blake2.js';
import { unpack } from 'msgpackr';
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';

// ---- The spec, transcribed (section numbers of docs/PROTOCOL.md) ----

/** §2: header layout. */
const VERSION = 0x01;
const WEBAPP_TO_COREAPP = 0x01;
const COREAPP_TO_WEBAPP = 0x02;
const FORMATS = [0x00, 0x01];
const KEY_ID_AT = 3;
const TIMESTAMP_AT = 7;
const NONCE_AT = 15;
const HEADER_BYTES = 39;
const TAG_BYTES = 16;
/** §2: "The smallest envelope is 55 bytes (empty plaintext)." */
const MIN_ENVELOPE = HEADER_BYTES + TAG_BYTES;
/** §4.2 step 2 and its defaults. */
const MAX_ENVELOPE = 4 * 1024 * 1024;
const WINDOW_MS = 10_000;
const SKEW_MS = 10_000;

/** §3.2 */
const ROOT_KEY = 'wa-transport/v1 root key';
const SUBKEY_ID = 1;
const KEY_ID_CONTEXT = 'WAkeyid1';
const W2C_CONTEXT = 'WAw2c_v1';
const C2W_CONTEXT = 'WAc2w_v1';

const ascii = (s: string) => new TextEncoder().encode(s);
const hex = (b: Uint8Array) => Buffer.from(b).toString('hex');
const fromHex = (h: string) => new Uint8Array(Buffer.from(h, 'hex'));
const concat = (...parts: Uint8Array[]) => new Uint8Array(Buffer.concat(parts));

/** §3.2: KDF = BLAKE2b(out = length, key, empty message, salt = LE64(id) ‖ 0⁸, personal = context ‖ 0⁸). */
function kdf(key: Uint8Array, id: number, context: string, length: number): Uint8Array {
  const salt = new Uint8Array(16);
  new DataView(salt.buffer).setBigUint64(0, BigInt(id), true);
  const personalization = new Uint8Array(16);
  personalization.set(ascii(context));
  return blake2b(new Uint8Array(0), { dkLen: length, key, salt, personalization });
}

interface Keys {
  root: Uint8Array;
  keyId: Uint8Array;
  /** By direction byte: the key that seals (and opens) that direction. */
  byDirection: Record<number, Uint8Array>;
}

/** §3.1 (the secret is the UTF-8 bytes, untrimmed) and §3.2. */
function deriveKeys(secret: string): Keys {
  const root = blake2b(new TextEncoder().encode(secret), { dkLen: 32, key: ascii(ROOT_KEY) });
  return {
    root,
    keyId: kdf(root, SUBKEY_ID, KEY_ID_CONTEXT, 16).subarray(0, 4),
    byDirection: {
      [WEBAPP_TO_COREAPP]: kdf(root, SUBKEY_ID, W2C_CONTEXT, 32),
      [COREAPP_TO_WEBAPP]: kdf(root, SUBKEY_ID, C2W_CONTEXT, 32),
    },
  };
}

/** §4.1 steps 2–5, with the vector's timestamp and nonce in place of the clock and CSPRNG. */
function seal(
  keys: Keys,
  direction: number,
  format: number,
  plaintext: Uint8Array,
  context: Uint8Array,
  timestamp: number,
  nonce: Uint8Array,
): Uint8Array {
  const header = new Uint8Array(HEADER_BYTES);
  header[0] = VERSION;
  header[1] = direction;
  header[2] = format;
  header.set(keys.keyId, KEY_ID_AT);
  new DataView(header.buffer).setBigUint64(TIMESTAMP_AT, BigInt(timestamp), false);
  header.set(nonce, NONCE_AT);
  const sealed = xchacha20poly1305(keys.byDirection[direction]!, nonce, concat(header, context)).encrypt(plaintext);
  return concat(header, sealed);
}

interface Receiver {
  inbound: number;
  secrets: Keys[];
  context: Uint8Array;
  now: number;
}

type Opened =
  | { ok: true; format: number; timestamp: number; plaintext: Uint8Array }
  | { ok: false; step: string; code: string };

/** §4.2 steps 2–8, in order, stopping at the first failure (step 1: the input is bytes already). */
function open(envelope: Uint8Array, r: Receiver): Opened {
  const fail = (step: string, code: string): Opened => ({ ok: false, step, code });
  if (envelope.length > MAX_ENVELOPE) return fail('2', 'ERR_WA_TOO_LARGE');
  if (envelope.length < MIN_ENVELOPE) return fail('3', 'ERR_WA_MALFORMED');
  if (envelope[0] !== VERSION) return fail('4', 'ERR_WA_UNSUPPORTED_VERSION');
  const direction = envelope[1]!;
  const format = envelope[2]!;
  if ((direction !== WEBAPP_TO_COREAPP && direction !== COREAPP_TO_WEBAPP) || !FORMATS.includes(format)) {
    return fail('5a', 'ERR_WA_MALFORMED');
  }
  if (direction !== r.inbound) return fail('5b', 'ERR_WA_WRONG_DIRECTION');
  const keyId = hex(envelope.subarray(KEY_ID_AT, KEY_ID_AT + 4));
  const keys = r.secrets.find((k) => hex(k.keyId) === keyId);
  if (keys === undefined) return fail('5c', 'ERR_WA_UNKNOWN_KEY');
  const header = envelope.subarray(0, HEADER_BYTES);
  let plaintext: Uint8Array;
  try {
    plaintext = xchacha20poly1305(
      keys.byDirection[direction]!,
      header.subarray(NONCE_AT),
      concat(header, r.context),
    ).decrypt(envelope.subarray(HEADER_BYTES));
  } catch {
    return fail('6', 'ERR_WA_FORGED');
  }
  const timestamp = Number(new DataView(envelope.buffer, envelope.byteOffset).getBigUint64(TIMESTAMP_AT, false));
  if (timestamp < r.now - WINDOW_MS) return fail('7', 'ERR_WA_EXPIRED');
  if (timestamp > r.now + SKEW_MS) return fail('8', 'ERR_WA_FUTURE');
  return { ok: true, format, timestamp, plaintext };
}

// ---- The vectors, read as the file is, not through test/vectors/envelope-v1.ts (which uses src/) ----

interface VectorFile {
  version: number;
  keys: Array<{
    secret: string;
    rootHex: string;
    keyIdHex: string;
    webappToCoreappKeyHex: string;
    coreappToWebappKeyHex: string;
  }>;
  envelopes: Array<{
    name: string;
    secret: string;
    direction: number;
    format: number;
    value?: unknown;
    plaintextHex: string;
    context: string;
    timestamp: number;
    nonceHex: string;
    envelopeHex: string;
  }>;
  invalid: Array<{ name: string; envelopeHex: string; code: string }>;
  textForm: {
    valid: Array<{ text: string; envelopeHex: string }>;
    invalid: Array<{ name: string; text: string; code: string }>;
  };
  contexts: Array<{ name: string; inputs: string; contextHex: string }>;
  requestIds: Array<{ requestId: string; issuedAt: number; keyHex: string; envelope: VectorFile['envelopes'][number] }>;
  secrets: { refused: Array<{ name: string; secret: string; code: string }> };
}

const vectors = JSON.parse(readFileSync(new URL('./envelope-v1.json', import.meta.url), 'utf8')) as VectorFile;
const first = vectors.envelopes[0]!;
/** §7: "a CoreApp holding the first secret, with its clock at the first timestamp". */
const firstCoreApp: Receiver = {
  inbound: WEBAPP_TO_COREAPP,
  secrets: [deriveKeys(first.secret)],
  context: ascii(first.context),
  now: first.timestamp,
};

describe('envelope-v1.json recomputed with noble, from docs/PROTOCOL.md alone', () => {
  it('is the version-1 file and covers both directions and both formats', () => {
    expect(vectors.version).toBe(1);
    expect(new Set(vectors.envelopes.map((v) => v.direction))).toEqual(new Set([WEBAPP_TO_COREAPP, COREAPP_TO_WEBAPP]));
    expect(new Set(vectors.envelopes.map((v) => v.format))).toEqual(new Set(FORMATS));
    for (const v of vectors.envelopes) expect(vectors.keys.map((k) => k.secret)).toContain(v.secret);
  });

  it.each(vectors.keys)('§3.2 key schedule of $keyIdHex', (k) => {
    const keys = deriveKeys(k.secret);
    expect(hex(keys.root)).toBe(k.rootHex);
    expect(hex(keys.keyId)).toBe(k.keyIdHex);
    expect(hex(keys.byDirection[WEBAPP_TO_COREAPP]!)).toBe(k.webappToCoreappKeyHex);
    expect(hex(keys.byDirection[COREAPP_TO_WEBAPP]!)).toBe(k.coreappToWebappKeyHex);
  });

  it('§3.1/§3.2 readings the vectors settle', () => {
    const [k1, k2] = vectors.keys;
    // The key id is the first 4 bytes of a 16-byte KDF output (crypto_kdf's minimum length);
    // BLAKE2b asked for 4 bytes directly gives other bytes, as its output length is a parameter.
    const root = deriveKeys(k1!.secret).root;
    expect(hex(kdf(root, SUBKEY_ID, KEY_ID_CONTEXT, 4))).not.toBe(k1!.keyIdHex);
    // A keygen-style secret (43 base64url characters) is used as text: its UTF-8 bytes, not the
    // 32 bytes it decodes to.
    const decoded = blake2b(Buffer.from(k2!.secret, 'base64url'), { dkLen: 32, key: ascii(ROOT_KEY) });
    expect(hex(decoded)).not.toBe(k2!.rootHex);
  });

  it.each(vectors.keys)('§3.1 the secret of $keyIdHex is one an implementation must accept', (k) => {
    const bytes = new TextEncoder().encode(k.secret);
    expect(bytes.length).toBeGreaterThanOrEqual(32);
    expect(k.secret.trim()).toBe(k.secret);
    const counts = new Map<number, number>();
    for (const b of bytes) counts.set(b, (counts.get(b) ?? 0) + 1);
    let bits = 0;
    for (const n of counts.values()) bits -= (n / bytes.length) * Math.log2(n / bytes.length);
    expect(bits).toBeGreaterThanOrEqual(2.5);
  });

  it.each(vectors.envelopes)('§4.1 seals $name to the pinned bytes', (v) => {
    const sealed = seal(
      deriveKeys(v.secret),
      v.direction,
      v.format,
      fromHex(v.plaintextHex),
      ascii(v.context),
      v.timestamp,
      fromHex(v.nonceHex),
    );
    expect(hex(sealed)).toBe(v.envelopeHex);
  });

  it.each(vectors.envelopes)('§4.2 opens $name back to its payload (clock at its timestamp)', (v) => {
    const receiver: Receiver = {
      inbound: v.direction,
      secrets: [deriveKeys(v.secret)],
      context: ascii(v.context),
      now: v.timestamp,
    };
    const opened = open(fromHex(v.envelopeHex), receiver);
    expect(opened).toMatchObject({ ok: true, format: v.format, timestamp: v.timestamp });
    if (!opened.ok) return;
    expect(hex(opened.plaintext)).toBe(v.plaintextHex);
    // §5 / §7: a msgpack case's plaintext is its JSON value (the encoding need not be canonical).
    if (v.format === 0x00) expect(unpack(opened.plaintext)).toEqual(v.value);
    // §4.1 step 3: the context is authenticated, not sent.
    const elsewhere = open(fromHex(v.envelopeHex), { ...receiver, context: ascii(`${v.context}/other`) });
    expect(elsewhere).toEqual({ ok: false, step: '6', code: 'ERR_WA_FORGED' });
  });

  it('§3.2 a reflected envelope fails authentication even with its direction byte rewritten', () => {
    const reflected = fromHex(first.envelopeHex);
    reflected[1] = COREAPP_TO_WEBAPP;
    const webApp: Receiver = { ...firstCoreApp, inbound: COREAPP_TO_WEBAPP };
    expect(open(reflected, webApp)).toEqual({ ok: false, step: '6', code: 'ERR_WA_FORGED' });
  });

  /** Where each invalid vector must stop, by §4.2's table (the file records only the code). */
  const expectedStep: Record<string, string> = {
    empty: '3',
    'truncated to the header': '3',
    'version 2': '4',
    'direction byte 3': '5a',
    'format byte 2': '5a',
    'key id changed': '5c',
    'timestamp changed': '6',
    'nonce changed': '6',
    'ciphertext changed': '6',
    'tag changed': '6',
    'sealed for the other direction': '5b',
  };

  it.each(vectors.invalid)('§4.2 refuses $name with $code at the step the spec says', (v) => {
    expect(expectedStep[v.name], 'a new invalid vector: say at which §4.2 step it must stop').toBeDefined();
    expect(open(fromHex(v.envelopeHex), firstCoreApp)).toEqual({ ok: false, step: expectedStep[v.name], code: v.code });
  });

  it('§7 the invalid vectors are the first envelope with one change each, except where noted', () => {
    const base = fromHex(first.envelopeHex);
    const departures: string[] = [];
    for (const v of vectors.invalid) {
      const bytes = fromHex(v.envelopeHex);
      const truncation = bytes.length < base.length && hex(bytes) === hex(base.subarray(0, bytes.length));
      const changed = bytes.length === base.length ? bytes.filter((b, i) => b !== base[i]).length : -1;
      if (!truncation && changed !== 1) departures.push(v.name);
    }
    // Not derived from the first envelope as §7 says: it is the "raw bytes response" vector verbatim.
    expect(departures).toEqual(['sealed for the other direction']);
    expect(vectors.invalid.find((v) => v.name === departures[0])!.envelopeHex).toBe(vectors.envelopes[2]!.envelopeHex);
  });
});

// ---- The text form (§2), the transports' contexts (§8) and request ids (§4.4), from the spec ----

/** §2: unpadded base64url; refuse padding, other characters, length ≡ 1 (mod 4), non-zero unused bits. */
function fromTextForm(text: string): Uint8Array | 'ERR_WA_MALFORMED' {
  const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';
  if (text.length % 4 === 1) return 'ERR_WA_MALFORMED';
  let bits = 0;
  let value = 0;
  const out: number[] = [];
  for (const c of text) {
    const digit = alphabet.indexOf(c);
    if (digit < 0) return 'ERR_WA_MALFORMED';
    value = (value << 6) | digit;
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out.push((value >> bits) & 0xff);
    }
  }
  if ((value & ((1 << bits) - 1)) !== 0) return 'ERR_WA_MALFORMED'; // unused trailing bits
  return Uint8Array.from(out);
}

/** §8.1 and §8.2, transcribed: each context by its name in the vector file. */
function transportContext(name: string, inputs: string): Uint8Array {
  const [status, , , nonceHex] = inputs.split(/,? /);
  switch (name) {
    case 'HTTP request':
      return ascii(`wa-transport/http/v1 request\n${inputs}`);
    case 'HTTP response, 200':
      return concat(ascii(`wa-transport/http/v1 response\n${status}\n`), fromHex(nonceHex!));
    case 'HTTP rejection, 409':
      return concat(ascii(`wa-transport/http/v1 rejection\n${status}\n`), fromHex(nonceHex!));
    case 'WebSocket hello':
      return ascii(`wa-ws/1:hello:${inputs}`);
    case 'WebSocket welcome':
      return ascii(`wa-ws/1:${inputs}:welcome`);
    case 'WebSocket frame c2s 0':
      return ascii(`wa-ws/1:${inputs}:c2s:0`);
    case 'WebSocket frame s2c 12':
      return ascii(`wa-ws/1:${inputs}:s2c:12`);
    case 'WebSocket refusal, 503':
      return ascii(`wa-ws/1:${inputs}:refused:503`);
    default:
      throw new Error(`a new context vector: transcribe its §8 rule here (${name})`);
  }
}

describe('text form, contexts and request ids, recomputed from docs/PROTOCOL.md alone', () => {
  it.each(vectors.textForm.valid)('§2 decodes the text form of an envelope', (v) => {
    expect(hex(fromTextForm(v.text) as Uint8Array)).toBe(v.envelopeHex);
  });

  it.each(vectors.textForm.invalid)('§2 refuses a text form with $name', (v) => {
    expect(fromTextForm(v.text)).toBe(v.code);
  });

  it.each(vectors.contexts)('§8 builds the $name context byte for byte', (v) => {
    expect(hex(transportContext(v.name, v.inputs))).toBe(v.contextHex);
  });

  it.each(vectors.requestIds)('§4.4 reads a request id and seals with it bound into the context', (v) => {
    const id = fromTextForm(v.requestId) as Uint8Array;
    expect(v.requestId).toHaveLength(32);
    expect(Number(new DataView(id.buffer, id.byteOffset).getBigUint64(0))).toBe(v.issuedAt);
    expect(hex(id.subarray(8))).toBe(v.keyHex);
    const e = v.envelope;
    const context = concat(ascii('wa-transport/http/v1 request\nPOST /v1/pay'), ascii('\n'), ascii(v.requestId));
    expect(hex(context)).toBe(hex(ascii(e.context)));
    const sealed = seal(
      deriveKeys(e.secret),
      e.direction,
      e.format,
      fromHex(e.plaintextHex),
      context,
      e.timestamp,
      fromHex(e.nonceHex),
    );
    expect(hex(sealed)).toBe(e.envelopeHex);
  });
});

/**
 * §3.1's rules that need no strength estimator, in its order: surrounding whitespace (as
 * String.prototype.trim), length, entropy and repetition, publication, invisible characters,
 * format. `published` are the secrets printed in the repository (here: the vector file's).
 */
function secretVerdict(secret: string, published: readonly string[]): string {
  if (secret.trim() !== secret) return 'ERR_WA_CONFIG';
  const bytes = ascii(secret);
  if (bytes.length < 32) return 'ERR_WA_WEAK_SECRET';
  const counts = new Map<number, number>();
  for (const b of bytes) counts.set(b, (counts.get(b) ?? 0) + 1);
  const entropy = -[...counts.values()].reduce((sum, c) => sum + (c / bytes.length) * Math.log2(c / bytes.length), 0);
  const periodic = Array.from({ length: Math.floor(bytes.length / 2) }, (_, i) => i + 1).some((p) =>
    bytes.every((b, i) => i < p || b === bytes[i - p]),
  );
  if (entropy < 2.5 || periodic) return 'ERR_WA_WEAK_SECRET';
  if (published.includes(secret)) return 'ERR_WA_WEAK_SECRET';
  if (/[\p{Cc}\p{Cf}\p{Cs}\p{Co}\p{Zl}\p{Zp}]|[^\P{Zs} ]/u.test(secret)) return 'ERR_WA_CONFIG';
  const base64 = /^[A-Za-z0-9+/_-]+={0,2}$/.test(secret);
  const hexDigits = /^[0-9a-fA-F]+$/.test(secret);
  if (!base64 || secret.replace(/=+$/, '').length < (hexDigits ? 64 : 43)) return 'ERR_WA_WEAK_SECRET';
  return 'accepted (the strength estimate decides)';
}

describe('secrets, judged from docs/PROTOCOL.md §3.1 alone', () => {
  it.each(vectors.secrets.refused)('refuses the secret with $name ($code)', (v) => {
    expect(
      secretVerdict(
        v.secret,
        vectors.keys.map((k) => k.secret),
      ),
    ).toBe(v.code);
  });
});
