import { inspect } from 'node:util';
import { beforeAll, describe, expect, it } from 'vitest';
import { sodiumReady } from '../src/crypto/sodium.js';
import { Direction } from '../src/envelope/format.js';
import { ErrorCode } from '../src/errors.js';
import { Keyring, SecretKeys, checkSecretStrength, generateSecret, secretBytes } from '../src/keys.js';
import { OTHER_SECRET, SECRET } from './helpers.js';

beforeAll(() => sodiumReady());
const hex = (b: Uint8Array) => Buffer.from(b).toString('hex');

describe('secret strength', () => {
  it('accepts generated secrets, random hex and random base64', () => {
    // Enough draws that a check refusing 1 in 10,000 honest hex secrets would fail here.
    for (let i = 0; i < 20_000; i++) {
      expect(() => checkSecretStrength(secretBytes(generateSecret()))).not.toThrow();
      const random = Buffer.from(crypto.getRandomValues(new Uint8Array(16)));
      expect(() => checkSecretStrength(secretBytes(random.toString('hex')))).not.toThrow();
    }
    expect(generateSecret()).toMatch(/^[A-Za-z0-9_-]{43}$/);
  });

  it('refuses short or repetitive secrets with advice on making a strong one', () => {
    for (const weak of [
      '',
      'hunter2',
      'a'.repeat(64),
      'passwordpasswordpasswordpassword',
      '1212121212121212121212121212121212',
      'Password123Password123Password123',
      'ab'.repeat(20) + 'c',
    ]) {
      let error: unknown;
      try {
        checkSecretStrength(secretBytes(weak));
      } catch (e) {
        error = e;
      }
      expect(error, weak).toMatchObject({ code: ErrorCode.WEAK_SECRET });
      expect((error as Error).message).toContain('keygen');
      if (weak.length > 0) expect((error as Error).message).not.toContain(weak);
    }
  });

  it('refuses surrounding whitespace instead of trimming it', () => {
    expect(() => secretBytes(`${SECRET}\n`)).toThrow(expect.objectContaining({ code: ErrorCode.CONFIG }));
  });
});

describe('key schedule', () => {
  it('derives distinct keys per direction and per secret, and a stable key id', () => {
    const a = new SecretKeys(secretBytes(SECRET));
    const b = new SecretKeys(secretBytes(OTHER_SECRET));
    const keys = [a, b].flatMap((k) => [k.keyFor(Direction.WEBAPP_TO_COREAPP), k.keyFor(Direction.COREAPP_TO_WEBAPP)]);
    expect(new Set(keys.map(hex)).size).toBe(4);
    expect(new SecretKeys(secretBytes(SECRET)).keyIdHex).toBe(a.keyIdHex);
    expect(a.keyIdHex).toMatch(/^[0-9a-f]{8}$/);
    expect(a.keyIdHex).not.toBe(b.keyIdHex);
  });

  it('never shows key material', () => {
    const ring = new Keyring(SECRET, [OTHER_SECRET]);
    const keys = ring.current;
    const shown = [
      inspect(ring, { showHidden: true, depth: 10 }),
      inspect(keys, { showHidden: true, depth: 10 }),
      JSON.stringify({ ring, keys }),
      `${ring} ${keys}`,
    ].join('\n');
    for (const secret of [SECRET, OTHER_SECRET]) expect(shown).not.toContain(secret);
    for (const direction of [Direction.WEBAPP_TO_COREAPP, Direction.COREAPP_TO_WEBAPP]) {
      expect(shown).not.toContain(hex(keys.keyFor(direction)));
    }
    expect(shown).toContain(keys.keyIdHex);
  });

  it('names weak previous secrets by position', () => {
    expect(() => new Keyring(SECRET, ['short'])).toThrow(/previous secret #1/);
  });
});
