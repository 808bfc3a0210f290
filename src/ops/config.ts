/**
 * Settings from the environment. Containers are configured by variables; this module reads
 * every `WA_*` variable once, at start-up, validates it and fails with a message naming the
 * variable and what is wrong, so a bad deployment stops before it serves a request.
 *
 * Secrets never leave a `WaConfig` by accident: they live in private fields, and `toJSON`,
 * `toString` and `util.inspect` show key ids, file paths and a password-free Redis URL only.
 * `endpointOptionsFromConfig` is the one way to hand the secrets to an endpoint.
 */
import { readFileSync } from 'node:fs';
import { inspect } from 'node:util';
import { sodiumReady } from '../crypto/ready.js';
import type { EndpointOptions, Role } from '../endpoint.js';
import { ErrorCode, WaTransportError, isWaTransportError } from '../errors.js';
import { Keyring } from '../keys.js';
import type { Logger } from '../log.js';
import { MemoryReplayStore } from '../replay/memory.js';
import { parseAddresses } from '../replay/addresses.js';
import type { RedisStoreSettings } from '../replay/redis-settings.js';
import type { ReplayStore } from '../replay/store.js';
import { type SecurityLevel, securityLevelFromEnv } from '../transport/tls-profiles.js';
import { type DbSslFiles, type DbSslOptions, readDbSsl } from './db-tls.js';
import { type Env, configError, value } from './env.js';

export type { DbSslOptions } from './db-tls.js';
export type { Env } from './env.js';

/**
 * Largest replay window and clock skew accepted, in ms (5 minutes, Kerberos's default skew).
 * Longer windows make the replay cache hold nonces longer and give a captured envelope longer
 * to be useful; a deployment needing more has a clock problem to fix instead.
 */
export const MAX_CONFIG_WINDOW_MS = 300_000;

export interface LoadConfigOptions {
  /**
   * Where warnings go (verification off, deprecated variable). Default: `process.emitWarning`,
   * so they reach stderr even when no logger is wired up yet.
   */
  logger?: Pick<Logger, 'warn'>;
  /**
   * `WA_*` variables that belong to other software and are not ours to refuse (as
   * WA_IGNORE_VARIABLES does from the environment). Any other unknown `WA_*` variable is an
   * error: a misspelt name would otherwise leave its setting at the default without a word.
   */
  ignoreVariables?: readonly string[];
}

/** Every variable loadConfig reads. Anything else named WA_* is refused (see ignoreVariables). */
export const KNOWN_VARIABLES: readonly string[] = [
  'WA_SECRET',
  'WA_SECRET_FILE',
  'WA_PREVIOUS_SECRETS',
  'WA_PREVIOUS_SECRETS_FILE',
  'WA_REPLAY_WINDOW_MS',
  'WA_MAX_SKEW_MS',
  'WA_WEB_SECURITY_LEVEL',
  'WA_REPLAY_REDIS_URL',
  'WA_REPLAY_REDIS_SENTINELS',
  'WA_REPLAY_REDIS_SENTINEL_MASTER',
  'WA_REPLAY_REDIS_CLUSTER_NODES',
  'WA_REPLAY_REDIS_REPLICA_ACKS',
  'WA_REPLAY_REDIS_USERNAME',
  'WA_REPLAY_REDIS_PASSWORD',
  'WA_REPLAY_REDIS_SENTINEL_PASSWORD',
  'WA_DB_SSL_CA',
  'WA_DB_SSL_CERT',
  'WA_DB_SSL_KEY',
  'WA_DB_SSL_VERIFY',
  'WA_DB_CONNECTION_OPTION',
  'WA_IGNORE_VARIABLES',
];

/** What a `WaConfig` shows of itself: safe to log and print. */
export interface WaConfigSummary {
  keyId: string;
  previousKeyIds: string[];
  /** Where the secrets were read: `WA_SECRET` or `WA_SECRET_FILE (path)`, and the same for the previous ones (null: none). */
  secretsFrom: { secret: string; previousSecrets: string | null };
  windowMs: number;
  maxSkewMs: number;
  webSecurityLevel: SecurityLevel;
  replayRedisUrl: string | null;
  /** Which shared replay store: one Redis (by URL), a master behind Sentinel, a Redis Cluster; null: in-memory. */
  replayRedisMode: 'url' | 'sentinel' | 'cluster' | null;
  /** The sentinels or the cluster's seed nodes (`host:port`), or null. */
  replayRedisNodes: string[] | null;
  /** WA_REPLAY_REDIS_SENTINEL_MASTER, or null. */
  replayRedisSentinelMaster: string | null;
  /** WA_REPLAY_REDIS_REPLICA_ACKS: replicas that acknowledge each batch (WAIT); 0: none. */
  replayRedisReplicaAcks: number;
  /** Which of WA_REPLAY_REDIS_USERNAME and _PASSWORD are set (never their values), or null. */
  replayRedisCredentials: 'password' | 'username and password' | null;
  /** Whether WA_REPLAY_REDIS_SENTINEL_PASSWORD is set (never its value). */
  replayRedisSentinelPassword: boolean;
  dbSsl: { rejectUnauthorized: boolean; ca: string | null; cert: string | null; key: string | null } | null;
  warnings: string[];
}

interface Secrets {
  readonly secret: string;
  readonly previousSecrets: readonly string[];
  /** What errors call each secret: its variable (or file), current first. */
  readonly names: readonly string[];
}

/**
 * The secrets of each config, reachable only from this module: no property, method or
 * serialisation of a `WaConfig` can hand them out, only `endpointOptionsFromConfig`.
 */
const SECRETS = new WeakMap<WaConfig, Secrets>();

/** Validated settings. Build one with `loadConfig`. */
export class WaConfig {
  /** Key id of WA_SECRET: the secret this process seals with. */
  readonly keyId: string;
  /** Key ids of WA_PREVIOUS_SECRETS, in order: accepted when opening, never used to seal. */
  readonly previousKeyIds: readonly string[];
  readonly windowMs: number;
  readonly maxSkewMs: number;
  readonly webSecurityLevel: SecurityLevel;
  /** WA_REPLAY_REDIS_REPLICA_ACKS: the Redis store's `replicaAcks` (0: no WAIT). */
  readonly replayRedisReplicaAcks: number;
  /** Everything that was logged as a warning while loading, for `check-env` and tests. */
  readonly warnings: readonly string[];
  readonly #redisUrl: string | undefined;
  readonly #redis: ReplayRedis | undefined;
  readonly #dbSsl: DbSslFiles | undefined;

  /** @internal Use `loadConfig`. */
  constructor(fields: {
    secrets: Secrets;
    keyIds: string[];
    windowMs: number;
    maxSkewMs: number;
    webSecurityLevel: SecurityLevel;
    redis: ReplayRedis | undefined;
    replicaAcks: number;
    dbSsl: DbSslFiles | undefined;
    warnings: string[];
  }) {
    SECRETS.set(this, fields.secrets);
    this.keyId = fields.keyIds[0]!;
    this.previousKeyIds = Object.freeze(fields.keyIds.slice(1));
    this.windowMs = fields.windowMs;
    this.maxSkewMs = fields.maxSkewMs;
    this.webSecurityLevel = fields.webSecurityLevel;
    this.#redis = fields.redis;
    this.replayRedisReplicaAcks = fields.replicaAcks;
    this.#redisUrl = fields.redis?.mode === 'url' ? fields.redis.url : undefined;
    this.#dbSsl = fields.dbSsl;
    this.warnings = Object.freeze([...fields.warnings]);
    Object.freeze(this);
  }

  /**
   * WA_REPLAY_REDIS_URL as given, password included: for connecting a Redis replay store.
   * A getter, so it is not an own property and `JSON.stringify` or a spread never copies it.
   */
  get replayRedisUrl(): string | undefined {
    return this.#redisUrl;
  }

  /** Where the shared replay store is (WA_REPLAY_REDIS_*), password included; undefined: in memory. */
  get replayRedis(): ReplayRedis | undefined {
    return this.#redis;
  }

  /**
   * The `ssl` option for `pg` / `mysql2`, or undefined when no WA_DB_SSL_* variable is set
   * (the driver's own default applies). Holds the private key's PEM: pass it, do not log it.
   */
  get dbSsl(): DbSslOptions | undefined {
    return this.#dbSsl?.options;
  }

  toJSON(): WaConfigSummary {
    const ssl = this.#dbSsl;
    return {
      keyId: this.keyId,
      secretsFrom: secretsFrom(SECRETS.get(this)!),
      previousKeyIds: [...this.previousKeyIds],
      windowMs: this.windowMs,
      maxSkewMs: this.maxSkewMs,
      webSecurityLevel: this.webSecurityLevel,
      replayRedisUrl: this.#redisUrl === undefined ? null : redactUrl(this.#redisUrl),
      replayRedisMode: this.#redis?.mode ?? null,
      replayRedisNodes:
        this.#redis?.mode === 'sentinel' || this.#redis?.mode === 'cluster' ? [...this.#redis.nodes] : null,
      replayRedisSentinelMaster: this.#redis?.mode === 'sentinel' ? this.#redis.master : null,
      replayRedisReplicaAcks: this.replayRedisReplicaAcks,
      replayRedisCredentials:
        this.#redis?.mode === 'sentinel' || this.#redis?.mode === 'cluster'
          ? this.#redis.password === undefined
            ? null
            : this.#redis.username === undefined
              ? 'password'
              : 'username and password'
          : null,
      replayRedisSentinelPassword: this.#redis?.mode === 'sentinel' && this.#redis.sentinelPassword !== undefined,
      dbSsl: ssl === undefined ? null : { rejectUnauthorized: ssl.options.rejectUnauthorized, ...ssl.paths },
      warnings: [...this.warnings],
    };
  }

  toString(): string {
    return `WaConfig(key ${[this.keyId, ...this.previousKeyIds].join(', ')})`;
  }

  [inspect.custom](): string {
    return `WaConfig ${inspect(this.toJSON(), { depth: 3 })}`;
  }
}

/**
 * Reads and validates the configuration from `env` (default `process.env`; any plain object
 * works, e.g. in tests). Rejects with ERR_WA_WEAK_SECRET for a weak secret and ERR_WA_CONFIG
 * for anything else, naming the variable. Asynchronous only because key ids need libsodium.
 *
 * An empty variable counts as unset (`WA_PREVIOUS_SECRETS=` in a compose file means none).
 */
export async function loadConfig(env: Env = process.env, options: LoadConfigOptions = {}): Promise<WaConfig> {
  // Every problem is collected, so a deployment learns all of them from one start (or check-env).
  const problems: WaTransportError[] = [];
  const attempt = <T>(read: () => T): T | undefined => {
    try {
      return read();
    } catch (error) {
      if (!isWaTransportError(error)) throw error;
      problems.push(error);
      return undefined;
    }
  };
  const warnings: string[] = [];
  const warn = (variable: string, message: string, kind: 'security' | 'deprecation'): void => {
    warnings.push(message);
    if (options.logger !== undefined) {
      const event = kind === 'security' ? 'wa_transport.config.security' : 'wa_transport.config.deprecation';
      options.logger.warn({ event, variable }, message);
    } else {
      process.emitWarning(message, {
        type: kind === 'deprecation' ? 'DeprecationWarning' : 'SecurityWarning',
        code: variable,
      });
    }
  };

  // Key ids, and the strength check (src/keys.ts), come from libsodium's KDF; no AEAD backend is needed here.
  await sodiumReady();
  attempt(() => checkVariableNames(env, options.ignoreVariables ?? []));
  const secrets = attempt(() => readSecrets(env));
  // The key schedule's own checks (format, strength, distinct key ids), with errors naming
  // where each secret came from: the same Keyring an endpoint builds, so the two never differ.
  const keyring =
    secrets === undefined
      ? undefined
      : attempt(() => new Keyring(secrets.secret, secrets.previousSecrets, secrets.names));
  const windowMs = attempt(() => readMs(env, 'WA_REPLAY_WINDOW_MS', 10_000, 1));
  const maxSkewMs = attempt(() => readMs(env, 'WA_MAX_SKEW_MS', 10_000, 0));
  // transport/tls-profiles.ts owns the profile names: modern | intermediate | old, any case.
  const webSecurityLevel = attempt(() => securityLevelFromEnv(env));
  const redis = attempt(() => readReplayRedis(env));
  const replicaAcks = attempt(() => readReplicaAcks(env));
  const dbSsl = attempt(() => readDbSsl(env, warn));
  if (problems.length === 1) throw problems[0]!;
  if (problems.length > 1) {
    const list = problems.map((problem) => `\n  - ${problem.message}`).join('');
    throw new WaTransportError(ErrorCode.CONFIG, `${problems.length} problems:${list}`, { cause: problems });
  }
  // No problem: every read returned (redis and dbSsl may be undefined: not set).
  return new WaConfig({
    secrets: secrets!,
    keyIds: keyring!.keyIds,
    windowMs: windowMs!,
    maxSkewMs: maxSkewMs!,
    webSecurityLevel: webSecurityLevel!,
    redis,
    replicaAcks: replicaAcks!,
    dbSsl,
    warnings,
  });
}

/**
 * The options for `createEndpoint` from a configuration: secrets, window and skew, plus
 * whatever `extra` adds (logger, observer, clock, replayStore…). The result holds the
 * secrets: pass it to `createEndpoint`, do not log it.
 *
 * With WA_REPLAY_REDIS_URL set, `extra.replayStore` is required: falling back to a
 * per-process memory store would let a replay sent to another node through, so this fails
 * closed instead.
 */
export function endpointOptionsFromConfig(
  config: WaConfig,
  role: Role,
  extra: Omit<EndpointOptions, 'role' | 'secret' | 'previousSecrets'> = {},
): EndpointOptions {
  const redis = config.replayRedis;
  if (redis !== undefined && extra.replayStore === undefined) {
    throw configError(
      REDIS_VARIABLE[redis.mode],
      'is set, so pass a replayStore (see replayStoreFromConfig); a per-process store would miss replays sent to other nodes',
    );
  }
  const secrets = SECRETS.get(config);
  if (secrets === undefined) throw new WaTransportError(ErrorCode.CONFIG, 'config must come from loadConfig');
  const { secret, previousSecrets } = secrets;
  return {
    windowMs: config.windowMs,
    maxSkewMs: config.maxSkewMs,
    ...extra,
    role,
    secret,
    previousSecrets: [...previousSecrets],
  };
}

/**
 * The replay store the configuration asks for: a Redis store connected to WA_REPLAY_REDIS_URL,
 * to the master behind WA_REPLAY_REDIS_SENTINELS, or to the Redis Cluster of
 * WA_REPLAY_REDIS_CLUSTER_NODES (waiting for the first connection and its checks, so a missing,
 * failed or evicting Redis fails at start), else a `MemoryReplayStore`. Either retains nonces for the
 * configured window (Redis: plus a second of clock margin), and Redis's `restartHoldMs`
 * follows from retention and skew. Close the store when the process stops.
 */
export async function replayStoreFromConfig(
  config: WaConfig,
  options: RedisStoreSettings & { connectTimeoutMs?: number } = {},
): Promise<ReplayStore> {
  const redis = config.replayRedis;
  if (redis === undefined) return new MemoryReplayStore({ retentionMs: config.windowMs });
  // Loaded only when used: processes without Redis (and the CLI) never load ioredis.
  const { createRedisReplayStore, DEFAULT_CLOCK_MARGIN_MS } = await import('../replay/redis.js');
  const retentionMs = options.retentionMs ?? config.windowMs + DEFAULT_CLOCK_MARGIN_MS;
  const restartHoldMs = retentionMs + config.maxSkewMs;
  const credentials: { username?: string; password?: string } = {};
  if (redis.mode !== 'url' && redis.password !== undefined) credentials.password = redis.password;
  if (redis.mode !== 'url' && redis.username !== undefined) credentials.username = redis.username;
  const where =
    redis.mode === 'url'
      ? { url: redis.url }
      : redis.mode === 'sentinel'
        ? {
            sentinels: redis.nodes,
            sentinelMaster: redis.master,
            ...(redis.sentinelPassword === undefined ? {} : { sentinelPassword: redis.sentinelPassword }),
            ...credentials,
          }
        : { clusterNodes: redis.nodes, ...credentials };
  return createRedisReplayStore({
    restartHoldMs,
    replicaAcks: config.replayRedisReplicaAcks,
    ...options,
    retentionMs,
    ...where,
  });
}

/**
 * Refuses `WA_*` variables that are not ours, naming the closest known one: WA_REDIS_URL
 * would otherwise leave every CoreApp node on its own in-memory store, silently.
 */
function checkVariableNames(env: Env, ignored: readonly string[]): void {
  const ignore = new Set([...ignored, ...(value(env, 'WA_IGNORE_VARIABLES') ?? '').split(',').map((v) => v.trim())]);
  const unknown = Object.keys(env)
    .filter((name) => name.startsWith('WA_') && !KNOWN_VARIABLES.includes(name) && !ignore.has(name))
    .sort();
  if (unknown.length === 0) return;
  const described = unknown.map((name) => {
    const guess = closestVariable(name);
    return guess === undefined ? name : `${name} (did you mean ${guess}?)`;
  });
  throw new WaTransportError(
    ErrorCode.CONFIG,
    `unknown variable${unknown.length > 1 ? 's' : ''} ${described.join(', ')}; ` +
      'if another program reads it, list it in WA_IGNORE_VARIABLES (comma-separated)',
  );
}

/** The known variable most like `name`: by shared words (WA_REDIS_URL) or by a small edit (WA_SECERT). */
function closestVariable(name: string): string | undefined {
  const words = new Set(name.split('_'));
  let best: { name: string; score: number } | undefined;
  for (const known of KNOWN_VARIABLES) {
    const knownWords = known.split('_');
    const shared = knownWords.filter((word) => words.has(word)).length;
    const byWords = shared / new Set([...words, ...knownWords]).size;
    const byEdits = 1 - editDistance(name, known) / Math.max(name.length, known.length);
    const score = Math.max(byWords, byEdits);
    if (score >= 0.7 && (best === undefined || score > best.score)) best = { name: known, score };
  }
  return best?.name;
}

/** Levenshtein distance, for names of a few dozen characters. */
function editDistance(a: string, b: string): number {
  let previous = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const current = [i];
    for (let j = 1; j <= b.length; j++) {
      current[j] = Math.min(previous[j]! + 1, current[j - 1]! + 1, previous[j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1));
    }
    previous = current;
  }
  return previous[b.length]!;
}

function readSecrets(env: Env): Secrets {
  const given = secretVariable(env, 'WA_SECRET');
  if (given === undefined) {
    throw configError('WA_SECRET', 'is required; generate one with `npx wa-transport keygen`');
  }
  const secret = given.value;

  const list = secretVariable(env, 'WA_PREVIOUS_SECRETS');
  // Generated secrets are base64url or hex, neither of which contains a comma. Items are not
  // trimmed: like WA_SECRET, an item with surrounding whitespace is refused (PROTOCOL §3.1).
  const previousSecrets = list === undefined ? [] : list.value.split(',');
  previousSecrets.forEach((previous, i) => {
    if (previous === '') throw configError(list!.name, `item ${i + 1} is empty (a stray comma?)`);
    // No generated secret holds whitespace (§3.1's formats): inside an item it is a separator
    // typed where a comma was meant, which the strength check would call a weak secret.
    if (/\S\s+\S/.test(previous)) {
      throw configError(list!.name, `item ${i + 1} contains whitespace; separate secrets with commas, not spaces`);
    }
    if (previous === secret) throw configError(list!.name, `item ${i + 1} is the same as WA_SECRET`);
    if (previousSecrets.indexOf(previous) !== i) {
      throw configError(list!.name, `item ${i + 1} repeats an earlier item`);
    }
  });
  const names = [given.name, ...previousSecrets.map((_, i) => `${list!.name} item ${i + 1}`)];
  return Object.freeze({ secret, previousSecrets: Object.freeze(previousSecrets), names });
}

/**
 * `name` from the variable itself or from the file `name_FILE` names (the Docker and Kubernetes
 * secrets convention), never both. `name` in the result is what errors call it: the variable,
 * or the file variable with its path. A file's content never goes into a message.
 *
 * One trailing LF or CRLF is removed from a file, as `$(cat file)` and Docker's own
 * `_FILE`-reading images do: editors end a file with one. Anything else (a second newline,
 * spaces) is kept and refused by the secret checks (PROTOCOL §3.1: never trimmed).
 */
function secretVariable(env: Env, name: string): { value: string; name: string } | undefined {
  const fileVariable = `${name}_FILE`;
  const direct = value(env, name);
  const path = value(env, fileVariable);
  if (path === undefined) return direct === undefined ? undefined : { value: direct, name };
  if (direct !== undefined) throw configError(name, `and ${fileVariable} are both set; set one of them`);
  const described = `${fileVariable} (${path})`;
  let content: string;
  try {
    content = readFileSync(path, 'utf8');
  } catch (error) {
    const code = (error as { code?: unknown }).code;
    throw configError(
      fileVariable,
      `names a file that cannot be read: ${path}${typeof code === 'string' ? ` (${code})` : ''}`,
    );
  }
  content = content.endsWith('\r\n') ? content.slice(0, -2) : content.endsWith('\n') ? content.slice(0, -1) : content;
  if (content === '') throw configError(fileVariable, `names an empty file: ${path}`);
  return { value: content, name: described };
}

function readMs(env: Env, name: string, fallback: number, min: number): number {
  const raw = value(env, name);
  if (raw === undefined) return fallback;
  // Digits only: Number() would take "1e4", "0x10" and " 10 ", parseInt would take "10s".
  if (!/^[0-9]{1,9}$/.test(raw)) {
    throw configError(name, `must be a whole number of milliseconds, got ${JSON.stringify(raw.slice(0, 20))}`);
  }
  const ms = Number(raw);
  if (ms < min || ms > MAX_CONFIG_WINDOW_MS) {
    throw configError(name, `must be between ${min} and ${MAX_CONFIG_WINDOW_MS} ms, got ${ms}`);
  }
  return ms;
}

/** Variables (and file paths), never contents. Item names are `<variable> item <n>`. */
function secretsFrom({ names, previousSecrets }: Secrets): WaConfigSummary['secretsFrom'] {
  return {
    secret: names[0]!,
    previousSecrets: previousSecrets.length === 0 ? null : names[1]!.replace(/ item 1$/, ''),
  };
}

/** The variable that chose each way, for errors. */
const REDIS_VARIABLE = {
  url: 'WA_REPLAY_REDIS_URL',
  sentinel: 'WA_REPLAY_REDIS_SENTINELS',
  cluster: 'WA_REPLAY_REDIS_CLUSTER_NODES',
} as const;

/** The shared replay store's Redis, as the environment gives it: one of three ways. */
export type ReplayRedis =
  | { readonly mode: 'url'; readonly url: string }
  | ({
      readonly mode: 'sentinel';
      readonly nodes: readonly string[];
      readonly master: string;
      /** WA_REPLAY_REDIS_SENTINEL_PASSWORD: the sentinels' own `requirepass`. */
      readonly sentinelPassword?: string;
    } & RedisCredentials)
  | ({ readonly mode: 'cluster'; readonly nodes: readonly string[] } & RedisCredentials);

/** WA_REPLAY_REDIS_USERNAME and _PASSWORD, for the servers behind sentinels or of a cluster. */
interface RedisCredentials {
  readonly username?: string;
  readonly password?: string;
}

/**
 * WA_REPLAY_REDIS_URL, or WA_REPLAY_REDIS_SENTINELS with WA_REPLAY_REDIS_SENTINEL_MASTER, or
 * WA_REPLAY_REDIS_CLUSTER_NODES: at most one, never a silent choice between two.
 */
function readReplayRedis(env: Env): ReplayRedis | undefined {
  const ways = ['WA_REPLAY_REDIS_URL', 'WA_REPLAY_REDIS_SENTINELS', 'WA_REPLAY_REDIS_CLUSTER_NODES'].filter(
    (name) => value(env, name) !== undefined,
  );
  if (ways.length > 1)
    throw configError(ways[1]!, `and ${ways[0]} are both set: give one way to reach the replay Redis`);
  const master = value(env, 'WA_REPLAY_REDIS_SENTINEL_MASTER');
  const sentinels = value(env, 'WA_REPLAY_REDIS_SENTINELS');
  const sentinelPassword = value(env, 'WA_REPLAY_REDIS_SENTINEL_PASSWORD');
  for (const [name, set] of [
    ['WA_REPLAY_REDIS_SENTINEL_MASTER', master],
    ['WA_REPLAY_REDIS_SENTINEL_PASSWORD', sentinelPassword],
  ] as const) {
    if (set !== undefined && sentinels === undefined) {
      throw configError(name, 'needs WA_REPLAY_REDIS_SENTINELS (the sentinels to ask)');
    }
  }
  if (sentinels !== undefined) {
    if (master === undefined) {
      throw configError(
        'WA_REPLAY_REDIS_SENTINELS',
        'needs WA_REPLAY_REDIS_SENTINEL_MASTER (the name the sentinels monitor the master under)',
      );
    }
    return {
      mode: 'sentinel',
      nodes: readAddresses(sentinels, 'WA_REPLAY_REDIS_SENTINELS'),
      master,
      ...(sentinelPassword === undefined ? {} : { sentinelPassword }),
      ...readCredentials(env),
    };
  }
  const seeds = value(env, 'WA_REPLAY_REDIS_CLUSTER_NODES');
  if (seeds !== undefined) {
    return { mode: 'cluster', nodes: readAddresses(seeds, 'WA_REPLAY_REDIS_CLUSTER_NODES'), ...readCredentials(env) };
  }
  for (const name of ['WA_REPLAY_REDIS_USERNAME', 'WA_REPLAY_REDIS_PASSWORD']) {
    if (value(env, name) !== undefined) {
      throw configError(
        name,
        'is for WA_REPLAY_REDIS_SENTINELS or WA_REPLAY_REDIS_CLUSTER_NODES; with WA_REPLAY_REDIS_URL the credentials go in the URL',
      );
    }
  }
  const url = readRedisUrl(env);
  return url === undefined ? undefined : { mode: 'url', url };
}

/** Most replicas WAIT may be asked for: far beyond any deployment, short of a typo's thousands. */
const MAX_REPLICA_ACKS = 100;

/**
 * WA_REPLAY_REDIS_REPLICA_ACKS: a whole number, and only with a Redis to send WAIT to (set
 * alone, it says the operator believes a shared store is configured when none is).
 */
function readReplicaAcks(env: Env): number {
  const raw = value(env, 'WA_REPLAY_REDIS_REPLICA_ACKS');
  if (raw === undefined) return 0;
  if (!/^[0-9]+$/.test(raw.trim()) || Number(raw) > MAX_REPLICA_ACKS) {
    throw configError('WA_REPLAY_REDIS_REPLICA_ACKS', `must be a whole number from 0 to ${MAX_REPLICA_ACKS}`);
  }
  const ways = ['WA_REPLAY_REDIS_URL', 'WA_REPLAY_REDIS_SENTINELS', 'WA_REPLAY_REDIS_CLUSTER_NODES'];
  if (ways.every((name) => value(env, name) === undefined)) {
    throw configError('WA_REPLAY_REDIS_REPLICA_ACKS', `needs a replay Redis (${ways.join(', ')})`);
  }
  return Number(raw);
}

/** The data nodes' credentials: a password, and a user name only with one. Never echoed. */
function readCredentials(env: Env): RedisCredentials {
  const username = value(env, 'WA_REPLAY_REDIS_USERNAME');
  const password = value(env, 'WA_REPLAY_REDIS_PASSWORD');
  if (username !== undefined && password === undefined) {
    throw configError('WA_REPLAY_REDIS_USERNAME', 'needs WA_REPLAY_REDIS_PASSWORD');
  }
  return { ...(username === undefined ? {} : { username }), ...(password === undefined ? {} : { password }) };
}

/** A comma-separated `host:port` list (spaces around items allowed), checked item by item. */
function readAddresses(raw: string, name: string): string[] {
  const items = raw.split(',').map((item) => item.trim());
  try {
    parseAddresses(items, name);
  } catch (error) {
    throw configError(
      name,
      isWaTransportError(error)
        ? error.message.replace(/^.*?: /, '').replace(`${name}: `, '')
        : 'is not a host:port list',
    );
  }
  return items;
}

function readRedisUrl(env: Env): string | undefined {
  const raw = value(env, 'WA_REPLAY_REDIS_URL');
  if (raw === undefined) return undefined;
  // The URL may hold a password: errors describe it, never echo it.
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw configError('WA_REPLAY_REDIS_URL', 'is not a URL; expected redis://[:password@]host[:port][/db]');
  }
  if (url.protocol !== 'redis:' && url.protocol !== 'rediss:') {
    throw configError('WA_REPLAY_REDIS_URL', `must start with redis:// or rediss://, not ${url.protocol}//`);
  }
  if (url.hostname === '') throw configError('WA_REPLAY_REDIS_URL', 'has no host');
  const db = url.pathname.replace(/^\//, '');
  if (db !== '' && !/^[0-9]{1,2}$/.test(db)) {
    throw configError('WA_REPLAY_REDIS_URL', 'path must be a database number, e.g. redis://host:6379/0');
  }
  return raw;
}

/**
 * The URL rebuilt from scheme, host, port and database only: a credential may sit in the
 * password, in the user name (`redis://pw@host`, which ioredis sends as the password) or in
 * the query (`?password=`), so nothing of those is copied, only a `***` saying one was there.
 */
function redactUrl(raw: string): string {
  const url = new URL(raw);
  const credentials = url.username !== '' || url.password !== '' ? '***@' : '';
  const query = url.search !== '' ? '?***' : '';
  return `${url.protocol}//${credentials}${url.host}${url.pathname}${query}`;
}
