// Fastify with a logger of its own: the instance's type carries pino's Logger, not Fastify's
// default FastifyBaseLogger (issue 15: TS2345 on acceptSealedBodies).
import Fastify from 'fastify';
import { pino } from 'pino';
import { createEndpoint } from 'wa-transport';
import { acceptSealedBodies, sealedFastify } from 'wa-transport/fastify';

const app = Fastify({ loggerInstance: pino({ level: 'silent' }) });
acceptSealedBodies(app);
const endpoint = await createEndpoint({ role: 'coreapp', secret: 'x' });
app.post(
  '/v1/messages',
  sealedFastify({ endpoint }, async (request) => ({ echo: request.payload })),
);
