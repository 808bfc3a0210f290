/**
 * Fastify (5) adapter over `SealedHttp` (src/transport/http-server.ts): the same opening,
 * status table and response sealing as the node:http wrapper. Types only from `fastify`.
 *
 *   acceptSealedBodies(app);   // per instance (or encapsulated context); again is harmless
 *   app.post('/v1/orders', sealedFastify({ endpoint }, (req) => createOrder(req.payload)));
 *
 * `acceptSealedBodies` registers our media type with a parser that reads nothing: the route
 * reads the raw stream itself, so the size limit, the 413 and the early stop are ours and
 * identical across adapters (Fastify's own bodyLimit would answer in its own format). A request
 * to a sealed route is read as an envelope whatever its Content-Type says (PROTOCOL §8.1:
 * nothing in a header is authenticated): its content type is set to ours before Fastify picks
 * a parser, which otherwise answered 415, or 400 after parsing an envelope as JSON. Call it
 * before the sealed routes are added: the routes are marked as they are added.
 */
import type {
  FastifyBaseLogger,
  FastifyInstance,
  FastifyReply,
  FastifyRequest,
  FastifyTypeProvider,
  RawReplyDefaultExpression,
  RawRequestDefaultExpression,
  RawServerBase,
} from 'fastify';
import { ENVELOPE_CONTENT_TYPE } from './http-binding.js';
import { type SealedHandler, SealedHttp, type SealedServerOptions, nodeInput } from './http-server.js';

/**
 * Generic over everything a Fastify instance's type carries, so that any instance is accepted:
 * `Fastify({ loggerInstance: pino() })` types its instance with pino's `Logger`, which the
 * default `FastifyInstance` (with `FastifyBaseLogger`) does not accept.
 */
export function acceptSealedBodies<
  Server extends RawServerBase,
  Request extends RawRequestDefaultExpression<Server>,
  Reply extends RawReplyDefaultExpression<Server>,
  Logger extends FastifyBaseLogger,
  TypeProvider extends FastifyTypeProvider,
>(app: FastifyInstance<Server, Request, Reply, Logger, TypeProvider>): void {
  // Idempotent: Fastify refuses a second parser for one type (FST_ERR_CTP_ALREADY_PRESENT) and
  // start-up crashes, which two plugins that each make sure of it would hit.
  if (app.hasContentTypeParser(ENVELOPE_CONTENT_TYPE)) return;
  app.addContentTypeParser(ENVELOPE_CONTENT_TYPE, (_request, _payload, done) => done(null));
  // onRoute sees the handler as given (a request later sees a bound copy): a sealed route gets
  // a hook of its own, and no other route is touched.
  app.addHook('onRoute', (route) => {
    if (!SEALED_ROUTES.has(route.handler)) return;
    const hooks =
      route.onRequest === undefined ? [] : Array.isArray(route.onRequest) ? route.onRequest : [route.onRequest];
    route.onRequest = [...hooks, readAsEnvelope as unknown as (typeof hooks)[number]];
  });
}

/** The handlers `sealedFastify` made: their routes read every body as an envelope. */
const SEALED_ROUTES = new WeakSet<object>();

/** A route hook, for any instance's types: it touches only the raw headers. */
function readAsEnvelope(request: { headers: Record<string, unknown> }, _reply: unknown, done: () => void): void {
  request.headers['content-type'] = ENVELOPE_CONTENT_TYPE;
  done();
}

export function sealedFastify<T = unknown>(
  options: SealedServerOptions,
  handler: SealedHandler<T>,
): (request: FastifyRequest, reply: FastifyReply) => Promise<void> {
  const server = new SealedHttp(options);
  const route = async (request: FastifyRequest, reply: FastifyReply): Promise<void> => {
    // originalUrl: the target as received, before any rewriteUrl or prefix handling.
    const outcome = await server.serve(nodeInput(request.raw, request.originalUrl), handler);
    await reply.code(outcome.status).headers(outcome.headers).send(Buffer.from(outcome.body));
  };
  SEALED_ROUTES.add(route);
  return route;
}
