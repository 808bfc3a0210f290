/**
 * A WebApp service calling the CoreApp over sealed HTTP and a sealed WebSocket. Run it alone
 * against examples/coreapp.ts:
 *
 *   WA_SECRET=... COREAPP_URL=https://localhost:8443 TLS_CA_FILE=cert.pem npx tsx examples/webapp.ts
 *
 * Environment: WA_SECRET (required), COREAPP_URL (default http://127.0.0.1:8443),
 * TLS_CA_FILE (trust this CA for HTTPS/WSS), TLS_CERT_FILE + TLS_KEY_FILE (client certificate),
 * ADMIN_PORT (then it stays up, serving an admin page of what the round gave on that port).
 *
 */
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { pathToFileURL } from 'node:url';
import express from 'express';
import helmet from 'helmet';
import { createEndpoint } from 'wa-transport';
import { HttpClient } from 'wa-transport/http';
import type { ClientTlsOptions } from 'wa-transport/tls';
import { WsClient } from 'wa-transport/ws';
import { ADMIN_HEADERS, adminPage } from './admin-page.js';

export interface WebAppOptions {
  secret: string;
  /** The CoreApp's base URL (http: or https:); the WebSocket is at /ws on the same host. */
  url: string;
  tls?: ClientTlsOptions;
  /** Where to report what happened. Default console.log. */
  print?: (line: string) => void;
}

/** One round of calls: a transfer, a balance, three WebSocket messages. Returns what came back. */
export async function runWebApp(options: WebAppOptions) {
  const print = options.print ?? console.log;
  const endpoint = await createEndpoint({ role: 'webapp', secret: options.secret });
  const http = new HttpClient({ endpoint, baseUrl: options.url, ...(options.tls ? { tls: options.tls } : {}) });
  try {
    const transfer = await http.post<{ id: number; accepted: boolean }>('/v1/transfers', { to: 'alice', amount: 42 });
    print(`HTTP  POST /v1/transfers → ${transfer.status} ${JSON.stringify(transfer.payload)}`);
    const balance = await http.get<{ balance: number }>('/v1/balance');
    print(`HTTP  GET  /v1/balance   → ${balance.status} ${JSON.stringify(balance.payload)}`);

    const wsUrl = new URL('/ws', options.url);
    wsUrl.protocol = wsUrl.protocol === 'https:' ? 'wss:' : 'ws:';
    const acks: unknown[] = [];
    let allAcked: () => void = () => {};
    const done = new Promise<void>((resolve) => (allAcked = resolve));
    const ws = new WsClient({
      endpoint,
      url: wsUrl,
      reconnect: false,
      ...(options.tls ? { tls: options.tls } : {}),
      onMessage: (payload) => {
        acks.push(payload);
        if (acks.length === 3) allAcked();
      },
    });
    try {
      await ws.ready();
      for (let n = 1; n <= 3; n++) await ws.send({ n, text: `message ${n}` });
      await done;
      print(
        `WS    3 messages sent     → acks ${acks.map((a) => (a as { ack: { n: number } }).ack.n).join(', ')}, in order`,
      );
    } finally {
      await ws.close();
    }
    return { transfer, balance, acks };
  } finally {
    await http.close();
  }
}

export interface AdminOptions {
  /** Default 0: any free port. */
  port?: number;
  /** Default 127.0.0.1: the page is for operators, not for the internet. */
  host?: string;
  /** What the page shows, read at each visit. Never a secret: anyone who reaches it reads it. */
  facts: () => Record<string, string | number>;
}

/**
 * The WebApp's admin page, for people in a browser: it goes out with the web admin's headers
 * from `helmet` (docs/admin-headers.md). Put your own login in front of it.
 */
export async function startAdmin(options: AdminOptions): Promise<{ url: string; close(): Promise<void> }> {
  const app = express();
  app.get(
    '/admin',
    helmet(ADMIN_HEADERS),
    (_req, res) => void res.type('html').send(adminPage('WebApp', options.facts())),
  );
  const server: Server = await new Promise((resolve) => {
    const listening = app.listen(options.port ?? 0, options.host ?? '127.0.0.1', () => resolve(listening));
  });
  const { address, port } = server.address() as AddressInfo;
  return {
    url: `http://${address}:${port}/admin`,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

// Standalone: configured by the environment.
if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const env = process.env;
  const secret = env['WA_SECRET'];
  if (secret === undefined) {
    console.error('WA_SECRET is not set (use the same value as the CoreApp)');
    process.exit(1);
  }
  const caFile = env['TLS_CA_FILE'];
  const certFile = env['TLS_CERT_FILE'];
  const keyFile = env['TLS_KEY_FILE'];
  const url = env['COREAPP_URL'] ?? 'http://127.0.0.1:8443';
  const round = await runWebApp({
    secret,
    url,
    tls: { ...(caFile ? { caFile } : {}), ...(certFile && keyFile ? { certFile, keyFile } : {}) },
  });
  const adminPort = env['ADMIN_PORT'];
  if (adminPort !== undefined) {
    const admin = await startAdmin({
      port: Number(adminPort),
      facts: () => ({ CoreApp: url, 'last transfer': round.transfer.status, balance: round.balance.payload.balance }),
    });
    console.log(`Admin page on ${admin.url}`);
    const stop = (): void => void admin.close().then(() => process.exit(0));
    process.once('SIGINT', stop);
    process.once('SIGTERM', stop);
  }
}
