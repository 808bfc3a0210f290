/**
 * The Redis replay store under faults *while traffic flows*: two CoreApp nodes, each with its
 * own connection to a redis-server of our own (free port, no persistence), take a stream of
 * envelopes from a WebApp and from an attacker who replays every envelope already accepted;
 * meanwhile Redis is frozen (SIGSTOP: slow), killed (down) and restarted empty. Fail closed
 * throughout, recover by itself, and no envelope is ever accepted twice.
 * (test/replay/redis.test.ts covers each fault on its own; this is the mixed, sustained case.)
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, describe, expect, it } from 'vitest';
import { type Endpoint, ErrorCode, createEndpoint, generateSecret } from '../../src/index.js';
import { type RedisReplayStore, createRedisReplayStore } from '../../src/replay/redis.js';
import { outcome } from '../helpers.js';
import { type RedisServer, startRedis } from '../redis/servers.js';
import { TEST_TIMEOUT_MS, recordFigures, scale } from '../soak/figures.js';

type Outcome = Awaited<ReturnType<typeof outcome>>;

let redis: RedisServer | undefined;
const stores: RedisReplayStore[] = [];
afterAll(async () => {
  for (const store of stores) await store.close();
  await redis?.stop();
});

describe('Redis frozen, killed and restarted mid-traffic', () => {
  it(
    'fails closed, recovers by itself, and accepts no envelope twice',
    async () => {
      const server = await startRedis();
      redis = server;
      const windowMs = 1500;
      const maxSkewMs = 200;
      const retentionMs = windowMs + 100;
      const options = {
        url: server.url,
        keyPrefix: 'wa:faults:',
        commandTimeoutMs: 150,
        retentionMs,
        // The hold covers the longest a key lives: retention + skew.
        restartHoldMs: retentionMs + maxSkewMs,
      };
      const secret = generateSecret();
      const web = await createEndpoint({ role: 'webapp', secret, windowMs, maxSkewMs });
      const nodes: Endpoint[] = [];
      for (let i = 0; i < 2; i++) {
        const store = await createRedisReplayStore(options);
        stores.push(store);
        nodes.push(await createEndpoint({ role: 'coreapp', secret, windowMs, maxSkewMs, replayStore: store }));
      }

      const acceptedNonces = new Set<string>();
      const counts = new Map<string, number>();
      const count = (key: string): void => void counts.set(key, (counts.get(key) ?? 0) + 1);
      let acceptedTwice = 0;
      const accepted: Uint8Array[] = [];
      const deliver = async (node: Endpoint, envelope: Uint8Array, role: 'legit' | 'replay'): Promise<Outcome> => {
        const result = await outcome(node.open(envelope));
        count(`${role}:${result}`);
        if (result === 'accepted') {
          const key = Buffer.from(envelope.subarray(15, 39)).toString('hex');
          if (acceptedNonces.has(key)) acceptedTwice++;
          acceptedNonces.add(key);
          accepted.push(envelope);
        }
        return result;
      };

      // The first connection to a young server holds (it may have lost nonces): wait it out.
      for (const node of nodes) {
        for (let i = 0; (await outcome(node.open(web.seal('warm-up')))) !== 'accepted'; i++) {
          if (i > 500) throw new Error('Redis store never became available');
          await sleep(10);
        }
      }
      const messages = scale(300, 20_000);
      let delivered = 0;
      let retries = 0;
      let phase = 'up';
      let faultsDone = false;
      const sending = (): boolean => !faultsDone || delivered < messages;
      const faults = (async () => {
        const steps: Array<[string, () => Promise<void> | void, number]> = [
          ['frozen', () => server.freeze(), 400],
          ['thawed', () => server.thaw(), 600],
          ['killed', () => server.kill(), 400],
          ['restarted', () => server.restart(), 0],
        ];
        await sleep(300);
        for (const [name, act, wait] of steps) {
          await act();
          phase = name;
          await sleep(wait);
        }
        faultsDone = true;
      })();

      const attacker = (async () => {
        while (sending()) {
          await sleep(2);
          const victim = accepted[Math.floor(Math.random() * accepted.length)];
          if (victim !== undefined) await deliver(nodes[Math.floor(Math.random() * 2)]!, victim, 'replay');
        }
      })();

      const senders = Array.from({ length: 4 }, async (_, w) => {
        while (sending()) {
          await sleep(2);
          const payload = { w, n: delivered };
          // A refused send is retried with a *new* envelope (a new seal), as a client should.
          for (let attempt = 0; ; attempt++) {
            const node = nodes[(w + attempt) % 2]!;
            const result = await deliver(node, web.seal(payload), 'legit');
            if (result === 'accepted') break;
            expect([ErrorCode.REPLAY_STORE_UNAVAILABLE]).toContain(result);
            retries++;
            if (attempt > 2000) throw new Error(`no recovery (phase ${phase})`);
            await sleep(10);
          }
          delivered++;
        }
      });
      await Promise.all([...senders, faults]);
      await attacker;

      expect(phase).toBe('restarted');
      expect(acceptedTwice).toBe(0);
      expect(counts.get('replay:accepted') ?? 0).toBe(0);
      expect(counts.get('replay:ERR_WA_REPLAYED') ?? 0).toBeGreaterThan(0);
      recordFigures('faults/redis-mid-traffic', {
        messagesDelivered: delivered,
        lost: 0,
        envelopesAcceptedTwice: acceptedTwice,
        retriesWhileUnavailable: retries,
        ...Object.fromEntries(counts),
      });
    },
    TEST_TIMEOUT_MS,
  );

  it(
    'an envelope whose SET timed out is taken back: the same bytes, resent, are accepted exactly once',
    async () => {
      // Failing closed on a timeout: Redis may still run the SET (it was merely slow). The store
      // takes its record back (on the same connection, so after the SET), so a resend, or a retry
      // carrying the same request id, is not mistaken for a replay.
      const slow = await startRedis();
      try {
        const store = await createRedisReplayStore({
          url: slow.url,
          keyPrefix: 'wa:faults2:',
          commandTimeoutMs: 100,
          restartHoldMs: 0,
        });
        stores.push(store);
        const secret = generateSecret();
        const web = await createEndpoint({ role: 'webapp', secret });
        const core = await createEndpoint({ role: 'coreapp', secret, replayStore: store });
        slow.freeze();
        const envelope = web.seal('slow');
        expect(await outcome(core.open(envelope))).toBe(ErrorCode.REPLAY_STORE_UNAVAILABLE);
        slow.thaw(); // Redis wakes up and runs the SET it had already received, then the take-back
        let again: Outcome = ErrorCode.REPLAY_STORE_UNAVAILABLE;
        for (let i = 0; i < 200 && again === ErrorCode.REPLAY_STORE_UNAVAILABLE; i++) {
          await sleep(10);
          again = await outcome(core.open(envelope));
        }
        expect(again).toBe('accepted');
        expect(await outcome(core.open(envelope))).toBe(ErrorCode.REPLAYED);
        expect(await outcome(core.open(web.seal('slow')))).toBe('accepted');
      } finally {
        await slow.stop();
      }
    },
    TEST_TIMEOUT_MS,
  );
});
