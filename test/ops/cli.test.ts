/**
 * The CLI in-process through its exported `run`, as ws and pino test theirs: a process per case
 * cost ~27 s of the suite. One spawned smoke test at the end runs the real bin.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { createEndpoint } from '../../src/endpoint.js';
import { loadConfig } from '../../src/ops/config.js';
import { run } from '../../src/ops/cli.js';
import { generateSecret } from '../../src/keys.js';
import { requestContext } from '../../src/transport/http-binding.js';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const SECRET = generateSecret();
const PREVIOUS = generateSecret();

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs the CLI as a shell user would, with only the given WA_* variables set. */
async function cli(args: string[], env: Record<string, string> = {}, stdin?: string): Promise<Run> {
  let stdout = '';
  let stderr = '';
  const code = await run(args, {
    stdout: (text) => (stdout += text),
    stderr: (text) => (stderr += text),
    env,
    stdin: () => stdin ?? '',
  });
  return { code, stdout, stderr };
}

/** The real bin, in its own process: what `npx wa-transport` does. */
function spawned(args: string[], env: Record<string, string> = {}): Promise<Run> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', 'src/ops/cli.ts', ...args], {
      cwd: ROOT,
      env: { PATH: process.env['PATH'] ?? '', ...env },
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
    child.stdin.end('');
  });
}

async function webapp(secret = SECRET, clock: () => number = Date.now) {
  return createEndpoint({ role: 'webapp', secret, clock });
}

describe('wa-transport CLI', () => {
  it('prints help with exit 0, and usage with exit 2 when called without a command', async () => {
    const help = await cli(['--help']);
    expect(help.code).toBe(0);
    expect(help.stdout).toMatch(/^Usage: wa-transport <command>/);
    for (const command of ['keygen', 'check-env', 'inspect <envelope>', 'open <envelope>']) {
      expect(help.stdout).toContain(command);
    }
    const bare = await cli([]);
    expect(bare.code).toBe(2);
    expect(bare.stderr).toContain('Usage: wa-transport');
  });

  it('has --help for each command', async () => {
    const runs = await Promise.all(['keygen', 'check-env', 'inspect', 'open'].map((c) => cli([c, '--help'])));
    for (const [i, command] of ['keygen', 'check-env', 'inspect', 'open'].entries()) {
      expect(runs[i]!.code).toBe(0);
      expect(runs[i]!.stdout).toMatch(new RegExp(`^Usage: wa-transport ${command}`));
    }
  });

  it('answers usage errors with exit 2 and a pointer to --help', async () => {
    const runs = await Promise.all([
      cli(['frobnicate']),
      cli(['keygen', '--bogus']),
      cli(['keygen', 'extra']),
      cli(['inspect']),
      cli(['open', 'AAAA', '--role', 'server'], { WA_SECRET: SECRET }),
    ]);
    for (const run of runs) {
      expect(run.code).toBe(2);
      expect(run.stdout).toBe('');
      expect(run.stderr).toMatch(/^wa-transport: .+\nRun "wa-transport --help" for usage\.\n$/);
    }
    expect(runs[0]!.stderr).toContain('unknown command "frobnicate"');
  });

  it('--version prints the package version', async () => {
    const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string };
    const run = await cli(['--version']);
    expect(run).toEqual({ code: 0, stdout: `${pkg.version}\n`, stderr: '' });
  });

  it('keygen prints a new strong secret that loadConfig accepts, and its key id on stderr', async () => {
    const [a, b] = await Promise.all([cli(['keygen']), cli(['keygen'])]);
    expect(a!.code).toBe(0);
    expect(a!.stdout).toMatch(/^[A-Za-z0-9_-]{43}\n$/);
    expect(a!.stdout).not.toBe(b!.stdout);
    const config = await loadConfig({ WA_SECRET: a!.stdout.trim() });
    expect(config.keyId).toMatch(/^[0-9a-f]{8}$/);
    // The same key id check-env shows for it: what operators compare.
    expect(a!.stderr).toBe(`key id ${config.keyId} (check-env shows it for WA_SECRET)\n`);
    const check = await cli(['check-env'], { WA_SECRET: a!.stdout.trim() });
    expect(check.stdout).toMatch(new RegExp(`WA_SECRET +key id ${config.keyId} `));
  });

  it('check-env reads WA_SECRET_FILE and refuses a space for a comma in WA_PREVIOUS_SECRETS', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'wa-cli-'));
    try {
      const file = join(dir, 'wa_secret');
      writeFileSync(file, `${SECRET}\n`);
      const config = await loadConfig({ WA_SECRET: SECRET });
      const fromFile = await cli(['check-env'], { WA_SECRET_FILE: file });
      expect(fromFile.code).toBe(0);
      expect(fromFile.stdout).toMatch(new RegExp(`WA_SECRET +key id ${config.keyId} `));
      expect(fromFile.stdout).toContain(`(seals and opens), from WA_SECRET_FILE (${file})`);
      expect(fromFile.stdout).not.toContain(SECRET);
      const spaced = await cli(['check-env'], {
        WA_SECRET: SECRET,
        WA_PREVIOUS_SECRETS: `${PREVIOUS} ${generateSecret()}`,
      });
      expect(spaced.code).toBe(1);
      expect(spaced.stderr).toContain('WA_PREVIOUS_SECRETS item 1 contains whitespace; separate secrets with commas');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('check-env says the cluster credentials are set, never what they are', async () => {
    const run = await cli(['check-env'], {
      WA_SECRET: SECRET,
      WA_REPLAY_REDIS_CLUSTER_NODES: '127.0.0.1:7000',
      WA_REPLAY_REDIS_USERNAME: 'wa-user-name',
      WA_REPLAY_REDIS_PASSWORD: 'hunter2-cluster',
    });
    expect(run!.code).toBe(0);
    expect(run!.stdout).toContain('username and password set (WA_REPLAY_REDIS_USERNAME, _PASSWORD)');
    expect(run!.stdout + run!.stderr).not.toContain('hunter2-cluster');
    expect(run!.stdout + run!.stderr).not.toContain('wa-user-name');
    const sentinel = await cli(['check-env'], {
      WA_SECRET: SECRET,
      WA_REPLAY_REDIS_SENTINELS: '127.0.0.1:26379',
      WA_REPLAY_REDIS_SENTINEL_MASTER: 'wa',
      WA_REPLAY_REDIS_SENTINEL_PASSWORD: 'hunter2-sentinels',
    });
    expect(sentinel!.code).toBe(0);
    expect(sentinel!.stdout).toContain('sentinel password set (WA_REPLAY_REDIS_SENTINEL_PASSWORD)');
    expect(sentinel!.stdout + sentinel!.stderr).not.toContain('hunter2-sentinels');
  });

  it('check-env prints key ids, never secrets, and exits 0', async () => {
    const config = await loadConfig({ WA_SECRET: SECRET, WA_PREVIOUS_SECRETS: PREVIOUS });
    const env = {
      WA_SECRET: SECRET,
      WA_PREVIOUS_SECRETS: PREVIOUS,
      WA_REPLAY_WINDOW_MS: '15000',
      WA_REPLAY_REDIS_URL: 'redis://:hunter2pw@127.0.0.1:6379/1',
      WA_DB_SSL_VERIFY: '0',
    };
    const [human, json] = await Promise.all([cli(['check-env'], env), cli(['check-env', '--json'], env)]);
    for (const run of [human!, json!]) {
      expect(run.code).toBe(0);
      expect(run.stdout + run.stderr).not.toContain(SECRET);
      expect(run.stdout + run.stderr).not.toContain(PREVIOUS);
      expect(run.stdout + run.stderr).not.toContain('hunter2pw');
      expect(run.stderr).toContain('warning: database TLS certificate verification is OFF');
    }
    expect(human!.stdout).toMatch(new RegExp(`WA_SECRET +key id ${config.keyId}`));
    expect(human!.stdout).toMatch(new RegExp(`WA_PREVIOUS_SECRETS +key ids ${config.previousKeyIds[0]}`));
    expect(human!.stdout).toMatch(/WA_REPLAY_WINDOW_MS +15000/);
    expect(human!.stdout).toContain('redis://***@127.0.0.1:6379/1');
    expect(human!.stdout).toMatch(/\nok\n$/);
    expect(JSON.parse(json!.stdout)).toMatchObject({
      keyId: config.keyId,
      previousKeyIds: config.previousKeyIds,
      windowMs: 15000,
      dbSsl: { rejectUnauthorized: false },
    });
  });

  it('check-env exits 1 with a message naming the variable', async () => {
    const runs = await Promise.all([
      cli(['check-env'], {}),
      cli(['check-env'], { WA_SECRET: 'too-short' }),
      cli(['check-env'], { WA_SECRET: SECRET, WA_MAX_SKEW_MS: '10 seconds' }),
      cli(['check-env'], { WA_SECRET: SECRET, WA_DB_SSL_CA: '/nonexistent/ca.pem' }),
    ]);
    for (const run of runs) {
      expect(run.code).toBe(1);
      expect(run.stdout).toBe('');
    }
    expect(runs[0]!.stderr).toContain('ERR_WA_CONFIG: invalid configuration: WA_SECRET is required');
    expect(runs[1]!.stderr).toContain('ERR_WA_WEAK_SECRET');
    expect(runs[1]!.stderr).not.toContain('too-short');
    expect(runs[2]!.stderr).toContain('WA_MAX_SKEW_MS must be a whole number');
    expect(runs[3]!.stderr).toContain('WA_DB_SSL_CA file /nonexistent/ca.pem does not exist');
  });

  it('check-env refuses a misspelt variable instead of printing ok, and lists every problem', async () => {
    const run = await cli(['check-env'], {
      WA_SECRET: SECRET,
      WA_REDIS_URL: 'redis://127.0.0.1:6379',
      WA_MAX_SKEW_MS: 'x',
    });
    expect(run.code).toBe(1);
    expect(run.stdout).not.toContain('ok');
    expect(run.stderr).toContain('WA_REDIS_URL (did you mean WA_REPLAY_REDIS_URL?)');
    expect(run.stderr).toContain('WA_MAX_SKEW_MS must be a whole number');
  });

  it('inspect prints the header without a secret, and names the configured key when there is one', async () => {
    const sealedAt = Date.now() - 5 * 60_000;
    const web = await webapp(SECRET, () => sealedAt);
    const envelope = web.sealText({ secret: 'plaintext-marker' });
    const [bare, known, json] = await Promise.all([
      cli(['inspect', envelope]),
      cli(['inspect', envelope], { WA_SECRET: PREVIOUS, WA_PREVIOUS_SECRETS: SECRET }),
      cli(['inspect', '-', '--json'], {}, `${envelope}\n`),
    ]);
    expect(bare!.code).toBe(0);
    expect(bare!.stdout).toContain('version    1\n');
    expect(bare!.stdout).toContain('direction  webapp → coreapp\n');
    expect(bare!.stdout).toContain('format     msgpack\n');
    expect(bare!.stdout).toContain(`key id     ${web.keyId}\n`);
    expect(bare!.stdout).toContain(`timestamp  ${new Date(sealedAt).toISOString()} (5.`);
    expect(bare!.stdout).toMatch(/min ago\)\n/);
    expect(bare!.stdout).toMatch(/nonce      [0-9a-f]{48}\n/);
    expect(bare!.stdout).not.toContain('plaintext-marker');
    expect(known!.stdout).toContain(`key id     ${web.keyId} (WA_PREVIOUS_SECRETS item 1)`);
    const header = JSON.parse(json!.stdout) as Record<string, unknown>;
    expect(header).toMatchObject({
      version: 1,
      direction: 'webapp-to-coreapp',
      format: 'msgpack',
      keyId: web.keyId,
      keyIdConfiguredAs: null,
      timestamp: sealedAt,
    });
    expect(header['ageMs']).toBeGreaterThanOrEqual(5 * 60_000);
  });

  it('inspect exits 1 on anything that is not an envelope', async () => {
    const runs = await Promise.all([
      cli(['inspect', 'AAAA']),
      cli(['inspect', 'not base64!']),
      cli(['inspect', '-'], {}, ''),
    ]);
    for (const run of runs) {
      expect(run.code).toBe(1);
      expect(run.stderr).toMatch(/^wa-transport: ERR_WA_MALFORMED: /);
    }
  });

  it('open decrypts with the configured secrets, context included, and never prints a secret', async () => {
    const web = await webapp(PREVIOUS);
    const envelope = web.sealText({ hello: 'world', n: [1, 2] }, { context: 'POST /v1/messages' });
    const env = { WA_SECRET: SECRET, WA_PREVIOUS_SECRETS: PREVIOUS };
    const [human, json, piped] = await Promise.all([
      cli(['open', envelope, '--context', 'POST /v1/messages'], env),
      cli(['open', envelope, '--context', 'POST /v1/messages', '--json'], env),
      cli(['open', '-', '--context', 'POST /v1/messages', '--role', 'coreapp'], env, envelope),
    ]);
    for (const run of [human!, json!, piped!]) {
      expect(run.code).toBe(0);
      expect(run.stderr).toBe('');
      expect(run.stdout).not.toContain(SECRET);
      expect(run.stdout).not.toContain(PREVIOUS);
    }
    expect(human!.stdout).toContain(`key id     ${web.keyId}`);
    expect(human!.stdout).toContain("payload    { hello: 'world', n: [ 1, 2 ] }");
    expect(JSON.parse(json!.stdout)).toMatchObject({ keyId: web.keyId, payload: { hello: 'world', n: [1, 2] } });
    expect(piped!.stdout).toContain("payload    { hello: 'world', n: [ 1, 2 ] }");
  });

  it('open names an HTTP request with --http (and its request id), as PROTOCOL 8.1 binds it', async () => {
    const web = await webapp();
    const requestId = web.newRequestId();
    const envelope = web.sealText(
      { to: '+15550100' },
      { context: requestContext('POST', '/v1/messages?x=1'), requestId },
    );
    const env = { WA_SECRET: SECRET };
    const [ok, plain, usage] = await Promise.all([
      cli(['open', envelope, '--http', 'POST /v1/messages?x=1', '--request-id', requestId], env),
      cli(['open', envelope, '--context', 'POST /v1/messages?x=1'], env),
      cli(['open', envelope, '--http', 'POST'], env),
    ]);
    expect(ok!.code).toBe(0);
    expect(ok!.stdout).toContain("payload    { to: '+15550100' }");
    expect(plain!.code).toBe(1); // the bare "METHOD TARGET" is not the HTTP context
    expect(plain!.stderr).toContain('--http "POST /v1/messages"');
    expect(usage!.code).toBe(2);
  });

  it('open explains rejections with exit 1', async () => {
    const web = await webapp();
    const stranger = await webapp(PREVIOUS);
    const env = { WA_SECRET: SECRET };
    const envelope = web.sealText('x', { context: 'POST /a' });
    const [forged, unknown, direction, noConfig] = await Promise.all([
      cli(['open', envelope, '--context', 'POST /b'], env),
      cli(['open', stranger.sealText('x')], env),
      cli(['open', envelope, '--context', 'POST /a', '--role', 'webapp'], env),
      cli(['open', envelope], {}),
    ]);
    expect(forged!.code).toBe(1);
    expect(forged!.stderr).toContain('hint: the context is part of the check');
    expect(forged!.stderr).toContain('wa-transport: ERR_WA_FORGED: envelope failed authentication');
    expect(unknown!.code).toBe(1);
    expect(unknown!.stderr).toContain(`it was sealed with key id ${stranger.keyId}; configured: ${web.keyId}`);
    expect(unknown!.stderr).toContain('ERR_WA_UNKNOWN_KEY');
    expect(direction!.code).toBe(1);
    expect(direction!.stderr).toContain('ERR_WA_WRONG_DIRECTION');
    expect(noConfig!.code).toBe(1);
    expect(noConfig!.stderr).toContain('WA_SECRET is required');
    for (const run of [forged!, unknown!, direction!, noConfig!]) expect(run.stdout).toBe('');
  });

  it('open (debug only) opens an old envelope, says a live endpoint would reject it, and shows bytes', async () => {
    const web = await webapp(SECRET, () => Date.now() - 3_600_000);
    const run = await cli(['open', web.sealText(new Uint8Array([1, 2, 3, 250]))], { WA_SECRET: SECRET });
    expect(run.code).toBe(0);
    expect(run.stderr).toContain(
      'note: older than WA_REPLAY_WINDOW_MS (10000 ms): a live endpoint rejects it (ERR_WA_EXPIRED)',
    );
    expect(run.stdout).toContain('payload    4 bytes, base64url: AQID-g');
    expect(run.stdout).toMatch(/\(1\.0 h ago\)/);
  });

  it('smoke: the bin runs in its own process, with exit status and streams as a shell sees them', async () => {
    const [ok, usage] = await Promise.all([spawned(['check-env'], { WA_SECRET: SECRET }), spawned(['frobnicate'])]);
    expect(ok.code).toBe(0);
    expect(ok.stdout).toMatch(/\nok\n$/);
    expect(usage.code).toBe(2);
    expect(usage.stderr).toContain('unknown command "frobnicate"');
  });
});
