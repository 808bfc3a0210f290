/**
 * The key schedule (docs/PROTOCOL.md §3): from one shared secret, a key id and one key per
 * direction, with domain separation so no key is ever used for two purposes.
 *
 *   root   = BLAKE2b-256(message = secret, key = "wa-transport/v1 root key")
 *   keyId  = KDF(root, id 1, context "WAkeyid1", 16 bytes)[0..4]
 *   w2cKey = KDF(root, id 1, context "WAw2c_v1", 32 bytes)   WebApp → CoreApp
 *   c2wKey = KDF(root, id 1, context "WAc2w_v1", 32 bytes)   CoreApp → WebApp
 *
 * KDF is libsodium's crypto_kdf_derive_from_key. Key material lives only in private fields
 * and is redacted from `inspect`, `toString` and JSON.
 */
import { randomBytes } from 'node:crypto';
import { createRequire } from 'node:module';
import { inspect } from 'node:util';
import type { ZxcvbnFactory } from '@zxcvbn-ts/core';
import { AEAD_KEY_BYTES, type AeadKey } from './crypto/aead.js';
import { blake2b, deriveSubkey } from './crypto/kdf.js';
import { Direction, KEY_ID_BYTES, readKeyIdWord } from './envelope/format.js';
import { ErrorCode, WaTransportError } from './errors.js';

/** Shortest secret accepted, in bytes of its UTF-8 form. */
export const MIN_SECRET_BYTES = 32;
/**
 * Least empirical Shannon entropy per byte accepted. Random hex of 32 characters scores about
 * 3.7 (of a million samples, none below 2.73), random base64url about 4.8; "aaaa…" scores 0,
 * "abababab…" 1. A higher floor would refuse some honest random hex (about 1 in 10,000 at 3).
 */
export const MIN_SECRET_BITS_PER_BYTE = 2.5;
/** Bytes of randomness in a secret made by `generateSecret` (256 bits). */
export const GENERATED_SECRET_BYTES = 32;

const ROOT_KEY_LABEL = new TextEncoder().encode('wa-transport/v1 root key');
const SUBKEY_ID = 1;
const KEY_ID_CONTEXT = 'WAkeyid1';
const WEBAPP_TO_COREAPP_CONTEXT = 'WAw2c_v1';
const COREAPP_TO_WEBAPP_CONTEXT = 'WAc2w_v1';
/** crypto_kdf_BYTES_MIN: the KDF's shortest output; the key id is its first 4 bytes. */
const KDF_MIN_BYTES = 16;
const ROOT_KEY_BYTES = 32;

/**
 * Least strength accepted for a secret written as text, as zxcvbn's log10 of the guesses it
 * needs. Why 30: the key id in every envelope lets anyone test guesses offline and a captured
 * tag confirms a hit (issue 11: 140k guesses/s on one core; a GPU farm of 10^4 cards at 10^10/s
 * makes 10^21.5 a year), and zxcvbn's estimates are rough, so the floor keeps a margin of 10^8.
 * Measured: every one of 1,500 keygen outputs scored ≥ 10^40.9 (hex of 32 bytes ≥ 10^59);
 * alphabet runs 10^4.3, `passwordpasswordpasswordpassword1` 10^4, keyboard walks 10^12–10^21,
 * this repository's old test secrets 10^17–10^20.
 */
export const MIN_SECRET_GUESSES_LOG10 = 30;

/**
 * Key ids of every secret printed in this repository's docs, examples, benchmarks, test
 * vectors and (before they were generated at run time) tests: whoever copied one shares it
 * with every reader. Refused whatever their estimated strength.
 */
const PUBLISHED_KEY_IDS: ReadonlySet<string> = new Set([
  '44a8494c', // README.md, the native-backend example
  '298f2fbc', // test/vectors/envelope-v1.json, first secret
  '14bc487c', // test/vectors/envelope-v1.json, rotation secret
  '283a5508', // test/helpers.ts, SECRET
  'e0e70750', // test/helpers.ts, OTHER_SECRET
  '567fdabb', // test/crypto/backends.test.ts
  '1e77759c', // bench/candidates.ts
  '5c27f97d', // bench/profile.ts
]);

/**
 * Characters refused anywhere in a secret: controls, format characters (U+200B zero-width
 * space, U+2060 word joiner, U+FEFF byte order mark…), every other default-ignorable code point,
 * surrogates, private use, line and paragraph separators, and spaces other than U+0020
 * (U+00A0 no-break space, U+3000…). They are invisible or look like a plain space, so a secret
 * copied once with and once without one derives other keys on each side, and nobody can see why.
 */
const INVISIBLE = /[\p{Cc}\p{Cf}\p{Cs}\p{Co}\p{Zl}\p{Zp}\p{Default_Ignorable_Code_Point}]|(?! )\p{Zs}/u;

/**
 * The text forms `keygen` and common tools produce: base64url or base64 (`openssl rand -base64
 * 32`), optionally padded, of at least 32 bytes (43 characters), or hex of at least 32 bytes
 * (64 digits). A string of hex digits only counts as hex (4 bits per character, not 6).
 */
const BASE64 = /^[A-Za-z0-9+/_-]+={0,2}$/;
const HEX = /^[0-9A-Fa-f]+$/;
const MIN_BASE64_CHARACTERS = Math.ceil((GENERATED_SECRET_BYTES * 8) / 6);
const MIN_HEX_CHARACTERS = GENERATED_SECRET_BYTES * 2;

const HOW_TO_FIX =
  'use at least 32 random bytes, e.g. the output of `npx wa-transport keygen` ' +
  "or `node -e \"console.log(require('crypto').randomBytes(32).toString('base64url'))\"`";

/** A new strong secret: 32 random bytes as base64url (43 characters). */
export function generateSecret(): string {
  return randomBytes(GENERATED_SECRET_BYTES).toString('base64url');
}

/**
 * Refuses a secret that offline guessing could find (docs/PROTOCOL.md §3.1): shorter than 32
 * bytes, repetitive, published in this repository, or, when it is text, not in a generated
 * format or following a pattern zxcvbn recognises. Bytes that are not UTF-8 text are taken as
 * random bytes given directly: only length, repetition and publication are checked.
 * We refuse instead of stretching with a memory-hard KDF: stretching only slows guessing of a
 * weak secret by a constant factor and costs every process memory and start-up time.
 */
export function checkSecretStrength(secret: Uint8Array, name = 'WA_SECRET'): void {
  if (secret.length < MIN_SECRET_BYTES) {
    throw new WaTransportError(
      ErrorCode.WEAK_SECRET,
      `${name} is ${secret.length} bytes long, at least ${MIN_SECRET_BYTES} are required; ${HOW_TO_FIX}`,
    );
  }
  if (bitsPerByte(secret) < MIN_SECRET_BITS_PER_BYTE || isPeriodic(secret)) {
    throw new WaTransportError(ErrorCode.WEAK_SECRET, `${name} is too repetitive to be random; ${HOW_TO_FIX}`);
  }
  const keyId = keyIdOf(secret);
  if (PUBLISHED_KEY_IDS.has(keyId)) {
    throw new WaTransportError(
      ErrorCode.WEAK_SECRET,
      `${name} (key id ${keyId}) is printed in wa-transport's own docs or tests, so anyone has it; ${HOW_TO_FIX}`,
    );
  }
  const text = utf8Text(secret);
  if (text === undefined) return;
  checkCharacters(text, name);
  const hex = HEX.test(text);
  if (!BASE64.test(text) || text.replace(/=+$/, '').length < (hex ? MIN_HEX_CHARACTERS : MIN_BASE64_CHARACTERS)) {
    throw new WaTransportError(
      ErrorCode.WEAK_SECRET,
      `${name} is not a generated secret (base64url, base64 or hex of at least ${GENERATED_SECRET_BYTES} random bytes); ` +
        `chosen text cannot be told from a guessable one; ${HOW_TO_FIX}`,
    );
  }
  if (estimatedGuessesLog10(secret, text) < MIN_SECRET_GUESSES_LOG10) {
    throw new WaTransportError(ErrorCode.WEAK_SECRET, `${name} follows a guessable pattern; ${HOW_TO_FIX}`);
  }
}

/** Throws ERR_WA_CONFIG when `text` holds an invisible or format character, naming it (U+XXXX). */
function checkCharacters(text: string, name: string): void {
  const found = INVISIBLE.exec(text);
  if (found === null) return;
  const codePoint = found[0].codePointAt(0)!.toString(16).toUpperCase().padStart(4, '0');
  throw new WaTransportError(
    ErrorCode.CONFIG,
    `${name} contains U+${codePoint}, an invisible, control or format character; copy the secret again without it`,
  );
}

const fatalUtf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

/** The bytes as text when they are UTF-8, else undefined (random bytes given directly). */
function utf8Text(bytes: Uint8Array): string | undefined {
  try {
    return fatalUtf8.decode(bytes);
  } catch {
    return undefined;
  }
}

let estimator: ZxcvbnFactory | undefined;

/**
 * zxcvbn with the common dictionaries and keyboard graphs, loaded at the first check rather
 * than at import: loading them cost 90–150 ms here, which a process that never checks a
 * secret (`keygen`, a tool reading headers) should not pay. Both packages ship CommonJS builds.
 */
function zxcvbn(): ZxcvbnFactory {
  if (estimator === undefined) {
    const require = createRequire(import.meta.url);
    const core = require('@zxcvbn-ts/core') as typeof import('@zxcvbn-ts/core');
    const common = require('@zxcvbn-ts/language-common') as typeof import('@zxcvbn-ts/language-common');
    // l33t substitutions capped: 16 kept every pattern in test/keys.test.ts refused and cut a check from 49 ms to 18 ms.
    estimator = new core.ZxcvbnFactory({
      dictionary: common.dictionary,
      graphs: common.adjacencyGraphs,
      l33tMaxSubstitutions: 16,
    });
  }
  return estimator;
}
/**
 * Fingerprints of secrets already estimated strong in this process: zxcvbn takes 3–50 ms per
 * secret, and an endpoint (re)checks its secrets each time one is built. A domain-separated
 * BLAKE2b of the secret, never the secret or a key.
 */
const estimatedStrong = new Set<string>();
const STRENGTH_CACHE_ENTRIES = 1024;
const STRENGTH_CACHE_LABEL = new TextEncoder().encode('wa-transport strength cache');

function estimatedGuessesLog10(secret: Uint8Array, text: string): number {
  const fingerprint = Buffer.from(blake2b(16, secret, STRENGTH_CACHE_LABEL)).toString('hex');
  if (estimatedStrong.has(fingerprint)) return Infinity;
  const guessesLog10 = zxcvbn().check(text).guessesLog10;
  if (guessesLog10 >= MIN_SECRET_GUESSES_LOG10) {
    if (estimatedStrong.size >= STRENGTH_CACHE_ENTRIES) estimatedStrong.clear();
    estimatedStrong.add(fingerprint);
  }
  return guessesLog10;
}

/** True when the bytes are one shorter unit repeated ("passwordpassword…", "Ab1Ab1Ab1…"). */
function isPeriodic(bytes: Uint8Array): boolean {
  search: for (let period = 1; period <= bytes.length / 2; period++) {
    for (let i = period; i < bytes.length; i++) {
      if (bytes[i] !== bytes[i - period]) continue search;
    }
    return true;
  }
  return false;
}

/** Empirical Shannon entropy of the byte distribution, in bits per byte. */
function bitsPerByte(bytes: Uint8Array): number {
  const counts = new Uint32Array(256);
  for (const b of bytes) counts[b]!++;
  let bits = 0;
  for (const count of counts) {
    if (count === 0) continue;
    const p = count / bytes.length;
    bits -= p * Math.log2(p);
  }
  return bits;
}

/**
 * The secret's bytes as the spec defines them: UTF-8 of a string, or the bytes as given.
 * Refuses (ERR_WA_CONFIG) surrounding whitespace and, anywhere, invisible or format characters.
 */
export function secretBytes(secret: string | Uint8Array, name = 'WA_SECRET'): Uint8Array {
  if (secret instanceof Uint8Array) return secret;
  if (typeof secret !== 'string') {
    throw new WaTransportError(ErrorCode.CONFIG, `${name} must be a string or a Uint8Array`);
  }
  if (secret.trim() !== secret) {
    // A trailing newline from a secrets file would silently derive different keys on each side.
    throw new WaTransportError(ErrorCode.CONFIG, `${name} has leading or trailing whitespace; remove it`);
  }
  checkCharacters(secret, name);
  return new TextEncoder().encode(secret);
}

/** The key id of a secret, as 8 hex characters, without deriving its keys. */
function keyIdOf(secret: Uint8Array): string {
  const root = blake2b(ROOT_KEY_BYTES, secret, ROOT_KEY_LABEL);
  const keyId = deriveSubkey(KDF_MIN_BYTES, SUBKEY_ID, KEY_ID_CONTEXT, root).subarray(0, KEY_ID_BYTES);
  root.fill(0);
  return Buffer.from(keyId).toString('hex');
}

/** The keys derived from one secret. */
export class SecretKeys {
  /** Key id bytes, carried in every envelope sealed with this secret. */
  readonly keyId: Uint8Array;
  /** Key id as 8 hex characters: safe to log and to show operators. */
  readonly keyIdHex: string;
  /** Key id as a u32, for lookups. */
  readonly keyIdWord: number;
  readonly #webappToCoreapp: AeadKey;
  readonly #coreappToWebapp: AeadKey;

  constructor(secret: Uint8Array) {
    const root = blake2b(ROOT_KEY_BYTES, secret, ROOT_KEY_LABEL);
    this.keyId = deriveSubkey(KDF_MIN_BYTES, SUBKEY_ID, KEY_ID_CONTEXT, root).slice(0, KEY_ID_BYTES);
    this.keyIdHex = Buffer.from(this.keyId).toString('hex');
    this.keyIdWord = readKeyIdWord(this.keyId, 0);
    this.#webappToCoreapp = deriveSubkey(AEAD_KEY_BYTES, SUBKEY_ID, WEBAPP_TO_COREAPP_CONTEXT, root) as AeadKey;
    this.#coreappToWebapp = deriveSubkey(AEAD_KEY_BYTES, SUBKEY_ID, COREAPP_TO_WEBAPP_CONTEXT, root) as AeadKey;
    root.fill(0);
  }

  /** The AEAD key for one direction. Internal: never log or serialise what it returns. */
  keyFor(direction: Direction): AeadKey {
    return direction === Direction.WEBAPP_TO_COREAPP ? this.#webappToCoreapp : this.#coreappToWebapp;
  }

  toJSON(): { keyId: string } {
    return { keyId: this.keyIdHex };
  }

  toString(): string {
    return `SecretKeys(${this.keyIdHex})`;
  }

  [inspect.custom](): string {
    return this.toString();
  }
}

/**
 * The secrets one endpoint holds: the current one (used to seal) and previous ones still
 * accepted while a rotation is under way (docs/PROTOCOL.md §3.2).
 */
export class Keyring {
  readonly current: SecretKeys;
  readonly #byKeyId = new Map<number, SecretKeys>();

  /**
   * @param names what errors call each secret, current first (loadConfig passes the variables
   *   they came from); by default `WA_SECRET` and `previous secret #n`.
   */
  constructor(
    secret: string | Uint8Array,
    previousSecrets: ReadonlyArray<string | Uint8Array> = [],
    names: readonly string[] = [],
  ) {
    const all = [secret, ...previousSecrets].map((s, i) => {
      const name = names[i] ?? (i === 0 ? 'WA_SECRET' : `previous secret #${i}`);
      const bytes = secretBytes(s, name);
      checkSecretStrength(bytes, name);
      return new SecretKeys(bytes);
    });
    for (const keys of all) {
      if (this.#byKeyId.has(keys.keyIdWord)) {
        throw new WaTransportError(
          ErrorCode.CONFIG,
          `two configured secrets share key id ${keys.keyIdHex}; the same secret is listed twice`,
        );
      }
      this.#byKeyId.set(keys.keyIdWord, keys);
    }
    this.current = all[0]!;
  }

  /** The keys for a key id (as read from an envelope), or undefined. */
  get(keyIdWord: number): SecretKeys | undefined {
    return this.#byKeyId.get(keyIdWord);
  }

  /** Every configured key id, current first. */
  get keyIds(): string[] {
    return [...this.#byKeyId.values()].map((k) => k.keyIdHex);
  }

  toJSON(): { keyIds: string[] } {
    return { keyIds: this.keyIds };
  }

  toString(): string {
    return `Keyring(${this.keyIds.join(', ')})`;
  }

  [inspect.custom](): string {
    return this.toString();
  }
}
