/**
 * Adapters for the libraries a user would otherwise pick for sealed, timestamped messages.
 * Each is used the way its README shows, with a 10 s lifetime checked on open where the
 * library has one. None of them has a replay cache: they do less work per open than we do.
 *
 * Payloads: branca takes bytes, so it gets the same random bytes as wa-transport; fernet takes
 * a string, @hapi/iron and paseto take a JSON object, so they get an ASCII string of the same
 * length (inside `{ d }` for the JSON ones): the same number of payload bytes, no base64 inflation.
 *
 * Two of them only sign (the payload travels in clear): jose's JWT HS256 and Standard Webhooks.
 * They are here because they are what teams weigh against an encrypted channel.
 */
import { createRequire } from 'node:module';
import { randomBytes } from 'node:crypto';
import * as Iron from '@hapi/iron';
import { LocalProtocol } from 'paseto';
import { DecryptFactory, EncryptFactory, GenerateKeyFactory } from 'paseto/v3/local';
import { EncryptJWT, SignJWT, jwtDecrypt, jwtVerify } from 'jose';
import { Webhook } from 'standardwebhooks';

const require = createRequire(import.meta.url);

/** Seals and opens one payload of a given size; async where the library is. */
export interface PeerCodec {
  seal(): unknown;
  open(token: unknown): unknown;
}

export interface Peer {
  readonly name: string;
  /** Largest payload measured; above it the row says why it was skipped. */
  readonly maxBytes: number;
  readonly skipReason?: string | undefined;
  /** In --quick runs, largest payload measured (a CI smoke run must take seconds). */
  readonly quickMaxBytes?: number;
  /** Whether seal/open return promises. */
  readonly async: boolean;
  /** Signs but does not encrypt: listed, but not counted as "the fastest peer" in the goals. */
  readonly signsOnly?: true;
  codec(payload: Uint8Array): Promise<PeerCodec>;
}

const TTL_SECONDS = 10;
const asciiOf = (payload: Uint8Array): string => 'x'.repeat(payload.length);

interface BrancaInstance {
  encode(payload: Buffer | string, timestamp?: number): string;
  decode(token: string, ttl?: number): Buffer;
}
interface FernetModule {
  Secret: new (secret: string) => unknown;
  Token: new (options: {
    secret: unknown;
    ttl?: number;
    token?: string;
  }) => {
    encode(message: string): string;
    decode(token?: string): string;
  };
}

export const peers: readonly Peer[] = [
  {
    name: 'branca',
    // base62 (base-x) is quadratic in the token length: about 1 op/s at 16 KiB here, hours at 1 MiB.
    maxBytes: 16 * 1024,
    skipReason: 'base62 encoding is quadratic: hours per token at 1 MiB',
    quickMaxBytes: 1024,
    async: false,
    async codec(payload) {
      const branca = (require('branca') as (key: Buffer) => BrancaInstance)(randomBytes(32));
      const bytes = Buffer.from(payload);
      return {
        seal: () => branca.encode(bytes),
        open: (token) => branca.decode(token as string, TTL_SECONDS),
      };
    },
  },
  {
    name: 'fernet',
    maxBytes: Infinity,
    async: false,
    async codec(payload) {
      const fernet = require('fernet') as FernetModule;
      const secret = new fernet.Secret(randomBytes(32).toString('base64url') + '=');
      const message = asciiOf(payload);
      return {
        seal: () => new fernet.Token({ secret }).encode(message),
        open: (token) => new fernet.Token({ secret, ttl: TTL_SECONDS, token: token as string }).decode(),
      };
    },
  },
  {
    name: '@hapi/iron',
    maxBytes: Infinity,
    async: true,
    async codec(payload) {
      const password = randomBytes(32).toString('hex');
      const options = { ...Iron.defaults, ttl: TTL_SECONDS * 1000 };
      const object = { d: asciiOf(payload) };
      return {
        seal: () => Iron.seal(object, password, options),
        open: (token) => Iron.unseal(token as string, password, options),
      };
    },
  },
  {
    name: 'paseto v3.local',
    maxBytes: Infinity,
    async: true,
    async codec(payload) {
      // v4.local needs an external XChaCha20 implementation in paseto 4 (README: "Extension API").
      const v3 = new LocalProtocol(GenerateKeyFactory, EncryptFactory, DecryptFactory);
      const key = await v3.GenerateKey();
      const claims = { d: asciiOf(payload) };
      return {
        seal: () => v3.Encrypt(key, claims, { expiresIn: TTL_SECONDS }),
        open: (token) => v3.Decrypt(key, token as string),
      };
    },
  },
  {
    name: 'jose JWE (dir, A256GCM)',
    maxBytes: Infinity,
    async: true,
    async codec(payload) {
      // A JWT claims set inside a compact JWE with a direct 256-bit key: `exp` gives it the same
      // 10 s lifetime the other peers check, and jwtDecrypt checks it (jose README, "JWT Encryption").
      const key = new Uint8Array(randomBytes(32));
      const claims = { d: asciiOf(payload) };
      return {
        seal: () =>
          new EncryptJWT(claims)
            .setProtectedHeader({ alg: 'dir', enc: 'A256GCM' })
            .setIssuedAt()
            .setExpirationTime(`${TTL_SECONDS}s`)
            .encrypt(key),
        open: (token) => jwtDecrypt(token as string, key),
      };
    },
  },
  {
    name: 'jose JWT HS256 (signed only)',
    maxBytes: Infinity,
    async: true,
    signsOnly: true,
    async codec(payload) {
      const key = new Uint8Array(randomBytes(32));
      const claims = { d: asciiOf(payload) };
      return {
        seal: () =>
          new SignJWT(claims)
            .setProtectedHeader({ alg: 'HS256' })
            .setIssuedAt()
            .setExpirationTime(`${TTL_SECONDS}s`)
            .sign(key),
        open: (token) => jwtVerify(token as string, key, { algorithms: ['HS256'] }),
      };
    },
  },
  {
    name: 'standardwebhooks (signed only)',
    maxBytes: Infinity,
    async: false,
    signsOnly: true,
    async codec(payload) {
      // The Standard Webhooks scheme: HMAC-SHA256 over `id.timestamp.body`, verified with its
      // own 5-minute tolerance (the library has no setting for it) and a JSON parse of the body.
      const webhook = new Webhook(randomBytes(32).toString('base64'));
      const body = JSON.stringify({ d: asciiOf(payload) });
      let n = 0;
      return {
        seal: () => {
          const id = `msg_${++n}`;
          const timestamp = new Date();
          return {
            body,
            headers: {
              'webhook-id': id,
              'webhook-timestamp': String(Math.floor(timestamp.getTime() / 1000)),
              'webhook-signature': webhook.sign(id, timestamp, body),
            },
          };
        },
        open: (token) => {
          const message = token as { body: string; headers: Record<string, string> };
          return webhook.verify(message.body, message.headers);
        },
      };
    },
  },
];
