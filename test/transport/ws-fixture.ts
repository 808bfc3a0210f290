/** A WebSocket server on 127.0.0.1 (port 0 unless given) that records its channels and closes. */
import { once } from 'node:events';
import { type Server, createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { type WsChannel, WsServer, type WsServerOptions } from '../../src/transport/ws.js';

export interface RunningWsServer {
  http: Server;
  ws: WsServer;
  port: number;
  url: string;
  /** Every channel accepted, in order. */
  connections: WsChannel[];
  /** Close code of every channel that closed, in order. */
  closes: number[];
}

/** Starts `new WsServer(options)` on a fresh http.Server at `/ws`; the caller stops it. */
export async function startWsServer(
  options: Omit<WsServerOptions, 'server' | 'path'>,
  port = 0,
): Promise<RunningWsServer> {
  const http = createServer();
  const connections: WsChannel[] = [];
  const closes: number[] = [];
  const ws = new WsServer({
    ...options,
    server: http,
    path: '/ws',
    // Returning what the callbacks return: a promise the server must still see.
    onConnection: (channel, request) => {
      connections.push(channel);
      return options.onConnection?.(channel, request);
    },
    onClose: (channel, event) => {
      closes.push(event.code);
      return options.onClose?.(channel, event);
    },
  });
  http.listen(port, '127.0.0.1');
  await once(http, 'listening');
  const actual = (http.address() as AddressInfo).port;
  return { http, ws, port: actual, url: `ws://127.0.0.1:${actual}/ws`, connections, closes };
}

export async function stopWsServer({ http, ws }: RunningWsServer): Promise<void> {
  await ws.close();
  if (!http.listening) return;
  http.closeAllConnections();
  await new Promise((resolve) => http.close(resolve));
}
