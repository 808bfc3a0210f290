/**
 * Exactly once under everything at once: traffic across two CoreApp nodes on one Redis while
 * one node's window is changed, Redis is flushed, the other node's clock steps back, someone on
 * the path withholds requests and answers forged 503s (the WebApp retries with the same request
 * id, and the withheld originals arrive later), and an attacker replays every request it saw to
 * both nodes. Figures: replays accepted (0), logical requests executed twice (0), and how many
 * requests ended refused with a retriable code (the flush's hold) instead of running.
 */
import { createServer } from 'node:http';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, expect, it } from 'vitest';
import { ErrorCode, createEndpoint, generateSecret, isWaTransportError } from '../../src/index.js';
import { RotatingEndpoint } from '../../src/ops/index.js';
import { createRedisReplayStore } from '../../src/replay/redis.js';
import { HttpClient, sealedHandler } from '../../src/transport/http.js';
import { startRedis } from '../redis/servers.js';
import { TEST_TIMEOUT_MS, recordFigures, scale } from '../soak/figures.js';
import { deliver, listen, onPath } from './on-path.js';

const toStop: Array<() => unknown> = [];
afterAll(async () => {
  for (const stop of toStop.reverse()) await stop();
});

const WINDOW_MS = 2000;
const RETENTION_MS = 3000;
const SKEW_MS = 1000;
/**
 * Outcomes a request may end with, besides running: the CoreApp's sealed "try again later" (the
 * flush's hold outlasts the client's retries), or the forged 503 three times in a row.
 */
const RETRIABLE = new Set<string>([
  ErrorCode.REPLAY_STORE_UNAVAILABLE,
  ErrorCode.REPLAY_CACHE_FULL,
  ErrorCode.UNSEALED_RESPONSE,
]);

it(
  'two nodes, a window change, a flush, a clock step, forged 503s and replays: nothing runs twice',
  async () => {
    const requests = scale(300, 6000);
    const redis = await startRedis();
    toStop.push(() => redis.stop());
    await sleep(1100); // uptime past 0 s: no restart hold at start (the hold is tested elsewhere)
    const secret = generateSecret();
    const offsets = [0, 0];
    const executions = new Map<number, number>();
    const nodes: Array<{ url: string; core: RotatingEndpoint }> = [];
    for (let n = 0; n < 2; n++) {
      const replayStore = await createRedisReplayStore({
        url: redis.url,
        keyPrefix: 'wa:mixed:',
        retentionMs: RETENTION_MS,
        restartHoldMs: RETENTION_MS + SKEW_MS,
        commandTimeoutMs: 300,
      });
      toStop.push(() => replayStore.close());
      const core = await RotatingEndpoint.create({
        role: 'coreapp',
        secret,
        windowMs: WINDOW_MS,
        maxSkewMs: SKEW_MS,
        replayStore,
        clock: () => Date.now() + offsets[n]!,
      });
      const running = await listen(
        createServer(
          sealedHandler({ endpoint: core }, (req) => {
            const id = (req.payload as { id: number }).id;
            executions.set(id, (executions.get(id) ?? 0) + 1);
            return { done: id };
          }),
        ),
      );
      toStop.push(running.stop);
      nodes.push({ url: running.url, core });
    }

    // On the path to each node: one request in ten withheld, answered with a forged 503, and
    // delivered later; everything recorded for the attacker.
    const late: Array<Promise<unknown>> = [];
    const paths = await Promise.all(
      nodes.map((node) =>
        onPath(node.url, (entry) => {
          if (Math.random() >= 0.1) return false;
          late.push(sleep(100 + Math.random() * 900).then(() => deliver(node.url, entry).catch(() => undefined)));
          return true;
        }),
      ),
    );
    for (const path of paths) toStop.push(path.stop);

    const web = await createEndpoint({ role: 'webapp', secret, windowMs: WINDOW_MS, maxSkewMs: SKEW_MS });
    const retry = { attempts: 8, baseDelayMs: 50, maxDelayMs: 300, withinMs: WINDOW_MS - 500 };
    const clients: HttpClient[] = paths.map((path) => new HttpClient({ endpoint: web, baseUrl: path.url, retry }));
    for (const client of clients) toStop.push(() => client.close());

    const idOf = new Map<string, number>(); // request id → logical request, for the replay check
    const outcomes = new Map<string, number>();
    let next = 0;
    const worker = async (): Promise<void> => {
      while (next < requests) {
        const id = next++;
        const requestId = web.newRequestId();
        idOf.set(requestId, id);
        let outcome = 'ran';
        // The client retries network failures and sealed 503s itself; an unsealed answer (the
        // forged 503) it leaves to the application, which retries with the same id (README).
        for (let attempt = 1; attempt <= 3; attempt++) {
          outcome = await clients[id % 2]!.post('/v1/work', { id }, { requestId }).then(
            () => 'ran',
            (error: unknown) => (isWaTransportError(error) ? error.code : 'network'),
          );
          if (outcome !== ErrorCode.UNSEALED_RESPONSE) break;
        }
        outcomes.set(outcome, (outcomes.get(outcome) ?? 0) + 1);
      }
    };
    const events = (async () => {
      await sleep(400);
      await nodes[0]!.core.update({ windowMs: WINDOW_MS + 500 }); // a window change within retention
      await sleep(400);
      await redis.client().flushdb(); // Redis loses every key without restarting
      await sleep(400);
      offsets[1] = -800; // node 1's clock steps back 0.8 s (within the skew, so it keeps serving)
    })();
    await Promise.all([events, ...Array.from({ length: 8 }, worker)]);
    await Promise.all(late);

    // The attacker replays every request seen on either path, to both nodes.
    let replaysAccepted = 0;
    let replays = 0;
    for (const entry of paths.flatMap((path) => path.captured)) {
      const id = idOf.get(String(entry.headers['wa-request-id']));
      for (const node of nodes) {
        const ranBefore = (executions.get(id ?? -1) ?? 0) > 0;
        const answer = await deliver(node.url, entry).catch(() => undefined);
        replays++;
        if (answer?.status === 200 && ranBefore) replaysAccepted++;
      }
    }

    const executedTwice = [...executions.values()].filter((count) => count > 1).length;
    // ERR_WA_EXPIRED: a retry that reached the CoreApp after the window (2 s here), which a
    // loaded machine makes happen; like ERR_WA_REPLAYED it says "this id will never run now",
    // and the invariants below are what exactly once promises.
    const unexpected = [...outcomes].filter(
      ([outcome]) =>
        outcome !== 'ran' && outcome !== ErrorCode.REPLAYED && outcome !== ErrorCode.EXPIRED && !RETRIABLE.has(outcome),
    );
    recordFigures('faults/mixed', {
      logicalRequests: requests,
      executed: executions.size,
      executedTwice,
      replays,
      replaysAccepted,
      refusedRetriable: [...outcomes].filter(([o]) => RETRIABLE.has(o)).reduce((t, [, n]) => t + n, 0),
      lost: requests - executions.size,
      withheld: paths.reduce((t, p) => t + p.withheld.length, 0),
      captured: paths.reduce((t, p) => t + p.captured.length, 0),
      ...Object.fromEntries(outcomes),
    });
    expect(executedTwice).toBe(0);
    expect(replaysAccepted).toBe(0);
    expect(unexpected).toEqual([]);
  },
  TEST_TIMEOUT_MS,
);
