/**
 * `wa-transport/fetch`: the CoreApp side of HTTP as a web-standard handler,
 * `(request: Request) => Promise<Response>`, for Hono and any server that speaks WHATWG fetch
 * (Deno.serve, Bun.serve, workers). The same `SealedHttp` core as the node:http, Express and
 * Fastify adapters (./http-server.ts), so the same bindings, statuses and sealed replies
 * (PROTOCOL §8.1); only the request's bytes and the response are web objects here.
 *
 *   const handle = sealedFetchHandler({ endpoint }, (req) => ({ ok: true, echo: req.payload }));
 *   app.all('/v1/*', (c) => handle(c.req.raw));   // Hono
 *
 * The target bound into the request context is the URL's path and query as the server hands it
 * over, so give the handler the request as received. Hono's `app.mount('/prefix', …)` strips its
 * prefix from the URL, as a proxy can: say so with `pathPrefix: '/prefix'`, or every request
 * fails authentication (ERR_WA_FORGED).
 */
import type { IncomingHttpHeaders } from 'node:http';
import { type BodyLimits, type BodySink, type BodySource, collectBody } from './http-body.js';
import { type HttpInput, type SealedHandler, SealedHttp, type SealedServerOptions } from './http-server.js';

/**
 * A web-standard request handler: every request is opened, handed to `handler`, and answered
 * sealed; a rejected request never reaches `handler`. `SealedRequest.peer` is undefined: a
 * `Request` does not carry the remote address.
 *
 *   Deno.serve(sealedFetchHandler({ endpoint }, (req) => ({ ok: true })));
 */
export function sealedFetchHandler<T = unknown>(
  options: SealedServerOptions,
  handler: SealedHandler<T>,
): (request: Request) => Promise<Response> {
  const server = new SealedHttp(options);
  return async (request) => {
    const outcome = await server.serve(fetchInput(request), handler);
    return new Response(outcome.body, {
      status: outcome.status,
      headers: { ...outcome.headers, 'content-length': String(outcome.body.length) },
    });
  };
}

function fetchInput(request: Request): HttpInput {
  const headers: IncomingHttpHeaders = {};
  // Lower-case names, repeats joined with ", " (Fetch "combine"), as node:http does for these.
  for (const [name, value] of request.headers) headers[name] = value;
  return {
    method: request.method,
    target: targetOf(request.url),
    headers,
    body: (limits: BodyLimits) =>
      request.body === null
        ? Promise.resolve(new Uint8Array(0))
        : collectBody(webSource(request.body), limits, request.headers.get('content-length')),
    peer: undefined,
  };
}

/**
 * Path and query of an absolute URL, sliced rather than re-serialized: a server may hand over
 * the request line as received (@hono/node-server does when it needs no normalizing), and
 * `new URL()` would percent-encode what the client did not (a `'` in a query).
 */
function targetOf(url: string): string {
  const path = url.indexOf('/', url.indexOf('//') + 2);
  if (path < 0) return '/';
  const fragment = url.indexOf('#', path);
  return fragment < 0 ? url.slice(path) : url.slice(path, fragment);
}

/** A WHATWG body stream as a `BodySource`. */
function webSource(body: ReadableStream<Uint8Array>): BodySource {
  let reader: ReadableStreamDefaultReader<Uint8Array> | undefined;
  let stopped = false;
  return {
    start(sink: BodySink) {
      try {
        reader = body.getReader();
      } catch {
        return sink.fail(); // already read (a middleware that ran first), as readBody's ended stream
      }
      const from = reader;
      void (async () => {
        try {
          for (;;) {
            const { done, value } = await from.read();
            if (stopped) return;
            if (done) return sink.end();
            sink.chunk(value);
          }
        } catch {
          if (!stopped) sink.fail();
        }
      })();
    },
    stop() {
      stopped = true;
      // The rest of a refused body is not wanted. The answer still goes out: on Node, cancelling
      // the stream @hono/node-server hands over ends the request, not the response (408, 413
      // and 503 reach the client, test/adversarial/stalled-clients.test.ts).
      reader?.cancel().catch(() => {});
    },
  };
}
