/**
 * `wa-transport/http`: both HTTP sides. The WebApp's `HttpClient` seals requests and opens
 * replies; the CoreApp's handler (node:http; see ./express and ./fastify for those frameworks)
 * opens requests and seals replies bound to them. Wire contexts and header names:
 * `wa-transport/protocol` (defined in ./http-binding.ts).
 */
export { HttpClient, HttpStatusError } from './http-client.js';
export type { HttpClientOptions, HttpRequestOptions, HttpResponse, RetryOptions } from './http-client.js';
export { sealedHandler, sealedReply, SealedReply } from './http-server.js';
export type { SealedRequest, SealedHandler, SealedServerOptions } from './http-server.js';
