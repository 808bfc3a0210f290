/**
 * Someone on the path between a WebApp and a CoreApp, for the retry tests: records every
 * request as it was sent, and withholds the ones it picks, answering them with a forged,
 * unsealed 503; the rest it forwards, answer included, unless it cuts the connection once the
 * request was delivered (`cut`: the answer is lost). `deliver` sends a recorded request
 * again, as the withheld original arriving late or as an attacker's replay.
 */
import { type IncomingHttpHeaders, type Server, createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { request } from 'undici';
import { ErrorCode } from '../../src/index.js';

export interface Captured {
  readonly method: string;
  readonly url: string;
  readonly headers: IncomingHttpHeaders;
  readonly body: Buffer;
}

export interface Delivered {
  readonly status: number;
  readonly headers: Record<string, string>;
  readonly body: Buffer;
}

/** Listens on a spare loopback port; `stop` closes it. */
export async function listen(server: Server): Promise<{ url: string; stop: () => Promise<void> }> {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    stop: () => new Promise((resolve) => server.close(() => resolve())),
  };
}

export async function onPath(
  upstream: string,
  withhold: (entry: Captured, index: number) => boolean,
  options: { cut?: (entry: Captured, index: number) => boolean } = {},
) {
  const captured: Captured[] = [];
  const withheld: Captured[] = [];
  /** The status each forwarded request was answered with. */
  const answers = new Map<Captured, number>();
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      const entry = {
        method: req.method ?? 'GET',
        url: req.url ?? '/',
        headers: req.headers,
        body: Buffer.concat(chunks),
      };
      const index = captured.push(entry) - 1;
      if (withhold(entry, index)) {
        withheld.push(entry);
        res.writeHead(503, { 'content-type': 'application/json', 'retry-after': '1' });
        res.end(JSON.stringify({ error: ErrorCode.REPLAY_STORE_UNAVAILABLE }));
        return;
      }
      const cut = options.cut?.(entry, index) === true;
      deliver(upstream, entry).then(
        (answer) => {
          answers.set(entry, answer.status);
          if (cut) return void res.destroy(); // delivered, and the answer lost on the way back
          res.writeHead(answer.status, answer.headers);
          res.end(answer.body);
        },
        () => res.destroy(),
      );
    });
  });
  const { url, stop } = await listen(server);
  return { url, stop, captured, withheld, answers };
}

/** Sends a recorded request to `upstream` exactly as it was. */
export async function deliver(upstream: string, entry: Captured): Promise<Delivered> {
  const { host: _host, connection: _connection, ...headers } = entry.headers;
  const res = await request(upstream + entry.url, {
    method: entry.method as 'POST',
    headers: headers as Record<string, string>,
    body: entry.body.length > 0 ? entry.body : null,
  });
  const body = Buffer.from(await res.body.arrayBuffer());
  const out: Record<string, string> = {};
  for (const [name, value] of Object.entries(res.headers)) if (typeof value === 'string') out[name] = value;
  return { status: res.statusCode, headers: out, body };
}
