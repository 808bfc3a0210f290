/**
 * An endpoint is one side of the WebApp ↔ CoreApp link: it seals what it sends and opens,
 * with the full replay policy, what it receives. This is the API service authors use.
 */
import { inspect } from 'node:util';
import type { AeadBackend } from './crypto/aead.js';
import { type BackendPreference, endpointBackend, selectBackend } from './crypto/select-backend.js';
import { callSafely } from './callbacks.js';
import { authenticateEnvelope, sealEnvelope } from './envelope/seal.js';
import {
  Direction,
  FORMAT_OFFSET,
  HEADER_BYTES,
  MIN_ENVELOPE_BYTES,
  PayloadFormat,
  TAG_BYTES,
  keyIdHex,
  readKeyIdWord,
  readNonce,
  readTimestamp,
} from './envelope/format.js';
import { contextBytes } from './envelope/context.js';
import { isRequestIdText, newRequestId, parseRequestId, requestIdIssuedAt } from './envelope/request-id.js';
import { fromText, toText } from './envelope/text.js';
import { ErrorCode, WaTransportError, isWaTransportError } from './errors.js';
import { owned } from './crypto/bytes.js';
import { Keyring } from './keys.js';
import { type Logger, silentLogger } from './log.js';
import { optionsObject } from './options.js';
import { type EndpointObserver, offerLogger } from './observer.js';
import { decodeMsgpack, encodeMsgpack } from './payload.js';
import { type Clock, Verifier, type VerifierOptions } from './verifier.js';

export type Role = 'webapp' | 'coreapp';

/** Largest envelope accepted or produced by default: 4 MiB. */
export const DEFAULT_MAX_ENVELOPE_BYTES = 4 * 1024 * 1024;

export interface EndpointOptions extends VerifierOptions {
  /** Which side this process is. A WebApp seals WebApp→CoreApp and opens CoreApp→WebApp. */
  role: Role;
  /** The shared secret (WA_SECRET). Used to seal and to open. */
  secret: string | Uint8Array;
  /** Earlier secrets still accepted when opening, during a rotation. Never used to seal. */
  previousSecrets?: ReadonlyArray<string | Uint8Array>;
  /**
   * Largest envelope, in bytes, that is sealed or opened.
   * @default 4_194_304 (4 MiB)
   */
  maxEnvelopeBytes?: number;
  /**
   * A pino logger (or anything with the same `warn` and `info`). Rejections are logged here,
   * and so is everything built on this endpoint (HTTP client and handlers, WebSocket server and
   * client) that is not given a logger of its own. Events: docs/logging.md. Default: silent.
   */
  logger?: Logger;
  /** Told of every seal, open and rejection: the hook for metrics and clock-health tracking. */
  observer?: EndpointObserver;
  /**
   * AEAD implementation: 'auto' (each message with whichever is faster at its size: libsodium's
   * WebAssembly below 512 bytes of payload, sodium-native from 512 bytes when it is installed),
   * 'native' or 'wasm' to force one. All produce the same bytes; they differ in speed only
   * (bench/RESULTS.md), and each refuses a forgery at least as fast as it opens a valid envelope.
   * @default 'auto'
   */
  backend?: BackendPreference;
}

export interface SealOptions {
  /**
   * Bytes or text bound to the envelope but not sent, e.g. `"POST /v1/messages"` or a channel
   * id. Opening with a different context fails with ERR_WA_FORGED.
   */
  context?: string | Uint8Array;
  /**
   * The logical request this envelope is one attempt of (from `newRequestId()`; reuse it for
   * every retry). Authenticated with the envelope but not inside it: send it beside the
   * envelope (HTTP: the `wa-request-id` header) and pass it to `open`.
   */
  requestId?: string;
}

export interface OpenOptions extends SealOptions {
  /** Who sent it (an address, a connection id), for rejection logs only. */
  peer?: string;
}

export interface Opened<T = unknown> {
  /** The decoded payload: a `Uint8Array` when bytes were sealed, else the msgpack value. */
  readonly payload: T;
  /** Key id of the secret it was sealed with (8 hex characters). */
  readonly keyId: string;
  /** When it was sealed, by the sender's clock (ms since the epoch). */
  readonly timestamp: number;
  /** Its 24-byte nonce, unique per envelope: use it to bind a reply to this request. */
  readonly nonce: Uint8Array;
}

const OUTBOUND: Record<Role, Direction> = {
  webapp: Direction.WEBAPP_TO_COREAPP,
  coreapp: Direction.COREAPP_TO_WEBAPP,
};
const INBOUND: Record<Role, Direction> = {
  webapp: Direction.COREAPP_TO_WEBAPP,
  coreapp: Direction.WEBAPP_TO_COREAPP,
};

/** What was learnt of an envelope before it was rejected, for the log and the observer. */
interface Seen {
  bytes?: Uint8Array;
  /** Authenticated timestamp minus the verifier's clock. */
  skewMs?: number;
}

interface Checked {
  readonly bytes: Uint8Array;
  readonly plaintext: Uint8Array;
  readonly timestamp: number;
  readonly now: number;
  /** Key id (8 hex characters), the keyring's own string. */
  readonly keyId: string;
  /** Settles once the nonce is recorded; undefined when the store answered synchronously. */
  readonly recorded: void | Promise<void>;
}

/**
 * Proves a construction came from `createEndpoint`, which waited for libsodium: before it is
 * ready the key schedule fails with a TypeError from inside libsodium-wrappers.
 */
const FROM_FACTORY = Symbol('createEndpoint');
let construct: (options: EndpointOptions, backend: AeadBackend) => Endpoint;
/**
 * An endpoint's verifier, for the tests that watch its monotonic clock. Not on any entry point:
 * the verifier is how an endpoint works, not part of what it offers.
 */
export let verifierOf: (endpoint: Endpoint) => Verifier;
/**
 * `open` for a transport that needs the payload alone (the WebSocket channel): every check of
 * `open`, the same logs and observer calls, but the payload itself, not an `Opened` with a copy
 * of the nonce, and without a promise when the replay store answered synchronously (the default
 * in-memory one); a promise of the payload otherwise. Throws or rejects as `open` rejects. Not
 * on any entry point. Why: the promises of an async `open` (and of the channel awaiting it) and
 * the `Opened` with its nonce copy were about a fifth of the JavaScript per sealed 64-byte
 * WebSocket frame (×1.18–×1.32 without them; bench/RESULTS.md, "WebSocket at 64 B").
 */
export let openPayload: (endpoint: Endpoint, envelope: Uint8Array, options: OpenOptions) => unknown;

/**
 * `endpoint.open`, but the `Opened` itself when the endpoint is an `Endpoint` whose replay store
 * answered synchronously; a promise of it otherwise (a `RotatingEndpoint`, an async store).
 * Throws or rejects as `open` rejects. For the HTTP bindings, which await a request body, an
 * open and a handler per request: each await of an already settled promise is a microtask and
 * a resumption more (bench/RESULTS.md, "What changed on the transports' hot path").
 */
export function openNow<T>(
  endpoint: EndpointLike,
  envelope: Uint8Array | string,
  options: OpenOptions,
): Opened<T> | Promise<Opened<T>> {
  const opener = openerOf(endpoint);
  return opener !== undefined
    ? (openOpened(opener, envelope, options) as Opened<T> | Promise<Opened<T>>)
    : endpoint.open<T>(envelope, options);
}

/**
 * Implemented by a forwarder whose `open` is exactly its current Endpoint's (RotatingEndpoint):
 * the transports then open through that Endpoint without a promise. Not on any entry point: a
 * forwarder of the caller's own, which may do more in `open`, keeps going through `open`.
 */
export const OPENS_WITH: unique symbol = Symbol('wa-transport opens with');

/** The Endpoint that opens for `endpoint` (itself, or the one it forwards to), if known. */
export function openerOf(endpoint: EndpointLike): Endpoint | undefined {
  if (endpoint instanceof Endpoint) return endpoint;
  const forwards = (endpoint as { [OPENS_WITH]?: () => Endpoint })[OPENS_WITH];
  return typeof forwards === 'function' ? forwards.call(endpoint) : undefined;
}
let openOpened: (
  endpoint: Endpoint,
  envelope: Uint8Array | string,
  options: OpenOptions,
) => Opened<unknown> | Promise<Opened<unknown>>;

export class Endpoint {
  readonly role: Role;
  readonly maxEnvelopeBytes: number;
  /** How old an envelope may be, in ms (`windowMs`, checked against the replay store's retention). */
  readonly windowMs: number;
  /** How far ahead of this clock an envelope's timestamp may be, in ms. */
  readonly maxSkewMs: number;
  readonly #verifier: Verifier;
  readonly #keyring: Keyring;
  readonly #backend: AeadBackend;
  readonly #clock: Clock;
  readonly #logger: Logger;
  readonly #observer: EndpointObserver | undefined;

  static {
    construct = (options, backend) => new Endpoint(options, backend, FROM_FACTORY);
    verifierOf = (endpoint) => endpoint.#verifier;
    openPayload = (endpoint, envelope, options) => endpoint.#openPayload(envelope, options);
    openOpened = (endpoint, envelope, options) => endpoint.#openNow(envelope, options);
  }

  /** Use `createEndpoint`, which waits for libsodium to be ready. */
  private constructor(options: EndpointOptions, backend: AeadBackend, from?: typeof FROM_FACTORY) {
    // A JavaScript caller can reach a private constructor; it still gets an error of ours.
    if (from !== FROM_FACTORY) {
      throw new WaTransportError(
        ErrorCode.CONFIG,
        'an Endpoint is made by `await createEndpoint(options)`, not `new Endpoint`',
      );
    }
    if (options.role !== 'webapp' && options.role !== 'coreapp') {
      throw new WaTransportError(ErrorCode.CONFIG, 'role must be "webapp" or "coreapp"');
    }
    this.role = options.role;
    const max = options.maxEnvelopeBytes ?? DEFAULT_MAX_ENVELOPE_BYTES;
    if (!Number.isSafeInteger(max) || max < MIN_ENVELOPE_BYTES) {
      throw new WaTransportError(ErrorCode.CONFIG, `maxEnvelopeBytes must be an integer ≥ ${MIN_ENVELOPE_BYTES}`);
    }
    this.maxEnvelopeBytes = max;
    this.#keyring = new Keyring(options.secret, options.previousSecrets);
    this.#verifier = new Verifier(options);
    this.windowMs = this.#verifier.windowMs;
    this.maxSkewMs = this.#verifier.maxSkewMs;
    this.#backend = backend;
    this.#clock = options.clock ?? Date.now;
    this.#logger = options.logger ?? silentLogger;
    this.#observer = options.observer;
    if (options.logger !== undefined) offerLogger(options.observer, options.logger);
  }

  /** The logger given to `createEndpoint` (silent without one): the transports' default. */
  get logger(): Logger {
    return this.#logger;
  }

  /** Key id of the secret this endpoint seals with. */
  get keyId(): string {
    return this.#keyring.current.keyIdHex;
  }

  /** Key ids of every secret this endpoint opens with, current first. */
  get keyIds(): string[] {
    return this.#keyring.keyIds;
  }

  /**
   * A new request id (docs/PROTOCOL.md §4.4), issued now by this endpoint's clock. Seal every
   * attempt of one logical request with the same id: the receiver acts on at most one of them.
   * A retry must be sealed within the receiver's window of the id's issue.
   */
  newRequestId(): string {
    return newRequestId(this.#clock());
  }

  /** Seals a payload for the other side. A `Uint8Array` travels untouched; anything else as msgpack. */
  seal(payload: unknown, options?: SealOptions): Uint8Array {
    const timestamp = this.#clock();
    const requestId = checkedBinding(options, ErrorCode.CONFIG);
    if (requestId !== undefined && requestIdIssuedAt(requestId) > timestamp) {
      throw new WaTransportError(ErrorCode.CONFIG, 'requestId must come from newRequestId() on this clock');
    }
    const bytes = payload instanceof Uint8Array;
    const plaintext = bytes ? payload : encodeMsgpack(payload);
    if (plaintext.length > this.maxEnvelopeBytes - HEADER_BYTES - TAG_BYTES) {
      throw new WaTransportError(ErrorCode.TOO_LARGE);
    }
    const envelope = sealEnvelope({
      backend: this.#backend,
      keys: this.#keyring.current,
      direction: OUTBOUND[this.role],
      format: bytes ? PayloadFormat.BYTES : PayloadFormat.MSGPACK,
      plaintext,
      timestamp,
      // Built last: encoding the payload may run the caller's getters, which may seal too.
      context: contextBytes(options?.context, requestId),
    });
    if (this.#observer) callSafely(this.#logger, 'observer.sealed', () => this.#observer?.sealed?.(envelope.length));
    return envelope;
  }

  /** `seal`, in the text form (unpadded base64url). */
  sealText(payload: unknown, options?: SealOptions): string {
    return toText(this.seal(payload, options));
  }

  /**
   * Authenticates an envelope (binary or text form), enforces the replay window and records
   * its nonce, then decodes it. Rejects with a `WaTransportError` whose `code` says why.
   */
  async open<T = unknown>(envelope: Uint8Array | string, options?: OpenOptions): Promise<Opened<T>> {
    return this.#openNow<T>(envelope, options);
  }

  /** `open`, without a promise when the replay store answers at once. */
  #openNow<T>(envelope: Uint8Array | string, options: OpenOptions | undefined): Opened<T> | Promise<Opened<T>> {
    return this.#openWith(envelope, options, openedOf) as Opened<T> | Promise<Opened<T>>;
  }

  /**
   * Every check, then `result` of the authenticated envelope: at once when the replay store
   * answered synchronously, once its promise settles otherwise. Throws (or rejects) the logged
   * rejection.
   */
  #openWith<R>(
    envelope: Uint8Array | string,
    options: OpenOptions | undefined,
    result: (checked: Checked) => R,
  ): R | Promise<R> {
    const seen: Seen = {};
    let failure: unknown;
    try {
      const checked = this.#check(envelope, options, seen);
      if (checked !== undefined) {
        if (checked.recorded === undefined) return this.#finish(checked, 0, result);
        return this.#finishLater(checked, seen, options, result);
      }
      failure = new WaTransportError(ErrorCode.FORGED);
    } catch (error) {
      failure = error;
    }
    throw this.#rejected(failure, seen, options);
  }

  async #finishLater<R>(
    checked: Checked,
    seen: Seen,
    options: OpenOptions | undefined,
    result: (checked: Checked) => R,
  ): Promise<R> {
    try {
      const started = performance.now();
      await checked.recorded;
      return this.#finish(checked, performance.now() - started, result);
    } catch (error) {
      throw this.#rejected(error, seen, options);
    }
  }

  /** `result` of an envelope that passed every check, told to the observer. */
  #finish<R>(checked: Checked, storeMs: number, result: (checked: Checked) => R): R {
    const value = result(checked);
    this.#observeOpened(checked, storeMs);
    return value;
  }

  /**
   * `open` without a promise, for a synchronous replay store (the default in-memory one).
   * With an asynchronous store it fails with ERR_WA_CONFIG.
   */
  openSync<T = unknown>(envelope: Uint8Array | string, options?: OpenOptions): Opened<T> {
    const seen: Seen = {};
    let failure: unknown;
    try {
      const checked = this.#check(envelope, options, seen);
      if (checked !== undefined) {
        if (checked.recorded instanceof Promise) {
          checked.recorded.catch(() => {}); // the error below reports it
          throw new WaTransportError(ErrorCode.CONFIG, 'openSync needs a synchronous replay store; use open');
        }
        return this.#finish(checked, 0, openedOf) as Opened<T>;
      }
      failure = new WaTransportError(ErrorCode.FORGED);
    } catch (error) {
      failure = error;
    }
    throw this.#rejected(failure, seen, options);
  }

  #openPayload(envelope: Uint8Array, options: OpenOptions): unknown {
    return this.#openWith(envelope, options, payloadOfChecked);
  }

  /**
   * Authenticates and decodes an envelope without the window and the replay store, for an
   * envelope whose context binds it to one exchange this endpoint started and awaits once: a
   * sealed refusal bound to its own request's nonce (src/transport/http-client.ts). Such an
   * envelope cannot be replayed onto anything else, and refusing it for a clock difference
   * would hide exactly the refusals (ERR_WA_EXPIRED, ERR_WA_FUTURE) that report one.
   */
  openReply<T = unknown>(envelope: Uint8Array, options: OpenOptions & { context: string | Uint8Array }): Opened<T> {
    const seen: Seen = { bytes: envelope };
    try {
      const plaintext = this.#authenticate(envelope, contextBytes(checkedContext(options.context), undefined));
      if (plaintext === null) throw new WaTransportError(ErrorCode.FORGED);
      return decoded<T>(envelope, plaintext, this.#keyIdOf(envelope));
    } catch (error) {
      throw this.#rejected(error, seen, options);
    }
  }

  /**
   * Every check but the wait for an asynchronous store. `seen` keeps the bytes for the log.
   * Undefined for a forgery (the tag does not verify): it is thrown once, by the caller.
   */
  #check(envelope: Uint8Array | string, options: OpenOptions | undefined, seen: Seen): Checked | undefined {
    const bytes = this.#bytesOf(envelope);
    seen.bytes = bytes;
    // An id that is not of the text form cannot have been sealed by us: refused unread.
    const requestId = checkedBinding(options, ErrorCode.MALFORMED);
    const plaintext = this.#authenticate(bytes, contextBytes(options?.context, requestId));
    if (plaintext === null) return undefined;
    const timestamp = readTimestamp(bytes);
    const now = this.#verifier.now();
    seen.skewMs = timestamp - now;
    this.#verifier.checkTime(timestamp, now);
    // The keyring's string, not a new one: building the hex cost 2.4% of a 64-byte round trip.
    // It also scopes the store's keys to this secret.
    const keyId = this.#keyIdOf(bytes);
    let recorded: void | Promise<void>;
    if (requestId === undefined) {
      recorded = this.#verifier.recordNonce(readNonce(bytes), timestamp, now, keyId);
    } else {
      // With a request id, the id is what is recorded, at the time of the request's first
      // attempt: a replay of this envelope carries the same id, and so does every retry.
      const id = parseRequestId(requestId);
      if (id.issuedAt > timestamp) throw new WaTransportError(ErrorCode.MALFORMED);
      this.#verifier.checkTime(id.issuedAt, now);
      recorded = this.#verifier.recordNonce(id.key, id.issuedAt, now, keyId);
    }
    return { bytes, plaintext, timestamp, now, keyId, recorded };
  }

  #bytesOf(envelope: Uint8Array | string): Uint8Array {
    if (typeof envelope === 'string') return fromText(envelope, this.maxEnvelopeBytes);
    if (envelope instanceof Uint8Array) return envelope;
    throw new WaTransportError(ErrorCode.MALFORMED);
  }

  /** Steps 1–6 of PROTOCOL §4.2: the plaintext, or null for a tag that does not verify. */
  #authenticate(bytes: Uint8Array, context: Uint8Array | undefined): Uint8Array | null {
    return authenticateEnvelope(bytes, {
      backend: this.#backend,
      keyring: this.#keyring,
      direction: INBOUND[this.role],
      maxEnvelopeBytes: this.maxEnvelopeBytes,
      context,
    });
  }

  /** The keyring's own key id string of an authenticated envelope, not a new one. */
  #keyIdOf(bytes: Uint8Array): string {
    return this.#keyring.get(readKeyIdWord(bytes))!.keyIdHex;
  }

  #observeOpened({ timestamp, now, keyId }: Checked, storeMs: number): void {
    if (this.#observer) {
      callSafely(this.#logger, 'observer.opened', () =>
        this.#observer?.opened?.({ keyId, skewMs: timestamp - now, storeMs }),
      );
    }
  }

  /** Logs a rejection (code, key id, peer: never payload or key material) and returns the error. */
  #rejected(error: unknown, { bytes, skewMs }: Seen, options: OpenOptions | undefined): unknown {
    if (!isWaTransportError(error)) return error;
    // A configured key's cached string when there is one (every forgery that reached the tag
    // check): building the hex again cost a tenth of a rejection (bench/rejection.ts).
    const keyId =
      bytes !== undefined && bytes.length >= MIN_ENVELOPE_BYTES
        ? (this.#keyring.get(readKeyIdWord(bytes))?.keyIdHex ?? keyIdHex(bytes))
        : undefined;
    const peer = options?.peer;
    this.#logger.warn(
      { event: 'wa_transport.rejected', code: error.code, keyId, peer, role: this.role },
      'envelope rejected',
    );
    if (this.#observer) {
      callSafely(this.#logger, 'observer.rejected', () =>
        this.#observer?.rejected?.({ code: error.code, keyId, skewMs, peer }),
      );
    }
    return error;
  }

  toJSON(): { role: Role; keyIds: string[] } {
    return { role: this.role, keyIds: this.keyIds };
  }

  toString(): string {
    return `Endpoint(${this.role}, keys ${this.keyIds.join(', ')})`;
  }

  [inspect.custom](): string {
    return this.toString();
  }
}

/**
 * What the transports need of an endpoint: an `Endpoint`, or anything that forwards to one,
 * such as a `RotatingEndpoint` (src/ops/rotation.ts) whose secrets change while it serves.
 */
export type EndpointLike = Pick<
  Endpoint,
  'role' | 'maxEnvelopeBytes' | 'seal' | 'sealText' | 'open' | 'openSync' | 'openReply' | 'newRequestId'
> &
  Partial<Pick<Endpoint, 'logger'>>;

/** Creates an endpoint once libsodium is ready. */
export async function createEndpoint(options: EndpointOptions): Promise<Endpoint> {
  optionsObject(options, 'createEndpoint options');
  return construct(options, await selectBackend(endpointBackend(options.backend)));
}

/** An authenticated envelope, decoded by its format (PROTOCOL §4.2 step 10). */
function decoded<T>(bytes: Uint8Array, plaintext: Uint8Array, keyId: string): Opened<T> {
  return {
    payload: payloadOf(bytes, plaintext) as T,
    keyId,
    timestamp: readTimestamp(bytes),
    nonce: readNonce(bytes).slice(),
  };
}

/** What `open` returns for an envelope that passed every check. */
function openedOf(checked: Checked): Opened<unknown> {
  return decoded(checked.bytes, checked.plaintext, checked.keyId);
}

/** What `openPayload` returns: the payload alone. */
function payloadOfChecked(checked: Checked): unknown {
  return payloadOf(checked.bytes, checked.plaintext);
}

/** The payload, sharing no memory with the plaintext, which may be pooled (src/crypto/bytes.ts). */
function payloadOf(bytes: Uint8Array, plaintext: Uint8Array): unknown {
  return bytes[FORMAT_OFFSET] === PayloadFormat.BYTES ? owned(plaintext) : decodeMsgpack(plaintext);
}

/**
 * The request id of `options`, refused as `invalidId` unless it has the text form, after which
 * a context that is neither text nor bytes is refused (ERR_WA_CONFIG). The context's bytes, with
 * the id bound in (docs/PROTOCOL.md §4.4), are built by `contextBytes` just before the cipher.
 */
function checkedBinding(options: SealOptions | undefined, invalidId: ErrorCode): string | undefined {
  const requestId = options?.requestId;
  if (requestId !== undefined && !isRequestIdText(requestId)) {
    throw new WaTransportError(invalidId, 'requestId is not a request id');
  }
  checkedContext(options?.context);
  return requestId;
}

function checkedContext(context: unknown): string | Uint8Array | undefined {
  if (context === undefined || typeof context === 'string' || context instanceof Uint8Array) return context;
  throw new WaTransportError(ErrorCode.CONFIG, 'context must be a string or a Uint8Array');
}
