/**
 * The CoreApp side of HTTP: open a sealed request, call the handler with its payload, seal the
 * handler's answer bound to that request. `SealedHttp.serve` is the one place this happens;
 * `sealedHandler` (node:http), `sealedExpress` and `sealedFastify` only adapt their framework's
 * request and response to it. The bindings and statuses are in ./http-binding.ts.
 *
 * After authentication everything is sealed, including a handler's failure (500, `{error:
 * "internal"}`), so the client can tell an authentic 500 from a forged one.
 */
import type { IncomingHttpHeaders, IncomingMessage, ServerResponse } from 'node:http';
import type { Readable } from 'node:stream';
import { callSafely } from '../callbacks.js';
import type { EndpointLike, Opened } from '../endpoint.js';
import { readNonce } from '../envelope/format.js';
import { fromText } from '../envelope/text.js';
import { ErrorCode, WaTransportError, isAfterAuthentication, isWaTransportError } from '../errors.js';
import { type Logger, silentLogger } from '../log.js';
import {
  ENVELOPE_CONTENT_TYPE,
  ENVELOPE_HEADER,
  REJECTION_HEADER,
  REJECTION_STATUS,
  REQUEST_ID_HEADER,
  rejectionContext,
  requestContext,
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
      throw new WaTransportError(ErrorCode.CONFIG, `reply status ${status} has no body and cannot carry a sealed answer`);
    }
  }
}

/** Answers with `payload`, sealed, and `status` (default 200). */
export function sealedReply(payload: unknown, options: { status?: number } = {}): SealedReply {
  return new SealedReply(payload, options.status ?? 200);
}

/** Returns the payload to answer 200, or a `sealedReply(...)`. Throwing answers a sealed 500. */
export type SealedHandler<T = unknown> = (request: SealedRequest<T>) => unknown;

export interface SealedServerOptions {
  /** A CoreApp endpoint (`role: 'coreapp'`). */
  endpoint: EndpointLike;
  /** Largest request body read, in bytes; beyond it 413 and the rest is not read. Default: the endpoint's `maxEnvelopeBytes`. */
  maxBodyBytes?: number;
  /**
   * Told of every error a handler throws (the client only sees a sealed 500). Default: ignored.
   * If it throws or rejects itself, that is logged (`wa_transport.callback_failed`) and the
   * request is still answered.
   */
  onHandlerError?: (error: unknown, request: SealedRequest) => unknown;
  /** Where a failing `onHandlerError` is reported. Default silent. */
  logger?: Logger;
}

/** A request as every adapter can describe it. */
export interface HttpInput {
  readonly method: string;
  /** Path + query as received (`req.url`, Express `originalUrl`). */
  readonly target: string;
  readonly headers: IncomingHttpHeaders;
  /** Reads the body, at most `limit` bytes (else ERR_WA_TOO_LARGE). Not called for GET. */
  readonly body: (limit: number) => Promise<Uint8Array>;
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

/** The shared core: open a request, run the handler, seal its answer. */
export class SealedHttp {
  readonly endpoint: EndpointLike;
  readonly maxBodyBytes: number;
  readonly #onHandlerError: SealedServerOptions['onHandlerError'];
  readonly #logger: Logger;

  constructor(options: SealedServerOptions) {
    if (options.endpoint?.role !== 'coreapp') {
      throw new WaTransportError(ErrorCode.CONFIG, 'the HTTP server side needs an endpoint with role "coreapp"');
    }
    const max = options.maxBodyBytes ?? options.endpoint.maxEnvelopeBytes;
    if (!Number.isSafeInteger(max) || max <= 0) {
      throw new WaTransportError(ErrorCode.CONFIG, 'maxBodyBytes must be a positive integer');
    }
    this.endpoint = options.endpoint;
    this.maxBodyBytes = max;
    this.#onHandlerError = options.onHandlerError;
    this.#logger = options.logger ?? silentLogger;
  }

  /** Never throws: every failure becomes an outcome from the table above. */
  async serve<T>(input: HttpInput, handler: SealedHandler<T>): Promise<HttpOutcome> {
    const method = input.method.toUpperCase();
    let envelope: Uint8Array | string | undefined;
    let opened: Opened<T>;
    let requestId: string | undefined;
    try {
      requestId = singleHeader(input.headers, REQUEST_ID_HEADER);
      envelope = method === 'GET' ? envelopeHeader(input.headers) : await input.body(this.maxBodyBytes);
      opened = await this.endpoint.open<T>(envelope, {
        context: requestContext(method, input.target),
        ...(requestId === undefined ? {} : { requestId }),
        ...(input.peer === undefined ? {} : { peer: input.peer }),
      });
    } catch (error) {
      return this.#rejection(error, envelope);
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
    return { status: reply.status, headers: SEALED_HEADERS, body: this.#sealReply(reply, opened.nonce, request), handled: true };
  }

  #handlerFailed(error: unknown, request: SealedRequest): void {
    const onHandlerError = this.#onHandlerError;
    if (onHandlerError !== undefined) callSafely(this.#logger, 'onHandlerError', () => onHandlerError(error, request));
  }

  /**
   * A refusal after authentication is sealed and bound to the request (its nonce and the
   * status), so the client can tell it from one made up on the path; any other is plain JSON.
   */
  #rejection(error: unknown, envelope: Uint8Array | string | undefined): HttpOutcome {
    const code = isWaTransportError(error) ? error.code : ErrorCode.CONFIG;
    if (envelope === undefined || !isAfterAuthentication(code)) return rejection(code);
    const bytes = typeof envelope === 'string' ? fromText(envelope, this.endpoint.maxEnvelopeBytes) : envelope;
    const status = REJECTION_STATUS[code];
    const body = this.endpoint.seal({ error: code }, { context: rejectionContext(status, readNonce(bytes)) });
    return { status, headers: { ...SEALED_HEADERS, ...refusalHeaders(status), [REJECTION_HEADER]: '1' }, body, handled: false };
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
  // The rest of an oversized body is never read: close the connection instead of draining it.
  if (status === 413) return { connection: 'close' };
  if (status === 503) return { 'retry-after': '1' };
  return {};
}

/**
 * Reads a body of at most `limit` bytes. Refuses at once when Content-Length says more, and
 * stops reading as soon as the count passes the limit (ERR_WA_TOO_LARGE); a stream that fails
 * or is cut short is ERR_WA_MALFORMED.
 */
export function readBody(stream: Readable, limit: number, headers?: IncomingHttpHeaders): Promise<Uint8Array> {
  const declared = Number(headers?.['content-length'] ?? 0);
  if (declared > limit) return Promise.reject(new WaTransportError(ErrorCode.TOO_LARGE));
  if (stream.readableEnded) return Promise.reject(new WaTransportError(ErrorCode.MALFORMED));
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let total = 0;
    const done = (error: WaTransportError | undefined): void => {
      stream.off('data', onData);
      stream.off('end', onEnd);
      stream.off('error', onError);
      stream.off('close', onClose);
      if (error === undefined) resolve(new Uint8Array(Buffer.concat(chunks, total)));
      else {
        stream.pause();
        reject(error);
      }
    };
    const onData = (chunk: Buffer): void => {
      total += chunk.length;
      if (total > limit) done(new WaTransportError(ErrorCode.TOO_LARGE));
      else chunks.push(chunk);
    };
    const onEnd = (): void => done(undefined);
    const onError = (): void => done(new WaTransportError(ErrorCode.MALFORMED));
    const onClose = (): void => done(new WaTransportError(ErrorCode.MALFORMED));
    stream.on('data', onData);
    stream.on('end', onEnd);
    stream.on('error', onError);
    stream.on('close', onClose);
  });
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
    body: (limit) => readBody(req, limit, req.headers),
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
