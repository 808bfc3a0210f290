/**
 * A CoreApp on Fastify 5: `acceptSealedBodies` once, then each route wrapped in
 * `sealedFastify`. Same status table, same response sealing as the node:http wrapper. Beside
 * them, unsealed, a health check and an admin page; only the page gets the browser-facing
 * headers, from `@fastify/helmet` (docs/admin-headers.md).
 *
 *   WA_SECRET=... PORT=8080 npx tsx examples/fastify-server.ts
 *
 */
import { pathToFileURL } from 'node:url';
import helmet from '@fastify/helmet';
import Fastify, { type FastifyInstance } from 'fastify';
import { createEndpoint, type Endpoint } from 'wa-transport';
import { acceptSealedBodies, sealedFastify } from 'wa-transport/fastify';
import { sealedReply } from 'wa-transport/http';
import { ADMIN_HEADERS, adminPage } from './admin-page.js';

export async function createFastifyApp(endpoint: Endpoint): Promise<FastifyInstance> {
  const app = Fastify();
  acceptSealedBodies(app);
  app.post(
    '/v1/transfers',
    sealedFastify({ endpoint, maxBodyBytes: 64 * 1024 }, (req) => {
      const { to, amount } = req.payload as { to: string; amount: number };
      return sealedReply({ to, amount, accepted: true }, { status: 201 });
    }),
  );
  app.get(
    '/v1/balance',
    sealedFastify({ endpoint }, () => ({ balance: 958 })),
  );
  app.get('/healthz', async () => 'ok');
  // The page in a context of its own: @fastify/helmet's hook covers the routes of the context
  // it is registered in, so the sealed routes above go without it.
  await app.register(async (admin) => {
    await admin.register(helmet, ADMIN_HEADERS);
    admin.get('/admin', async (_request, reply) =>
      reply.type('text/html').send(adminPage('CoreApp (Fastify)', { status: 'ok', 'key id': endpoint.keyId })),
    );
  });
  return app;
}

// Standalone: configured by the environment.
if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const secret = process.env['WA_SECRET'];
  if (secret === undefined) throw new Error('WA_SECRET is not set');
  const app = await createFastifyApp(await createEndpoint({ role: 'coreapp', secret }));
  const port = Number(process.env['PORT'] ?? 8080);
  await app.listen({ port, host: '127.0.0.1' });
  console.log(`Fastify CoreApp on http://127.0.0.1:${port}`);
}
