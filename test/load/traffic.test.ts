/**
 * Sustained concurrent HTTP and WebSocket traffic on 127.0.0.1 with a replay attacker mixed in.
 *
 * The WebApps talk to the CoreApp through a man-in-the-middle: a TCP proxy that forwards every
 * byte and records what the clients send. While traffic flows, the attacker takes recordings
 * (at least `REPLAY_DELAY_MS` old, i.e. captured, then replayed) and writes them again, raw, on
 * fresh connections to the CoreApp: HTTP requests, and WebSocket upgrades with their hellos and
 * frames. Every legitimate message must be handled exactly once, every replayed request
 * answered 409 (or 401 once stale) and every replayed upgrade refused with 401; the run is
 * bounded in messages and stops by itself. Counts are printed at the end.
 */
import { once } from 'node:events';
import { createServer } from 'node:http';
import {
  type AddressInfo,
  type Server as NetServer,
  type Socket,
  connect,
  createServer as createNetServer,
} from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, describe, expect, it, vi } from 'vitest';
import { MemoryReplayStore, createEndpoint, generateSecret } from '../../src/index.js';
import { HttpClient } from '../../src/transport/http-client.js';
import { sealedHandler } from '../../src/transport/http-server.js';
import { WsClient, WsServer } from '../../src/transport/ws.js';
import { TEST_TIMEOUT_MS, recordFigures, scale } from '../soak/figures.js';

const REPLAY_DELAY_MS = 50;
const cleanups: Array<() => unknown> = [];
afterAll(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

interface Recording {
  readonly chunks: Array<{ at: number; bytes: Buffer }>;
}

/** A forwarding TCP proxy that keeps every byte the clients send, per connection. */
async function recordingProxy(
  upstreamPort: number,
): Promise<{ port: number; recordings: Recording[]; server: NetServer }> {
  const recordings: Recording[] = [];
  const sockets = new Set<Socket>();
  const server = createNetServer((client) => {
    const recording: Recording = { chunks: [] };
    recordings.push(recording);
    const upstream = connect(upstreamPort, '127.0.0.1');
    for (const s of [client, upstream]) {
      sockets.add(s);
      s.on('error', () => {});
      s.on('close', () => {
        sockets.delete(s);
        client.destroy();
        upstream.destroy();
      });
    }
    client.on('data', (bytes: Buffer) => recording.chunks.push({ at: Date.now(), bytes }));
    client.pipe(upstream);
    upstream.pipe(client);
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  cleanups.push(
    () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  );
  return { port: (server.address() as AddressInfo).port, recordings, server };
}

/**
 * Offsets where the complete HTTP requests at the start of `bytes` begin, plus the offset just
 * past the last one (undici sends Content-Length on each). An upgrade ends the list: what
 * follows it is WebSocket frames.
 */
function requestBoundaries(bytes: Buffer): number[] {
  const boundaries = [0];
  let at = 0;
  for (;;) {
    const end = bytes.indexOf('\r\n\r\n', at, 'latin1');
    if (end < 0) break;
    const head = bytes.subarray(at, end).toString('latin1');
    const declared = /\r\ncontent-length:\s*(\d+)/i.exec(head);
    const next = end + 4 + (declared === null ? 0 : Number(declared[1]));
    if (next > bytes.length) break;
    boundaries.push(next);
    at = next;
    if (/\r\nupgrade:\s*websocket/i.test(head)) break;
  }
  return boundaries;
}

/** Most requests replayed at once: a run of captured requests, not a whole connection's history. */
const MAX_REPLAYED_REQUESTS = 20;

/** Writes captured bytes on a fresh connection to the CoreApp and returns the statuses it answers. */
async function replay(port: number, bytes: Buffer, expected: number): Promise<number[]> {
  const socket = connect(port, '127.0.0.1');
  socket.on('error', () => {});
  const chunks: Buffer[] = [];
  const statuses = (): number[] =>
    [
      ...Buffer.concat(chunks)
        .toString('latin1')
        .matchAll(/HTTP\/1\.1 (\d{3}) /g),
    ].map((m) => Number(m[1]));
  socket.on('data', (c: Buffer) => chunks.push(c));
  await once(socket, 'connect');
  socket.write(bytes);
  const deadline = Date.now() + 5000;
  while (statuses().length < expected && !socket.destroyed && Date.now() < deadline) await sleep(2);
  socket.destroy();
  return statuses();
}

describe('concurrent HTTP and WebSocket traffic with a replay attacker', () => {
  it(
    'delivers every legitimate message exactly once and refuses every replay',
    async () => {
      const secret = generateSecret();
      const store = new MemoryReplayStore();
      const web = await createEndpoint({ role: 'webapp', secret });
      const core = await createEndpoint({ role: 'coreapp', secret, replayStore: store });

      const delivered = new Map<string, number>();
      const deliver = (id: string): void => void delivered.set(id, (delivered.get(id) ?? 0) + 1);
      const http = createServer(
        sealedHandler<{ id: string }>({ endpoint: core }, (req) => {
          deliver(req.payload.id);
          return { ok: req.payload.id };
        }),
      );
      const wsServer = new WsServer({
        endpoint: core,
        server: http,
        path: '/ws',
        onMessage: (payload) => deliver((payload as { id: string }).id),
      });
      http.listen(0, '127.0.0.1');
      await once(http, 'listening');
      const corePort = (http.address() as AddressInfo).port;
      cleanups.push(async () => {
        await wsServer.close();
        http.closeAllConnections();
        await new Promise((resolve) => http.close(resolve));
      });
      const proxy = await recordingProxy(corePort);

      const httpWorkers = 4;
      const httpPerWorker = scale(60, 5000);
      const wsClients = 3;
      const wsPerClient = scale(150, 20_000);
      const client = new HttpClient({ endpoint: web, baseUrl: `http://127.0.0.1:${proxy.port}` });
      cleanups.push(() => client.close());
      const sockets: WsClient[] = Array.from({ length: wsClients }, () => {
        const c = new WsClient({ endpoint: web, url: `ws://127.0.0.1:${proxy.port}/ws`, reconnect: false });
        cleanups.push(() => c.close());
        return c;
      });
      await Promise.all(sockets.map((c) => c.ready()));

      const attack = { httpRequests: 0, upgrades: 0, answered: new Map<number, number>() };
      let running = true;
      const attacker = (async () => {
        while (running) {
          await sleep(5);
          const old = Date.now() - REPLAY_DELAY_MS;
          const recording = proxy.recordings[Math.floor(Math.random() * proxy.recordings.length)];
          if (recording === undefined) continue;
          const captured = Buffer.concat(recording.chunks.filter((c) => c.at <= old).map((c) => c.bytes));
          const boundaries = requestBoundaries(captured);
          if (boundaries.length < 2) continue;
          const isUpgrade = captured.subarray(0, 8).toString('latin1').startsWith('GET /ws');
          // An upgrade is replayed with the frames that followed it (up to 64 KiB); HTTP as a run
          // of up to MAX_REPLAYED_REQUESTS whole requests from a random point of the connection.
          const first = isUpgrade ? 0 : Math.floor(Math.random() * (boundaries.length - 1));
          const last = isUpgrade ? 1 : Math.min(boundaries.length - 1, first + MAX_REPLAYED_REQUESTS);
          const count = last - first;
          const slice = isUpgrade
            ? captured.subarray(0, Math.min(captured.length, boundaries[1]! + 65536))
            : captured.subarray(boundaries[first]!, boundaries[last]!);
          const statuses = await replay(corePort, slice, count);
          if (isUpgrade) attack.upgrades++;
          else attack.httpRequests += count;
          for (const s of statuses) attack.answered.set(s, (attack.answered.get(s) ?? 0) + 1);
          for (const s of statuses) expect(isUpgrade ? [401] : [409, 401]).toContain(s);
        }
      })();

      const legit = { http: 0, ws: 0 };
      await Promise.all([
        ...Array.from({ length: httpWorkers }, async (_, w) => {
          for (let i = 0; i < httpPerWorker; i++) {
            const id = `http:${w}:${i}`;
            const response = await client.post('/v1/messages', { id });
            expect(response.payload).toEqual({ ok: id });
            legit.http++;
          }
        }),
        ...sockets.map(async (c, n) => {
          for (let i = 0; i < wsPerClient; i++) {
            await c.send({ id: `ws:${n}:${i}` });
            legit.ws++;
            if (i % 20 === 0) await sleep(1); // let the attacker and the server breathe
          }
        }),
      ]);
      // Let the attacker replay what was captured last, then stop.
      await sleep(REPLAY_DELAY_MS * 3);
      running = false;
      await attacker;

      const total = httpWorkers * httpPerWorker + wsClients * wsPerClient;
      await vi.waitFor(() => expect(delivered.size).toBe(total), { timeout: 20_000, interval: 10 });
      const duplicated = [...delivered.values()].filter((n) => n !== 1).length;
      expect(duplicated).toBe(0);
      expect(attack.answered.get(200) ?? 0).toBe(0);
      expect(attack.httpRequests + attack.upgrades).toBeGreaterThan(0);

      recordFigures('load/traffic', {
        messages: total,
        httpMessages: legit.http,
        wsMessages: legit.ws,
        delivered: delivered.size,
        lost: total - delivered.size,
        duplicated,
        replayedHttpRequests: attack.httpRequests,
        replayedUpgrades: attack.upgrades,
        replaysAccepted: 0,
        ...Object.fromEntries([...attack.answered].map(([status, n]) => [`answered${status}`, n])),
      });
    },
    TEST_TIMEOUT_MS,
  );
});
