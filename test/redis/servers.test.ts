/**
 * The harness itself (test/redis/servers.ts): a Cluster of 3 masters and 3 replicas, and a
 * Sentinel setup, come up, serve ioredis, and fail over when a master is SIGKILLed. The
 * replay-store tests on these setups rely on exactly this.
 */
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type RedisClusterHandle, type RedisSentinelHandle, startCluster, startSentinel } from './servers.js';

// Start-up (cluster create, sentinel discovery) and a failover take seconds each.
const SLOW_MS = 60_000;
const SLOTS = 16_384;

describe('startCluster', () => {
  let cluster: RedisClusterHandle;
  beforeAll(async () => {
    cluster = await startCluster({ masters: 3, replicasPerMaster: 1 });
  }, SLOW_MS);
  afterAll(() => cluster?.stop());

  it(
    'comes up with 3 masters and 3 replicas, and a replica takes over a killed master',
    async () => {
      const before = await cluster.nodes();
      const masters = before.filter((n) => n.role === 'master');
      expect(masters).toHaveLength(3);
      expect(before.filter((n) => n.role === 'replica')).toHaveLength(3);
      expect(before.every((n) => !n.failed && n.pid !== undefined)).toBe(true);
      expect(masters.flatMap((n) => n.slots).reduce((sum, [from, to]) => sum + to - from + 1, 0)).toBe(SLOTS);
      expect(cluster.seeds).toHaveLength(6);

      const client = cluster.client();
      expect(await client.cluster('INFO')).toContain('cluster_state:ok');
      // Keys on every master's slots, written and read through ioredis's slot routing.
      const keys = Array.from({ length: 60 }, (_, i) => `harness:${i}`);
      const masterOf = async (key: string): Promise<string> => {
        const slot = Number(await client.cluster('KEYSLOT', key));
        return masters.find((m) => m.slots.some(([from, to]) => slot >= from && slot <= to))!.id;
      };
      expect(new Set(await Promise.all(keys.map(masterOf))).size).toBe(3);
      await Promise.all(keys.map((key) => client.set(key, 'before')));
      expect(await Promise.all(keys.map((key) => client.get(key)))).toEqual(keys.map(() => 'before'));

      const { killed, promoted } = await cluster.killMaster(0);
      expect(killed.slots.some(([from]) => from === 0)).toBe(true);
      expect(before.find((n) => n.id === promoted.id)?.masterId).toBe(killed.id); // its own replica
      const after = await cluster.nodes();
      expect(after.find((n) => n.id === killed.id)).toMatchObject({ failed: true, pid: undefined });
      expect(after.filter((n) => n.role === 'master' && !n.failed)).toHaveLength(3);
      expect(await client.cluster('INFO')).toContain('cluster_state:ok');
      // The same client follows the new topology, on every slot.
      await Promise.all(keys.map((key) => client.set(key, 'after')));
      expect(await Promise.all(keys.map((key) => client.get(key)))).toEqual(keys.map(() => 'after'));
    },
    SLOW_MS,
  );
});

describe('startSentinel', () => {
  let sentinel: RedisSentinelHandle;
  beforeAll(async () => {
    sentinel = await startSentinel();
  }, SLOW_MS);
  afterAll(() => sentinel?.stop());

  /** What each sentinel answers to SENTINEL get-master-addr-by-name. */
  const reported = (): Promise<string[]> =>
    Promise.all(
      sentinel.sentinels.map(async (address) => {
        const [host, port] = address.split(':');
        const client = new Redis({ host: host!, port: Number(port), lazyConnect: true });
        try {
          await client.connect();
          const [masterHost, masterPort] = (await client.call(
            'SENTINEL',
            'get-master-addr-by-name',
            sentinel.masterName,
          )) as [string, string];
          return `${masterHost}:${masterPort}`;
        } finally {
          client.disconnect();
        }
      }),
    );

  it(
    'three sentinels agree on the master, promote the replica when it is killed, and ioredis follows',
    async () => {
      expect(sentinel.sentinels).toHaveLength(3);
      const master = await sentinel.master();
      expect(await reported()).toEqual(Array(3).fill(`${master.host}:${master.port}`));

      const client = sentinel.client();
      await client.set('harness', 'before');
      expect(await client.get('harness')).toBe('before');
      expect(await client.config('GET', 'port')).toEqual(['port', String(master.port)]);

      const { killed, promoted } = await sentinel.killMaster();
      expect(killed).toEqual(master);
      expect(promoted.port).not.toBe(master.port);
      expect(await reported()).toEqual(Array(3).fill(`${promoted.host}:${promoted.port}`));
      // The same client reconnects through the sentinels to the promoted replica.
      await client.set('harness', 'after');
      expect(await client.get('harness')).toBe('after');
      expect(await client.config('GET', 'port')).toEqual(['port', String(promoted.port)]);
    },
    SLOW_MS,
  );
});
