/**
 * Retries never execute a request twice. Each logical request carries a request id that
 * stays the same across its retries (PROTOCOL §4.4); the CoreApp acts on at most one envelope
 * per id. The cases: a request withheld on the path and answered with a forged 503, a
 * genuine 503 while the replay store's Redis is partitioned away, and the WebSocket hello.
 */
import { once } from 'node:events';
import { type IncomingHttpHeaders, type Server, createServer } from 'node:http';
import { setTimeout as sleep } from 'node:timers/promises';
import WebSocket from 'ws';
import { afterAll, describe, expect, it } from 'vitest';
import { type Endpoint, ErrorCode, createEndpoint, generateSecret } from '../../src/index.js';
import { createRedisReplayStore } from '../../src/replay/redis.js';
import { HttpStatusError, HttpClient, sealedHandler } from '../../src/transport/http.js';
import { WsClient, WsServer } from '../../src/transport/ws.js';
import { flakyStore } from '../helpers.js';
import { startRedis } from '../redis/servers.js';
import { deliver, listen as listenOn, onPath } from './on-path.js';

const toStop: Array<() => unknown> = [];
afterAll(async () => {
  for (const stop of toStop.reverse()) await stop();
});

async function listen(server: Server): Promise<string> {
  const running = await listenOn(server);
  toStop.push(running.stop);
  return running.url;
}

/** A CoreApp that counts how often its handler ran, per payload. */
async function coreApp(core: Endpoint): Promise<{ url: string; executions: Map<string, number> }> {
  const executions = new Map<string, number>();
  const url = await listen(
    createServer(
      sealedHandler({ endpoint: core }, (req) => {
        const key = JSON.stringify(req.payload);
        executions.set(key, (executions.get(key) ?? 0) + 1);
        return { done: req.payload };
      }),
    ),
  );
  return { url, executions };
}

describe('HTTP retries execute a request at most once', () => {
  it('a request withheld on the path and answered with a forged 503: the retry runs, the withheld original does not', async () => {
    const secret = generateSecret();
    const core = await createEndpoint({ role: 'coreapp', secret });
    const web = await createEndpoint({ role: 'webapp', secret });
    const server = await coreApp(core);
    const path = await onPath(server.url, (_entry, i) => i === 0);
    toStop.push(path.stop);
    const client = new HttpClient({ endpoint: web, baseUrl: path.url });
    toStop.push(() => client.close());

    const requestId = web.newRequestId();
    const first = await client.post('/v1/pay', { pay: 100 }, { requestId }).catch((e: unknown) => e);
    // Unsealed: not the CoreApp's word, so not retried by the client.
    expect(first).toBeInstanceOf(HttpStatusError);
    expect(first).toMatchObject({ code: ErrorCode.UNSEALED_RESPONSE, claimedCode: ErrorCode.REPLAY_STORE_UNAVAILABLE });
    expect(path.captured).toHaveLength(1);

    // The caller retries the same logical request, with its id: it runs.
    expect((await client.post('/v1/pay', { pay: 100 }, { requestId })).payload).toEqual({ done: { pay: 100 } });
    // The withheld original arrives later, inside its window: refused, sealed, not run.
    const late = await deliver(server.url, path.captured[0]!);
    expect(late.status).toBe(409);
    expect(late.headers['wa-rejection']).toBe('1');
    expect(server.executions.get(JSON.stringify({ pay: 100 }))).toBe(1);
  });

  it('a genuine 503 while Redis is partitioned away: the client retries by itself, and the request runs once', async () => {
    const redis = await startRedis();
    toStop.push(() => redis.stop());
    const secret = generateSecret();
    const store = await createRedisReplayStore({
      url: redis.url,
      keyPrefix: 'wa:retry:',
      commandTimeoutMs: 150,
      restartHoldMs: 0,
    });
    toStop.push(() => store.close());
    const core = await createEndpoint({ role: 'coreapp', secret, replayStore: store });
    const web = await createEndpoint({ role: 'webapp', secret });
    const server = await coreApp(core);
    const path = await onPath(server.url, () => false);
    toStop.push(path.stop);
    const client = new HttpClient({
      endpoint: web,
      baseUrl: path.url,
      retry: { attempts: 10, baseDelayMs: 100, maxDelayMs: 300, withinMs: 8000 },
    });
    toStop.push(() => client.close());

    redis.freeze(); // the commands reach Redis's socket but run only after the partition heals
    const thaw = sleep(400).then(() => redis.thaw());
    const answer = await client.post('/v1/pay', { pay: 7 });
    await thaw;
    expect(answer.payload).toEqual({ done: { pay: 7 } });
    expect(path.captured.length).toBeGreaterThan(1); // it was refused (sealed 503) and retried

    // Every earlier attempt, delivered again later: none runs.
    for (const attempt of path.captured) {
      expect((await deliver(server.url, attempt)).status).toBe(409);
    }
    expect(server.executions.get(JSON.stringify({ pay: 7 }))).toBe(1);
  });

  it('a refused request is sealed: ERR_WA_REPLAYED after a lost answer says an earlier attempt ran', async () => {
    const secret = generateSecret();
    const core = await createEndpoint({ role: 'coreapp', secret });
    const web = await createEndpoint({ role: 'webapp', secret });
    const server = await coreApp(core);
    const client = new HttpClient({ endpoint: web, baseUrl: server.url, retry: false });
    toStop.push(() => client.close());
    const requestId = web.newRequestId();
    await client.post('/v1/pay', { pay: 1 }, { requestId });
    const again = await client.post('/v1/pay', { pay: 1 }, { requestId }).catch((e: unknown) => e);
    expect(again).toMatchObject({ code: ErrorCode.REPLAYED, status: 409, sealed: true, mayHaveRun: true });
    expect(server.executions.get(JSON.stringify({ pay: 1 }))).toBe(1);
  });

  it('a request id older than the window is refused, so its record never has to outlive the store', async () => {
    let offset = -10_500;
    const secret = generateSecret();
    const core = await createEndpoint({ role: 'coreapp', secret });
    const web = await createEndpoint({ role: 'webapp', secret, clock: () => Date.now() + offset });
    const server = await coreApp(core);
    const client = new HttpClient({ endpoint: web, baseUrl: server.url, retry: false });
    toStop.push(() => client.close());
    const requestId = web.newRequestId(); // issued 10.5 s ago; the attempt itself is fresh
    offset = 0;
    const late = await client.post('/v1/pay', { pay: 2 }, { requestId }).catch((e: unknown) => e);
    expect(late).toMatchObject({ code: ErrorCode.EXPIRED, sealed: true, mayHaveRun: false });
    expect(server.executions.size).toBe(0);
  });

  it('mayHaveRun: false only when every attempt was refused in a sealed answer', async () => {
    const secret = generateSecret();
    const store = flakyStore(true); // every attempt refused, sealed 503
    const core = await createEndpoint({ role: 'coreapp', secret, replayStore: store });
    const web = await createEndpoint({ role: 'webapp', secret });
    const server = await coreApp(core);
    const retry = { attempts: 3, baseDelayMs: 1, maxDelayMs: 5 };

    const direct = new HttpClient({ endpoint: web, baseUrl: server.url, retry });
    toStop.push(() => direct.close());
    const refused = await direct.post('/v1/pay', { pay: 3 }).catch((e: unknown) => e);
    expect(refused).toMatchObject({ code: ErrorCode.REPLAY_STORE_UNAVAILABLE, sealed: true, mayHaveRun: false });

    // The first attempt is cut on the path after it was sent: it may have run, whatever the
    // sealed refusals of the retries say.
    const path = await onPath(server.url, () => false, { cut: (_entry, i) => i === 0 });
    toStop.push(path.stop);
    const cut = new HttpClient({ endpoint: web, baseUrl: path.url, retry });
    toStop.push(() => cut.close());
    const unsure = await cut.post('/v1/pay', { pay: 4 }).catch((e: unknown) => e);
    expect(path.captured.length).toBe(3);
    expect(unsure).toMatchObject({ code: ErrorCode.REPLAY_STORE_UNAVAILABLE, sealed: true, mayHaveRun: true });

    // A refused connection sent nothing: the first attempt finds no server, the CoreApp starts
    // listening before the retry (logged just before its backoff), and refuses the rest.
    const spare = createServer();
    const port = Number(new URL(await listen(spare)).port);
    await new Promise((resolve) => spare.close(resolve));
    const late = createServer(sealedHandler({ endpoint: core }, () => ({})));
    toStop.push(() => new Promise((resolve) => late.close(resolve)));
    const refusedFirst = new HttpClient({
      endpoint: web,
      baseUrl: `http://127.0.0.1:${port}`,
      retry,
      logger: { warn: () => {}, info: () => void (late.listening || late.listen(port, '127.0.0.1')) },
    });
    toStop.push(() => refusedFirst.close());
    const notRun = await refusedFirst.post('/v1/pay', { pay: 5 }).catch((e: unknown) => e);
    expect(notRun).toMatchObject({ code: ErrorCode.REPLAY_STORE_UNAVAILABLE, sealed: true, mayHaveRun: false });
    expect(server.executions.size).toBe(0);
  });
});

describe('WebSocket hellos', () => {
  it('a hello refused with 503 (store unavailable) and presented later by someone else opens no channel', async () => {
    const secret = generateSecret();
    const flaky = flakyStore(true);
    const core = await createEndpoint({ role: 'coreapp', secret, replayStore: flaky });
    const web = await createEndpoint({ role: 'webapp', secret });
    const hellos: IncomingHttpHeaders[] = [];
    let connections = 0;
    const wss = new WsServer({ endpoint: core, heartbeatMs: 0, onConnection: () => void connections++ });
    const server = createServer();
    server.on('upgrade', (req, socket, head) => {
      hellos.push(req.headers);
      wss.handleUpgrade(req, socket, head);
    });
    const url = (await listen(server)).replace('http:', 'ws:');
    toStop.push(() => wss.close());

    const reasons: string[] = [];
    const client = new WsClient({
      endpoint: web,
      url,
      heartbeatMs: 0,
      reconnect: { initialDelayMs: 20, maxDelayMs: 50 },
      onClose: (event) => {
        reasons.push(event.reason);
        flaky.down = false; // the store is back for the next attempt
      },
    });
    toStop.push(() => client.close());
    await client.ready();
    expect(reasons[0]).toBe(`upgrade refused: 503 ${ErrorCode.REPLAY_STORE_UNAVAILABLE}`); // sealed: the server's own word
    expect(hellos.length).toBe(2);
    expect(hellos[1]!['wa-request-id']).toBe(hellos[0]!['wa-request-id']); // one connection, one id

    // Someone who captured the refused hello presents it, inside its window.
    const { 'wa-hello': hello, 'wa-request-id': requestId } = hellos[0]!;
    const intruder = new WebSocket(url, { headers: { 'wa-hello': String(hello), 'wa-request-id': String(requestId) } });
    intruder.on('error', () => {}); // terminate() while connecting reports one
    const [, response] = (await once(intruder, 'unexpected-response')) as [unknown, { statusCode: number }];
    intruder.terminate();
    expect(response.statusCode).toBe(401);
    expect(connections).toBe(1);
  });
});
