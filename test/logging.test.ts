/**
 * Logging: one logger given to the endpoint reaches everything built on it; client and server
 * log the same events with the same fields; and the code logs exactly the events that
 * docs/logging.md lists.
 */
import { readFileSync, readdirSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import express from 'express';
import Fastify from 'fastify';
import WebSocket from 'ws';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { createEndpoint, type EndpointLike } from '../src/endpoint.js';
import { ErrorCode } from '../src/errors.js';
import { ClockHealth } from '../src/ops/clock-health.js';
import { Metrics } from '../src/ops/metrics.js';
import { combineObservers } from '../src/observer.js';
import { RotatingEndpoint } from '../src/ops/rotation.js';
import { toText } from '../src/envelope/text.js';
import { acceptSealedBodies, sealedFastify } from '../src/transport/fastify.js';
import { sealedExpress } from '../src/transport/express.js';
import { HttpClient } from '../src/transport/http-client.js';
import { sealedHandler } from '../src/transport/http-server.js';
import { WsClient } from '../src/transport/ws-client.js';
import { helloContext } from '../src/transport/ws-protocol.js';
import { OTHER_SECRET, SECRET, recordingLogger } from './helpers.js';
import { startWsServer, stopWsServer } from './transport/ws-fixture.js';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const cleanups: Array<() => Promise<unknown> | unknown> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});
const eventually = (check: () => void): Promise<void> => vi.waitFor(check, { timeout: 10_000, interval: 5 });

/** Every `'wa_transport.…'` event name written in src/. */
function eventsInCode(): Set<string> {
  const names = new Set<string>();
  const walk = (dir: string): void => {
    for (const entry of readdirSync(dir, { withFileTypes: true })) {
      const path = join(dir, entry.name);
      if (entry.isDirectory()) walk(path);
      else if (entry.name.endsWith('.ts')) {
        for (const match of readFileSync(path, 'utf8').matchAll(/'(wa_transport\.[a-z_.]+)'/g)) names.add(match[1]!);
      }
    }
  };
  walk(join(ROOT, 'src'));
  return names;
}

/** The events docs/logging.md lists: the first column of its table. */
function eventsInDocs(): Set<string> {
  const doc = readFileSync(join(ROOT, 'docs/logging.md'), 'utf8');
  return new Set([...doc.matchAll(/^\| `(wa_transport\.[a-z_.]+)` \|/gm)].map((m) => m[1]!));
}

function eventsOf(logger: ReturnType<typeof recordingLogger>, event: string): Array<Record<string, unknown>> {
  return logger.records.filter((record) => record['event'] === event);
}

type Adapter = 'node' | 'express' | 'fastify';

/** A CoreApp on one adapter, built on `endpoint` with no logger of its own. */
async function coreApp(adapter: Adapter, endpoint: EndpointLike): Promise<string> {
  const handler = () => ({ ok: true });
  if (adapter === 'fastify') {
    const app = Fastify();
    acceptSealedBodies(app);
    app.post('/v1/echo', sealedFastify({ endpoint }, handler));
    await app.listen({ port: 0, host: '127.0.0.1' });
    cleanups.push(() => app.close());
    return `http://127.0.0.1:${(app.server.address() as AddressInfo).port}`;
  }
  let server: Server;
  if (adapter === 'express') {
    const app = express();
    app.use(sealedExpress({ endpoint }, handler));
    server = createServer(app);
  } else {
    server = createServer(sealedHandler({ endpoint }, handler));
  }
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  cleanups.push(
    () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  );
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

describe('logging', () => {
  it('logs exactly the events docs/logging.md lists', () => {
    const documented = eventsInDocs();
    expect(documented.size).toBeGreaterThan(10);
    expect([...eventsInCode()].sort()).toEqual([...documented].sort());
  });

  it.each<Adapter>(['node', 'express', 'fastify'])(
    "HTTP (%s): the endpoints' loggers reach client and handler, with the same event and fields on both sides",
    async (adapter) => {
      const coreLog = recordingLogger();
      const webLog = recordingLogger();
      // The CoreApp behind a RotatingEndpoint: its logger option reaches the transports too.
      const core = await RotatingEndpoint.create({ role: 'coreapp', secret: SECRET, logger: coreLog });
      const web = await createEndpoint({ role: 'webapp', secret: OTHER_SECRET, logger: webLog });
      const client = new HttpClient({ endpoint: web, baseUrl: await coreApp(adapter, core), retry: false });
      cleanups.push(() => client.close());
      await expect(client.post('/v1/echo', 1)).rejects.toMatchObject({ code: ErrorCode.UNSEALED_RESPONSE });

      const [server] = eventsOf(coreLog, 'wa_transport.http.refused');
      const [clientSide] = eventsOf(webLog, 'wa_transport.http.refused');
      expect(server).toMatchObject({
        side: 'server',
        status: 401,
        code: ErrorCode.UNKNOWN_KEY,
        peer: '127.0.0.1',
        method: 'POST',
        target: '/v1/echo',
      });
      expect(clientSide).toMatchObject({ method: 'POST', target: '/v1/echo' });
      expect(clientSide).toMatchObject({
        side: 'client',
        status: 401,
        code: ErrorCode.UNSEALED_RESPONSE,
        claimedCode: ErrorCode.UNKNOWN_KEY,
        sealed: false,
      });
      expect(Object.keys(clientSide!).sort()).toEqual([...Object.keys(server!), 'sealed', 'claimedCode'].sort());
      expect(eventsOf(coreLog, 'wa_transport.rejected')).toHaveLength(1);
      expect(JSON.stringify([coreLog.records, webLog.records])).not.toContain(SECRET);
    },
  );

  it("WebSocket: the endpoints' loggers reach WsServer and WsClient, with the same event and fields on both sides", async () => {
    const coreLog = recordingLogger();
    const webLog = recordingLogger();
    const core = await createEndpoint({ role: 'coreapp', secret: SECRET, logger: coreLog });
    const web = await createEndpoint({ role: 'webapp', secret: OTHER_SECRET, logger: webLog });
    const server = await startWsServer({ endpoint: core });
    cleanups.push(() => stopWsServer(server));
    const client = new WsClient({ endpoint: web, url: server.url, reconnect: false });
    cleanups.push(() => client.close());
    await expect(client.ready()).rejects.toMatchObject({ claimedCode: ErrorCode.UNKNOWN_KEY });

    const [serverSide] = eventsOf(coreLog, 'wa_transport.ws.refused');
    const [clientSide] = eventsOf(webLog, 'wa_transport.ws.refused');
    expect(serverSide).toMatchObject({
      side: 'server',
      status: 401,
      code: ErrorCode.UNKNOWN_KEY,
      peer: '127.0.0.1',
      target: '/ws',
    });
    expect(clientSide).toMatchObject({ target: '/ws' });
    expect(clientSide).toMatchObject({
      side: 'client',
      status: 401,
      code: ErrorCode.UNSEALED_RESPONSE,
      claimedCode: ErrorCode.UNKNOWN_KEY,
    });
    expect(Object.keys(clientSide!).sort()).toEqual([...Object.keys(serverSide!), 'sealed', 'claimedCode'].sort());
  });

  it("a transport's own logger option wins over the endpoint's", async () => {
    const endpointLog = recordingLogger();
    const ownLog = recordingLogger();
    const web = await createEndpoint({ role: 'webapp', secret: OTHER_SECRET, logger: endpointLog });
    const core = await createEndpoint({ role: 'coreapp', secret: SECRET });
    const client = new HttpClient({
      endpoint: web,
      baseUrl: await coreApp('node', core),
      retry: false,
      logger: ownLog,
    });
    cleanups.push(() => client.close());
    await expect(client.post('/v1/echo', 1)).rejects.toThrow();
    expect(eventsOf(ownLog, 'wa_transport.http.refused')).toHaveLength(1);
    expect(eventsOf(endpointLog, 'wa_transport.http.refused')).toHaveLength(0);
  });

  it('wa_transport.ws.error names the error (code and message), not just "Error"', async () => {
    const coreLog = recordingLogger();
    const core = await createEndpoint({ role: 'coreapp', secret: SECRET, logger: coreLog });
    const web = await createEndpoint({ role: 'webapp', secret: SECRET });
    const server = await startWsServer({ endpoint: core });
    cleanups.push(() => stopWsServer(server));
    const hello = web.seal(new Uint8Array(0), { context: helloContext('/ws') });
    const socket = new WebSocket(server.url, { headers: { 'wa-hello': toText(hello) } });
    socket.on('error', () => {});
    cleanups.push(() => socket.terminate());
    await new Promise<void>((resolve) => socket.once('message', () => resolve())); // the welcome
    // A frame with opcode 0xF, which RFC 6455 §5.2 reserves: ws refuses it.
    const tcp = (socket as unknown as { _socket: import('node:net').Socket })._socket;
    tcp.write(Buffer.from([0x8f, 0x80, 0, 0, 0, 0]));
    await eventually(() => expect(eventsOf(coreLog, 'wa_transport.ws.error')).toHaveLength(1));
    expect(eventsOf(coreLog, 'wa_transport.ws.error')[0]).toMatchObject({
      side: 'server',
      errorCode: 'WS_ERR_INVALID_OPCODE',
      errorMessage: expect.stringContaining('invalid opcode 15'),
    });
  });

  it('Metrics and ClockHealth observing an endpoint log to its logger unless given their own', async () => {
    const log = recordingLogger();
    const own = recordingLogger();
    const health = new ClockHealth();
    const metrics = new Metrics({
      rejectionAlert: {
        threshold: 2,
        onSpike: () => {
          throw new Error('alert hook bug');
        },
      },
    });
    const core = await createEndpoint({
      role: 'coreapp',
      secret: SECRET,
      logger: log,
      observer: combineObservers(metrics, health, new ClockHealth({ logger: own })),
    });
    // A WebApp whose clock is 20 s ahead: every envelope is ERR_WA_FUTURE, which ClockHealth counts.
    const web = await createEndpoint({ role: 'webapp', secret: SECRET, clock: () => Date.now() + 20_000 });
    for (let i = 0; i < 5; i++) await expect(core.open(web.seal(i))).rejects.toMatchObject({ code: ErrorCode.FUTURE });
    expect(eventsOf(log, 'wa_transport.clock_skew')).toEqual([expect.objectContaining({ rejecting: true })]);
    expect(eventsOf(log, 'wa_transport.callback_failed')).toEqual([
      expect.objectContaining({ callback: 'rejectionAlert.onSpike', error: 'Error' }),
    ]);
    expect(eventsOf(own, 'wa_transport.clock_skew')).toHaveLength(1);
  });
});
