/**
 * A CoreApp on Fastify 5: `acceptSealedBodies` once, then each route wrapped in
 * `sealedFastify`. Same status table, same response sealing as the node:http wrapper.
 *
 *   WA_SECRET=... PORT=8080 npx tsx examples/fastify-server.ts
 *
 */
import Fastify from 'fastify';
import { createEndpoint } from 'wa-transport';
import { acceptSealedBodies, sealedFastify } from 'wa-transport/fastify';
import { sealedReply } from 'wa-transport/http';

const secret = process.env['WA_SECRET'];
if (secret === undefined) throw new Error('WA_SECRET is not set');
const endpoint = await createEndpoint({ role: 'coreapp', secret });

const app = Fastify();
acceptSealedBodies(app);
app.post(
  '/v1/transfers',
  sealedFastify({ endpoint, maxBodyBytes: 64 * 1024 }, (req) => {
    const { to, amount } = req.payload as { to: string; amount: number };
    return sealedReply({ to, amount, accepted: true }, { status: 201 });
  }),
);
app.get('/v1/balance', sealedFastify({ endpoint }, () => ({ balance: 958 })));
app.get('/healthz', async () => 'ok');

const port = Number(process.env['PORT'] ?? 8080);
await app.listen({ port, host: '127.0.0.1' });
console.log(`Fastify CoreApp on http://127.0.0.1:${port}`);
