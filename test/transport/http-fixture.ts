/** A sealed CoreApp on 127.0.0.1 on either server binding: node:http's listener, or the web-standard handler on Hono. */
import { type Server, createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createAdaptorServer } from '@hono/node-server';
import { Hono } from 'hono';
import { sealedFetchHandler } from '../../src/transport/fetch.js';
import { type SealedHandler, type SealedServerOptions, sealedHandler } from '../../src/transport/http.js';

export type Binding = 'node:http' | 'fetch';

export interface Running {
  url: string;
  close(): Promise<void>;
}

/** Not listening yet. The fetch binding is routed by Hono, as an application would. */
export function sealedServer(binding: Binding, options: SealedServerOptions, handler: SealedHandler): Server {
  if (binding === 'node:http') return createServer(sealedHandler(options, handler));
  const app = new Hono();
  const handle = sealedFetchHandler(options, handler);
  app.all('/*', (c) => handle(c.req.raw));
  return createAdaptorServer({ fetch: app.fetch }) as Server;
}

/** Listens on a free port; `close` ends every connection, stalled ones included. */
export async function startServer(server: Server): Promise<Running> {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
