/**
 * The accepting side of the WebSocket channel. A connection is authenticated before it is
 * accepted: the upgrade request must carry a sealed hello (`wa-hello` header) bound to the
 * request target, fresh and never seen before; otherwise the upgrade is answered with HTTP
 * 401 (503 if the replay store cannot answer) and no WebSocket ever exists.
 */
import type { IncomingMessage, Server as HttpServer } from 'node:http';
import type { Server as HttpsServer } from 'node:https';
import type { Duplex } from 'node:stream';
import { WebSocketServer } from 'ws';
import { callSafely } from '../callbacks.js';
import type { EndpointLike } from '../endpoint.js';
import { readNonce } from '../envelope/format.js';
import { fromText, toText } from '../envelope/text.js';
import { ErrorCode, WaTransportError, isAfterAuthentication, isWaTransportError } from '../errors.js';
import { type Logger, loggerOf } from '../log.js';
import {
  MAX_TIMER_MS,
  endpointLike,
  nonNegativeNumber,
  optionalFunction,
  optionsObject,
  pathPrefix,
  positiveInteger,
} from '../options.js';
import { DEFAULT_HEARTBEAT_MS, DEFAULT_MAX_BUFFERED_BYTES, WsChannel, type WsCloseEvent } from './ws-channel.js';
import {
  HELLO_HEADER,
  HELLO_REJECTION_HEADER,
  HELLO_REQUEST_ID_HEADER,
  WsCloseCode,
  helloContext,
  helloRefusalContext,
  helloStatusFor,
} from './ws-protocol.js';

export interface WsServerOptions {
  /** Opens the clients' hellos and frames, seals this side's frames. */
  endpoint: EndpointLike;
  /**
   * An `http.Server` or `https.Server` (for WSS) whose upgrade requests this server takes.
   * Omit it to route upgrades yourself with `handleUpgrade` (several paths on one server).
   */
  server?: HttpServer | HttpsServer;
  /** Accept upgrades for this pathname only; others get HTTP 400. Default: any path. */
  path?: string;
  /**
   * The path prefix a reverse proxy in front strips (as `SealedServerOptions.pathPrefix`): the
   * client's hello is bound to the target it asked for, so it is opened as `pathPrefix +
   * target`. Without it every hello through such a proxy fails with ERR_WA_FORGED. Default: none.
   */
  pathPrefix?: string;
  /** A client was authenticated and its channel is open. */
  onConnection?(channel: WsChannel, request: IncomingMessage): void;
  /** A frame arrived, authentic and in sequence. A returned promise holds the next frame back. */
  onMessage?(payload: unknown, channel: WsChannel): void | Promise<void>;
  /** A channel closed (after its last message was handled). */
  onClose?(channel: WsChannel, event: WsCloseEvent): void;
  /**
   * Ping interval in ms; a client silent for a whole interval is terminated. 0 disables.
   * @default 30_000
   */
  heartbeatMs?: number;
  /**
   * Per channel: most bytes buffered for sending, and received frames waiting.
   * @default 1_048_576 (1 MiB)
   */
  maxBufferedBytes?: number;
  /**
   * Most upgrade requests whose hello is being checked at once; more are refused with 503
   * (ERR_WA_OVERLOADED) before anything is read. A hello waits at most for the replay store, so
   * only a flood keeps as many as the default in flight.
   * @default 256
   */
  maxPendingUpgrades?: number;
  /** Refused upgrades and failed channels are logged here (docs/logging.md). Default: the endpoint's logger. */
  logger?: Logger;
}

export class WsServer {
  readonly #options: WsServerOptions;
  readonly #logger: Logger;
  readonly #heartbeatMs: number;
  readonly #maxBufferedBytes: number;
  readonly #maxPendingUpgrades: number;
  readonly #pathPrefix: string;
  #pendingUpgrades = 0;
  readonly #wss: WebSocketServer;
  /** Connection ids of upgrade requests whose hello opened, until ws hands over the socket. */
  readonly #accepted = new WeakMap<IncomingMessage, string>();
  readonly #channels = new Set<WsChannel>();
  readonly #onUpgrade = (request: IncomingMessage, socket: Duplex, head: Buffer): void => {
    this.handleUpgrade(request, socket, head);
  };

  /** A WebSocket server for authenticated channels (see `WsServerOptions`). */
  constructor(options: WsServerOptions) {
    this.#options = optionsObject(options, 'WsServer options');
    endpointLike(options.endpoint, 'endpoint');
    for (const name of ['onConnection', 'onMessage', 'onClose'] as const) optionalFunction(options[name], name);
    this.#logger = loggerOf(options.logger, options.endpoint);
    this.#heartbeatMs = nonNegativeNumber(options.heartbeatMs ?? DEFAULT_HEARTBEAT_MS, 'heartbeatMs', MAX_TIMER_MS);
    this.#maxBufferedBytes = nonNegativeNumber(
      options.maxBufferedBytes ?? DEFAULT_MAX_BUFFERED_BYTES,
      'maxBufferedBytes',
    );
    this.#pathPrefix = pathPrefix(options.pathPrefix);
    this.#maxPendingUpgrades = positiveInteger(
      options.maxPendingUpgrades ?? DEFAULT_MAX_PENDING_UPGRADES,
      'maxPendingUpgrades',
    );
    this.#wss = new WebSocketServer({
      noServer: true,
      ...(options.path === undefined ? {} : { path: options.path }),
      // The endpoint would refuse anything larger; ws then closes with 1009 before buffering it.
      maxPayload: options.endpoint.maxEnvelopeBytes,
      // Ciphertext does not compress, and deflate state costs ~300 KiB per connection (ws README).
      perMessageDeflate: false,
      clientTracking: false,
      verifyClient: (info, callback) => {
        if (this.#pendingUpgrades >= this.#maxPendingUpgrades) {
          const peer = info.req.socket.remoteAddress;
          this.#logger.warn(
            {
              event: 'wa_transport.ws.refused',
              side: 'server',
              status: 503,
              code: ErrorCode.OVERLOADED,
              peer,
              target: info.req.url,
            },
            'websocket upgrade refused',
          );
          const refusal = unsealedRefusal(ErrorCode.OVERLOADED, 503);
          return callback(false, refusal.status, refusal.body, refusal.headers);
        }
        this.#pendingUpgrades++;
        void this.#verify(info.req).then((verdict) => {
          this.#pendingUpgrades--;
          if (typeof verdict !== 'string') return callback(false, verdict.status, verdict.body, verdict.headers);
          this.#accepted.set(info.req, verdict);
          callback(true);
        });
      },
    });
    options.server?.on('upgrade', this.#onUpgrade);
  }

  /** Open channels. */
  get channels(): ReadonlySet<WsChannel> {
    return this.#channels;
  }

  /** Takes an upgrade request: for `noServer` use, from your server's `'upgrade'` event. */
  handleUpgrade(request: IncomingMessage, socket: Duplex, head: Buffer): void {
    this.#wss.handleUpgrade(request, socket, head, (ws, req) => {
      const id = this.#accepted.get(req);
      this.#accepted.delete(req);
      if (id === undefined) {
        ws.terminate(); // unreachable: verifyClient runs first; fail closed anyway
        return;
      }
      const channel = new WsChannel(ws, {
        endpoint: this.#options.endpoint,
        id,
        side: 'server',
        peer: req.socket.remoteAddress,
        maxBufferedBytes: this.#maxBufferedBytes,
        heartbeatMs: this.#heartbeatMs,
        logger: this.#logger,
        hooks: {
          onMessage: (payload, open) => this.#options.onMessage?.(payload, open),
          onClose: (closed, event) => this.#options.onClose?.(closed, event),
        },
      });
      this.#channels.add(channel);
      void channel.closed.then(() => this.#channels.delete(channel));
      callSafely(this.#logger, 'onConnection', () => this.#options.onConnection?.(channel, req));
    });
  }

  /**
   * Stops taking upgrades, closes every channel with 1001 and waits for them to close (at most
   * ws's 30 s close timeout per unresponsive peer). The `http.Server` passed in stays open.
   */
  async close(): Promise<void> {
    this.#options.server?.off('upgrade', this.#onUpgrade);
    const closing = [...this.#channels].map((channel) => {
      channel.close(WsCloseCode.GOING_AWAY, 'server closing');
      return channel.closed;
    });
    await Promise.all(closing);
    await new Promise<void>((resolve) => this.#wss.close(() => resolve()));
  }

  /**
   * Opens the hello: the connection id (its nonce, base64url), or the refusal. A refusal after
   * the hello authenticated is sealed (PROTOCOL §8.2); one before is a bare status.
   */
  async #verify(request: IncomingMessage): Promise<string | Refusal> {
    const peer = request.socket.remoteAddress ?? 'unknown';
    let hello: string | undefined;
    try {
      const header = request.headers[HELLO_HEADER];
      const requestId = request.headers[HELLO_REQUEST_ID_HEADER];
      if (typeof header !== 'string') throw new WaTransportError(ErrorCode.MALFORMED, 'no hello');
      if (requestId !== undefined && typeof requestId !== 'string') throw new WaTransportError(ErrorCode.MALFORMED);
      hello = header;
      const opened = await this.#options.endpoint.open(hello, {
        context: helloContext(this.#pathPrefix + (request.url ?? '/')),
        ...(requestId === undefined ? {} : { requestId }),
        peer,
      });
      return toText(opened.nonce);
    } catch (error) {
      const code = isWaTransportError(error) ? error.code : 'internal';
      const status = isWaTransportError(error) ? helloStatusFor(error) : 503;
      // `target` as bound: beside the client's own, it shows a path rewritten on the way.
      const target = this.#pathPrefix + (request.url ?? '/');
      this.#logger.warn(
        { event: 'wa_transport.ws.refused', side: 'server', status, code, peer, target },
        'websocket upgrade refused',
      );
      if (!isWaTransportError(error)) return { status };
      if (hello === undefined || !isAfterAuthentication(error.code)) return unsealedRefusal(error.code, status);
      const id = toText(readNonce(fromText(hello, this.#options.endpoint.maxEnvelopeBytes)));
      const refusal = this.#options.endpoint.seal({ error: error.code }, { context: helloRefusalContext(id, status) });
      return {
        status,
        body: toText(refusal),
        headers: { 'Content-Type': ENVELOPE_TEXT_CONTENT_TYPE, [HELLO_REJECTION_HEADER]: '1' },
      };
    }
  }
}

/** How an upgrade is refused: a status, and for a sealed refusal its body (text form) and headers. */
interface Refusal {
  readonly status: number;
  readonly body?: string;
  readonly headers?: Record<string, string>;
}

/**
 * A refusal before authentication: unsealed JSON `{ "error": code }`, as HTTP answers it
 * (PROTOCOL §8.1, §8.2). ws's default is `text/html` "Unauthorized", which left a client unable
 * to tell a wrong secret from anything else; the code is only a claim, but it is one.
 */
function unsealedRefusal(code: ErrorCode, status: number): Refusal {
  return { status, body: JSON.stringify({ error: code }), headers: { 'Content-Type': 'application/json' } };
}

/** The media type of a sealed refusal in the text form (ws writes the body as a string). */
const ENVELOPE_TEXT_CONTENT_TYPE = 'text/plain; charset=us-ascii';

const DEFAULT_MAX_PENDING_UPGRADES = 256;
