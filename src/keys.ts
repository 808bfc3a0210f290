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
import { inspect } from 'node:util';
import type { AeadKey } from './crypto/aead-backend.js';
import { blake2b, deriveSubkey } from './crypto/sodium.js';
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
const AEAD_KEY_BYTES = 32;
const ROOT_KEY_BYTES = 32;

const HOW_TO_FIX =
  'use at least 32 random bytes, e.g. the output of `npx wa-transport keygen` ' +
  'or `node -e "console.log(require(\'crypto\').randomBytes(32).toString(\'base64url\'))"`';

/** A new strong secret: 32 random bytes as base64url (43 characters). */
export function generateSecret(): string {
  return randomBytes(GENERATED_SECRET_BYTES).toString('base64url');
}

/**
 * Refuses a secret that offline guessing could find: it is short, or so repetitive that its
 * length overstates its strength. This cannot tell a long passphrase from random bytes, so
 * the documented advice is to generate secrets, not to choose them. We refuse instead of
 * stretching with a memory-hard KDF: stretching only slows guessing of a weak secret by a
 * constant factor and costs every process memory and start-up time (docs/PROTOCOL.md §3.1).
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

/** The secret's bytes as the spec defines them: UTF-8 of a string, or the bytes as given. */
export function secretBytes(secret: string | Uint8Array, name = 'WA_SECRET'): Uint8Array {
  if (secret instanceof Uint8Array) return secret;
  if (typeof secret !== 'string') {
    throw new WaTransportError(ErrorCode.CONFIG, `${name} must be a string or a Uint8Array`);
  }
  if (secret.trim() !== secret) {
    // A trailing newline from a secrets file would silently derive different keys on each side.
    throw new WaTransportError(ErrorCode.CONFIG, `${name} has leading or trailing whitespace; remove it`);
  }
  return new TextEncoder().encode(secret);
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

  constructor(secret: string | Uint8Array, previousSecrets: ReadonlyArray<string | Uint8Array> = []) {
    const all = [secret, ...previousSecrets].map((s, i) => {
      const name = i === 0 ? 'WA_SECRET' : `previous secret #${i}`;
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
