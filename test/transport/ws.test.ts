/**
 * WebSocket channel over real sockets on 127.0.0.1 (port 0). Attacks use a raw `ws` client or
 * server that speaks the documented protocol by hand (contexts written out literally, so the
 * wire contract is pinned here too), and each asserts the documented HTTP status or close code
 * and that nothing reached the handler.
 */
import { once } from 'node:events';
import { createServer, type IncomingMessage } from 'node:http';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer as createHttpsServer } from 'node:https';
import { type AddressInfo, connect } from 'node:net';
import type { Duplex } from 'node:stream';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { generate } from 'selfsigned';
import WebSocket, { WebSocketServer } from 'ws';
import { afterEach, describe, expect, it, vi } from 'vitest';
import {
  createEndpoint,
  ErrorCode,
  isWaTransportError,
  MemoryReplayStore,
  WaTransportError,
  type Endpoint,
  type Logger,
  type ReplayStore,
} from '../../src/index.js';
import type { EndpointLike } from '../../src/endpoint.js';
import { RotatingEndpoint } from '../../src/ops/rotation.js';
import { readHeader } from '../../src/protocol.js';
import { fromText, toText } from '../../src/envelope/text.js';
import { backoffDelay } from '../../src/transport/ws-client.js';
import { WsChannelError } from '../../src/transport/ws-channel.js';
import { WsCloseCode } from '../../src/protocol.js';
import {
  WsClient,
  WsServer,
  type WsChannel,
  type WsClientCloseEvent,
  type WsClientOptions,
  type WsServerOptions,
} from '../../src/transport/ws.js';
import { CALLBACK_FAILED_EVENT } from '../../src/callbacks.js';
import { OTHER_SECRET, SECRET, unhandledRejectionsDuring } from '../helpers.js';
import { type RunningWsServer, startWsServer, stopWsServer } from './ws-fixture.js';

const cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

const web = (options: { secret?: string; clock?: () => number } = {}): Promise<Endpoint> =>
  createEndpoint({
    role: 'webapp',
    secret: options.secret ?? SECRET,
    ...(options.clock ? { clock: options.clock } : {}),
  });
const core = (maxEnvelopeBytes?: number): Promise<Endpoint> =>
  createEndpoint({ role: 'coreapp', secret: SECRET, ...(maxEnvelopeBytes ? { maxEnvelopeBytes } : {}) });

/** A logger that keeps its records, to check what is logged and that no secret is. */
function recordingLogger(): Logger & { records: object[] } {
  const records: object[] = [];
  return { records, warn: (record) => records.push(record), info: (record) => records.push(record) };
}

interface Running extends RunningWsServer {
  received: unknown[];
  logger: ReturnType<typeof recordingLogger>;
}

/** A CoreApp that echoes every message, logging to a recorder. */
async function startServer(options: Partial<WsServerOptions> = {}, port = 0): Promise<Running> {
  const received: unknown[] = [];
  const logger = recordingLogger();
  const running = await startWsServer(
    {
      endpoint: await core(),
      logger,
      onMessage: async (payload, channel) => {
        received.push(payload);
        await channel.send({ echo: payload });
      },
      ...options,
    },
    port,
  );
  cleanups.push(() => stopWsServer(running));
  return { ...running, received, logger };
}

/** An upgrade request by hand: the refusal's status, media type and JSON body. */
function rawUpgrade(
  url: string,
  headers: Record<string, string>,
): Promise<{ status: number; contentType: string; body: unknown }> {
  return new Promise((resolve, reject) => {
    const socket = new WebSocket(url, { headers });
    socket.on('open', () => reject(new Error('upgrade accepted')));
    socket.on('error', () => {});
    socket.on('unexpected-response', (_request, response) => {
      let text = '';
      response.setEncoding('utf8');
      response.on('data', (chunk: string) => (text += chunk));
      response.on('end', () => {
        socket.terminate();
        let body: unknown = text;
        try {
          body = JSON.parse(text);
        } catch {
          // not JSON: compared as text
        }
        resolve({ status: response.statusCode ?? 0, contentType: String(response.headers['content-type']), body });
      });
    });
  });
}

function client(options: WsClientOptions): WsClient {
  const c = new WsClient(options);
  cleanups.push(() => c.close());
  return c;
}

/** A hello as the protocol defines it: empty payload, context `wa-ws/1:hello:<target>`. */
function hello(endpoint: Endpoint, target = '/ws'): { header: string; id: string } {
  const header = endpoint.sealText(new Uint8Array(0), { context: `wa-ws/1:hello:${target}` });
  return { header, id: toText(readHeader(fromText(header, 1024)).nonce) };
}

/** A raw ws client: the status of a refused upgrade, or the socket and the server's welcome frame. */
async function raw(
  url: string,
  headers: Record<string, string>,
  options: WebSocket.ClientOptions = {},
): Promise<{ status: number } | { socket: WebSocket; welcome: Buffer }> {
  const socket = new WebSocket(url, { headers, ...options });
  cleanups.push(() => socket.terminate());
  return new Promise((resolve, reject) => {
    socket.on('unexpected-response', (_request, response) => {
      resolve({ status: response.statusCode ?? 0 });
      response.resume();
      socket.terminate();
    });
    socket.on('error', () => {});
    socket.once('message', (welcome: Buffer) => resolve({ socket, welcome }));
    socket.once('close', () => reject(new Error('closed before welcome')));
  });
}

async function rawOpen(url: string, endpoint: Endpoint): Promise<{ socket: WebSocket; id: string }> {
  const h = hello(endpoint);
  const result = await raw(url, { 'wa-hello': h.header });
  if (!('socket' in result)) throw new Error(`refused ${result.status}`);
  return { socket: result.socket, id: h.id };
}

/**
 * A raw ws server that speaks the protocol by hand: `onConnection` gets the socket and the
 * connection id taken from the client's hello (not checked: this plays an impostor or a faulty peer).
 */
async function rawServer(
  options: WebSocket.ServerOptions,
  onConnection: (socket: WebSocket, id: string) => void,
): Promise<string> {
  const http = createServer();
  const wss = new WebSocketServer({ ...options, server: http });
  wss.on('connection', (socket: WebSocket, request: IncomingMessage) => {
    onConnection(socket, toText(readHeader(fromText(String(request.headers['wa-hello']), 1024)).nonce));
  });
  http.listen(0, '127.0.0.1');
  await once(http, 'listening');
  cleanups.push(() => new Promise<void>((resolve) => wss.close(() => http.close(() => resolve()))));
  return `ws://127.0.0.1:${(http.address() as AddressInfo).port}/ws`;
}

const closeOf = (socket: WebSocket): Promise<number> =>
  new Promise((resolve) => socket.once('close', (code: number) => resolve(code)));

/** Waits for a condition driven by socket events (a generous bound, not a timing assertion). */
const eventually = (check: () => void): Promise<void> => vi.waitFor(check, { timeout: 20_000, interval: 5 });

describe('WebSocket channel', () => {
  it('round-trips in order both ways, the server pushing too', async () => {
    const server = await startServer({
      onConnection: (channel) => void channel.send('pushed'),
    });
    const got: unknown[] = [];
    const c = client({ endpoint: await web(), url: server.url, onMessage: (payload) => void got.push(payload) });
    const channel = await c.ready();
    for (let i = 0; i < 5; i++) {
      await c.send({ n: i });
      // A payload the endpoint will not seal is refused without using up a sequence number.
      if (i === 2)
        await expect(c.send(new Uint8Array(4 * 1024 * 1024))).rejects.toMatchObject({ code: ErrorCode.TOO_LARGE });
    }
    await eventually(() => expect(got).toHaveLength(6));
    expect(got).toEqual(['pushed', ...[0, 1, 2, 3, 4].map((n) => ({ echo: { n } }))]);
    expect(server.received).toEqual([0, 1, 2, 3, 4].map((n) => ({ n })));
    expect(server.connections.map((s) => s.id)).toEqual([channel.id]);
  });

  it('serves WSS on an https.Server, routing upgrades itself (noServer + handleUpgrade)', async () => {
    const pems = await generate([{ name: 'commonName', value: 'localhost' }], {
      keyType: 'ec',
      algorithm: 'sha256',
      extensions: [{ name: 'subjectAltName', altNames: [{ type: 7, ip: '127.0.0.1' }] }],
    });
    const https = createHttpsServer({ key: pems.private, cert: pems.cert });
    const dir = await mkdtemp(join(tmpdir(), 'wa-ws-tls-'));
    cleanups.push(() => rm(dir, { recursive: true, force: true }));
    const caFile = join(dir, 'ca.pem'); // the client takes files, as the HTTP client does
    await writeFile(caFile, pems.cert);
    const received: unknown[] = [];
    const ws = new WsServer({
      endpoint: await core(),
      onMessage: async (payload, channel) => {
        received.push(payload);
        await channel.send({ echo: payload });
      },
    });
    https.on('upgrade', (request: IncomingMessage, socket, head: Buffer) => {
      if (request.url === '/secure') ws.handleUpgrade(request, socket, head);
      else socket.destroy();
    });
    https.listen(0, '127.0.0.1');
    await once(https, 'listening');
    cleanups.push(async () => {
      await ws.close();
      https.closeAllConnections();
      await new Promise((resolve) => https.close(resolve));
    });
    const got: unknown[] = [];
    const c = client({
      endpoint: await web(),
      url: `wss://127.0.0.1:${(https.address() as AddressInfo).port}/secure`,
      tls: { caFile },
      onMessage: (payload) => void got.push(payload),
    });
    await c.ready();
    await c.send('over tls');
    await eventually(() => expect(got).toEqual([{ echo: 'over tls' }]));
    expect(received).toEqual(['over tls']);
  });

  it('keeps the channel after a handler throws, and logs only the error’s name', async () => {
    let calls = 0;
    const server = await startServer({
      onMessage: (payload) => {
        calls++;
        if (calls === 1) throw new Error(`secret payload ${String(payload)}`);
        server.received.push(payload);
      },
    });
    const c = client({ endpoint: await web(), url: server.url });
    await c.ready();
    await c.send('one');
    await c.send('two');
    await eventually(() => expect(server.received).toEqual(['two']));
    expect(JSON.stringify(server.logger.records)).not.toContain('secret payload');
    expect(server.logger.records).toContainEqual(
      expect.objectContaining({ event: CALLBACK_FAILED_EVENT, callback: 'onMessage', error: 'Error', side: 'server' }),
    );
  });

  describe('authentication before the upgrade is accepted', () => {
    it('refuses with 401 a missing, garbled, wrong-secret, other-path, stale or replayed hello', async () => {
      const server = await startServer();
      const good = await web();
      const wrong = await web({ secret: OTHER_SECRET });
      const stale = await web({ clock: () => Date.now() - 60_000 });
      const attempts: Array<Record<string, string>> = [
        {},
        { 'wa-hello': 'not an envelope' },
        { 'wa-hello': hello(wrong).header },
        { 'wa-hello': hello(good, '/other').header },
        { 'wa-hello': hello(stale).header },
      ];
      for (const headers of attempts) expect(await raw(server.url, headers)).toEqual({ status: 401 });

      const replayed = hello(good);
      const accepted = await raw(server.url, { 'wa-hello': replayed.header });
      if (!('welcome' in accepted)) throw new Error('refused');
      // The welcome proves the server's secret, bound to this connection's id.
      await good.open(accepted.welcome, { context: `wa-ws/1:${replayed.id}:welcome` });
      expect(await raw(server.url, { 'wa-hello': replayed.header })).toEqual({ status: 401 });

      expect(server.connections).toHaveLength(1); // the first use of `replayed` only
      expect(server.received).toEqual([]);
      const refused = server.logger.records.filter((r) => 'event' in r && r.event === 'wa_transport.ws.refused');
      expect(refused.map((r) => (r as { code: string }).code)).toEqual([
        ErrorCode.MALFORMED,
        ErrorCode.MALFORMED,
        ErrorCode.UNKNOWN_KEY,
        ErrorCode.FORGED,
        ErrorCode.EXPIRED,
        ErrorCode.REPLAYED,
      ]);
      expect(refused.every((r) => (r as { peer: string }).peer === '127.0.0.1')).toBe(true);
      expect(JSON.stringify(server.logger.records)).not.toContain(SECRET);
    });

    it('surfaces a refused client as close code 4001 and an error that tells a wrong secret from a skewed clock', async () => {
      const server = await startServer();
      const cases: Array<[Endpoint, string, object]> = [
        // A wrong secret: refused before authentication, so the refusal cannot be sealed; its
        // code comes as a claim, as over HTTP.
        [
          await web({ secret: OTHER_SECRET }),
          `upgrade refused: 401 (unsealed, claims ${ErrorCode.UNKNOWN_KEY})`,
          { code: ErrorCode.UNSEALED_RESPONSE, claimedCode: ErrorCode.UNKNOWN_KEY, sealed: false, status: 401 },
        ],
        // A clock a minute ahead: refused after authentication, sealed, so the client knows why.
        [
          await web({ clock: () => Date.now() + 60_000 }),
          `upgrade refused: 401 ${ErrorCode.FUTURE}`,
          { code: ErrorCode.FUTURE, claimedCode: undefined, sealed: true, status: 401 },
        ],
      ];
      for (const [endpoint, reason, error] of cases) {
        const events: WsClientCloseEvent[] = [];
        const c = client({ endpoint, url: server.url, reconnect: false, onClose: (e) => events.push(e) });
        const refusal = await c.ready().then(
          () => undefined,
          (e: unknown) => e,
        );
        expect(isWaTransportError(refusal)).toBe(true);
        expect(refusal).toMatchObject(error);
        expect(events).toEqual([
          { code: WsCloseCode.AUTH_FAILED, reason, error: refusal, willReconnect: false, delayMs: undefined },
        ]);
      }
      expect(server.connections).toEqual([]);
      expect(server.received).toEqual([]);
    });

    it('answers an upgrade refused before authentication with JSON { error } and its status, like HTTP', async () => {
      const server = await startServer();
      const noHello = await rawUpgrade(server.url, {});
      expect(noHello).toMatchObject({
        status: 401,
        contentType: 'application/json',
        body: { error: ErrorCode.MALFORMED },
      });
      const other = await web({ secret: OTHER_SECRET });
      const target = new URL(server.url).pathname;
      const hello = other.sealText(new Uint8Array(0), { context: `wa-ws/1:hello:${target}` });
      const wrongSecret = await rawUpgrade(server.url, { 'wa-hello': hello });
      expect(wrongSecret).toMatchObject({
        status: 401,
        contentType: 'application/json',
        body: { error: ErrorCode.UNKNOWN_KEY },
      });
    });

    it('refuses a server that cannot prove the secret: its welcome fails, the client closes 4001', async () => {
      const impostor = await createEndpoint({ role: 'coreapp', secret: OTHER_SECRET });
      const url = await rawServer({}, (socket, id) => {
        socket.send(impostor.seal(new Uint8Array(0), { context: `wa-ws/1:${id}:welcome` }));
      });
      const events: WsClientCloseEvent[] = [];
      const c = client({
        endpoint: await web(),
        url,
        reconnect: false,
        onClose: (e) => events.push(e),
      });
      await expect(c.ready()).rejects.toMatchObject({ code: 'ERR_WA_WS_CLOSED' });
      expect(events[0]).toMatchObject({ code: WsCloseCode.AUTH_FAILED, reason: ErrorCode.UNKNOWN_KEY });
    });
  });

  describe('frames: one bad frame closes the channel before the handler sees it', () => {
    it('detects reordering, repetition, cross-connection injection, wrong secret and reflection (4003)', async () => {
      const server = await startServer();
      const endpoint = await web();
      const other = await web({ secret: OTHER_SECRET });
      const serverSide = await core();

      // Skipping ahead: frame 1 where frame 0 is due (a dropped or reordered frame).
      const a = await rawOpen(server.url, endpoint);
      a.socket.send(endpoint.seal({ n: 1 }, { context: `wa-ws/1:${a.id}:c2s:1` }));
      expect(await closeOf(a.socket)).toBe(WsCloseCode.OUT_OF_SEQUENCE);

      // Repeating: frame 0 accepted, then the same bytes again.
      const b = await rawOpen(server.url, endpoint);
      const frame0 = endpoint.seal({ n: 0 }, { context: `wa-ws/1:${b.id}:c2s:0` });
      b.socket.send(frame0);
      await eventually(() => expect(server.received).toEqual([{ n: 0 }]));
      b.socket.send(frame0);
      expect(await closeOf(b.socket)).toBe(WsCloseCode.OUT_OF_SEQUENCE);

      // Injection: a frame of connection C sent on connection D.
      const c = await rawOpen(server.url, endpoint);
      const d = await rawOpen(server.url, endpoint);
      d.socket.send(endpoint.seal({ n: 0 }, { context: `wa-ws/1:${c.id}:c2s:0` }));
      expect(await closeOf(d.socket)).toBe(WsCloseCode.OUT_OF_SEQUENCE);

      // Wrong secret, right context.
      const e = await rawOpen(server.url, endpoint);
      e.socket.send(other.seal({ n: 0 }, { context: `wa-ws/1:${e.id}:c2s:0` }));
      expect(await closeOf(e.socket)).toBe(WsCloseCode.OUT_OF_SEQUENCE);

      // Right secret, the other direction's context (a server frame reflected back).
      const f = await rawOpen(server.url, endpoint);
      f.socket.send(serverSide.seal({ n: 0 }, { context: `wa-ws/1:${f.id}:s2c:0` }));
      expect(await closeOf(f.socket)).toBe(WsCloseCode.OUT_OF_SEQUENCE);

      expect(server.received).toEqual([{ n: 0 }]); // b's first frame only
      await eventually(() =>
        expect(server.closes.filter((code) => code === WsCloseCode.OUT_OF_SEQUENCE)).toHaveLength(5),
      );
      c.socket.close();
    });

    it('closes 4005 on a stale frame, 4002 on garbage, 1003 on text, 1009 over maxEnvelopeBytes', async () => {
      const server = await startServer({ endpoint: await core(4096) });
      const endpoint = await web();
      const late = await web({ clock: () => Date.now() - 60_000 });

      const a = await rawOpen(server.url, endpoint);
      a.socket.send(late.seal('old', { context: `wa-ws/1:${a.id}:c2s:0` }));
      expect(await closeOf(a.socket)).toBe(WsCloseCode.STALE);

      const b = await rawOpen(server.url, endpoint);
      b.socket.send(new Uint8Array(100));
      expect(await closeOf(b.socket)).toBe(WsCloseCode.MALFORMED);

      const c = await rawOpen(server.url, endpoint);
      c.socket.send('text');
      expect(await closeOf(c.socket)).toBe(WsCloseCode.UNSUPPORTED_DATA);

      const d = await rawOpen(server.url, endpoint);
      d.socket.send(new Uint8Array(5000));
      expect(await closeOf(d.socket)).toBe(WsCloseCode.TOO_LARGE);

      expect(server.received).toEqual([]);
    });

    it('reports 1009 to onClose on the side that refused an oversized frame, as the peer sees it', async () => {
      const server = await startServer({ endpoint: await core(4096) });
      const a = await rawOpen(server.url, await web());
      a.socket.send(new Uint8Array(5000));
      expect(await closeOf(a.socket)).toBe(WsCloseCode.TOO_LARGE);
      await eventually(() => expect(server.closes).toEqual([WsCloseCode.TOO_LARGE]));

      const serverSide = await core();
      const url = await rawServer({}, (socket, id) => {
        socket.send(serverSide.seal(new Uint8Array(0), { context: `wa-ws/1:${id}:welcome` }));
        socket.send(new Uint8Array(5000));
      });
      const events: WsClientCloseEvent[] = [];
      const small = await createEndpoint({ role: 'webapp', secret: SECRET, maxEnvelopeBytes: 4096 });
      client({ endpoint: small, url, reconnect: false, onClose: (e) => events.push(e) });
      await eventually(() => expect(events).toMatchObject([{ code: WsCloseCode.TOO_LARGE }]));
    });

    it('opens in order through an asynchronous replay store and a forwarding endpoint, and closes 1013 when the store fails', async () => {
      // The channel opens a frame without a promise when the endpoint's store answers at once
      // (through a RotatingEndpoint too: test/ops/rotation.test.ts); these are the other paths:
      // a store that answers later, and a forwarder of the caller's own, asked through `open`.
      let failing = false;
      const memory = new MemoryReplayStore({ retentionMs: 60_000 });
      const store: ReplayStore = {
        retentionMs: memory.retentionMs,
        recordIfAbsent: async (nonce, timestamp, now) => {
          await new Promise((resolve) => setImmediate(resolve));
          if (failing) throw new WaTransportError(ErrorCode.REPLAY_STORE_UNAVAILABLE);
          return memory.recordIfAbsent(nonce, timestamp, now);
        },
      };
      const server = await startServer({
        endpoint: await createEndpoint({ role: 'coreapp', secret: SECRET, replayStore: store }),
      });
      const got: unknown[] = [];
      const events: WsClientCloseEvent[] = [];
      const rotating = await RotatingEndpoint.create({ role: 'webapp', secret: SECRET });
      let forwarded = 0;
      const forwarder: EndpointLike = {
        role: rotating.role,
        maxEnvelopeBytes: rotating.maxEnvelopeBytes,
        seal: (payload, options) => rotating.seal(payload, options),
        sealText: (payload, options) => rotating.sealText(payload, options),
        open: (envelope, options) => {
          forwarded++;
          return rotating.open(envelope, options);
        },
        openSync: (envelope, options) => rotating.openSync(envelope, options),
        openReply: (envelope, options) => rotating.openReply(envelope, options),
        newRequestId: () => rotating.newRequestId(),
      };
      const c = client({
        endpoint: forwarder,
        url: server.url,
        reconnect: false,
        onMessage: (payload) => void got.push(payload),
        onClose: (e) => events.push(e),
      });
      await c.ready();
      await Promise.all([0, 1, 2, 3, 4].map((n) => c.send({ n })));
      await eventually(() => expect(got).toHaveLength(5));
      expect(server.received).toEqual([0, 1, 2, 3, 4].map((n) => ({ n })));
      expect(got).toEqual([0, 1, 2, 3, 4].map((n) => ({ echo: { n } })));
      expect(forwarded).toBeGreaterThanOrEqual(5); // the welcome may be opened apart

      failing = true;
      await c.send({ n: 5 });
      await eventually(() => expect(events).toMatchObject([{ code: WsCloseCode.TRY_AGAIN_LATER }]));
      expect(server.received).toHaveLength(5);
    });

    it('checks the server’s frames on the client too', async () => {
      const serverSide = await core();
      const url = await rawServer({}, (socket, id) => {
        socket.send(serverSide.seal(new Uint8Array(0), { context: `wa-ws/1:${id}:welcome` }));
        socket.send(serverSide.seal('first', { context: `wa-ws/1:${id}:s2c:0` }));
        socket.send(serverSide.seal('skipped ahead', { context: `wa-ws/1:${id}:s2c:2` }));
      });
      const got: unknown[] = [];
      const events: WsClientCloseEvent[] = [];
      client({
        endpoint: await web(),
        url,
        reconnect: false,
        onMessage: (payload) => void got.push(payload),
        onClose: (e) => events.push(e),
      });
      await eventually(() =>
        expect(events[0]).toMatchObject({ code: WsCloseCode.OUT_OF_SEQUENCE, reason: ErrorCode.FORGED }),
      );
      expect(got).toEqual(['first']);
    });
  });

  it('reconnects with backoff after the server restarts, as a new connection', async () => {
    const first = await startServer();
    const opened: WsChannel[] = [];
    const events: WsClientCloseEvent[] = [];
    const got: unknown[] = [];
    const c = client({
      endpoint: await web(),
      url: first.url,
      reconnect: { initialDelayMs: 20, maxDelayMs: 200 },
      onOpen: (channel) => opened.push(channel),
      onClose: (e) => events.push(e),
      onMessage: (payload) => void got.push(payload),
    });
    await c.ready();
    await stopWsServer(first);
    await eventually(() => expect(events.length).toBeGreaterThan(0));
    expect(events[0]).toMatchObject({ code: WsCloseCode.GOING_AWAY, willReconnect: true });
    const refused = await c.send('while down').catch((error: unknown) => error);
    expect(refused).toBeInstanceOf(WsChannelError);
    expect(isWaTransportError(refused, ErrorCode.WS_CLOSED)).toBe(true); // one error family, one code

    const second = await startServer({}, first.port);
    const channel = await c.ready();
    await c.send('again');
    await eventually(() => expect(got).toEqual([{ echo: 'again' }]));
    expect(opened).toHaveLength(2);
    expect(channel.id).not.toBe(opened[0]!.id);
    expect(second.received).toEqual(['again']);
  });

  it('bounds the send buffer: a peer that stops reading makes send wait, then reject', async () => {
    const limit = 256 * 1024;
    let release = (): void => {};
    const gate = new Promise<void>((resolve) => {
      release = resolve;
    });
    const held: unknown[] = [];
    const server = await startServer({
      maxBufferedBytes: limit,
      onMessage: (payload) => {
        held.push(payload);
        return gate; // the handler never finishes: the server stops reading
      },
    });
    const c = client({ endpoint: await web(), url: server.url, maxBufferedBytes: limit });
    cleanups.push(() => release()); // cleanups run in reverse: release before closing anything
    const channel = await c.ready();

    const frame = new Uint8Array(64 * 1024);
    const sends: Array<Promise<void>> = [];
    let refused: unknown;
    let peak = 0;
    for (let i = 0; i < 2000 && refused === undefined; i++) {
      const sent = c.send(frame);
      sent.catch((error: unknown) => {
        refused = error;
      });
      sends.push(sent);
      peak = Math.max(peak, channel.bufferedAmount);
      await new Promise(setImmediate); // let both sides' sockets move
    }
    expect(refused).toMatchObject({ code: 'ERR_WA_WS_BACKPRESSURE' });
    expect(peak).toBeLessThanOrEqual(limit + frame.length + 64);
    // The last accepted frame is still waiting to be written: the promise waits, nothing queues.
    const pending = Symbol('pending');
    const lastAccepted = sends.at(-2)!;
    expect(
      await Promise.race([lastAccepted.then(() => 'written'), new Promise((r) => setImmediate(() => r(pending)))]),
    ).toBe(pending);
    expect(held).toHaveLength(1); // the handler holds the first frame; the rest wait unread
    release();
    await Promise.allSettled(sends);
  });

  it('terminates a peer that stops answering pings, on both sides', async () => {
    const server = await startServer({ heartbeatMs: 30 });
    // A client that never pongs: ws answers pings automatically unless autoPong is off.
    const deaf = await raw(server.url, { 'wa-hello': hello(await web()).header }, { autoPong: false });
    if (!('socket' in deaf)) throw new Error('refused');
    expect(await closeOf(deaf.socket)).toBe(WsCloseCode.ABNORMAL);
    await eventually(() => expect(server.closes).toContain(WsCloseCode.ABNORMAL));

    const serverSide = await core();
    const url = await rawServer({ autoPong: false }, (socket, id) => {
      socket.send(serverSide.seal(new Uint8Array(0), { context: `wa-ws/1:${id}:welcome` }));
    });
    const events: WsClientCloseEvent[] = [];
    const c = client({
      endpoint: await web(),
      url,
      reconnect: false,
      heartbeatMs: 30,
      onClose: (e) => events.push(e),
    });
    await c.ready();
    await eventually(() => expect(events[0]).toMatchObject({ code: WsCloseCode.ABNORMAL }));
  });

  it('rejects bad options with ERR_WA_CONFIG, never a TypeError', async () => {
    const endpoint = await web();
    const url = 'ws://127.0.0.1:1/ws';
    for (const options of [
      { endpoint, url: 'http://127.0.0.1:1/ws' },
      { endpoint, url: 'not a url' },
      { endpoint, url: 42 },
      { url },
      { endpoint: {}, url },
      { endpoint, url, reconnect: { jitter: 2 } },
      { endpoint, url, reconnect: { maxDelayMs: 2 ** 40 } }, // Node would wait 1 ms instead
      { endpoint, url, reconnect: 5 },
      { endpoint, url, heartbeatMs: 2 ** 40 },
      { endpoint, url, handshakeTimeoutMs: Number.POSITIVE_INFINITY },
      { endpoint, url: 'wss://127.0.0.1:1/ws', tls: { level: 'MODERN' } },
      { endpoint, url: 'wss://127.0.0.1:1/ws', tls: null },
      { endpoint, url, agent: 5 },
      { endpoint, url, onMessage: 'log it' },
      null,
    ]) {
      expect(() => new WsClient(options as never), JSON.stringify(options)).toThrow(
        expect.objectContaining({ code: ErrorCode.CONFIG }),
      );
    }
    for (const options of [
      null,
      {},
      { endpoint: await core(), heartbeatMs: -1 },
      { endpoint: await core(), onConnection: 1 },
    ]) {
      expect(() => new WsServer(options as never), JSON.stringify(options)).toThrow(
        expect.objectContaining({ code: ErrorCode.CONFIG }),
      );
    }
  });

  it('verifies the server’s certificate without a tls option, even under NODE_TLS_REJECT_UNAUTHORIZED=0', async () => {
    const pems = await generate([{ name: 'commonName', value: 'localhost' }], {
      keyType: 'ec',
      algorithm: 'sha256',
      extensions: [{ name: 'subjectAltName', altNames: [{ type: 7, ip: '127.0.0.1' }] }],
    });
    const https = createHttpsServer({ key: pems.private, cert: pems.cert });
    const upgrades: string[] = [];
    https.on('upgrade', (request: IncomingMessage, socket) => {
      upgrades.push(String(request.url));
      socket.destroy();
    });
    https.listen(0, '127.0.0.1');
    await once(https, 'listening');
    cleanups.push(async () => {
      https.closeAllConnections();
      await new Promise((resolve) => https.close(resolve));
    });
    const saved = process.env['NODE_TLS_REJECT_UNAUTHORIZED'];
    process.env['NODE_TLS_REJECT_UNAUTHORIZED'] = '0';
    cleanups.push(() => {
      if (saved === undefined) delete process.env['NODE_TLS_REJECT_UNAUTHORIZED'];
      else process.env['NODE_TLS_REJECT_UNAUTHORIZED'] = saved;
    });
    const events: WsClientCloseEvent[] = [];
    const c = client({
      endpoint: await web(),
      url: `wss://127.0.0.1:${(https.address() as AddressInfo).port}/ws`,
      reconnect: false,
      onClose: (e) => events.push(e),
    });
    await expect(c.ready()).rejects.toMatchObject({ code: 'ERR_WA_WS_CLOSED' });
    expect(upgrades).toEqual([]); // the sealed hello never reached an unverified server
    expect(events).toMatchObject([{ code: WsCloseCode.ABNORMAL, willReconnect: false }]);
  });

  describe('a user callback that throws or rejects is logged and breaks nothing', () => {
    const failures = {
      throws: () => {
        throw new Error('bug in user code');
      },
      rejects: async () => Promise.reject(new Error('bug in user code')),
    };
    const failed = (callback: string) => expect.objectContaining({ event: CALLBACK_FAILED_EVENT, callback });

    it.each(Object.keys(failures) as Array<keyof typeof failures>)('server callbacks (%s)', async (kind) => {
      const fail = failures[kind];
      let server: Running | undefined;
      const unhandled = await unhandledRejectionsDuring(async () => {
        server = await startServer({
          onConnection: fail,
          onMessage: async (payload, channel) => {
            server!.received.push(payload);
            await channel.send({ echo: payload });
            return fail();
          },
          onClose: fail,
        });
        const got: unknown[] = [];
        const c = client({ endpoint: await web(), url: server.url, onMessage: (payload) => void got.push(payload) });
        await c.ready();
        await c.send('one');
        await c.send('two'); // the channel survived a failed onConnection and onMessage
        await eventually(() => expect(got).toEqual([{ echo: 'one' }, { echo: 'two' }]));
        await c.close();
        await eventually(() => expect(server!.logger.records).toContainEqual(failed('onClose')));
      });
      expect(unhandled).toEqual([]);
      expect(server!.logger.records).toContainEqual(failed('onConnection'));
      expect(server!.logger.records).toContainEqual(failed('onMessage'));
    });

    it.each(Object.keys(failures) as Array<keyof typeof failures>)('client callbacks (%s)', async (kind) => {
      const fail = failures[kind];
      const server = await startServer();
      const logger = recordingLogger();
      const closes: WsClientCloseEvent[] = [];
      const unhandled = await unhandledRejectionsDuring(async () => {
        const c = client({
          endpoint: await web(),
          url: server.url,
          logger,
          reconnect: { initialDelayMs: 1, maxDelayMs: 1 },
          onOpen: fail,
          onMessage: fail,
          onClose: (event) => {
            closes.push(event);
            return fail();
          },
        });
        await c.ready();
        await c.send('one');
        await eventually(() => expect(logger.records).toContainEqual(failed('onMessage')));
        for (const channel of server.connections) channel.close(WsCloseCode.GOING_AWAY);
        await eventually(() => expect(closes).toHaveLength(1));
        await c.ready(); // reconnected though onClose failed
        await c.send('two');
        await eventually(() => expect(server.received).toEqual(['one', 'two']));
      });
      expect(unhandled).toEqual([]);
      expect(closes[0]).toMatchObject({ code: WsCloseCode.GOING_AWAY, willReconnect: true });
      expect(logger.records).toContainEqual(failed('onOpen'));
      expect(logger.records).toContainEqual(failed('onClose'));
    });
  });

  it('backoff stays within [ceiling·(1 − jitter), ceiling] with ceiling = min(max, initial·factor^n)', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 60 }),
        fc.integer({ min: 0, max: 10_000 }),
        fc.integer({ min: 0, max: 120_000 }),
        fc.double({ min: 1, max: 4, noNaN: true }),
        fc.double({ min: 0, max: 1, noNaN: true }),
        fc.double({ min: 0, max: 1, maxExcluded: true, noNaN: true }),
        (attempt, initialDelayMs, maxDelayMs, factor, jitter, random) => {
          const options = { initialDelayMs, maxDelayMs, factor, jitter, maxAttempts: Infinity };
          const ceiling = Math.min(maxDelayMs, initialDelayMs * factor ** attempt);
          const delay = backoffDelay(attempt, options, () => random);
          return delay <= ceiling && delay >= ceiling * (1 - jitter) - 1e-9;
        },
      ),
    );
  });

  it('behind a proxy that strips a path prefix: refused without pathPrefix, open with it', async () => {
    const upstream = await startServer({ pathPrefix: '/core' });
    const plain = await startServer();
    const proxyFor = async (target: number): Promise<string> => {
      // Forwards an upgrade for /core/x to the target as /x, bytes as they are (nginx: proxy_pass http://core/;).
      const proxy = createServer();
      proxy.on('upgrade', (request: IncomingMessage, socket: Duplex, head: Buffer) => {
        const upstreamSocket = connect(target, '127.0.0.1', () => {
          const path = (request.url ?? '/').replace(/^\/core(?=\/|$)/, '') || '/';
          const lines = [`${request.method} ${path} HTTP/1.1`];
          for (let i = 0; i < request.rawHeaders.length; i += 2)
            lines.push(`${request.rawHeaders[i]}: ${request.rawHeaders[i + 1]}`);
          upstreamSocket.write(`${lines.join('\r\n')}\r\n\r\n`);
          upstreamSocket.write(head);
          socket.pipe(upstreamSocket).pipe(socket);
        });
        upstreamSocket.on('error', () => socket.destroy());
        socket.on('error', () => upstreamSocket.destroy());
      });
      proxy.listen(0, '127.0.0.1');
      await once(proxy, 'listening');
      cleanups.push(
        () =>
          new Promise<void>((resolve) => {
            proxy.closeAllConnections();
            proxy.close(() => resolve());
          }),
      );
      return `ws://127.0.0.1:${(proxy.address() as AddressInfo).port}/core/ws`;
    };
    const endpoint = await web();

    const refused = client({ endpoint, url: await proxyFor(plain.port), reconnect: false });
    await expect(refused.ready()).rejects.toMatchObject({
      code: ErrorCode.UNSEALED_RESPONSE,
      claimedCode: ErrorCode.FORGED,
    });

    const accepted = client({ endpoint, url: await proxyFor(upstream.port), reconnect: false });
    const channel = await accepted.ready();
    await channel.send('through the proxy');
    await vi.waitFor(() => expect(upstream.received).toEqual(['through the proxy']));
  });
});
