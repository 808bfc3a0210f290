/**
 * WebSocket transport faults on real sockets (127.0.0.1, port 0): a client that stops reading
 * while the server pushes, a frame cut off mid-way, and a server restarted while clients keep
 * sending. Memory stays bounded, nothing partial or repeated reaches a handler, and messages
 * re-sent after a refused `send` all arrive exactly once.
 */
import type { Socket } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import WebSocket from 'ws';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { HEADER_BYTES, NONCE_OFFSET } from '../../src/envelope/format.js';
import { toText } from '../../src/envelope/text.js';
import { type Endpoint, createEndpoint, generateSecret } from '../../src/index.js';
import { frameContext, helloContext } from '../../src/transport/ws-protocol.js';
import { WsChannelError } from '../../src/transport/ws-channel.js';
import { WsCloseCode } from '../../src/protocol.js';
import { type WsServerOptions, WsClient } from '../../src/transport/ws.js';
import { TEST_TIMEOUT_MS, recordFigures, scale } from '../soak/figures.js';
import { type RunningWsServer, startWsServer, stopWsServer } from '../transport/ws-fixture.js';

const cleanups: Array<() => unknown> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

async function start(core: Endpoint, options: Partial<WsServerOptions> = {}, port = 0): Promise<RunningWsServer> {
  const running = await startWsServer({ endpoint: core, ...options }, port);
  cleanups.push(() => stopWsServer(running));
  return running;
}

/** A raw `ws` client that completes the documented handshake by hand (hello header). */
async function rawClient(url: string, web: Endpoint): Promise<{ socket: WebSocket; id: string }> {
  const hello = web.seal(new Uint8Array(0), { context: helloContext('/ws') });
  const socket = new WebSocket(url, { headers: { 'wa-hello': toText(hello) } });
  socket.on('error', () => {});
  cleanups.push(() => socket.terminate());
  await new Promise<void>((resolve, reject) => {
    socket.once('message', () => resolve()); // the welcome
    socket.once('close', () => reject(new Error('closed before welcome')));
  });
  return { socket, id: toText(hello.subarray(NONCE_OFFSET, HEADER_BYTES)) };
}

const eventually = (check: () => void): Promise<void> => vi.waitFor(check, { timeout: 20_000, interval: 5 });

async function pairOfEndpoints(): Promise<{ web: Endpoint; core: Endpoint; secret: string }> {
  const secret = generateSecret();
  return {
    secret,
    web: await createEndpoint({ role: 'webapp', secret }),
    core: await createEndpoint({ role: 'coreapp', secret }),
  };
}

describe('a client that stops reading while the server pushes', () => {
  it(
    'the server never buffers more than its limit, refuses sends beyond it, and drops the peer at the next heartbeat',
    async () => {
      const { web, core } = await pairOfEndpoints();
      const limit = 256 * 1024;
      const server = await start(core, { maxBufferedBytes: limit, heartbeatMs: 300 });
      const { socket } = await rawClient(server.url, web);
      socket.pause(); // reads nothing from now on: no data, no pings
      await eventually(() => expect(server.connections).toHaveLength(1));
      const channel = server.connections[0]!;

      const frame = new Uint8Array(16 * 1024);
      const baseline = process.memoryUsage().arrayBuffers;
      let accepted = 0;
      let refused = 0;
      let peakBuffered = 0;
      let peakArrayBuffers = 0;
      const attempts = scale(4000, 40_000); // 64 MiB (640 MiB soak) offered to a peer that reads nothing
      for (let i = 0; i < attempts && channel.isOpen; i++) {
        channel.send(frame).then(
          () => {},
          () => {},
        );
        // A send either goes into the bounded buffer or is refused on the spot: nothing queues.
        if (channel.bufferedAmount > peakBuffered) peakBuffered = channel.bufferedAmount;
        if (i % 64 === 0) {
          peakArrayBuffers = Math.max(peakArrayBuffers, process.memoryUsage().arrayBuffers);
          await new Promise(setImmediate);
        }
      }
      // Count what the channel took and refused by trying once more, synchronously, at the end.
      const last = await channel.send(frame).then(
        () => 'sent',
        (error: unknown) => (error as WsChannelError).code,
      );
      accepted = Math.ceil(peakBuffered / frame.length);
      refused = attempts - accepted;
      expect(['ERR_WA_WS_BACKPRESSURE', 'ERR_WA_WS_CLOSED']).toContain(last);
      expect(peakBuffered).toBeLessThanOrEqual(limit + frame.length + 64);
      // What the peer did not read stays in the kernel's socket buffers, not in JavaScript.
      // (Refused sends still sealed their frame first: that garbage shows in arrayBuffers until
      // the next GC, so it is reported below, not asserted.)

      // The deaf peer never pongs: terminated at the second heartbeat, with nothing left buffered.
      await eventually(() => expect(server.closes).toContain(WsCloseCode.ABNORMAL));
      expect(channel.isOpen).toBe(false);
      await expect(channel.send(frame)).rejects.toMatchObject({ code: 'ERR_WA_WS_CLOSED' });
      recordFigures('faults/ws-deaf-peer', {
        offeredBytes: attempts * frame.length,
        peakBufferedBytes: peakBuffered,
        limitBytes: limit,
        sendsRefused: refused,
        arrayBufferGrowthBytes: peakArrayBuffers - baseline,
      });
    },
    TEST_TIMEOUT_MS,
  );
});

describe('a frame cut off mid-way', () => {
  it('never reaches the handler; the server stays up and the next connection works', async () => {
    const { web, core } = await pairOfEndpoints();
    const received: unknown[] = [];
    const server = await start(core, { onMessage: (payload) => void received.push(payload) });
    const { socket, id } = await rawClient(server.url, web);

    // A genuine frame for slot 0, framed by hand (RFC 6455 §5.2, binary, masked with a zero
    // key so the payload bytes are the envelope's), of which only the first part is sent.
    const envelope = web.seal(new Uint8Array(200_000).fill(1), { context: frameContext(id, 'c2s', 0) });
    const head = Buffer.alloc(2 + 8 + 4);
    head[0] = 0x82; // FIN, binary
    head[1] = 0x80 | 127; // masked, 64-bit length
    head.writeBigUInt64BE(BigInt(envelope.length), 2);
    const wire = Buffer.concat([head, envelope]);
    const tcp = (socket as unknown as { _socket: Socket })._socket;
    await new Promise<void>((resolve) => tcp.write(wire.subarray(0, wire.length >> 1), () => resolve()));
    await sleep(50);
    tcp.destroy();

    await eventually(() => expect(server.closes).toContain(WsCloseCode.ABNORMAL));
    expect(received).toEqual([]);

    const client = new WsClient({ endpoint: web, url: server.url, reconnect: false });
    cleanups.push(() => client.close());
    await client.ready();
    await client.send('after');
    await eventually(() => expect(received).toEqual(['after']));
  });
});

describe('a server restarted while clients keep sending', () => {
  it(
    'sends refused while it is down are re-sent after reconnecting: all arrive, none twice',
    async () => {
      const { web, core } = await pairOfEndpoints();
      const delivered = new Map<string, number>();
      const onMessage = (payload: unknown): void => {
        const id = (payload as { id: string }).id;
        delivered.set(id, (delivered.get(id) ?? 0) + 1);
      };
      let server = await start(core, { onMessage });
      const port = server.port;
      const clients = Array.from({ length: 3 }, () => {
        const c = new WsClient({ endpoint: web, url: server.url, reconnect: { initialDelayMs: 10, maxDelayMs: 50 } });
        cleanups.push(() => c.close());
        return c;
      });
      const perClient = scale(150, 5000);
      const minRestarts = scale(3, 30);
      let resent = 0;
      let restarts = 0;
      const sentPerClient = clients.map(() => 0);
      let sending = true;
      const restarter = (async () => {
        while (sending) {
          await sleep(60);
          if (!sending) break;
          await stopWsServer(server);
          await sleep(20);
          server = await start(core, { onMessage }, port);
          restarts++;
        }
      })();
      await Promise.all(
        clients.map(async (c, n) => {
          // Keep sending until the server has been restarted a few times (bounded either way).
          for (let i = 0; (i < perClient || restarts < minRestarts) && i < 50 * perClient; i++) {
            sentPerClient[n] = i + 1;
            const message = { id: `${n}:${i}` };
            for (;;) {
              try {
                await (await c.ready()).send(message);
                break;
              } catch (error) {
                if (!(error instanceof WsChannelError)) throw error;
                resent++; // nothing was sent: safe to send again (`ready()` waits for an open channel)
              }
            }
            if (i % 5 === 0) await sleep(1);
          }
        }),
      );
      sending = false;
      await restarter;
      const total = sentPerClient.reduce((a, b) => a + b, 0);
      expect(restarts).toBeGreaterThanOrEqual(minRestarts);
      await eventually(() => expect(delivered.size).toBeGreaterThanOrEqual(total - restarts * clients.length));
      await sleep(100);
      const duplicated = [...delivered.values()].filter((n) => n > 1).length;
      const lost = total - delivered.size;
      recordFigures('faults/ws-restart', {
        messages: total,
        delivered: delivered.size,
        lost,
        duplicated,
        resent,
        restarts,
      });
      expect(duplicated).toBe(0);
      // A frame whose send resolved (written to the socket) as the server went away is lost:
      // the channel is at most once across connections (src/transport/ws.ts). Reported, not hidden.
      expect(lost).toBeLessThanOrEqual(restarts * clients.length);
    },
    TEST_TIMEOUT_MS,
  );
});
