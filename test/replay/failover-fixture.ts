import { setTimeout as sleep } from 'node:timers/promises';
import { Redis } from 'ioredis';
import { afterAll, expect } from 'vitest';
import { type Endpoint, ErrorCode, createEndpoint, isWaTransportError } from '../../src/index.js';
import type { ReplayStore } from '../../src/replay/store.js';
import { recordFigures } from '../soak/figures.js';
import type { Logger } from '../../src/log.js';
import type { RedisSentinelHandle } from '../redis/servers.js';

// Longer than a failover takes here (1 s to declare the master down, then an election): a
// shorter window would refuse the lost nonces' replays as expired before the store is asked.

export const windowMs = 5000;
export const maxSkewMs = 200;
export const retentionMs = windowMs + 100;
export const TIMING = { commandTimeoutMs: 300, retentionMs, restartHoldMs: retentionMs + maxSkewMs };
export const RETRIABLE: readonly string[] = [ErrorCode.REPLAY_STORE_UNAVAILABLE];

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
  legitAccepted: number;
  legitRefused: number;
  replaysAccepted: number;
  replaysRefused: number;
  otherErrors: string[];
  refusedMs: number;
  recovered: boolean;
}

/**
 * Legitimate traffic spread over the nodes, and an attacker replaying every envelope accepted
 * so far, before, during and after `fault` (a master SIGKILLed); until the nodes accept again.
 */
export async function trafficThrough(
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
  };
  const accepted: Uint8Array[] = [];
  let faultDone = false;
  let firstRefusal: number | undefined;
  let lastRefusal: number | undefined;
  const round = async (i: number): Promise<void> => {
    const batch = Array.from({ length: 20 }, (_, k) => web.seal({ i, k }));
    await Promise.all(
      batch.map((envelope, k) =>
        nodes[k % nodes.length]!.open(envelope).then(
          () => {
            figures.legitAccepted++;
            accepted.push(envelope);
          },
          (error: unknown) => {
            if (isWaTransportError(error) && RETRIABLE.includes(error.code)) {
              figures.legitRefused++;
              firstRefusal ??= performance.now();
              lastRefusal = performance.now();
            } else figures.otherErrors.push(isWaTransportError(error) ? error.code : String(error));
          },
        ),
      ),
    );
    // The attacker replays everything accepted so far, to every node.
    await Promise.all(
      accepted.flatMap((envelope) =>
        nodes.map((node) =>
          node.open(envelope).then(
            () => void figures.replaysAccepted++,
            () => void figures.replaysRefused++,
          ),
        ),
      ),
    );
    // Replays older than the window are refused as expired without reaching the store.
    if (accepted.length > 1000) accepted.splice(0, accepted.length - 1000);
  };
  let i = 0;
  for (; i < 10; i++) await round(i); // before
  const faulting = fault().then(() => {
    faultDone = true;
  });
  const deadline = performance.now() + 30_000;
  let acceptedAfter = 0;
  while (performance.now() < deadline) {
    const before = figures.legitAccepted;
    await round(i++);
    if (faultDone && lastRefusal !== undefined) {
      acceptedAfter = figures.legitAccepted - before === 20 ? acceptedAfter + 1 : 0;
      if (acceptedAfter >= 5) break; // five whole rounds accepted after the failover: recovered
    }
    await sleep(20);
  }
  await faulting;
  figures.recovered = acceptedAfter >= 5;
  figures.refusedMs = firstRefusal === undefined ? 0 : lastRefusal! - firstRefusal;
  return figures;
}

/**
 * Recorded for the soak summary, then held to the promise: 0 replays, every refusal retriable,
 * some refusals (the hold, or the outage, was met), and recovery without a restart.
 */
export function expectSafeFailover(name: string, figures: FailoverFigures): void {
  recordFigures(name, {
    ...figures,
    refusedMs: Math.round(figures.refusedMs),
    otherErrors: figures.otherErrors.length,
  });
  expect(figures.replaysAccepted).toBe(0);
  expect(figures.otherErrors).toEqual([]);
  expect(figures.legitRefused).toBeGreaterThan(0);
  expect(figures.recovered).toBe(true);
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
