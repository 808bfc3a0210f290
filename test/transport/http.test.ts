/**
 * HTTP transport over real sockets on 127.0.0.1: the same scenarios against each adapter
 * (node:http, Express, Fastify, the web-standard handler on Hono), each asserting the
 * documented status and that a rejected request never reaches the handler.
 */
import { createServer, request as httpRequest } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Readable } from 'node:stream';
import express from 'express';
import Fastify from 'fastify';
import { request } from 'undici';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createEndpoint, ErrorCode, type Endpoint, type ReplayStore } from '../../src/index.js';
import { acceptSealedBodies, sealedFastify } from '../../src/transport/fastify.js';
import { sealedExpress } from '../../src/transport/express.js';
import { HttpStatusError, HttpClient } from '../../src/transport/http-client.js';
import { ENVELOPE_CONTENT_TYPE, ENVELOPE_HEADER, REJECTION_STATUS, requestContext } from '../../src/protocol.js';
import {
  sealedHandler,
  sealedReply,
  type SealedHandler,
  type SealedRequest,
  type SealedServerOptions,
} from '../../src/transport/http.js';
import { toText } from '../../src/envelope/text.js';
import { REJECTION_HEADER, rejectionContext } from '../../src/transport/http-binding.js';
import { ManualClock, OTHER_SECRET, SECRET } from '../helpers.js';
import { type Running, sealedServer, startServer } from './http-fixture.js';

type Adapter = 'node' | 'express' | 'fastify' | 'hono';

async function listen(adapter: Adapter, options: SealedServerOptions, handler: SealedHandler): Promise<Running> {
  if (adapter === 'fastify') {
    const app = Fastify();
    acceptSealedBodies(app);
    app.all('/*', sealedFastify(options, handler));
    await app.listen({ port: 0, host: '127.0.0.1' });
    const { port } = app.server.address() as AddressInfo;
    return { url: `http://127.0.0.1:${port}`, close: () => app.close() };
  }
  if (adapter === 'express') {
    const app = express();
    app.use(sealedExpress(options, handler));
    return startServer(createServer(app));
  }
  return startServer(sealedServer(adapter === 'node' ? 'node:http' : 'fetch', options, handler));
}

/** The CoreApp's routes, by path. Records every request that reaches it. */
function routes(seen: SealedRequest[]): SealedHandler {
  return (req) => {
    seen.push(req);
    switch (req.path) {
      case '/v1/created':
        return sealedReply({ id: 7 }, { status: 201 });
      case '/v1/fail':
        throw new Error('handler bug with secret detail');
      default:
        return { method: req.method, path: req.path, query: Object.fromEntries(req.query), echo: req.payload };
    }
  };
}

/** Sends raw bytes as an attacker would, without the client's checks. */
async function raw(url: string, body: Uint8Array | string, method = 'POST', headers: Record<string, string> = {}) {
  const res = await request(url, {
    method: method as 'POST',
    body,
    headers: { 'content-type': ENVELOPE_CONTENT_TYPE, ...headers },
  });
  const bytes = new Uint8Array(await res.body.arrayBuffer());
  return { status: res.statusCode, body: Buffer.from(bytes).toString('utf8'), bytes, headers: res.headers };
}

describe.each<Adapter>(['node', 'express', 'fastify', 'hono'])('%s adapter', (adapter) => {
  const clock = new ManualClock(Date.now());
  const seen: SealedRequest[] = [];
  let core: Endpoint;
  let web: Endpoint;
  let server: Running;
  let client: HttpClient;

  beforeAll(async () => {
    core = await createEndpoint({ role: 'coreapp', secret: SECRET, clock: clock.now });
    web = await createEndpoint({ role: 'webapp', secret: SECRET });
    server = await listen(adapter, { endpoint: core, maxBodyBytes: 4096 }, routes(seen));
    client = new HttpClient({ endpoint: web, baseUrl: server.url });
    // The CoreApp's clock reads real time from here on: responses sealed before the WebApp
    // started would be refused (its replay store vouches only for later ones).
    clock.time = Date.now();
  });
  afterAll(async () => {
    await client.close();
    await server.close();
  });
  afterEach(() => {
    seen.length = 0;
    clock.time = Date.now();
  });

  it('round-trips POST with a query, GET, PUT and DELETE', async () => {
    const posted = await client.post('/v1/echo', { n: 1, s: 'hé' }, { query: { a: 'b c', x: 1 } });
    expect(posted.status).toBe(200);
    expect(posted.payload).toEqual({
      method: 'POST',
      path: '/v1/echo',
      query: { a: 'b c', x: '1' },
      echo: { n: 1, s: 'hé' },
    });
    const got = await client.get('/v1/echo', { q: 'find' });
    expect(got.payload).toMatchObject({ method: 'GET', echo: { q: 'find' } });
    const put = await client.put('/v1/echo', new Uint8Array([1, 2, 3]));
    expect((put.payload as { echo: Uint8Array }).echo).toEqual(new Uint8Array([1, 2, 3]));
    const deleted = await client.delete('/v1/echo');
    expect(deleted.payload).toMatchObject({ method: 'DELETE', echo: null });
    expect(seen).toHaveLength(4);
  });

  it('reads the body as an envelope whatever its Content-Type says (PROTOCOL 8.1)', async () => {
    for (const type of [
      'application/json',
      'text/plain',
      'application/octet-stream',
      'application/x-www-form-urlencoded',
    ]) {
      const envelope = web.seal({ type }, { context: requestContext('POST', '/v1/echo') });
      const answer = await raw(`${server.url}/v1/echo`, envelope, 'POST', { 'content-type': type });
      expect([type, answer.status]).toEqual([type, 200]);
    }
    expect(seen).toHaveLength(4);
  });

  it('carries a handler-chosen status, and a handler failure as a sealed 500 that leaks nothing', async () => {
    const created = await client.post('/v1/created', {});
    expect(created).toMatchObject({ status: 201, payload: { id: 7 } });
    const failed = await client.post('/v1/fail', {});
    expect(failed).toMatchObject({ status: 500, payload: { error: 'internal' } });
  });

  it('answers a replayed request 409 and runs the handler once', async () => {
    const envelope = web.seal({ pay: 100 }, { context: requestContext('POST', '/v1/echo') });
    expect((await raw(`${server.url}/v1/echo`, envelope)).status).toBe(200);
    const replay = await raw(`${server.url}/v1/echo`, envelope);
    expect(replay.status).toBe(409);
    // Refused after authentication: sealed, bound to the request's nonce and the status.
    expect(replay.headers[REJECTION_HEADER]).toBe('1');
    const refusal = web.openReply(replay.bytes, {
      context: rejectionContext(409, envelope.subarray(15, 39)),
    });
    expect(refusal.payload).toEqual({ error: ErrorCode.REPLAYED });
    expect(seen).toHaveLength(1);
  });

  it('answers a tampered body 401, a cross-route or cross-query envelope 401', async () => {
    const envelope = web.seal({ pay: 100 }, { context: requestContext('POST', '/v1/echo?to=alice') });
    const tampered = envelope.slice();
    tampered[tampered.length - 20]! ^= 1;
    expect(await raw(`${server.url}/v1/echo?to=alice`, tampered)).toMatchObject({ status: 401 });
    expect(await raw(`${server.url}/v1/echo?to=mallory`, envelope)).toMatchObject({ status: 401 });
    expect(await raw(`${server.url}/v1/other?to=alice`, envelope)).toMatchObject({ status: 401 });
    expect(await raw(`${server.url}/v1/echo?to=alice`, envelope, 'PUT')).toMatchObject({ status: 401 });
    expect(seen).toHaveLength(0);
    // Untouched, it is still accepted: the rejections above were for the changes alone.
    expect(await raw(`${server.url}/v1/echo?to=alice`, envelope)).toMatchObject({ status: 200 });
  });

  it('answers stale and future requests 401 (server clock moved)', async () => {
    clock.advance(11_000);
    await expect(client.post('/v1/echo', 1)).rejects.toMatchObject({
      code: ErrorCode.EXPIRED,
      status: 401,
      sealed: true,
    });
    expect(seen).toHaveLength(0);
  });

  it('answers a wrong-secret client and a reflected (wrong-direction) envelope 401', async () => {
    const intruder = new HttpClient({
      endpoint: await createEndpoint({ role: 'webapp', secret: OTHER_SECRET }),
      baseUrl: server.url,
    });
    const error = await intruder.post('/v1/echo', 1).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(HttpStatusError);
    // Refused before authentication: unsealed, so its code is only a claim.
    expect(error).toMatchObject({
      code: ErrorCode.UNSEALED_RESPONSE,
      claimedCode: ErrorCode.UNKNOWN_KEY,
      sealed: false,
      status: 401,
    });
    await intruder.close();
    const reflected = core.seal(1, { context: requestContext('POST', '/v1/echo') });
    expect(await raw(`${server.url}/v1/echo`, reflected)).toMatchObject({ status: 401 });
    expect(seen).toHaveLength(0);
  });

  it('answers garbage 400, a GET without an envelope 400', async () => {
    expect(await raw(`${server.url}/v1/echo`, 'not an envelope')).toMatchObject({ status: 400 });
    const get = await request(`${server.url}/v1/echo`);
    expect(get.statusCode).toBe(400);
    await get.body.dump();
    // A GET's envelope in the header is bound like a body.
    const envelope = web.seal(1, { context: requestContext('GET', '/v1/other') });
    const res = await request(`${server.url}/v1/echo`, { headers: { [ENVELOPE_HEADER]: toText(envelope) } });
    expect(res.statusCode).toBe(401);
    await res.body.dump();
    expect(seen).toHaveLength(0);
  });

  it('answers a body over the limit 413 without reading it, declared or chunked', async () => {
    const big = web.seal(new Uint8Array(5000), { context: requestContext('POST', '/v1/echo') });
    const declared = await raw(`${server.url}/v1/echo`, big);
    expect(declared.status).toBe(413);
    expect(JSON.parse(declared.body)).toEqual({ error: ErrorCode.TOO_LARGE });
    const chunked = await request(`${server.url}/v1/echo`, {
      method: 'POST',
      headers: { 'content-type': ENVELOPE_CONTENT_TYPE },
      body: Readable.from([big.subarray(0, 3000), big.subarray(3000)]),
    }).then(
      async (res) => {
        await res.body.dump();
        return res.statusCode;
      },
      () => 'closed', // the server may hang up before the client finished writing
    );
    expect([413, 'closed']).toContain(chunked);
    expect(seen).toHaveLength(0);
  });

  it('stops reading an endless body once past the limit', async () => {
    const chunk = new Uint8Array(64 * 1024);
    const total = 256 * 1024 * 1024;
    let produced = 0;
    const result = await request(`${server.url}/v1/echo`, {
      method: 'POST',
      headers: { 'content-type': ENVELOPE_CONTENT_TYPE },
      body: Readable.from(
        (function* () {
          while (produced < total) {
            produced += chunk.length;
            yield chunk;
          }
        })(),
      ),
    }).then(
      async (res) => {
        await res.body.dump();
        return res.statusCode;
      },
      () => 'closed',
    );
    expect([413, 'closed']).toContain(result);
    // Far less than was on offer: the server hung up instead of draining it.
    expect(produced).toBeLessThan(total / 4);
    expect(seen).toHaveLength(0);
  });
});

describe('connections of the client', () => {
  it('keeps reusing its connections after all of them closed at once under load', async () => {
    // Issue 13's "stall": undici's Agent counts an origin's connections across the pools it
    // makes for it. When every connection closed while requests were being dispatched, it
    // closed a pool that still had work, whose later disconnects then closed each pool made
    // after it: one new connection per request for as long as the load lasted (sealed node:http
    // at 0.06-0.08x plain, bench/RESULTS.md). Here every connection is closed at once
    // (`connection: close` on a batch of answers), and the requests after it must reuse
    // connections again.
    const [core, web] = await Promise.all([
      createEndpoint({ role: 'coreapp', secret: SECRET }),
      createEndpoint({ role: 'webapp', secret: SECRET }),
    ]);
    const inFlight = 8;
    const after = 20;
    let closing = true;
    let arrived = 0;
    let release: () => void = () => {};
    const batch = new Promise<void>((resolve) => {
      release = resolve;
    });
    const sealed = sealedHandler({ endpoint: core }, async (request) => {
      if (++arrived === inFlight) {
        closing = false;
        release();
      }
      await batch;
      return request.payload;
    });
    const server = createServer((req, res) => {
      if (closing) res.setHeader('connection', 'close');
      sealed(req, res);
    });
    let opened = 0;
    server.on('connection', () => opened++);
    const running = await startServer(server);
    const client = new HttpClient({ endpoint: web, baseUrl: running.url, retry: false });
    await Promise.all(
      Array.from({ length: inFlight }, async () => {
        for (let i = 0; i <= after; i++) await client.post('/x', i);
      }),
    );
    // One per worker for the batch, one per worker after it, and a few spare: not one per request.
    expect(opened).toBeLessThan((inFlight * after) / 2);
    await client.close();
    await running.close();
  });
});

describe('onHandlerError', () => {
  it('a throwing or rejecting onHandlerError is logged; the request is still answered with a sealed 500', async () => {
    const core = await createEndpoint({ role: 'coreapp', secret: SECRET });
    const web = await createEndpoint({ role: 'webapp', secret: SECRET });
    const logged: string[] = [];
    const logger = {
      warn: (record: object) => logged.push(String((record as { event?: unknown }).event)),
      info: () => {},
    };
    for (const onHandlerError of [
      () => {
        throw new Error('hook bug');
      },
      () => Promise.reject(new Error('async hook bug')),
    ]) {
      const server = await listen('node', { endpoint: core, onHandlerError, logger }, routes([]));
      const client = new HttpClient({ endpoint: web, baseUrl: server.url });
      await expect(client.post('/v1/fail', 1)).resolves.toMatchObject({ status: 500, payload: { error: 'internal' } });
      await client.close();
      await server.close();
    }
    await new Promise((resolve) => setImmediate(resolve));
    expect(logged).toEqual(['wa_transport.callback_failed', 'wa_transport.callback_failed']);
  });
});

describe('server-side failures of the replay store', () => {
  it('answers 503 when the store is down, without calling the handler', async () => {
    const store: ReplayStore = {
      retentionMs: 10_000,
      recordIfAbsent() {
        throw new Error('connection refused');
      },
    };
    const core = await createEndpoint({ role: 'coreapp', secret: SECRET, replayStore: store });
    const web = await createEndpoint({ role: 'webapp', secret: SECRET });
    const seen: SealedRequest[] = [];
    const server = await listen('node', { endpoint: core }, routes(seen));
    const client = new HttpClient({ endpoint: web, baseUrl: server.url });
    await expect(client.post('/v1/echo', 1)).rejects.toMatchObject({
      code: ErrorCode.REPLAY_STORE_UNAVAILABLE,
      status: 503,
    });
    expect(seen).toHaveLength(0);
    await client.close();
    await server.close();
  });

  it('answers 401 to a request from the future', async () => {
    const clock = new ManualClock(Date.now() - 60_000);
    const core = await createEndpoint({ role: 'coreapp', secret: SECRET, clock: clock.now });
    const web = await createEndpoint({ role: 'webapp', secret: SECRET });
    const seen: SealedRequest[] = [];
    const server = await listen('node', { endpoint: core }, routes(seen));
    const client = new HttpClient({ endpoint: web, baseUrl: server.url });
    await expect(client.post('/v1/echo', 1)).rejects.toMatchObject({
      code: ErrorCode.FUTURE,
      status: 401,
      sealed: true,
    });
    expect(seen).toHaveLength(0);
    await client.close();
    await server.close();
  });
});

describe('client-side checks of the response', () => {
  /** A rogue CoreApp (or a proxy in the middle) that answers with whatever `answer` returns. */
  async function rogue(answer: (index: number) => { status: number; body: Uint8Array | string; type: string }) {
    let index = 0;
    const server = createServer((req, res) => {
      req.resume();
      req.on('end', () => {
        const { status, body, type } = answer(index++);
        res.writeHead(status, { 'content-type': type });
        res.end(body);
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const { port } = server.address() as AddressInfo;
    return {
      url: `http://127.0.0.1:${port}`,
      close: () => new Promise<void>((resolve) => server.close(() => resolve())),
    };
  }

  let core: Endpoint;
  let web: Endpoint;
  beforeAll(async () => {
    core = await createEndpoint({ role: 'coreapp', secret: SECRET });
    web = await createEndpoint({ role: 'webapp', secret: SECRET });
  });

  it('refuses a response swapped from another request, replayed, or with its status changed', async () => {
    // A genuine CoreApp answers the first request; the rogue keeps that answer and replays it.
    const genuine = await listen('node', { endpoint: core }, () => ({ balance: 100 }));
    const target = requestContext('POST', '/v1/balance');
    const sent = web.seal({}, { context: target });
    const res = await request(`${genuine.url}/v1/balance`, {
      method: 'POST',
      body: sent,
      headers: { 'content-type': ENVELOPE_CONTENT_TYPE },
    });
    const captured = new Uint8Array(await res.body.arrayBuffer());
    expect(res.statusCode).toBe(200);
    await genuine.close();

    const server = await rogue((i) =>
      i === 0
        ? { status: 200, body: captured, type: ENVELOPE_CONTENT_TYPE }
        : i === 1
          ? { status: 201, body: captured, type: ENVELOPE_CONTENT_TYPE }
          : { status: 200, body: '{"balance":1000000}', type: 'application/json' },
    );
    const client = new HttpClient({ endpoint: web, baseUrl: server.url });
    await expect(client.post('/v1/balance', {})).rejects.toMatchObject({ code: ErrorCode.FORGED, status: 200 });
    await expect(client.post('/v1/balance', {})).rejects.toMatchObject({ code: ErrorCode.FORGED, status: 201 });
    await expect(client.post('/v1/balance', {})).rejects.toMatchObject({
      code: ErrorCode.UNSEALED_RESPONSE,
      status: 200,
    });
    await client.close();
    await server.close();
  });

  it('never believes an unsealed refusal: its code is a claim, and it is not retried', async () => {
    let requests = 0;
    const server = await rogue((i) => {
      requests++;
      return {
        status: i === 0 ? 503 : 200,
        body: JSON.stringify({ error: i === 0 ? ErrorCode.REPLAY_STORE_UNAVAILABLE : ErrorCode.REPLAYED }),
        type: 'application/json',
      };
    });
    const client = new HttpClient({ endpoint: web, baseUrl: server.url });
    await expect(client.post('/x', 1)).rejects.toMatchObject({
      code: ErrorCode.UNSEALED_RESPONSE,
      claimedCode: ErrorCode.REPLAY_STORE_UNAVAILABLE,
      status: 503,
    });
    expect(requests).toBe(1); // a forged 503 makes no retry
    await expect(client.post('/x', 1)).rejects.toMatchObject({ code: ErrorCode.UNSEALED_RESPONSE, status: 200 });
    await client.close();
    await server.close();
  });

  it('refuses a response over its limit', async () => {
    const server = await rogue(() => ({ status: 200, body: new Uint8Array(10_000), type: ENVELOPE_CONTENT_TYPE }));
    const client = new HttpClient({ endpoint: web, baseUrl: server.url, maxResponseBytes: 1000 });
    await expect(client.post('/x', 1)).rejects.toMatchObject({ code: ErrorCode.TOO_LARGE });
    await client.close();
    await server.close();
  });

  it('stops reading a chunked response (no Content-Length) once past its limit', async () => {
    const server = createServer((req, res) => {
      req.resume();
      res.writeHead(200, { 'content-type': ENVELOPE_CONTENT_TYPE });
      const timer = setInterval(() => res.write(new Uint8Array(400)), 1);
      res.on('close', () => clearInterval(timer));
    });
    const running = await startServer(server);
    const client = new HttpClient({ endpoint: web, baseUrl: running.url, maxResponseBytes: 1000, retry: false });
    await expect(client.post('/x', 1)).rejects.toMatchObject({ code: ErrorCode.TOO_LARGE, status: 200 });
    await client.close();
    await running.close();
  });

  it('gives up a request when its signal aborts, before or while it is answered', async () => {
    let arrived = 0;
    const server = createServer((req) => {
      arrived++;
      req.resume(); // and never answered
    });
    const running = await startServer(server);
    const client = new HttpClient({ endpoint: web, baseUrl: running.url });
    const reason = new Error('caller gave up');
    await expect(client.post('/x', 1, { signal: AbortSignal.abort(reason) })).rejects.toBe(reason);
    expect(arrived).toBe(0);
    const controller = new AbortController();
    const pending = client.post('/x', 1, { signal: controller.signal });
    while (arrived === 0) await new Promise((resolve) => setTimeout(resolve, 5));
    controller.abort(reason);
    await expect(pending).rejects.toBe(reason);
    expect(arrived).toBe(1); // not retried
    await client.close();
    await running.close();
  });

  it('refuses wrong configuration with ERR_WA_CONFIG', async () => {
    expect(() => new HttpClient({ endpoint: core, baseUrl: 'http://127.0.0.1:1' })).toThrow(
      expect.objectContaining({ code: ErrorCode.CONFIG }),
    );
    const client = new HttpClient({ endpoint: web, baseUrl: 'http://127.0.0.1:1/api' });
    await expect(client.request('HEAD', '/x')).rejects.toMatchObject({ code: ErrorCode.CONFIG });
    await client.close();
    const rootClient = new HttpClient({ endpoint: web, baseUrl: 'http://127.0.0.1:1' });
    await expect(rootClient.post('//evil.example/x')).rejects.toMatchObject({ code: ErrorCode.CONFIG });
    await rootClient.close();
    expect(REJECTION_STATUS[ErrorCode.FORGED]).toBe(401);
  });

  it("keeps every path under baseUrl's path, and the query out of it", async () => {
    const client = new HttpClient({ endpoint: web, baseUrl: 'http://127.0.0.1:1/api/v1' });
    for (const path of [
      '../../../admin/reset-all',
      '/../admin',
      '%2e%2e/admin',
      'x/../../admin',
      '/x?admin=1',
      '/x#frag',
    ]) {
      await expect(client.post(path, 1)).rejects.toMatchObject({ code: ErrorCode.CONFIG });
    }
    await client.close();
  });

  it('refuses a handler reply with a bodiless status (204, 205, 304): no envelope could be opened', async () => {
    for (const status of [204, 205, 304]) {
      expect(() => sealedReply(1, { status })).toThrow(expect.objectContaining({ code: ErrorCode.CONFIG }));
    }
    const server = await listen('node', { endpoint: core }, () => sealedReply(null, { status: 204 }));
    const client = new HttpClient({ endpoint: web, baseUrl: server.url });
    // The handler's mistake is its failure: a sealed 500, not a response the client cannot read.
    await expect(client.post('/x', 1)).resolves.toMatchObject({ status: 500, payload: { error: 'internal' } });
    await client.close();
    await server.close();
  });
});

describe('fastify: acceptSealedBodies', () => {
  it('may be called twice (e.g. by two plugins) without crashing start-up', async () => {
    const core = await createEndpoint({ role: 'coreapp', secret: SECRET });
    const web = await createEndpoint({ role: 'webapp', secret: SECRET });
    const app = Fastify();
    acceptSealedBodies(app);
    acceptSealedBodies(app);
    app.post(
      '/v1/echo',
      sealedFastify({ endpoint: core }, (req) => ({ echo: req.payload })),
    );
    await app.listen({ port: 0, host: '127.0.0.1' });
    const { port } = app.server.address() as AddressInfo;
    const client = new HttpClient({ endpoint: web, baseUrl: `http://127.0.0.1:${port}` });
    try {
      expect(await client.post('/v1/echo', 'twice')).toMatchObject({ status: 200, payload: { echo: 'twice' } });
    } finally {
      await client.close();
      await app.close();
    }
  });
});

describe('behind a proxy that strips a path prefix', () => {
  /** A reverse proxy on 127.0.0.1 that forwards /core/* to `upstream` as /*, as nginx's `proxy_pass http://core/;` does. */
  async function strippingProxy(upstream: string): Promise<Running> {
    const target = new URL(upstream);
    const proxy = createServer((req, res) => {
      const path = (req.url ?? '/').replace(/^\/core(?=\/|$)/, '') || '/';
      const forwarded = httpRequest(
        { host: target.hostname, port: target.port, method: req.method, path, headers: req.headers },
        (answer) => {
          res.writeHead(answer.statusCode ?? 502, answer.headers);
          answer.pipe(res);
        },
      );
      req.pipe(forwarded);
    });
    return startServer(proxy);
  }

  it('without pathPrefix: ERR_WA_FORGED claimed, with a hint on both sides naming the path the CoreApp bound', async () => {
    const core = await createEndpoint({ role: 'coreapp', secret: SECRET });
    const web = await createEndpoint({ role: 'webapp', secret: SECRET });
    const records: Array<Record<string, unknown>> = [];
    const logger = { warn: (record: object) => records.push(record as Record<string, unknown>), info: () => {} };
    const seen: SealedRequest[] = [];
    const server = await listen('node', { endpoint: core, logger }, routes(seen));
    const proxy = await strippingProxy(server.url);
    const client = new HttpClient({ endpoint: web, baseUrl: `${proxy.url}/core`, retry: false });
    try {
      const error = await client.post('/v1/echo', 1).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(HttpStatusError);
      expect(error).toMatchObject({ code: ErrorCode.UNSEALED_RESPONSE, claimedCode: ErrorCode.FORGED, status: 401 });
      expect((error as Error).message).toContain('pathPrefix');
      expect(records).toContainEqual(
        expect.objectContaining({ event: 'wa_transport.http.forged', method: 'POST', target: '/v1/echo' }),
      );
      expect(seen).toEqual([]);
    } finally {
      await client.close();
      await proxy.close();
      await server.close();
    }
  });

  it('with pathPrefix: authenticated as the path the WebApp sealed for; the handler sees the path it received', async () => {
    const core = await createEndpoint({ role: 'coreapp', secret: SECRET });
    const web = await createEndpoint({ role: 'webapp', secret: SECRET });
    const seen: SealedRequest[] = [];
    const server = await listen('node', { endpoint: core, pathPrefix: '/core' }, routes(seen));
    const proxy = await strippingProxy(server.url);
    const client = new HttpClient({ endpoint: web, baseUrl: `${proxy.url}/core` });
    try {
      const response = await client.post('/v1/echo', { n: 1 }, { query: { a: 'b' } });
      expect(response).toMatchObject({ status: 200, payload: { path: '/v1/echo', query: { a: 'b' }, echo: { n: 1 } } });
      // Without the proxy the same CoreApp refuses: its prefix is part of what it authenticates.
      const direct = new HttpClient({ endpoint: web, baseUrl: server.url, retry: false });
      await expect(direct.post('/v1/echo', 1)).rejects.toMatchObject({ claimedCode: ErrorCode.FORGED });
      await direct.close();
    } finally {
      await client.close();
      await proxy.close();
      await server.close();
    }
  });

  it('refuses a malformed pathPrefix with ERR_WA_CONFIG', async () => {
    const core = await createEndpoint({ role: 'coreapp', secret: SECRET });
    for (const pathPrefix of ['core', '/core/', '/core?x']) {
      expect(() => sealedHandler({ endpoint: core, pathPrefix }, () => null)).toThrow(
        expect.objectContaining({ code: ErrorCode.CONFIG, message: expect.stringContaining('pathPrefix') }),
      );
    }
  });
});
