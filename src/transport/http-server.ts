/**
 * The CoreApp side of HTTP: open a sealed request, call the handler with its payload, seal the
 * handler's answer bound to that request. `SealedHttp.serve` is the one place this happens;
 * `sealedHandler` (node:http), `sealedExpress`, `sealedFastify` and `sealedFetchHandler` (web
 * Request/Response) only adapt their framework's request and response to it, and read bodies
 * through ./http-body.ts. The bindings and statuses are in ./http-binding.ts.
 *
 * After authentication everything is sealed, including a handler's failure (500, `{error:
 * "internal"}`), so the client can tell an authentic 500 from a forged one.
 */
import type { IncomingHttpHeaders, IncomingMessage, ServerResponse } from 'node:http';
import type { Readable } from 'node:stream';
import { callSafely } from '../callbacks.js';
import { type EndpointLike, type Opened, openNow } from '../endpoint.js';
import { readNonce } from '../envelope/format.js';
import { fromText } from '../envelope/text.js';
import { ErrorCode, WaTransportError, isAfterAuthentication, isWaTransportError } from '../errors.js';
import { type Logger, loggerOf } from '../log.js';
import { pathPrefix, positiveInteger } from '../options.js';
import { type BodyLimits, type BodySink, type BodySource, PendingBodies, collectBody } from './http-body.js';
import {
  ENVELOPE_CONTENT_TYPE,
  ENVELOPE_HEADER,
  REJECTION_HEADER,
  REJECTION_STATUS,
  REQUEST_ID_HEADER,
  rejectionContext,
  requestContext,
  upperCaseMethod,
  responseContext,
} from './http-binding.js';

const encoder = new TextEncoder();

/** What a handler sees: the authenticated request. */
export interface SealedRequest<T = unknown> {
  /** Upper-case method; authenticated. */
  readonly method: string;
  /** Path and query exactly as received; authenticated. */
  readonly target: string;
  /** `target`'s path; authenticated. */
  readonly path: string;
  /** `target`'s query; authenticated. */
  readonly query: URLSearchParams;
  /** The opened payload. */
  readonly payload: T;
  /**
   * The request id (PROTOCOL §4.4), authenticated, when the client sent one (HttpClient always
   * does). The handler runs at most once per id, across retries and CoreApp nodes sharing a store.
   */
  readonly requestId: string | undefined;
  /** Key id of the secret the request was sealed with. */
  readonly keyId: string;
  /** When the WebApp sealed it (its clock, ms since the epoch). */
  readonly timestamp: number;
  /** Request headers. NOT authenticated: do not base a decision on them. */
  readonly headers: IncomingHttpHeaders;
  /** Remote address, for logs. */
  readonly peer: string | undefined;
}

/** Statuses whose responses carry no body: a sealed answer cannot use them. */
const BODILESS_STATUSES: ReadonlySet<number> = new Set([204, 205, 304]);

/** A handler's answer with a status other than 200. Build it with `sealedReply`. */
export class SealedReply {
  constructor(
    readonly payload: unknown,
    readonly status: number,
  ) {
    if (!Number.isInteger(status) || status < 200 || status > 599) {
      throw new WaTransportError(ErrorCode.CONFIG, 'reply status must be an integer from 200 to 599');
    }
    // These answers have no body (RFC 9110 §15.3.5, §15.3.6, §15.4.5), so no envelope to open.
    if (BODILESS_STATUSES.has(status)) {
      throw new WaTransportError(
        ErrorCode.CONFIG,
        `reply status ${status} has no body and cannot carry a sealed answer`,
      );
    }
  }
}

/** Answers with `payload`, sealed, and `status` (default 200). */
export function sealedReply(
  payload: unknown,
  options: {
    /**
     * The HTTP status of the answer.
     * @default 200
     */
    status?: number;
  } = {},
): SealedReply {
  return new SealedReply(payload, options.status ?? 200);
}

/** Returns the payload to answer 200, or a `sealedReply(...)`. Throwing answers a sealed 500. */
export type SealedHandler<T = unknown> = (request: SealedRequest<T>) => unknown;

export interface SealedServerOptions {
  /** A CoreApp endpoint (`role: 'coreapp'`). */
  endpoint: EndpointLike;
  /**
   * Largest request body read, in bytes; beyond it 413 and the rest is not read. A body is held
   * unauthenticated until it is complete, so this is what one client can make the CoreApp
   * buffer for nothing.
   * @default 1_048_576 (1 MiB), or the endpoint's `maxEnvelopeBytes` if smaller
   */
  maxBodyBytes?: number;
  /**
   * A body must be complete this many ms after the request arrived, else 408
   * (ERR_WA_BODY_TIMEOUT) and the connection is closed. The default is the default window: a
   * body slower than the window would be refused as expired anyway, and a stalled client must
   * not hold its socket and its bytes for Node's 300 s request timeout.
   * @default 10_000
   */
  bodyTimeoutMs?: number;
  /**
   * Most bytes of request bodies held at once before they are authenticated, across all
   * requests of this handler. When a body needs room past it, the bodies that started first are
   * refused with 503 (ERR_WA_OVERLOADED) and their connections closed: stalled clients cannot
   * keep a new request out. With the default, 16 MiB, 1,000 stalled clients cannot make the
   * CoreApp hold more, while ordinary traffic (tens of requests of a few KiB in flight) never
   * comes near it.
   * @default 16_777_216 (16 MiB)
   */
  maxPendingBytes?: number;
  /**
   * Most requests whose bodies are being read at once, across all requests of this handler.
   * Past it, the request that started first is refused with 503 (ERR_WA_OVERLOADED) and its
   * connection closed, as with `maxPendingBytes`. A stalled client that declares a few bytes
   * and sends none holds nothing of the byte budget, but still a socket and a timer, hence this
   * cap too; honest traffic (tens of requests in flight) never comes near the default.
   * @default 1024
   */
  maxPendingRequests?: number;
  /**
   * Told of every error a handler throws (the client only sees a sealed 500). Default: ignored.
   * If it throws or rejects itself, that is logged (`wa_transport.callback_failed`) and the
   * request is still answered.
   */
  onHandlerError?: (error: unknown, request: SealedRequest) => unknown;
  /**
   * The path prefix a reverse proxy in front of this CoreApp strips: `/core` when the WebApp's
   * `baseUrl` is `https://gateway/core` and the proxy forwards `/core/v1/orders` as
   * `/v1/orders`. Requests are bound to the target the WebApp sealed for, so they are
   * authenticated as `pathPrefix + target`; handlers still see the target as received.
   * Without it every such request fails with ERR_WA_FORGED. Default: none.
   */
  pathPrefix?: string;
  /**
   * Where a failing `onHandlerError` and hints on failed authentication are reported. Default:
   * the endpoint's logger.
   */
  logger?: Logger;
}

/** A request as every adapter can describe it. */
export interface HttpInput {
  readonly method: string;
  /** Path + query as received (`req.url`, Express `originalUrl`). */
  readonly target: string;
  readonly headers: IncomingHttpHeaders;
  /** Reads the body within `limits` (see `readBody`). Not called for GET. */
  readonly body: (limits: BodyLimits) => Promise<Uint8Array>;
  readonly peer: string | undefined;
}

/** What to write back. */
export interface HttpOutcome {
  readonly status: number;
  readonly headers: Readonly<Record<string, string>>;
  readonly body: Uint8Array;
  /** True when the handler ran (the request was authentic). */
  readonly handled: boolean;
}

const INTERNAL_ERROR = { error: 'internal' } as const;

const DEFAULT_MAX_BODY_BYTES = 1024 * 1024;
const DEFAULT_BODY_TIMEOUT_MS = 10_000;
const DEFAULT_MAX_PENDING_BYTES = 16 * 1024 * 1024;
const DEFAULT_MAX_PENDING_REQUESTS = 1024;

/** The shared core: open a request, run the handler, seal its answer. */
export class SealedHttp {
  readonly endpoint: EndpointLike;
  readonly maxBodyBytes: number;
  readonly #limits: BodyLimits;
  readonly #onHandlerError: SealedServerOptions['onHandlerError'];
  readonly #logger: Logger;
  readonly #pathPrefix: string;
  #lastForgedHint = -Infinity;

  constructor(options: SealedServerOptions) {
    if (options.endpoint?.role !== 'coreapp') {
      throw new WaTransportError(ErrorCode.CONFIG, 'the HTTP server side needs an endpoint with role "coreapp"');
    }
    const max = positiveInteger(
      options.maxBodyBytes ?? Math.min(DEFAULT_MAX_BODY_BYTES, options.endpoint.maxEnvelopeBytes),
      'maxBodyBytes',
    );
    this.endpoint = options.endpoint;
    this.maxBodyBytes = max;
    this.#limits = {
      maxBytes: max,
      timeoutMs: positiveInteger(options.bodyTimeoutMs ?? DEFAULT_BODY_TIMEOUT_MS, 'bodyTimeoutMs'),
      pending: new PendingBodies(
        positiveInteger(options.maxPendingBytes ?? DEFAULT_MAX_PENDING_BYTES, 'maxPendingBytes'),
        positiveInteger(options.maxPendingRequests ?? DEFAULT_MAX_PENDING_REQUESTS, 'maxPendingRequests'),
      ),
    };
    this.#onHandlerError = options.onHandlerError;
    this.#logger = loggerOf(options.logger, options.endpoint);
    this.#pathPrefix = pathPrefix(options.pathPrefix);
  }

  /** Never throws: every failure becomes an outcome from the table above. */
  async serve<T>(input: HttpInput, handler: SealedHandler<T>): Promise<HttpOutcome> {
    const method = upperCaseMethod(input.method);
    let envelope: Uint8Array | string | undefined;
    let opened: Opened<T>;
    let requestId: string | undefined;
    try {
      requestId = singleHeader(input.headers, REQUEST_ID_HEADER);
      envelope = method === 'GET' ? envelopeHeader(input.headers) : await input.body(this.#limits);
      const opening = openNow<T>(this.endpoint, envelope, {
        context: requestContext(method, this.#pathPrefix + input.target),
        ...(requestId === undefined ? {} : { requestId }),
        ...(input.peer === undefined ? {} : { peer: input.peer }),
      });
      opened = opening instanceof Promise ? await opening : opening;
    } catch (error) {
      if (isWaTransportError(error, ErrorCode.FORGED)) this.#forgedHint(method, input);
      return this.#rejection(error, envelope, input.peer, method, this.#pathPrefix + input.target);
    }
    const queryAt = input.target.indexOf('?');
    const request: SealedRequest<T> = {
      method,
      target: input.target,
      path: queryAt < 0 ? input.target : input.target.slice(0, queryAt),
      query: new URLSearchParams(queryAt < 0 ? '' : input.target.slice(queryAt + 1)),
      payload: opened.payload,
      requestId,
      keyId: opened.keyId,
      timestamp: opened.timestamp,
      headers: input.headers,
      peer: input.peer,
    };
    let reply: SealedReply;
    try {
      const answer = await handler(request);
      reply = answer instanceof SealedReply ? answer : new SealedReply(answer, 200);
    } catch (error) {
      this.#handlerFailed(error, request);
      reply = new SealedReply(INTERNAL_ERROR, 500);
    }
    return {
      status: reply.status,
      headers: SEALED_HEADERS,
      body: this.#sealReply(reply, opened.nonce, request),
      handled: true,
    };
  }

  /**
   * The one case where a holder of the secret gets ERR_WA_FORGED for every request: the path it
   * sealed for is not the one this CoreApp receives (a proxy strips or adds a prefix). Only the
   * receiving side can say which path it bound, so it says so, at most once a minute (forgeries
   * are anyone's to send).
   */
  #forgedHint(method: string, input: HttpInput): void {
    const now = performance.now();
    if (now - this.#lastForgedHint < FORGED_HINT_EVERY_MS) return;
    this.#lastForgedHint = now;
    const target = this.#pathPrefix + input.target;
    this.#logger.warn(
      { event: 'wa_transport.http.forged', side: 'server', code: ErrorCode.FORGED, method, target, peer: input.peer },
      `request failed authentication as ${method} ${target}: the sender must seal for the path this CoreApp binds; ` +
        'if a proxy strips a path prefix, set pathPrefix to it',
    );
  }

  #handlerFailed(error: unknown, request: SealedRequest): void {
    const onHandlerError = this.#onHandlerError;
    if (onHandlerError !== undefined) callSafely(this.#logger, 'onHandlerError', () => onHandlerError(error, request));
  }

  /**
   * A refusal after authentication is sealed and bound to the request (its nonce and the
   * status), so the client can tell it from one made up on the path; any other is plain JSON.
   */
  /** `method` and `target` as bound (`pathPrefix` included): beside the client's own, they show a path rewritten on the way. */
  #rejection(
    error: unknown,
    envelope: Uint8Array | string | undefined,
    peer: string | undefined,
    method: string,
    target: string,
  ): HttpOutcome {
    const code = isWaTransportError(error) ? error.code : ErrorCode.CONFIG;
    this.#logger.warn(
      {
        event: 'wa_transport.http.refused',
        side: 'server',
        status: REJECTION_STATUS[code],
        code,
        peer,
        method,
        target,
      },
      'http request refused',
    );
    if (envelope === undefined || !isAfterAuthentication(code)) return rejection(code);
    const bytes = typeof envelope === 'string' ? fromText(envelope, this.endpoint.maxEnvelopeBytes) : envelope;
    const status = REJECTION_STATUS[code];
    const body = this.endpoint.seal({ error: code }, { context: rejectionContext(status, readNonce(bytes)) });
    return {
      status,
      headers: { ...SEALED_HEADERS, ...refusalHeaders(status), [REJECTION_HEADER]: '1' },
      body,
      handled: false,
    };
  }

  #sealReply(reply: SealedReply, nonce: Uint8Array, request: SealedRequest): Uint8Array {
    try {
      return this.endpoint.seal(reply.payload, { context: responseContext(reply.status, nonce) });
    } catch (error) {
      // Not encodable or too large: still an authentic answer, so still sealed.
      this.#handlerFailed(error, request);
      return this.endpoint.seal(INTERNAL_ERROR, { context: responseContext(500, nonce) });
    }
  }
}

/** At most one `wa_transport.http.forged` hint per this many ms. */
const FORGED_HINT_EVERY_MS = 60_000;

const SEALED_HEADERS = { 'content-type': ENVELOPE_CONTENT_TYPE, 'cache-control': 'no-store' } as const;

function envelopeHeader(headers: IncomingHttpHeaders): string {
  const value = headers[ENVELOPE_HEADER];
  if (typeof value !== 'string') throw new WaTransportError(ErrorCode.MALFORMED);
  return value;
}

/** A header that may be absent but not repeated (Node joins most repeats with ", "). */
function singleHeader(headers: IncomingHttpHeaders, name: string): string | undefined {
  const value = headers[name];
  if (value === undefined) return undefined;
  if (typeof value !== 'string') throw new WaTransportError(ErrorCode.MALFORMED);
  return value;
}

/** An unsealed refusal: nothing authenticated to bind it to. */
function rejection(code: ErrorCode): HttpOutcome {
  const status = REJECTION_STATUS[code];
  const headers = { 'content-type': 'application/json', 'cache-control': 'no-store', ...refusalHeaders(status) };
  return { status, headers, body: encoder.encode(JSON.stringify({ error: code })), handled: false };
}

function refusalHeaders(status: number): Record<string, string> {
  // The rest of an oversized, late or unwanted body is never read: close the connection instead.
  if (status === 413 || status === 408) return { connection: 'close' };
  if (status === 503) return { 'retry-after': '1', connection: 'close' };
  return {};
}

/** Reads a node:http request body within `limits` (see `collectBody`). */
export function readBody(stream: Readable, limits: BodyLimits, headers?: IncomingHttpHeaders): Promise<Uint8Array> {
  return collectBody(new StreamSource(stream), limits, headers?.['content-length']);
}

/** Where a node:http stream's listeners find the sink it feeds: module-level listeners, none built per request. */
const SINK = Symbol('wa-transport body sink');
type FedStream = Readable & { [SINK]?: BodySink | undefined };

function onData(this: FedStream, chunk: Buffer): void {
  this[SINK]?.chunk(chunk);
}

function onEnd(this: FedStream): void {
  this[SINK]?.end();
}

function onFail(this: FedStream): void {
  this[SINK]?.fail();
}

class StreamSource implements BodySource {
  constructor(readonly stream: FedStream) {}

  start(sink: BodySink): void {
    const stream = this.stream;
    // Already read by someone else (a body parser that ran first): nothing left to read.
    if (stream.readableEnded) return sink.fail();
    stream[SINK] = sink;
    stream.on('data', onData);
    stream.on('end', onEnd);
    stream.on('error', onFail);
    stream.on('close', onFail);
  }

  stop(complete: boolean): void {
    const stream = this.stream;
    stream[SINK] = undefined;
    // A complete body's stream has nothing more to say; the listeners, which do nothing without
    // a sink, go with it: taking four off and pausing cost 0.95 µs per request in a loop.
    if (complete) return;
    stream.off('data', onData);
    stream.off('end', onEnd);
    stream.off('error', onFail);
    stream.off('close', onFail);
    // The rest of a refused body is not read: the connection is closed after the answer.
    stream.pause();
  }
}

/** Writes an outcome to a node:http response (Express's `res` is one too). */
export function writeOutcome(res: ServerResponse, outcome: HttpOutcome): void {
  res.writeHead(outcome.status, { ...outcome.headers, 'content-length': String(outcome.body.length) });
  res.end(outcome.body);
}

/** Describes a node:http request for `SealedHttp.serve`. */
export function nodeInput(req: IncomingMessage, target = req.url ?? '/'): HttpInput {
  return {
    method: req.method ?? 'GET',
    target,
    headers: req.headers,
    body: (limits) => readBody(req, limits, req.headers),
    peer: req.socket.remoteAddress,
  };
}

/**
 * A `node:http` / `node:https` request listener: every request is opened, handed to `handler`,
 * and answered sealed; a rejected request never reaches `handler`.
 *
 *   http.createServer(sealedHandler({ endpoint }, (req) => ({ ok: true, echo: req.payload })))
 */
export function sealedHandler<T = unknown>(
  options: SealedServerOptions,
  handler: SealedHandler<T>,
): (req: IncomingMessage, res: ServerResponse) => void {
  const server = new SealedHttp(options);
  return (req, res) => {
    void server.serve(nodeInput(req), handler).then((outcome) => writeOutcome(res, outcome));
  };
}
