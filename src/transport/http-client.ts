/**
 * The WebApp side of HTTP, on undici: each request body is sealed and bound to method, path and
 * query; each response is opened bound to the request it answers (its nonce) and its status, so
 * a response swapped from another request, replayed, or given another status is refused.
 * See src/transport/http-server.ts for the bindings and the status table.
 *
 * Every request carries a request id (PROTOCOL §4.4) that stays the same across its retries,
 * so the CoreApp runs it at most once however often it is sent. That makes retrying safe, and
 * the client retries by itself what is worth retrying: network failures and the CoreApp's own
 * sealed "try again" (503). An unsealed answer is never retried: anyone on the path can make
 * one up, and it says nothing about whether the request ran.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import type { IncomingHttpHeaders } from 'node:http';
import { type Dispatcher, Pool, errors } from 'undici';
import { type EndpointLike, type Opened, openNow } from '../endpoint.js';
import { readNonce } from '../envelope/format.js';
import { toText } from '../envelope/text.js';
import { ErrorCode, WaTransportError } from '../errors.js';
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
import { joinChunks } from './http-body.js';
import { HttpStatusError, afterAttempts, unsealedAnswer } from './status-error.js';
import { type ClientTlsOptions, clientTlsOptions } from './tls.js';
import { type Logger, loggerOf } from '../log.js';
import { asksForTls, nonNegativeInteger, positiveInteger } from '../options.js';

export const DEFAULT_TIMEOUT_MS = 30_000;

export interface HttpClientOptions {
  /** A WebApp endpoint (`role: 'webapp'`). */
  endpoint: EndpointLike;
  /** The CoreApp's base URL, e.g. `https://core.internal:8443/api`. */
  baseUrl: string | URL;
  /** CA file (and client certificate) for HTTPS. Ignored when `dispatcher` is given. */
  tls?: ClientTlsOptions;
  /**
   * Your own undici dispatcher (pool, agent, proxy, mock). Default: a new `Pool` for baseUrl's
   * origin, closed by `close()`.
   */
  dispatcher?: Dispatcher;
  /**
   * Headers and body timeouts, in ms.
   * @default 30_000
   */
  timeoutMs?: number;
  /** Largest response body read, in bytes. Default: the endpoint's `maxEnvelopeBytes`. */
  maxResponseBytes?: number;
  /** Automatic retries (same request id, fresh seal). `false` turns them off. */
  retry?: RetryOptions | false;
  /** Refusals and retries are logged here (docs/logging.md). Default: the endpoint's logger. */
  logger?: Logger;
}

/**
 * Retries of one request: after a network failure or a sealed 503 from the CoreApp, with
 * exponential backoff and full jitter (each wait is random in [0, min(maxDelayMs, baseDelayMs ·
 * 2^(n−1))]), and never later than `withinMs` after the first attempt: the CoreApp refuses a
 * request id older than its window (default 10 s), so retrying past it would only fail.
 */
export interface RetryOptions {
  /**
   * Most attempts in all, the first included.
   * @default 4
   */
  attempts?: number;
  /**
   * The backoff's first ceiling, in ms: it doubles per retry up to `maxDelayMs`.
   * @default 100
   */
  baseDelayMs?: number;
  /**
   * The backoff's largest ceiling, in ms.
   * @default 2000
   */
  maxDelayMs?: number;
  /**
   * No attempt starts later than this after the first. The default is the default window less 2 s.
   * @default 8000
   */
  withinMs?: number;
}

export interface HttpRequestOptions {
  /** Added to the URL's query, and so bound to the request. */
  query?: Record<string, string | number | boolean> | URLSearchParams;
  /** Extra headers. Headers are not sealed: put what matters in the payload. */
  headers?: Record<string, string>;
  signal?: AbortSignal;
  /**
   * The request id, from `endpoint.newRequestId()`: pass it to retry a request yourself (e.g.
   * after the client gave up) without risking a second execution. Default: a new one.
   */
  requestId?: string;
}

/** An opened (authentic) response. Non-2xx statuses a handler chose come back here too. */
export interface HttpResponse<T = unknown> {
  readonly status: number;
  readonly payload: T;
  readonly keyId: string;
  readonly timestamp: number;
}

export { HttpStatusError };

const KNOWN_CODES = new Set<string>(Object.values(ErrorCode));
/**
 * What an operator checks first for a claimed code. ERR_WA_FORGED for every request of a client
 * that holds the secret is, in practice, a path rewritten between the two sides.
 */
const UNSEALED_HINTS: Partial<Record<ErrorCode, string>> = {
  [ErrorCode.FORGED]:
    'the CoreApp authenticates the method, path and query it receives: if a proxy strips a path prefix, give the CoreApp that pathPrefix',
};
/** Sealed refusals worth another attempt: the CoreApp could not check the request now. */
const RETRIABLE_CODES = new Set<string>([ErrorCode.REPLAY_STORE_UNAVAILABLE, ErrorCode.REPLAY_CACHE_FULL]);
/** Network failures worth another attempt (undici and socket error codes). */
const RETRIABLE_NETWORK = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'EPIPE',
  'ETIMEDOUT',
  'UND_ERR_SOCKET',
  'UND_ERR_CLOSED',
  'UND_ERR_CONNECT_TIMEOUT',
  'UND_ERR_HEADERS_TIMEOUT',
  'UND_ERR_BODY_TIMEOUT',
]);
const DEFAULT_RETRY: Required<RetryOptions> = { attempts: 4, baseDelayMs: 100, maxDelayMs: 2000, withinMs: 8000 };

export class HttpClient {
  readonly endpoint: EndpointLike;
  readonly baseUrl: URL;
  readonly #dispatcher: Dispatcher;
  readonly #ownsDispatcher: boolean;
  readonly #timeoutMs: number;
  readonly #maxResponseBytes: number;
  readonly #retry: Required<RetryOptions>;
  readonly #logger: Logger;
  readonly #targets = new Map<string, Target>();

  constructor(options: HttpClientOptions) {
    if (options.endpoint?.role !== 'webapp') {
      throw new WaTransportError(ErrorCode.CONFIG, 'the HTTP client needs an endpoint with role "webapp"');
    }
    this.endpoint = options.endpoint;
    try {
      this.baseUrl = new URL(options.baseUrl);
    } catch {
      throw new WaTransportError(ErrorCode.CONFIG, 'baseUrl is not a URL');
    }
    if (this.baseUrl.protocol !== 'https:' && this.baseUrl.protocol !== 'http:') {
      throw new WaTransportError(ErrorCode.CONFIG, 'baseUrl must be http: or https:');
    }
    // Ignoring it would send in clear what the caller meant to send over TLS.
    if (asksForTls(options.tls) && this.baseUrl.protocol === 'http:') {
      throw new WaTransportError(ErrorCode.CONFIG, 'tls is given but baseUrl is http:; use https:');
    }
    this.#timeoutMs = positiveInteger(options.timeoutMs ?? DEFAULT_TIMEOUT_MS, 'timeoutMs');
    this.#maxResponseBytes = positiveInteger(
      options.maxResponseBytes ?? options.endpoint.maxEnvelopeBytes,
      'maxResponseBytes',
    );
    this.#retry = retryOptions(options.retry);
    this.#logger = loggerOf(options.logger, options.endpoint);
    this.#ownsDispatcher = options.dispatcher === undefined;
    // A Pool, not an Agent: every request goes to baseUrl's origin, and undici 7's Agent counts
    // an origin's connections across the pools it makes for it. When all of them closed while
    // requests were being dispatched (idle keep-alive timeouts running out as load resumed), it
    // closed a pool that still had work, whose disconnects then closed each pool made after it:
    // one new connection per request for as long as the load lasted, sealed node:http at
    // 650-890 exchanges/s (0.06-0.08x plain) in 3 of 6 bench runs (bench/RESULTS.md).
    this.#dispatcher =
      options.dispatcher ?? new Pool(this.baseUrl.origin, { connect: clientTlsOptions(options.tls ?? {}) });
  }

  /**
   * Seals `payload`, sends it as `method path`, and opens the answer. GET carries its envelope
   * in the `wa-envelope` header (a GET has no body); HEAD is refused (its answer has no body to
   * open). Retries as `retry` says, with the same request id. Rejects with `HttpStatusError` for
   * a refusal, or undici's error for a network failure that outlasted the retries.
   */
  async request<T = unknown>(
    method: string,
    path: string,
    payload: unknown = null,
    options: HttpRequestOptions = {},
  ): Promise<HttpResponse<T>> {
    const verb = upperCaseMethod(method);
    if (verb === 'HEAD' || verb === 'CONNECT' || !/^[A-Z]+$/.test(verb)) {
      throw new WaTransportError(ErrorCode.CONFIG, `method ${JSON.stringify(method)} cannot carry a sealed exchange`);
    }
    const url = this.#target(path, options.query);
    const requestId = options.requestId ?? this.endpoint.newRequestId();
    const started = performance.now();
    let mayHaveRun = false;
    for (let attempt = 1; ; attempt++) {
      try {
        return await this.#attempt<T>(verb, url, payload, requestId, options);
      } catch (error) {
        const delay = backoff(this.#retry, attempt);
        const retry =
          isRetriable(error) &&
          attempt < this.#retry.attempts &&
          options.signal?.aborted !== true &&
          performance.now() - started + delay <= this.#retry.withinMs;
        if (error instanceof HttpStatusError) this.#refused(error, verb, url);
        if (!retry) throw error instanceof HttpStatusError ? afterAttempts(error, mayHaveRun) : error;
        mayHaveRun ||= mayHaveRunAfter(error);
        this.#logger.info(
          {
            event: 'wa_transport.http.retry',
            side: 'client',
            peer: url.host,
            attempt,
            delayMs: delay,
            reason: reasonOf(error),
          },
          'http request retried',
        );
        await sleep(delay, undefined, options.signal === undefined ? {} : { signal: options.signal });
      }
    }
  }

  /** One attempt: a fresh seal (new nonce and timestamp) carrying the request's id. */
  async #attempt<T>(
    verb: string,
    url: Target,
    payload: unknown,
    requestId: string,
    options: HttpRequestOptions,
  ): Promise<HttpResponse<T>> {
    const { target } = url;
    const envelope = this.endpoint.seal(payload, { context: requestContext(verb, target), requestId });
    const nonce = readNonce(envelope).slice();
    const headers: Record<string, string> =
      options.headers === undefined
        ? { accept: ENVELOPE_CONTENT_TYPE, [REQUEST_ID_HEADER]: requestId }
        : { ...options.headers, accept: ENVELOPE_CONTENT_TYPE, [REQUEST_ID_HEADER]: requestId };
    let body: Uint8Array | null = null;
    if (verb === 'GET') headers[ENVELOPE_HEADER] = toText(envelope);
    else {
      headers['content-type'] = ENVELOPE_CONTENT_TYPE;
      body = envelope;
    }
    const response = await exchange(
      this.#dispatcher,
      {
        origin: url.origin,
        path: target,
        method: verb as Dispatcher.HttpMethod,
        headers,
        body,
        headersTimeout: this.#timeoutMs,
        bodyTimeout: this.#timeoutMs,
      },
      this.#maxResponseBytes,
      options.signal,
    );
    const { status, bytes } = response;
    if (mediaType(response.headers['content-type']) !== ENVELOPE_CONTENT_TYPE)
      throw unsealedAnswer(status, bytes, 'answer', UNSEALED_HINTS);
    // The header only says which context to open under: a lie about it fails authentication.
    const rejected = response.headers[REJECTION_HEADER] !== undefined;
    let opened: Opened<T>;
    try {
      if (rejected) {
        opened = this.endpoint.openReply(bytes, { context: rejectionContext(status, nonce), peer: url.host });
      } else {
        const opening = openNow<T>(this.endpoint, bytes, { context: responseContext(status, nonce), peer: url.host });
        opened = opening instanceof Promise ? await opening : opening;
      }
    } catch (error) {
      if (error instanceof WaTransportError) throw new HttpStatusError(error.code, status, 'response refused');
      throw error;
    }
    if (rejected) throw sealedRefusal(status, opened.payload);
    return { status, payload: opened.payload as T, keyId: opened.keyId, timestamp: opened.timestamp };
  }

  /** The same event and fields as the CoreApp's refusal, plus what only the client knows. */
  #refused(error: HttpStatusError, method: string, url: Target): void {
    this.#logger.warn(
      {
        event: 'wa_transport.http.refused',
        side: 'client',
        status: error.status,
        code: error.code,
        peer: url.host,
        method,
        target: url.target,
        sealed: error.sealed,
        claimedCode: error.claimedCode,
      },
      'http request refused',
    );
  }

  get<T = unknown>(path: string, payload?: unknown, options?: HttpRequestOptions): Promise<HttpResponse<T>> {
    return this.request<T>('GET', path, payload, options);
  }

  post<T = unknown>(path: string, payload?: unknown, options?: HttpRequestOptions): Promise<HttpResponse<T>> {
    return this.request<T>('POST', path, payload, options);
  }

  put<T = unknown>(path: string, payload?: unknown, options?: HttpRequestOptions): Promise<HttpResponse<T>> {
    return this.request<T>('PUT', path, payload, options);
  }

  patch<T = unknown>(path: string, payload?: unknown, options?: HttpRequestOptions): Promise<HttpResponse<T>> {
    return this.request<T>('PATCH', path, payload, options);
  }

  delete<T = unknown>(path: string, payload?: unknown, options?: HttpRequestOptions): Promise<HttpResponse<T>> {
    return this.request<T>('DELETE', path, payload, options);
  }

  /** Closes the connections of the client's own dispatcher (not one you passed in). */
  async close(): Promise<void> {
    if (this.#ownsDispatcher) await this.#dispatcher.close();
  }

  /**
   * baseUrl's path + `path` (+ query), refusing anything that would leave baseUrl's path: a
   * request sealed for `../../admin/reset-all` would be sealed for that route. The query goes in
   * `query`, never in `path`. Targets without a query are kept: parsing a URL per request cost
   * 2.2% of a sealed 64-byte exchange (bench/RESULTS.md), and a client calls few distinct paths.
   */
  #target(path: string, query: HttpRequestOptions['query']): Target {
    if (query === undefined) {
      const known = this.#targets.get(path);
      if (known !== undefined) return known;
    }
    if (typeof path !== 'string' || /[?#]/.test(path)) {
      throw new WaTransportError(ErrorCode.CONFIG, 'path must be a string without ? or # (pass the query as `query`)');
    }
    const prefix = this.baseUrl.pathname.replace(/\/+$/, '');
    const url = new URL(prefix + (path.startsWith('/') ? path : `/${path}`), this.baseUrl.origin);
    const under = url.pathname === prefix || url.pathname.startsWith(`${prefix}/`);
    if (url.origin !== this.baseUrl.origin || !under) {
      throw new WaTransportError(ErrorCode.CONFIG, "path must stay under baseUrl's path");
    }
    if (query !== undefined) {
      const entries = query instanceof URLSearchParams ? query : Object.entries(query).map(([k, v]) => [k, String(v)]);
      for (const [key, value] of entries) url.searchParams.append(key, value);
    }
    // What undici puts on the request line, and what the request is sealed for.
    const target: Target = { origin: url.origin, host: url.host, target: url.pathname + url.search };
    if (query === undefined) {
      if (this.#targets.size >= MAX_KEPT_TARGETS) this.#targets.clear();
      this.#targets.set(path, target);
    }
    return target;
  }
}

/** Where one request goes: `target` is path + query as sent, and as sealed. */
interface Target {
  readonly origin: string;
  readonly host: string;
  readonly target: string;
}

/** Paths whose target a client keeps (a client calling more starts over). */
const MAX_KEPT_TARGETS = 1024;

/** The CoreApp's own refusal, opened: its code, if it is one whose documented status matches. */
function sealedRefusal(status: number, payload: unknown): HttpStatusError {
  const code = (payload as { error?: unknown } | null)?.error;
  if (typeof code === 'string' && KNOWN_CODES.has(code) && REJECTION_STATUS[code as ErrorCode] === status) {
    return new HttpStatusError(code as ErrorCode, status, 'refused by the CoreApp', { sealed: true });
  }
  return new HttpStatusError(ErrorCode.PAYLOAD, status, 'sealed refusal without a known code');
}

/** A code for the retry log: ours, or the network error's (undici, socket). */
function reasonOf(error: unknown): string | undefined {
  const code = (error as { code?: unknown } | null)?.code;
  return typeof code === 'string' ? code : undefined;
}

function isRetriable(error: unknown): boolean {
  if (error instanceof HttpStatusError) return error.sealed && RETRIABLE_CODES.has(error.code);
  if (error instanceof WaTransportError) return false;
  const code = (error as { code?: unknown } | null)?.code;
  return typeof code === 'string' && RETRIABLE_NETWORK.has(code);
}

/** Whether a failed attempt may have run: yes unless the CoreApp said no, or nothing was sent. */
function mayHaveRunAfter(error: unknown): boolean {
  if (error instanceof HttpStatusError) return error.mayHaveRun;
  return (error as { code?: unknown } | null)?.code !== 'ECONNREFUSED'; // no connection, no request
}

/** Full jitter: random in [0, min(max, base · 2^(attempt−1))] (AWS Architecture Blog, "Exponential Backoff And Jitter"). */
function backoff(retry: Required<RetryOptions>, attempt: number): number {
  return Math.floor(Math.random() * Math.min(retry.maxDelayMs, retry.baseDelayMs * 2 ** (attempt - 1)));
}

function retryOptions(retry: RetryOptions | false | undefined): Required<RetryOptions> {
  if (retry === false) return { ...DEFAULT_RETRY, attempts: 1 };
  const merged = { ...DEFAULT_RETRY, ...retry };
  return {
    attempts: positiveInteger(merged.attempts, 'retry.attempts'),
    baseDelayMs: nonNegativeInteger(merged.baseDelayMs, 'retry.baseDelayMs'),
    maxDelayMs: nonNegativeInteger(merged.maxDelayMs, 'retry.maxDelayMs'),
    withinMs: nonNegativeInteger(merged.withinMs, 'retry.withinMs'),
  };
}

interface Answer {
  readonly status: number;
  readonly headers: IncomingHttpHeaders;
  readonly bytes: Uint8Array;
}

/**
 * One HTTP exchange on the dispatcher's handler interface, the answer's body read whole up to
 * `limit` bytes (ERR_WA_TOO_LARGE past it, or when Content-Length says more, and the exchange
 * is aborted). Why not `dispatcher.request()`: it hands the body over as a Readable stream,
 * which `for await` then iterates, behind a request handler and an async resource per call,
 * and the body was copied twice: this path did 2–9% more sealed 64-byte exchanges per second
 * (bench/RESULTS.md). Network failures and timeouts reject with undici's own errors, as
 * `request()` does, so the retry policy sees the same codes; an aborted `signal` rejects with
 * its reason (or undici's RequestAbortedError).
 */
function exchange(
  dispatcher: Dispatcher,
  options: Dispatcher.DispatchOptions,
  limit: number,
  signal: AbortSignal | undefined,
): Promise<Answer> {
  if (signal?.aborted === true) return Promise.reject(signal.reason ?? new errors.RequestAbortedError());
  return new Promise((resolve, reject) => {
    dispatcher.dispatch(options, new AnswerReader(limit, signal, resolve, reject));
  });
}

/**
 * The handler of one exchange. A class, not a literal of closures: nothing is built per
 * request but the instance (under tsx each named closure also cost a defineProperty call).
 */
class AnswerReader implements Dispatcher.DispatchHandler {
  readonly #limit: number;
  readonly #signal: AbortSignal | undefined;
  readonly #resolve: (answer: Answer) => void;
  readonly #reject: (error: unknown) => void;
  #controller: Dispatcher.DispatchController | undefined;
  #abortReason: unknown;
  #settled = false;
  #status = 0;
  #headers: IncomingHttpHeaders = {};
  readonly #chunks: Buffer[] = [];
  #total = 0;

  constructor(
    limit: number,
    signal: AbortSignal | undefined,
    resolve: (answer: Answer) => void,
    reject: (error: unknown) => void,
  ) {
    this.#limit = limit;
    this.#signal = signal;
    this.#resolve = resolve;
    this.#reject = reject;
    signal?.addEventListener('abort', this, { once: true });
  }

  /** The signal's abort event (the reader is its listener object). */
  handleEvent(): void {
    this.#abortReason = this.#signal?.reason ?? new errors.RequestAbortedError();
    if (this.#controller !== undefined) this.#fail(this.#abortReason);
  }

  onRequestStart(controller: Dispatcher.DispatchController): void {
    this.#controller = controller;
    if (this.#abortReason !== undefined) this.#fail(this.#abortReason);
  }

  onResponseStart(_: Dispatcher.DispatchController, statusCode: number, headers: IncomingHttpHeaders): void {
    if (statusCode < 200) return; // an informational answer: the real one follows
    this.#status = statusCode;
    this.#headers = headers;
    const declared = headers['content-length'];
    if (typeof declared === 'string' && Number(declared) > this.#limit) this.#fail(this.#tooLarge());
  }

  onResponseData(_: Dispatcher.DispatchController, chunk: Buffer): void {
    if (this.#settled) return;
    this.#total += chunk.length;
    if (this.#total > this.#limit) return this.#fail(this.#tooLarge());
    this.#chunks.push(chunk);
  }

  onResponseEnd(): void {
    if (this.#settle()) {
      this.#resolve({ status: this.#status, headers: this.#headers, bytes: joinChunks(this.#chunks, this.#total) });
    }
  }

  onResponseError(_: Dispatcher.DispatchController, error: Error): void {
    if (this.#settle()) this.#reject(error);
  }

  /** Rejects now, then has undici drop the exchange (and its connection). */
  #fail(error: unknown): void {
    if (this.#settle()) this.#reject(error);
    this.#controller?.abort(error as Error);
  }

  /** True the first time: the exchange is over, and the signal no longer needed. */
  #settle(): boolean {
    if (this.#settled) return false;
    this.#settled = true;
    this.#signal?.removeEventListener('abort', this);
    return true;
  }

  #tooLarge(): HttpStatusError {
    return new HttpStatusError(ErrorCode.TOO_LARGE, this.#status, 'response refused');
  }
}

function mediaType(value: string | string[] | undefined): string | undefined {
  return typeof value === 'string' ? value.split(';')[0]!.trim().toLowerCase() : undefined;
}
