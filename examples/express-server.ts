/**
 * A CoreApp on Express 5: each route wrapped in `sealedExpress`. Same status table, same
 * response sealing as the node:http wrapper.
 *
 *   WA_SECRET=... PORT=8080 npx tsx examples/express-server.ts
 *
 */
import express from 'express';
import { createEndpoint } from 'wa-transport';
import { sealedExpress } from 'wa-transport/express';
import { sealedReply } from 'wa-transport/http';

const secret = process.env['WA_SECRET'];
if (secret === undefined) throw new Error('WA_SECRET is not set');
const endpoint = await createEndpoint({ role: 'coreapp', secret });

const app = express();
// Sealed routes: the handler gets the opened payload; what it returns is sealed back.
app.post(
  '/v1/transfers',
  sealedExpress({ endpoint, maxBodyBytes: 64 * 1024 }, (req) => {
    const { to, amount } = req.payload as { to: string; amount: number };
    return sealedReply({ to, amount, accepted: true }, { status: 201 });
  }),
);
app.get('/v1/balance', sealedExpress({ endpoint }, () => ({ balance: 958 })));
// Unsealed routes live beside them as usual, e.g. a health check for the load balancer.
app.get('/healthz', (_req, res) => void res.send('ok'));

const port = Number(process.env['PORT'] ?? 8080);
app.listen(port, '127.0.0.1', () => console.log(`Express CoreApp on http://127.0.0.1:${port}`));
