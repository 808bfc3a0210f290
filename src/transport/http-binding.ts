/**
 * What both HTTP sides agree on: the media type, the header of a GET's envelope, the contexts
 * requests and responses are sealed under, and the HTTP status of each rejection.
 *
 * Bindings (the `context` of src/endpoint.ts, authenticated but never sent):
 *   request   = "wa-transport/http/v1 request\n" METHOD " " target        (target = path + query as sent)
 *               followed by "\n" requestId when the `wa-request-id` header carries one (PROTOCOL §4.4)
 *   response  = "wa-transport/http/v1 response\n" STATUS "\n" requestNonce (24 raw bytes)
 *   rejection = "wa-transport/http/v1 rejection\n" STATUS "\n" requestNonce, payload {error: code}
 * A request replayed onto another route or query fails authentication; a response moved onto
 * another request, or given another status, fails authentication at the client.
 *
 * Rejections after authentication (expired, future, replayed, store unavailable, cache full,
 * payload) are sealed under the rejection context, with the `wa-rejection` header, so the
 * client can tell the CoreApp's own refusal from one made up on the path. Rejections before
 * authentication are plain JSON `{"error": "<ErrorCode>"}` (nothing was authenticated to bind
 * them to), never more than the code. The status of each code is the HTTP column of the one
 * table in docs/PROTOCOL.md §6 (REJECTION_STATUS below, held to it by test/protocol-tables.test.ts).
 */
import type { ErrorCode } from '../errors.js';

/** Media type of a sealed body, request or response. */
export const ENVELOPE_CONTENT_TYPE = 'application/vnd.wa-transport.envelope';
/** Header carrying the envelope (text form) of a GET, which has no body. */
export const ENVELOPE_HEADER = 'wa-envelope';
/** Header carrying the request id (PROTOCOL §4.4), the same on every retry of one request. */
export const REQUEST_ID_HEADER = 'wa-request-id';
/** Response header marking a sealed rejection (opened under the rejection context). */
export const REJECTION_HEADER = 'wa-rejection';

const REQUEST_LABEL = 'wa-transport/http/v1 request\n';
const RESPONSE_LABEL = 'wa-transport/http/v1 response\n';
const REJECTION_LABEL = 'wa-transport/http/v1 rejection\n';
const encoder = new TextEncoder();

/** The context a request envelope is sealed under. `target` is path + query, exactly as sent. */
export function requestContext(method: string, target: string): string {
  return `${REQUEST_LABEL}${upperCaseMethod(method)} ${target}`;
}

/**
 * `method` in upper case. The usual methods arrive so (Node's parser, most callers) and are
 * taken as they are: `toUpperCase` is a call into ICU, three per exchange, 1% of a sealed
 * 64-byte node:http exchange (bench/RESULTS.md).
 */
export function upperCaseMethod(method: string): string {
  return USUAL_METHODS.has(method) ? method : method.toUpperCase();
}

const USUAL_METHODS = new Set(['GET', 'POST', 'PUT', 'PATCH', 'DELETE']);

/** The context a response envelope is sealed under: its status and the request's nonce. */
export function responseContext(status: number, requestNonce: Uint8Array): Uint8Array {
  return boundTo(RESPONSE_HEADS, RESPONSE_LABEL, status, requestNonce);
}

/** The context a sealed rejection is sealed under: its status and the request's nonce. */
export function rejectionContext(status: number, requestNonce: Uint8Array): Uint8Array {
  return boundTo(REJECTION_HEADS, REJECTION_LABEL, status, requestNonce);
}

/**
 * Label and status as bytes, per status seen: encoding them for every answer cost 2.7% of a
 * sealed 64-byte node:http exchange, twice (bench/RESULTS.md). A process meets a few statuses;
 * the maps are bounded anyway, as the status is a peer's number.
 */
const RESPONSE_HEADS = new Map<number, Uint8Array>();
const REJECTION_HEADS = new Map<number, Uint8Array>();
const MAX_KEPT_HEADS = 64;

function boundTo(heads: Map<number, Uint8Array>, label: string, status: number, requestNonce: Uint8Array): Uint8Array {
  let head = heads.get(status);
  if (head === undefined) {
    head = encoder.encode(`${label}${status}\n`);
    if (heads.size < MAX_KEPT_HEADS) heads.set(status, head);
  }
  const context = new Uint8Array(head.length + requestNonce.length);
  context.set(head, 0);
  context.set(requestNonce, head.length);
  return context;
}

/** HTTP status for each code: docs/PROTOCOL.md §6. */
export const REJECTION_STATUS: Readonly<Record<ErrorCode, number>> = {
  ERR_WA_MALFORMED: 400,
  ERR_WA_UNSUPPORTED_VERSION: 400,
  ERR_WA_PAYLOAD: 400,
  ERR_WA_FORGED: 401,
  ERR_WA_UNKNOWN_KEY: 401,
  ERR_WA_WRONG_DIRECTION: 401,
  ERR_WA_EXPIRED: 401,
  ERR_WA_FUTURE: 401,
  ERR_WA_REPLAYED: 409,
  ERR_WA_TOO_LARGE: 413,
  ERR_WA_REPLAY_STORE_UNAVAILABLE: 503,
  ERR_WA_REPLAY_CACHE_FULL: 503,
  ERR_WA_WEAK_SECRET: 500,
  ERR_WA_CONFIG: 500,
  // Local WebSocket send errors: never a reason to refuse an HTTP request.
  ERR_WA_WS_CLOSED: 500,
  ERR_WA_WS_BACKPRESSURE: 500,
  ERR_WA_UNSEALED_RESPONSE: 500,
  ERR_WA_BODY_TIMEOUT: 408,
  ERR_WA_OVERLOADED: 503,
};
