/**
 * HTTP transport faults on real sockets (127.0.0.1, port 0): bodies cut off mid-way, clients
 * that vanish before the answer, and a CoreApp restarted while WebApps keep sending. The
 * handler must never see a partial or repeated envelope, the server must never crash or leak
 * a nonce it did not accept, and messages sent with retries must all arrive.
 */
import { createServer, type Server } from 'node:http';
import { type AddressInfo, connect } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { request } from 'undici';
import { afterAll, describe, expect, it } from 'vitest';
import { HEADER_BYTES, NONCE_OFFSET } from '../../src/envelope/format.js';
import {
  type Endpoint,
  ErrorCode,
  MemoryReplayStore,
  type ReplayStore,
  createEndpoint,
  generateSecret,
} from '../../src/index.js';
import { HttpClient } from '../../src/transport/http-client.js';
import { ENVELOPE_CONTENT_TYPE, requestContext, responseContext } from '../../src/protocol.js';
import { type SealedHandler, sealedHandler } from '../../src/transport/http.js';
import { TEST_TIMEOUT_MS, recordFigures, scale } from '../soak/figures.js';

const open: Array<{ close(): unknown }> = [];
afterAll(async () => {
  for (const item of open.splice(0).reverse()) await item.close();
});

interface Running {
  server: Server;
  port: number;
  close(): Promise<void>;
}

async function serve(core: Endpoint, handler: SealedHandler, port = 0): Promise<Running> {
  const server = createServer(sealedHandler({ endpoint: core }, handler));
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, '127.0.0.1', resolve);
  });
  const running: Running = {
    server,
    port: (server.address() as AddressInfo).port,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeIdleConnections();
      }),
  };
  open.push(running);
  return running;
}

async function endpoints(store?: ReplayStore): Promise<{ web: Endpoint; core: Endpoint; secret: string }> {
  const secret = generateSecret();
  return {
    secret,
    web: await createEndpoint({ role: 'webapp', secret }),
    core: await createEndpoint({ role: 'coreapp', secret, ...(store === undefined ? {} : { replayStore: store }) }),
  };
}

/** Writes raw bytes on a fresh TCP connection, then cuts it; resolves with whatever came back. */
async function rawThenCut(port: number, bytes: Uint8Array | string, cut: 'destroy' | 'end'): Promise<string> {
  const socket = connect(port, '127.0.0.1');
  const chunks: Buffer[] = [];
  socket.on('data', (c: Buffer) => chunks.push(c));
  socket.on('error', () => {});
  await new Promise<void>((resolve) => socket.once('connect', resolve));
  await new Promise<void>((resolve) => socket.write(bytes, () => resolve()));
  await sleep(20);
  if (cut === 'destroy') socket.destroy();
  else socket.end();
  await new Promise<void>((resolve) => (socket.closed ? resolve() : socket.once('close', () => resolve())));
  return Buffer.concat(chunks).toString('latin1');
}

function postHead(target: string, length: number | 'chunked'): string {
  const framing = length === 'chunked' ? 'Transfer-Encoding: chunked' : `Content-Length: ${length}`;
  return `POST ${target} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: ${ENVELOPE_CONTENT_TYPE}\r\n${framing}\r\n\r\n`;
}

async function postEnvelope(port: number, target: string, envelope: Uint8Array): Promise<number> {
  const response = await request(`http://127.0.0.1:${port}${target}`, {
    method: 'POST',
    headers: { 'content-type': ENVELOPE_CONTENT_TYPE },
    body: envelope,
  });
  await response.body.arrayBuffer();
  return response.statusCode;
}

describe('half-written request bodies', () => {
  it('never reach the handler, are not recorded, and the same envelope sent whole is accepted exactly once', async () => {
    const store = new MemoryReplayStore();
    const { web, core } = await endpoints(store);
    let handled = 0;
    const running = await serve(core, () => {
      handled++;
      return { ok: true };
    });
    const target = '/v1/transfer';
    const envelope = web.seal({ amount: 100 }, { context: requestContext('POST', target) });
    const head = postHead(target, envelope.length);

    // Cut at every interesting point: in the headers, right after them, inside the header of
    // the envelope, inside its body, one byte short of the end. Both abrupt and half-closed.
    const cuts = [
      5,
      head.length - 3,
      head.length,
      head.length + 10,
      head.length + HEADER_BYTES + 3,
      head.length + envelope.length - 1,
    ];
    const wire = Buffer.concat([Buffer.from(head, 'latin1'), envelope]);
    for (const at of cuts) {
      for (const how of ['destroy', 'end'] as const) {
        const answer = await rawThenCut(running.port, wire.subarray(0, at), how);
        expect(answer).not.toMatch(/^HTTP\/1\.1 2/);
      }
    }
    // A chunked body whose last chunk never comes.
    const half = envelope.subarray(0, 40);
    await rawThenCut(
      running.port,
      `${postHead(target, 'chunked')}${half.length.toString(16)}\r\n${Buffer.from(half).toString('latin1')}\r\n`,
      'destroy',
    );

    expect(handled).toBe(0);
    expect(store.stats().entries).toBe(0);
    expect(await postEnvelope(running.port, target, envelope)).toBe(200);
    expect(await postEnvelope(running.port, target, envelope)).toBe(409);
    expect(handled).toBe(1);
  });

  it('a body longer than Content-Length says does not smuggle a second request past the seal', async () => {
    const { web, core } = await endpoints();
    let handled = 0;
    const running = await serve(core, () => {
      handled++;
      return 'ok';
    });
    const envelope = web.seal('x', { context: requestContext('POST', '/a') });
    // Declares 10 bytes, sends the whole envelope: the server reads 10 (not an envelope) and
    // parses the rest as a second request, which is not HTTP.
    const answer = await rawThenCut(
      running.port,
      Buffer.concat([Buffer.from(postHead('/a', 10), 'latin1'), envelope]),
      'end',
    );
    expect(answer).toMatch(/^HTTP\/1\.1 400/);
    expect(answer).not.toMatch(/HTTP\/1\.1 200/);
    expect(handled).toBe(0);
  });
});

describe('dropped connections', () => {
  it('a client that disconnects while its request is handled: delivered once, and a resend of the same bytes is a replay', async () => {
    const { web, core } = await endpoints();
    let release!: () => void;
    const gate = new Promise<void>((resolve) => (release = resolve));
    let handled = 0;
    const running = await serve(core, async () => {
      handled++;
      await gate;
      return 'done';
    });
    const target = '/v1/slow';
    const envelope = web.seal('once', { context: requestContext('POST', target) });
    const controller = new AbortController();
    const pending = request(`http://127.0.0.1:${running.port}${target}`, {
      method: 'POST',
      headers: { 'content-type': ENVELOPE_CONTENT_TYPE },
      body: envelope,
      signal: controller.signal,
    }).catch((error: unknown) => error);
    while (handled === 0) await sleep(5);
    controller.abort();
    expect(await pending).toBeInstanceOf(Error);
    release(); // the handler finishes and writes to a closed socket: no crash
    await sleep(20);
    expect(handled).toBe(1);
    expect(await postEnvelope(running.port, target, envelope)).toBe(409);
    expect(handled).toBe(1);
    // The server is healthy afterwards.
    const client = new HttpClient({ endpoint: web, baseUrl: `http://127.0.0.1:${running.port}` });
    open.push(client);
    const fresh = await client.post('/v1/fresh', 'again');
    expect(fresh.status).toBe(200);
  });

  it(
    'connections cut at random points of many requests never crash the server or reach the handler',
    async () => {
      const { web, core } = await endpoints();
      let handled = 0;
      const running = await serve(core, () => {
        handled++;
        return 'ok';
      });
      const rounds = scale(50, 2000);
      for (let i = 0; i < rounds; i++) {
        const envelope = web.seal(i, { context: requestContext('POST', '/r') });
        const wire = Buffer.concat([Buffer.from(postHead('/r', envelope.length), 'latin1'), envelope]);
        await rawThenCut(
          running.port,
          wire.subarray(0, Math.floor(Math.random() * (wire.length - 1))),
          i % 2 === 0 ? 'destroy' : 'end',
        );
      }
      expect(handled).toBe(0);
      const client = new HttpClient({ endpoint: web, baseUrl: `http://127.0.0.1:${running.port}` });
      open.push(client);
      expect((await client.post('/r', 'whole')).status).toBe(200);
      expect(handled).toBe(1);
    },
    TEST_TIMEOUT_MS,
  );
});

describe('a CoreApp restarted while WebApps keep sending', () => {
  it(
    'with a store that outlives the process (shared): every message arrives once, no envelope is accepted twice',
    async () => {
      const shared = new MemoryReplayStore(); // stands in for Redis: it survives the restart
      const secret = generateSecret();
      const web = await createEndpoint({ role: 'webapp', secret });
      const delivered = new Map<string, number>();
      const handler: SealedHandler<{ id: string; attempt: number }> = (req) => {
        const key = `${req.payload.id}#${req.payload.attempt}`;
        delivered.set(key, (delivered.get(key) ?? 0) + 1);
        return 'ok';
      };
      const newCore = (): Promise<Endpoint> => createEndpoint({ role: 'coreapp', secret, replayStore: shared });
      let running = await serve(await newCore(), handler as SealedHandler);
      const port = running.port;
      const client = new HttpClient({ endpoint: web, baseUrl: `http://127.0.0.1:${port}`, timeoutMs: 2000 });
      open.push(client);

      const perWorker = scale(40, 1000);
      const workers = 4;
      const retries = { network: 0, unavailable: 0 };
      let restarts = 0;
      let sending = true;
      const restarter = (async () => {
        while (sending) {
          await sleep(40);
          if (!sending) break;
          await running.close();
          await sleep(30); // down: connections refused
          running = await serve(await newCore(), handler as SealedHandler, port);
          restarts++;
        }
      })();
      const work = Array.from({ length: workers }, async (_, w) => {
        for (let i = 0; i < perWorker; i++) {
          const id = `${w}:${i}`;
          for (let attempt = 0; ; attempt++) {
            try {
              const response = await client.post('/v1/msg', { id, attempt });
              expect(response.status).toBe(200);
              break;
            } catch (error) {
              if ((error as { status?: number }).status === 503) retries.unavailable++;
              else retries.network++;
              if (attempt > 200) throw error;
              await sleep(5);
            }
          }
        }
      });
      await Promise.all(work);
      sending = false;
      await restarter;

      const ids = new Map<string, number>();
      for (const [key, times] of delivered) {
        expect(times).toBe(1); // one envelope, one delivery: never a replay
        const id = key.split('#')[0]!;
        ids.set(id, (ids.get(id) ?? 0) + 1);
      }
      const total = workers * perWorker;
      const lost = total - ids.size;
      const duplicated = [...ids.values()].filter((n) => n > 1).length;
      expect(lost).toBe(0);
      recordFigures('faults/http-restart', {
        messages: total,
        delivered: ids.size,
        lost,
        // A response lost in a restart makes the client retry with a new envelope: the
        // application sees the message twice unless it deduplicates by its own id.
        duplicatedByRetry: duplicated,
        envelopesAcceptedTwice: 0,
        restarts,
        ...retries,
      });
    },
    TEST_TIMEOUT_MS,
  );

  // A restarted process starts with an empty in-memory store; the store's `rememberedSince`
  // makes the verifier refuse envelopes sealed before it existed (ERR_WA_EXPIRED, 401), so an
  // envelope the previous process accepted cannot be accepted again.
  it('with the default in-memory store, a replay captured before the restart is refused after it', async () => {
    const secret = generateSecret();
    const web = await createEndpoint({ role: 'webapp', secret });
    let handled = 0;
    const handler = (): string => {
      handled++;
      return 'ok';
    };
    const first = await serve(await createEndpoint({ role: 'coreapp', secret }), handler);
    const envelope = web.seal({ transfer: 100 }, { context: requestContext('POST', '/v1/transfer') });
    expect(await postEnvelope(first.port, '/v1/transfer', envelope)).toBe(200);
    await first.close();
    // The process restarts: a new endpoint, a new (empty) default store, same port.
    const second = await serve(await createEndpoint({ role: 'coreapp', secret }), handler, first.port);
    const replayed = await postEnvelope(second.port, '/v1/transfer', envelope);
    expect(replayed).not.toBe(200);
    expect(handled).toBe(1);
  });
});

describe('a response taken from another exchange', () => {
  it('opens only for the request it answers and the status it was sent with', async () => {
    const { web, core } = await endpoints();
    const running = await serve(core, () => 'answer');
    const target = '/v1/q';
    const a = web.seal('a', { context: requestContext('POST', target) });
    const b = web.seal('b', { context: requestContext('POST', target) });
    const response = await request(`http://127.0.0.1:${running.port}${target}`, {
      method: 'POST',
      headers: { 'content-type': ENVELOPE_CONTENT_TYPE },
      body: a,
    });
    const sealed = new Uint8Array(await response.body.arrayBuffer());
    // The genuine answer to `a` opens for `a` and for nothing else.
    await expect(
      web.open(sealed, { context: responseContext(200, b.slice(NONCE_OFFSET, HEADER_BYTES)) }),
    ).rejects.toMatchObject({ code: ErrorCode.FORGED });
    await expect(
      web.open(sealed, { context: responseContext(201, a.slice(NONCE_OFFSET, HEADER_BYTES)) }),
    ).rejects.toMatchObject({ code: ErrorCode.FORGED });
    expect(
      (await web.open(sealed, { context: responseContext(200, a.slice(NONCE_OFFSET, HEADER_BYTES)) })).payload,
    ).toBe('answer');
  });
});
