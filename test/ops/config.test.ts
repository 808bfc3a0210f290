import { once } from 'node:events';
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as tls from 'node:tls';
import { inspect } from 'node:util';
import fc from 'fast-check';
import { generate } from 'selfsigned';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import {
  type Env,
  MAX_CONFIG_WINDOW_MS,
  endpointOptionsFromConfig,
  loadConfig,
  replayStoreFromConfig,
} from '../../src/ops/config.js';
import { createEndpoint } from '../../src/endpoint.js';
import { ErrorCode, isWaTransportError } from '../../src/errors.js';
import { generateSecret } from '../../src/keys.js';
import { MemoryReplayStore } from '../../src/replay/memory.js';
import { sharedRedisUrl } from '../redis/shared.js';

const SECRET = generateSecret();
const OTHER = generateSecret();
const THIRD = generateSecret();
/** uid and gid of `nobody` on Linux. */
const NOBODY = 65534;

/** Collects warnings instead of printing them. */
function collector(): { warn(record: object, message?: string): void; messages: string[] } {
  const messages: string[] = [];
  return { messages, warn: (_record, message) => messages.push(message ?? '') };
}

async function load(env: Env) {
  return loadConfig(env, { logger: collector() });
}

/** The error `loadConfig(env)` rejects with. */
async function failure(env: Env): Promise<{ code: string; message: string }> {
  try {
    await load(env);
  } catch (error) {
    if (!isWaTransportError(error)) throw error;
    return { code: error.code, message: error.message };
  }
  throw new Error(`expected ${JSON.stringify(Object.keys(env))} to be refused`);
}

describe('loadConfig: secrets', () => {
  it('needs only WA_SECRET and applies the documented defaults', async () => {
    const config = await load({ WA_SECRET: SECRET });
    expect(config.keyId).toMatch(/^[0-9a-f]{8}$/);
    expect(config.previousKeyIds).toEqual([]);
    expect(config.windowMs).toBe(10_000);
    expect(config.maxSkewMs).toBe(10_000);
    expect(config.webSecurityLevel).toBe('modern');
    expect(config.replayRedisUrl).toBeUndefined();
    expect(config.dbSsl).toBeUndefined();
    expect(config.warnings).toEqual([]);
  });

  it('refuses a missing or empty WA_SECRET, naming it', async () => {
    for (const env of [{}, { WA_SECRET: '' }]) {
      const error = await failure(env);
      expect(error.code).toBe(ErrorCode.CONFIG);
      expect(error.message).toContain('WA_SECRET is required');
    }
  });

  it('refuses weak secrets with ERR_WA_WEAK_SECRET, naming the variable', async () => {
    for (const weak of ['short', 'a'.repeat(64), 'ab'.repeat(32)]) {
      const error = await failure({ WA_SECRET: weak });
      expect(error.code).toBe(ErrorCode.WEAK_SECRET);
      expect(error.message).toContain('WA_SECRET');
      expect(error.message).not.toContain(weak);
    }
    const error = await failure({ WA_SECRET: SECRET, WA_PREVIOUS_SECRETS: `${OTHER},${'x'.repeat(40)}` });
    expect(error.code).toBe(ErrorCode.WEAK_SECRET);
    expect(error.message).toContain('WA_PREVIOUS_SECRETS item 2');
  });

  it('refuses a secret with surrounding whitespace (a newline from a secrets file)', async () => {
    const error = await failure({ WA_SECRET: `${SECRET}\n` });
    expect(error.code).toBe(ErrorCode.CONFIG);
    expect(error.message).toContain('WA_SECRET has leading or trailing whitespace');
  });

  it('reads WA_PREVIOUS_SECRETS as a comma-separated list', async () => {
    const config = await load({ WA_SECRET: SECRET, WA_PREVIOUS_SECRETS: `${OTHER},${THIRD}` });
    const other = await load({ WA_SECRET: OTHER });
    const third = await load({ WA_SECRET: THIRD });
    expect(config.previousKeyIds).toEqual([other.keyId, third.keyId]);
    expect((await load({ WA_SECRET: SECRET, WA_PREVIOUS_SECRETS: '' })).previousKeyIds).toEqual([]);
  });

  it('holds WA_PREVIOUS_SECRETS items to the rules of WA_SECRET: not trimmed, no invisible characters, not published, not guessable', async () => {
    for (const [list, code, problem] of [
      [` ${OTHER},${THIRD}`, ErrorCode.CONFIG, 'item 1 has leading or trailing whitespace'],
      [`${OTHER} , ${THIRD}`, ErrorCode.CONFIG, 'item 1 has leading or trailing whitespace'],
      [`${OTHER},${THIRD}\n`, ErrorCode.CONFIG, 'item 2 has leading or trailing whitespace'],
      [`${OTHER},${THIRD.slice(0, 9)}\u200b${THIRD.slice(9)}`, ErrorCode.CONFIG, 'item 2 contains U+200B'],
      [
        `${OTHER},Zt3kP1Yw0uV9qR2sN8mL4jH6gF5dS7aQ1xC3vB9nM0o`,
        ErrorCode.WEAK_SECRET,
        'item 2 (key id 14bc487c) is printed in',
      ],
      [`abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQ`, ErrorCode.WEAK_SECRET, 'item 1 follows a guessable pattern'],
    ] as const) {
      const error = await failure({ WA_SECRET: SECRET, WA_PREVIOUS_SECRETS: list });
      expect(error.code, list).toBe(code);
      expect(error.message).toContain(`WA_PREVIOUS_SECRETS ${problem}`);
      for (const secret of [OTHER, THIRD]) expect(error.message).not.toContain(secret);
    }
    const error = await failure({ WA_SECRET: `${SECRET.slice(0, 9)}\u2060${SECRET.slice(9)}` });
    expect(error).toMatchObject({
      code: ErrorCode.CONFIG,
      message: expect.stringContaining('WA_SECRET contains U+2060'),
    });
  });

  it.each([
    ['an empty item', `${OTHER},,${THIRD}`, 'item 2 is empty'],
    ['a trailing comma', `${OTHER},`, 'item 2 is empty'],
    ['WA_SECRET itself', `${OTHER},${SECRET}`, 'item 2 is the same as WA_SECRET'],
    ['a repeat', `${OTHER},${OTHER}`, 'item 2 repeats an earlier item'],
  ])('refuses WA_PREVIOUS_SECRETS with %s', async (_name, list, problem) => {
    const error = await failure({ WA_SECRET: SECRET, WA_PREVIOUS_SECRETS: list });
    expect(error.code).toBe(ErrorCode.CONFIG);
    expect(error.message).toContain(`WA_PREVIOUS_SECRETS ${problem}`);
  });

  it('never shows a secret in JSON, inspect, String or a spread', async () => {
    const config = await load({
      WA_SECRET: SECRET,
      WA_PREVIOUS_SECRETS: OTHER,
      WA_REPLAY_REDIS_URL: 'redis://:hunter2-redis-pass@127.0.0.1:6379/0',
    });
    const shown = [
      JSON.stringify(config),
      inspect(config, { depth: 10, showHidden: true }),
      String(config),
      `${config}`,
      JSON.stringify({ ...config }),
      inspect({ ...config }, { showHidden: true }),
      Object.getOwnPropertyNames(config).join(','),
    ];
    for (const text of shown) {
      expect(text).not.toContain(SECRET);
      expect(text).not.toContain(OTHER);
      expect(text).not.toContain('hunter2-redis-pass');
    }
    expect(JSON.parse(JSON.stringify(config))).toMatchObject({
      keyId: config.keyId,
      previousKeyIds: config.previousKeyIds,
    });
    expect(JSON.stringify(config)).toContain('redis://***@127.0.0.1:6379/0');
  });

  it.each([
    [
      'a user name alone (ioredis sends it as the password)',
      'redis://hunter2-as-user@127.0.0.1:6379',
      'redis://***@127.0.0.1:6379',
    ],
    ['user and password', 'rediss://app:hunter2-pw@cache.internal:6380/2', 'rediss://***@cache.internal:6380/2'],
    ['a password in the query', 'redis://127.0.0.1:6379/0?password=hunter2-q', 'redis://127.0.0.1:6379/0?***'],
  ])('never shows a Redis credential given as %s', async (_form, url, shown) => {
    const config = await load({ WA_SECRET: SECRET, WA_REPLAY_REDIS_URL: url });
    for (const text of [JSON.stringify(config), inspect(config, { depth: 10 }), String(config)]) {
      expect(text).not.toContain('hunter2');
    }
    expect(config.toJSON().replayRedisUrl).toBe(shown);
    expect(config.replayRedisUrl).toBe(url); // the store still gets the real one
  });

  it('property: no generated secret ever appears in what a config shows', async () => {
    await fc.assert(
      fc.asyncProperty(fc.uint8Array({ minLength: 32, maxLength: 48 }), async (bytes) => {
        const secret = Buffer.from(bytes).toString('base64url');
        let config;
        try {
          config = await load({ WA_SECRET: secret });
        } catch (error) {
          // Low-entropy draws are refused; that is the only acceptable failure.
          expect(isWaTransportError(error, ErrorCode.WEAK_SECRET)).toBe(true);
          return;
        }
        expect(JSON.stringify(config)).not.toContain(secret);
        expect(inspect(config, { showHidden: true, depth: 10 })).not.toContain(secret);
      }),
      { numRuns: 50 },
    );
  });
});

describe('loadConfig: separators and secrets from files', () => {
  it('refuses a space instead of a comma in WA_PREVIOUS_SECRETS, naming the variable and the fix', async () => {
    const refused = await failure({ WA_SECRET: SECRET, WA_PREVIOUS_SECRETS: `${OTHER} ${THIRD}` });
    expect(refused.code).toBe(ErrorCode.CONFIG);
    expect(refused.message).toContain('WA_PREVIOUS_SECRETS item 1 contains whitespace');
    expect(refused.message).toContain('commas');
    expect(refused.message).not.toContain(OTHER);
  });

  describe('WA_SECRET_FILE and WA_PREVIOUS_SECRETS_FILE', () => {
    const dir = mkdtempSync(join(tmpdir(), 'wa-secret-files-'));
    const file = (name: string, content: string): string => {
      const path = join(dir, name);
      writeFileSync(path, content);
      return path;
    };
    afterAll(() => rmSync(dir, { recursive: true, force: true }));

    it('reads the secrets from files, one trailing LF or CRLF removed as Docker secrets have it', async () => {
      const fromFiles = await load({
        WA_SECRET_FILE: file('secret', `${SECRET}\n`),
        WA_PREVIOUS_SECRETS_FILE: file('previous', `${OTHER},${THIRD}\r\n`),
      });
      const fromVariables = await load({ WA_SECRET: SECRET, WA_PREVIOUS_SECRETS: `${OTHER},${THIRD}` });
      expect({ ...fromFiles.toJSON(), secretsFrom: null }).toEqual({ ...fromVariables.toJSON(), secretsFrom: null });
      // Where they came from (a path, never the content):
      expect(fromFiles.toJSON().secretsFrom).toEqual({
        secret: `WA_SECRET_FILE (${join(dir, 'secret')})`,
        previousSecrets: `WA_PREVIOUS_SECRETS_FILE (${join(dir, 'previous')})`,
      });
      expect(fromVariables.toJSON().secretsFrom).toEqual({
        secret: 'WA_SECRET',
        previousSecrets: 'WA_PREVIOUS_SECRETS',
      });
      expect((await load({ WA_SECRET_FILE: file('bare', SECRET) })).keyId).toBe(fromVariables.keyId);
    });

    it('applies the same checks, naming the variable and the path, never the content', async () => {
      const twoNewlines = file('two-newlines', `${SECRET}\n\n`);
      let refused = await failure({ WA_SECRET_FILE: twoNewlines });
      expect(refused.code).toBe(ErrorCode.CONFIG);
      expect(refused.message).toContain(`WA_SECRET_FILE (${twoNewlines})`);
      expect(refused.message).not.toContain(SECRET);

      const weak = file('weak', 'passwordpasswordpasswordpassword1\n');
      refused = await failure({ WA_SECRET_FILE: weak });
      expect(refused.code).toBe(ErrorCode.WEAK_SECRET);
      expect(refused.message).toContain(`WA_SECRET_FILE (${weak})`);
      expect(refused.message).not.toContain('passwordpassword');

      const spaced = file('spaced', `${OTHER} ${THIRD}\n`);
      refused = await failure({ WA_SECRET: SECRET, WA_PREVIOUS_SECRETS_FILE: spaced });
      expect(refused.message).toContain(`WA_PREVIOUS_SECRETS_FILE (${spaced}) item 1 contains whitespace`);
      expect(refused.message).not.toContain(OTHER);

      refused = await failure({ WA_SECRET_FILE: join(dir, 'missing') });
      expect(refused).toMatchObject({ code: ErrorCode.CONFIG });
      expect(refused.message).toContain(`WA_SECRET_FILE names a file that cannot be read: ${join(dir, 'missing')}`);

      refused = await failure({ WA_SECRET_FILE: file('empty', '\n') });
      expect(refused.message).toContain('WA_SECRET_FILE names an empty file');
    });

    it('refuses a variable and its _FILE both set', async () => {
      const refused = await failure({ WA_SECRET: SECRET, WA_SECRET_FILE: file('both', SECRET) });
      expect(refused).toMatchObject({ code: ErrorCode.CONFIG });
      expect(refused.message).toContain('WA_SECRET and WA_SECRET_FILE are both set');
      const previous = await failure({
        WA_SECRET: SECRET,
        WA_PREVIOUS_SECRETS: OTHER,
        WA_PREVIOUS_SECRETS_FILE: file('both-previous', OTHER),
      });
      expect(previous.message).toContain('WA_PREVIOUS_SECRETS and WA_PREVIOUS_SECRETS_FILE are both set');
    });

    it('suggests WA_SECRET_FILE for a misspelt file variable', async () => {
      const refused = await failure({ WA_SECRET: SECRET, WA_SECRETS_FILE: '/run/secrets/wa' });
      expect(refused.message).toContain('did you mean WA_SECRET_FILE?');
    });
  });
});

describe('loadConfig: typos cannot weaken the deployment', () => {
  it('refuses WA_REDIS_URL (for WA_REPLAY_REDIS_URL) with a did-you-mean, so no node falls back to its own memory store', async () => {
    const error = await failure({ WA_SECRET: SECRET, WA_REDIS_URL: 'redis://:pw@127.0.0.1:6379' });
    expect(error.code).toBe(ErrorCode.CONFIG);
    expect(error.message).toContain('WA_REDIS_URL (did you mean WA_REPLAY_REDIS_URL?)');
    expect(error.message).toContain('WA_IGNORE_VARIABLES');
    expect(error.message).not.toContain(':pw@'); // the value is never echoed
  });

  it.each([
    ['WA_SECERT', 'WA_SECRET'],
    ['WA_WINDOW_MS', 'WA_REPLAY_WINDOW_MS'],
    ['WA_PREVIOUS_SECRET', 'WA_PREVIOUS_SECRETS'],
    ['WA_DB_SSL_CAFILE', 'WA_DB_SSL_CA'],
  ])('suggests %s → %s', async (typo, meant) => {
    expect((await failure({ WA_SECRET: SECRET, [typo]: '1' })).message).toContain(`${typo} (did you mean ${meant}?)`);
  });

  it('names an unknown variable without a guess when nothing is close, and lets other software keep its own', async () => {
    expect((await failure({ WA_SECRET: SECRET, WA_BUSINESS_PHONE: '1' })).message).toMatch(
      /unknown variable WA_BUSINESS_PHONE;/,
    );
    await expect(
      load({ WA_SECRET: SECRET, WA_BUSINESS_PHONE: '1', WA_IGNORE_VARIABLES: 'WA_BUSINESS_PHONE' }),
    ).resolves.toBeDefined();
    await expect(
      loadConfig({ WA_SECRET: SECRET, WA_BUSINESS_PHONE: '1' }, { ignoreVariables: ['WA_BUSINESS_PHONE'] }),
    ).resolves.toBeDefined();
  });

  it('reports every problem at once, not only the first', async () => {
    const error = await failure({
      WA_SECRET: SECRET,
      WA_REDIS_URL: 'redis://127.0.0.1',
      WA_REPLAY_WINDOW_MS: '10s',
      WA_WEB_SECURITY_LEVEL: 'paranoid',
      WA_DB_SSL_CA: '/nonexistent/ca.pem',
    });
    expect(error.code).toBe(ErrorCode.CONFIG);
    expect(error.message).toContain('4 problems');
    for (const name of ['WA_REDIS_URL', 'WA_REPLAY_WINDOW_MS', 'WA_WEB_SECURITY_LEVEL', 'WA_DB_SSL_CA']) {
      expect(error.message).toContain(name);
    }
  });
});

describe('loadConfig: window, skew, security level', () => {
  it('reads WA_REPLAY_WINDOW_MS and WA_MAX_SKEW_MS', async () => {
    const config = await load({ WA_SECRET: SECRET, WA_REPLAY_WINDOW_MS: '5000', WA_MAX_SKEW_MS: '0' });
    expect(config.windowMs).toBe(5000);
    expect(config.maxSkewMs).toBe(0);
  });

  it.each(['abc', '1e4', '0x10', '-1', '10s', ' 10', '10.5', '', '300001', '9999999999'])(
    'refuses WA_REPLAY_WINDOW_MS=%j (or treats empty as unset)',
    async (raw) => {
      if (raw === '') {
        expect((await load({ WA_SECRET: SECRET, WA_REPLAY_WINDOW_MS: raw })).windowMs).toBe(10_000);
        return;
      }
      const error = await failure({ WA_SECRET: SECRET, WA_REPLAY_WINDOW_MS: raw });
      expect(error.code).toBe(ErrorCode.CONFIG);
      expect(error.message).toContain('WA_REPLAY_WINDOW_MS must be');
    },
  );

  it('refuses a zero window but allows zero skew', async () => {
    expect((await failure({ WA_SECRET: SECRET, WA_REPLAY_WINDOW_MS: '0' })).message).toContain(
      'WA_REPLAY_WINDOW_MS must be between 1',
    );
    expect((await failure({ WA_SECRET: SECRET, WA_MAX_SKEW_MS: 'soon' })).message).toContain('WA_MAX_SKEW_MS');
  });

  it('property: a window is accepted exactly when it is digits within range', async () => {
    await fc.assert(
      fc.asyncProperty(fc.oneof(fc.string({ maxLength: 8 }), fc.nat({ max: 400_000 }).map(String)), async (raw) => {
        const valid = /^[0-9]+$/.test(raw) && Number(raw) >= 1 && Number(raw) <= MAX_CONFIG_WINDOW_MS;
        try {
          const config = await load({ WA_SECRET: SECRET, WA_REPLAY_WINDOW_MS: raw });
          expect(raw === '' || valid).toBe(true);
          if (raw !== '') expect(config.windowMs).toBe(Number(raw));
        } catch (error) {
          expect(valid).toBe(false);
          expect(isWaTransportError(error, ErrorCode.CONFIG)).toBe(true);
        }
      }),
      { numRuns: 200 },
    );
  });

  it('reads WA_WEB_SECURITY_LEVEL, in any case', async () => {
    for (const [raw, level] of [
      ['MODERN', 'modern'],
      ['INTERMEDIATE', 'intermediate'],
      ['OLD', 'old'],
      ['old', 'old'],
    ]) {
      expect((await load({ WA_SECRET: SECRET, WA_WEB_SECURITY_LEVEL: raw })).webSecurityLevel).toBe(level);
    }
    const error = await failure({ WA_SECRET: SECRET, WA_WEB_SECURITY_LEVEL: 'HIGH' });
    expect(error.code).toBe(ErrorCode.CONFIG);
    expect(error.message).toContain('WA_WEB_SECURITY_LEVEL must be one of');
  });
});

describe('loadConfig: WA_REPLAY_REDIS_URL', () => {
  it('accepts redis:// and rediss:// URLs', async () => {
    for (const url of ['redis://127.0.0.1:6379', 'rediss://user:pw@cache.internal:6380/2', 'redis://localhost']) {
      expect((await load({ WA_SECRET: SECRET, WA_REPLAY_REDIS_URL: url })).replayRedisUrl).toBe(url);
    }
  });

  it.each([
    ['not a URL', 'not a url :s3cr3tpw', 'is not a URL'],
    ['another scheme', 'http://:s3cr3tpw@127.0.0.1:6379', 'must start with redis:// or rediss://'],
    ['a non-numeric path', 'redis://:s3cr3tpw@127.0.0.1:6379/cache', 'path must be a database number'],
  ])('refuses %s without echoing the password', async (_name, url, problem) => {
    const error = await failure({ WA_SECRET: SECRET, WA_REPLAY_REDIS_URL: url });
    expect(error.code).toBe(ErrorCode.CONFIG);
    expect(error.message).toContain(`WA_REPLAY_REDIS_URL ${problem}`);
    expect(error.message).not.toContain('s3cr3tpw');
  });
});

describe('loadConfig: Redis Sentinel and Cluster', () => {
  it('reads sentinels with the master name, and cluster seed nodes; check-env shows the mode', async () => {
    const sentinel = await load({
      WA_SECRET: SECRET,
      WA_REPLAY_REDIS_SENTINELS: '10.0.0.1:26379, 10.0.0.2:26379,[::1]:26379',
      WA_REPLAY_REDIS_SENTINEL_MASTER: 'wa-core',
    });
    expect(sentinel.replayRedis).toEqual({
      mode: 'sentinel',
      nodes: ['10.0.0.1:26379', '10.0.0.2:26379', '[::1]:26379'],
      master: 'wa-core',
    });
    expect(sentinel.toJSON()).toMatchObject({
      replayRedisMode: 'sentinel',
      replayRedisSentinelMaster: 'wa-core',
      replayRedisUrl: null,
    });
    const cluster = await load({ WA_SECRET: SECRET, WA_REPLAY_REDIS_CLUSTER_NODES: 'redis-0:7000,redis-1:7001' });
    expect(cluster.toJSON()).toMatchObject({
      replayRedisMode: 'cluster',
      replayRedisNodes: ['redis-0:7000', 'redis-1:7001'],
    });
    // A node configured for a shared store never falls back to its own memory store.
    expect(() => endpointOptionsFromConfig(cluster, 'coreapp')).toThrow(
      /WA_REPLAY_REDIS_CLUSTER_NODES is set, so pass a replayStore/,
    );
  });

  it('reads WA_REPLAY_REDIS_USERNAME, _PASSWORD (data nodes) and _SENTINEL_PASSWORD, never shows them, refuses them misplaced', async () => {
    const config = await load({
      WA_SECRET: SECRET,
      WA_REPLAY_REDIS_CLUSTER_NODES: 'redis-0:7000',
      WA_REPLAY_REDIS_USERNAME: 'wa-core-user',
      WA_REPLAY_REDIS_PASSWORD: 'hunter2-cluster-pass',
    });
    expect(config.replayRedis).toMatchObject({ username: 'wa-core-user', password: 'hunter2-cluster-pass' });
    expect(config.toJSON()).toMatchObject({ replayRedisCredentials: 'username and password' });
    for (const text of [JSON.stringify(config), inspect(config, { depth: 10, showHidden: true }), String(config)]) {
      expect(text).not.toContain('hunter2-cluster-pass');
      expect(text).not.toContain('wa-core-user');
    }
    const sentinel = await load({
      WA_SECRET: SECRET,
      WA_REPLAY_REDIS_SENTINELS: '10.0.0.1:26379',
      WA_REPLAY_REDIS_SENTINEL_MASTER: 'wa',
      WA_REPLAY_REDIS_PASSWORD: 'hunter2-sentinel-pass',
    });
    expect(sentinel.toJSON()).toMatchObject({ replayRedisCredentials: 'password', replayRedisSentinelPassword: false });
    const guarded = await load({
      WA_SECRET: SECRET,
      WA_REPLAY_REDIS_SENTINELS: '10.0.0.1:26379',
      WA_REPLAY_REDIS_SENTINEL_MASTER: 'wa',
      WA_REPLAY_REDIS_SENTINEL_PASSWORD: 'hunter2-sentinels-own',
    });
    expect(guarded.replayRedis).toMatchObject({ sentinelPassword: 'hunter2-sentinels-own' });
    expect(guarded.toJSON()).toMatchObject({ replayRedisCredentials: null, replayRedisSentinelPassword: true });
    for (const text of [JSON.stringify(guarded), inspect(guarded, { depth: 10, showHidden: true }), String(guarded)])
      expect(text).not.toContain('hunter2-sentinels-own');
    const sentinelPasswordAlone = await failure({
      WA_SECRET: SECRET,
      WA_REPLAY_REDIS_CLUSTER_NODES: 'redis-0:7000',
      WA_REPLAY_REDIS_SENTINEL_PASSWORD: 'hunter2-misplaced',
    });
    expect(sentinelPasswordAlone.message).toContain(
      'WA_REPLAY_REDIS_SENTINEL_PASSWORD needs WA_REPLAY_REDIS_SENTINELS',
    );
    expect(sentinelPasswordAlone.message).not.toContain('hunter2-misplaced');
    const userAlone = await failure({
      WA_SECRET: SECRET,
      WA_REPLAY_REDIS_CLUSTER_NODES: 'redis-0:7000',
      WA_REPLAY_REDIS_USERNAME: 'u',
    });
    expect(userAlone.message).toContain('WA_REPLAY_REDIS_USERNAME needs WA_REPLAY_REDIS_PASSWORD');
    const withUrl = await failure({
      WA_SECRET: SECRET,
      WA_REPLAY_REDIS_URL: 'redis://127.0.0.1:6379',
      WA_REPLAY_REDIS_PASSWORD: 'hunter2-url-pass',
    });
    expect(withUrl.message).toContain('WA_REPLAY_REDIS_PASSWORD is for WA_REPLAY_REDIS_SENTINELS');
    expect(withUrl.message).not.toContain('hunter2-url-pass');
  });

  it('reads WA_REPLAY_REDIS_REPLICA_ACKS (default 0), and refuses it malformed or without a Redis, naming it', async () => {
    const cluster = { WA_SECRET: SECRET, WA_REPLAY_REDIS_CLUSTER_NODES: 'redis-0:7000' };
    expect((await load(cluster)).replayRedisReplicaAcks).toBe(0);
    const acks = await load({ ...cluster, WA_REPLAY_REDIS_REPLICA_ACKS: '2' });
    expect(acks.replayRedisReplicaAcks).toBe(2);
    expect(acks.toJSON()).toMatchObject({ replayRedisReplicaAcks: 2 });
    for (const bad of ['-1', '1.5', 'one', '101']) {
      const error = await failure({ ...cluster, WA_REPLAY_REDIS_REPLICA_ACKS: bad });
      expect(error.message).toContain('WA_REPLAY_REDIS_REPLICA_ACKS must be a whole number from 0 to 100');
    }
    const alone = await failure({ WA_SECRET: SECRET, WA_REPLAY_REDIS_REPLICA_ACKS: '1' });
    expect(alone.message).toContain('WA_REPLAY_REDIS_REPLICA_ACKS needs a replay Redis');
  });

  it.each([
    [
      { WA_REPLAY_REDIS_URL: 'redis://127.0.0.1:6379', WA_REPLAY_REDIS_CLUSTER_NODES: '127.0.0.1:7000' },
      'WA_REPLAY_REDIS_CLUSTER_NODES and WA_REPLAY_REDIS_URL are both set',
    ],
    [
      { WA_REPLAY_REDIS_SENTINELS: '127.0.0.1:26379', WA_REPLAY_REDIS_CLUSTER_NODES: '127.0.0.1:7000' },
      'WA_REPLAY_REDIS_CLUSTER_NODES and WA_REPLAY_REDIS_SENTINELS are both set',
    ],
    [
      { WA_REPLAY_REDIS_SENTINELS: '127.0.0.1:26379' },
      'WA_REPLAY_REDIS_SENTINELS needs WA_REPLAY_REDIS_SENTINEL_MASTER',
    ],
    [{ WA_REPLAY_REDIS_SENTINEL_MASTER: 'wa' }, 'WA_REPLAY_REDIS_SENTINEL_MASTER needs WA_REPLAY_REDIS_SENTINELS'],
    [
      { WA_REPLAY_REDIS_CLUSTER_NODES: '127.0.0.1:7000,127.0.0.1:70001' },
      'WA_REPLAY_REDIS_CLUSTER_NODES 127.0.0.1:70001 is not host:port',
    ],
    [{ WA_REPLAY_REDIS_CLUSTER_NODES: '127.0.0.1' }, 'WA_REPLAY_REDIS_CLUSTER_NODES 127.0.0.1 is not host:port'],
    [
      { WA_REPLAY_REDIS_SENTINELS: 'a:1 b:2', WA_REPLAY_REDIS_SENTINEL_MASTER: 'm' },
      'WA_REPLAY_REDIS_SENTINELS a:1 b:2 is not host:port',
    ],
  ])('refuses %o', async (env, message) => {
    const error = await failure({ WA_SECRET: SECRET, ...env });
    expect(error.code).toBe(ErrorCode.CONFIG);
    expect(error.message).toContain(message);
  });
});

describe('loadConfig: database TLS', () => {
  let dir: string;
  let ca: { cert: string; key: string };
  let server: { cert: string; key: string };
  let client: { cert: string; key: string };
  let stranger: { cert: string; key: string };
  const file = (name: string) => join(dir, name);

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'wa-config-'));
    const caPems = await generate([{ name: 'commonName', value: 'wa test CA' }], {
      keyType: 'ec',
      algorithm: 'sha256',
      extensions: [
        { name: 'basicConstraints', cA: true, critical: true },
        { name: 'keyUsage', keyCertSign: true, cRLSign: true, digitalSignature: true },
      ],
    });
    ca = { cert: caPems.cert, key: caPems.private };
    const signed = async (cn: string, serverAuth: boolean) => {
      const pems = await generate([{ name: 'commonName', value: cn }], {
        keyType: 'ec',
        algorithm: 'sha256',
        ca,
        extensions: [
          { name: 'basicConstraints', cA: false },
          { name: 'keyUsage', digitalSignature: true },
          { name: 'extKeyUsage', serverAuth, clientAuth: !serverAuth },
          { name: 'subjectAltName', altNames: [{ type: 2, value: cn }] },
        ],
      });
      return { cert: pems.cert, key: pems.private };
    };
    server = await signed('localhost', true);
    client = await signed('webapp', false);
    const strangerPems = await generate([{ name: 'commonName', value: 'localhost' }], {
      keyType: 'ec',
      algorithm: 'sha256',
    });
    stranger = { cert: strangerPems.cert, key: strangerPems.private };
    writeFileSync(file('ca.pem'), ca.cert);
    writeFileSync(file('client.pem'), client.cert);
    writeFileSync(file('client.key'), client.key);
    writeFileSync(file('stranger.key'), stranger.key);
    writeFileSync(file('garbage.pem'), 'hello\n');
    writeFileSync(file('empty.pem'), '');
  });

  afterAll(() => {
    rmSync(dir, { recursive: true, force: true });
  });

  it('builds the ssl object pg and mysql2 take from the three files', async () => {
    const config = await load({
      WA_SECRET: SECRET,
      WA_DB_SSL_CA: file('ca.pem'),
      WA_DB_SSL_CERT: file('client.pem'),
      WA_DB_SSL_KEY: file('client.key'),
    });
    expect(config.dbSsl).toEqual({ rejectUnauthorized: true, ca: ca.cert, cert: client.cert, key: client.key });
    expect(config.warnings).toEqual([]);
    // Shown as paths, never as PEM.
    const shown = JSON.stringify(config) + inspect(config, { showHidden: true, depth: 10 });
    expect(shown).toContain(file('client.key'));
    expect(shown).not.toContain('PRIVATE KEY');
    expect(config.toJSON().dbSsl).toEqual({
      rejectUnauthorized: true,
      ca: file('ca.pem'),
      cert: file('client.pem'),
      key: file('client.key'),
    });
  });

  it('the ssl object works as tls.connect options (what pg and mysql2 pass it to)', async () => {
    const config = await load({
      WA_SECRET: SECRET,
      WA_DB_SSL_CA: file('ca.pem'),
      WA_DB_SSL_CERT: file('client.pem'),
      WA_DB_SSL_KEY: file('client.key'),
    });
    const tlsServer = tls.createServer({
      cert: server.cert,
      key: server.key,
      ca: ca.cert,
      requestCert: true,
      rejectUnauthorized: true,
    });
    const peers: string[] = [];
    tlsServer.on('secureConnection', (socket) => {
      peers.push(String((socket.getPeerCertificate() as { subject?: { CN?: string } }).subject?.CN));
      socket.end('ok');
    });
    tlsServer.listen(0, '127.0.0.1');
    await once(tlsServer, 'listening');
    const { port } = tlsServer.address() as AddressInfo;
    try {
      const socket = tls.connect({ host: '127.0.0.1', port, servername: 'localhost', ...config.dbSsl });
      await once(socket, 'secureConnect');
      expect(socket.authorized).toBe(true);
      // The server answers only once it has verified our client certificate.
      const [answer] = (await once(socket, 'data')) as [Buffer];
      expect(answer.toString()).toBe('ok');
      expect(peers).toEqual(['webapp']);
      socket.destroy();

      // Verification on, but the server's CA not trusted: the connection is refused.
      const strict = await load({ WA_SECRET: SECRET, WA_DB_SSL_VERIFY: '1' });
      const refused = tls.connect({ host: '127.0.0.1', port, servername: 'localhost', ...strict.dbSsl });
      const [error] = (await once(refused, 'error')) as [NodeJS.ErrnoException];
      expect(error.code).toMatch(/UNABLE_TO_VERIFY|SELF_SIGNED|UNABLE_TO_GET_ISSUER/);
    } finally {
      tlsServer.close();
    }
  });

  it('turns verification off only for exactly "0", with a warning', async () => {
    const logger = collector();
    const off = await loadConfig(
      { WA_SECRET: SECRET, WA_DB_SSL_VERIFY: '0', WA_DB_SSL_CA: file('ca.pem') },
      { logger },
    );
    expect(off.dbSsl).toEqual({ rejectUnauthorized: false, ca: ca.cert });
    expect(logger.messages.join('\n')).toMatch(/verification is OFF/);
    expect(off.warnings).toEqual(logger.messages);

    for (const raw of ['1', 'false', 'no', 'off', '00']) {
      const config = await load({ WA_SECRET: SECRET, WA_DB_SSL_VERIFY: raw });
      expect(config.dbSsl).toEqual({ rejectUnauthorized: true });
      if (raw !== '1') expect(config.warnings.join()).toContain('stays ON');
    }
  });

  it('warns through process.emitWarning when no logger is given', async () => {
    const spy = vi.spyOn(process, 'emitWarning').mockImplementation(() => {});
    try {
      await loadConfig({ WA_SECRET: SECRET, WA_DB_SSL_VERIFY: '0' });
      expect(spy).toHaveBeenCalledWith(expect.stringContaining('verification is OFF'), {
        type: 'SecurityWarning',
        code: 'WA_DB_SSL_VERIFY',
      });
    } finally {
      spy.mockRestore();
    }
  });

  it.each([
    ['WA_DB_SSL_CA', 'missing.pem', 'does not exist'],
    ['WA_DB_SSL_CA', '.', 'is a directory, not a file'],
    ['WA_DB_SSL_CA', 'ca.pem/inside', 'cannot be read (ENOTDIR)'],
    ['WA_DB_SSL_CA', 'garbage.pem', 'is not a PEM certificate'],
    ['WA_DB_SSL_CA', 'empty.pem', 'is not a PEM certificate'],
    ['WA_DB_SSL_CERT', 'client.key', 'is not a PEM certificate'],
    ['WA_DB_SSL_KEY', 'client.pem', 'is not an unencrypted PEM private key'],
  ])('reports %s=%s by variable and path: %s', async (variable, name, problem) => {
    const env: Record<string, string> = {
      WA_SECRET: SECRET,
      WA_DB_SSL_CA: file('ca.pem'),
      WA_DB_SSL_CERT: file('client.pem'),
      WA_DB_SSL_KEY: file('client.key'),
      [variable]: file(name),
    };
    const error = await failure(env);
    expect(error.code).toBe(ErrorCode.CONFIG);
    expect(error.message).toContain(`${variable} file ${file(name)} ${problem}`);
    expect(error.message).not.toContain('PRIVATE KEY');
  });

  it('reports an unreadable file by path, when run as root too', async () => {
    const locked = file('locked.pem');
    writeFileSync(locked, ca.cert);
    chmodSync(locked, 0o000);
    // Root reads a file whatever its mode (CAP_DAC_OVERRIDE), and CI runs the suite as root: there
    // the read runs as `nobody`, as it does in a service that is not root, and root comes back after.
    const asRoot = process.geteuid?.() === 0;
    if (asRoot) {
      chmodSync(dir, 0o755); // so the file's own mode is the only thing refusing the read
      process.setegid!(NOBODY);
      process.seteuid!(NOBODY);
    }
    let error: { code: string; message: string };
    try {
      error = await failure({ WA_SECRET: SECRET, WA_DB_SSL_CA: locked });
    } finally {
      if (asRoot) {
        process.seteuid!(0);
        process.setegid!(0);
      }
    }
    expect(error.message).toContain(`WA_DB_SSL_CA file ${locked} is not readable (permission denied)`);
  });

  it('needs the client certificate and key together, and matching', async () => {
    expect((await failure({ WA_SECRET: SECRET, WA_DB_SSL_CERT: file('client.pem') })).message).toContain(
      'WA_DB_SSL_KEY is required too',
    );
    expect((await failure({ WA_SECRET: SECRET, WA_DB_SSL_KEY: file('client.key') })).message).toContain(
      'WA_DB_SSL_CERT is required too',
    );
    const error = await failure({
      WA_SECRET: SECRET,
      WA_DB_SSL_CERT: file('client.pem'),
      WA_DB_SSL_KEY: file('stranger.key'),
    });
    expect(error.message).toContain(`WA_DB_SSL_KEY (${file('stranger.key')}) is not the private key of WA_DB_SSL_CERT`);
  });

  it('reads the legacy WA_DB_CONNECTION_OPTION (libpq sslmode names) with a deprecation warning', async () => {
    const required = await load({ WA_SECRET: SECRET, WA_DB_CONNECTION_OPTION: 'require' });
    expect(required.dbSsl).toEqual({ rejectUnauthorized: false });
    expect(required.warnings[0]).toContain(
      'WA_DB_CONNECTION_OPTION is deprecated; replace require with WA_DB_SSL_VERIFY=0',
    );
    expect(required.warnings[1]).toContain('verification is OFF');

    for (const mode of ['verify-ca', 'verify-full']) {
      const config = await load({ WA_SECRET: SECRET, WA_DB_CONNECTION_OPTION: mode, WA_DB_SSL_CA: file('ca.pem') });
      expect(config.dbSsl).toEqual({ rejectUnauthorized: true, ca: ca.cert });
      expect(config.warnings).toHaveLength(1);
    }

    const disabled = await load({ WA_SECRET: SECRET, WA_DB_CONNECTION_OPTION: 'disable' });
    expect(disabled.dbSsl).toBeUndefined();
    expect(disabled.warnings[0]).toContain('deprecated');

    const both = await load({ WA_SECRET: SECRET, WA_DB_CONNECTION_OPTION: 'require', WA_DB_SSL_VERIFY: '1' });
    expect(both.dbSsl).toEqual({ rejectUnauthorized: true });
    expect(both.warnings[0]).toContain('deprecated and ignored because WA_DB_SSL_VERIFY is set');
  });

  it('refuses unknown or contradictory legacy values', async () => {
    for (const mode of ['prefer', 'allow', 'true', 'ssl=true']) {
      const error = await failure({ WA_SECRET: SECRET, WA_DB_CONNECTION_OPTION: mode });
      expect(error.message).toContain(
        'WA_DB_CONNECTION_OPTION must be one of disable, require, verify-ca, verify-full',
      );
    }
    const error = await failure({
      WA_SECRET: SECRET,
      WA_DB_CONNECTION_OPTION: 'disable',
      WA_DB_SSL_CA: file('ca.pem'),
    });
    expect(error.message).toContain('WA_DB_CONNECTION_OPTION is "disable" but WA_DB_SSL_CA/CERT/KEY are set');
  });
});

describe('endpointOptionsFromConfig', () => {
  it('gives both sides working endpoints, previous secrets included', async () => {
    const oldConfig = await load({ WA_SECRET: OTHER });
    const config = await load({ WA_SECRET: SECRET, WA_PREVIOUS_SECRETS: OTHER, WA_REPLAY_WINDOW_MS: '20000' });
    const web = await createEndpoint(endpointOptionsFromConfig(config, 'webapp'));
    const core = await createEndpoint(endpointOptionsFromConfig(config, 'coreapp'));
    const oldWeb = await createEndpoint(endpointOptionsFromConfig(oldConfig, 'webapp'));
    expect(core.windowMs).toBe(20_000);
    expect(core.keyIds).toEqual([config.keyId, ...config.previousKeyIds]);
    expect((await core.open(web.seal({ n: 1 }))).keyId).toBe(config.keyId);
    expect((await core.open(oldWeb.seal({ n: 2 }))).keyId).toBe(oldConfig.keyId);
  });

  it('lets extra options through but never role or secrets', async () => {
    const config = await load({ WA_SECRET: SECRET });
    const store = new MemoryReplayStore();
    const options = endpointOptionsFromConfig(config, 'coreapp', { replayStore: store, maxSkewMs: 500 });
    expect(options.replayStore).toBe(store);
    expect(options.maxSkewMs).toBe(500);
    expect(options.role).toBe('coreapp');
    expect(options.secret).toBe(SECRET);
  });

  it('fails closed when WA_REPLAY_REDIS_URL is set but no replay store is given', async () => {
    const config = await load({ WA_SECRET: SECRET, WA_REPLAY_REDIS_URL: 'redis://127.0.0.1:6379' });
    expect(() => endpointOptionsFromConfig(config, 'coreapp')).toThrow(
      /WA_REPLAY_REDIS_URL is set, so pass a replayStore/,
    );
    expect(endpointOptionsFromConfig(config, 'coreapp', { replayStore: new MemoryReplayStore() }).role).toBe('coreapp');
  });

  it('replayStoreFromConfig: memory without a URL, Redis (with a hold matching the window) with one', async () => {
    const plain = await replayStoreFromConfig(await load({ WA_SECRET: SECRET }));
    expect(plain).toBeInstanceOf(MemoryReplayStore);
    const config = await load({
      WA_SECRET: SECRET,
      // This one connects: to the run's Redis, once older than the hold below (5 + 2 + 1 s).
      WA_REPLAY_REDIS_URL: await sharedRedisUrl(8000),
      WA_REPLAY_WINDOW_MS: '5000',
      WA_MAX_SKEW_MS: '2000',
    });
    const store = await replayStoreFromConfig(config, { keyPrefix: `wa-config-test:${process.pid}:` });
    try {
      expect((store as unknown as { restartHoldMs: number }).restartHoldMs).toBe(5000 + 2000 + 1000);
      const core = await createEndpoint(endpointOptionsFromConfig(config, 'coreapp', { replayStore: store }));
      const web = await createEndpoint(
        endpointOptionsFromConfig(config, 'webapp', { replayStore: new MemoryReplayStore() }),
      );
      const envelope = web.seal('once');
      await core.open(envelope);
      await expect(core.open(envelope)).rejects.toMatchObject({ code: ErrorCode.REPLAYED });
    } finally {
      await store.close?.();
    }
  });
});
