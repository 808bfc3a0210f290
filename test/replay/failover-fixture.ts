/**
 * What the Redis Cluster and Sentinel tests share: two CoreApp nodes on one store, HTTP traffic
 * through a failover (`requestsThrough`), and the failover that loses writes.
 */
import { createServer } from 'node:http';
import { setTimeout as sleep } from 'node:timers/promises';
import { Redis } from 'ioredis';
import { afterAll, expect } from 'vitest';
import { type Endpoint, ErrorCode, createEndpoint, isWaTransportError } from '../../src/index.js';
import type { Logger } from '../../src/log.js';
import type { ReplayStore } from '../../src/replay/store.js';
import { HttpClient, HttpStatusError, sealedHandler } from '../../src/transport/http.js';
import { type Captured, deliver, listen, onPath } from '../faults/on-path.js';
import type { RedisSentinelHandle } from '../redis/servers.js';
import { recordFigures } from '../soak/figures.js';

// Longer than a failover takes here (1 s to declare the master down, then an election): a
// shorter window would refuse the lost nonces' replays as expired before the store is asked.

export const windowMs = 5000;
export const maxSkewMs = 200;
export const retentionMs = windowMs + 100;
export const TIMING = { commandTimeoutMs: 300, retentionMs, restartHoldMs: retentionMs + maxSkewMs };

export const stores: Array<{ close(): Promise<void> }> = [];
afterAll(async () => {
  for (const store of stores) await store.close();
});

export async function coreNodes(
  secret: string,
  make: () => Promise<ReplayStore & { close(): Promise<void> }>,
  window: { windowMs?: number; maxSkewMs?: number } = { windowMs, maxSkewMs },
): Promise<Endpoint[]> {
  const nodes: Endpoint[] = [];
  for (let i = 0; i < 2; i++) {
    const store = await make();
    stores.push(store);
    nodes.push(await createEndpoint({ role: 'coreapp', secret, ...window, replayStore: store }));
  }
  return nodes;
}

/** Each envelope delivered `copies` times, concurrently, spread over the nodes: how many were accepted. */
export async function deliverConcurrently(
  web: Endpoint,
  nodes: readonly Endpoint[],
  envelopes: number,
  copies: number,
): Promise<number[]> {
  const sealed = Array.from({ length: envelopes }, (_, i) => web.seal({ i }));
  const accepted = new Array<number>(envelopes).fill(0);
  await Promise.all(
    sealed.flatMap((envelope, i) =>
      Array.from({ length: copies }, (_, c) =>
        nodes[(i + c) % nodes.length]!.open(envelope).then(
          () => void accepted[i]!++,
          (error: unknown) => {
            if (!isWaTransportError(error, ErrorCode.REPLAYED)) throw error;
          },
        ),
      ),
    ),
  );
  return accepted;
}

export interface FailoverFigures {
  /** Logical requests that ended run (once or more), and 503 answers the CoreApps gave. */
  legitAccepted: number;
  legitRefused: number;
  replaysAccepted: number;
  replaysRefused: number;
  /** Outcomes of a request other than running (a request that gave up, a bad answer). */
  otherErrors: string[];
  /** From the first 503 to the last. */
  refusedMs: number;
  recovered: boolean;
  /** Logical requests sent, how many ran exactly once, more than once, and not at all. */
  requests: number;
  ranOnce: number;
  ranTwice: number;
  lost: number;
  /** Each request that did not run exactly once, with the codes its calls met. */
  notOnce: string[];
  /** Requests sent again under a new id: the first id expired with no attempt run. */
  resent: number;
}

/**
 * Recorded for the soak summary, then held to the promise: 0 replays, nothing run twice, every
 * refusal retriable, some refusals (the hold, or the outage, was met), recovery without a
 * restart; and, unless `mayLose`, every request run exactly once.
 *
 * `mayLose` is for WAIT: a nonce refused for want of an acknowledgement is taken back on the
 * master, but when the replica had it and the take-back never reached it (its link cut), the
 * promoted replica still holds it, and the request's retry reads ERR_WA_REPLAYED though it never
 * ran (docs/redis.md). At most once still holds; that request is lost, and counted.
 */
export function expectSafeFailover(name: string, figures: FailoverFigures, { mayLose = false } = {}): void {
  recordFigures(name, {
    ...figures,
    refusedMs: Math.round(figures.refusedMs),
    otherErrors: figures.otherErrors.length,
    notOnce: figures.notOnce.length,
  });
  expect(figures.otherErrors).toEqual([]);
  expect(figures.ranTwice).toBe(0);
  if (mayLose) {
    if (figures.notOnce.length > 0) console.warn(`[lost] ${name}: ${figures.notOnce.join('; ')}`);
  } else expect(figures.notOnce).toEqual([]); // names each request, and what its calls met
  expect(figures.replaysAccepted).toBe(0);
  expect(figures.legitRefused).toBeGreaterThan(0);
  expect(figures.recovered).toBe(true);
}

/**
 * The same failover under HTTP: a WebApp's `HttpClient` posts logical requests to two CoreApp
 * servers (one per node, each behind a recorder on the path) and retries as docs/http.md says
 * ("Exactly once in the end"); an attacker replays every request that was accepted to both
 * servers. Every logical request must run exactly once, and no replay at all.
 */
export async function requestsThrough(
  web: Endpoint,
  nodes: readonly Endpoint[],
  fault: () => Promise<unknown>,
): Promise<FailoverFigures> {
  const figures: FailoverFigures = {
    legitAccepted: 0,
    legitRefused: 0,
    replaysAccepted: 0,
    replaysRefused: 0,
    otherErrors: [],
    refusedMs: 0,
    recovered: false,
    requests: 0,
    ranOnce: 0,
    ranTwice: 0,
    lost: 0,
    notOnce: [],
    resent: 0,
  };
  const executions = new Map<number, number>();
  const traces = new Map<number, string[]>();
  let firstRefusal: number | undefined;
  let lastRefusal: number | undefined;
  const servers: string[] = [];
  const paths: Array<Awaited<ReturnType<typeof onPath>>> = [];
  const clients: HttpClient[] = [];
  try {
    for (const node of nodes) {
      const handler = sealedHandler({ endpoint: node }, (req) => {
        const { m } = req.payload as { m: number };
        executions.set(m, (executions.get(m) ?? 0) + 1);
        return { ran: m };
      });
      const server = createServer((req, res) => {
        res.on('finish', () => {
          if (res.statusCode !== 503) return;
          figures.legitRefused++;
          firstRefusal ??= performance.now();
          lastRefusal = performance.now();
        });
        handler(req, res);
      });
      const { url, stop } = await listen(server);
      cleanups.push(stop);
      servers.push(url);
      const path = await onPath(url, () => false);
      cleanups.push(path.stop);
      paths.push(path);
      // Retries end before the request id's window does (the CoreApp would refuse it as expired).
      const retry = { attempts: 8, baseDelayMs: 50, maxDelayMs: 250, withinMs: windowMs - 1000 };
      const client = new HttpClient({ endpoint: web, baseUrl: path.url, retry, logger: quiet });
      cleanups.push(() => client.close());
      clients.push(client);
    }
    const accepted: Captured[] = [];
    let faultDone = false;
    const round = async (r: number): Promise<boolean> => {
      const refusedBefore = figures.legitRefused;
      await Promise.all(
        Array.from({ length: 20 }, async (_, k) => {
          const m = r * 20 + k;
          figures.requests++;
          const steps: string[] = [];
          traces.set(m, steps);
          const outcome = await exactlyOnce(clients[k % clients.length]!, web, { m }, steps).catch((e: unknown) => e);
          if (outcome === 'resent-ran') figures.resent++;
          if (outcome === 'ran' || outcome === 'resent-ran') figures.legitAccepted++;
          else figures.otherErrors.push(isWaTransportError(outcome) ? outcome.code : String(outcome));
        }),
      );
      // The attacker replays every request accepted so far to every node.
      for (const path of paths)
        for (const entry of path.captured.splice(0)) if (path.answers.get(entry) === 200) accepted.push(entry);
      if (accepted.length > 400) accepted.splice(0, accepted.length - 400); // older ones: expired
      await Promise.all(
        accepted.flatMap((entry) =>
          servers.map((url) =>
            deliver(url, entry).then(
              (answer) => void (answer.status === 200 ? figures.replaysAccepted++ : figures.replaysRefused++),
              () => void figures.replaysRefused++,
            ),
          ),
        ),
      );
      return figures.legitRefused === refusedBefore;
    };
    let r = 0;
    for (; r < 5; r++) await round(r); // before
    const faulting = fault().then(() => {
      faultDone = true;
    });
    const deadline = performance.now() + 40_000;
    let cleanRounds = 0;
    while (performance.now() < deadline) {
      const clean = await round(r++);
      if (faultDone && lastRefusal !== undefined) {
        cleanRounds = clean ? cleanRounds + 1 : 0;
        if (cleanRounds >= 5) break; // five rounds without a refusal after the failover: recovered
      }
      await sleep(20);
    }
    await faulting;
    figures.recovered = cleanRounds >= 5;
    figures.refusedMs = firstRefusal === undefined ? 0 : lastRefusal! - firstRefusal;
    for (let m = 0; m < figures.requests; m++) {
      const ran = executions.get(m) ?? 0;
      if (ran === 1) figures.ranOnce++;
      else {
        if (ran === 0) figures.lost++;
        else figures.ranTwice++;
        figures.notOnce.push(`request ${m} ran ${ran} times: ${traces.get(m)?.join(', ')}`);
      }
    }
    return figures;
  } finally {
    for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
  }
}

const cleanups: Array<() => unknown> = [];
const quiet: Logger = { warn: () => {}, info: () => {} };

/**
 * docs/http.md, "Exactly once in the end": the same request id until an attempt is accepted
 * or the id has expired with no attempt run; then the same request as a new one.
 */
async function exactlyOnce(
  client: HttpClient,
  web: Endpoint,
  payload: unknown,
  steps: string[] = [],
): Promise<'ran' | 'resent-ran'> {
  for (let resent = false; ; resent = true) {
    const requestId = web.newRequestId();
    let mayHaveRun = false;
    for (;;) {
      try {
        await client.post('/v1/messages', payload, { requestId });
        return resent ? 'resent-ran' : 'ran';
      } catch (error) {
        if (!(error instanceof HttpStatusError)) throw error;
        steps.push(`${error.code}${error.mayHaveRun ? '?' : ''}`);
        mayHaveRun ||= error.mayHaveRun;
        if (error.code === ErrorCode.REPLAYED) return resent ? 'resent-ran' : 'ran';
        if (error.code === ErrorCode.EXPIRED && !mayHaveRun) break;
        if (error.status !== 503) throw error;
      }
    }
  }
}

/** The port of the master's replica, as the sentinels know it (one that is up). */
export async function replicaOf(sentinel: RedisSentinelHandle): Promise<number> {
  const asker = new Redis(Number(sentinel.sentinels[0]!.split(':')[1]), '127.0.0.1');
  try {
    const replicas = (await asker.call('SENTINEL', 'replicas', sentinel.masterName)) as string[][];
    const up = replicas.find((r) => !/s_down|disconnected/.test(r[r.indexOf('flags') + 1] ?? ''))!;
    return Number(up[up.indexOf('port') + 1]);
  } finally {
    asker.disconnect();
  }
}

/** The PID of the redis-server on `port` (INFO server's process_id). */
export async function pidOn(port: number): Promise<number> {
  const client = new Redis(port, '127.0.0.1', { lazyConnect: true, maxRetriesPerRequest: 0 });
  try {
    return Number(/^process_id:(\d+)/m.exec(await client.info('server'))![1]);
  } finally {
    client.disconnect();
  }
}

/**
 * The failover that loses writes: the replica is frozen (SIGSTOP) and the master drops its link
 * to it (CLIENT KILL TYPE replica), then keeps accepting nonces that never reach it; then the
 * master is SIGKILLed and the replica thawed and promoted without them. Replication is
 * asynchronous, and this is its worst case: without a hold after the change of master, the
 * replays of those nonces are accepted. (Freezing alone loses nothing: the kernel keeps
 * buffering the replication stream for the frozen process.)
 */
export async function failoverLosingWrites(
  masterPort: number,
  replicaPort: number,
  kill: () => Promise<unknown>,
): Promise<void> {
  const pid = await pidOn(replicaPort);
  const master = new Redis(masterPort, '127.0.0.1', { maxRetriesPerRequest: 0 });
  process.kill(pid, 'SIGSTOP');
  try {
    await master.call('CLIENT', 'KILL', 'TYPE', 'replica');
    master.disconnect();
    await sleep(400); // writes the replica will never see
    const killing = kill();
    await sleep(100);
    process.kill(pid, 'SIGCONT');
    await killing;
  } finally {
    master.disconnect();
    try {
      process.kill(pid, 'SIGCONT');
    } catch {}
  }
}

export function recordingLogger(): Logger & { events: string[] } {
  const events: string[] = [];
  const log = (record: object): void => {
    events.push(String((record as { event?: unknown }).event));
  };
  return { events, warn: log, info: log };
}
