/**
 * The web-standard handler (src/transport/fetch.ts) against the node:http one, over real sockets
 * on 127.0.0.1: every refusal and every sealed answer must be the same on the wire, status,
 * headers and body, whichever binding hosts the CoreApp. The shared scenarios with the client
 * run in test/transport/http.test.ts, the body limits in test/adversarial/stalled-clients.test.ts.
 */
import { type IncomingMessage, type Server, request as httpRequest } from 'node:http';
import { createAdaptorServer } from '@hono/node-server';
import { Hono } from 'hono';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import * as packaged from 'wa-transport';
import { HttpClient } from 'wa-transport/http';
import { createHonoApp } from '../../examples/hono-server.js';
import { createEndpoint, ErrorCode, type Endpoint } from '../../src/index.js';
import { readNonce } from '../../src/envelope/format.js';
import { toText } from '../../src/envelope/text.js';
import { sealedFetchHandler } from '../../src/transport/fetch.js';
import {
  ENVELOPE_CONTENT_TYPE,
  ENVELOPE_HEADER,
  REJECTION_HEADER,
  REQUEST_ID_HEADER,
  rejectionContext,
  requestContext,
  responseContext,
} from '../../src/transport/http-binding.js';
import { type SealedHandler, sealedReply } from '../../src/transport/http.js';
import { OTHER_SECRET, SECRET, flakyStore } from '../helpers.js';
import { type Binding, type Running, sealedServer, startServer } from './http-fixture.js';

/** What a client can see of an answer: the headers the binding sets, and the body, opened when sealed. */
interface Seen {
  status: number;
  headers: Record<string, unknown>;
  body: unknown;
}

const COMPARED_HEADERS = [
  'content-type',
  'cache-control',
  'content-length',
  REJECTION_HEADER,
  'connection',
  'retry-after',
];

describe('the fetch binding answers exactly as the node:http one', () => {
  const store = flakyStore(false);
  const servers = new Map<Binding, Running>();
  let core: Endpoint;
  let web: Endpoint;
  let intruder: Endpoint;
  /** A WebApp whose clock is behind the CoreApp's by more than the window. */
  let late: Endpoint;

  beforeAll(async () => {
    core = await createEndpoint({ role: 'coreapp', secret: SECRET, replayStore: store });
    web = await createEndpoint({ role: 'webapp', secret: SECRET });
    intruder = await createEndpoint({ role: 'webapp', secret: OTHER_SECRET });
    late = await createEndpoint({ role: 'webapp', secret: SECRET, clock: () => Date.now() - 11_000 });
    const routes: SealedHandler = (req) => {
      if (req.path === '/v1/created')
        return sealedReply({ id: 7, withRequestId: req.requestId !== undefined }, { status: 201 });
      if (req.path === '/v1/fail') throw new Error('handler bug');
      return { method: req.method, target: req.target, echo: req.payload };
    };
    for (const binding of ['node:http', 'fetch'] as const) {
      servers.set(binding, await startServer(sealedServer(binding, { endpoint: core, maxBodyBytes: 4096 }, routes)));
    }
  });
  afterAll(async () => {
    for (const server of servers.values()) await server.close();
  });

  /**
   * Sends as an attacker would (no client checks), the target exactly as given (node:http does not
   * re-encode it, undici does); opens a sealed answer with the request's nonce.
   */
  async function send(
    url: string,
    target: string,
    options: {
      method?: string;
      body?: Uint8Array | string;
      envelope?: Uint8Array;
      headers?: Record<string, string | string[]>;
    },
  ): Promise<Seen> {
    const method = options.method ?? 'POST';
    const body = method === 'GET' ? undefined : (options.body ?? options.envelope ?? '');
    const res = await new Promise<IncomingMessage>((resolve, reject) => {
      const { hostname, port } = new URL(url);
      const headers = { 'content-type': ENVELOPE_CONTENT_TYPE, ...options.headers };
      httpRequest({ hostname, port, path: target, method, headers }, resolve).on('error', reject).end(body);
    });
    const chunks: Buffer[] = [];
    for await (const chunk of res) chunks.push(chunk as Buffer);
    const bytes = new Uint8Array(Buffer.concat(chunks));
    const headers = Object.fromEntries(COMPARED_HEADERS.map((name) => [name, res.headers[name]]));
    const status = res.statusCode!;
    if (res.headers['content-type'] !== ENVELOPE_CONTENT_TYPE) {
      return { status, headers, body: JSON.parse(Buffer.from(bytes).toString('utf8')) };
    }
    const nonce = readNonce(options.envelope!);
    const context = res.headers[REJECTION_HEADER] === '1' ? rejectionContext : responseContext;
    return { status, headers, body: { sealed: web.openReply(bytes, { context: context(status, nonce) }).payload } };
  }

  const seal = (sender: Endpoint, target: string, method = 'POST', requestId?: string) =>
    sender.seal(
      { amount: 42 },
      { context: requestContext(method, target), ...(requestId === undefined ? {} : { requestId }) },
    );

  /** Each case, and what the node:http binding is documented to answer (PROTOCOL §6, §8.1). */
  const cases: Array<{ name: string; expected: number; run: (url: string) => Promise<Seen> }> = [
    {
      name: 'an accepted POST with a query and a request id',
      expected: 201,
      run: (url) => {
        const id = web.newRequestId();
        return send(url, '/v1/created?a=b', {
          envelope: seal(web, '/v1/created?a=b', 'POST', id),
          headers: { [REQUEST_ID_HEADER]: id },
        });
      },
    },
    {
      name: "a query the URL parser would re-encode (')",
      expected: 200,
      run: (url) => send(url, "/v1/echo?q='x'", { envelope: seal(web, "/v1/echo?q='x'") }),
    },
    {
      name: 'a GET carrying its envelope in the header',
      expected: 200,
      run: (url) => {
        const envelope = seal(web, '/v1/echo', 'GET');
        return send(url, '/v1/echo', { method: 'GET', envelope, headers: { [ENVELOPE_HEADER]: toText(envelope) } });
      },
    },
    {
      name: 'a handler that throws',
      expected: 500,
      run: (url) => send(url, '/v1/fail', { envelope: seal(web, '/v1/fail') }),
    },
    { name: 'garbage', expected: 400, run: (url) => send(url, '/v1/echo', { body: 'not an envelope' }) },
    { name: 'an empty body', expected: 400, run: (url) => send(url, '/v1/echo', {}) },
    { name: 'a GET without an envelope', expected: 400, run: (url) => send(url, '/v1/echo', { method: 'GET' }) },
    {
      name: 'a GET with its envelope header repeated',
      expected: 400,
      run: (url) => {
        const text = toText(seal(web, '/v1/echo', 'GET'));
        return send(url, '/v1/echo', { method: 'GET', headers: { [ENVELOPE_HEADER]: [text, text] } });
      },
    },
    {
      name: 'a repeated request id',
      expected: 400,
      run: (url) => {
        const id = web.newRequestId();
        return send(url, '/v1/echo', {
          envelope: seal(web, '/v1/echo', 'POST', id),
          headers: { [REQUEST_ID_HEADER]: [id, id] },
        });
      },
    },
    {
      name: 'a tampered envelope',
      expected: 401,
      run: (url) => {
        const envelope = seal(web, '/v1/echo');
        envelope[envelope.length - 20]! ^= 1;
        return send(url, '/v1/echo', { body: envelope });
      },
    },
    {
      name: 'an envelope moved to another route',
      expected: 401,
      run: (url) => send(url, '/v1/other', { body: seal(web, '/v1/echo') }),
    },
    {
      name: 'an envelope moved to another method',
      expected: 401,
      run: (url) => send(url, '/v1/echo', { method: 'PUT', body: seal(web, '/v1/echo') }),
    },
    {
      name: 'another secret',
      expected: 401,
      run: (url) => send(url, '/v1/echo', { body: seal(intruder, '/v1/echo') }),
    },
    {
      name: 'a reflected envelope',
      expected: 401,
      run: (url) => send(url, '/v1/echo', { body: seal(core, '/v1/echo') }),
    },
    {
      name: 'a declared body over the limit',
      expected: 413,
      run: (url) => send(url, '/v1/echo', { body: new Uint8Array(5000) }),
    },
    {
      name: 'a replayed envelope',
      expected: 409,
      run: async (url) => {
        const envelope = seal(web, '/v1/echo');
        expect((await send(url, '/v1/echo', { envelope })).status).toBe(200);
        return send(url, '/v1/echo', { envelope });
      },
    },
    {
      name: 'an expired envelope',
      expected: 401,
      run: (url) => send(url, '/v1/echo', { envelope: seal(late, '/v1/echo') }),
    },
    {
      name: 'a replay store that cannot be asked',
      expected: 503,
      run: async (url) => {
        store.down = true;
        try {
          return await send(url, '/v1/echo', { envelope: seal(web, '/v1/echo') });
        } finally {
          store.down = false;
        }
      },
    },
  ];

  it.each(cases)('$name: $expected', async ({ expected, run }) => {
    const node = await run(servers.get('node:http')!.url);
    const fetch = await run(servers.get('fetch')!.url);
    expect(node.status).toBe(expected);
    expect(fetch).toEqual(node);
  });

  it('the sealed refusals and answers above are what PROTOCOL §8.1 says they are', async () => {
    const url = servers.get('fetch')!.url;
    const replayed = seal(web, '/v1/echo');
    await send(url, '/v1/echo', { envelope: replayed });
    expect(await send(url, '/v1/echo', { envelope: replayed })).toMatchObject({
      status: 409,
      headers: { [REJECTION_HEADER]: '1', 'cache-control': 'no-store' },
      body: { sealed: { error: ErrorCode.REPLAYED } },
    });
    expect(await send(url, '/v1/echo', { body: seal(intruder, '/v1/echo') })).toMatchObject({
      status: 401,
      body: { error: ErrorCode.UNKNOWN_KEY },
    });
    expect(await send(url, '/v1/fail', { envelope: seal(web, '/v1/fail') })).toMatchObject({
      status: 500,
      body: { sealed: { error: 'internal' } },
    });
  });
});

describe('sealedFetchHandler', () => {
  it('runs with no server at all: a Request in, a Response out', async () => {
    const core = await createEndpoint({ role: 'coreapp', secret: SECRET });
    const web = await createEndpoint({ role: 'webapp', secret: SECRET });
    const handle = sealedFetchHandler({ endpoint: core }, (req) => ({
      path: req.path,
      echo: req.payload,
      peer: req.peer,
    }));
    const envelope = web.seal('hi', { context: requestContext('POST', '/v1/echo') });
    const response = await handle(new Request('https://coreapp.internal/v1/echo', { method: 'POST', body: envelope }));
    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toBe(ENVELOPE_CONTENT_TYPE);
    const opened = web.openReply(new Uint8Array(await response.arrayBuffer()), {
      context: responseContext(200, readNonce(envelope)),
    });
    expect(opened.payload).toEqual({ path: '/v1/echo', echo: 'hi', peer: undefined });
  });

  it("behind Hono's app.mount, which strips its prefix from the URL, needs pathPrefix", async () => {
    const core = await createEndpoint({ role: 'coreapp', secret: SECRET });
    const web = await createEndpoint({ role: 'webapp', secret: SECRET });
    const app = new Hono();
    app.mount(
      '/api',
      sealedFetchHandler({ endpoint: core }, () => 'ok'),
    );
    app.mount(
      '/core',
      sealedFetchHandler({ endpoint: core, pathPrefix: '/core' }, (req) => req.path),
    );
    const post = (target: string) =>
      app.request(target, { method: 'POST', body: web.seal(1, { context: requestContext('POST', target) }) });
    const mounted = await post('/api/x');
    expect(mounted.status).toBe(401);
    expect(await mounted.json()).toEqual({ error: ErrorCode.FORGED });
    const prefixed = await post('/core/x');
    expect(prefixed.status).toBe(200);
  });

  it('refuses a body a middleware already read 400 ERR_WA_MALFORMED, as node:http does', async () => {
    const core = await createEndpoint({ role: 'coreapp', secret: SECRET });
    const web = await createEndpoint({ role: 'webapp', secret: SECRET });
    const seen: unknown[] = [];
    const handle = sealedFetchHandler({ endpoint: core }, (req) => seen.push(req.payload));
    const app = new Hono();
    app.use(async (c, next) => {
      await c.req.raw.arrayBuffer();
      await next();
    });
    app.all('/*', (c) => handle(c.req.raw));
    const response = await app.request('/x', {
      method: 'POST',
      body: web.seal(1, { context: requestContext('POST', '/x') }),
    });
    expect(response.status).toBe(400);
    expect(await response.json()).toEqual({ error: ErrorCode.MALFORMED });
    expect(seen).toEqual([]);
  });

  it('needs a CoreApp endpoint', async () => {
    const web = await createEndpoint({ role: 'webapp', secret: SECRET });
    expect(() => sealedFetchHandler({ endpoint: web }, () => 1)).toThrow(
      expect.objectContaining({ code: ErrorCode.CONFIG }),
    );
  });
});

describe('examples/hono-server.ts', () => {
  it('serves the WebApp client over a real socket, and refuses a replay', async () => {
    // Endpoints by the package's name, as the example imports its adapter: src/ and dist/ copies
    // of the library would not know each other's errors.
    const core = await packaged.createEndpoint({ role: 'coreapp', secret: SECRET });
    const web = await packaged.createEndpoint({ role: 'webapp', secret: SECRET });
    const server = await startServer(createAdaptorServer({ fetch: createHonoApp(core).fetch }) as Server);
    const client = new HttpClient({ endpoint: web, baseUrl: server.url });
    try {
      await expect(client.post('/v1/transfers', { to: 'alice', amount: 42 })).resolves.toMatchObject({
        status: 201,
        payload: { to: 'alice', amount: 42, accepted: true },
      });
      await expect(client.get('/v1/balance')).resolves.toMatchObject({ status: 200, payload: { balance: 958 } });
      const envelope = web.seal({ to: 'mallory', amount: 1 }, { context: requestContext('POST', '/v1/transfers') });
      const post = () => fetch(`${server.url}/v1/transfers`, { method: 'POST', body: envelope });
      expect((await post()).status).toBe(201);
      expect((await post()).status).toBe(409);
    } finally {
      await client.close();
      await server.close();
    }
  });
});
