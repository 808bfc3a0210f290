/**
 * Resources an attacker can take without the secret: clients that send part of a body and
 * stall. Memory is measured in a CoreApp process of its own (test/adversarial/stalled-server.ts),
 * after a garbage collection; the request limits are checked over real sockets.
 */
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { createServer, type Server } from 'node:http';
import { type Socket, connect } from 'node:net';
import type { AddressInfo } from 'node:net';
import { createInterface } from 'node:readline';
import type { Duplex } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { createEndpoint, generateSecret } from '../../src/index.js';
import { toText } from '../../src/envelope/text.js';
import { ENVELOPE_CONTENT_TYPE } from '../../src/protocol.js';
import { HttpClient } from '../../src/transport/http.js';
import { WsServer } from '../../src/transport/ws.js';
import { HELLO_HEADER, helloContext } from '../../src/transport/ws-protocol.js';
import { TEST_TIMEOUT_MS, recordFigures, scale } from '../soak/figures.js';
import { type Binding, sealedServer } from '../transport/http-fixture.js';

const toStop: Array<() => unknown> = [];
afterAll(async () => {
  for (const stop of toStop.reverse()) await stop();
});

const MiB = 1024 * 1024;

/** Opens a socket that sends a request's headers declaring `declared` bytes, then `sent` bytes, then nothing. */
async function stall(port: number, declared: number, sent: number): Promise<Socket> {
  const socket = connect(port, '127.0.0.1');
  socket.on('error', () => {});
  await once(socket, 'connect');
  socket.write(
    `POST /x HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: ${ENVELOPE_CONTENT_TYPE}\r\nContent-Length: ${declared}\r\n\r\n`,
  );
  if (sent > 0) socket.write(Buffer.alloc(sent, 7));
  return socket;
}

/** The first status line a socket receives, or 'open' if none within `ms`. */
function statusOf(socket: Socket, ms: number): Promise<string> {
  return new Promise((resolve) => {
    const timer = setTimeout(() => resolve('open'), ms);
    socket.once('data', (chunk: Buffer) => {
      clearTimeout(timer);
      resolve(chunk.toString('latin1').split(' ')[1] ?? '?');
    });
    socket.once('close', () => {
      clearTimeout(timer);
      resolve('closed');
    });
  });
}

async function listen(server: Server): Promise<number> {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  toStop.push(() => {
    server.closeAllConnections(); // the stalled sockets are ours to end
    return new Promise((resolve) => server.close(resolve));
  });
  return (server.address() as AddressInfo).port;
}

describe('clients that send part of a body and stall', () => {
  it(
    '1,000 of them hold less than 64 MiB above baseline, and a legitimate client is still served',
    async () => {
      const clients = scale(1000, 1000);
      const secret = generateSecret();
      const child = spawn(
        process.execPath,
        ['--expose-gc', '--import', 'tsx', fileURLToPath(new URL('./stalled-server.ts', import.meta.url))],
        { env: { ...process.env, WA_SECRET: secret }, stdio: ['pipe', 'pipe', 'inherit'] },
      );
      toStop.push(() => child.kill('SIGKILL'));
      const lines = createInterface({ input: child.stdout! });
      const next = async (): Promise<Record<string, number>> =>
        JSON.parse((await once(lines, 'line'))[0] as string) as Record<string, number>;
      const port = (await next())['port']!;
      const rss = async (): Promise<number> => {
        child.stdin!.write('rss\n');
        return (await next())['rss']!;
      };
      const baseline = await rss();

      // Each declares 1 MiB (the default limit) and sends 128 KiB: 125 MiB offered in all.
      const sockets: Socket[] = [];
      for (let i = 0; i < clients; i++) sockets.push(await stall(port, MiB, 128 * 1024));
      toStop.push(() => {
        for (const s of sockets) s.destroy();
      });
      await new Promise((resolve) => setTimeout(resolve, 500));
      const held = (await rss()) - baseline;

      const web = await createEndpoint({ role: 'webapp', secret });
      const client = new HttpClient({ endpoint: web, baseUrl: `http://127.0.0.1:${port}` });
      toStop.push(() => client.close());
      const answer = await client.post('/v1/ping', { ok: true });
      const stillOpen = sockets.filter((s) => !s.destroyed).length;
      recordFigures('adversarial/stalled-clients', {
        clients,
        offeredMiB: clients / 8,
        heldMiB: Math.round(held / MiB),
        stillOpen,
      });
      expect(answer.payload).toEqual({ echo: { ok: true } });
      expect(held).toBeLessThan(64 * MiB);
      expect(stillOpen).toBeGreaterThan(0); // served while the stalled clients were still there
    },
    TEST_TIMEOUT_MS,
  );
});

describe.each<Binding>(['node:http', 'fetch'])('limits on request bodies (%s)', (binding) => {
  it('a body over 1 MiB is refused 413 by default, before it is read', async () => {
    const core = await createEndpoint({ role: 'coreapp', secret: generateSecret() });
    const port = await listen(sealedServer(binding, { endpoint: core }, () => 1));
    const socket = await stall(port, MiB + 1, 0);
    expect(await statusOf(socket, 2000)).toBe('413');
    socket.destroy();
  });

  it('a body slower than bodyTimeoutMs is refused 408 and its connection closed', async () => {
    const core = await createEndpoint({ role: 'coreapp', secret: generateSecret() });
    const port = await listen(sealedServer(binding, { endpoint: core, bodyTimeoutMs: 200 }, () => 1));
    const socket = await stall(port, 1000, 10);
    expect(await statusOf(socket, 5000)).toBe('408');
    await once(socket, 'close');
  });

  it('past maxPendingBytes the oldest pending body is refused 503 (ERR_WA_OVERLOADED) to make room', async () => {
    const secret = generateSecret();
    const core = await createEndpoint({ role: 'coreapp', secret });
    const web = await createEndpoint({ role: 'webapp', secret });
    const port = await listen(sealedServer(binding, { endpoint: core, maxPendingBytes: 100_000 }, (r) => r.payload));
    const first = await stall(port, 90_000, 90_000 - 1); // holds 90 kB of the 100 kB, and stalls
    const firstStatus = statusOf(first, 5000);
    const second = await stall(port, 50_000, 20_000); // needs room: the older body is evicted
    expect(await firstStatus).toBe('503');
    expect(await statusOf(second, 200)).toBe('open'); // still being read
    const client = new HttpClient({ endpoint: web, baseUrl: `http://127.0.0.1:${port}` });
    expect((await client.post('/v1/x', 'fine')).payload).toBe('fine'); // and the next one too
    await client.close();
    second.destroy();
  });

  it('past maxPendingRequests the oldest pending request is refused 503, even holding no bytes', async () => {
    const secret = generateSecret();
    const core = await createEndpoint({ role: 'coreapp', secret });
    const web = await createEndpoint({ role: 'webapp', secret });
    const port = await listen(sealedServer(binding, { endpoint: core, maxPendingRequests: 2 }, (r) => r.payload));
    // Each declares a body and sends none: nothing of the byte budget, one place each.
    const first = await stall(port, 100, 0);
    const firstStatus = statusOf(first, 5000);
    const second = await stall(port, 100, 0);
    await new Promise((resolve) => setTimeout(resolve, 50)); // both are being read
    const third = await stall(port, 100, 0);
    expect(await firstStatus).toBe('503');
    expect(await statusOf(second, 200)).toBe('open');
    expect(await statusOf(third, 200)).toBe('open');
    // The next request evicts the second stalled one, and is served.
    const client = new HttpClient({ endpoint: web, baseUrl: `http://127.0.0.1:${port}` });
    expect((await client.post('/v1/x', 'fine')).payload).toBe('fine');
    await client.close();
    second.destroy();
    third.destroy();
  });
});

describe('limits on WebSocket upgrades', () => {
  it('past maxPendingUpgrades a WebSocket upgrade is refused 503 before its hello is checked', async () => {
    const secret = generateSecret();
    const core = await createEndpoint({
      role: 'coreapp',
      secret,
      replayStore: { retentionMs: 10_000, recordIfAbsent: () => new Promise<boolean>(() => {}) }, // never answers
    });
    const web = await createEndpoint({ role: 'webapp', secret });
    const wss = new WsServer({ endpoint: core, maxPendingUpgrades: 2, heartbeatMs: 0 });
    const server = createServer();
    const upgrading = new Set<Duplex>();
    server.on('upgrade', (req, socket, head) => {
      upgrading.add(socket);
      wss.handleUpgrade(req, socket, head);
    });
    const port = await listen(server);
    const upgrade = async (): Promise<Socket> => {
      const hello = web.seal(new Uint8Array(0), { context: helloContext('/ws') });
      const socket = connect(port, '127.0.0.1');
      socket.on('error', () => {});
      await once(socket, 'connect');
      socket.write(
        'GET /ws HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n' +
          `Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n${HELLO_HEADER}: ${toText(hello)}\r\n\r\n`,
      );
      return socket;
    };
    const held = [await upgrade(), await upgrade()];
    await new Promise((resolve) => setTimeout(resolve, 100));
    const third = await upgrade();
    expect(await statusOf(third, 2000)).toBe('503');
    expect(await statusOf(held[0]!, 100)).toBe('open'); // still waiting for the store
    for (const socket of [...held, third]) socket.destroy();
    // The server's ends wait for a store that never answers: end them, so the server can close.
    for (const socket of upgrading) socket.destroy();
  });
});
