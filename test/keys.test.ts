import { inspect } from 'node:util';
import { beforeAll, describe, expect, it } from 'vitest';
import { sodiumReady } from '../src/crypto/ready.js';
import { Direction } from '../src/envelope/format.js';
import { ErrorCode } from '../src/errors.js';
import { Keyring, SecretKeys, checkSecretStrength, generateSecret, secretBytes } from '../src/keys.js';
import { OTHER_SECRET, SECRET } from './helpers.js';

beforeAll(() => sodiumReady());
const hex = (b: Uint8Array) => Buffer.from(b).toString('hex');

const weakness = (secret: string | Uint8Array): unknown => {
  try {
    checkSecretStrength(secretBytes(secret));
  } catch (error) {
    return error;
  }
  return undefined;
};

describe('secret strength', () => {
  it('accepts generated secrets: base64url, base64 and hex of 32 random bytes, and random bytes given directly', () => {
    // zxcvbn takes milliseconds per secret: fewer draws than the cheap checks had, but every
    // one of 1,500 keygen outputs scored ≥ 10^40.9 against a floor of 10^30 (src/keys.ts).
    for (let i = 0; i < 100; i++) {
      const random = Buffer.from(crypto.getRandomValues(new Uint8Array(32)));
      for (const secret of [
        generateSecret(),
        random.toString('hex'),
        random.toString('base64'),
        random.toString('hex').toUpperCase(),
      ]) {
        expect(weakness(secret), secret).toBeUndefined();
      }
      if (weakness(random) !== undefined) expect(new TextDecoder().decode(random)).toBe('valid UTF-8: judged as text'); // ~1e-9
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
      const error = weakness(weak);
      expect(error, weak).toMatchObject({ code: ErrorCode.WEAK_SECRET });
      expect((error as Error).message).toContain('keygen');
      if (weak.length > 0) expect((error as Error).message).not.toContain(weak);
    }
  });

  it('refuses guessable patterns in the generated formats (issue 11): alphabet runs, keyboard walks, a repeated word', () => {
    for (const weak of [
      'passwordpasswordpasswordpassword1',
      'abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQ',
      'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789',
      'qwertyuiopasdfghjklzxcvbnmqwertyuiopasdfghjkl',
      '1qaz2wsx3edc4rfv5tgb6yhn7ujm8ik9ol0p1qaz2wsx3edc',
      '0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdeg',
      'p4ssw0rdp4ssw0rdp4ssw0rdp4ssw0rd1',
    ]) {
      expect(weakness(weak), weak).toMatchObject({ code: ErrorCode.WEAK_SECRET });
    }
  });

  it('refuses chosen text that is not a generated format, however long', () => {
    for (const chosen of [
      'the quick brown fox jumps over the lazy dog, twice over',
      'correct horse battery staple correct horse battery staple',
      'an example secret that is long and random enough: 9fK2xQ7vL0pR4mT8!',
      Buffer.from(crypto.getRandomValues(new Uint8Array(24))).toString('hex'), // random hex, but 24 bytes
    ]) {
      expect(weakness(chosen), chosen).toMatchObject({
        code: ErrorCode.WEAK_SECRET,
        message: expect.stringContaining('not a generated secret'),
      });
    }
  });

  it("refuses the secrets printed in this repository's README, vectors, benchmarks and old tests, by key id", () => {
    const published = [
      'Zt3kP1Yw0uV9qR2sN8mL4jH6gF5dS7aQ1xC3vB9nM0o', // would pass every other check
      'an example secret that is long and random enough: 9fK2xQ7vL0pR4mT8',
      'wa-transport test vector secret: 0123456789abcdefghijklmnopqrstuvwxyz',
      'test-secret-0123456789-abcdefghijklmnopqrstuvwxyz',
      'other-secret-ZYXWVUTSRQPONMLKJIHGFEDCBA-9876543210',
      'backend-interop secret 0123456789 abcdefghijklmnopqrstuvwxyz',
      'bench-secret: 0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJ',
      'profile-secret: 0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJ',
    ];
    for (const secret of published) {
      const error = weakness(secret);
      expect(error, secret).toMatchObject({
        code: ErrorCode.WEAK_SECRET,
        message: expect.stringContaining('printed in'),
      });
      expect((error as Error).message).toContain(new SecretKeys(secretBytes(secret)).keyIdHex);
      expect(weakness(new TextEncoder().encode(secret)), 'as bytes too').toMatchObject({ code: ErrorCode.WEAK_SECRET });
    }
  });

  it('refuses invisible and format characters anywhere, naming the code point, never the secret', () => {
    const strong = generateSecret();
    for (const [char, name] of [
      ['\u200b', '200B'],
      ['\u2060', '2060'],
      ['\u00a0', '00A0'],
      ['\ufeff', 'FEFF'],
      ['\u00ad', '00AD'],
      ['\u202e', '202E'],
      ['\u3000', '3000'],
      ['\u2028', '2028'],
      ['\t', '0009'],
      ['\u0000', '0000'],
      ['\ufe0f', 'FE0F'],
    ] as const) {
      for (const at of [0, 20, strong.length]) {
        const secret = strong.slice(0, at) + char + strong.slice(at);
        for (const form of [secret, new TextEncoder().encode(secret)]) {
          const error = weakness(form);
          expect(error, `U+${name} at ${at}`).toMatchObject({ code: ErrorCode.CONFIG });
          expect((error as Error).message).not.toContain(strong);
          // At either end String.prototype.trim catches most of them first, with its own message.
          if (at === 20) expect((error as Error).message).toContain(`U+${name}`);
        }
      }
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
