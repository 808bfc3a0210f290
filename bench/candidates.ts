/**
 * What is measured at each payload size: wa-transport (each backend), the raw cipher it is
 * built on, and the peers. Every candidate offers the same three operations:
 * seal, open (with whatever freshness checks it has) and the seal → open round trip.
 */
import { createRequire } from 'node:module';
import { randomBytes } from 'node:crypto';
import sodium from 'libsodium-wrappers';
import { type Endpoint, createEndpoint } from '../src/endpoint.js';
import { generateSecret } from '../src/keys.js';
import { MemoryReplayStore } from '../src/replay/memory.js';
import type { Task } from './harness.js';
import { peers } from './peers.js';

export type Operation = 'seal' | 'open' | 'roundtrip';
export const OPERATIONS: readonly Operation[] = ['seal', 'open', 'roundtrip'];

/** `signer`: a peer that signs without encrypting. */
export type Kind = 'ours' | 'raw' | 'peer' | 'signer';

export interface Candidate {
  readonly name: string;
  readonly kind: Kind;
  /** Set when the candidate is not measured at this size. */
  readonly skipped?: string;
  readonly tasks: readonly Task[];
}

const SECRET = generateSecret(); // a secret written here would be published, and refused
/** Same length as the envelope header, so the raw cipher authenticates as many bytes. */
const AD_BYTES = 39;

/** Keeps results alive so that no loop can be optimised away. */
let sink = 0;
export function drain(): number {
  return sink;
}

function task(
  id: string,
  run: (n: number) => void | Promise<void>,
  prepare?: (n: number) => void | Promise<void>,
): Task {
  return prepare === undefined ? { id, run } : { id, run, prepare };
}

/**
 * wa-transport with one backend ('auto': the default, each message to the faster backend for its
 * size): a WebApp sealing, a CoreApp opening with the full verifier.
 */
export async function ours(backendName: 'wasm' | 'native' | 'auto', payload: Uint8Array): Promise<Candidate> {
  const name = `wa-transport (${backendName})`;
  let web: Endpoint;
  try {
    web = await createEndpoint({ role: 'webapp', secret: SECRET, backend: backendName });
  } catch {
    return { name, kind: 'ours', skipped: 'sodium-native is not installed', tasks: [] };
  }
  // Room for 10 s of traffic at any rate measured here; the default cap (2^21) is sized for production.
  const core = await createEndpoint({
    role: 'coreapp',
    secret: SECRET,
    replayStore: new MemoryReplayStore({ maxEntries: 2 ** 24 }),
    backend: backendName,
  });
  let sealed: Uint8Array[] = [];
  return {
    name,
    kind: 'ours',
    tasks: [
      task(`${name}:seal`, (n) => {
        for (let i = 0; i < n; i++) sink ^= web.seal(payload).length;
      }),
      task(
        `${name}:open`,
        (n) => {
          for (let i = 0; i < n; i++) sink ^= core.openSync<Uint8Array>(sealed[i]!).payload.length;
        },
        (n) => {
          sealed = Array.from({ length: n }, () => web.seal(payload));
        },
      ),
      task(`${name}:roundtrip`, (n) => {
        for (let i = 0; i < n; i++) sink ^= core.openSync<Uint8Array>(web.seal(payload)).payload.length;
      }),
    ],
  };
}

/** The ceiling: libsodium-wrappers' own XChaCha20-Poly1305 on the same bytes, fixed nonce. */
export async function rawWrappers(payload: Uint8Array): Promise<Candidate> {
  await sodium.ready;
  const name = 'raw libsodium-wrappers';
  const key = sodium.crypto_aead_xchacha20poly1305_ietf_keygen();
  const nonce = randomBytes(24);
  const ad = randomBytes(AD_BYTES);
  const encrypt = () => sodium.crypto_aead_xchacha20poly1305_ietf_encrypt(payload, ad, null, nonce, key);
  const decrypt = (c: Uint8Array) => sodium.crypto_aead_xchacha20poly1305_ietf_decrypt(null, c, ad, nonce, key);
  const ciphertext = encrypt();
  return {
    name,
    kind: 'raw',
    tasks: [
      task(`${name}:seal`, (n) => {
        for (let i = 0; i < n; i++) sink ^= encrypt().length;
      }),
      task(`${name}:open`, (n) => {
        for (let i = 0; i < n; i++) sink ^= decrypt(ciphertext).length;
      }),
      task(`${name}:roundtrip`, (n) => {
        for (let i = 0; i < n; i++) sink ^= decrypt(encrypt()).length;
      }),
    ],
  };
}

interface SodiumNativeAead {
  crypto_aead_xchacha20poly1305_ietf_encrypt(
    c: Uint8Array,
    m: Uint8Array,
    ad: Uint8Array,
    nsec: null,
    npub: Uint8Array,
    k: Uint8Array,
  ): number;
  crypto_aead_xchacha20poly1305_ietf_decrypt(
    m: Uint8Array,
    nsec: null,
    c: Uint8Array,
    ad: Uint8Array,
    npub: Uint8Array,
    k: Uint8Array,
  ): number;
}

/** The native ceiling: sodium-native into preallocated buffers (no allocation at all). */
export async function rawNative(payload: Uint8Array): Promise<Candidate> {
  const name = 'raw sodium-native';
  let sn: SodiumNativeAead;
  try {
    sn = createRequire(import.meta.url)('sodium-native') as SodiumNativeAead;
  } catch {
    return { name, kind: 'raw', skipped: 'sodium-native is not installed', tasks: [] };
  }
  const key = randomBytes(32);
  const nonce = randomBytes(24);
  const ad = randomBytes(AD_BYTES);
  const c = new Uint8Array(payload.length + 16);
  const m = new Uint8Array(payload.length);
  const encrypt = () => sn.crypto_aead_xchacha20poly1305_ietf_encrypt(c, payload, ad, null, nonce, key);
  const decrypt = () => sn.crypto_aead_xchacha20poly1305_ietf_decrypt(m, null, c, ad, nonce, key);
  encrypt();
  return {
    name,
    kind: 'raw',
    tasks: [
      task(`${name}:seal`, (n) => {
        for (let i = 0; i < n; i++) sink ^= encrypt();
      }),
      task(`${name}:open`, (n) => {
        for (let i = 0; i < n; i++) sink ^= decrypt();
      }),
      task(`${name}:roundtrip`, (n) => {
        for (let i = 0; i < n; i++) {
          encrypt();
          sink ^= decrypt();
        }
      }),
    ],
  };
}

export async function peerCandidates(payload: Uint8Array, quick: boolean): Promise<Candidate[]> {
  const out: Candidate[] = [];
  for (const peer of peers) {
    const kind: Kind = peer.signsOnly ? 'signer' : 'peer';
    if (payload.length > peer.maxBytes) {
      out.push({ name: peer.name, kind, skipped: peer.skipReason ?? 'too slow', tasks: [] });
      continue;
    }
    if (quick && payload.length > (peer.quickMaxBytes ?? Infinity)) {
      out.push({ name: peer.name, kind, skipped: 'about 1 op/s: left out of --quick', tasks: [] });
      continue;
    }
    const codec = await peer.codec(payload);
    let tokens: unknown[] = [];
    const seal = async (n: number) => {
      for (let i = 0; i < n; i++) sink ^= String(await codec.seal()).length;
    };
    const open = async (n: number) => {
      for (let i = 0; i < n; i++) sink ^= (await codec.open(tokens[i])) === undefined ? 0 : 1;
    };
    const roundtrip = async (n: number) => {
      for (let i = 0; i < n; i++) sink ^= (await codec.open(await codec.seal())) === undefined ? 0 : 1;
    };
    out.push({
      name: peer.name,
      kind,
      tasks: [
        task(`${peer.name}:seal`, seal),
        task(`${peer.name}:open`, open, async (n) => {
          tokens = [];
          for (let i = 0; i < n; i++) tokens.push(await codec.seal());
        }),
        task(`${peer.name}:roundtrip`, roundtrip),
      ],
    });
  }
  return out;
}
