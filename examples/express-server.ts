/**
 * A CoreApp on Express 5: each route wrapped in `sealedExpress`. Same status table, same
 * response sealing as the node:http wrapper. Beside them, unsealed, a health check and an admin
 * page; only the page gets the browser-facing headers, from `helmet` (docs/admin-headers.md).
 *
 *   WA_SECRET=... PORT=8080 npx tsx examples/express-server.ts
 *
 */
import { pathToFileURL } from 'node:url';
import express, { type Express } from 'express';
import helmet from 'helmet';
import { createEndpoint, type Endpoint } from 'wa-transport';
import { sealedExpress } from 'wa-transport/express';
import { sealedReply } from 'wa-transport/http';
import { ADMIN_HEADERS, adminPage } from './admin-page.js';

export function createExpressApp(endpoint: Endpoint): Express {
  const app = express();
  // Sealed routes: the handler gets the opened payload; what it returns is sealed back.
  app.post(
    '/v1/transfers',
    sealedExpress({ endpoint, maxBodyBytes: 64 * 1024 }, (req) => {
      const { to, amount } = req.payload as { to: string; amount: number };
      return sealedReply({ to, amount, accepted: true }, { status: 201 });
    }),
  );
  app.get(
    '/v1/balance',
    sealedExpress({ endpoint }, () => ({ balance: 958 })),
  );
  // Unsealed routes live beside them as usual: a health check for the load balancer, and a
  // page for people, with helmet on that route only.
  app.get('/healthz', (_req, res) => void res.send('ok'));
  app.get('/admin', helmet(ADMIN_HEADERS), (_req, res) => {
    res.type('html').send(adminPage('CoreApp (Express)', { status: 'ok', 'key id': endpoint.keyId }));
  });
  return app;
}

// Standalone: configured by the environment.
if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const secret = process.env['WA_SECRET'];
  if (secret === undefined) throw new Error('WA_SECRET is not set');
  const app = createExpressApp(await createEndpoint({ role: 'coreapp', secret }));
  const port = Number(process.env['PORT'] ?? 8080);
  app.listen(port, '127.0.0.1', () => console.log(`Express CoreApp on http://127.0.0.1:${port}`));
}
