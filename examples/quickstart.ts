/**
 * A complete WebApp + CoreApp pair in one file, runnable: `npx tsx examples/quickstart.ts` (the README's examples, together).
 * Both sides in one process; in real life each half runs in its own service.
 */
import { createEndpoint, generateSecret, isWaTransportError } from 'wa-transport';

const secret = process.env['WA_SECRET'] ?? generateSecret();
const webapp = await createEndpoint({ role: 'webapp', secret }); // seals requests, opens replies
const coreapp = await createEndpoint({ role: 'coreapp', secret }); // opens requests, seals replies

// WebApp: seal a request, bound to its route.
const request = webapp.seal({ to: '+15550100', body: 'hi' }, { context: 'POST /v1/messages' });

// CoreApp: open it (checks authenticity, route, time window and replays), then reply.
const { payload } = await coreapp.open(request, { context: 'POST /v1/messages', peer: '10.0.0.5' });
const reply = coreapp.seal({ queued: true, to: (payload as { to: string }).to }, { context: 'POST /v1/messages' });

// WebApp: open the reply.
console.log((await webapp.open(reply, { context: 'POST /v1/messages' })).payload); // { queued: true, to: '+15550100' }

// An attacker who captured the request cannot replay it:
await coreapp.open(request, { context: 'POST /v1/messages' }).catch((error: unknown) => {
  if (isWaTransportError(error)) console.log('rejected:', error.code); // rejected: ERR_WA_REPLAYED
});
