/**
 * WebApp side of a sealed WebSocket channel: connects to the CoreApp, sends a few messages,
 * prints the acknowledgements and exits.
 *
 *   WA_SECRET=<same secret as the CoreApp> URL=ws://127.0.0.1:8080/ws npx tsx examples/ws-webapp.ts
 *
 * Environment: WA_SECRET (required), URL (default ws://127.0.0.1:8080/ws), COUNT (messages to
 * send, default 3).
 */
import { createEndpoint } from 'wa-transport';
import { WsCloseCode } from 'wa-transport/protocol';
import { WsClient } from 'wa-transport/ws';

const secret = process.env['WA_SECRET'];
if (secret === undefined || secret === '') {
  console.error('WA_SECRET is required (the secret shared with the CoreApp)');
  process.exit(1);
}
const url = process.env['URL'] ?? 'ws://127.0.0.1:8080/ws';
const count = Number(process.env['COUNT'] ?? 3);

const endpoint = await createEndpoint({ role: 'webapp', secret });
let acknowledged = 0;
let done = (): void => {};
const allAcknowledged = new Promise<void>((resolve) => {
  done = resolve;
});

const client = new WsClient({
  endpoint,
  url,
  reconnect: { initialDelayMs: 250, maxDelayMs: 5000, maxAttempts: 5 },
  onOpen: (channel) => console.log(`connected ${channel.id}`),
  onMessage: (payload) => {
    console.log('reply', payload);
    if (++acknowledged === count) done();
  },
  onClose: (event) => {
    console.log(
      `closed: ${event.code} ${event.reason}${event.willReconnect ? `, retrying in ${Math.round(event.delayMs ?? 0)} ms` : ''}`,
    );
    if (event.code === WsCloseCode.AUTH_FAILED)
      console.log('the CoreApp refused us: is WA_SECRET the same on both sides?');
  },
});

try {
  await client.ready(); // rejects once reconnect attempts are exhausted
  for (let n = 1; n <= count; n++) await client.send({ n, text: `hello ${n}` });
  await allAcknowledged;
} catch (error) {
  console.error('gave up:', error instanceof Error ? error.message : error);
  process.exitCode = 1;
} finally {
  await client.close();
}
