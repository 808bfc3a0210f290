#!/usr/bin/env node
/**
 * `wa-transport`: the operator's tool. Make a secret, check a container's environment, read an
 * envelope's header, or open an envelope to debug it. Secrets are never printed, only their
 * key ids.
 *
 * Exit status, as shell users expect: 0 success; 1 invalid (bad configuration, malformed or
 * rejected envelope); 2 usage error (unknown command or option, missing argument).
 */
import { readFileSync, realpathSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { inspect, parseArgs } from 'node:util';
import { type Env, type WaConfig, type WaConfigSummary, endpointOptionsFromConfig, loadConfig } from './config.js';
import { sodiumReady } from '../crypto/ready.js';
import { type Role, createEndpoint } from '../endpoint.js';
import { Direction, PayloadFormat, readHeader } from '../envelope/format.js';
import { fromText } from '../envelope/text.js';
import { ErrorCode, isWaTransportError } from '../errors.js';
import { SecretKeys, generateSecret, secretBytes } from '../keys.js';
import type { Logger } from '../log.js';
import { MemoryReplayStore } from '../replay/memory.js';
import { requestContext } from '../transport/http-binding.js';

const EXIT_OK = 0;
const EXIT_INVALID = 1;
const EXIT_USAGE = 2;

/** Largest envelope the CLI reads: the endpoint's default limit, 4 MiB. */
const MAX_ENVELOPE_BYTES = 4 * 1024 * 1024;
/**
 * `open` is for debugging captured envelopes, which may be hours old: its window is a century
 * either way, and its replay store is a fresh one that dies with the process. It must never
 * be used to accept messages: it tells whether a live endpoint would have.
 */
const DEBUG_WINDOW_MS = 100 * 365 * 24 * 3600 * 1000;

class UsageError extends Error {}

const HELP = {
  main: `Usage: wa-transport <command> [options]

Commands:
  keygen               Print a new random secret for WA_SECRET
  check-env            Validate the WA_* environment and print what would be used
  inspect <envelope>   Print an envelope's header without decrypting it
  open <envelope>      Decrypt an envelope with the configured secrets (debugging only)

Options:
  -h, --help           Show help (also: wa-transport <command> --help)
  --version            Print the version

Exit status: 0 success, 1 invalid or rejected, 2 usage error.
`,
  keygen: `Usage: wa-transport keygen

Prints a new secret: 32 random bytes as base64url (43 characters), suitable for
WA_SECRET and WA_PREVIOUS_SECRETS. Give the same secret to the WebApp and the CoreApp.
Its key id goes to stderr: check-env on each side must show the same one.

  export WA_SECRET="$(npx wa-transport keygen)"
`,
  'check-env': `Usage: wa-transport check-env [--json]

Validates WA_SECRET, WA_PREVIOUS_SECRETS (or their _FILE forms), WA_REPLAY_WINDOW_MS,
WA_MAX_SKEW_MS, WA_WEB_SECURITY_LEVEL, WA_REPLAY_REDIS_* and WA_DB_SSL_* from the
environment and prints what would be used: key ids, never secrets. Warnings go to stderr.

Options:
  --json       Print the settings as JSON
Exit status: 0 valid, 1 invalid (the message names the variable), 2 usage error.
`,
  inspect: `Usage: wa-transport inspect <envelope> [--json]

Prints the header of an envelope in text form (base64url; "-" reads it from stdin):
version, direction, payload format, key id, timestamp and age, nonce. Nothing is
decrypted or authenticated: the header may be forged. When WA_SECRET is set, says
which configured secret the key id belongs to.

Options:
  --json       Print the header as JSON
Exit status: 0 printed, 1 not an envelope, 2 usage error.
`,
  open: `Usage: wa-transport open <envelope> [--role webapp|coreapp] [--http "METHOD TARGET" | --context TEXT]
                            [--request-id ID] [--json]

Decrypts an envelope in text form ("-" reads it from stdin) with WA_SECRET and
WA_PREVIOUS_SECRETS, and prints its payload. For debugging only: old envelopes are
opened too (a note says when a live endpoint would reject one as expired or future),
and the replay check uses a throwaway store.

Options:
  --role R         The side that receives it (default: from the envelope's direction)
  --http "M T"      An HTTP request's envelope: METHOD and TARGET (path and query, as sent),
                   e.g. --http "POST /v1/messages" (the context of PROTOCOL 8.1 is built from it)
  --context TEXT   Any other context it was sealed with, exactly
  --request-id ID  The request's wa-request-id header, if it carried one
  --json           Print the result as JSON (bytes as base64url)
Exit status: 0 opened, 1 configuration invalid or envelope rejected, 2 usage error.
`,
} as const;

type Command = Exclude<keyof typeof HELP, 'main'>;

/** Where a run reads and writes: the process's own streams and environment, or a test's. */
export interface CliIo {
  stdout(text: string): void;
  stderr(text: string): void;
  /** The environment the WA_* variables are read from. */
  env: Env;
  /** Everything on standard input, for an envelope given as "-". */
  stdin(): string;
}

const processIo: CliIo = {
  stdout: (text) => process.stdout.write(text),
  stderr: (text) => process.stderr.write(text),
  env: process.env,
  stdin: () => readFileSync(0, 'utf8'),
};

/** Warnings from loading the configuration go to stderr, not through process warnings. */
function stderrLogger(io: CliIo): Logger {
  return {
    warn: (_record, message) => io.stderr(`warning: ${message ?? ''}\n`),
    info: () => {},
  };
}
const quietLogger: Logger = { warn: () => {}, info: () => {} };

/**
 * Runs one command line (`argv` without the program name) and resolves with its exit status;
 * never rejects for a user error, which is written to `io.stderr` as the shell user sees it.
 */
export async function run(argv: readonly string[], io: CliIo = processIo): Promise<number> {
  try {
    return await main(argv, io);
  } catch (error) {
    return report(error, io);
  }
}

async function main(argv: readonly string[], io: CliIo): Promise<number> {
  const [command, ...rest] = argv;
  if (command === undefined) {
    io.stderr(HELP.main);
    return EXIT_USAGE;
  }
  if (command === '-h' || command === '--help' || command === 'help') {
    const topic = rest[0];
    io.stdout(topic !== undefined && isCommand(topic) ? HELP[topic] : HELP.main);
    return EXIT_OK;
  }
  if (command === '--version') {
    io.stdout(`${version()}\n`);
    return EXIT_OK;
  }
  if (!isCommand(command)) {
    throw new UsageError(`unknown command "${command}"`);
  }
  switch (command) {
    case 'keygen':
      return keygen(rest, io);
    case 'check-env':
      return checkEnv(rest, io);
    case 'inspect':
      return inspectCommand(rest, io);
    case 'open':
      return open(rest, io);
    default:
      throw new UsageError(`unknown command "${command satisfies never}"`);
  }
}

function isCommand(name: string): name is Command {
  return name !== 'main' && Object.hasOwn(HELP, name);
}

function version(): string {
  // cli.js sits in dist/ops/, cli.ts in src/ops/: both two levels below package.json.
  const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string };
  return pkg.version;
}

/** parseArgs with --help on every command; returns undefined when help was printed. */
function parse(
  io: CliIo,
  command: Command,
  args: readonly string[],
  options: Record<string, { type: 'string' | 'boolean' }>,
  positionals: number,
): { values: Record<string, string | boolean | undefined>; positionals: string[] } | undefined {
  let parsed;
  try {
    parsed = parseArgs({
      args: [...args],
      options: { ...options, help: { type: 'boolean', short: 'h' } },
      allowPositionals: true,
      strict: true,
    });
  } catch (error) {
    throw new UsageError(error instanceof Error ? error.message : String(error));
  }
  if (parsed.values['help'] === true) {
    io.stdout(HELP[command]);
    return undefined;
  }
  if (parsed.positionals.length !== positionals) {
    throw new UsageError(
      positionals === 0
        ? `${command} takes no arguments`
        : `${command} takes exactly ${positionals} argument (an envelope, or "-" for stdin)`,
    );
  }
  return parsed as { values: Record<string, string | boolean | undefined>; positionals: string[] };
}

async function keygen(args: readonly string[], io: CliIo): Promise<number> {
  if (parse(io, 'keygen', args, {}, 0) === undefined) return EXIT_OK;
  const secret = generateSecret();
  // The key id on stderr, so `$(wa-transport keygen)` still captures the secret alone: it is
  // what check-env prints and logs carry, the one thing two operators can compare aloud.
  await sodiumReady();
  const keyId = new SecretKeys(secretBytes(secret)).keyIdHex;
  io.stdout(`${secret}\n`);
  io.stderr(`key id ${keyId} (check-env shows it for WA_SECRET)\n`);
  return EXIT_OK;
}

async function checkEnv(args: readonly string[], io: CliIo): Promise<number> {
  const parsed = parse(io, 'check-env', args, { json: { type: 'boolean' } }, 0);
  if (parsed === undefined) return EXIT_OK;
  const config = await loadConfig(io.env, { logger: stderrLogger(io) });
  if (parsed.values['json'] === true) {
    io.stdout(`${JSON.stringify(config, null, 2)}\n`);
    return EXIT_OK;
  }
  const summary = config.toJSON();
  const ssl = summary.dbSsl;
  const rows: Array<[string, string]> = [
    ['WA_SECRET', `key id ${summary.keyId} (seals and opens)${fromFile(summary.secretsFrom.secret)}`],
    [
      'WA_PREVIOUS_SECRETS',
      summary.previousKeyIds.length === 0
        ? 'none'
        : `key ids ${summary.previousKeyIds.join(', ')} (open only)${fromFile(summary.secretsFrom.previousSecrets ?? '')}`,
    ],
    ['WA_REPLAY_WINDOW_MS', `${summary.windowMs}`],
    ['WA_MAX_SKEW_MS', `${summary.maxSkewMs}`],
    ['WA_WEB_SECURITY_LEVEL', summary.webSecurityLevel],
    ['replay store', replayStoreRow(summary)],
    ...(summary.replayRedisMode === null
      ? []
      : [
          [
            'WA_REPLAY_REDIS_REPLICA_ACKS',
            summary.replayRedisReplicaAcks === 0
              ? '0 (no WAIT: a change of master is held for the retention)'
              : `${summary.replayRedisReplicaAcks} (WAIT: each batch acknowledged by that many replicas)`,
          ] as [string, string],
        ]),
    [
      'database TLS',
      ssl === null
        ? 'not configured (the driver default applies)'
        : [
            `verification ${ssl.rejectUnauthorized ? 'on' : 'OFF'}`,
            ssl.ca !== null ? `CA ${ssl.ca}` : 'system CAs',
            ssl.cert !== null ? `client cert ${ssl.cert}, key ${ssl.key}` : 'no client cert',
          ].join('; '),
    ],
  ];
  const width = Math.max(...rows.map(([name]) => name.length));
  io.stdout(`${rows.map(([name, value]) => `${name.padEnd(width)}  ${value}`).join('\n')}\nok\n`);
  return EXIT_OK;
}

/** The envelope argument, or stdin for "-". */
function envelopeBytes(arg: string, io: CliIo): Uint8Array {
  const text = arg === '-' ? io.stdin().trim() : arg;
  return fromText(text, MAX_ENVELOPE_BYTES);
}

const DIRECTION_NAMES: Record<number, string> = {
  [Direction.WEBAPP_TO_COREAPP]: 'webapp → coreapp',
  [Direction.COREAPP_TO_WEBAPP]: 'coreapp → webapp',
};
const FORMAT_NAMES: Record<number, string> = {
  [PayloadFormat.MSGPACK]: 'msgpack',
  [PayloadFormat.BYTES]: 'bytes',
};

async function inspectCommand(args: readonly string[], io: CliIo): Promise<number> {
  const parsed = parse(io, 'inspect', args, { json: { type: 'boolean' } }, 1);
  if (parsed === undefined) return EXIT_OK;
  const header = readHeader(envelopeBytes(parsed.positionals[0]!, io));
  const now = Date.now();
  const known = await keyIdOwner(header.keyId, io.env);
  if (parsed.values['json'] === true) {
    const json = {
      version: header.version,
      direction: header.direction === Direction.WEBAPP_TO_COREAPP ? 'webapp-to-coreapp' : 'coreapp-to-webapp',
      format: FORMAT_NAMES[header.format],
      keyId: header.keyId,
      keyIdConfiguredAs: known ?? null,
      timestamp: header.timestamp,
      ageMs: now - header.timestamp,
      nonce: Buffer.from(header.nonce).toString('hex'),
    };
    io.stdout(`${JSON.stringify(json, null, 2)}\n`);
    return EXIT_OK;
  }
  io.stdout(
    [
      `version    ${header.version}`,
      `direction  ${DIRECTION_NAMES[header.direction]}`,
      `format     ${FORMAT_NAMES[header.format]}`,
      `key id     ${header.keyId}${known === undefined ? '' : ` (${known})`}`,
      `timestamp  ${isoOrRaw(header.timestamp)} (${describeAge(now - header.timestamp)})`,
      `nonce      ${Buffer.from(header.nonce).toString('hex')}`,
      'not authenticated: inspect does not decrypt, so any of this may be forged',
    ].join('\n') + '\n',
  );
  return EXIT_OK;
}

/** Which configured secret a key id belongs to, when the environment has a valid config. */
async function keyIdOwner(keyId: string, env: Env): Promise<string | undefined> {
  if (env['WA_SECRET'] === undefined && env['WA_SECRET_FILE'] === undefined) return undefined;
  let config: WaConfig;
  try {
    config = await loadConfig(env, { logger: quietLogger });
  } catch {
    return undefined; // inspect does not need a configuration; check-env reports what is wrong
  }
  if (keyId === config.keyId) return 'WA_SECRET';
  const i = config.previousKeyIds.indexOf(keyId);
  return i >= 0 ? `WA_PREVIOUS_SECRETS item ${i + 1}` : 'not configured here';
}

async function open(args: readonly string[], io: CliIo): Promise<number> {
  const parsed = parse(
    io,
    'open',
    args,
    {
      role: { type: 'string' },
      http: { type: 'string' },
      context: { type: 'string' },
      'request-id': { type: 'string' },
      json: { type: 'boolean' },
    },
    1,
  );
  if (parsed === undefined) return EXIT_OK;
  const roleArg = parsed.values['role'];
  if (roleArg !== undefined && roleArg !== 'webapp' && roleArg !== 'coreapp') {
    throw new UsageError('--role must be webapp or coreapp');
  }
  const bytes = envelopeBytes(parsed.positionals[0]!, io);
  const header = readHeader(bytes);
  const role: Role =
    (roleArg as Role | undefined) ?? (header.direction === Direction.WEBAPP_TO_COREAPP ? 'coreapp' : 'webapp');
  const config = await loadConfig(io.env, { logger: stderrLogger(io) });
  const endpoint = await createEndpoint(
    endpointOptionsFromConfig(config, role, {
      windowMs: DEBUG_WINDOW_MS,
      maxSkewMs: DEBUG_WINDOW_MS,
      // Debugging: open envelopes of any age, including those sealed before this command ran.
      replayStore: new MemoryReplayStore({ maxEntries: 1, rememberedSince: 0, retentionMs: DEBUG_WINDOW_MS }),
    }),
  );
  const context = openContext(parsed.values['http'], parsed.values['context']);
  const requestId = parsed.values['request-id'];
  let opened;
  try {
    opened = await endpoint.open(bytes, {
      ...(context === undefined ? {} : { context }),
      ...(typeof requestId === 'string' ? { requestId } : {}),
    });
  } catch (error) {
    const hint = isWaTransportError(error) ? OPEN_HINTS[error.code] : undefined;
    if (hint !== undefined) io.stderr(`hint: ${hint(header.keyId, config)}\n`);
    throw error;
  }
  const age = Date.now() - opened.timestamp;
  if (age > config.windowMs) {
    io.stderr(
      `note: older than WA_REPLAY_WINDOW_MS (${config.windowMs} ms): a live endpoint rejects it (${ErrorCode.EXPIRED})\n`,
    );
  } else if (-age > config.maxSkewMs) {
    io.stderr(
      `note: further ahead than WA_MAX_SKEW_MS (${config.maxSkewMs} ms): a live endpoint rejects it (${ErrorCode.FUTURE})\n`,
    );
  }
  if (parsed.values['json'] === true) {
    const json = {
      keyId: opened.keyId,
      timestamp: opened.timestamp,
      ageMs: age,
      nonce: Buffer.from(opened.nonce).toString('hex'),
      format: FORMAT_NAMES[header.format],
      payload: opened.payload,
    };
    io.stdout(`${JSON.stringify(json, jsonReplacer, 2)}\n`);
    return EXIT_OK;
  }
  const payload =
    opened.payload instanceof Uint8Array
      ? `${opened.payload.length} bytes, base64url: ${Buffer.from(opened.payload).toString('base64url')}`
      : inspect(opened.payload, { depth: null, colors: false, maxArrayLength: 1000, maxStringLength: 100_000 });
  io.stdout(
    [
      `key id     ${opened.keyId}`,
      `timestamp  ${isoOrRaw(opened.timestamp)} (${describeAge(age)})`,
      `nonce      ${Buffer.from(opened.nonce).toString('hex')}`,
      `payload    ${payload}`,
    ].join('\n') + '\n',
  );
  return EXIT_OK;
}

/** The context `open` checks: an HTTP request's (--http "METHOD TARGET") or one given as is. */
function openContext(http: unknown, context: unknown): string | undefined {
  if (http !== undefined && context !== undefined) throw new UsageError('--http and --context exclude each other');
  if (typeof context === 'string') return context;
  if (typeof http !== 'string') return undefined;
  const match = /^([A-Za-z]+) (\S+)$/.exec(http.trim());
  if (match === null) throw new UsageError('--http takes "METHOD TARGET", e.g. --http "POST /v1/messages"');
  return requestContext(match[1]!, match[2]!);
}

/** What to check next when `open` fails: the usual operator mistakes per code. */
const OPEN_HINTS: Partial<Record<ErrorCode, (keyId: string, config: WaConfig) => string>> = {
  [ErrorCode.FORGED]: () =>
    'the context is part of the check: pass the one it was sealed with (an HTTP request: ' +
    '--http "POST /v1/messages", and --request-id if it carried one); ' +
    'otherwise the bytes were altered or sealed with another secret of the same key id',
  [ErrorCode.UNKNOWN_KEY]: (keyId, config) =>
    `it was sealed with key id ${keyId}; configured: ${[config.keyId, ...config.previousKeyIds].join(', ')}`,
  [ErrorCode.WRONG_DIRECTION]: () => '--role names the side that receives it: try the other one',
};

function jsonReplacer(this: unknown, _key: string, value: unknown): unknown {
  if (value instanceof Uint8Array) return { base64url: Buffer.from(value).toString('base64url') };
  if (typeof value === 'bigint') return value.toString();
  return value;
}

function isoOrRaw(timestamp: number): string {
  const date = new Date(timestamp);
  return Number.isNaN(date.getTime()) ? `${timestamp} ms` : date.toISOString();
}

function describeAge(ageMs: number): string {
  const amount = (ms: number): string => {
    const s = ms / 1000;
    if (s < 60) return `${s.toFixed(1)} s`;
    if (s < 3600) return `${(s / 60).toFixed(1)} min`;
    if (s < 86_400) return `${(s / 3600).toFixed(1)} h`;
    return `${(s / 86_400).toFixed(1)} days`;
  };
  return ageMs >= 0 ? `${amount(ageMs)} ago` : `${amount(-ageMs)} in the future of this machine's clock`;
}

function report(error: unknown, io: CliIo): number {
  if (error instanceof UsageError) {
    io.stderr(`wa-transport: ${error.message}\nRun "wa-transport --help" for usage.\n`);
    return EXIT_USAGE;
  }
  if (isWaTransportError(error)) {
    io.stderr(`wa-transport: ${error.code}: ${error.message}\n`);
    return EXIT_INVALID;
  }
  // Not one of ours (e.g. stdin unreadable): still no stack trace for a shell user.
  const message = error instanceof Error ? error.message : String(error);
  io.stderr(`wa-transport: ${message}\n`);
  return EXIT_INVALID;
}

/** Run as the `wa-transport` bin (through npm's symlink too), not when imported by a test. */
function isMain(): boolean {
  const script = process.argv[1];
  if (script === undefined) return false;
  try {
    return realpathSync(script) === fileURLToPath(import.meta.url);
  } catch {
    return false;
  }
}

if (isMain()) {
  void run(process.argv.slice(2)).then((code) => {
    process.exitCode = code;
  });
}

/** Which credentials are set, never what they are. */
function credentialsNote(summary: WaConfigSummary): string {
  const set = summary.replayRedisCredentials;
  const data =
    set === null ? '' : `, ${set} set (WA_REPLAY_REDIS_${set === 'password' ? 'PASSWORD' : 'USERNAME, _PASSWORD'})`;
  return summary.replayRedisSentinelPassword
    ? `${data}, sentinel password set (WA_REPLAY_REDIS_SENTINEL_PASSWORD)`
    : data;
}

/** Which replay store the configuration asks for, and where (never a password). */
function replayStoreRow(summary: WaConfigSummary): string {
  switch (summary.replayRedisMode) {
    case 'url':
      return `Redis ${summary.replayRedisUrl} (WA_REPLAY_REDIS_URL)`;
    case 'sentinel':
      return `Redis master "${summary.replayRedisSentinelMaster}" behind sentinels ${summary.replayRedisNodes!.join(', ')} (WA_REPLAY_REDIS_SENTINELS)${credentialsNote(summary)}`;
    case 'cluster':
      return `Redis Cluster, seed nodes ${summary.replayRedisNodes!.join(', ')} (WA_REPLAY_REDIS_CLUSTER_NODES)${credentialsNote(summary)}`;
    default:
      return 'in memory: one process only (no WA_REPLAY_REDIS_* set)';
  }
}

/** ", from WA_SECRET_FILE (/run/secrets/…)" when a secret came from a file; nothing otherwise. */
function fromFile(source: string): string {
  return source.includes('_FILE') ? `, from ${source}` : '';
}
