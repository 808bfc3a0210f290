/**
 * CoreApp side of a sealed WebSocket channel: accepts authenticated WebApps on /ws and answers
 * every message with an acknowledgement.
 *
 *   export WA_SECRET=$(node -e "console.log(require('node:crypto').randomBytes(32).toString('base64url'))")
 *   PORT=8080 npx tsx examples/ws-coreapp.ts
 *
 * Environment: WA_SECRET (required, shared with the WebApp), PORT (default 8080), HOST (default
 * 127.0.0.1). Stop with Ctrl-C.
 */
import { createServer } from 'node:http';
import { createEndpoint } from 'wa-transport';
import { WsServer } from 'wa-transport/ws';

const secret = process.env['WA_SECRET'];
if (secret === undefined || secret === '') {
  console.error('WA_SECRET is required (the secret shared with the WebApp)');
  process.exit(1);
}
const port = Number(process.env['PORT'] ?? 8080);
const host = process.env['HOST'] ?? '127.0.0.1';

const endpoint = await createEndpoint({ role: 'coreapp', secret });
// Plain HTTP requests get 426 Upgrade Required: this server only speaks WebSocket.
const server = createServer((_request, response) => response.writeHead(426).end());
const ws = new WsServer({
  endpoint,
  server,
  path: '/ws',
  logger: console, // refused upgrades and closed channels: codes and peers, never secrets
  onConnection: (channel) => console.log(`connected ${channel.id} from ${channel.peer ?? '?'}`),
  onMessage: async (payload, channel) => {
    console.log('received', payload);
    await channel.send({ ack: payload });
  },
  onClose: (channel, event) => console.log(`closed ${channel.id}: ${event.code} ${event.reason}`),
});

server.listen(port, host, () => console.log(`CoreApp listening on ws://${host}:${port}/ws`));

const stop = async (): Promise<void> => {
  await ws.close();
  server.close();
};
process.once('SIGINT', stop);
process.once('SIGTERM', stop);
