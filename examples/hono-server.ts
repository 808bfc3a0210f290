/**
 * A CoreApp on Hono, through the web-standard handler of `wa-transport/fetch`: the same
 * bindings, statuses and sealed replies as the node:http, Express and Fastify adapters. On Node
 * it runs with @hono/node-server; the same app serves on Deno, Bun or workers.
 *
 *   WA_SECRET=... PORT=8080 npx tsx examples/hono-server.ts
 *
 */
import { pathToFileURL } from 'node:url';
import { serve } from '@hono/node-server';
import { Hono } from 'hono';
import { createEndpoint, type Endpoint } from 'wa-transport';
import { sealedFetchHandler } from 'wa-transport/fetch';
import { sealedReply } from 'wa-transport/http';

export function createHonoApp(endpoint: Endpoint): Hono {
  const app = new Hono();
  const transfers = sealedFetchHandler({ endpoint, maxBodyBytes: 64 * 1024 }, (req) => {
    const { to, amount } = req.payload as { to: string; amount: number };
    return sealedReply({ to, amount, accepted: true }, { status: 201 });
  });
  const balance = sealedFetchHandler({ endpoint }, () => ({ balance: 958 }));
  // The request as received (c.req.raw): its path and query are what the WebApp sealed for.
  // (Under app.mount(), which strips its prefix from the URL, give the handler `pathPrefix`.)
  app.post('/v1/transfers', (c) => transfers(c.req.raw));
  app.get('/v1/balance', (c) => balance(c.req.raw));
  app.get('/healthz', (c) => c.text('ok'));
  return app;
}

// Standalone: configured by the environment.
if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const secret = process.env['WA_SECRET'];
  if (secret === undefined) throw new Error('WA_SECRET is not set');
  const app = createHonoApp(await createEndpoint({ role: 'coreapp', secret }));
  const port = Number(process.env['PORT'] ?? 8080);
  serve({ fetch: app.fetch, port, hostname: '127.0.0.1' }, () =>
    console.log(`Hono CoreApp on http://127.0.0.1:${port}`),
  );
}
