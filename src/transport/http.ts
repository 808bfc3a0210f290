/**
 * `wa-transport/http`: both HTTP sides. The WebApp's client seals requests and opens replies;
 * the CoreApp's handler (node:http; see ./express and ./fastify for those frameworks) opens
 * requests and seals replies bound to them. Wire bindings and statuses: ./http-binding.ts.
 */
export { createHttpClient, HttpClient, HttpStatusError, DEFAULT_TIMEOUT_MS } from './http-client.js';
export type { HttpClientOptions, HttpRequestOptions, HttpResponse, RetryOptions } from './http-client.js';
export {
  ENVELOPE_CONTENT_TYPE,
  ENVELOPE_HEADER,
  REJECTION_HEADER,
  REJECTION_STATUS,
  REQUEST_ID_HEADER,
  rejectionContext,
  requestContext,
  responseContext,
} from './http-binding.js';
export { sealedHandler, sealedReply, SealedReply, SealedHttp, readBody, writeOutcome, nodeInput } from './http-server.js';
export type { SealedRequest, SealedHandler, SealedServerOptions, HttpInput, HttpOutcome } from './http-server.js';
