/**
 * Database TLS from the environment: WA_DB_SSL_CA, WA_DB_SSL_CERT, WA_DB_SSL_KEY and
 * WA_DB_SSL_VERIFY (and the deprecated WA_DB_CONNECTION_OPTION, libpq `sslmode` names), read
 * into the `ssl` option that `pg` and `mysql2` take. Files are read and parsed at start-up, so
 * a missing file, a key that does not match its certificate or an expired certificate is found
 * before the first connection; verification off is allowed but always warned about.
 */
import { X509Certificate, createPrivateKey } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { type Env, type Warn, configError, value } from './env.js';

/** The `ssl` option of `pg` (node-postgres) and `mysql2`: passed to `tls.connect`. */
export interface DbSslOptions {
  /** false only when WA_DB_SSL_VERIFY=0 (or legacy `require`): the server is not authenticated. */
  readonly rejectUnauthorized: boolean;
  /** PEM of the CA certificate(s) that sign the server's certificate (WA_DB_SSL_CA). */
  readonly ca?: string;
  /** PEM of the client certificate (WA_DB_SSL_CERT). */
  readonly cert?: string;
  /** PEM of the client's private key (WA_DB_SSL_KEY). Key material: never log this object. */
  readonly key?: string;
}

/** The options, and the paths they were read from (safe to show: `WaConfig.toJSON`). */
export interface DbSslFiles {
  readonly options: DbSslOptions;
  readonly paths: { ca: string | null; cert: string | null; key: string | null };
}

/** Legacy WA_DB_CONNECTION_OPTION values: libpq `sslmode` names, so old settings carry over. */
const LEGACY_SSLMODES: Readonly<Record<string, boolean | 'off'>> = {
  disable: 'off',
  require: false, // encrypted, server not verified
  'verify-ca': true, // mapped to full verification (chain and host name): stricter, never weaker
  'verify-full': true,
};

/**
 * The database TLS settings, or undefined when no variable asks for any (the driver's default
 * applies). Throws ERR_WA_CONFIG naming the variable and the path for anything wrong.
 */
export function readDbSsl(env: Env, warn: Warn): DbSslFiles | undefined {
  const paths = {
    ca: value(env, 'WA_DB_SSL_CA') ?? null,
    cert: value(env, 'WA_DB_SSL_CERT') ?? null,
    key: value(env, 'WA_DB_SSL_KEY') ?? null,
  };
  const verifyRaw = value(env, 'WA_DB_SSL_VERIFY');
  const legacy = value(env, 'WA_DB_CONNECTION_OPTION');

  let verify: boolean | undefined;
  if (verifyRaw !== undefined) {
    verify = verifyRaw !== '0';
    if (verifyRaw !== '1' && verify) {
      // "false" or "off" reads as a wish to turn verification off; say that it stayed on.
      warn(
        'WA_DB_SSL_VERIFY',
        `WA_DB_SSL_VERIFY=${JSON.stringify(verifyRaw.slice(0, 20))} is not "0", so certificate verification stays ON`,
        'security',
      );
    }
  }
  let disabled = false;
  if (legacy !== undefined) {
    const mode = LEGACY_SSLMODES[legacy];
    if (mode === undefined) {
      throw configError(
        'WA_DB_CONNECTION_OPTION',
        `must be one of ${Object.keys(LEGACY_SSLMODES).join(', ')} (it is deprecated: use WA_DB_SSL_VERIFY), got ${JSON.stringify(legacy.slice(0, 20))}`,
      );
    }
    if (verifyRaw !== undefined) {
      warn(
        'WA_DB_CONNECTION_OPTION',
        'WA_DB_CONNECTION_OPTION is deprecated and ignored because WA_DB_SSL_VERIFY is set; remove it',
        'deprecation',
      );
    } else {
      warn(
        'WA_DB_CONNECTION_OPTION',
        `WA_DB_CONNECTION_OPTION is deprecated; replace ${legacy} with ${
          mode === 'off' ? 'no WA_DB_SSL_* variable' : `WA_DB_SSL_VERIFY=${mode ? '1' : '0'}`
        }`,
        'deprecation',
      );
      if (mode === 'off') disabled = true;
      else verify = mode;
    }
  }

  const anyFile = paths.ca !== null || paths.cert !== null || paths.key !== null;
  if (disabled) {
    if (anyFile) {
      throw configError(
        'WA_DB_CONNECTION_OPTION',
        'is "disable" but WA_DB_SSL_CA/CERT/KEY are set; remove one or the other',
      );
    }
    return undefined;
  }
  if (!anyFile && verify === undefined) return undefined;
  if ((paths.cert === null) !== (paths.key === null)) {
    const missing = paths.cert === null ? 'WA_DB_SSL_CERT' : 'WA_DB_SSL_KEY';
    throw configError(missing, 'is required too: a client certificate needs both WA_DB_SSL_CERT and WA_DB_SSL_KEY');
  }

  const rejectUnauthorized = verify ?? true;
  if (!rejectUnauthorized) {
    warn(
      'WA_DB_SSL_VERIFY',
      'database TLS certificate verification is OFF (WA_DB_SSL_VERIFY=0): anyone on the network path can impersonate the database',
      'security',
    );
  }
  const options: { -readonly [K in keyof DbSslOptions]: DbSslOptions[K] } = { rejectUnauthorized };
  if (paths.ca !== null) options.ca = readPem('WA_DB_SSL_CA', paths.ca, 'certificate', warn);
  if (paths.cert !== null) options.cert = readPem('WA_DB_SSL_CERT', paths.cert, 'certificate', warn);
  if (paths.key !== null) options.key = readPem('WA_DB_SSL_KEY', paths.key, 'key', warn);
  if (options.cert !== undefined && options.key !== undefined) {
    const cert = new X509Certificate(options.cert);
    if (!cert.checkPrivateKey(createPrivateKey(options.key))) {
      throw configError('WA_DB_SSL_KEY', `(${paths.key}) is not the private key of WA_DB_SSL_CERT (${paths.cert})`);
    }
  }
  return { options: Object.freeze(options), paths };
}

/** Reads a PEM file and checks it parses, naming the variable and the path on failure. */
function readPem(variable: string, path: string, kind: 'certificate' | 'key', warn: Warn): string {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (error) {
    throw configError(variable, `file ${path} ${fileProblem(error)}`);
  }
  if (kind === 'key') {
    try {
      createPrivateKey(text);
    } catch {
      // The parser's message is dropped: it could quote part of the key.
      throw configError(variable, `file ${path} is not an unencrypted PEM private key`);
    }
    return text;
  }
  if (!text.includes('-----BEGIN CERTIFICATE-----')) {
    throw configError(variable, `file ${path} is not a PEM certificate`);
  }
  let cert: X509Certificate;
  try {
    cert = new X509Certificate(text);
  } catch {
    throw configError(variable, `file ${path} is not a PEM certificate`);
  }
  if (Date.parse(cert.validTo) < Date.now()) {
    warn(variable, `${variable} (${path}): certificate expired on ${cert.validTo}`, 'security');
  }
  return text;
}

function fileProblem(error: unknown): string {
  const code = (error as NodeJS.ErrnoException | undefined)?.code;
  switch (code) {
    case 'ENOENT':
      return 'does not exist';
    case 'EACCES':
    case 'EPERM':
      return 'is not readable (permission denied)';
    case 'EISDIR':
      return 'is a directory, not a file';
    default:
      return `cannot be read (${code ?? 'unknown error'})`;
  }
}
