/**
 * The connecting side of the WebSocket channel. Each connection attempt carries a fresh sealed
 * hello; the channel opens once the server's welcome has been authenticated, so both sides have
 * proved they hold the secret. A lost connection is retried with capped exponential backoff
 * and jitter; messages are not re-sent across connections (at most once).
 */
import type { Agent } from 'node:http';
import WebSocket from 'ws';
import type { EndpointLike } from '../endpoint.js';
import { readNonce } from '../envelope/format.js';
import { fromText, toText } from '../envelope/text.js';
import { callSafely } from '../callbacks.js';
import { ErrorCode, WaTransportError } from '../errors.js';
import { type Logger, loggerOf } from '../log.js';
import {
  MAX_TIMER_MS,
  asksForTls,
  endpointLike,
  nonNegativeNumber,
  optionalFunction,
  optionsObject,
} from '../options.js';
import {
  DEFAULT_HEARTBEAT_MS,
  DEFAULT_MAX_BUFFERED_BYTES,
  WsChannel,
  WsChannelError,
  type WsCloseEvent,
} from './ws-channel.js';
import { HttpStatusError, unsealedAnswer } from './status-error.js';
import { type ClientTlsOptions, SecurityLevel, clientTlsOptions } from './tls.js';
import {
  HELLO_HEADER,
  HELLO_REJECTION_HEADER,
  HELLO_REQUEST_ID_HEADER,
  WsCloseCode,
  helloContext,
  helloRefusalContext,
} from './ws-protocol.js';

export interface WsReconnectOptions {
  /**
   * First retry delay in ms, before jitter.
   * @default 250
   */
  initialDelayMs?: number;
  /**
   * Ceiling of the delay in ms, before jitter.
   * @default 30_000
   */
  maxDelayMs?: number;
  /**
   * Growth per consecutive failure.
   * @default 2
   */
  factor?: number;
  /**
   * Fraction of the delay that is randomised away, in [0, 1].
   * @default 0.5
   */
  jitter?: number;
  /**
   * Consecutive failed attempts before giving up.
   * @default Infinity (never give up)
   */
  maxAttempts?: number;
}

/** TLS options for `wss:` URLs: trust a private CA, present a client certificate, pin a profile. */
export interface WsClientOptions {
  /** Seals the hello and this side's frames, opens the server's. */
  endpoint: EndpointLike;
  /** `ws://` or `wss://` URL. Its path and query are bound into the hello. */
  url: string | URL;
  /** A channel opened (first time and after every reconnect). */
  onOpen?(channel: WsChannel): void;
  /** A frame arrived, authentic and in sequence. A returned promise holds the next frame back. */
  onMessage?(payload: unknown, channel: WsChannel): void | Promise<void>;
  /** A channel closed or a connection attempt failed. */
  onClose?(event: WsClientCloseEvent): void;
  /** Backoff between attempts, or `false` to never reconnect. */
  reconnect?: WsReconnectOptions | false;
  /**
   * Ping interval in ms; a server silent for a whole interval is terminated. 0 disables.
   * @default 30_000
   */
  heartbeatMs?: number;
  /**
   * Most bytes buffered for sending, and received frames waiting.
   * @default 1_048_576 (1 MiB)
   */
  maxBufferedBytes?: number;
  /**
   * Time for the upgrade and, again, for the server's welcome, in ms.
   * @default 10_000
   */
  handshakeTimeoutMs?: number;
  /**
   * For wss:, the same file-based options as the HTTP client. The server is always verified,
   * without them against Node's CA store, even under NODE_TLS_REJECT_UNAUTHORIZED=0.
   */
  tls?: ClientTlsOptions;
  agent?: Agent;
  /** Refused upgrades and failed channels are logged here (docs/logging.md). Default: the endpoint's logger. */
  logger?: Logger;
}

export interface WsClientCloseEvent extends WsCloseEvent {
  /**
   * For an upgrade the server refused, why: sealed (`sealed: true`, the server's authenticated
   * `code`, e.g. ERR_WA_EXPIRED for a clock difference), or not (ERR_WA_UNSEALED_RESPONSE, with
   * the code it claims in `claimedCode`, e.g. ERR_WA_UNKNOWN_KEY for a wrong secret).
   */
  readonly error?: HttpStatusError | undefined;
  /** Whether another attempt is scheduled. */
  readonly willReconnect: boolean;
  /** The delay before it, in ms. */
  readonly delayMs?: number | undefined;
}

const DEFAULT_RECONNECT: Required<WsReconnectOptions> = {
  initialDelayMs: 250,
  maxDelayMs: 30_000,
  factor: 2,
  jitter: 0.5,
  maxAttempts: Number.POSITIVE_INFINITY,
};

/**
 * Delay before retry number `attempt` (0-based): min(max, initial·factor^attempt), of which a
 * random fraction up to `jitter` is taken off, so clients cut off together do not return
 * together ("Exponential Backoff And Jitter", AWS Architecture Blog, 2015).
 */
export function backoffDelay(attempt: number, options: Required<WsReconnectOptions>, random = Math.random): number {
  const ceiling = Math.min(options.maxDelayMs, options.initialDelayMs * options.factor ** attempt);
  return ceiling * (1 - options.jitter * random());
}

export class WsClient {
  readonly #options: WsClientOptions;
  readonly #url: URL;
  readonly #reconnect: Required<WsReconnectOptions> | false;
  readonly #logger: Logger;
  readonly #heartbeatMs: number;
  readonly #maxBufferedBytes: number;
  readonly #handshakeTimeoutMs: number;
  readonly #tls: ReturnType<typeof clientTlsOptions>;
  #channel: WsChannel | undefined;
  #failures = 0;
  #stopped = false;
  #timer: NodeJS.Timeout | undefined;
  /** The request id of the connection being opened, and when it was issued (performance.now()). */
  #hello: { readonly requestId: string; readonly since: number } | undefined;
  #waiters: Array<{ resolve(channel: WsChannel): void; reject(error: Error): void }> = [];
  /** Why the last attempt's upgrade was refused, if it was: what `ready()` rejects with once stopped. */
  #refusal: HttpStatusError | undefined;

  /** Connects to a `WsServer` and keeps reconnecting (see `WsClientOptions`). */
  constructor(options: WsClientOptions) {
    this.#options = optionsObject(options, 'WsClient options');
    endpointLike(options.endpoint, 'endpoint');
    this.#url = parseUrl(options.url);
    // Ignoring it would send in clear what the caller meant to send over TLS.
    if (asksForTls(options.tls) && this.#url.protocol === 'ws:') {
      throw new WaTransportError(ErrorCode.CONFIG, 'tls is given but url is ws:; use wss:');
    }
    for (const name of ['onOpen', 'onMessage', 'onClose'] as const) optionalFunction(options[name], name);
    this.#reconnect = options.reconnect === false ? false : reconnectOptions(options.reconnect);
    this.#logger = loggerOf(options.logger, options.endpoint);
    this.#heartbeatMs = nonNegativeNumber(options.heartbeatMs ?? DEFAULT_HEARTBEAT_MS, 'heartbeatMs', MAX_TIMER_MS);
    this.#maxBufferedBytes = nonNegativeNumber(
      options.maxBufferedBytes ?? DEFAULT_MAX_BUFFERED_BYTES,
      'maxBufferedBytes',
    );
    this.#handshakeTimeoutMs = nonNegativeNumber(
      options.handshakeTimeoutMs ?? 10_000,
      'handshakeTimeoutMs',
      MAX_TIMER_MS,
    );
    if (options.agent !== undefined && (typeof options.agent !== 'object' || options.agent === null)) {
      throw new WaTransportError(ErrorCode.CONFIG, 'agent must be an http.Agent or https.Agent');
    }
    // Read once: a missing file is a configuration error now, not a failed reconnect later.
    // Always, even without a `tls` option: it sets rejectUnauthorized explicitly, so that
    // NODE_TLS_REJECT_UNAUTHORIZED=0 in the environment cannot turn verification off.
    this.#tls = clientTlsOptions(tlsOptions(options.tls));
    this.#connect();
  }

  /** The open channel, if any. */
  get channel(): WsChannel | undefined {
    return this.#channel?.isOpen === true ? this.#channel : undefined;
  }

  /** Sends on the open channel (see `WsChannel.send`); rejects ERR_WA_WS_CLOSED while there is none. */
  send(payload: unknown): Promise<void> {
    const channel = this.channel;
    return channel === undefined ? Promise.reject(new WsChannelError('ERR_WA_WS_CLOSED')) : channel.send(payload);
  }

  /**
   * Resolves with the open channel, waiting across reconnects; rejects once the client has
   * stopped: with the refusal (an `HttpStatusError`, as `WsClientCloseEvent.error`) when the
   * last upgrade was refused, else with ERR_WA_WS_CLOSED.
   */
  ready(): Promise<WsChannel> {
    const channel = this.channel;
    if (channel !== undefined) return Promise.resolve(channel);
    if (this.#stopped) return Promise.reject(this.#refusal ?? new WsChannelError('ERR_WA_WS_CLOSED'));
    return new Promise((resolve, reject) => this.#waiters.push({ resolve, reject }));
  }

  /** Stops reconnecting and closes the channel; resolves once it is closed. */
  async close(code: number = WsCloseCode.NORMAL, reason = ''): Promise<void> {
    this.#refusal = undefined;
    this.#stop();
    clearTimeout(this.#timer);
    const channel = this.#channel;
    if (channel === undefined) return;
    channel.close(code, reason);
    await channel.closed;
  }

  #connect(): void {
    const target = this.#url.pathname + this.#url.search;
    // One request id per connection being opened, kept across refused attempts: a refused hello
    // presented again later opens nothing once an attempt with the same id has.
    const now = performance.now();
    if (this.#hello === undefined || now - this.#hello.since > HELLO_ID_RENEW_MS) {
      this.#hello = { requestId: this.#options.endpoint.newRequestId(), since: now };
    }
    const { requestId } = this.#hello;
    const hello = this.#options.endpoint.seal(new Uint8Array(0), { context: helloContext(target), requestId });
    const id = toText(readNonce(hello));
    let refused: Refused | undefined;
    const ws = new WebSocket(this.#url, {
      ...this.#tls,
      ...(this.#options.agent === undefined ? {} : { agent: this.#options.agent }),
      headers: { [HELLO_HEADER]: toText(hello), [HELLO_REQUEST_ID_HEADER]: requestId },
      maxPayload: this.#options.endpoint.maxEnvelopeBytes,
      perMessageDeflate: false,
      followRedirects: false,
      handshakeTimeout: this.#handshakeTimeoutMs,
    });
    ws.on('unexpected-response', (_request, response) => {
      const status = response.statusCode ?? 0;
      refused = { status, code: undefined, error: unsealedAnswer(status, new Uint8Array(0), 'upgrade refusal') };
      const sealed = response.headers[HELLO_REJECTION_HEADER] !== undefined;
      let body = '';
      response.setEncoding('latin1');
      response.on('data', (chunk: string) => {
        body += chunk;
        if (body.length > MAX_REFUSAL_CHARS) ws.terminate();
      });
      response.on('end', () => {
        if (sealed) {
          const code = this.#refusalCode(body, id, status);
          refused = {
            status,
            code,
            error:
              code === undefined
                ? new HttpStatusError(ErrorCode.UNSEALED_RESPONSE, status, 'upgrade refusal failed to open')
                : new HttpStatusError(code, status, 'upgrade refused by the CoreApp', { sealed: true }),
          };
        } else {
          refused = {
            status,
            code: undefined,
            error: unsealedAnswer(status, Buffer.from(body, 'latin1'), 'upgrade refusal'),
          };
        }
        // Refused as a replay or as too old: that id is spent; the next attempt takes a new one.
        if (refused?.code !== undefined && refused.code !== ErrorCode.REPLAY_STORE_UNAVAILABLE) this.#hello = undefined;
        ws.terminate();
      });
    });
    this.#channel = new WsChannel(ws, {
      endpoint: this.#options.endpoint,
      id,
      side: 'client',
      peer: this.#url.host,
      maxBufferedBytes: this.#maxBufferedBytes,
      heartbeatMs: this.#heartbeatMs,
      welcomeTimeoutMs: this.#handshakeTimeoutMs,
      logger: this.#logger,
      hooks: {
        onOpen: (channel) => {
          this.#failures = 0;
          this.#hello = undefined; // a reconnect later is another connection: a new id
          for (const waiter of this.#waiters.splice(0)) waiter.resolve(channel);
          callSafely(this.#logger, 'onOpen', () => this.#options.onOpen?.(channel));
        },
        onMessage: (payload, channel) => this.#options.onMessage?.(payload, channel),
        onClose: (channel, event) => this.#closed(channel, refusedEvent(event, refused)),
      },
    });
  }

  /** The code of a sealed upgrade refusal, or undefined when it does not open (not the server's). */
  #refusalCode(body: string, connectionId: string, status: number): ErrorCode | undefined {
    try {
      const bytes = fromText(body, this.#options.endpoint.maxEnvelopeBytes);
      const opened = this.#options.endpoint.openReply(bytes, { context: helloRefusalContext(connectionId, status) });
      const code = (opened.payload as { error?: unknown } | null)?.error;
      return typeof code === 'string' && (Object.values(ErrorCode) as string[]).includes(code)
        ? (code as ErrorCode)
        : undefined;
    } catch {
      return undefined;
    }
  }

  #closed(channel: WsChannel, event: WsCloseEvent & { error?: HttpStatusError | undefined }): void {
    if (this.#channel === channel) this.#channel = undefined;
    this.#refusal = event.error;
    // The same event and fields as the server's refusal, plus what only the client knows. A
    // welcome that fails is the channel's own `wa_transport.ws.rejected`.
    const refusal = event.error;
    if (refusal !== undefined) {
      this.#logger.warn(
        {
          event: 'wa_transport.ws.refused',
          side: 'client',
          status: refusal.status,
          code: refusal.code,
          peer: this.#url.host,
          target: this.#url.pathname + this.#url.search,
          sealed: refusal.sealed,
          claimedCode: refusal.claimedCode,
        },
        'websocket upgrade refused',
      );
    }
    let delayMs: number | undefined;
    if (!this.#stopped && this.#reconnect !== false && this.#failures < this.#reconnect.maxAttempts) {
      delayMs = backoffDelay(this.#failures, this.#reconnect);
      this.#failures++;
      this.#timer = setTimeout(() => {
        if (!this.#stopped) this.#connect();
      }, delayMs);
    } else {
      this.#stop(event.error);
    }
    const closed = { ...event, willReconnect: delayMs !== undefined, delayMs };
    callSafely(this.#logger, 'onClose', () => this.#options.onClose?.(closed));
  }

  #stop(refusal?: HttpStatusError): void {
    this.#stopped = true;
    for (const waiter of this.#waiters.splice(0)) waiter.reject(refusal ?? new WsChannelError('ERR_WA_WS_CLOSED'));
  }
}

/** Longest refusal body read: a sealed `{ error }` in text form is well under 200 characters. */
const MAX_REFUSAL_CHARS = 4096;
/** A hello's request id is renewed after this long: the server refuses ids older than its window (10 s by default). */
const HELLO_ID_RENEW_MS = 8000;

/** A refused upgrade: its status, the server's sealed code when it sent one that opened, and the error to surface. */
interface Refused {
  readonly status: number;
  readonly code: ErrorCode | undefined;
  readonly error: HttpStatusError;
}

/**
 * An upgrade refused with 401 or 503 surfaces as the close code a channel would have used; the
 * reason names the server's code when the refusal was sealed (authentic), else says it was not.
 */
function refusedEvent(event: WsCloseEvent, refused: Refused | undefined): WsCloseEvent & { error?: HttpStatusError } {
  if (refused === undefined) return event;
  const { status, code, error } = refused;
  const claim = error.claimedCode === undefined ? '' : `, claims ${error.claimedCode}`;
  const reason = `upgrade refused: ${status}${code === undefined ? ` (unsealed${claim})` : ` ${code}`}`;
  if (status === 401) return { code: WsCloseCode.AUTH_FAILED, reason, error };
  if (status === 503) return { code: WsCloseCode.TRY_AGAIN_LATER, reason, error };
  return { code: event.code, reason, error };
}

function parseUrl(url: string | URL): URL {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch (error) {
    throw new WaTransportError(ErrorCode.CONFIG, 'url must be a ws: or wss: URL', { cause: error });
  }
  if (parsed.protocol !== 'ws:' && parsed.protocol !== 'wss:') {
    throw new WaTransportError(ErrorCode.CONFIG, 'url must be ws: or wss:');
  }
  return parsed;
}

/** `tls`, checked where clientTlsOptions would fail with a TypeError. */
function tlsOptions(tls: ClientTlsOptions | undefined): ClientTlsOptions {
  if (tls === undefined) return {};
  optionsObject(tls, 'tls');
  if (tls.level !== undefined && !Object.values<string>(SecurityLevel).includes(tls.level)) {
    throw new WaTransportError(ErrorCode.CONFIG, 'tls.level must be one of modern, intermediate, old');
  }
  return tls;
}

function reconnectOptions(options: WsReconnectOptions | undefined): Required<WsReconnectOptions> {
  if (options !== undefined) optionsObject(options, 'reconnect');
  const merged = { ...DEFAULT_RECONNECT, ...options };
  // A delay past Node's timer limit would become 1 ms: a reconnect loop.
  nonNegativeNumber(merged.initialDelayMs, 'reconnect.initialDelayMs', MAX_TIMER_MS);
  nonNegativeNumber(merged.maxDelayMs, 'reconnect.maxDelayMs', MAX_TIMER_MS);
  if (!(merged.factor >= 1)) throw new WaTransportError(ErrorCode.CONFIG, 'reconnect.factor must be ≥ 1');
  if (!(merged.jitter >= 0 && merged.jitter <= 1)) {
    throw new WaTransportError(ErrorCode.CONFIG, 'reconnect.jitter must be in [0, 1]');
  }
  if (!(merged.maxAttempts >= 0)) throw new WaTransportError(ErrorCode.CONFIG, 'reconnect.maxAttempts must be ≥ 0');
  return merged;
}
