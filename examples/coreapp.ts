/**
 * A CoreApp service: answers sealed HTTP requests and a sealed WebSocket channel, over HTTPS/WSS
 * when given a certificate. Run it alone:
 *
 *   WA_SECRET=... PORT=8443 TLS_CERT_FILE=cert.pem TLS_KEY_FILE=key.pem npx tsx examples/coreapp.ts
 *
 * Environment: WA_SECRET (required), PORT (default 8443), HOST (default 127.0.0.1),
 * TLS_CERT_FILE + TLS_KEY_FILE (HTTPS; plain HTTP without them), TLS_CA_FILE (require client
 * certificates signed by it), WA_WEB_SECURITY_LEVEL (modern | intermediate | old).
 *
 */
import { createServer as createHttpServer, type Server } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import { pathToFileURL } from 'node:url';
import { createEndpoint, type Endpoint, type ReplayStore } from 'wa-transport';
import { sealedHandler, sealedReply, type SealedRequest } from 'wa-transport/http';
import { type SecurityLevel, serverTlsOptions } from 'wa-transport/tls';
import { WsServer } from 'wa-transport/ws';

export interface CoreAppOptions {
  secret: string;
  port?: number;
  host?: string;
  /** Serve HTTPS/WSS with this certificate and key; plain HTTP/WS without. */
  tls?: { certFile: string; keyFile: string; caFile?: string; level?: SecurityLevel };
  replayStore?: ReplayStore;
}

export interface RunningCoreApp {
  readonly endpoint: Endpoint;
  readonly url: string;
  readonly wsUrl: string;
  /** How many requests and WebSocket messages reached application code. */
  readonly handled: { http: number; ws: number };
  close(): Promise<void>;
}

interface Transfer {
  to: string;
  amount: number;
}

export async function startCoreApp(options: CoreAppOptions): Promise<RunningCoreApp> {
  const endpoint = await createEndpoint({
    role: 'coreapp',
    secret: options.secret,
    ...(options.replayStore === undefined ? {} : { replayStore: options.replayStore }),
  });
  const handled = { http: 0, ws: 0 };
  let balance = 1000;

  // Only authentic, fresh, first-time requests for this exact route get here.
  const routes = (req: SealedRequest): unknown => {
    handled.http++;
    if (req.method === 'POST' && req.path === '/v1/transfers') {
      const { to, amount } = req.payload as Transfer;
      balance -= amount;
      return sealedReply({ id: handled.http, to, amount, accepted: true }, { status: 201 });
    }
    if (req.method === 'GET' && req.path === '/v1/balance') return { balance };
    return sealedReply({ error: 'not found' }, { status: 404 });
  };
  const listener = sealedHandler({ endpoint }, routes);
  const server: Server = options.tls
    ? createHttpsServer(serverTlsOptions(options.tls), listener)
    : createHttpServer(listener);

  const ws: WsServer = new WsServer({
    endpoint,
    server,
    path: '/ws',
    onMessage: async (payload, channel) => {
      handled.ws++;
      await channel.send({ ack: payload });
    },
  });

  await new Promise<void>((resolve) => server.listen(options.port ?? 0, options.host ?? '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  const host = options.tls ? 'localhost' : '127.0.0.1';
  const scheme = options.tls ? 'https' : 'http';
  return {
    endpoint,
    url: `${scheme}://${host}:${port}`,
    wsUrl: `${options.tls ? 'wss' : 'ws'}://${host}:${port}/ws`,
    handled,
    async close() {
      await ws.close();
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

// Standalone: configured by the environment.
if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const env = process.env;
  const secret = env['WA_SECRET'];
  if (secret === undefined) {
    console.error(
      `WA_SECRET is not set; make one with: node -e "console.log(require('crypto').randomBytes(32).toString('base64url'))"`,
    );
    process.exit(1);
  }
  const certFile = env['TLS_CERT_FILE'];
  const keyFile = env['TLS_KEY_FILE'];
  const caFile = env['TLS_CA_FILE'];
  const app = await startCoreApp({
    secret,
    port: Number(env['PORT'] ?? 8443),
    host: env['HOST'] ?? '127.0.0.1',
    ...(certFile && keyFile ? { tls: { certFile, keyFile, ...(caFile ? { caFile } : {}) } } : {}),
  });
  console.log(`CoreApp listening on ${app.url} (WebSocket ${app.wsUrl}), key id ${app.endpoint.keyId}`);
  const stop = (): void => void app.close().then(() => process.exit(0));
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
}
