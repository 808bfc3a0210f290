/**
 * Express (5) adapter over `SealedHttp` (src/transport/http-server.ts): the same opening,
 * status table and response sealing as the node:http wrapper. Types only from `express`:
 * the application brings its own Express.
 *
 *   app.post('/v1/orders', sealedExpress({ endpoint }, (req) => createOrder(req.payload)));
 *
 * Mount it before any body parser that would read our media type (express.json/urlencoded do
 * not). If `express.raw({ type: 'application/vnd.wa-transport.envelope' })` ran first, its
 * Buffer is used.
 */
import type { NextFunction, Request, RequestHandler, Response } from 'express';
import { ErrorCode, WaTransportError } from '../errors.js';
import type { BodyLimits } from './http-body.js';
import {
  type SealedHandler,
  SealedHttp,
  type SealedServerOptions,
  nodeInput,
  readBody,
  writeOutcome,
} from './http-server.js';

export function sealedExpress<T = unknown>(options: SealedServerOptions, handler: SealedHandler<T>): RequestHandler {
  const server = new SealedHttp(options);
  return (req: Request, res: Response, next: NextFunction): void => {
    // originalUrl: req.url loses the mount path inside routers, but the client bound the full target.
    const input = { ...nodeInput(req, req.originalUrl), body: (limits: BodyLimits) => bodyOf(req, limits) };
    server.serve(input, handler).then((outcome) => writeOutcome(res, outcome), next);
  };
}

function bodyOf(req: Request, limits: BodyLimits): Promise<Uint8Array> {
  const parsed: unknown = req.body;
  if (Buffer.isBuffer(parsed)) {
    return parsed.length > limits.maxBytes
      ? Promise.reject(new WaTransportError(ErrorCode.TOO_LARGE))
      : Promise.resolve(new Uint8Array(parsed));
  }
  return readBody(req, limits, req.headers);
}
