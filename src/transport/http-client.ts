/**
 * The WebApp side of HTTP, on undici: each request body is sealed and bound to method, path and
 * query; each response is opened bound to the request it answers (its nonce) and its status, so
 * a response swapped from another request, replayed, or given another status is refused.
 * See src/transport/http-server.ts for the bindings and the status table.
 */
import { Agent, type Dispatcher, request as undiciRequest } from 'undici';
import type { EndpointLike } from '../endpoint.js';
import { HEADER_BYTES, NONCE_OFFSET } from '../envelope/format.js';
import { toText } from '../envelope/text.js';
import { ErrorCode, WaTransportError } from '../errors.js';
import {
  ENVELOPE_CONTENT_TYPE,
  ENVELOPE_HEADER,
  REJECTION_STATUS,
  requestContext,
  responseContext,
} from './http-binding.js';
import { type ClientTlsOptions, clientTlsOptions } from './tls.js';
import { positiveInteger } from '../options.js';

export const DEFAULT_TIMEOUT_MS = 30_000;

export interface HttpClientOptions {
  /** A WebApp endpoint (`role: 'webapp'`). */
  endpoint: EndpointLike;
  /** The CoreApp's base URL, e.g. `https://core.internal:8443/api`. */
  baseUrl: string | URL;
  /** CA file (and client certificate) for HTTPS. Ignored when `dispatcher` is given. */
  tls?: ClientTlsOptions;
  /** Your own undici dispatcher (pool, proxy, mock). Default: a new `Agent`, closed by `close()`. */
  dispatcher?: Dispatcher;
  /** Headers and body timeouts, in ms. Default 30,000. */
  timeoutMs?: number;
  /** Largest response body read, in bytes. Default: the endpoint's `maxEnvelopeBytes`. */
  maxResponseBytes?: number;
}

export interface HttpRequestOptions {
  /** Added to the URL's query, and so bound to the request. */
  query?: Record<string, string | number | boolean> | URLSearchParams;
  /** Extra headers. Headers are not sealed: put what matters in the payload. */
  headers?: Record<string, string>;
  signal?: AbortSignal;
}

/** An opened (authentic) response. Non-2xx statuses a handler chose come back here too. */
export interface HttpResponse<T = unknown> {
  readonly status: number;
  readonly payload: T;
  readonly keyId: string;
  readonly timestamp: number;
}

/**
 * The server refused the request before its handler ran (the status table), or the response
 * could not be opened. `code` is the server's rejection code when it sent a known one, else the
 * reason the response was refused here; `status` is the HTTP status received.
 */
export class HttpStatusError extends WaTransportError {
  readonly status: number;

  constructor(code: ErrorCode, status: number, detail: string) {
    super(code, `${detail} (HTTP ${status})`);
    this.status = status;
  }
}

const KNOWN_CODES = new Set<string>(Object.values(ErrorCode));

export class HttpClient {
  readonly endpoint: EndpointLike;
  readonly baseUrl: URL;
  readonly #dispatcher: Dispatcher;
  readonly #ownsDispatcher: boolean;
  readonly #timeoutMs: number;
  readonly #maxResponseBytes: number;

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
    this.#timeoutMs = positiveInteger(options.timeoutMs ?? DEFAULT_TIMEOUT_MS, 'timeoutMs');
    this.#maxResponseBytes = positiveInteger(options.maxResponseBytes ?? options.endpoint.maxEnvelopeBytes, 'maxResponseBytes');
    this.#ownsDispatcher = options.dispatcher === undefined;
    this.#dispatcher = options.dispatcher ?? new Agent({ connect: clientTlsOptions(options.tls ?? {}) });
  }

  /**
   * Seals `payload`, sends it as `method path`, and opens the answer. GET carries its envelope
   * in the `wa-envelope` header (a GET has no body); HEAD is refused (its answer has no body to
   * open). Rejects with `HttpStatusError` for a refusal, or undici's error for a network failure.
   */
  async request<T = unknown>(
    method: string,
    path: string,
    payload: unknown = null,
    options: HttpRequestOptions = {},
  ): Promise<HttpResponse<T>> {
    const verb = method.toUpperCase();
    if (verb === 'HEAD' || verb === 'CONNECT' || !/^[A-Z]+$/.test(verb)) {
      throw new WaTransportError(ErrorCode.CONFIG, `method ${JSON.stringify(method)} cannot carry a sealed exchange`);
    }
    const url = this.#url(path, options.query);
    const target = url.pathname + url.search; // what undici puts on the request line
    const envelope = this.endpoint.seal(payload, { context: requestContext(verb, target) });
    const nonce = envelope.slice(NONCE_OFFSET, HEADER_BYTES);
    const headers: Record<string, string> = { ...options.headers, accept: ENVELOPE_CONTENT_TYPE };
    let body: Uint8Array | null = null;
    if (verb === 'GET') headers[ENVELOPE_HEADER] = toText(envelope);
    else {
      headers['content-type'] = ENVELOPE_CONTENT_TYPE;
      body = envelope;
    }
    const response = await undiciRequest(url, {
      method: verb as Dispatcher.HttpMethod,
      headers,
      body,
      dispatcher: this.#dispatcher,
      headersTimeout: this.#timeoutMs,
      bodyTimeout: this.#timeoutMs,
      ...(options.signal === undefined ? {} : { signal: options.signal }),
    });
    const status = response.statusCode;
    const bytes = await readLimited(response.body, this.#maxResponseBytes, response.headers['content-length'], status);
    if (mediaType(response.headers['content-type']) !== ENVELOPE_CONTENT_TYPE) throw refusal(status, bytes);
    try {
      const opened = await this.endpoint.open<T>(bytes, { context: responseContext(status, nonce), peer: url.host });
      return { status, payload: opened.payload, keyId: opened.keyId, timestamp: opened.timestamp };
    } catch (error) {
      if (error instanceof WaTransportError) throw new HttpStatusError(error.code, status, 'response refused');
      throw error;
    }
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

  /** baseUrl's path + `path` (+ query), refusing anything that would leave baseUrl's origin. */
  #url(path: string, query: HttpRequestOptions['query']): URL {
    const prefix = this.baseUrl.pathname.replace(/\/+$/, '');
    const url = new URL(prefix + (path.startsWith('/') ? path : `/${path}`), this.baseUrl.origin);
    if (url.origin !== this.baseUrl.origin) {
      throw new WaTransportError(ErrorCode.CONFIG, 'path must stay on baseUrl\'s origin');
    }
    if (query !== undefined) {
      const entries = query instanceof URLSearchParams ? query : Object.entries(query).map(([k, v]) => [k, String(v)]);
      for (const [key, value] of entries) url.searchParams.append(key, value);
    }
    return url;
  }
}

/** A client for one CoreApp. */
export function createHttpClient(options: HttpClientOptions): HttpClient {
  return new HttpClient(options);
}

/** An unsealed answer: the server's rejection code if it sent a known one, else MALFORMED. */
function refusal(status: number, bytes: Uint8Array): HttpStatusError {
  let code: unknown;
  try {
    code = (JSON.parse(Buffer.from(bytes).toString('utf8')) as { error?: unknown }).error;
  } catch {
    code = undefined;
  }
  // Only a code whose documented status matches is believed; the answer is unauthenticated anyway.
  if (typeof code === 'string' && KNOWN_CODES.has(code) && REJECTION_STATUS[code as ErrorCode] === status) {
    return new HttpStatusError(code as ErrorCode, status, 'rejected by the server');
  }
  return new HttpStatusError(ErrorCode.MALFORMED, status, 'response is not sealed');
}

async function readLimited(
  body: Dispatcher.ResponseData['body'],
  limit: number,
  declared: string | string[] | undefined,
  status: number,
): Promise<Uint8Array> {
  if (typeof declared === 'string' && Number(declared) > limit) {
    body.destroy();
    throw new HttpStatusError(ErrorCode.TOO_LARGE, status, 'response refused');
  }
  const chunks: Buffer[] = [];
  let total = 0;
  for await (const chunk of body) {
    const buffer = chunk as Buffer;
    total += buffer.length;
    if (total > limit) {
      body.destroy();
      throw new HttpStatusError(ErrorCode.TOO_LARGE, status, 'response refused');
    }
    chunks.push(buffer);
  }
  return new Uint8Array(Buffer.concat(chunks, total));
}

function mediaType(value: string | string[] | undefined): string | undefined {
  return typeof value === 'string' ? value.split(';')[0]!.trim().toLowerCase() : undefined;
}
